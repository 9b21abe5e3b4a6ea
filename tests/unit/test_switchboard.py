"""A listener shared by several VMs: ``.vms``, ``.vm NAME``, limits by user, and VMs
that come and go under a session that chose them."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import given
from hypothesis import strategies as st

from twisted.internet.task import Clock

from hmpbridge.audit import AuditLog
from hmpbridge.board import CommandBoard
from hmpbridge.events import EventHub
from hmpbridge.model import Identity, SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.session import HMPMonitor, SessionConfig
from hmpbridge.switchboard import (NO_VM, NoVM, VMDirectory, VMTarget, gateway_banner,
                                   vm_table)
from hmpbridge.testing import FakeExecutor
from tests.unit.monitor_fakes import FakeChannel

STOP = {"event": "STOP", "timestamp": {"seconds": 0, "microseconds": 0}}


class Source:
    """An event source a VM's hub subscribes to."""

    def __init__(self) -> None:
        self.observers: List[Any] = []

    def add_event_observer(self, callback: Any) -> Any:
        self.observers.append(callback)
        return lambda: self.observers.remove(callback)

    def emit(self, event: Any) -> None:
        for observer in list(self.observers):
            observer(event)


def vm(name: str, clock: Clock, status: str = "running",
       version: Tuple[int, int, int] = (7, 2, 22), **handlers: Any) -> Tuple[VMTarget, Source]:
    """One VM whose QEMU answers ``info name`` with its own name."""
    executor = FakeExecutor({"query-name": lambda args: {"name": name},
                             "query-status": lambda args: {"status": status, "running":
                                                           status == "running"},
                             **handlers}, version=version)
    source = Source()
    runner = CommandRunner(executor, clock=clock)
    return VMTarget(name, runner, executor, EventHub(source), CommandBoard()), source


def sent(target: VMTarget) -> List[str]:
    """The QMP commands a VM's QEMU was sent."""
    executor = target.executor
    assert isinstance(executor, FakeExecutor)
    return [command.execute for command in executor.commands]


def shared_session(directory: VMDirectory, clock: Clock, identity: Optional[Identity] = None,
                   audit: Optional[AuditLog] = None) -> Tuple[HMPMonitor, FakeChannel]:
    runner = NoVM(NO_VM, banner=lambda: gateway_banner(len(directory.targets)), audit=audit)
    session = HMPMonitor(SessionConfig(runner=runner, clock=clock, vm_directory=directory),
                         SessionState(identity=identity))
    channel = FakeChannel()
    session.started(channel)
    return session, channel


def answer(session: HMPMonitor, channel: FakeChannel, line: str) -> str:
    """The text a line prints: what follows the echo, up to the next prompt."""
    channel.clear()
    session.received(line.encode() + b"\r")
    out = channel.value.decode()
    assert out.endswith("(qemu) "), out
    return out[:-len("(qemu) ")].split("\r\n", 1)[1].replace("\r\n", "\n")


def test_a_session_starts_with_no_vm_and_says_how_to_choose() -> None:
    clock = Clock()
    directory = VMDirectory()
    for name in ("web1", "db1"):
        directory.add(vm(name, clock)[0])
    session, channel = shared_session(directory, clock)
    assert channel.value == (b"hmpbridge monitor of 2 VMs - type '.vms' to list them, "
                             b"'.vm NAME' to choose one\r\n(qemu) ")
    assert answer(session, channel, "info name") == NO_VM
    assert answer(session, channel, "") == ""
    assert answer(session, channel, ".vm") == "No VM chosen\n"


def test_switching_sends_each_line_to_the_vm_chosen() -> None:
    clock = Clock()
    directory = VMDirectory()
    targets = {name: vm(name, clock)[0] for name in ("web1", "db1")}
    for target in targets.values():
        directory.add(target)
    session, channel = shared_session(directory, clock)
    assert answer(session, channel, ".vm web1") == ""
    assert answer(session, channel, "info name") == "web1\n"
    assert answer(session, channel, ".vm db1") == ""
    assert answer(session, channel, "info name") == "db1\n"
    assert answer(session, channel, ".vm") == "VM db1\n"
    assert sent(targets["web1"]) == ["query-name"]
    assert sent(targets["db1"]) == ["query-name"]


