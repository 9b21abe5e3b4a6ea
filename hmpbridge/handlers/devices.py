"""Devices: ``device_add``, ``device_del``, ``balloon``.

``device_add`` sends every option as a JSON string: QEMU 7.2's QMP
``device_add`` goes through QemuOpts, so strings suit every property type.
Its ``help`` forms print QEMU's device tables, which only the human monitor
has; they go through ``human-monitor-command``.
"""

from __future__ import annotations

from typing import Any, Mapping

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["device_add", "device_del", "balloon", "wants_help"]

_HELP = ("help", "?")


def wants_help(opts: Mapping[str, Any]) -> bool:
    """Whether QEMU would print help (``qdev_device_help``) instead of adding."""
    driver = opts.get("driver")
    if driver is None:
        return False
    return driver in _HELP or any(key in _HELP for key in opts)


@handler("device_add")
def device_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``device_add driver[,prop=value...]``: one QMP ``device_add``, values as strings.

    With no argument QEMU is asked all the same, so that it answers
    ``Parameter 'driver' is missing`` itself.
    """
    opts = inv.args.get("device") or {}
    if wants_help(opts):
        return (yield from passthrough(inv, ctx))
    yield QMPCommand("device_add", {key: str(value) for key, value in opts.items()})
    return ""


@handler("device_del")
def device_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``device_del id``: prints nothing, even though the unplug finishes later."""
    yield QMPCommand("device_del", {"id": inv.args["id"]})
    return ""


@handler("balloon")
def balloon(inv: Invocation, ctx: Context) -> HandlerResult:
    """``balloon MB``: the parser already made it bytes."""
    yield QMPCommand("balloon", {"value": inv.args["value"]})
    return ""
