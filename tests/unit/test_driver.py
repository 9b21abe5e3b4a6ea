"""The one driver of handler generators: answers now or later, errors thrown in, pauses, timeouts.

:func:`hmpbridge.driver.drive` (the runner's and completion's, over an
executor and a clock) and :func:`hmpbridge.stepping.run_sync` (behind
:func:`hmpbridge.handlers.drive`) step generators with the same
:class:`~hmpbridge.stepping.Stepper`; the property test at the end holds
them to the same outcome for any mix of answers.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Generator, List, Optional, Tuple, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from hmpbridge.completion import Completion, CompletionContext
from hmpbridge.driver import Drive, complete_with, drive
from hmpbridge.errors import CommandTimeout, QMPCommandError, QMPDisconnected, QMPNotConnected
from hmpbridge.handlers import drive as drive_handler
from hmpbridge.model import Delay, QMPCommand
from hmpbridge.stepping import Steps, Stepper, run_sync
from hmpbridge.testing import FakeExecutor

MANY = 10_000


def depth() -> int:
    """How many frames deep the caller runs."""
    frame, count = sys._getframe(1), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1
    return count


def many(count: int = MANY) -> Steps[str]:
    """Asks ``count`` questions; answers the sum of what came back."""
    total = 0
    for i in range(count):
        total += yield QMPCommand("query-number", {"i": i})
    return f"{total}\n"


class Recorder:
    """An execute that answers at once (``succeed``) and notes how deep each call runs."""

    def __init__(self) -> None:
        self.commands: List[QMPCommand] = []
        self.depths: List[int] = []

    def __call__(self, command: QMPCommand) -> "Deferred[Any]":
        self.commands.append(command)
        self.depths.append(depth())
        return succeed(1)


class Later:
    """An execute whose answers come when the test gives them."""

    def __init__(self) -> None:
        self.pending: List[Tuple[QMPCommand, "Deferred[Any]"]] = []

    def __call__(self, command: QMPCommand) -> "Deferred[Any]":
        d: "Deferred[Any]" = Deferred()
        self.pending.append((command, d))
        return d

    def answer(self, value: Any) -> None:
        self.pending.pop(0)[1].callback(value)

    def refuse(self, error: BaseException) -> None:
        self.pending.pop(0)[1].errback(error)


def outcome(d: "Deferred[Any]") -> List[Any]:
    """What ``d`` fired with so far: [] (not yet), [value] or [Failure]."""
    got: List[Any] = []
    d.addBoth(got.append)
    return got


# -- answers at once ------------------------------------------------------------------


def test_ten_thousand_answers_already_there_run_in_a_loop_not_a_stack() -> None:
    """Every command of 10,000 is sent from the same stack depth: no call per answer."""
    execute = Recorder()
    assert outcome(drive(many(), execute, Clock())) == [f"{MANY}\n"]
    assert len(execute.commands) == MANY
    assert set(execute.depths) == {execute.depths[0]}


def test_the_synchronous_driver_runs_ten_thousand_answers_in_a_loop() -> None:
    depths: List[int] = []

    def respond(command: QMPCommand) -> int:
        depths.append(depth())
        return 2

    assert run_sync(many(), respond) == f"{2 * MANY}\n"
    assert len(depths) == MANY and set(depths) == {depths[0]}


def test_answers_that_come_later_resume_where_the_generator_waits() -> None:
    execute = Later()
    got = outcome(drive(many(3), execute, Clock()))
    assert [c.arguments for c, _ in execute.pending] == [{"i": 0}] and got == []
    execute.answer(5)
    execute.answer(6)
    assert got == []
    execute.answer(7)
    assert got == ["18\n"] and execute.pending == []


# -- errors -----------------------------------------------------------------------------


def catching() -> Steps[str]:
    """Two commands; a QMP error at either is caught and printed."""
    try:
        first = yield QMPCommand("query-status")
        second = yield QMPCommand("query-name")
    except QMPCommandError as err:
        return f"refused: {err.desc}\n"
    return f"{first} {second}\n"


def test_a_qmp_error_is_thrown_in_at_the_yield() -> None:
    execute = Later()
    got = outcome(drive(catching(), execute, Clock()))
    execute.answer("running")
    execute.refuse(QMPCommandError("GenericError", "no name"))
    assert got == ["refused: no name\n"]


def test_a_qmp_error_the_generator_does_not_catch_fails_the_result() -> None:
    def bare() -> Steps[str]:
        yield QMPCommand("stop")
        return "not reached"

    got = outcome(drive(bare(), lambda c: fail(QMPDisconnected("gone")), Clock()))
    assert len(got) == 1 and isinstance(got[0], Failure)
    assert isinstance(got[0].value, QMPDisconnected)


def closes() -> Tuple[List[str], Callable[[], Steps[str]]]:
    """A generator that notes when it is closed where it waits."""
    closed: List[str] = []

    def steps() -> Steps[str]:
        try:
            yield QMPCommand("query-status")
            yield Delay(1.0)
            yield QMPCommand("query-name")
        except GeneratorExit:
            closed.append("closed")
            raise
        return "done\n"
    return closed, steps


def test_an_error_that_is_not_qmps_closes_the_generator_and_fails_the_result() -> None:
    """A broken executor is never thrown into a handler: the handler is closed."""
    closed, steps = closes()
    execute = Later()
    got = outcome(drive(steps(), execute, Clock()))
    execute.refuse(TypeError("not JSON"))
    assert closed == ["closed"]
    assert isinstance(got[0].value, TypeError)


def test_an_execute_that_raises_is_an_answer_like_any_other() -> None:
    def raising(error: BaseException) -> Callable[[QMPCommand], "Deferred[Any]"]:
        def execute(command: QMPCommand) -> "Deferred[Any]":
            raise error
        return execute

    refused = outcome(drive(catching(), raising(QMPCommandError("GenericError", "no")), Clock()))
    assert refused == ["refused: no\n"]
    broken = outcome(drive(catching(), raising(RuntimeError("boom")), Clock()))
    assert isinstance(broken[0].value, RuntimeError)


def test_a_generator_that_raises_fails_the_result_with_its_error() -> None:
    def broken() -> Steps[str]:
        yield QMPCommand("query-status")
        raise KeyError("status")

    got = outcome(drive(broken(), Recorder(), Clock()))
    assert isinstance(got[0].value, KeyError)
    with pytest.raises(KeyError):
        run_sync(broken(), lambda command: {})


def test_something_else_yielded_is_a_type_error() -> None:
    def odd() -> Generator[Any, Any, str]:
        yield "query-status"
        return ""

    got = outcome(drive(odd(), Recorder(), Clock()))
    assert isinstance(got[0].value, TypeError)


def test_the_synchronous_driver_throws_qmp_errors_in_and_raises_the_rest() -> None:
    def respond(command: QMPCommand) -> Any:
        if command.execute == "query-name":
            raise QMPCommandError("GenericError", "nameless")
        return "running"

    assert drive_handler(catching(), respond) == "refused: nameless\n"

    def broken(command: QMPCommand) -> Any:
        raise OSError("socket")

    closed, steps = closes()
    with pytest.raises(OSError):
        run_sync(steps(), broken)
    assert closed == ["closed"]


# -- pauses and timeouts -----------------------------------------------------------------


def polling() -> Steps[str]:
    first = yield QMPCommand("query-status")
    nothing = yield Delay(0.5)
    second = yield QMPCommand("query-status")
    return f"{first} {nothing} {second}\n"


def test_a_delay_waits_on_the_clock_and_sends_nothing() -> None:
    clock, execute = Clock(), Recorder()
    got = outcome(drive(polling(), execute, clock))
    assert len(execute.commands) == 1
    clock.advance(0.4)
    assert len(execute.commands) == 1 and got == []
    clock.advance(0.1)
    assert len(execute.commands) == 2 and got == ["1 None 1\n"]
    assert clock.getDelayedCalls() == []


def test_the_synchronous_driver_passes_delays_to_sleep() -> None:
    slept: List[float] = []
    assert run_sync(polling(), lambda command: "ok", slept.append) == "ok None ok\n"
    assert slept == [0.5]
    assert run_sync(polling(), lambda command: "ok") == "ok None ok\n"


def test_past_the_timeout_the_awaited_command_is_named_and_late_answers_go_nowhere() -> None:
    closed, steps = closes()
    clock, execute = Clock(), Later()
    got = outcome(drive(steps(), execute, clock, timeout=30, label="info status"))
    clock.advance(29.9)
    assert got == []
    clock.advance(0.1)
    assert isinstance(got[0].value, CommandTimeout)
    assert (got[0].value.command, got[0].value.seconds) == ("query-status", 30)
    assert closed == ["closed"]
    execute.answer("running")  # late: dropped, nothing more is sent
    assert len(got) == 1 and execute.pending == []


def test_a_timeout_during_a_pause_names_the_label_and_cancels_the_pause() -> None:
    closed, steps = closes()
    clock, execute = Clock(), Later()
    got = outcome(drive(steps(), execute, clock, timeout=0.5, label="info status"))
    execute.answer("running")
    clock.advance(0.5)
    assert got[0].value.command == "info status"
    assert closed == ["closed"] and clock.getDelayedCalls() == []
    clock.advance(1.0)
    assert execute.pending == []


def test_a_generator_done_in_time_leaves_no_timer() -> None:
    clock = Clock()
    assert outcome(drive(many(3), Recorder(), clock, timeout=30)) == ["3\n"]
    assert clock.getDelayedCalls() == []


def test_what_is_sent_is_told_before_it_goes_out_and_the_awaited_command_is_known() -> None:
    told: List[str] = []
    execute = Later()
    run = Drive(catching(), execute, Clock(), sent=lambda c: told.append(c.execute))
    run.start()
    assert told == ["query-status"] and run.current == "query-status"
    execute.answer("running")
    assert told == ["query-status", "query-name"] and run.current == "query-name"
    execute.answer("vm")
    assert run.current == "" and outcome(run.result) == ["running vm\n"]


def test_a_stopped_stepper_ignores_its_answer() -> None:
    finished: List[Any] = []
    resumes: List[Any] = []
    stepper: Stepper[str] = Stepper(
        catching(), ask=lambda command, resume: resumes.append(resume),
        wait=lambda seconds, resume: None, done=finished.append, failed=finished.append)
    stepper.start()
    stepper.stop()
    resumes[0]("running", None)
    assert finished == [] and len(resumes) == 1 and stepper.finished


def test_an_answer_given_twice_is_taken_once() -> None:
    resumes: List[Any] = []
    finished: List[Any] = []
    Stepper(catching(), ask=lambda command, resume: resumes.append(resume),
            wait=lambda seconds, resume: None, done=finished.append,
            failed=finished.append).start()
    resumes[0]("running", None)
    resumes[0]("again", None)
    assert len(resumes) == 2
    resumes[1]("vm", None)
    assert finished == ["running vm\n"]


# -- completion ---------------------------------------------------------------------------


def test_completion_asks_the_executor() -> None:
    executor = FakeExecutor(handlers={"query-block": lambda args: [
        {"device": "ide1-cd0", "qdev": "/machine/unattached/device[23]"}]})
    got = outcome(complete_with(executor, "eject ", CompletionContext(), Clock()))
    assert got and isinstance(got[0], Completion)
    assert "ide1-cd0" in got[0].candidates
    assert [c.execute for c in executor.commands][:1] == ["query-block"]


def test_completion_without_a_connection_offers_nothing_for_what_needs_qemu() -> None:
    got = outcome(complete_with(None, "eject ", CompletionContext(), Clock()))
    assert got == [Completion()]
    names = outcome(complete_with(None, "info bal", CompletionContext(), Clock()))
    assert names[0].candidates == ("balloon",)


def test_a_completion_that_fails_offers_nothing_and_is_logged() -> None:
    logged: List[Any] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        got = outcome(complete_with(FakeExecutor(handlers={"query-block": lambda args: 42}),
                                    "eject ", CompletionContext(), Clock()))
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert got == [Completion()]
    assert any(e.get("log_failure") is not None for e in logged)


def test_a_completion_that_times_out_offers_nothing() -> None:
    clock, execute = Clock(), Later()
    executor = FakeExecutor()
    executor.execute = execute  # type: ignore[method-assign]
    got = outcome(complete_with(executor, "eject ", CompletionContext(), clock, timeout=2))
    clock.advance(2)
    assert got == [Completion()]


# -- one driver: the same outcome however the answers come -----------------------------

#: One step of a generated program: a command answered with a value, refused with a
#: QMP error (which the program catches or not), or a pause.
Step = Tuple[str, int]
STEPS = st.lists(st.tuples(st.sampled_from(["value", "refused", "uncaught", "delay"]),
                           st.integers(0, 9)), max_size=30)


def program(steps: List[Step]) -> Steps[str]:
    """Runs ``steps``; returns what it saw, or lets an uncaught refusal end it."""
    seen: List[str] = []
    for kind, n in steps:
        if kind == "delay":
            seen.append(f"slept:{(yield Delay(n / 10))}")
            continue
        try:
            seen.append(str((yield QMPCommand(f"{kind}-{n}"))))
        except QMPCommandError as err:
            if kind == "uncaught":
                raise
            seen.append(f"error:{err.desc}")
    return ",".join(seen)


def reply(command: QMPCommand) -> Any:
    kind, n = command.execute.split("-")
    if kind == "value":
        return int(n) * 3
    raise QMPCommandError("GenericError", n)


@given(STEPS, st.lists(st.booleans(), max_size=30))
def test_drive_and_run_sync_agree_however_the_answers_come(steps: List[Step],
                                                         now: List[bool]) -> None:
    """Answers at once or later, refusals caught or not, pauses: one outcome and order."""
    try:
        want: Union[str, BaseException] = run_sync(program(steps), reply)
    except QMPCommandError as err:
        want = err
    clock = Clock()
    sent: List[str] = []
    later: List[Tuple[QMPCommand, "Deferred[Any]"]] = []
    answers_now = iter(now)

    def execute(command: QMPCommand) -> "Deferred[Any]":
        sent.append(command.execute)
        d: "Deferred[Any]" = Deferred()
        if next(answers_now, True):
            settle(command, d)
        else:
            later.append((command, d))
        return d

    def settle(command: QMPCommand, d: "Deferred[Any]") -> None:
        try:
            d.callback(reply(command))
        except QMPCommandError as err:
            d.errback(err)

    got = outcome(drive(program(steps), execute, clock))
    while not got:
        if later:
            settle(*later.pop(0))
        else:
            clock.advance(1)
    asked = [f"{kind}-{n}" for kind, n in steps if kind != "delay"]
    if isinstance(want, QMPCommandError):
        assert isinstance(got[0], Failure) and isinstance(got[0].value, QMPCommandError)
        assert got[0].value.desc == want.desc
        assert sent == asked[:len(sent)] and sent[-1].startswith("uncaught-")
    else:
        assert got == [want] and sent == asked
    assert later == [] and clock.getDelayedCalls() == []


def test_a_missing_connection_is_the_qmp_error_completion_expects() -> None:
    """Without an executor each question is refused with QMPNotConnected (thrown in)."""
    seen: List[Optional[BaseException]] = []

    def asks() -> Steps[Completion]:
        try:
            yield QMPCommand("query-block")
        except QMPNotConnected as err:
            seen.append(err)
        return Completion(("x",), 0)

    from hmpbridge.driver import _unconnected
    got = outcome(drive(asks(), _unconnected, Clock()))
    assert got == [Completion(("x",), 0)] and isinstance(seen[0], QMPNotConnected)
