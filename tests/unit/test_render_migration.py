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
