"""Small action commands that map to one QMP command each.

``nmi``, ``system_wakeup``, ``ringbuf_write``/``ringbuf_read``,
``screendump``, ``trace-event``, ``watchdog_action``, ``set_password``,
``expire_password``, ``chardev-change`` and ``chardev-send-break``.

HMP checks enumerations itself before it calls QMP, lower-casing
``watchdog_action``'s, and prints ``Error: invalid parameter value: X`` for
an unknown value; the same is done here, because QMP words that error
differently.  ``trace-event`` prints QMP's error without ``Error: ``.
``ringbuf_read`` asks for base64 so that every byte arrives as read.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Dict

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler, send, send_bare
from hmpbridge.handlers.chardev import (backend_kinds, chardev_options, fit_socket,
                                        held_chardev_ids, read_backend, read_chardev_opts,
                                        socket_members)
from hmpbridge.handlers.info_more import takes_vcpu, vcpu_refusal
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.misc import ringbuf_text

__all__ = ["nmi", "system_wakeup", "ringbuf_write", "ringbuf_read", "screendump",
           "trace_event", "watchdog_action", "set_password", "expire_password",
           "chardev_change", "chardev_send_break", "WATCHDOG_ACTIONS"]

#: ``WatchdogAction`` of QEMU 7.2.
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi")
_IMAGE_FORMATS = ("ppm", "png")
_PROTOCOLS = ("vnc", "spice")
_CONNECTED = ("keep", "fail", "disconnect")


def _bad_value(value: str) -> str:
    return f"Error: invalid parameter value: {value}\n"


@handler("nmi")
def nmi(inv: Invocation, ctx: Context) -> HandlerResult:
    """``nmi`` -> ``inject-nmi`` (on x86 every CPU gets it, whichever is current)."""
    return (yield from send("inject-nmi"))


@handler("system_wakeup")
def system_wakeup(inv: Invocation, ctx: Context) -> HandlerResult:
    """``system_wakeup`` -> ``system_wakeup``."""
    return (yield from send("system_wakeup"))


@handler("chardev-send-break")
def chardev_send_break(inv: Invocation, ctx: Context) -> HandlerResult:
    """``chardev-send-break id``."""
    return (yield from send("chardev-send-break", {"id": inv.args["id"]}))


@handler("ringbuf_write")
def ringbuf_write(inv: Invocation, ctx: Context) -> HandlerResult:
    """``ringbuf_write device data`` -> ``ringbuf-write`` (utf8)."""
    return (yield from send("ringbuf-write", {"device": inv.args["device"],
                                                 "data": inv.args["data"]}))


@handler("ringbuf_read")
def ringbuf_read(inv: Invocation, ctx: Context) -> HandlerResult:
    """``ringbuf_read device size``: the data read, escaped as QEMU prints it."""
    data = yield QMPCommand("ringbuf-read", {"device": inv.args["device"],
                                             "size": inv.args["size"] & 0xFFFFFFFF,
                                             "format": "base64"})
    return ringbuf_text(base64.b64decode(str(data)))


@handler("screendump")
def screendump(inv: Invocation, ctx: Context) -> HandlerResult:
    """``screendump filename [-f format] [device [head]]`` -> ``screendump``."""
    fmt = inv.args.get("format")
    if fmt and fmt not in _IMAGE_FORMATS:
        return _bad_value(fmt)
    arguments: Dict[str, Any] = {"filename": inv.args["filename"]}
    if "device" in inv.args:
        arguments["device"] = inv.args["device"]
        arguments["head"] = inv.args.get("head", 0)
    if fmt:
        arguments["format"] = fmt
    try:
        yield QMPCommand("screendump", arguments)
    except QMPCommandError as err:
        return f"Error: {before_8_2_file_error(err.desc, ctx, _SCREENDUMP_OPEN)}\n"
    return ""


#: How a file QEMU could not create was reported before 8.2 (``qemu_create``
#: and its ``Could not create 'FILE': ...`` came in 8.2).
_SCREENDUMP_OPEN = "failed to open file '"
_CREATE = re.compile(r"Could not create '(?P<rest>.*)")


def before_8_2_file_error(desc: str, ctx: Context, opening: str) -> str:
    """``desc``, in the words of the release printed when that is older than 8.2."""
    found = _CREATE.fullmatch(desc)
    if found is None or ctx.profile.since(8, 2):
        return desc
    return opening + found.group("rest")


@handler("trace-event")
def trace_event(inv: Invocation, ctx: Context) -> HandlerResult:
    """``trace-event name on|off [vcpu]``; errors print without ``Error: ``.

    From 8.1 HMP takes the vCPU argument and ignores it (QMP dropped it in 9.1).
    """
    arguments: Dict[str, Any] = {"name": inv.args["name"], "enable": inv.args["option"],
                                 "ignore-unavailable": True}
    if "vcpu" in inv.args and not ctx.profile.since(8, 1):
        vcpu = inv.args["vcpu"] & 0xFFFFFFFF
        if vcpu & 0x80000000:
            return "argument vcpu must be positive"  # QEMU prints no newline
        if takes_vcpu(ctx, "trace-event-set-state"):
            arguments["vcpu"] = vcpu
        else:  # an older release's text over a QEMU without vCPU events
            refused = yield from vcpu_refusal(arguments["name"], vcpu)
            return "" if refused is None else refused
    return (yield from send_bare("trace-event-set-state", arguments))


@handler("watchdog_action")
def watchdog_action(inv: Invocation, ctx: Context) -> HandlerResult:
    """``watchdog_action ACTION`` (any case) -> ``watchdog-set-action``."""
    action = "".join(ch.lower() if ch.isascii() else ch for ch in inv.args["action"])
    if action not in WATCHDOG_ACTIONS:
        return _bad_value(action)
    return (yield from send("watchdog-set-action", {"action": action}))


@handler("set_password")
def set_password(inv: Invocation, ctx: Context) -> HandlerResult:
    """``set_password protocol password [-d display] [action-if-connected]``."""
    connected = inv.args.get("connected")
    if connected is not None and connected not in _CONNECTED:
        return _bad_value(connected)
    protocol = inv.args["protocol"]
    if protocol not in _PROTOCOLS:
        return _bad_value(protocol)
    arguments: Dict[str, Any] = {"protocol": protocol, "password": inv.args["password"]}
    if connected is not None:
        arguments["connected"] = connected
    if protocol == "vnc" and inv.args.get("display"):
        arguments["display"] = inv.args["display"]
    return (yield from _vnc_send("set_password", arguments, ctx))


@handler("expire_password")
def expire_password(inv: Invocation, ctx: Context) -> HandlerResult:
    """``expire_password protocol time [-d display]``."""
    protocol = inv.args["protocol"]
    if protocol not in _PROTOCOLS:
        return _bad_value(protocol)
    arguments: Dict[str, Any] = {"protocol": protocol, "time": inv.args["time"]}
    if protocol == "vnc" and inv.args.get("display"):
        arguments["display"] = inv.args["display"]
    return (yield from send("expire_password", arguments))


#: QEMU 11's error when ``set_password`` finds no VNC display, and the hint it
#: adds (printed by HMP with no line end, absent from QMP's ``desc``).
NO_VNC = "No VNC display is present"
NO_VNC_HINT = "To enable it, use '-vnc ...'"
#: What ``set_password`` said for the same failure until 10.2.
NO_VNC_BEFORE_11 = "Could not set password"
#: 8.2's refusal of ``connected`` for VNC (7.2 said "Invalid parameter 'connected'").
CONNECTED_VNC = "parameter 'connected' must be 'keep' when 'protocol' is 'vnc'"


def _vnc_send(name: str, arguments: Dict[str, Any], ctx: Context) -> HandlerResult:
    """``name`` with ``arguments``; an error prints as ``Error: <desc>``, plus QEMU 11's hint."""
    try:
        yield QMPCommand(name, arguments)
    except QMPCommandError as err:
        if err.desc == CONNECTED_VNC and not ctx.profile.since(8, 2):
            return "Error: Invalid parameter 'connected'\n"
        if err.desc != NO_VNC:
            return f"Error: {err.desc}\n"
        if ctx.profile.since(11, 0):
            return f"Error: {NO_VNC}\n{NO_VNC_HINT}"
        return f"Error: {NO_VNC_BEFORE_11}\n"
    return ""


@handler("chardev-change")
def chardev_change(inv: Invocation, ctx: Context) -> HandlerResult:
    """``chardev-change id backend[,opts]`` -> ``chardev-change``; prints nothing on success."""
    opts, out = read_chardev_opts(inv.args["args"], held_chardev_ids(ctx.chardevs_at_connect),
                                  chardev_options(ctx.profile.release))
    if opts is None:
        return out
    if opts.id is not None:
        return out + "Error: Unexpected 'id' parameter\n"
    if opts.get("backend") is None:
        return out + 'Error: chardev: "(null)" missing backend\n'
    chosen, text = read_backend(opts, backend_kinds(ctx.profile.schema, ctx.profile.release))
    out += text
    if chosen is None:
        return out
    backend, data = chosen
    if backend == "socket":
        refused = fit_socket(data, socket_members(ctx.profile.schema))
        if refused is not None:
            return out + refused
    try:
        yield QMPCommand("chardev-change", {"id": inv.args["id"],
                                            "backend": {"type": backend, "data": data}})
    except QMPCommandError as err:
        return out + f"Error: {err.desc}\n"
    return out
