"""``info snapshots`` rebuilt from the block queries.

QEMU's HMP reads the snapshot tables straight from the block layer.  The same
picture comes from QMP:

* ``query-block`` gives the BlockBackends, their inserted nodes and each
  node's ``image.snapshots``;
* ``x-debug-query-block-graph`` (when available) gives every BlockBackend in
  QEMU's order, the root node each one holds, and the nodes with no parent at
  all (monitor-owned nodes made by ``blockdev-add``);
* ``query-named-block-nodes`` fills in the nodes that ``query-block`` does not
  show (roots of internal BlockBackends such as a mirror job's target, and
  monitor-owned nodes); it is only needed when the graph has such nodes.

The "top-level" nodes, in QEMU's ``bdrv_next`` order, are the roots of the
BlockBackends and then the monitor-owned nodes without a parent.  QEMU 9.0
to 11.0 never reach the latter once a BlockBackend root was returned
(``bdrv_next`` goes on from that root's place in the monitor's list, where
a ``-drive`` node is not; see :func:`top_nodes`).  Those that
are writable take part in snapshots; the vmstate node is the first of them
whose driver can snapshot.

The text follows the release asked for: the snapshot table's columns change
in 9.0 (:mod:`hmpbridge.render.image`), and from 10.2 the "no block device
can store vmstate" error has HMP's ``Error: `` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from hmpbridge.render.image import OLDEST, snapshot_header, snapshot_line

__all__ = [
    "TopNode",
    "top_nodes",
    "needs_named_nodes",
    "render_snapshots",
    "NO_VMSTATE",
    "no_vmstate",
    "reaches_owned_after_roots",
    "NO_SNAPSHOT",
    "SNAPSHOT_DRIVERS",
    "FILTER_DRIVERS",
]

Obj = Mapping[str, Any]
Release = Tuple[int, int]

#: QEMU's message when no node can hold the VM state (``info snapshots``
#: prints it without a prefix up to 10.1).
NO_VMSTATE = "no block device can store vmstate for snapshot\n"


def no_vmstate(release: Release = OLDEST) -> str:
    """``info snapshots``' error when no node can hold the VM state, as ``release`` prints it."""
    return ("Error: " if release >= (10, 2) else "") + NO_VMSTATE
NO_SNAPSHOT = "There is no snapshot available.\n"

#: Format drivers that implement internal snapshots.
SNAPSHOT_DRIVERS = frozenset({"qcow2", "rbd", "sheepdog"})
#: Filter drivers: snapshots go to the node below them.
FILTER_DRIVERS = frozenset({"throttle", "copy-on-read", "preallocate", "compress",
                            "blkreplay", "mirror_top", "commit_top"})


@dataclass
class TopNode:
    """A top-level node: a BlockBackend root or a parentless monitor-owned node.

    :ivar name: QEMU's ``bdrv_get_device_name``: the BlockBackend name, or "".
    :ivar node: its ``BlockDeviceInfo`` (from ``query-block`` or the named nodes).
    :ivar included: writable, so it takes part in snapshots.
    """

    name: str
    node: Obj
    included: bool

    def snapshot_image(self) -> Optional[Obj]:
        """The ``ImageInfo`` of the node that takes snapshots, or None if none can.

        An inactive node (``active`` false, QEMU 10.0 on) is not writable, so
        it cannot snapshot, though it still takes part.
        """
        if self.node.get("ro") or self.node.get("active", True) is False:
            return None
        image: Optional[Obj] = self.node.get("image")
        while image is not None and image.get("format") in FILTER_DRIVERS:
            image = image.get("backing-image")
        if image is None or image.get("format") not in SNAPSHOT_DRIVERS:
            return None
        return image

    @property
    def can_snapshot(self) -> bool:
        """QEMU's ``bdrv_can_snapshot``."""
        return self.snapshot_image() is not None

    @property
    def snapshots(self) -> List[Obj]:
        """The node's snapshots (empty when it cannot snapshot)."""
        image = self.snapshot_image()
        return list(image.get("snapshots", [])) if image is not None else []


def _backend_key(info: Obj) -> str:
    """How the block graph names a BlockBackend: its name, else its device's id."""
    return str(info.get("device") or info.get("qdev") or "")


def _graph_parts(graph: Obj) -> "tuple[List[Obj], Dict[int, int], Dict[int, Obj], List[Obj]]":
    """BlockBackends and parentless nodes in QEMU's order, and each backend's root.

    Node ids are handed out in the order QEMU walks its lists, whatever the
    order of the reply's list, so sorting by id gives QEMU's order.
    """
    nodes = sorted(graph.get("nodes", []), key=lambda n: n["id"])
    by_id = {n["id"]: n for n in nodes}
    backends = [n for n in nodes if n.get("type") == "block-backend"]
    roots: Dict[int, int] = {}
    has_parent = set()
    for edge in graph.get("edges", []):
        has_parent.add(edge["child"])
        if by_id.get(edge["parent"], {}).get("type") == "block-backend":
            roots.setdefault(edge["parent"], edge["child"])
    orphans = [n for n in nodes
               if n.get("type") == "block-driver" and n["id"] not in has_parent]
    return backends, roots, by_id, orphans


