"""The qemu-img style image dump, the format-specific tree and snapshot rows."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterator

import pytest

from hmpbridge.render.image import (
    SNAPSHOT_HEADER,
    render_format_specific,
    render_image_info,
    snapshot_line,
)


@pytest.fixture
def utc_plus_0530() -> Iterator[None]:
    """Local time is UTC+05:30 during the test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_format_specific_scalars() -> None:
    """When format-specific data is flat, keys keep their order, dashes become spaces."""
    data = {"compat": "1.1", "compression-type": "zlib", "lazy-refcounts": False,
            "refcount-bits": 16, "corrupt": False, "extended-l2": False}
    assert render_format_specific(data) == (
        "    compat: 1.1\n"
        "    compression type: zlib\n"
        "    lazy refcounts: false\n"
        "    refcount bits: 16\n"
        "    corrupt: false\n"
        "    extended l2: false\n")


def test_format_specific_nesting() -> None:
    """When values are objects or lists, they open a level 4 spaces deeper."""
    data = {"encrypt": {"format": "luks",
                        "slots": [{"active": True, "key-offset": 4096}, 7, []]},
            "bitmaps": [], "ratio": 0.5}
    assert render_format_specific(data) == (
        "    encrypt:\n"
        "        format: luks\n"
        "        slots:\n"
        "            [0]:\n"
        "                active: true\n"
        "                key offset: 4096\n"
        "            [1]: 7\n"
        "            [2]:\n"
        "    bitmaps:\n"
        "    ratio: 0.5\n")


def test_snapshot_header() -> None:
    """When the snapshot table starts, its header has QEMU's fixed column widths."""
    assert SNAPSHOT_HEADER == (
        "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT")


def _sn(**kw: Any) -> Dict[str, Any]:
    sn = {"id": "1", "name": "s1", "vm-state-size": 1216512, "date-sec": 1795577553,
          "date-nsec": 0, "vm-clock-sec": 0, "vm-clock-nsec": 0}
    sn.update(kw)
    return sn


def test_snapshot_line_columns(utc_plus_0530: None) -> None:
    """When a snapshot row is printed, the date is local time and icount is blank."""
    assert snapshot_line(_sn()) == (
        "1         s1               1.16 MiB 2026-11-25 09:02:33 00:00:00.000           ")


def test_snapshot_line_global_id_and_long_name(utc_plus_0530: None) -> None:
    """When the ID is overridden and the tag is long, the tag pushes the rest right."""
    line = snapshot_line(_sn(name="a-rather-long-snapshot-tag"), "--")
    assert line.startswith("--        a-rather-long-snapshot-tag 1.16 MiB 2026-11-25")


def test_snapshot_line_clock_and_icount(utc_plus_0530: None) -> None:
    """When the VM clock passes a day, hours keep counting; icount fills its column."""
    line = snapshot_line(_sn(**{"vm-clock-sec": 90061, "vm-clock-nsec": 5_250_000,
                                "icount": 5773408}))
    assert line.endswith(" 25:01:01.005    5773408")


def test_image_info_backing_paths() -> None:
    """When the backing file name differs from its full path, both are shown."""
    info = {"filename": "/v/top.qcow2", "format": "qcow2", "virtual-size": 67108864,
            "actual-size": 200704, "cluster-size": 65536, "dirty-flag": True,
            "encrypted": True, "backing-filename": "mid.qcow2",
            "full-backing-filename": "/v/mid.qcow2", "backing-filename-format": "qcow2"}
    assert render_image_info(info) == (
        "image: /v/top.qcow2\n"
        "file format: qcow2\n"
        "virtual size: 64 MiB (67108864 bytes)\n"
        "disk size: 196 KiB\n"
        "encrypted: yes\n"
        "cluster_size: 65536\n"
        "cleanly shut down: no\n"
        "backing file: mid.qcow2 (actual path: /v/mid.qcow2)\n"
        "backing file format: qcow2\n")


def test_image_info_unknown_sizes_and_paths() -> None:
    """When the disk size or the full backing path is unknown, QEMU says so."""
    info = {"filename": "nbd://h/x", "format": "raw", "virtual-size": 512,
            "backing-filename": "b.raw"}
    assert render_image_info(info) == (
        "image: nbd://h/x\n"
        "file format: raw\n"
        "virtual size: 512 B (512 bytes)\n"
        "disk size: unavailable\n"
        "backing file: b.raw (cannot determine actual path)\n")
