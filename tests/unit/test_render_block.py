"""info block entries, blockstats and block-jobs beyond what the captures show."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from hmpbridge.commands import by_key
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.block import (
    render_block_entry,
    render_block_jobs,
    render_block_list,
    render_blockstats,
)

_load_all()

_INSERTED = {"file": "/v/a.qcow2", "drv": "qcow2", "ro": False, "encrypted": False,
             "node-name": "n1", "cache": {"writeback": True, "direct": False, "no-flush": False},
             "detect_zeroes": "off", "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0,
             "iops_rd": 0, "iops_wr": 0}


def test_io_status_and_locked_tray() -> None:
    """When a device failed I/O and its tray is locked, both lines show."""
    info = {"device": "d0", "qdev": "dev0", "io-status": "failed", "removable": True,
            "locked": True, "tray_open": False, "inserted": _INSERTED}
    assert render_block_entry(info, _INSERTED, False) == (
        "d0 (n1): /v/a.qcow2 (qcow2)\n"
        "    Attached to:      dev0\n"
        "    I/O status:       failed\n"
        "    Removable device: locked, tray closed\n"
        "    Cache mode:       writeback\n")


def test_names_without_a_device_name() -> None:
    """When a BlockBackend has no name, the node name, qdev or <anonymous> is shown."""
    assert render_block_entry({"device": "", "qdev": "q"}, None, False) == (
        "q: [not inserted]\n    Attached to:      q\n")
    assert render_block_entry({"device": ""}, None, False) == "<anonymous>: [not inserted]\n"
    assert render_block_entry({"device": "", "qdev": "q"}, _INSERTED, False).startswith(
        "n1: /v/a.qcow2 (qcow2)\n")


def test_empty_line_rule_counts_filtered_entries() -> None:
    """When a filter skips the first entries, the match still starts with an empty line."""
    blocks = [{"device": "a"}, {"device": "b"}]
    assert render_block_list(blocks, "b", False) == "\nb: [not inserted]\n"
    assert render_block_list(blocks, "a", False) == "a: [not inserted]\n"
    assert render_block_list(blocks, None, False) == "a: [not inserted]\n\nb: [not inserted]\n"


def test_info_block_queries() -> None:
    """When a device matches no BlockBackend, the named nodes are asked; -n asks only them."""
    def run(args: Dict[str, Any], replies: Dict[str, Any]) -> Tuple[str, List[str]]:
        sent: List[str] = []

        def respond(cmd: QMPCommand) -> object:
            sent.append(cmd.execute)
            return replies[cmd.execute]

        inv = Invocation(by_key("info block"), args, "info block")
        return drive(HANDLERS["info block"](inv, Context()), respond), sent

    replies = {"query-block": [{"device": "d0"}], "query-named-block-nodes": [_INSERTED]}
    assert run({"nodes": False, "verbose": False}, replies) == (
        "d0: [not inserted]\n", ["query-block"])
    assert run({"nodes": False, "verbose": False, "device": "zz"}, replies) == (
        "", ["query-block", "query-named-block-nodes"])
    text, sent = run({"nodes": True, "verbose": False}, replies)
    assert sent == ["query-named-block-nodes"]
    assert text.startswith("n1: /v/a.qcow2 (qcow2)\n    Cache mode:")


def test_blockstats_skips_entries_without_device() -> None:
    """When an entry has no device, it is skipped; a missing idle time prints 0."""
    stats: List[Dict[str, Any]] = [{"stats": {"rd_bytes": 1}},
             {"device": "d0", "stats": {"rd_bytes": 5, "idle_time_ns": 7}}]
    assert render_blockstats(stats) == (
        "d0: rd_bytes=5 wr_bytes=0 rd_operations=0 wr_operations=0 flush_operations=0 "
        "wr_total_time_ns=0 rd_total_time_ns=0 flush_total_time_ns=0 rd_merged=0 "
        "wr_merged=0 idle_time_ns=7\n")


def test_block_jobs() -> None:
    """When jobs run, streams and other types have their own wording."""
    assert render_block_jobs([]) == "No active jobs\n"
    assert render_block_jobs([
        {"type": "backup", "device": "j1", "offset": 0, "len": 0, "speed": 0}]) == (
        "Type backup, device j1: Completed 0 of 0 bytes, speed limit 0 bytes/s\n")
