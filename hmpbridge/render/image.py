"""The ``qemu-img info`` style image dump and QEMU's snapshot table lines.

``info block -v`` prints :func:`render_image_info` for each image of a
backing chain; ``info snapshots`` uses :func:`snapshot_header` and
:func:`snapshot_line`.  Each takes the release whose text to print
(``block/qapi.c``):

- 8.0: "Format specific information:" only when there is something under it
  (7.2's text keeps it over empty data of the kinds 7.2 has, :data:`KINDS_7_2`);
- 9.0: the snapshot table's wider columns (``VM_SIZE``, ``VM_CLOCK``), a
  four-digit hour and ``--`` for an unknown icount;
- 10.2: "Block limits:" (``ImageInfo.limits``) after the backing file.
"""

from __future__ import annotations

import time
from typing import Any, List, Mapping, Optional, Tuple

from hmpbridge.render.common import size_to_str, u64

__all__ = [
    "render_image_info",
    "render_format_specific",
    "snapshot_header",
    "snapshot_line",
    "SNAPSHOT_HEADER",
    "SNAPSHOT_HEADER_9_0",
]

Obj = Mapping[str, Any]
Release = Tuple[int, int]

#: The release whose text is printed when none is named.
OLDEST: Release = (7, 2)

#: ``%-10s%-17s%8s%20s%13s%11s`` over the column names (up to 8.2).
SNAPSHOT_HEADER = "%-10s%-17s%8s%20s%13s%11s" % (
    "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT")

#: ``%-7s %-16s %8s %19s %15s %10s`` over the column names (9.0 on).
SNAPSHOT_HEADER_9_0 = "%-7s %-16s %8s %19s %15s %10s" % (
    "ID", "TAG", "VM_SIZE", "DATE", "VM_CLOCK", "ICOUNT")


#: The kinds of format-specific data QEMU 7.2 has; up to 7.2 their heading
#: prints even over empty data.  Newer kinds (``file``, 8.0) print nothing in
#: 7.2's text when empty: QEMU 7.2 had no such data.
KINDS_7_2 = frozenset({"qcow2", "vmdk", "luks", "rbd"})


def _wide_table(release: Release) -> bool:
    return release >= (9, 0)


def snapshot_header(release: Release = OLDEST) -> str:
    """The snapshot table's header line, without its line end."""
    return SNAPSHOT_HEADER_9_0 if _wide_table(release) else SNAPSHOT_HEADER


def _c_trunc(value: str, size: int) -> str:
    # pstrcpy into a char[size] buffer keeps at most size-1 bytes
    raw = value.encode()
    if len(raw) < size:
        return value
    return raw[: size - 1].decode(errors="replace")


def snapshot_line(sn: Obj, id_override: Optional[str] = None,
                  release: Release = OLDEST) -> str:
    """One snapshot row (``SnapshotInfo``), without its line end.

    :param sn: the QMP ``SnapshotInfo`` (id, name, vm-state-size, date-sec,
        vm-clock-sec, vm-clock-nsec, icount?).
    :param id_override: text for the ID column (``--`` for global snapshots).
    :param release: whose layout: ``%-9s %-16s %8s%20s%13s%11s`` up to 8.2,
        ``%-7s %-16s %8s %19s %15s %10s`` from 9.0; the date is local time.
    """
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(sn["date-sec"])))
    clock_ns = int(sn["vm-clock-sec"]) * 1000000000 + int(sn["vm-clock-nsec"])
    clock_ns = u64(clock_ns)
    secs = clock_ns // 1000000000
    wide = _wide_table(release)
    clock = ("%04d:%02d:%02d.%03d" if wide else "%02d:%02d:%02d.%03d") % (
        _c_int(secs // 3600), _c_int((secs // 60) % 60), _c_int(secs % 60),
        _c_int((clock_ns // 1000000) % 1000))
    if "icount" in sn and u64(sn["icount"]) != u64(-1):
        icount = "%d" % _c_int64(sn["icount"])
    else:
        icount = "--" if wide else ""
    ident = id_override if id_override is not None else _c_trunc(str(sn["id"]), 128)
    row = "%-7s %-16s %8s %19s %15s %10s" if wide else "%-9s %-16s %8s%20s%13s%11s"
    return row % (ident, _c_trunc(str(sn["name"]), 256), size_to_str(sn["vm-state-size"]),
                  date, clock, icount)


def _c_int64(value: int) -> int:
    """An ``int64_t`` read of a 64-bit value."""
    value = u64(value)
    return value - (1 << 64) if value & (1 << 63) else value


def _c_int(value: int) -> int:
    """``(int)`` of a 64-bit value: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def render_image_info(info: Obj, release: Release = OLDEST) -> str:
    """One ``ImageInfo`` as ``release``'s ``bdrv_image_info_dump`` (8.0 on:
    ``bdrv_node_info_dump``) prints it."""
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
    if release >= (10, 2) and "limits" in info and _dumps_something(info["limits"]):
        out.append("Block limits:\n")
        out.append(render_format_specific(info["limits"]))
    if "snapshots" in info:
        out.append("Snapshot list:\n")
        out.append(snapshot_header(release) + "\n")
        for sn in info["snapshots"]:
            out.append(snapshot_line(sn, None, release) + "\n")
    if "format-specific" in info:
        spec = info["format-specific"]
        data = spec.get("data", {})
        if _dumps_something(data) or (release < (8, 0) and spec.get("type") in KINDS_7_2):
            out.append("Format specific information:\n")
            out.append(render_format_specific(data))
    return "".join(out)


def _dumps_something(value: Any) -> bool:
    """QEMU's ``!qobject_is_empty_dump``: a scalar, or a non-empty object or list."""
    return not isinstance(value, (Mapping, list)) or len(value) > 0


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
