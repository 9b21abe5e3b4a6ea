"""The ``qemu-img info`` style image dump and QEMU's snapshot table lines.

``info block -v`` prints :func:`render_image_info` for each image of a
backing chain; ``info snapshots`` uses :func:`snapshot_header` and
:func:`snapshot_line`.
"""

from __future__ import annotations

import time
from typing import Any, List, Mapping, Optional

from hmpbridge.render.common import size_to_str, u64

__all__ = [
    "render_image_info",
    "render_format_specific",
    "snapshot_header",
    "snapshot_line",
    "SNAPSHOT_HEADER",
]

Obj = Mapping[str, Any]

#: ``%-10s%-17s%8s%20s%13s%11s`` over the column names.
SNAPSHOT_HEADER = "%-10s%-17s%8s%20s%13s%11s" % (
    "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT")


def snapshot_header() -> str:
    """The snapshot table's header line, without its line end."""
    return SNAPSHOT_HEADER


def _c_trunc(value: str, size: int) -> str:
    # pstrcpy into a char[size] buffer keeps at most size-1 bytes
    raw = value.encode()
    if len(raw) < size:
        return value
    return raw[: size - 1].decode(errors="replace")


def snapshot_line(sn: Obj, id_override: Optional[str] = None) -> str:
    """One snapshot row (``SnapshotInfo``), without its line end.

    :param sn: the QMP ``SnapshotInfo`` (id, name, vm-state-size, date-sec,
        vm-clock-sec, vm-clock-nsec, icount?).
    :param id_override: text for the ID column (``--`` for global snapshots).
    :returns: ``%-9s %-16s %8s%20s%13s%11s``; the date is local time.
    """
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(sn["date-sec"])))
    clock_ns = int(sn["vm-clock-sec"]) * 1000000000 + int(sn["vm-clock-nsec"])
    clock_ns = u64(clock_ns)
    secs = clock_ns // 1000000000
    clock = "%02d:%02d:%02d.%03d" % (
        _c_int(secs // 3600), _c_int((secs // 60) % 60), _c_int(secs % 60),
        _c_int((clock_ns // 1000000) % 1000))
    icount = "%d" % sn["icount"] if "icount" in sn and u64(sn["icount"]) != u64(-1) else ""
    ident = id_override if id_override is not None else _c_trunc(str(sn["id"]), 128)
    return "%-9s %-16s %8s%20s%13s%11s" % (
        ident, _c_trunc(str(sn["name"]), 256), size_to_str(sn["vm-state-size"]),
        date, clock, icount)


def _c_int(value: int) -> int:
    """``(int)`` of a 64-bit value: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def render_image_info(info: Obj) -> str:
    """One ``ImageInfo`` as QEMU 7.2's ``bdrv_image_info_dump`` prints it."""
    out: List[str] = []
    actual = size_to_str(info["actual-size"]) if "actual-size" in info else "unavailable"
    out.append(f"image: {info['filename']}\n")
    out.append(f"file format: {info['format']}\n")
    out.append("virtual size: %s (%d bytes)\n"
               % (size_to_str(info["virtual-size"]), info["virtual-size"]))
    out.append(f"disk size: {actual}\n")
    if info.get("encrypted"):
        out.append("encrypted: yes\n")
    if "cluster-size" in info:
        out.append("cluster_size: %d\n" % info["cluster-size"])
    if info.get("dirty-flag"):
        out.append("cleanly shut down: no\n")
    if "backing-filename" in info:
        backing = info["backing-filename"]
        line = f"backing file: {backing}"
        if "full-backing-filename" not in info:
            line += " (cannot determine actual path)"
        elif info["full-backing-filename"] != backing:
            line += f" (actual path: {info['full-backing-filename']})"
        out.append(line + "\n")
        if "backing-filename-format" in info:
            out.append(f"backing file format: {info['backing-filename-format']}\n")
    if "snapshots" in info:
        out.append("Snapshot list:\n")
        out.append(SNAPSHOT_HEADER + "\n")
        for sn in info["snapshots"]:
            out.append(snapshot_line(sn) + "\n")
    if "format-specific" in info:
        out.append("Format specific information:\n")
        out.append(render_format_specific(info["format-specific"].get("data", {})))
    return "".join(out)


def render_format_specific(data: Any, indent: int = 1) -> str:
    """QEMU's ``dump_qobject``: a JSON value as an indented ``key: value`` tree.

    Dict keys keep their order with ``-`` turned into a space; lists print
    ``[i]:``; composite values go one level (4 spaces) deeper.
    """
    out: List[str] = []
    _dump(data, indent, out)
    return "".join(out)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "%.17g" % value
    return str(value)


def _dump(value: Any, indent: int, out: List[str]) -> None:
    if isinstance(value, Mapping):
        for key, member in value.items():
            composite = isinstance(member, (Mapping, list))
            out.append("%*s%s:%s" % (indent * 4, "", key.replace("-", " "),
                                     "\n" if composite else " "))
            _dump(member, indent + 1, out)
    elif isinstance(value, list):
        for i, member in enumerate(value):
            composite = isinstance(member, (Mapping, list))
            out.append("%*s[%d]:%s" % (indent * 4, "", i, "\n" if composite else " "))
            _dump(member, indent + 1, out)
    else:
        out.append(_scalar(value) + "\n")
