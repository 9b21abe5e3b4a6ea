"""A handler may pause between commands (polling a job); the runner waits on its clock."""

from __future__ import annotations

from typing import List

from twisted.internet.task import Clock

from hmpbridge.handlers import HANDLERS, Context, HandlerResult, drive
from hmpbridge.model import Delay, Invocation, QMPCommand, SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor


def polling(inv: Invocation, ctx: Context) -> HandlerResult:
    """Asks for status, waits half a second, asks again."""
    first = yield QMPCommand("query-status")
    nothing = yield Delay(0.5)
    second = yield QMPCommand("query-status")
    return f"{first['status']} {nothing} {second['status']}\n"


def test_runner_waits_on_its_clock_and_sends_nothing_for_a_delay(monkeypatch) -> None:
    monkeypatch.setitem(HANDLERS, "info status", polling)
    clock, executor, results = Clock(), FakeExecutor(), []  # type: ignore[var-annotated]
    runner = CommandRunner(executor, clock=clock)
    runner.run("info status", SessionState()).addCallback(results.append)
    assert [c.execute for c in executor.commands] == ["query-status"]
    clock.advance(0.4)
    assert results == [] and len(executor.commands) == 1
    clock.advance(0.1)
    assert [c.execute for c in executor.commands] == ["query-status", "query-status"]
    status = executor.handlers["query-status"]({})["status"]
    assert results == [f"{status} None {status}\n"]


def test_drive_passes_delays_to_sleep() -> None:
    slept: List[float] = []
    inv = Invocation(None, {}, "x")  # type: ignore[arg-type]
    text = drive(polling(inv, Context()), lambda cmd: {"status": "running"}, sleep=slept.append)
    assert text == "running None running\n"
    assert slept == [0.5]