def test_vms_lists_status_and_qemu_and_marks_the_sessions_vm() -> None:
    clock = Clock()
    directory = VMDirectory()
    directory.add(vm("web1", clock)[0])
    directory.add(vm("db10", clock, status="paused", version=(10, 0, 2))[0])
    session, channel = shared_session(directory, clock)
    answer(session, channel, ".vm web1")
    assert answer(session, channel, ".vms") == ("  db10  paused   QEMU 10.0.2\n"
                                                "* web1  running  QEMU 7.2.22\n")


def test_a_vm_that_does_not_answer_is_listed_after_the_timeout() -> None:
    clock = Clock()
    directory = VMDirectory()
    hung = FakeExecutor({"query-status": lambda args: {}}, manual=True)
    directory.add(VMTarget("hung", CommandRunner(hung, clock=clock), hung,
                           EventHub(Source()), CommandBoard()))
    directory.add(vm("ok", clock)[0])
    session, channel = shared_session(directory, clock)
    channel.clear()
    session.received(b".vms\r")
    assert b"(qemu) " not in channel.value
    clock.advance(2.0)
    assert channel.value.decode().endswith(
        "  hung  not answering  QEMU 7.2.22\r\n  ok    running        QEMU 7.2.22\r\n(qemu) ")


def test_a_user_limited_to_some_vms_sees_and_reaches_only_those() -> None:
    clock = Clock()
    directory = VMDirectory()
    for name in ("web1", "web2", "db1"):
        directory.add(vm(name, clock)[0])
    carol = Identity("carol", method="password", vms=("web*",))
    session, channel = shared_session(directory, clock, identity=carol)
    assert answer(session, channel, ".vms") == ("  web1  running  QEMU 7.2.22\n"
                                                "  web2  running  QEMU 7.2.22\n")
    assert answer(session, channel, ".vm db1") == "unknown VM: 'db1'\n"
    assert answer(session, channel, ".vm nosuch") == "unknown VM: 'nosuch'\n"
    assert answer(session, channel, "info name") == NO_VM
    channel.clear()
    session.received(b".vm \t")
    assert b"web1" in channel.value and b"db1" not in channel.value


def test_tab_completes_vm_names_and_the_bridge_commands() -> None:
    clock = Clock()
    directory = VMDirectory()
    for name in ("web1", "web2", "db1"):
        directory.add(vm(name, clock)[0])
    session, channel = shared_session(directory, clock)
    channel.clear()
    session.received(b".vm d\t")
    assert channel.value.endswith(b".vm db1 \x1b[K")
    session.received(b"\x15")  # ^U: a fresh line (9.1's readline and later; 7.2: the kill)
    channel.clear()
    session.received(b"\r.vm w\t")
    assert channel.value.endswith(b"\r\nweb1      web2      \r\n(qemu) .vm web\x1b[K")


def test_the_vm_going_away_and_coming_back_keeps_the_sessions_choice() -> None:
    clock = Clock()
    directory = VMDirectory()
    first, _ = vm("web1", clock)
    directory.add(first)
    session, channel = shared_session(directory, clock)
    answer(session, channel, ".vm web1")
    directory.remove("web1", first)
    assert answer(session, channel, "info name") == \
        "VM 'web1' is not served now (its QMP socket went away)\n"
    assert answer(session, channel, ".vm") == "VM web1 (not served now)\n"
    again, _ = vm("web1", clock)
    directory.add(again)
    assert answer(session, channel, "info name") == "web1\n"
    assert sent(again) == ["query-name"]


