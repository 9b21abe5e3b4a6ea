"""``info migrate`` up to QEMU 10.0, ``info dirty_rate`` and ``info vcpu_dirty_limit``.

Up to 10.0 ``info migrate`` starts with the migration object's global
properties, which QMP does not report: the bridge prints QEMU's defaults
(see :class:`MigrationGlobals`).  The rest is ``query-migrate``: the
blockers, the status with its times, then the RAM, disk, XBZRLE and
compression statistics, each block only when present, and a few lines that
appear only when their value is non-zero.  What changed between releases
(``migration/migration-hmp-cmds.c``):

- 8.1 adds the ``dirty-limit`` lines;
- 9.1 drops ``decompress-error-check`` from the globals, ``skipped`` from
  the RAM lines and the disk and compression blocks (QEMU no longer reports
  them);
- 10.0 adds ``send-switchover-start`` to the globals.

10.1 rewrote the command: see :mod:`hmpbridge.render.migration_info`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "MigrationGlobals",
    "globals_for",
    "render_info_migrate",
    "render_dirty_rate",
    "render_vcpu_dirty_limit",
    "blocktime_list",
    "socket_address",
    "DIRTY_LIMIT_OFF",
    "DIRTY_LIMIT_HINT",
]

Obj = Mapping[str, Any]
Release = Tuple[int, int]

#: ``info vcpu_dirty_limit`` when no limit is in force (QMP then returns ``[]``).
DIRTY_LIMIT_OFF = "Dirty page limit not enabled!\n"
#: What ``set_vcpu_dirty_limit`` and ``cancel_vcpu_dirty_limit`` print on success.
DIRTY_LIMIT_HINT = "[Please use 'info vcpu_dirty_limit' to query dirty limit for virtual CPU]\n"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


@dataclass(frozen=True)
class MigrationGlobals:
    """The migration object's properties ``info migrate`` prints (QEMU's defaults).

    A property the QEMU served does not have is None (``decompress_error_check``
    since 9.1; ``send_switchover_start`` before 10.0); it is not printed.
    """

    store_global_state: bool = True
    only_migratable: bool = False
    send_configuration: bool = True
    send_section_footer: bool = True
    decompress_error_check: Optional[bool] = True
    send_switchover_start: Optional[bool] = None
    clear_bitmap_shift: int = 18

    def lines(self, release: Release) -> List[Tuple[str, str]]:
        """``(name, value)`` in the order ``release`` prints them."""
        out = [("store-global-state", _on(self.store_global_state)),
               ("only-migratable", _on(self.only_migratable)),
               ("send-configuration", _on(self.send_configuration)),
               ("send-section-footer", _on(self.send_section_footer))]
        if release < (9, 1) and self.decompress_error_check is not None:
            out.append(("decompress-error-check", _on(self.decompress_error_check)))
        if release >= (10, 0) and self.send_switchover_start is not None:
            out.append(("send-switchover-start", _on(self.send_switchover_start)))
        out.append(("clear-bitmap-shift", str(self.clear_bitmap_shift)))
        return out

    def render(self, release: Release = (7, 2)) -> str:
        """The ``globals:`` block up to 10.0; ``Globals:``, indented, since 10.1."""
        if release >= (10, 1):
            return "Globals:\n" + "".join(f"  {k}: {v}\n" for k, v in self.lines(release))
        return "globals:\n" + "".join(f"{k}: {v}\n" for k, v in self.lines(release))


_MACHINE_VERSION = re.compile(r"-(\d+)\.(\d+)(?:-machine)?$")


def globals_for(qemu: Release, machine_type: Optional[str] = None) -> MigrationGlobals:
    """QEMU ``qemu``'s defaults for a machine of QOM type ``machine_type``.

    ``send-switchover-start`` is new in 10.0 and off for machine types older
    than 10.0 (``hw_compat_9_2``); ``decompress-error-check`` went away in 9.1.
    ``-global migration.*`` settings are not visible over QMP.
    """
    switchover: Optional[bool] = None
    if qemu >= (10, 0):
        found = _MACHINE_VERSION.search(machine_type or "")
        switchover = not found or (int(found.group(1)), int(found.group(2))) >= (10, 0)
    return MigrationGlobals(decompress_error_check=True if qemu < (9, 1) else None,
                            send_switchover_start=switchover)


def blocktime_list(values: Iterable[int]) -> str:
    """A uint32 list as QEMU's string output visitor writes it.

    The values are sorted, duplicates merged, and runs of consecutive
    numbers written ``first-last``: ``[3, 1, 2, 7]`` gives ``1-3,7``.
    """
    out: List[str] = []
    run: List[int] = []
    for value in sorted(set(int(v) for v in values)):
        if run and value == run[-1] + 1:
            run.append(value)
            continue
        if run:
            out.append(_run(run))
        run = [value]
    if run:
        out.append(_run(run))
    return ",".join(out)


def _run(run: Sequence[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def socket_address(addr: Obj) -> str:
    """One listening address of an incoming migration (QEMU's ``SocketAddress_to_str``).

    QEMU 7.2 writes a vsock address with a ``tcp:`` prefix too.
    """
    kind = addr.get("type")
    if kind in ("inet", "vsock"):
        first = addr.get("host") if kind == "inet" else addr.get("cid")
        return f"tcp:{first}:{addr.get('port')}"
    if kind == "unix":
        return f"unix:{addr.get('path')}"
    if kind == "fd":
        return f"fd:{addr.get('str')}"
    return "unknown address type"


def _kb(value: Any) -> int:
    return int(value) >> 10


def _status_lines(info: Obj) -> List[str]:
    status = info["status"]
    head = f"Migration status: {status}"
    if status == "failed" and "error-desc" in info:
        head += f" ({info['error-desc']})"
    out = [head + "\n", "total time: %d ms\n" % info.get("total-time", 0)]
    for key, label in (("expected-downtime", "expected downtime"),
                       ("downtime", "downtime"), ("setup-time", "setup")):
        if key in info:
            out.append("%s: %d ms\n" % (label, info[key]))
    return out


def _ram_lines(ram: Obj, release: Release) -> List[str]:
    out = [
        "transferred ram: %d kbytes\n" % _kb(ram.get("transferred", 0)),
        "throughput: %0.2f mbps\n" % float(ram.get("mbps", 0)),
        "remaining ram: %d kbytes\n" % _kb(ram.get("remaining", 0)),
        "total ram: %d kbytes\n" % _kb(ram.get("total", 0)),
        "duplicate: %d pages\n" % ram.get("duplicate", 0),
    ]
    if release < (9, 1) and "skipped" in ram:
        out.append("skipped: %d pages\n" % ram["skipped"])
    out += [
        "normal: %d pages\n" % ram.get("normal", 0),
        "normal bytes: %d kbytes\n" % _kb(ram.get("normal-bytes", 0)),
        "dirty sync count: %d\n" % ram.get("dirty-sync-count", 0),
        "page size: %d kbytes\n" % _kb(ram.get("page-size", 0)),
        "multifd bytes: %d kbytes\n" % _kb(ram.get("multifd-bytes", 0)),
        "pages-per-second: %d\n" % ram.get("pages-per-second", 0),
    ]
    if ram.get("dirty-pages-rate"):
        out.append("dirty pages rate: %d pages\n" % ram["dirty-pages-rate"])
    if ram.get("postcopy-requests"):
        out.append("postcopy request count: %d\n" % ram["postcopy-requests"])
    for key, label in (("precopy-bytes", "precopy ram"), ("downtime-bytes", "downtime ram"),
                       ("postcopy-bytes", "postcopy ram")):
        if ram.get(key):
            out.append("%s: %d kbytes\n" % (label, _kb(ram[key])))
    if ram.get("dirty-sync-missed-zero-copy"):
        out.append("Zero-copy-send fallbacks happened: %d times\n"
                   % ram["dirty-sync-missed-zero-copy"])
    return out


def _xbzrle_lines(cache: Obj) -> List[str]:
    return [
        "cache size: %d bytes\n" % cache.get("cache-size", 0),
        "xbzrle transferred: %d kbytes\n" % _kb(cache.get("bytes", 0)),
        "xbzrle pages: %d pages\n" % cache.get("pages", 0),
        "xbzrle cache miss: %d pages\n" % cache.get("cache-miss", 0),
        "xbzrle cache miss rate: %0.2f\n" % float(cache.get("cache-miss-rate", 0)),
        "xbzrle encoding rate: %0.2f\n" % float(cache.get("encoding-rate", 0)),
        "xbzrle overflow: %d\n" % cache.get("overflow", 0),
    ]


def _compression_lines(comp: Obj) -> List[str]:
    return [
        "compression pages: %d pages\n" % comp.get("pages", 0),
        "compression busy: %d\n" % comp.get("busy", 0),
        "compression busy rate: %0.2f\n" % float(comp.get("busy-rate", 0)),
        "compressed size: %d kbytes\n" % _kb(comp.get("compressed-size", 0)),
        "compression rate: %0.2f\n" % float(comp.get("compression-rate", 0)),
    ]


def render_info_migrate(info: Obj, globals_: MigrationGlobals = MigrationGlobals(),
                        release: Release = (7, 2)) -> str:
    """``info migrate`` of ``release`` (up to 10.0) from the ``query-migrate`` reply."""
    out = [globals_.render(release)]
    reasons = info.get("blocked-reasons") or []
    if reasons:
        out.append("Outgoing migration blocked:\n")
        out.extend(f"  {reason}\n" for reason in reasons)
    if "status" in info:
        out.extend(_status_lines(info))
    if "ram" in info:
        out.extend(_ram_lines(info["ram"], release))
    if "disk" in info:
        disk = info["disk"]
        out.append("transferred disk: %d kbytes\n" % _kb(disk.get("transferred", 0)))
        out.append("remaining disk: %d kbytes\n" % _kb(disk.get("remaining", 0)))
        out.append("total disk: %d kbytes\n" % _kb(disk.get("total", 0)))
    if "xbzrle-cache" in info:
        out.extend(_xbzrle_lines(info["xbzrle-cache"]))
    if "compression" in info:
        out.extend(_compression_lines(info["compression"]))
    if "cpu-throttle-percentage" in info:
        out.append("cpu throttle percentage: %d\n" % info["cpu-throttle-percentage"])
    if release >= (8, 1):
        if "dirty-limit-throttle-time-per-round" in info:
            out.append("dirty-limit throttle time: %d us\n"
                       % info["dirty-limit-throttle-time-per-round"])
        if "dirty-limit-ring-full-time" in info:
            out.append("dirty-limit ring full time: %d us\n" % info["dirty-limit-ring-full-time"])
    if "postcopy-blocktime" in info:
        out.append("postcopy blocktime: %d\n" % info["postcopy-blocktime"])
    if "postcopy-vcpu-blocktime" in info:
        out.append("postcopy vcpu blocktime: %s\n"
                   % blocktime_list(info["postcopy-vcpu-blocktime"]))
    if "socket-address" in info:
        out.append("socket address: [\n")
        out.extend(f"\t{socket_address(a)}\n" for a in info["socket-address"])
        out.append("]\n")
    if "vfio" in info:
        out.append("vfio device transferred: %d kbytes\n"
                   % _kb(info["vfio"].get("transferred", 0)))
    return "".join(out)


def render_dirty_rate(info: Obj, release: Release = (7, 2)) -> str:
    """``info dirty_rate`` from ``query-dirty-rate``.

    Since 8.0 ``Sample Pages`` is printed only in the page-sampling mode.
    """
    out = ["Status: %s\n" % info.get("status"), "Start Time: %d (ms)\n" % info.get("start-time", 0)]
    if release < (8, 0) or info.get("mode") == "page-sampling":
        out.append("Sample Pages: %d (per GB)\n" % info.get("sample-pages", 0))
    out += [
        "Period: %d (sec)\n" % info.get("calc-time", 0),
        "Mode: %s\n" % info.get("mode"),
    ]
    if "dirty-rate" in info:
        out.append("Dirty rate: %d (MB/s)\n" % info["dirty-rate"])
        for vcpu in info.get("vcpu-dirty-rate") or []:
            out.append("vcpu[%d], Dirty rate: %d (MB/s)\n" % (vcpu["id"], vcpu["dirty-rate"]))
    else:
        out.append("Dirty rate: (not ready)\n")
    return "".join(out)


def render_vcpu_dirty_limit(limits: Sequence[Obj]) -> str:
    """``info vcpu_dirty_limit`` from ``query-vcpu-dirty-limit``.

    QEMU's HMP asks the limiter whether it runs; QMP answers an empty list
    when it does not, which prints the same message.
    """
    if not limits:
        return DIRTY_LIMIT_OFF
    return "".join("vcpu[%d], limit rate %d (MB/s), current rate %d (MB/s)\n"
                   % (lim["cpu-index"], lim["limit-rate"], lim["current-rate"])
                   for lim in limits)
