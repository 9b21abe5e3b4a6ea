"""The passthrough and xquery strategies.

Passthrough is for HMP commands that QMP cannot express (``x``, ``info mtree``,
``hostfwd_add`` ...): the line has already been validated by the grammar and
is sent as ``human-monitor-command`` with the session's current CPU.  xquery
commands call QEMU's ``x-query-*`` command, which returns the text itself.
"""

from __future__ import annotations

from typing import Dict, Tuple

from hmpbridge.commands import XQUERY
from hmpbridge.handlers import Context, HandlerResult, strategy_handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["passthrough", "can_pass_through", "xquery", "HMC", "older_text"]

HMC = "human-monitor-command"

#: Passthrough commands whose errors QEMU 10.2 began to print as ``Error: ...``
#: (block/monitor's hmp_handle_error); older releases print them bare.
ERROR_PREFIX_SINCE: Dict[str, Tuple[int, int]] = {
    "drive_add": (10, 2), "drive_del": (10, 2), "commit": (10, 2)}


def older_text(key: str, text: str, release: Tuple[int, int], qemu: Tuple[int, int]) -> str:
    """QEMU's own answer to a passthrough line, as ``release`` printed it.

    Over a newer QEMU (``--hmp-version``), an error that gained an ``Error: ``
    prefix loses it again; everything else is QEMU's text as it comes.
    """
    since = ERROR_PREFIX_SINCE.get(key)
    if since is not None and release < since <= qemu and text.startswith("Error: "):
        return text[len("Error: "):]
    return text


def can_pass_through(ctx: Context) -> bool:
    """Whether lines may go to QEMU's own monitor: allowed, and QEMU has one."""
    return ctx.passthrough and ctx.has_qmp(HMC)


def passthrough(inv: Invocation, ctx: Context) -> HandlerResult:
    """Run the line through QEMU's own monitor (``human-monitor-command``)."""
    if not ctx.passthrough:
        return (f"Error: '{inv.spec.key}' needs QEMU's human monitor, "
                "and passthrough is switched off (--no-passthrough)\n")
    if not ctx.has_qmp(HMC):
        return (f"Error: '{inv.spec.key}' needs QEMU's human monitor, "
                "and this QEMU has no human-monitor-command\n")
    text = yield QMPCommand(HMC, {"command-line": inv.line, "cpu-index": ctx.state.cpu_index})
    return older_text(inv.spec.key, str(text).replace("\r\n", "\n"), ctx.profile.release,
                      ctx.profile.qemu[:2])


@strategy_handler(XQUERY)
def xquery(inv: Invocation, ctx: Context) -> HandlerResult:
    """Print the ``human-readable-text`` of the command's ``x-query-*`` QMP command."""
    reply = yield QMPCommand(inv.spec.qmp[0])
    return str(reply["human-readable-text"]).replace("\r\n", "\n")

