"""device_add, device_del and balloon."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.devices import wants_help
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, InTurn, run_key

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
    """When device_add asks for the device list, the line runs through human-monitor-command."""
    script = Script({"human-monitor-command": "USB devices:\r\nname \"usb-tablet\"\r\n"})
    out = run("device_add", {"device": {"driver": "help"}}, script, line="device_add help")
    assert out == 'USB devices:\nname "usb-tablet"\n'
    assert script.sent == [QMPCommand("human-monitor-command",
                                      {"command-line": "device_add help", "cpu-index": 0})]


def test_driver_help_prints_the_properties_sorted() -> None:
    """When device_add DRIVER,help runs, device-list-properties is printed as qdev does."""
    script = Script({"device-list-properties": [
        {"name": "mac", "type": "str"},
        {"name": "addr", "type": "int32", "default-value": -1,
         "description": "Slot and optional function number"},
        {"name": "romfile", "type": "str", "default-value": "efi-e1000.rom"}]})
    out = run("device_add", {"device": {"driver": "e1000", "help": "on"}}, script)
    assert out == ("e1000 options:\n"
                   "  addr=<int32>           - Slot and optional function number "
                   "(default: -1)\n"
                   "  mac=<str>\n"
                   '  romfile=<str>          -  (default: "efi-e1000.rom")\n')
    assert script.sent == [QMPCommand("device-list-properties", {"typename": "e1000"})]


def test_driver_help_follows_an_alias_only_when_no_type_has_the_name() -> None:
    """When the name is an alias and no type, the aliased type's properties are printed."""
    not_found = QMPCommandError("DeviceNotFound", "Device 'virtio-net' not found")
    script = Script({"device-list-properties": InTurn(not_found, [])})
    out = run("device_add", {"device": {"driver": "virtio-net", "help": "on"}}, script)
    assert out == "There are no options for virtio-net-pci.\n"
    assert script.sent == [QMPCommand("device-list-properties", {"typename": "virtio-net"}),
                           QMPCommand("device-list-properties",
                                      {"typename": "virtio-net-pci"})]


def test_driver_help_error_is_bare() -> None:
    """When QEMU refuses the type, its message is printed without Error:, as qdev does."""
    script = Script({"device-list-properties": QMPCommandError(
        "GenericError", "Parameter 'typename' expects a non-abstract device type")})
    out = run("device_add", {"device": {"driver": "pci-device", "help": "on"}}, script)
    assert out == "Parameter 'typename' expects a non-abstract device type\n"


@pytest.mark.parametrize("driver", ["virtio-vga-gl", "virtio-gpu-gl"])
def test_driver_help_never_asks_for_a_type_that_aborts_qemu(driver: str) -> None:
    """When the type's property list would abort QEMU, nothing is asked and the reason shown."""
    not_found = QMPCommandError("DeviceNotFound", f"Device '{driver}' not found")
    script = Script({"device-list-properties": not_found})
    out = run("device_add", {"device": {"driver": driver, "help": "on"}}, script)
    assert "makes QEMU 7.2 abort" in out
    assert QMPCommand("device-list-properties", {"typename": "virtio-gpu-gl-pci"}) \
        not in script.sent
    assert QMPCommand("device-list-properties", {"typename": "virtio-vga-gl"}) \
        not in script.sent


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
