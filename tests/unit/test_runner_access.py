"""The runner enforces roles, bounds each command's time by class, and audits every line."""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from twisted.internet.task import Clock

from hmpbridge.access import OPERATOR, READ_ONLY
from hmpbridge.audit import AuditLog
from hmpbridge.commands import by_key, timeout_class
from hmpbridge.errors import QMPCommandError, QMPDisconnected
from hmpbridge.model import Identity, SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor

BOB = Identity("bob", READ_ONLY, listener="tcp:4444", peer="127.0.0.1:5000", method="password")
ALICE = Identity("alice", OPERATOR, listener="tcp:4444", peer="127.0.0.1:5001",
                 method="password")


def run(runner: CommandRunner, line: str, state: SessionState) -> List[str]:
    out: List[str] = []
    runner.run(line, state).addCallback(out.append)
    return out


def test_read_only_user_may_read() -> None:
    """When a read-only user runs an info command, it runs as usual."""
    executor = FakeExecutor()
    out = run(CommandRunner(executor, clock=Clock()), "info status",
              SessionState(identity=BOB))
    assert out == ["VM status: running\n"]


def test_read_only_user_may_not_change_state() -> None:
    """When a read-only user runs stop, nothing is sent and a permission error is printed."""
    executor = FakeExecutor()
    out = run(CommandRunner(executor, clock=Clock()), "stop", SessionState(identity=BOB))
    assert out == ["Error: permission denied: 'stop' changes VM state and 'bob' is read-only\n"]
    assert executor.commands == []


def test_passthrough_lines_are_checked_too() -> None:
    """When a read-only user sends a line only QEMU's monitor runs, the table's flag decides."""
    executor = FakeExecutor(handlers={"human-monitor-command": lambda a: "ok\r\n"})
    runner = CommandRunner(executor, clock=Clock())
    denied = run(runner, "hostfwd_add tcp::2222-:22", SessionState(identity=BOB))
    assert denied[0].startswith("Error: permission denied: 'hostfwd_add'")
    assert run(runner, "info mtree", SessionState(identity=BOB)) == ["ok\n"]


@pytest.mark.parametrize("line", ["device_add e1000,help", "device_add e1000,?",
                                  "device_add help", "netdev_add help", "chardev-add help",
                                  "chardev-add null,help", "object_add help",
                                  "object_add iothread,help"])
def test_read_only_user_may_ask_for_help(line: str) -> None:
    """When a read-only user asks an *_add command for its types or options, it runs."""
    executor = FakeExecutor(handlers={"human-monitor-command": lambda a: "list\r\n",
                                      "device-list-properties": lambda a: [],
                                      "query-qmp-schema": lambda a: [],
                                      "query-chardev-backends": lambda a: []})
    out = run(CommandRunner(executor, clock=Clock()), line, SessionState(identity=BOB))
    assert len(out) == 1 and "permission denied" not in out[0]


@pytest.mark.parametrize("line", ["device_add e1000,id=nic9", "netdev_add user,id=u9",
                                  "chardev-add null,id=c9", "object_add iothread,id=io9",
                                  "device_add e1000,id=help"])
def test_read_only_user_may_not_add(line: str) -> None:
    """When the same commands would add something, the read-only user is refused."""
    executor = FakeExecutor()
    out = run(CommandRunner(executor, clock=Clock()), line, SessionState(identity=BOB))
    assert out[0].startswith("Error: permission denied:")
    assert executor.commands == []


def test_operator_may_do_anything() -> None:
    """When an operator runs stop, it is sent."""
    executor = FakeExecutor()
    assert run(CommandRunner(executor, clock=Clock()), "stop",
               SessionState(identity=ALICE)) == [""]
    assert [c.execute for c in executor.commands] == ["stop"]


@pytest.mark.parametrize("key,cls", [("info status", "query"), ("stop", "command"),
                                     ("migrate", "long"), ("savevm", "long")])
def test_timeout_classes(key: str, cls: str) -> None:
    """When a command is classed, reads are queries and commands HMP waits on are long."""
    assert timeout_class(by_key(key)) == cls


def test_a_command_that_takes_too_long_prints_an_error_and_its_late_reply_is_dropped() -> None:
    """When QEMU does not answer within the class timeout, an error prints; the late reply is ignored."""
    clock, executor = Clock(), FakeExecutor(manual=True)
    runner = CommandRunner(executor, clock=clock, timeouts={"query": 5})
    out = run(runner, "info status", SessionState())
    clock.advance(4.9)
    assert out == []
    clock.advance(0.1)
    assert out == ["Error: QEMU did not answer query-status within 5 s\n"]
    executor.fire()  # the late reply
    assert out == ["Error: QEMU did not answer query-status within 5 s\n"]
    assert runner.in_flight == 0


