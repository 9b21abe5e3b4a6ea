"""The small one-command translations of the misc area: QMP sent and text printed."""

from __future__ import annotations

import base64
from typing import Any, Dict, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.render.misc import ringbuf_text
from hmpbridge.testing import CannedReplies, run_line

_load_all()


def run(line: str, replies: Optional[Dict[str, Any]] = None) -> tuple:
    """The text printed for ``line`` and the commands sent; an exception reply is raised."""
    script = CannedReplies(replies)
    return run_line(line, script), script.sent

def _err(desc: str) -> QMPCommandError:
    return QMPCommandError("GenericError", desc, "")


@pytest.mark.parametrize("line, cmd", [
    ("nmi", QMPCommand("inject-nmi")),
    ("system_wakeup", QMPCommand("system_wakeup")),
    ("chardev-send-break ser0", QMPCommand("chardev-send-break", {"id": "ser0"})),
    ("ringbuf_write rb0 hi", QMPCommand("ringbuf-write", {"device": "rb0", "data": "hi"})),
    ("set_link n0 off", QMPCommand("set_link", {"name": "n0", "up": False})),
    ("netdev_del n0", QMPCommand("netdev_del", {"id": "n0"})),
    ("object_del io0", QMPCommand("object-del", {"id": "io0"})),
    ("replay_break 100", QMPCommand("replay-break", {"icount": 100})),
    ("replay_delete_break", QMPCommand("replay-delete-break")),
    ("replay_seek 7", QMPCommand("replay-seek", {"icount": 7})),
])
def test_one_command_each(line: str, cmd: QMPCommand) -> None:
    """When it succeeds, each command sends its QMP namesake once and prints nothing."""
    assert run(line) == ("", [cmd])


def test_ringbuf_read_escapes_as_qemu() -> None:
    """Backslashes double, control bytes but newline and tab become \\uXXXX, NUL ends the data."""
    assert ringbuf_text(b"a\\b\r\n\t\x7f\x01") == "a\\\\b\\u000D\n\t\\u007F\\u0001\n"
    assert ringbuf_text(b"ab\0cd") == "ab\n"
    assert ringbuf_text("é".encode() + b"\xff") == "é\udcff\n"


def test_ringbuf_read_asks_for_base64() -> None:
    """ringbuf_read reads base64, so every byte arrives as it was in the buffer."""
    out, sent = run("ringbuf_read rb0 10",
                    {"ringbuf-read": base64.b64encode(b"x\ry").decode()})
    assert out == "x\\u000Dy\n"
    assert sent == [QMPCommand("ringbuf-read", {"device": "rb0", "size": 10,
                                                "format": "base64"})]


def test_screendump_arguments() -> None:
    """head goes with a device only (0 by default); format only when -f is given."""
    _, sent = run("screendump ./s.ppm")
    assert sent[0].arguments == {"filename": "./s.ppm"}
    _, sent = run("screendump ./s.png -f png vga0")
    assert sent[0].arguments == {"filename": "./s.png", "device": "vga0", "head": 0,
                                 "format": "png"}


def test_screendump_bad_format() -> None:
    """When the format is neither ppm nor png, QEMU's enum error is printed, nothing sent."""
    assert run("screendump ./s -f jpg") == ("Error: invalid parameter value: jpg\n", [])


def test_trace_event() -> None:
    """trace-event ignores unavailable events; its errors print without Error: ."""
    _, sent = run("trace-event qemu_* on 1")
    assert sent[0].arguments == {"name": "qemu_*", "enable": True,
                                 "ignore-unavailable": True, "vcpu": 1}
    out, _ = run("trace-event x off", {"trace-event-set-state": _err('unknown event "x"')})
    assert out == 'unknown event "x"\n'


def test_trace_event_negative_vcpu() -> None:
    """When vcpu is negative as a C int, QEMU's message is printed with no newline."""
    assert run("trace-event x on 0x80000000") == ("argument vcpu must be positive", [])


def test_watchdog_action_is_lower_cased() -> None:
    """The action is lower-cased; an unknown one prints the lower-cased value."""
    _, sent = run("watchdog_action PAUSE")
    assert sent == [QMPCommand("watchdog-set-action", {"action": "pause"})]
    assert run("watchdog_action Bogus") == ("Error: invalid parameter value: bogus\n", [])


def test_set_password_checks_connected_then_protocol() -> None:
    """connected is checked before protocol; display only goes with vnc."""
    assert run("set_password rdp pw bogus")[0] == "Error: invalid parameter value: bogus\n"
    assert run("set_password rdp pw")[0] == "Error: invalid parameter value: rdp\n"
    _, sent = run("set_password vnc pw -d d0 keep")
    assert sent[0].arguments == {"protocol": "vnc", "password": "pw", "connected": "keep",
                                 "display": "d0"}
    _, sent = run("set_password spice pw -d d0")
    assert sent[0].arguments == {"protocol": "spice", "password": "pw"}


def test_expire_password() -> None:
    """expire_password sends the time as given, and the display for vnc."""
    _, sent = run("expire_password vnc +10 -d d0")
    assert sent[0].arguments == {"protocol": "vnc", "time": "+10", "display": "d0"}
    assert run("expire_password rdp now") == ("Error: invalid parameter value: rdp\n", [])


def test_replay_errors_have_no_prefix() -> None:
    """Outside replay mode, QEMU's refusal is printed without Error: ."""
    out, _ = run("replay_seek 1", {"replay-seek": _err("replay must be enabled to seek")})
    assert out == "replay must be enabled to seek\n"


def test_chardev_change_builds_the_backend() -> None:
    """chardev-change turns -chardev options into a backend and prints nothing."""
    out, sent = run("chardev-change ser0 file,path=./log")
    assert out == ""
    assert sent == [QMPCommand("chardev-change", {"id": "ser0", "backend": {
        "type": "file", "data": {"logappend": False, "out": "./log", "append": False}}})]


@pytest.mark.parametrize("args, text", [
    ("null,id=x", "Error: Unexpected 'id' parameter\n"),
    ("path=x", 'Error: chardev: "(null)" missing backend\n'),
    ("bogus", "Error: 'bogus' is not a valid char driver name\n"),
    ("file", "Error: chardev: file: no filename given\n"),
    ("null,bogus=1", "Invalid parameter 'bogus'\nError: Parsing chardev args failed\n"),
])
def test_chardev_change_refusals(args: str, text: str) -> None:
    """When the options are refused, QEMU's lines are printed and nothing is sent."""
    assert run(f"chardev-change ser0 {args}") == (text, [])
