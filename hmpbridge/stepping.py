"""Stepping a handler's generator: the one loop every caller of a handler shares.

A handler (:mod:`hmpbridge.handlers`) and the completion walk
(:mod:`hmpbridge.completion`) are generators: each *yields* a
:class:`~hmpbridge.model.QMPCommand` and gets its ``return`` value back from
the ``yield`` (a :class:`~hmpbridge.errors.QMPError` is thrown in there
instead), or yields a :class:`~hmpbridge.model.Delay` and gets ``None`` back
after the pause; the generator's return value is the result.

:class:`Stepper` runs one such generator.  It is told how to ask
(``ask(command, resume)``) and how to pause (``wait(seconds, resume)``); each
of them calls ``resume(value, None)`` or ``resume(None, error)`` exactly once,
at once or later.  An answer given before ``ask`` returns is taken by the same
loop, so a generator that sends ten thousand commands answered at once runs in
a loop, not in ten thousand nested calls.

Pure: no reactor, no Deferred.  :func:`run_sync` drives a generator against
replies at hand (tests, golden replay, :func:`hmpbridge.handlers.drive`);
:mod:`hmpbridge.driver` drives it over a
:class:`~hmpbridge.interfaces.CommandExecutor` and a clock (the runner, completion).
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Generic, List, Optional, Tuple, TypeVar, Union

from hmpbridge.errors import QMPError
from hmpbridge.model import Delay, QMPCommand

__all__ = ["Steps", "Resume", "Stepper", "run_sync"]

T = TypeVar("T")

#: A handler's or the completion's generator, returning a ``T``.
Steps = Generator[Union[QMPCommand, Delay], Any, T]

#: How an answer comes back: ``resume(value, None)`` or ``resume(None, error)``.
Resume = Callable[[Any, Optional[BaseException]], None]


class Stepper(Generic[T]):
    """Steps one generator until it returns, each yielded command through ``ask``.

    :param steps: the generator (not started yet).
    :param ask: sends a command; calls the ``resume`` it is given once, with
        the answer or the error, now or later.
    :param wait: pauses ``seconds``; then calls its ``resume`` with ``None``.
    :param done: gets the generator's return value.
    :param failed: gets the error that ended the generator: one it raised (a
        :class:`~hmpbridge.errors.QMPError` thrown in and not caught, or its
        own), or an error from ``ask`` that is no QMPError (the generator is
        closed then, never thrown into).

    Exactly one of ``done`` and ``failed`` is called, once, unless
    :meth:`stop` comes first; an answer after that is ignored.
    """

    def __init__(self, steps: Steps[T], *,
                 ask: Callable[[QMPCommand, Resume], None],
                 wait: Callable[[float, Resume], None],
                 done: Callable[[T], None],
                 failed: Callable[[BaseException], None]) -> None:
        self._steps = steps
        self._ask = ask
        self._wait = wait
        self._done = done
        self._failed = failed
        #: the command whose answer is awaited (None while pausing, or not asking)
        self.pending: Optional[QMPCommand] = None
        #: the generator returned, failed or was stopped
        self.finished = False
        self._asked = 0
        self._stepping = False
        self._ready: Optional[Tuple[Any, Optional[BaseException]]] = None

    def start(self) -> None:
        """Run the generator up to its first answer that is not there yet."""
        self._step(None, None)

    def stop(self) -> None:
        """Close the generator where it waits; neither ``done`` nor ``failed`` follows."""
        if self.finished:
            return
        self.finished = True
        self.pending = None
        self._close()

    def _resumer(self) -> Resume:
        """A ``resume`` for the next question, which ignores all but its first call."""
        self._asked += 1
        asked = self._asked

        def resume(value: Any, error: Optional[BaseException] = None) -> None:
            if self.finished or asked != self._asked:
                return
            self._asked += 1  # this question is answered: a second call is ignored
            if self._stepping:
                self._ready = (value, error)  # taken by the loop that asked
            else:
                self._step(value, error)

        return resume

    def _step(self, value: Any, error: Optional[BaseException]) -> None:
        self._stepping = True
        try:
            while not self.finished:
                self.pending = None
                if error is not None and not isinstance(error, QMPError):
                    self._end()
                    self._close()
                    self._failed(error)
                    return
                try:
                    request = self._steps.throw(error) if error is not None \
                        else self._steps.send(value)
                except StopIteration as stop:
                    self._end()
                    self._done(stop.value)
                    return
                except Exception as err:  # noqa: BLE001 - the caller decides how it shows
                    self._end()
                    self._failed(err)
                    return
                resume = self._resumer()
                if isinstance(request, QMPCommand):
                    self.pending = request
                    self._ask(request, resume)
                elif isinstance(request, Delay):
                    self._wait(request.seconds, resume)
                else:
                    resume(None, TypeError(
                        f"a handler yielded {type(request).__name__}, not a QMPCommand or Delay"))
                if self._ready is None:
                    return  # the answer resumes the loop when it comes
                (value, error), self._ready = self._ready, None
        finally:
            self._stepping = False

    def _end(self) -> None:
        self.finished = True
        self.pending = None

    def _close(self) -> None:
        try:
            self._steps.close()
        except Exception:  # noqa: BLE001 - a generator that will not close is dropped
            pass


def run_sync(steps: Steps[T], respond: Callable[[QMPCommand], Any],
             sleep: Optional[Callable[[float], None]] = None) -> T:
    """Run ``steps`` to its end with answers at hand; return its return value.

    ``respond(command)`` returns the answer or raises: a
    :class:`~hmpbridge.errors.QMPError` is thrown into the generator at its
    ``yield``; any other error closes the generator and is raised from here,
    as is any error the generator does not catch.  A
    :class:`~hmpbridge.model.Delay` is passed to ``sleep`` (skipped when None).
    """
    results: List[T] = []
    errors: List[BaseException] = []

    def ask(command: QMPCommand, resume: Resume) -> None:
        try:
            answer = respond(command)
        except Exception as err:  # noqa: BLE001 - thrown in, or raised by run_sync
            resume(None, err)
        else:
            resume(answer, None)

    def wait(seconds: float, resume: Resume) -> None:
        if sleep is not None:
            sleep(seconds)
        resume(None, None)

    Stepper(steps, ask=ask, wait=wait, done=results.append, failed=errors.append).start()
    if errors:
        raise errors[0]
    assert results, "an answer at hand always ends the generator"
    return results[0]