def test_a_timed_out_command_sends_nothing_more() -> None:
    """When a multi-step command times out, its remaining QMP commands are never sent."""
    clock, executor = Clock(), FakeExecutor(manual=True)
    runner = CommandRunner(executor, clock=clock, timeouts={"query": 1})
    run(runner, "info block", SessionState())
    sent = len(executor.commands)
    clock.advance(1)
    executor.fire_all()
    assert len(executor.commands) == sent


def test_long_commands_have_no_limit_by_default() -> None:
    """When no limit is configured for long commands, they may take as long as QEMU needs."""
    assert CommandRunner(FakeExecutor(), clock=Clock()).timeouts["long"] == 0


def test_drain_waits_for_lines_in_flight() -> None:
    """When the bridge shuts down, drain fires only after the running lines are answered."""
    clock, executor = Clock(), FakeExecutor(manual=True)
    runner = CommandRunner(executor, clock=clock)
    out = run(runner, "info status", SessionState())
    drained: List[Any] = []
    runner.drain().addCallback(drained.append)
    assert drained == []
    executor.fire()
    assert out == ["VM status: running\n"] and drained == [None]


def read_audit(path: str) -> List[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_every_line_is_audited_with_what_was_sent_and_how_it_ended(tmp_path) -> None:
    """When lines run, each gets one JSON line: who, what came in, the QMP sent, the outcome."""
    path = str(tmp_path / "audit.log")
    audit = AuditLog(path)
    executor = FakeExecutor(handlers={
        "eject": lambda a: (_ for _ in ()).throw(
            QMPCommandError("DeviceNotFound", "Device 'x' not found", "eject"))})
    runner = CommandRunner(executor, clock=Clock(), audit=audit)
    for line in ["info status", "eject x", "frob", "", "stop"]:
        run(runner, line, SessionState(identity=BOB if line == "stop" else ALICE))
    records = read_audit(path)
    assert [(r["hmp"], r["outcome"], r["user"]) for r in records] == [
        ("info status", "ok", "alice"), ("eject x", "error:DeviceNotFound", "alice"),
        ("frob", "parse-error", "alice"), ("stop", "denied", "bob")]
    assert records[0]["sent"] == [{"execute": "query-status"}]
    assert records[1]["sent"] == [{"execute": "eject",
                                   "arguments": {"device": "x", "force": False}}]
    assert records[3]["sent"] == []
    assert {"time", "listener", "peer", "auth", "role", "latency_ms"} <= set(records[0])


def test_audit_records_disconnects_and_timeouts(tmp_path) -> None:
    """When QEMU goes away or is too slow, the audit line says so."""
    path = str(tmp_path / "audit.log")
    clock, executor = Clock(), FakeExecutor(manual=True)
    runner = CommandRunner(executor, clock=clock, audit=AuditLog(path), timeouts={"query": 1})
    run(runner, "info status", SessionState())
    executor.fail(QMPDisconnected("gone"))
    run(runner, "info status", SessionState())
    clock.advance(1)
    assert [r["outcome"] for r in read_audit(path)] == ["disconnected", "timeout"]


def test_audit_log_rotates_by_size(tmp_path) -> None:
    """When the audit log outgrows its limit, it is renamed to .1 and a new file begun."""
    path = str(tmp_path / "audit.log")
    log = AuditLog(path, max_bytes=200, keep=2)
    for n in range(20):
        log.write({"n": n, "pad": "x" * 50})
    log.close()
    kept = read_audit(path + ".2") + read_audit(path + ".1") + read_audit(path)
    numbers = [r["n"] for r in kept]
    assert numbers == sorted(numbers) and numbers[-1] == 19
    assert not (tmp_path / "audit.log.3").exists()


@pytest.mark.parametrize("line", ["netdev_add", "netdev_add ,"])
def test_netdev_add_without_options_is_qemus_error_for_every_role(line: str) -> None:
    """``netdev:O`` may be empty: QEMU answers that the id is missing; no role trips on it."""
    for who in (BOB, None):
        runner = CommandRunner(FakeExecutor(version=(7, 2, 22)))
        state = SessionState(identity=who)
        answer = run(runner, line, state)
        expected = "Error: Parameter 'id' is missing\n" if who is None else \
            "Error: permission denied: 'netdev_add' changes VM state and 'bob' is read-only\n"
        assert answer == [expected]
