"""info snapshots rebuilt from query-block and the block graph."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest

from hmpbridge.render.snapshots import (
    NO_SNAPSHOT,
    NO_VMSTATE,
    needs_named_nodes,
    render_snapshots,
    top_nodes,
)

HEADER = "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n"


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Local time is UTC during these tests."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC0"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def _sn(ident: str, name: str, size: int = 0) -> Dict[str, Any]:
    return {"id": ident, "name": name, "vm-state-size": size, "date-sec": 0, "date-nsec": 0,
            "vm-clock-sec": 0, "vm-clock-nsec": 0}


def _row(ident: str, name: str, size: str = "0 B") -> str:
    return "%-9s %-16s %8s%20s%13s%11s\n" % (ident, name, size, "1970-01-01 00:00:00",
                                              "00:00:00.000", "")


def _bb(device: str, node: str, fmt: str = "qcow2", ro: bool = False,
        snaps: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    image: Dict[str, Any] = {"format": fmt, "filename": node}
    if snaps:
        image["snapshots"] = snaps
    return {"device": device, "inserted": {"node-name": node, "drv": fmt, "ro": ro,
                                           "image": image}}


def test_global_and_partial() -> None:
    """When a tag is on every writable disk it is global with ID --; others are partial."""
    blocks = [{"device": "cd0"},
              _bb("d0", "n0", snaps=[_sn("1", "s1", 2048), _sn("2", "only0")]),
              _bb("ro", "n9", fmt="raw", ro=True),
              _bb("d1", "n1", snaps=[_sn("1", "s1"), _sn("3", "only1")])]
    assert render_snapshots(top_nodes(blocks)) == (
        "List of snapshots present on all disks:\n" + HEADER + _row("--", "s1", "2 KiB")
        + "\nList of partial (non-loadable) snapshots on 'd0':\n" + HEADER + _row("2", "only0")
        + "\nList of partial (non-loadable) snapshots on 'd1':\n" + HEADER
        + _row("3", "only1"))


def test_writable_raw_disk_makes_nothing_global() -> None:
    """When a writable disk cannot snapshot, no snapshot is on all disks."""
    blocks = [_bb("r0", "nr", fmt="raw"), _bb("q1", "nq", snaps=[_sn("1", "p1")])]
    assert render_snapshots(top_nodes(blocks)) == (
        "List of snapshots present on all disks:\nNone\n"
        "\nList of partial (non-loadable) snapshots on 'q1':\n" + HEADER + _row("1", "p1"))


def test_no_vmstate_and_no_snapshot() -> None:
    """When nothing can hold the VM state, or nothing has snapshots, QEMU's lines print."""
    assert render_snapshots(top_nodes([_bb("r0", "nr", fmt="raw")])) == NO_VMSTATE
    assert render_snapshots(top_nodes([{"device": "cd0"}])) == NO_VMSTATE
    assert render_snapshots(top_nodes([_bb("q", "nq")])) == NO_SNAPSHOT
    assert NO_VMSTATE == "no block device can store vmstate for snapshot\n"


def _graph(nodes: List[Any], edges: List[Any]) -> Dict[str, Any]:
    return {"nodes": [{"id": i, "type": t, "name": n} for i, t, n in reversed(nodes)],
            "edges": [{"parent": p, "child": c, "name": "root"} for p, c in edges]}


def test_graph_order_and_orphans() -> None:
    """When the graph is given, BlockBackends go by id and parentless nodes come last."""
    blocks = [_bb("d0", "n0", snaps=[_sn("1", "s1"), _sn("2", "a")]),
              _bb("d1", "n1", snaps=[_sn("1", "s1"), _sn("2", "b")])]
    graph = _graph([(1, "block-backend", "d0"), (2, "block-driver", "n0"),
                    (3, "block-backend", "d1"), (4, "block-driver", "n1"),
                    (5, "block-driver", "x0")], [(1, 2), (3, 4)])
    assert needs_named_nodes(blocks, graph)
    named = [{"node-name": "x0", "drv": "qcow2", "ro": False,
              "image": {"format": "qcow2", "snapshots": [_sn("1", "s1"), _sn("2", "c")]}}]
    tops = top_nodes(blocks, graph, named)
    assert [(t.name, t.node["node-name"]) for t in tops] == [("d0", "n0"), ("d1", "n1"),
                                                             ("", "x0")]
    text = render_snapshots(tops)
    assert text.index("on 'd0'") < text.index("on 'd1'") < text.index("on ''")


def test_shared_root_comes_at_its_newest_backend() -> None:
    """When a job's BlockBackend shares a disk's root, the disk moves to the job's place."""
    blocks = [_bb("d0", "n0", snaps=[_sn("1", "a")]), _bb("d1", "n1", snaps=[_sn("1", "b")])]
    graph = _graph([(1, "block-backend", "d0"), (2, "block-driver", "f0"),
                    (3, "block-backend", "d1"), (4, "block-driver", "n1"),
                    (5, "block-backend", "")], [(1, 2), (3, 4), (5, 2)])
    assert not needs_named_nodes(blocks, graph)
    assert [t.name for t in top_nodes(blocks, graph)] == ["d1", "d0"]


def test_filters_pass_snapshots_through() -> None:
    """When a root is a filter, the node below it takes the snapshots."""
    node = {"node-name": "t", "drv": "throttle", "ro": False,
            "image": {"format": "throttle",
                      "backing-image": {"format": "qcow2", "snapshots": [_sn("1", "s1")]}}}
    tops = top_nodes([{"device": "d0", "inserted": node}])
    assert tops[0].can_snapshot and [s["name"] for s in tops[0].snapshots] == ["s1"]
