"""How the runner steps a handler: answers now or later, many commands, timeouts, failures."""

from __future__ import annotations

from typing import Any, List

import pytest
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from hmpbridge.errors import QMPCommandError, QMPDisconnected
from hmpbridge.handlers import HANDLERS, Context, HandlerResult
from hmpbridge.model import Invocation, QMPCommand, SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor

MANY = 5000


def many_queries(inv: Invocation, ctx: Context) -> HandlerResult:
    """Asks for the status MANY times, as a tree walk asks for each node."""
    for _ in range(MANY):
        yield QMPCommand("query-status")
    return "walked\n"


def two_steps(inv: Invocation, ctx: Context) -> HandlerResult:
    """Two commands; the second sees the first's answer; errors print their description."""
    try:
        first = yield QMPCommand("query-status")
        second = yield QMPCommand("query-name")
    except QMPCommandError as err:
        return f"refused: {err.desc}\n"
    return f"{first['status']} {second.get('name', '-')}\n"


closed: List[str] = []


def tracked(inv: Invocation, ctx: Context) -> HandlerResult:
    """One command; notes when the generator is closed without finishing."""
    try:
        yield QMPCommand("query-status")
        yield QMPCommand("query-name")
    except GeneratorExit:
        closed.append(inv.line)
        raise
    return "done\n"


def run(line: str, executor: FakeExecutor, clock: Clock) -> List[str]:
    results: List[str] = []
    CommandRunner(executor, clock=clock).run(line, SessionState()).addCallback(results.append)
    return results


def test_thousands_of_answers_already_there_do_not_recurse(monkeypatch) -> None:
    """When every answer is there at once, a handler sending 5,000 commands still finishes."""
    monkeypatch.setitem(HANDLERS, "info status", many_queries)
    executor = FakeExecutor()
    assert run("info status", executor, Clock()) == ["walked\n"]
    assert len(executor.commands) == MANY


def test_answers_that_come_later_resume_the_handler(monkeypatch) -> None:
    """When answers arrive one by one, each resumes the handler, and the text comes last."""
    monkeypatch.setitem(HANDLERS, "info status", two_steps)
    executor = FakeExecutor(manual=True)
    results = run("info status", executor, Clock())
    assert [c.execute for c in executor.commands] == ["query-status"] and results == []
    executor.fire()
    assert [c.execute for c in executor.commands] == ["query-status", "query-name"]
    assert results == []
    executor.fire()
    assert len(results) == 1 and results[0].endswith("\n")


def test_a_qmp_error_is_thrown_into_the_handler(monkeypatch) -> None:
    """When QEMU refuses a command, the handler catches the error at its yield."""
    monkeypatch.setitem(HANDLERS, "info status", two_steps)
    executor = FakeExecutor(manual=True)
    results = run("info status", executor, Clock())
    executor.fail(QMPCommandError("GenericError", "no"))
    assert results == ["refused: no\n"]


def test_a_timed_out_line_answers_once_and_closes_the_handler(monkeypatch) -> None:
    """When the time is up, the timeout is printed; the late answer goes nowhere."""
    monkeypatch.setitem(HANDLERS, "info status", tracked)
    executor, clock = FakeExecutor(manual=True), Clock()
    closed.clear()
    results = run("info status", executor, clock)
    clock.advance(30)
    assert results == ["Error: QEMU did not answer query-status within 30 s\n"]
    executor.fire()
    assert results == ["Error: QEMU did not answer query-status within 30 s\n"]
    assert [c.execute for c in executor.commands] == ["query-status"]
    assert closed == ["info status"]


def test_a_dropped_connection_prints_its_notice(monkeypatch) -> None:
    """When the connection drops with the command in flight, the session is told."""
    monkeypatch.setitem(HANDLERS, "info status", tracked)
    executor = FakeExecutor(manual=True)
    results = run("info status", executor, Clock())
    executor.fail(QMPDisconnected("gone"))
    assert len(results) == 1 and "connection" in results[0].lower()


def test_an_unexpected_failure_is_logged_and_rendered(monkeypatch) -> None:
    """When the executor fails with something that is no QMP error, the line still ends."""
    monkeypatch.setitem(HANDLERS, "info status", tracked)
    executor = FakeExecutor(manual=True)
    logged: List[Any] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        closed.clear()
        results = run("info status", executor, Clock())
        executor.fail(RuntimeError("boom"))
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert results == ["Error: internal error in hmpbridge: RuntimeError\n"]
    assert closed == ["info status"]
    assert any(isinstance(e.get("log_failure") and e["log_failure"].value, RuntimeError)
               for e in logged)


@pytest.mark.parametrize("exc", [ValueError("bad"), KeyError("k")])
def test_a_handler_that_raises_is_rendered(monkeypatch, exc: Exception) -> None:
    """When a handler itself raises, the session gets the internal-error line, no traceback."""
    def broken(inv: Invocation, ctx: Context) -> HandlerResult:
        yield QMPCommand("query-status")
        raise exc

    monkeypatch.setitem(HANDLERS, "info status", broken)
    results = run("info status", FakeExecutor(), Clock())
    assert results == [f"Error: internal error in hmpbridge: {type(exc).__name__}\n"]


class RaisingExecutor(FakeExecutor):
    """An executor whose execute raises instead of returning a failed Deferred."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def execute(self, command: QMPCommand) -> Any:
        raise self.error


def test_an_executor_raising_at_once_is_an_answer_like_any_other(monkeypatch) -> None:
    """When execute raises, a QMP error reaches the handler and anything else is rendered."""
    monkeypatch.setitem(HANDLERS, "info status", two_steps)
    refused = run("info status", RaisingExecutor(QMPCommandError("GenericError", "no")), Clock())
    assert refused == ["refused: no\n"]
    broken = run("info status", RaisingExecutor(TypeError("not JSON")), Clock())
    assert broken == ["Error: internal error in hmpbridge: TypeError\n"]


def test_the_runner_keeps_no_history() -> None:
    """A session's history is the session's: the runner runs a line and leaves it alone."""
    state = SessionState(history=["info name"])
    assert run_with_state("info history", state) == ["0: 'info name'\n"]
    assert state.history == ["info name"]


def run_with_state(line: str, state: SessionState) -> List[str]:
    results: List[str] = []
    CommandRunner(FakeExecutor(), clock=Clock()).run(line, state).addCallback(results.append)
    return results
