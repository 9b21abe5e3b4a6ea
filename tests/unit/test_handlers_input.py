"""sendkey, mouse_move and mouse_button: the QMP they send and what they print."""

from __future__ import annotations

from typing import Optional

import pytest

from hmpbridge.handlers import Context, _load_all
from hmpbridge.keys import KEY_NAMES, KeyNameError, parse_keys
from hmpbridge.handlers.input import strtol_int
from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.testing import CannedReplies, generic_error, run_line

_load_all()


def run(line: str, ctx: Optional[Context] = None, error: Optional[str] = None) -> tuple:
    """The text printed for ``line`` and the commands sent (each answered {} or ``error``)."""
    script = CannedReplies(default=None if error is None else generic_error(error))
    return run_line(line, script, ctx, render=False), script.sent


def test_key_names_are_qemus_qkeycode_enumeration() -> None:
    """The key table has QEMU 7.2's 150 QKeyCode names in order, for sendkey and completion."""
    assert len(KEY_NAMES) == 150 and len(set(KEY_NAMES)) == 150
    assert KEY_NAMES[:3] == ("unmapped", "shift", "shift_r")
    assert KEY_NAMES[-2:] == ("lang1", "lang2")


def test_sendkey_sends_qcodes_and_hold_time() -> None:
    """When keys are named, send-key gets each as a qcode, and hold-time only when given."""
    out, sent = run("sendkey ctrl-alt-f1 50")
    assert out == ""
    assert sent == [QMPCommand("send-key", {"keys": [
        {"type": "qcode", "data": "ctrl"}, {"type": "qcode", "data": "alt"},
        {"type": "qcode", "data": "f1"}], "hold-time": 50})]
    _, sent = run("sendkey a")
    assert sent[0].arguments == {"keys": [{"type": "qcode", "data": "a"}]}


def test_sendkey_less_and_hex_numbers() -> None:
    """When '<' stands alone it is 'less'; a 0x token is a key number, wrapped to a C int."""
    assert parse_keys("<-0x1e") == [{"type": "qcode", "data": "less"},
                                    {"type": "number", "data": 0x1e}]
    assert parse_keys("0xffffffff") == [{"type": "number", "data": -1}]


@pytest.mark.parametrize("keys, bad", [("ctrl-foo-alt", "foo"), ("a-", ""), ("0x1g", "0x1g"),
                                       ("0X1e", "0X1e"), ("0x-1", "0x"), ("Ctrl", "Ctrl")])
def test_sendkey_bad_names(keys: str, bad: str) -> None:
    """When a token is no key, QEMU's 'invalid parameter: TOKEN' is printed and nothing sent."""
    with pytest.raises(KeyNameError) as info:
        parse_keys(keys)
    assert str(info.value) == bad
    out, sent = run(f"sendkey {keys}")
    assert (out, sent) == (f"invalid parameter: {bad}\n", [])


@pytest.mark.parametrize("text, value", [("10", 10), ("-20", -20), ("0x10", 16), ("010", 8),
                                         ("junk", 0), ("12ab", 12), (" 7", 7),
                                         ("99999999999999999999", -1), ("4294967296", 0)])
def test_strtol_int(text: str, value: int) -> None:
    """mouse_move reads its numbers as (int)strtol(s, NULL, 0) does."""
    assert strtol_int(text) == value


def test_mouse_move_sends_relative_motion() -> None:
    """When dz is absent or 0, one input-send-event carries the x and y motion."""
    _, sent = run("mouse_move 10 -20")
    assert sent == [QMPCommand("input-send-event", {"events": [
        {"type": "rel", "data": {"axis": "x", "value": 10}},
        {"type": "rel", "data": {"axis": "y", "value": -20}}]})]
    _, sent = run("mouse_move 1 2 0")
    assert len(sent) == 1


def test_mouse_move_wheel_press_then_release() -> None:
    """When dz is negative, the wheel-down press goes with the motion and its release after."""
    _, sent = run("mouse_move 1 2 -3")
    assert [c.arguments["events"] for c in sent] == [
        [{"type": "rel", "data": {"axis": "x", "value": 1}},
         {"type": "rel", "data": {"axis": "y", "value": 2}},
         {"type": "btn", "data": {"button": "wheel-down", "down": True}}],
        [{"type": "btn", "data": {"button": "wheel-down", "down": False}}]]
    _, sent = run("mouse_move 0 0 5")
    assert sent[0].arguments["events"][-1]["data"]["button"] == "wheel-up"


def test_mouse_errors_are_not_printed() -> None:
    """When QEMU refuses input events (VM not running), nothing is printed, as HMP prints nothing."""
    out, _ = run("mouse_move 1 1", error="VM not running")
    assert out == ""
    out, _ = run("mouse_button 1", error="VM not running")
    assert out == ""


def test_mouse_button_sends_changed_buttons_only() -> None:
    """Bits 1, 2 and 4 are left, right and middle; only changed ones are sent, in QEMU's order."""
    ctx = Context(state=SessionState())
    _, sent = run("mouse_button 3", ctx)
    assert sent[0].arguments["events"] == [
        {"type": "btn", "data": {"button": "left", "down": True}},
        {"type": "btn", "data": {"button": "right", "down": True}}]
    assert ctx.state.mouse_buttons == 3
    _, sent = run("mouse_button 3", ctx)
    assert sent == []
    _, sent = run("mouse_button 6", ctx)
    assert sent[0].arguments["events"] == [
        {"type": "btn", "data": {"button": "left", "down": False}},
        {"type": "btn", "data": {"button": "middle", "down": True}}]


def test_mouse_button_without_known_bits_sends_nothing_but_remembers() -> None:
    """When only unknown bits change, no event is sent, yet the new state is kept."""
    ctx = Context(state=SessionState())
    _, sent = run("mouse_button 8", ctx)
    assert sent == [] and ctx.state.mouse_buttons == 8
