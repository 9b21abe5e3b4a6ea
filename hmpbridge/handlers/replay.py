"""Record/replay debugging: ``replay_break``, ``replay_delete_break``, ``replay_seek``.

They only work while QEMU replays an execution log (``-icount
...,rr=replay``); otherwise QEMU refuses them.  HMP prints their errors
with ``error_report_err``, so without the ``Error: `` prefix.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler, send_bare
from hmpbridge.model import Invocation

__all__ = ["replay_break", "replay_delete_break", "replay_seek"]


@handler("replay_break")
def replay_break(inv: Invocation, ctx: Context) -> HandlerResult:
    """``replay_break icount`` -> ``replay-break``."""
    return (yield from send_bare("replay-break", {"icount": inv.args["icount"]}))


@handler("replay_delete_break")
def replay_delete_break(inv: Invocation, ctx: Context) -> HandlerResult:
    """``replay_delete_break`` -> ``replay-delete-break``."""
    return (yield from send_bare("replay-delete-break"))


@handler("replay_seek")
def replay_seek(inv: Invocation, ctx: Context) -> HandlerResult:
    """``replay_seek icount`` -> ``replay-seek``."""
    return (yield from send_bare("replay-seek", {"icount": inv.args["icount"]}))
