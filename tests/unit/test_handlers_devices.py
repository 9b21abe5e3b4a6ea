"""device_add, device_del and balloon."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.devices import wants_help
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_key

_load_all()


Script = CannedReplies


def run(key: str, args: Dict[str, Any], script: Script, line: str = "",
        ctx: Optional[Context] = None) -> str:
    return run_key(key, args, script, ctx, line)


def test_device_add_sends_strings() -> None:
    """When device_add has options, every one goes to QMP as a JSON string."""
    script = Script()
    opts = {"driver": "e1000", "id": "nic6", "addr": "0x9", "bootindex": "3"}
    assert run("device_add", {"device": opts}, script) == ""
    assert script.sent == [QMPCommand("device_add", opts)]


def test_device_add_without_argument_lets_qemu_refuse() -> None:
    """When device_add has no argument, an empty device_add lets QEMU say what is missing."""
    # Captured from QEMU 7.2.22 via human-monitor-command: "Error: Parameter 'driver' is missing".
    script = Script({"device_add": QMPCommandError("GenericError",
                                                   "Parameter 'driver' is missing")})
    assert run("device_add", {}, script) == "Error: Parameter 'driver' is missing\n"
    assert script.sent == [QMPCommand("device_add", {})]


def test_device_add_error() -> None:
    """When QEMU refuses the device, its error is printed."""
    script = Script({"device_add": QMPCommandError(
        "GenericError", "'nosuchdev' is not a valid device model name")})
    assert run("device_add", {"device": {"driver": "nosuchdev"}}, script) == \
        "Error: 'nosuchdev' is not a valid device model name\n"


@pytest.mark.parametrize("opts, wanted", [
    ({"driver": "help"}, True),
    ({"driver": "?"}, True),
    ({"driver": "e1000", "help": "on"}, True),
    ({"driver": "e1000", "help": "3"}, True),
    ({"id": "x", "help": "on"}, False),
    ({"driver": "e1000", "id": "help"}, False),
])
def test_help_is_recognised_as_qdev_does(opts: Dict[str, str], wanted: bool) -> None:
    """When device_add asks for help the way qdev_device_help sees it, help is wanted."""
    assert wants_help(opts) is wanted


def test_device_add_help_goes_to_the_human_monitor() -> None:
    """When device_add asks for help, the line runs through human-monitor-command."""
    script = Script({"human-monitor-command": "e1000 options:\r\n  mac=<str>\r\n"})
    out = run("device_add", {"device": {"driver": "e1000", "help": "on"}}, script,
              line="device_add e1000,help")
    assert out == "e1000 options:\n  mac=<str>\n"
    assert script.sent == [QMPCommand("human-monitor-command",
                                      {"command-line": "device_add e1000,help",
                                       "cpu-index": 0})]


def test_device_add_help_without_passthrough() -> None:
    """When passthrough is off, device_add help says so instead of printing the list."""
    out = run("device_add", {"device": {"driver": "help"}}, Script(), line="device_add help",
              ctx=Context(passthrough=False))
    assert "passthrough is switched off" in out


def test_device_del() -> None:
    """When device_del runs, the id goes to QMP and nothing is printed."""
    script = Script()
    assert run("device_del", {"id": "nic9"}, script) == ""
    assert script.sent == [QMPCommand("device_del", {"id": "nic9"})]


def test_device_del_error() -> None:
    """When the device does not exist, QEMU's error is printed."""
    # Captured from QEMU 7.2.22 via human-monitor-command.
    script = Script({"device_del": QMPCommandError("DeviceNotFound",
                                                   "Device 'nosuch' not found")})
    assert run("device_del", {"id": "nosuch"}, script) == "Error: Device 'nosuch' not found\n"


def test_balloon_sends_bytes() -> None:
    """When balloon runs, the byte value made by the parser is sent."""
    script = Script()
    assert run("balloon", {"value": 100 << 20}, script) == ""
    assert script.sent == [QMPCommand("balloon", {"value": 104857600})]


def test_balloon_without_device() -> None:
    """When there is no balloon device, QEMU's error is printed."""
    script = Script({"balloon": QMPCommandError("DeviceNotActive",
                                                "No balloon device has been activated")})
    assert run("balloon", {"value": 1 << 20}, script) == \
        "Error: No balloon device has been activated\n"
