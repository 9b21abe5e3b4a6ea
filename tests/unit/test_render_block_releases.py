"""Block rendering per release: each QEMU's own layout, and 7.2's from newer data.

The replies and texts are QEMU 7.2.22's, 10.0.2's and 11.1.3's (Debian
builds), captured from ``query-block``, ``query-blockstats`` and
``human-monitor-command`` on the test rig's VM after
``blockdev-snapshot-internal-sync disk0 s1`` (and, for ``, inactive``,
``blockdev-set-active`` false on disk0's node).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.commands import by_key
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.render.block import render_block_entry, render_blockstats
from hmpbridge.render.image import render_image_info, snapshot_header, snapshot_line
from hmpbridge.handlers.info_block import snapshot_nodes
from hmpbridge.render.snapshots import no_vmstate, render_snapshots, top_nodes
from hmpbridge.testing import qmp_greeting

_load_all()


@pytest.fixture(autouse=True)
def utc_plus_0530() -> Iterator[None]:
    """Local time is UTC+05:30 (the capture VMs' zone) during each test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def _stats(**values: int) -> Dict[str, Any]:
    """A ``BlockDeviceStats`` as QEMU 11.1.3 sends it (idle_time_ns absent: never used)."""
    stats = {"unmap_operations": 0, "unmap_merged": 0, "failed_zone_append_operations": 0,
             "flush_total_time_ns": 0, "wr_highest_offset": 0, "wr_total_time_ns": 0,
             "failed_wr_operations": 0, "failed_rd_operations": 0, "wr_merged": 0,
             "wr_bytes": 0, "timed_stats": [], "failed_unmap_operations": 0,
             "zone_append_merged": 0, "failed_flush_operations": 0, "account_invalid": True,
             "rd_total_time_ns": 0, "invalid_unmap_operations": 0, "flush_operations": 0,
             "wr_operations": 0, "unmap_bytes": 0, "rd_merged": 0, "rd_bytes": 0,
             "unmap_total_time_ns": 0, "invalid_flush_operations": 0, "account_failed": True,
             "zone_append_total_time_ns": 0, "zone_append_operations": 0, "rd_operations": 0,
             "zone_append_bytes": 0, "invalid_zone_append_operations": 0,
             "invalid_wr_operations": 0, "invalid_rd_operations": 0}
    stats.update(values)
    return stats


BLOCKSTATS_11_1 = [{"device": "cd0", "stats": _stats(), "qdev": "ide1-cd0"},
                   {"device": "disk0", "stats": _stats(),
                    "qdev": "/machine/peripheral/vblk0/virtio-backend"}]

#: QEMU 11.1.3's ``info blockstats`` for BLOCKSTATS_11_1.
BLOCKSTATS_11_1_TEXT = (
    "cd0: idle_time_ns=0\n"
    "                          bytes       operations            total_time_ns     merged\n"
    "Read:                         0                0                        0          0\n"
    "Write:                        0                0                        0          0\n"
    "Flush:                                         0                        0\n"
    "\n"
    "disk0: idle_time_ns=0\n"
    "                          bytes       operations            total_time_ns     merged\n"
    "Read:                         0                0                        0          0\n"
    "Write:                        0                0                        0          0\n"
    "Flush:                                         0                        0\n")

#: QEMU 7.2's (and 10.0's) ``info blockstats`` for the same counters.
BLOCKSTATS_7_2_TEXT = (
    "cd0: rd_bytes=0 wr_bytes=0 rd_operations=0 wr_operations=0 flush_operations=0 "
    "wr_total_time_ns=0 rd_total_time_ns=0 flush_total_time_ns=0 rd_merged=0 wr_merged=0 "
    "idle_time_ns=0\n"
    "disk0: rd_bytes=0 wr_bytes=0 rd_operations=0 wr_operations=0 flush_operations=0 "
    "wr_total_time_ns=0 rd_total_time_ns=0 flush_total_time_ns=0 rd_merged=0 wr_merged=0 "
    "idle_time_ns=0\n")


def test_blockstats_table_since_11_1() -> None:
    """When QEMU 11.1's text is printed, each device is a table; 7.2 and 10.0 keep one line."""
    assert render_blockstats(BLOCKSTATS_11_1, (11, 1)) == BLOCKSTATS_11_1_TEXT
    assert render_blockstats(BLOCKSTATS_11_1, (10, 0)) == BLOCKSTATS_7_2_TEXT
    assert render_blockstats(BLOCKSTATS_11_1, (7, 2)) == BLOCKSTATS_7_2_TEXT


def test_blockstats_table_columns() -> None:
    """When counters are set, each lands in its own column; merged has no flush cell."""
    stats = [{"device": "d", "stats": _stats(rd_bytes=4096, rd_operations=8,
                                             rd_total_time_ns=123456789, rd_merged=3,
                                             wr_bytes=1, wr_operations=2,
                                             wr_total_time_ns=3, wr_merged=4,
                                             flush_operations=5, flush_total_time_ns=6,
                                             idle_time_ns=99)}]
    assert render_blockstats(stats, (11, 1)) == (
        "d: idle_time_ns=99\n"
        "                          bytes       operations            total_time_ns     merged\n"
        "Read:                      4096                8                123456789          3\n"
        "Write:                        1                2                        3          4\n"
        "Flush:                                         5                        6\n")


def test_blockstats_table_separator_counts_skipped_entries() -> None:
    """When the first entry has no device, the first printed one still gets its empty line."""
    stats = [{"stats": _stats()}, {"device": "", "stats": _stats()}]
    assert render_blockstats(stats, (11, 1)).startswith("\n: idle_time_ns=0\n")


_INSERTED = {"file": "/v/a.qcow2", "drv": "qcow2", "ro": False, "encrypted": False,
             "active": False, "node-name": "n1",
             "cache": {"writeback": True, "direct": False, "no-flush": False},
             "detect_zeroes": "off", "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0,
             "iops_rd": 0, "iops_wr": 0}


def test_inactive_since_10_0() -> None:
    """When a node is inactive, 10.0 and later say so after its driver; 7.2 does not."""
    info = {"device": "disk0", "qdev": "/machine/peripheral/vblk0/virtio-backend",
            "inserted": _INSERTED}
    assert render_block_entry(info, _INSERTED, False, (10, 0)).startswith(
        "disk0 (n1): /v/a.qcow2 (qcow2, inactive)\n")
    assert render_block_entry(info, _INSERTED, False, (7, 2)).startswith(
        "disk0 (n1): /v/a.qcow2 (qcow2)\n")
    active = dict(_INSERTED, active=True, ro=True)
    assert render_block_entry(info, active, False, (11, 1)).startswith(
        "disk0 (n1): /v/a.qcow2 (qcow2, read-only)\n")
    no_member = {k: v for k, v in _INSERTED.items() if k != "active"}
    assert render_block_entry(info, no_member, False, (10, 0)).startswith(
        "disk0 (n1): /v/a.qcow2 (qcow2)\n")


#: QEMU 11.1.3's ``ImageInfo`` of disk0 with one internal snapshot.
IMAGE_11_1 = {
    "limits": {"write-zeroes-alignment": 65536, "request-alignment": 1,
               "min-mem-alignment": 1, "discard-alignment": 65536,
               "opt-mem-alignment": 4096, "max-iov": 1024},
    "snapshots": [{"vm-clock-nsec": 0, "name": "s1", "date-sec": 1796309720,
                   "date-nsec": 586134000, "vm-clock-sec": 0, "id": "1",
                   "vm-state-size": 0}],
    "virtual-size": 67108864, "filename": "/t/disk0.qcow2", "cluster-size": 65536,
    "format": "qcow2", "actual-size": 208896,
    "format-specific": {"type": "qcow2", "data": {
        "compat": "1.1", "compression-type": "zlib", "lazy-refcounts": False,
        "refcount-bits": 16, "corrupt": False, "extended-l2": False}},
    "dirty-flag": False}

_IMAGE_HEAD = ("image: /t/disk0.qcow2\n"
               "file format: qcow2\n"
               "virtual size: 64 MiB (67108864 bytes)\n"
               "disk size: 204 KiB\n"
               "cluster_size: 65536\n")
_FORMAT_SPECIFIC = ("Format specific information:\n"
                    "    compat: 1.1\n"
                    "    compression type: zlib\n"
                    "    lazy refcounts: false\n"
                    "    refcount bits: 16\n"
                    "    corrupt: false\n"
                    "    extended l2: false\n")


def test_image_dump_11_1_has_block_limits() -> None:
    """When 10.2's or later text is printed, the image's limits come before its snapshots."""
    assert render_image_info(IMAGE_11_1, (11, 1)) == (
        _IMAGE_HEAD
        + "Block limits:\n"
        "    write zeroes alignment: 65536\n"
        "    request alignment: 1\n"
        "    min mem alignment: 1\n"
        "    discard alignment: 65536\n"
        "    opt mem alignment: 4096\n"
        "    max iov: 1024\n"
        "Snapshot list:\n"
        "ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n"
        "1       s1                    0 B 2026-12-03 20:25:20  0000:00:00.000         --\n"
        + _FORMAT_SPECIFIC)


def test_image_dump_10_0_and_7_2_from_11_1_data() -> None:
    """When 10.0's or 7.2's text is printed from 11.1's data, no limits; each its own table."""
    assert render_image_info(IMAGE_11_1, (10, 0)) == (
        _IMAGE_HEAD
        + "Snapshot list:\n"
        "ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n"
        "1       s1                    0 B 2026-12-03 20:25:20  0000:00:00.000         --\n"
        + _FORMAT_SPECIFIC)
    assert render_image_info(IMAGE_11_1, (7, 2)) == (
        _IMAGE_HEAD
        + "Snapshot list:\n"
        "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n"
        "1         s1                    0 B 2026-12-03 20:25:20 00:00:00.000           \n"
        + _FORMAT_SPECIFIC)


def test_empty_limits_and_format_data() -> None:
    """When limits or format data are empty, 8.0 and later print no heading; 7.2 does for its kinds."""
    info = {"filename": "f", "format": "raw", "virtual-size": 512, "limits": {},
            "format-specific": {"type": "rbd", "data": {}}}
    head = "image: f\nfile format: raw\nvirtual size: 512 B (512 bytes)\ndisk size: unavailable\n"
    assert render_image_info(info, (11, 1)) == head
    assert render_image_info(info, (8, 0)) == head
    assert render_image_info(info, (7, 2)) == head + "Format specific information:\n"


def test_file_nodes_empty_data_is_not_shown_in_7_2_text() -> None:
    """When 10.0's file node has empty format data (a kind 8.0 added), 7.2's text shows none."""
    info = {"filename": "/t/disk0.qcow2", "format": "file", "virtual-size": 328192,
            "actual-size": 208896, "format-specific": {"type": "file", "data": {}}}
    assert "Format specific" not in render_image_info(info, (7, 2))


def test_snapshot_rows_since_9_0() -> None:
    """When 9.0's or later text is printed, the table is wider and a missing icount is --."""
    assert snapshot_header((9, 0)) == (
        "ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT")
    sn = {"id": "1", "name": "s1", "vm-state-size": 1216512, "date-sec": 1795577553,
          "date-nsec": 0, "vm-clock-sec": 90061, "vm-clock-nsec": 5_250_000}
    assert snapshot_line(sn, "--", (9, 0)) == (
        "--      s1               1.16 MiB 2026-11-25 09:02:33  0025:01:01.005         --")
    assert snapshot_line(dict(sn, icount=7), None, (11, 1)).endswith(
        " 0025:01:01.005          7")
    assert snapshot_line(sn, None, (8, 2)).endswith(" 25:01:01.005           ")


def _qcow2(device: str, snapshots: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"device": device, "inserted": {
        "node-name": "n-" + device, "ro": False, "drv": "qcow2",
        "image": {"format": "qcow2", "snapshots": snapshots}}}


def test_info_snapshots_layout_per_release() -> None:
    """When snapshots are listed, the table follows the release; the no-vmstate error gains a prefix in 10.2."""
    sn = IMAGE_11_1["snapshots"][0]
    tops = top_nodes([_qcow2("disk0", [sn])])
    assert render_snapshots(tops, (11, 1)) == (
        "List of snapshots present on all disks:\n"
        "ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n"
        "--      s1                    0 B 2026-12-03 20:25:20  0000:00:00.000         --\n")
    assert render_snapshots(tops, (7, 2)) == (
        "List of snapshots present on all disks:\n"
        "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n"
        "--        s1                    0 B 2026-12-03 20:25:20 00:00:00.000           \n")
    none = top_nodes([{"device": "cd0"}])
    assert render_snapshots(none, (11, 1)) == (
        "Error: no block device can store vmstate for snapshot\n")
    assert render_snapshots(none, (10, 1)) == "no block device can store vmstate for snapshot\n"
    assert no_vmstate((10, 2)) == "Error: no block device can store vmstate for snapshot\n"


def _run(key: str, args: Dict[str, Any], line: str, replies: Dict[str, Any],
         version: Tuple[int, int, int], hmp_version: Any = None) -> str:
    ctx = Context(profile=profile_for(qmp_greeting(version), None, hmp_version))

    def respond(cmd: QMPCommand) -> object:
        return replies[cmd.execute]

    return drive(HANDLERS[key](Invocation(by_key(key), args, line), ctx), respond)


def test_handlers_print_the_profiles_release() -> None:
    """When the bridge serves 11.1, its text is 11.1's, or 7.2's with --hmp-version 7.2."""
    replies = {"query-blockstats": BLOCKSTATS_11_1}
    assert _run("info blockstats", {}, "info blockstats", replies, (11, 1, 3)) \
        == BLOCKSTATS_11_1_TEXT
    assert _run("info blockstats", {}, "info blockstats", replies, (11, 1, 3), (7, 2)) \
        == BLOCKSTATS_7_2_TEXT
    blocks = {"query-block": [{"device": "disk0", "inserted": _INSERTED}]}
    assert "(qcow2, inactive)" in _run("info block", {"nodes": False, "verbose": False},
                                       "info block", blocks, (10, 0, 2))
    assert "(qcow2)" in _run("info block", {"nodes": False, "verbose": False},
                             "info block", blocks, (10, 0, 2), (7, 2))


def test_an_inactive_node_cannot_hold_the_vm_state() -> None:
    """When disk0's node is inactive (10.0's blockdev-set-active), no node can hold the VM state."""
    block = _qcow2("disk0", [IMAGE_11_1["snapshots"][0]])
    block["inserted"]["active"] = False
    assert render_snapshots(top_nodes([block]), (10, 0)) == (
        "no block device can store vmstate for snapshot\n")


_COUNTER = st.integers(min_value=0, max_value=2 ** 63 - 1)
_STATS_NAMES = ("rd_bytes", "rd_operations", "rd_total_time_ns", "rd_merged", "wr_bytes",
                "wr_operations", "wr_total_time_ns", "wr_merged", "flush_operations",
                "flush_total_time_ns", "idle_time_ns")


@given(st.lists(st.fixed_dictionaries(
    {"device": st.text(alphabet="abc0: ", max_size=6),
     "stats": st.fixed_dictionaries({}, optional={k: _COUNTER for k in _STATS_NAMES})}),
    max_size=4))
def test_blockstats_table_reads_back(stats: List[Dict[str, Any]]) -> None:
    """Whatever the counters, 11.1's table holds each one, and 7.2's line the same numbers."""
    table = render_blockstats(stats, (11, 1))
    blocks = table.split("\n\n") if table else []
    assert len(blocks) == len(stats)
    for entry, block in zip(stats, blocks):
        lines = block.rstrip("\n").split("\n")
        values = entry["stats"]
        head = f"{entry['device']}: idle_time_ns="
        assert lines[0] == head + str(values.get("idle_time_ns", 0))
        read = [int(x) for x in lines[2].split()[1:]]
        write = [int(x) for x in lines[3].split()[1:]]
        flush = [int(x) for x in lines[4].split()[1:]]
        assert read == [values.get(k, 0) for k in _STATS_NAMES[0:4]]
        assert write == [values.get(k, 0) for k in _STATS_NAMES[4:8]]
        assert flush == [values.get(k, 0) for k in _STATS_NAMES[8:10]]
    old = render_blockstats(stats, (7, 2))
    assert old == render_blockstats(stats, (11, 0))
    assert old.count("\n") == len(stats)


def _owned_fixture(release: str) -> Dict[str, Any]:
    """The recorded replies of the ``owned`` golden scenario (a blockdev-add node, extra0)."""
    import json
    path = os.path.join(os.path.dirname(__file__), "..", "golden", "fixtures", release,
                        "owned-snapshots.json")
    with open(path) as f:
        fixture = json.load(f)
    return {ex[0]["execute"]: ex[1]["return"] for ex in fixture["exchanges"]}


@pytest.mark.parametrize("qemu,skipped", [((7, 2, 0), False), ((8, 2, 2), False),
                                          ((9, 0, 0), True), ((10, 0, 2), True),
                                          ((11, 1, 3), False)])
def test_parentless_nodes_after_backends_per_qemu(qemu: Tuple[int, int, int],
                                                  skipped: bool) -> None:
    """When a BlockBackend root exists, QEMU 9.0 to 11.0 never reach the parentless nodes."""
    replies = _owned_fixture("10.0")
    ctx = Context(profile=profile_for(qmp_greeting(qemu), None))

    def respond(cmd: QMPCommand) -> object:
        return replies[cmd.execute]

    names = [t.node.get("node-name") for t in
             drive(snapshot_nodes(ctx), respond)]
    assert ("extra0" not in names) is skipped
    assert names[:2] == ["#block103", "anon1"]


def test_owned_snapshots_as_10_0_prints_them() -> None:
    """When QEMU 10.0.2 skips extra0, its snapshot is neither global-breaking nor listed."""
    replies = _owned_fixture("10.0")
    ctx = Context(profile=profile_for(qmp_greeting((10, 0, 2)), None))

    def respond(cmd: QMPCommand) -> object:
        return replies[cmd.execute]

    inv = Invocation(by_key("info snapshots"), {}, "info snapshots")
    text = drive(HANDLERS["info snapshots"](inv, ctx), respond)
    assert text.startswith("List of snapshots present on all disks:\n"
                           "ID      TAG               VM_SIZE                DATE        "
                           "VM_CLOCK     ICOUNT\n--      s1    ")
    assert "onlyx" not in text and "onlya" in text
