"""Native block ``info`` commands: block, blockstats, block-jobs, snapshots."""

from __future__ import annotations

from typing import Any, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.block import (
    render_block_jobs,
    render_block_list,
    render_blockstats,
    render_node_list,
)
from hmpbridge.render.snapshots import (
    needs_named_nodes,
    no_vmstate,
    reaches_owned_after_roots,
    render_snapshots,
    top_nodes,
)

__all__ = ["info_block", "info_blockstats", "info_block_jobs", "info_snapshots", "BLOCK_GRAPH",
           "snapshot_nodes"]

#: The QMP query that shows every BlockBackend and parentless node.
BLOCK_GRAPH = "x-debug-query-block-graph"


@handler("info block")
def info_block(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info block [-n] [-v] [device]``, in the layout of ``ctx.profile.release``.

    BlockBackends first (unless ``-n``); named nodes when ``-n`` is given or
    when a device filter matched no BlockBackend.
    """
    nodes = bool(inv.args.get("nodes"))
    verbose = bool(inv.args.get("verbose"))
    device: Optional[str] = inv.args.get("device")
    release = ctx.profile.release
    text = ""
    if not nodes:
        blocks = yield QMPCommand("query-block")
        text = render_block_list(blocks, device, verbose, release)
    if (device is None and not nodes) or text:
        return text
    named = yield QMPCommand("query-named-block-nodes")
    return render_node_list(named, device, verbose, release)


@handler("info blockstats")
def info_blockstats(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info blockstats``: the counters of each BlockBackend (a line, or 11.1's table)."""
    return render_blockstats((yield QMPCommand("query-blockstats")), ctx.profile.release)


@handler("info block-jobs")
def info_block_jobs(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info block-jobs``: the progress of every block job."""
    return render_block_jobs((yield QMPCommand("query-block-jobs")))


def snapshot_nodes(ctx: Context) -> Any:
    """Generator: the top-level block nodes snapshots are taken on (``top_nodes``).

    Reads ``query-block``, the block graph where this QEMU offers it, and
    the named nodes when the graph alone cannot tell which node is on top.
    """
    blocks = yield QMPCommand("query-block")
    graph: Any = None
    named: Any = None
    if ctx.has_qmp(BLOCK_GRAPH):
        try:
            graph = yield QMPCommand(BLOCK_GRAPH)
        except QMPCommandError:
            graph = None
    if graph is not None and needs_named_nodes(blocks, graph):
        named = yield QMPCommand("query-named-block-nodes")
    return top_nodes(blocks, graph, named, reaches_owned_after_roots(ctx.profile.qemu))


#: Run states in which QEMU has handed its disks to a migration: they are
#: inactive, and ``info snapshots`` finds none that can hold a VM state.
DISKS_INACTIVE = frozenset({"inmigrate", "postmigrate", "finish-migrate"})


@handler("info snapshots")
def info_snapshots(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info snapshots``: global snapshots, then each disk's partial ones."""
    nodes = yield from snapshot_nodes(ctx)
    if any(node.included and node.can_snapshot for node in nodes):
        status = yield QMPCommand("query-status")
        if status.get("status") in DISKS_INACTIVE:
            return no_vmstate(ctx.profile.release)
    return render_snapshots(nodes, ctx.profile.release)
