"""info migrate_parameters and info migrate_capabilities."""

from __future__ import annotations

from hmpbridge.render.migration import render_migrate_capabilities, render_migrate_parameters

DEFAULTS = {
    "announce-initial": 50, "announce-max": 550, "announce-rounds": 5, "announce-step": 100,
    "compress-level": 1, "compress-threads": 8, "compress-wait-thread": True,
    "decompress-threads": 2, "throttle-trigger-threshold": 50, "cpu-throttle-initial": 20,
    "cpu-throttle-increment": 10, "cpu-throttle-tailslow": False, "max-cpu-throttle": 99,
    "tls-creds": "", "tls-hostname": "", "max-bandwidth": 134217728, "downtime-limit": 300,
    "x-checkpoint-delay": 20000, "block-incremental": False, "multifd-channels": 2,
    "multifd-compression": "none", "multifd-zlib-level": 1, "multifd-zstd-level": 1,
    "xbzrle-cache-size": 67108864, "max-postcopy-bandwidth": 0, "tls-authz": "",
}


def test_parameters_in_fixed_order_without_levels() -> None:
    """When parameters are listed, the order is fixed and the multifd levels are left out."""
    text = render_migrate_parameters(dict(reversed(list(DEFAULTS.items()))))
    lines = text.splitlines()
    assert lines[0] == "announce-initial: 50 ms"
    assert lines[13] == "tls-creds: ''"
    assert lines[15] == "max-bandwidth: 134217728 bytes/second"
    assert lines[-1] == "tls-authz: ''"
    assert len(lines) == 24 and "zlib-level" not in text


def test_bitmap_mapping() -> None:
    """When a bitmap mapping is set, nodes and bitmaps follow, quoted and indented."""
    params = dict(DEFAULTS, **{"block-bitmap-mapping": [
        {"node-name": "n", "alias": "a", "bitmaps": [{"name": "b", "alias": "c"}]}]})
    assert render_migrate_parameters(params).endswith(
        "tls-authz: ''\nblock-bitmap-mapping:\n  'n' -> 'a'\n    'b' -> 'c'\n")


def test_capabilities() -> None:
    """When capabilities are listed, each is on or off in QMP order."""
    caps = [{"capability": "xbzrle", "state": False}, {"capability": "events", "state": True}]
    assert render_migrate_capabilities(caps) == "xbzrle: off\nevents: on\n"


def test_info_migrate_all_of_10_1_with_every_figure() -> None:
    """10.1's -a figures, in the layout of hmp_info_migrate (migration-hmp-cmds.c, 10.1 to 11.0)."""
    from hmpbridge.render.migration_info import render_info_migrate_101
    from hmpbridge.render.migration_status import MigrationGlobals
    info = {
        "status": "postcopy-paused", "error-desc": "lost", "total-time": 5,
        "xbzrle-cache": {"cache-size": 64, "bytes": 1, "pages": 2, "cache-miss": 3,
                         "cache-miss-rate": 0.5, "encoding-rate": 1.25, "overflow": 4},
        "cpu-throttle-percentage": 20, "dirty-limit-throttle-time-per-round": 7,
        "dirty-limit-ring-full-time": 8, "postcopy-blocktime": 9,
        "postcopy-vcpu-blocktime": list(range(1, 13)), "postcopy-latency": 10,
        "postcopy-latency-dist": [0, 5, 1],
    }
    text = render_info_migrate_101(info, True, MigrationGlobals(decompress_error_check=None,
                                                                send_switchover_start=True))
    assert text == (
        "Status: \t\tpostcopy-paused (lost)\n"
        "Time (ms): \t\ttotal=5\n"
        "Globals:\n  store-global-state: on\n  only-migratable: off\n"
        "  send-configuration: on\n  send-section-footer: on\n"
        "  send-switchover-start: on\n  clear-bitmap-shift: 18\n"
        "XBZRLE: size=64, transferred=1, pages=2, miss=3\n"
        "  miss_rate=0.50, encode_rate=1.25, overflow=4\n"
        "CPU Throttle (%): 20\n"
        "Dirty-limit Throttle (us): 7\n"
        "Dirty-limit Ring Full (us): 8\n"
        "Postcopy Blocktime (ms): 9\n"
        "Postcopy vCPU Blocktime (ms):\n [1, 2, 3, 4, 5, 6, 7, 8, 9, 10,\n  11, 12]\n"
        "Postcopy Latency (ns): 10\n"
        "Postcopy Latency Distribution:\n"
        "  [     1 us -     2 us ]:          0\n"
        "  [     2 us -     4 us ]:          5\n"
        "  [     4 us -     8 us ]:          1\n")
    assert render_info_migrate_101(info) == (
        "Status: \t\tpostcopy-paused (lost)\nTime (ms): \t\ttotal=5\n")
