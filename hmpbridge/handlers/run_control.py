"""Run control: ``stop``, ``cont``, ``system_reset``, ``system_powerdown``, ``quit``.

QEMU's HMP passes no error pointer to ``stop``, ``system_reset`` and
``system_powerdown``, so their QMP errors are never shown; ``cont`` prints
them.  ``quit`` prints nothing: QEMU exits and the monitor connection closes.
"""

from __future__ import annotations

from hmpbridge.errors import QMPCommandError, QMPDisconnected
from hmpbridge.handlers import Context, HandlerResult, handler, send_quietly
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["stop", "cont", "system_reset", "system_powerdown", "quit_command"]


@handler("stop")
def stop(inv: Invocation, ctx: Context) -> HandlerResult:
    """``stop``: pause the VM; errors are discarded, as HMP does."""
    return (yield from send_quietly("stop"))


@handler("system_reset")
def system_reset(inv: Invocation, ctx: Context) -> HandlerResult:
    """``system_reset``; errors are discarded."""
    return (yield from send_quietly("system_reset"))


@handler("system_powerdown")
def system_powerdown(inv: Invocation, ctx: Context) -> HandlerResult:
    """``system_powerdown`` (an ACPI request); errors are discarded."""
    return (yield from send_quietly("system_powerdown"))


@handler("cont")
def cont(inv: Invocation, ctx: Context) -> HandlerResult:
    """``cont``: resume the VM; a QMP error prints as ``Error: <desc>``."""
    yield QMPCommand("cont")
    return ""


@handler("quit")
def quit_command(inv: Invocation, ctx: Context) -> HandlerResult:
    """``quit``: QEMU exits; the session closes without printing anything.

    QEMU may drop the connection before it answers; that counts as done.
    """
    try:
        yield QMPCommand("quit")
    except (QMPCommandError, QMPDisconnected):
        pass
    ctx.state.close_requested = True
    return ""
