"""Driving a handler's generator over QMP: each command to the executor, pauses on a clock.

The one driver of handler generators (the stepping itself is
:class:`hmpbridge.stepping.Stepper`, shared with :func:`hmpbridge.handlers.drive`):

- :func:`drive` runs a generator that yields
  :class:`~hmpbridge.model.QMPCommand` and :class:`~hmpbridge.model.Delay`:
  each command goes to ``execute`` (a
  :meth:`~hmpbridge.interfaces.CommandExecutor.execute`), its answer resumes
  the generator, its :class:`~hmpbridge.errors.QMPError` is thrown in at the
  ``yield``; an answer already there is taken in the same loop (no recursion);
  a ``Delay`` waits on the clock; past ``timeout`` the generator is closed and
  the result fails with :class:`~hmpbridge.errors.CommandTimeout`.  The
  runner (:mod:`hmpbridge.runner`) runs every HMP line's handler with it.
- :func:`complete_with` runs the completion of a half-typed line
  (:func:`hmpbridge.completion.complete`) the same way, for a session's Tab::

      complete_with(executor, text, CompletionContext(...), clock)
          .addCallback(show)    # fires with a Completion, never fails

  With no executor (no QMP connection) every question the completion asks
  is refused with :class:`~hmpbridge.errors.QMPNotConnected`, which offers
  nothing for that word.

Orchestration: the clock is injected, nothing here reads the reactor.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Optional, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge.completion import Completion, CompletionContext, complete
from hmpbridge.errors import CommandTimeout, QMPError, QMPNotConnected
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.model import QMPCommand
from hmpbridge.stepping import Resume, Stepper, Steps

__all__ = ["Drive", "drive", "complete_with"]

T = TypeVar("T")

#: Sends one QMP command; fires with its ``return`` value or fails (a
#: :meth:`~hmpbridge.interfaces.CommandExecutor.execute`).
Execute = Callable[[QMPCommand], "Deferred[Any]"]

_log = Logger()


class Drive(Generic[T]):
    """One generator driven over an executor; :attr:`result` fires once with its outcome.

    :param steps: the generator (not started yet).
    :param execute: sends a command; may raise, or fire at once or later.
    :param clock: what pauses and the timeout wait on.
    :param timeout: seconds the whole generator may take (0: no limit).
    :param label: what the timeout names when no command is awaited (a pause).
    :param sent: told every command before it goes out (the audit's list).
    """

    def __init__(self, steps: Steps[T], execute: Execute, clock: IReactorTime, *,
                 timeout: float = 0.0, label: str = "",
                 sent: Optional[Callable[[QMPCommand], None]] = None) -> None:
        self._execute = execute
        self._clock = clock
        self._timeout = timeout
        self._label = label
        self._sent = sent
        self._timer: Optional[IDelayedCall] = None
        self._pause: Optional[IDelayedCall] = None
        #: fires with the generator's return value, or fails with what ended it
        self.result: "Deferred[T]" = Deferred()
        self._stepper: Stepper[T] = Stepper(steps, ask=self._ask, wait=self._wait,
                                            done=self._done, failed=self._failed)

    @property
    def current(self) -> str:
        """The QMP command whose answer is awaited ("" when none is)."""
        pending = self._stepper.pending
        return pending.execute if pending is not None else ""

    def start(self) -> "Deferred[T]":
        """Run the generator up to its first answer that is not there yet; :attr:`result`."""
        if self._timeout > 0:
            self._timer = self._clock.callLater(self._timeout, self._expire)
        self._stepper.start()
        return self.result

    def _ask(self, command: QMPCommand, resume: Resume) -> None:
        if self._sent is not None:
            self._sent(command)
        try:
            answer = self._execute(command)
        except Exception as err:  # noqa: BLE001 - an answer like any other
            resume(None, err)
            return
        answer.addCallbacks(lambda value: resume(value, None),
                            lambda failure: resume(None, _error_of(failure)))

    def _wait(self, seconds: float, resume: Resume) -> None:
        def over() -> None:
            self._pause = None
            resume(None, None)
        self._pause = self._clock.callLater(seconds, over)

    def _expire(self) -> None:
        """The time is up: close the generator; answers that come later are dropped."""
        self._timer = None
        what = self.current or self._label
        self._stepper.stop()
        self._cancel_pause()
        if not self.result.called:
            self.result.errback(CommandTimeout(what, self._timeout))

    def _done(self, value: T) -> None:
        self._cancel_timer()
        self.result.callback(value)

    def _failed(self, error: BaseException) -> None:
        self._cancel_timer()
        self.result.errback(error)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _cancel_pause(self) -> None:
        if self._pause is not None and self._pause.active():
            self._pause.cancel()
        self._pause = None


def _error_of(failure: Failure) -> BaseException:
    error = failure.value
    assert error is not None
    return error


def drive(steps: Steps[T], execute: Execute, clock: IReactorTime, *,
          timeout: float = 0.0, label: str = "",
          sent: Optional[Callable[[QMPCommand], None]] = None) -> "Deferred[T]":
    """Run ``steps`` over ``execute`` (see :class:`Drive`); fires with its return value."""
    return Drive(steps, execute, clock, timeout=timeout, label=label, sent=sent).start()


def _unconnected(command: QMPCommand) -> "Deferred[Any]":
    raise QMPNotConnected("no QMP connection")


def complete_with(executor: Optional[CommandExecutor], text: str, ctx: CompletionContext,
                  clock: IReactorTime, timeout: float = 0.0) -> "Deferred[Completion]":
    """The completion of ``text`` (a line up to the cursor), its questions asked of ``executor``.

    Fires with a :class:`~hmpbridge.completion.Completion`, never fails: a
    completion that ends with an error offers nothing (a QMP error quietly, a
    timeout of ``timeout`` seconds on ``clock`` with a warning, 0: no limit;
    anything else is logged as a failure).
    """
    execute = executor.execute if executor is not None else _unconnected
    found = drive(complete(text, ctx), execute, clock, timeout=timeout, label="completion")

    def offered(value: Any) -> Completion:
        return value if isinstance(value, Completion) else Completion()

    def nothing(failure: Failure) -> Completion:
        if isinstance(failure.value, CommandTimeout):
            _log.warn("Completion of {text!r} timed out waiting for {command}",
                      text=text, command=failure.value.command)
        elif not isinstance(failure.value, QMPError):  # QEMU refused or went away: nothing
            _log.failure("Completion of {text!r} failed", failure=failure, text=text)
        return Completion()

    return found.addCallbacks(offered, nothing)