def test_a_session_with_events_on_is_told_at_once_that_its_vm_went_away() -> None:
    clock = Clock()
    directory = VMDirectory()
    first, _ = vm("web1", clock)
    directory.add(first)
    told, told_channel = shared_session(directory, clock)
    quiet, quiet_channel = shared_session(directory, clock)
    for session, channel in ((told, told_channel), (quiet, quiet_channel)):
        answer(session, channel, ".vm web1")
    answer(told, told_channel, ".events on")
    told_channel.clear()
    quiet_channel.clear()
    directory.remove("web1")
    assert b"VM 'web1' is not served now" in told_channel.value
    assert quiet_channel.value == b""
    told_channel.clear()
    directory.add(vm("web1", clock)[0])
    assert told_channel.value == b""


def test_vms_says_which_vms_are_not_connected() -> None:
    from hmpbridge.errors import QMPCommandError, QMPNotConnected
    from hmpbridge.switchboard import status_of_failure
    assert status_of_failure(QMPNotConnected("x")) == "not connected"
    assert status_of_failure(QMPCommandError("GenericError", "x")) == "unknown"


def test_removing_an_old_target_leaves_its_successor() -> None:
    """A VM stopping late (its successor already listed) does not unlist the successor."""
    clock = Clock()
    directory = VMDirectory()
    old, _ = vm("web1", clock)
    new, _ = vm("web1", clock)
    directory.add(old)
    directory.add(new)
    directory.remove("web1", old)
    assert directory.targets["web1"] is new


def test_events_follow_the_session_to_its_vm() -> None:
    clock = Clock()
    directory = VMDirectory()
    web, web_events = vm("web1", clock)
    db, db_events = vm("db1", clock)
    directory.add(web)
    directory.add(db)
    session, channel = shared_session(directory, clock)
    assert answer(session, channel, ".events on") == ""
    assert answer(session, channel, ".events") == "Event display is on\n"
    answer(session, channel, ".vm web1")
    channel.clear()
    db_events.emit(STOP)
    assert channel.value == b""
    web_events.emit(STOP)
    assert b"STOP" in channel.value
    answer(session, channel, ".vm db1")
    channel.clear()
    web_events.emit(STOP)
    assert channel.value == b""
    db_events.emit(STOP)
    assert b"STOP" in channel.value


def test_the_audit_names_the_vm(tmp_path: Any) -> None:
    clock = Clock()
    log = AuditLog(str(tmp_path / "audit.log"))
    directory = VMDirectory()
    executor = FakeExecutor({"query-name": lambda args: {"name": "web1"}})
    directory.add(VMTarget("web1", CommandRunner(executor, clock=clock, audit=log), executor,
                           EventHub(Source()), CommandBoard()))
    session, channel = shared_session(directory, clock, Identity("alice", method="password"),
                                      audit=log)
    answer(session, channel, "info name")
    answer(session, channel, ".vm web1")
    answer(session, channel, "info name")
    log.close()
    records = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(r["hmp"], r["outcome"], r.get("vm")) for r in records] == [
        ("info name", "no-vm", None), (".vm web1", "ok", "web1"), ("info name", "ok", "web1")]


def test_one_vm_listeners_have_no_vm_commands() -> None:
    from tests.unit.monitor_fakes import open_monitor
    session, channel, _ = open_monitor()
    assert answer(session, channel, ".vms") == "This listener serves one VM\n"
    assert ".vm" not in answer(session, channel, ".help")


@given(st.lists(st.tuples(st.sampled_from(["a", "bb", "vm-10", "x"]),
                          st.sampled_from(["running", "paused", "not answering"]),
                          st.sampled_from(["QEMU 7.2.22", "QEMU 11.1.3"]), st.booleans()),
                min_size=1, max_size=6, unique_by=lambda row: row[0]))
def test_vm_table_columns_line_up(rows: List[Tuple[str, str, str, bool]]) -> None:
    lines = vm_table(rows).splitlines()
    assert len(lines) == len(rows)
    starts: Dict[int, set] = {1: set(), 2: set()}
    for line, (name, status, qemu, chosen) in zip(lines, rows):
        assert line.startswith("* " if chosen else "  ")
        starts[1].add(line.index(status, 2 + len(name)))
        starts[2].add(line.rindex(qemu))
    assert len(starts[1]) == 1 and len(starts[2]) == 1
