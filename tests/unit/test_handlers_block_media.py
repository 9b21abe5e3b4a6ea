"""eject, change (block and VNC) and block_resize."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_key

_load_all()

# Captured from QEMU 7.2.22 via human-monitor-command.
VNC_HINT = ("If you want use passwords please enable password auth using "
            "'-vnc ${dpy},password'.\n")
NO_PROMPT = "terminal does not support password prompting\n"
BAD_SET = "Error: Could not set password\n"


Script = CannedReplies


def run(key: str, args: Dict[str, Any], script: Script) -> str:
    return run_key(key, args, script)


def test_eject_always_sends_force() -> None:
    """When eject has no -f, force false is still sent, as HMP sends it."""
    script = Script()
    assert run("eject", {"force": False, "device": "cd0"}, script) == ""
    assert script.sent == [QMPCommand("eject", {"device": "cd0", "force": False})]


def test_eject_with_f_forces() -> None:
    """When eject has -f, force true is sent."""
    script = Script()
    run("eject", {"force": True, "device": "cd0"}, script)
    assert script.sent[0].arguments == {"device": "cd0", "force": True}


def test_eject_error_is_printed() -> None:
    """When QEMU does not know the drive, its error is printed."""
    # Captured from QEMU 7.2.22 via human-monitor-command.
    script = Script({"eject": QMPCommandError("DeviceNotFound", "Device 'ide1-cd0' not found")})
    assert run("eject", {"force": False, "device": "ide1-cd0"}, script) == \
        "Error: Device 'ide1-cd0' not found\n"


def test_block_resize_sends_bytes() -> None:
    """When block_resize runs, the size the parser made bytes is sent as is."""
    script = Script()
    assert run("block_resize", {"device": "disk0", "size": 134217728}, script) == ""
    assert script.sent == [QMPCommand("block_resize", {"device": "disk0", "size": 134217728})]


def test_change_medium_minimal() -> None:
    """When change has only a file, filename and force are sent, format left out."""
    script = Script()
    args = {"device": "cd0", "force": False, "target": "/x.iso"}
    assert run("change", args, script) == ""
    assert script.sent == [QMPCommand("blockdev-change-medium",
                                      {"device": "cd0", "filename": "/x.iso", "force": False})]


def test_change_medium_full() -> None:
    """When change has -f, a format and a read-only mode, all of them are sent."""
    script = Script()
    args = {"device": "cd0", "force": True, "target": "/x.iso", "arg": "raw",
            "read-only-mode": "read-only"}
    run("change", args, script)
    assert script.sent[0].arguments == {"device": "cd0", "filename": "/x.iso", "format": "raw",
                                        "force": True, "read-only-mode": "read-only"}


def test_change_checks_read_only_mode_first() -> None:
    """When the read-only mode is unknown, HMP's message is printed and nothing is sent."""
    script = Script()
    args = {"device": "cd0", "force": False, "target": "/nonexist", "arg": "raw",
            "read-only-mode": "bogus"}
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert run("change", args, script) == "Error: invalid parameter value: bogus\n"
    assert script.sent == []


def test_change_lock_failure_gets_qemus_hint() -> None:
    """When the image is locked, QEMU's hint line follows the error, though QMP drops it."""
    script = Script({"blockdev-change-medium": QMPCommandError(
        "GenericError", 'Failed to get shared "write" lock')})
    args = {"device": "cd0", "force": True, "target": "/tmp/x/t1/disk0.qcow2", "arg": "qcow2",
            "read-only-mode": "read-only"}
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert run("change", args, script) == (
        'Error: Failed to get shared "write" lock\n'
        "Is another process using the image [/tmp/x/t1/disk0.qcow2]?\n")


def test_change_vnc_password() -> None:
    """When change vnc password has a password, change-vnc-password gets it."""
    script = Script()
    args = {"device": "vnc", "force": False, "target": "password", "arg": "abc"}
    assert run("change", args, script) == ""
    assert script.sent == [QMPCommand("change-vnc-password", {"password": "abc"})]


def test_change_vnc_without_password_auth_prints_qemus_hint() -> None:
    """When VNC has no password auth, QEMU's hint line precedes the error."""
    script = Script({"change-vnc-password": QMPCommandError("GenericError",
                                                            "Could not set password"),
                     "query-vnc": {"enabled": True, "auth": "none"}})
    args = {"device": "vnc", "force": False, "target": "passwd", "arg": "abc"}
    assert run("change", args, script) == VNC_HINT + BAD_SET


def test_change_vnc_without_vnc_prints_only_the_error() -> None:
    """When there is no VNC display at all, only the error is printed."""
    script = Script({"change-vnc-password": QMPCommandError("GenericError",
                                                            "Could not set password"),
                     "query-vnc": {"enabled": False}})
    args = {"device": "vnc", "force": False, "target": "password", "arg": "abc"}
    assert run("change", args, script) == BAD_SET


@pytest.mark.parametrize("args, text", [
    ({"target": "password"}, NO_PROMPT),
    ({"target": "foo"}, "Expected 'password' after 'vnc'\n"),
    ({"target": "foo", "arg": "bar"}, "Expected 'password' after 'vnc'\n"),
    ({"target": "password", "arg": "abc", "read-only-mode": "retain"},
     "Parameter 'read-only-mode' is invalid for VNC\n"),
    ({"target": "foo", "arg": "bar", "read-only-mode": "baz"},
     "Parameter 'read-only-mode' is invalid for VNC\n"),
])
def test_change_vnc_messages(args: Dict[str, Any], text: str) -> None:
    """When change vnc cannot proceed, HMP's own line is printed and nothing is sent."""
    # The texts were captured from QEMU 7.2.22 via human-monitor-command.
    script = Script()
    assert run("change", {"device": "vnc", "force": False, **args}, script) == text
    assert script.sent == []
