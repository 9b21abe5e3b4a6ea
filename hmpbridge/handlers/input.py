"""Keyboard and mouse input: ``sendkey``, ``mouse_move``, ``mouse_button``.

``sendkey`` becomes ``send-key``; a key name QEMU does not know prints
``invalid parameter: <name>`` (no ``Error:``) and nothing is sent.  The
names are the live schema's ``QKeyCode`` (8.0 added ``f13`` to ``f24``).

``mouse_move`` and ``mouse_button`` queue input events in QEMU and print
nothing, whatever happens; here they become ``input-send-event``, one call
per ``qemu_input_event_sync()`` of HMP.  QEMU drops input events while the
VM is not running; QMP refuses them then (``VM not running``), which HMP
never shows, so errors are not printed.  ``mouse_button`` sends a button
event only for the buttons whose bit changed since the last ``mouse_button``
(bit 1 is the left button, 2 the right, 4 the middle, whatever the help
says).
"""

from __future__ import annotations

import re
from typing import Any, Dict, FrozenSet, List, Optional

from hmpbridge.handlers import Context, HandlerResult, handler, send_quietly
from hmpbridge.keys import KEY_NAMES, KeyNameError, parse_keys, qkeycode_values
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qapi_schema import Schema

__all__ = ["sendkey", "mouse_move", "mouse_button", "strtol_int", "BUTTON_BITS", "key_names"]

#: ``mouse_button`` bits, in the order QEMU walks its buttons.
BUTTON_BITS = (("left", 0x01), ("middle", 0x04), ("right", 0x02))

_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)?")
_LONG_MAX = (1 << 63) - 1


def strtol_int(text: str) -> int:
    """``(int)strtol(text, NULL, 0)``: a leading number, 0 for none, wrapped to 32 bits."""
    match = _STRTOL.match(text)
    sign, digits = match.groups() if match else ("", None)
    if not digits:
        return 0
    if digits[:2] in ("0x", "0X"):
        value = int(digits, 16)
    else:
        value = int(digits, 8 if digits.startswith("0") else 10)
    value = -value if sign == "-" else value
    value = max(-_LONG_MAX - 1, min(_LONG_MAX, value)) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@handler("sendkey")
def sendkey(inv: Invocation, ctx: Context) -> HandlerResult:
    """``sendkey keys [hold_ms]`` -> ``send-key``; a bad key name prints QEMU's line."""
    try:
        keys = parse_keys(inv.args["keys"], _release_key_names(ctx))
    except KeyNameError as err:
        return f"invalid parameter: {err}\n"
    arguments: Dict[str, Any] = {"keys": keys}
    if "hold-time" in inv.args:
        arguments["hold-time"] = inv.args["hold-time"]
    yield QMPCommand("send-key", arguments)
    return ""


def key_names(schema: Optional[Schema]) -> Optional[FrozenSet[str]]:
    """The live schema's ``QKeyCode`` values (``send-key``'s qcode keys), or None."""
    return frozenset(qkeycode_values(schema)) or None


def _release_key_names(ctx: Context) -> Optional[FrozenSet[str]]:
    """The names ``sendkey`` takes: the live schema's, less 8.0's for 7.2's text."""
    names = key_names(ctx.profile.schema)
    if names is not None and not ctx.profile.since(8, 0):
        names = names & frozenset(KEY_NAMES)
    return names


def _send(events: List[Dict[str, Any]]) -> HandlerResult:
    """One ``input-send-event`` (events then a sync); errors are not shown."""
    return (yield from send_quietly("input-send-event", {"events": events}))


def _rel(axis: str, value: int) -> Dict[str, Any]:
    return {"type": "rel", "data": {"axis": axis, "value": value}}


def _btn(button: str, down: bool) -> Dict[str, Any]:
    return {"type": "btn", "data": {"button": button, "down": down}}


@handler("mouse_move")
def mouse_move(inv: Invocation, ctx: Context) -> HandlerResult:
    """``mouse_move dx dy [dz]``: relative motion; a non-zero dz clicks the wheel."""
    events = [_rel("x", strtol_int(inv.args["dx_str"])),
              _rel("y", strtol_int(inv.args["dy_str"]))]
    dz = strtol_int(inv.args["dz_str"]) if "dz_str" in inv.args else 0
    if dz:
        wheel = "wheel-up" if dz > 0 else "wheel-down"
        yield from _send(events + [_btn(wheel, True)])
        events = [_btn(wheel, False)]
    yield from _send(events)
    return ""


@handler("mouse_button")
def mouse_button(inv: Invocation, ctx: Context) -> HandlerResult:
    """``mouse_button state``: press and release buttons to reach ``state``."""
    new = inv.args["button_state"] & 0xFFFFFFFF  # QEMU keeps it in a C int
    new = new - (1 << 32) if new & 0x80000000 else new
    old = ctx.state.mouse_buttons
    if new == old:
        return ""
    events = [_btn(name, bool(new & bit)) for name, bit in BUTTON_BITS
              if (old & bit) != (new & bit)]
    ctx.state.mouse_buttons = new
    if events:
        yield from _send(events)
    return ""