def needs_named_nodes(blocks: Sequence[Obj], graph: Obj) -> bool:
    """Whether the graph holds top-level nodes that ``query-block`` does not describe."""
    backends, roots, _, orphans = _graph_parts(graph)
    if orphans:
        return True
    known = {_backend_key(b) for b in blocks if "inserted" in b}
    covered = {roots[bb["id"]] for bb in backends
               if bb["id"] in roots and bb.get("name") and bb["name"] in known}
    return any(root not in covered for root in roots.values())


def top_nodes(blocks: Sequence[Obj], graph: Optional[Obj] = None,
              named: Optional[Sequence[Obj]] = None,
              owned_after_roots: bool = True) -> List[TopNode]:
    """The top-level nodes in QEMU's ``bdrv_next`` order.

    :param blocks: the ``query-block`` reply.
    :param graph: the ``x-debug-query-block-graph`` reply, if available.
    :param named: the ``query-named-block-nodes`` reply, if fetched.
    :param owned_after_roots: whether the parentless nodes follow the
        BlockBackend roots (see :func:`reaches_owned_after_roots`); when not,
        they come only when no BlockBackend has a root.  (Exact when the last
        root is a ``-drive`` node; when it is a ``blockdev-add`` node, QEMU
        would still reach those added after it, which the queries do not
        tell apart.)
    """
    if graph is None:
        tops: List[TopNode] = []
        seen = set()
        for info in blocks:
            ins = info.get("inserted")
            if ins is None or ins.get("node-name") in seen:
                continue
            seen.add(ins.get("node-name"))
            tops.append(TopNode(info.get("device", ""), ins, not ins.get("ro")))
        return tops
    by_key = {_backend_key(b): b for b in blocks}
    by_name = {n.get("node-name"): n for n in (named or [])}
    backends, roots, by_id, orphans = _graph_parts(graph)
    # A root shared by several BlockBackends comes up once, at the place of
    # the one attached last (QEMU's bdrv_first_blk), taken to be the newest.
    position: Dict[int, int] = {}
    nodes: Dict[int, Obj] = {}
    names: Dict[int, str] = {}
    for bb in backends:
        root = roots.get(bb["id"])
        if root is None:
            continue
        position[root] = bb["id"]
        backend: Optional[Obj] = by_key.get(bb["name"]) if bb.get("name") else None
        if root not in nodes and backend is not None and "inserted" in backend:
            nodes[root] = backend["inserted"]
        if not names.get(root) and backend is not None and backend.get("device"):
            names[root] = backend["device"]
    for root in position:
        if root not in nodes:
            node = by_name.get(by_id.get(root, {}).get("name"))
            if node is not None:
                nodes[root] = node
    order = sorted((r for r in position if r in nodes), key=lambda r: position[r])
    tops = [TopNode(names.get(r, ""), nodes[r], not nodes[r].get("ro")) for r in order]
    if tops and not owned_after_roots:
        return tops
    for orphan in orphans:
        node = by_name.get(orphan.get("name"))
        if node is not None:
            tops.append(TopNode("", node, not node.get("ro")))
    return tops


def reaches_owned_after_roots(qemu: Tuple[int, ...]) -> bool:
    """Whether QEMU ``qemu``'s ``bdrv_next`` reaches parentless nodes after BlockBackend roots.

    Not from 9.0 (f6d38c9f6d keeps the last root as the place to go on from
    in the monitor's list) to 11.0 (qemu.git of 2026-02 still does; QEMU
    11.1.3 reaches them again, measured).  This is what QEMU does, not how
    it prints: it follows the real QEMU, whatever ``--hmp-version`` says.
    """
    return not (9, 0) <= tuple(qemu[:2]) < (11, 1)


def render_snapshots(tops: Sequence[TopNode], release: Release = OLDEST) -> str:
    """``info snapshots`` for the top-level nodes (see :func:`top_nodes`)."""
    included = [t for t in tops if t.included]
    vmstate = next((t for t in included if t.can_snapshot), None)
    if vmstate is None:
        return no_vmstate(release)
    images = [(t.name, t.snapshots) for t in tops if t.can_snapshot and t.snapshots]
    if not images:
        return NO_SNAPSHOT
    global_rows = []
    for sn in vmstate.snapshots:
        name = sn["name"]
        if all(any(s["name"] == name for s in t.snapshots) for t in included):
            global_rows.append(sn)
            images = [(n, [s for s in sns if s["name"] != name]) for n, sns in images]
    out = ["List of snapshots present on all disks:\n"]
    header = snapshot_header(release) + "\n"
    if global_rows:
        out.append(header)
        out.extend(snapshot_line(sn, "--", release) + "\n" for sn in global_rows)
    else:
        out.append("None\n")
    for name, sns in images:
        if not sns:
            continue
        out.append(f"\nList of partial (non-loadable) snapshots on '{name}':\n")
        out.append(header)
        out.extend(snapshot_line(sn, None, release) + "\n" for sn in sns)
    return "".join(out)
