"""``info migrate [-a]`` as QEMU 10.1 and later print it.

10.1 rewrote the command (``hmp_info_migrate`` in
``migration/migration-hmp-cmds.c``, unchanged since up to 11.1): tab-aligned
groups, sizes as ``size_to_str`` writes them (``129 MiB``), nothing at all
for an idle QEMU; ``-a`` adds the migration object's ``Globals:`` and the
XBZRLE, throttle and postcopy blocktime/latency figures.
"""

from __future__ import annotations

import math
from typing import Any, List, Mapping, Sequence, Tuple

from hmpbridge.render.migration_status import MigrationGlobals, socket_address

__all__ = ["size_to_str", "render_info_migrate_101"]

Obj = Mapping[str, Any]

_PREFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def size_to_str(value: int) -> str:
    """QEMU's ``size_to_str``: three significant digits and an IEC prefix.

    It switches to the next prefix once the number would reach 1000:
    ``1000`` is ``0.977 KiB``.
    """
    value = int(value) & ((1 << 64) - 1)
    _, exp = math.frexp(value / (1000.0 / 1024.0))
    shift = int((exp - 1) / 10) * 10  # C's division truncates toward zero
    return "%0.3g %sB" % (value / float(1 << shift), _PREFIXES[shift // 10])


def _time_str(us: int) -> str:
    """``format_time_str``: microseconds in us, ms or sec, truncated."""
    units = ("us", "ms", "sec")
    index = 0
    while us >= 1000 and index + 1 < len(units):
        us //= 1000
        index += 1
    return f"{us} {units[index]}"


def _list_by_ten(values: Sequence[int]) -> str:
    """`` [a, b, ...]`` with a line break after every tenth value."""
    out = [" ["]
    for count, value in enumerate(values, 1):
        out.append(str(int(value)))
        if count < len(values):
            out.append(",\n  " if count % 10 == 0 else ", ")
    out.append("]\n")
    return "".join(out)


def _status(info: Obj, release: Tuple[int, int]) -> List[str]:
    status = info["status"]
    line = f"Status: \t\t{status}"
    if status in ("failed", "postcopy-paused") and info.get("error-desc") is not None:
        line += f" ({info['error-desc']})"
    out = [line + "\n"]
    if info.get("total-time"):
        times = "Time (ms): \t\ttotal=%d" % info["total-time"]
        for key, label in (("setup-time", "setup"), ("expected-downtime", "exp_down"),
                           ("downtime", "down")):
            if key in info:
                times += ", %s=%d" % (label, info[key])
        out.append(times + "\n")
    if release >= (11, 1) and "remaining" in info:
        # query-migrate's own remaining (11.1; the RAM section keeps its
        # own), measured on 11.1.3: "Remaining: \t\t0 B" after the times
        out.append("Remaining: \t\t%s\n" % size_to_str(info["remaining"]))
    return out


def _ram(info: Obj) -> List[str]:
    ram = info["ram"]

    def size(key: str) -> str:
        return size_to_str(ram.get(key, 0))

    channels = ("    Channels: \t\tprecopy=%s, multifd=%s, postcopy=%s"
                % (size("precopy-bytes"), size("multifd-bytes"), size("postcopy-bytes")))
    if "vfio" in info:
        channels += ", vfio=%s" % size_to_str(info["vfio"].get("transferred", 0))
    rates = "  Page Rates (pps): \ttransfer=%d" % ram.get("pages-per-second", 0)
    if ram.get("dirty-pages-rate"):
        rates += ", dirty=%d" % ram["dirty-pages-rate"]
    others = "  Others: \t\tdirty_syncs=%d" % ram.get("dirty-sync-count", 0)
    for key, label in (("postcopy-requests", "postcopy_req"),
                       ("downtime-bytes", "downtime_bytes"),
                       ("dirty-sync-missed-zero-copy", "zerocopy_fallbacks")):
        if ram.get(key):
            others += ", %s=%d" % (label, ram[key])
    return [
        "RAM info:\n",
        "  Throughput (Mbps): \t%0.2f\n" % float(ram.get("mbps", 0)),
        "  Sizes: \t\tpagesize=%s, total=%s\n" % (size("page-size"), size("total")),
        "  Transfers: \t\ttransferred=%s, remain=%s\n" % (size("transferred"),
                                                         size("remaining")),
        channels + "\n",
        "    Page Types: \tnormal=%d, zero=%d\n" % (ram.get("normal", 0),
                                                   ram.get("duplicate", 0)),
        rates + "\n",
        others + "\n",
    ]


def _blocktime(info: Obj) -> List[str]:
    out = []
    if "postcopy-blocktime" in info:
        out.append("Postcopy Blocktime (ms): %d\n" % info["postcopy-blocktime"])
    if "postcopy-vcpu-blocktime" in info:
        out.append("Postcopy vCPU Blocktime (ms):\n"
                   + _list_by_ten(info["postcopy-vcpu-blocktime"]))
    if "postcopy-latency" in info:
        out.append("Postcopy Latency (ns): %d\n" % info["postcopy-latency"])
    if "postcopy-non-vcpu-latency" in info:
        out.append("Postcopy non-vCPU Latencies (ns): %d\n" % info["postcopy-non-vcpu-latency"])
    if "postcopy-vcpu-latency" in info:
        out.append("Postcopy vCPU Latencies (ns):\n" + _list_by_ten(info["postcopy-vcpu-latency"]))
    if "postcopy-latency-dist" in info:
        out.append("Postcopy Latency Distribution:\n")
        for count, value in enumerate(info["postcopy-latency-dist"]):
            out.append("  [ %8s - %8s ]: %10d\n" % (_time_str(1 << count),
                                                    _time_str(1 << (count + 1)), value))
    return out


def render_info_migrate_101(info: Obj, show_all: bool = False,
                            globals_: MigrationGlobals = MigrationGlobals(),
                            release: Tuple[int, int] = (10, 1)) -> str:
    """``info migrate`` (``-a``: ``show_all``) of ``release`` from the ``query-migrate`` reply."""
    out: List[str] = []
    reasons = info.get("blocked-reasons") or []
    if reasons:
        out.append("Outgoing migration blocked:\n")
        out.extend(f"  {reason}\n" for reason in reasons)
    if "status" in info:
        out.extend(_status(info, release))
    if "socket-address" in info:
        out.append("Sockets: [\n")
        out.extend(f"\t{socket_address(a)}\n" for a in info["socket-address"])
        out.append("]\n")
    if "ram" in info:
        out.extend(_ram(info))
    if not show_all:
        return "".join(out)
    out.append(globals_.render((10, 1)))
    if "xbzrle-cache" in info:
        cache = info["xbzrle-cache"]
        out.append("XBZRLE: size=%d, transferred=%d, pages=%d, miss=%d\n"
                   "  miss_rate=%0.2f, encode_rate=%0.2f, overflow=%d\n"
                   % (cache.get("cache-size", 0), cache.get("bytes", 0), cache.get("pages", 0),
                      cache.get("cache-miss", 0), float(cache.get("cache-miss-rate", 0)),
                      float(cache.get("encoding-rate", 0)), cache.get("overflow", 0)))
    if "cpu-throttle-percentage" in info:
        out.append("CPU Throttle (%%): %d\n" % info["cpu-throttle-percentage"])
    if "dirty-limit-throttle-time-per-round" in info:
        out.append("Dirty-limit Throttle (us): %d\n"
                   % info["dirty-limit-throttle-time-per-round"])
    if "dirty-limit-ring-full-time" in info:
        out.append("Dirty-limit Ring Full (us): %d\n" % info["dirty-limit-ring-full-time"])
    out.extend(_blocktime(info))
    return "".join(out)
