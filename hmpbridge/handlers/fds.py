"""``getfd`` and ``closefd``: file descriptors passed by the client.

A client of a unix socket listener passes a descriptor with SCM_RIGHTS
(``socat``, ``sendmsg``); the session keeps it, and ``getfd NAME`` hands it on
to QEMU with QMP ``getfd`` on the shared connection.  Note that QEMU keeps
named descriptors per monitor, so on the bridge all sessions share one
namespace of names.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["getfd", "closefd", "NO_FD"]

#: QEMU's error when ``getfd`` comes without a descriptor.
NO_FD = "Error: No file descriptor supplied via SCM_RIGHTS\n"


@handler("getfd")
def getfd(inv: Invocation, ctx: Context) -> HandlerResult:
    """``getfd NAME``: pass the session's received descriptor on to QEMU."""
    fd = ctx.state.received_fd
    if fd is None:
        return NO_FD
    ctx.state.received_fd = None  # the QMP layer owns (and closes) it from here
    yield QMPCommand("getfd", {"fdname": inv.args["fdname"]}, fds=(fd,))
    return ""


@handler("closefd")
def closefd(inv: Invocation, ctx: Context) -> HandlerResult:
    """``closefd NAME``: QMP ``closefd``."""
    yield QMPCommand("closefd", {"fdname": inv.args["fdname"]})
    return ""
