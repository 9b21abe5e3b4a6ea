"""Run state, machine and device listings, and their handlers' error texts."""

from __future__ import annotations

from typing import Any, Mapping

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.model import Invocation, QMPCommand, SessionState
from hmpbridge.render import machine
from hmpbridge.render.errors import render_error
from hmpbridge.render.pci import render_pci

_load_all()


def _run(key: str, reply: Any, cpu_index: int = 0) -> str:
    """Run handler ``key``; every command gets ``reply`` (raised if an exception)."""
    def respond(cmd: QMPCommand) -> Any:
        if isinstance(reply, Exception):
            raise reply
        return reply

    ctx = Context(state=SessionState(cpu_index=cpu_index))
    try:
        return drive(HANDLERS[key](Invocation(by_key(key), {}, key), ctx), respond)
    except QMPCommandError as err:
        return render_error(err)


@pytest.mark.parametrize("info, text", [
    ({"running": False, "singlestep": False, "status": "prelaunch"},
     "VM status: paused (prelaunch)"),
    ({"running": True, "singlestep": False, "status": "running"}, "VM status: running"),
    ({"running": False, "singlestep": False, "status": "paused"}, "VM status: paused"),
    ({"running": False, "singlestep": True, "status": "prelaunch"},
     "VM status: paused (single step mode) (prelaunch)"),
    ({"running": False, "singlestep": False, "status": "io-error"}, "VM status: paused (io-error)"),
    ({"running": True, "singlestep": True, "status": "running"},
     "VM status: running (single step mode)"),
])
def test_status(info: Mapping[str, Any], text: str) -> None:
    """When the VM is in a state, info status names it as HMP does."""
    assert machine.render_status(info) == text + "\n"


def test_version_name_uuid_kvm() -> None:
    """When the one-line queries answer, the lines are QEMU's."""
    assert machine.render_version({"qemu": {"major": 7, "minor": 2, "micro": 0},
                                   "package": ""}) == "7.2.0\n"
    assert machine.render_name({}) == ""
    assert machine.render_name({"name": "labvm"}) == "labvm\n"
    assert machine.render_kvm({"enabled": False, "present": False}) == "kvm support: not compiled\n"
    assert machine.render_kvm({"enabled": True, "present": True}) == "kvm support: enabled\n"


def test_cpus_marks_the_session_cpu() -> None:
    """When the session's current CPU is 1, that line gets the star."""
    cpus = [{"cpu-index": 0, "thread-id": 10}, {"cpu-index": 1, "thread-id": 11}]
    assert _run("info cpus", cpus, cpu_index=1) == (
        "  CPU #0: thread_id=10\n* CPU #1: thread_id=11\n")


def test_dump_active_prints_progress() -> None:
    """When a dump is running, its progress is a percentage with two decimals."""
    assert machine.render_dump({"status": "active", "completed": 1, "total": 3}) == (
        "Status: active\nFinished: 33.33 %\n")
    assert machine.render_dump({"status": "failed", "completed": 0, "total": 0}) == (
        "Status: failed\n")


def test_memdev_error_comes_after_the_empty_line() -> None:
    """When query-memdev fails, the empty line is printed first, then the error."""
    err = QMPCommandError("GenericError", "no memdevs here", "query-memdev")
    assert _run("info memdev", err) == "\nError: no memdevs here\n"


def test_pci_error_has_its_own_text() -> None:
    """When query-pci fails, HMP prints a fixed line without the Error: prefix."""
    err = QMPCommandError("GenericError", "whatever", "query-pci")
    assert _run("info pci", err) == "PCI devices not supported\n"


def test_balloon_error_uses_the_error_rule() -> None:
    """When there is no balloon, the QMP error is printed after Error:."""
    err = QMPCommandError("DeviceNotActive", "No balloon device has been activated")
    assert _run("info balloon", err) == "Error: No balloon device has been activated\n"
    assert machine.render_balloon({"actual": 134217728 + 1048575}) == "balloon: actual=128\n"


def test_mice_empty_and_iothreads_empty() -> None:
    """When there is no mouse, HMP says so; no iothread prints nothing."""
    assert machine.render_mice([]) == "No mouse devices connected\n"
    assert machine.render_iothreads([]) == ""


def test_pci_bridge_subsystem_irq_and_class_number() -> None:
    """When a device has no class name, a subsystem, an IRQ and bridge devices, all show."""
    child = {"bus": 1, "slot": 1, "function": 0, "class_info": {"class": 255},
             "id": {"vendor": 0x8086, "device": 0x100e}, "regions": [], "qdev_id": ""}
    bridge = {"bus": 0, "slot": 5, "function": 0,
              "class_info": {"desc": "PCI bridge", "class": 1540},
              "id": {"vendor": 0x1b36, "device": 1, "subsystem-vendor": 0x1af4,
                     "subsystem": 0x1100},
              "irq": 10, "irq_pin": 1,
              "pci_bridge": {"bus": {"number": 0, "secondary": 1, "subordinate": 1,
                                     "io_range": {"base": 0xc000, "limit": 0xcfff},
                                     "memory_range": {"base": 0xfe800000, "limit": 0xfe9fffff},
                                     "prefetchable_range": {"base": 0xfe000000,
                                                            "limit": 0xfe1fffff}},
                             "devices": [child]},
              "regions": [{"bar": 0, "type": "memory", "address": -1, "size": 256,
                           "mem_type_64": True, "prefetch": True}],
              "qdev_id": "br0"}
    assert render_pci([{"bus": 0, "devices": [bridge]}]) == (
        "  Bus  0, device   5, function 0:\n"
        "    PCI bridge: PCI device 1b36:0001\n"
        "      PCI subsystem 1af4:1100\n"
        "      IRQ 10, pin A\n"
        "      BUS 0.\n"
        "      secondary bus 1.\n"
        "      subordinate bus 1.\n"
        "      IO range [0xc000, 0xcfff]\n"
        "      memory range [0xfe800000, 0xfe9fffff]\n"
        "      prefetchable memory range [0xfe000000, 0xfe1fffff]\n"
        "      BAR0: 64 bit prefetchable memory at 0xffffffffffffffff [0x000000fe].\n"
        '      id "br0"\n'
        "  Bus  1, device   1, function 0:\n"
        "    Class 0255: PCI device 8086:100e\n"
        '      id ""\n')
