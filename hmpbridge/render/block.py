"""Block layer listings: ``info block``, ``info blockstats``, ``info block-jobs``.

Each renderer takes the release whose text to print
(``block/monitor/block-hmp-cmds.c``):

- 10.0: ``, inactive`` after the driver of a node that is not active
  (``BlockDeviceInfo.active``, a member QEMU 10.0 added);
- 11.1: ``info blockstats`` prints a table per device instead of one line
  (first seen in QEMU 11.1.3's ``hmp_info_blockstats``; qemu.git of
  2026-02, in the 11.0 cycle, still prints the line).

The image dump of ``info block -v`` follows :mod:`hmpbridge.render.image`.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

from hmpbridge.render.image import OLDEST, render_image_info

__all__ = [
    "render_block_entry",
    "render_block_list",
    "render_node_list",
    "render_blockstats",
    "render_block_jobs",
]

Obj = Mapping[str, Any]
Release = Tuple[int, int]

_THROTTLE_KEYS = ("bps", "bps_rd", "bps_wr", "bps_max", "bps_rd_max", "bps_wr_max",
                  "iops", "iops_rd", "iops_wr", "iops_max", "iops_rd_max", "iops_wr_max",
                  "iops_size")


def render_block_entry(info: Optional[Obj], inserted: Optional[Obj], verbose: bool,
                       release: Release = OLDEST) -> str:
    """One entry of ``info block`` (QEMU's ``print_block_info``).

    :param info: the ``BlockInfo`` of a BlockBackend, or None for a node entry.
    :param inserted: ``info["inserted"]`` or the ``BlockDeviceInfo`` of a node.
    :param verbose: ``-v``: add the image dump of the whole backing chain.
    :param release: whose text to print.
    """
    out: List[str] = []
    if info is not None and info.get("device"):
        head = info["device"]
        if inserted is not None and "node-name" in inserted:
            head += f" ({inserted['node-name']})"
    elif inserted is not None and "node-name" in inserted:
        head = inserted["node-name"]
    elif info is not None and "qdev" in info:
        head = info["qdev"]
    else:
        head = "<anonymous>"
    if inserted is not None:
        flags = (", read-only" if inserted.get("ro") else "") + (
            ", encrypted" if inserted.get("encrypted") else "")
        if release >= (10, 0) and inserted.get("active", True) is False:
            flags += ", inactive"
        out.append(f"{head}: {inserted['file']} ({inserted['drv']}{flags})\n")
    else:
        out.append(f"{head}: [not inserted]\n")
    if info is not None:
        if "qdev" in info:
            out.append(f"    Attached to:      {info['qdev']}\n")
        if "io-status" in info and info["io-status"] != "ok":
            out.append(f"    I/O status:       {info['io-status']}\n")
        if info.get("removable"):
            out.append("    Removable device: %slocked, tray %s\n"
                       % ("" if info.get("locked") else "not ",
                          "open" if info.get("tray_open") else "closed"))
    if inserted is None:
        return "".join(out)
    cache = inserted.get("cache", {})
    out.append("    Cache mode:       %s%s%s\n"
               % ("writeback" if cache.get("writeback") else "writethrough",
                  ", direct" if cache.get("direct") else "",
                  ", ignore flushes" if cache.get("no-flush") else ""))
    if "backing_file" in inserted:
        out.append("    Backing file:     %s (chain depth: %d)\n"
                   % (inserted["backing_file"], inserted.get("backing_file_depth", 0)))
    if inserted.get("detect_zeroes", "off") != "off":
        out.append(f"    Detect zeroes:    {inserted['detect_zeroes']}\n")
    if any(inserted.get(k) for k in ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")):
        values = " ".join("%s=%d" % (k, inserted.get(k, 0)) for k in _THROTTLE_KEYS)
        out.append(f"    I/O throttling:   {values} group={inserted.get('group')}\n")
    if verbose:
        out.append("\nImages:\n")
        image: Optional[Obj] = inserted.get("image")
        while image is not None:
            out.append(render_image_info(image, release))
            image = image.get("backing-image")
    return "".join(out)


def render_block_list(blocks: Sequence[Obj], device: Optional[str], verbose: bool,
                      release: Release = OLDEST) -> str:
    """The BlockBackend part of ``info block`` (``query-block``).

    An entry that is not the first of the whole list is preceded by an empty
    line, even when the entries before it were filtered out.
    """
    out: List[str] = []
    for i, info in enumerate(blocks):
        if device is not None and device != info.get("device"):
            continue
        if i:
            out.append("\n")
        out.append(render_block_entry(info, info.get("inserted"), verbose, release))
    return "".join(out)


def render_node_list(nodes: Sequence[Obj], device: Optional[str], verbose: bool,
                     release: Release = OLDEST) -> str:
    """The named-node part of ``info block`` (``query-named-block-nodes``)."""
    out: List[str] = []
    for i, node in enumerate(nodes):
        if device is not None and device != node.get("node-name"):
            continue
        if i:
            out.append("\n")
        out.append(render_block_entry(None, node, verbose, release))
    return "".join(out)


_STATS_KEYS = ("rd_bytes", "wr_bytes", "rd_operations", "wr_operations", "flush_operations",
               "wr_total_time_ns", "rd_total_time_ns", "flush_total_time_ns", "rd_merged",
               "wr_merged", "idle_time_ns")


#: 11.1's table: its head and the format of each row.
_STATS_TABLE_HEAD = "       %24s %16s %24s %10s\n" % ("bytes", "operations", "total_time_ns",
                                                     "merged")
_STATS_ROWS = (("Read:  %24d %16d %24d %10d\n",
                ("rd_bytes", "rd_operations", "rd_total_time_ns", "rd_merged")),
               ("Write: %24d %16d %24d %10d\n",
                ("wr_bytes", "wr_operations", "wr_total_time_ns", "wr_merged")))


def render_blockstats(stats: Sequence[Obj], release: Release = OLDEST) -> str:
    """``info blockstats`` from ``query-blockstats``.

    Up to 11.0, one line per device; from 11.1, a table per device, each
    but the list's first entry preceded by an empty line (counted over the
    whole list, as QEMU does).  Entries without a ``device`` are skipped;
    an absent ``idle_time_ns`` (the device was never used) prints as 0.
    """
    out = []
    for i, entry in enumerate(stats):
        if "device" not in entry:
            continue
        values = entry.get("stats", {})
        if release < (11, 1):
            fields = " ".join("%s=%d" % (k, values.get(k, 0)) for k in _STATS_KEYS)
            out.append(f"{entry['device']}: {fields}\n")
            continue
        out.append("%s%s: idle_time_ns=%d\n" % ("\n" if i else "", entry["device"],
                                                values.get("idle_time_ns", 0)))
        out.append(_STATS_TABLE_HEAD)
        for row, keys in _STATS_ROWS:
            out.append(row % tuple(values.get(k, 0) for k in keys))
        out.append("Flush: %24s %16d %24d\n" % ("", values.get("flush_operations", 0),
                                                 values.get("flush_total_time_ns", 0)))
    return "".join(out)


def render_block_jobs(jobs: Sequence[Obj]) -> str:
    """``info block-jobs`` from ``query-block-jobs``."""
    if not jobs:
        return "No active jobs\n"
    out = []
    for job in jobs:
        progress = "Completed %d of %d bytes, speed limit %d bytes/s\n" % (
            job["offset"], job["len"], job["speed"])
        if job["type"] == "stream":
            out.append(f"Streaming device {job['device']}: {progress}")
        else:
            out.append(f"Type {job['type']}, device {job['device']}: {progress}")
    return "".join(out)
