"""The runner picks a command's way by what the connected QEMU offers."""

from __future__ import annotations

from typing import Any, FrozenSet, List, Optional

from twisted.internet.defer import Deferred, succeed

from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.profile import DEFAULT_PROFILE
from hmpbridge.runner import CommandRunner


class SchemaExecutor:
    """Answers every command with ``{}`` and records it; offers ``schema``."""

    greeting = {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}}}

    def __init__(self, schema: Optional[FrozenSet[str]]) -> None:
        self.schema_commands = schema
        self.chardevs_at_connect: Optional[FrozenSet[str]] = None
        self.profile = DEFAULT_PROFILE
        self.sent: List[QMPCommand] = []

    def execute(self, command: QMPCommand) -> "Deferred[Any]":
        self.sent.append(command)
        if command.execute == "human-monitor-command":
            return succeed("from QEMU's own monitor\r\n")
        return succeed({"status": "running", "running": True, "singlestep": False})


def run(executor: SchemaExecutor, line: str, passthrough: bool = True) -> str:
    results: List[str] = []
    CommandRunner(executor, passthrough=passthrough).run(line, SessionState()).addCallback(
        results.append)
    return results[0]


def test_native_when_the_qmp_command_exists():
    executor = SchemaExecutor(frozenset({"query-status", "human-monitor-command"}))
    assert run(executor, "info status") == "VM status: running\n"
    assert [c.execute for c in executor.sent] == ["query-status"]


def test_falls_back_to_qemus_monitor_when_the_qmp_command_is_missing():
    executor = SchemaExecutor(frozenset({"human-monitor-command"}))
    assert run(executor, "info status") == "from QEMU's own monitor\n"
    assert [c.execute for c in executor.sent] == ["human-monitor-command"]


def test_clear_error_without_qmp_command_or_human_monitor():
    # qemu-storage-daemon: no query-status and no human-monitor-command
    executor = SchemaExecutor(frozenset({"query-block"}))
    assert run(executor, "info status") == (
        "Error: 'info status' is not available: this QEMU has no QMP command 'query-status'\n")
    assert executor.sent == []


def test_no_fallback_with_passthrough_off():
    executor = SchemaExecutor(frozenset({"human-monitor-command"}))
    assert run(executor, "stop", passthrough=False).startswith("Error: 'stop' is not available")
    assert executor.sent == []


def test_unknown_schema_trusts_the_table():
    executor = SchemaExecutor(None)
    assert run(executor, "info status") == "VM status: running\n"
