"""One HMP monitor session: QEMU's banner, line editor, answers and prompt.

:class:`HMPMonitor` is the :class:`~hmpbridge.interfaces.MonitorSession` a
listener's framing (a :class:`~hmpbridge.interfaces.MonitorChannel`, telnet
or plain, as QEMU's chardev kinds) delivers to.  It is what QEMU's monitor
is on any chardev:

* at connect, the banner and ``(qemu) ``;
* every byte the client sends goes through QEMU's readline
  (:class:`~hmpbridge.line_editor.LineEditor`), from the first byte: keys are
  echoed with its redraw sequences, ``\\r`` and ``\\n`` each end a line, Tab
  completes (:mod:`hmpbridge.completion`), Up/Down walk the session's history;
* a finished line runs (:class:`~hmpbridge.line_queue.LineRunner`), and
  nothing more is read until its answer and the next prompt are written, as
  QEMU's monitor reads nothing while a command runs; what the client sends
  meanwhile waits, in order, in a bounded :class:`~hmpbridge.line_queue.KeyQueue`;
* text is written with ``\\r\\n`` line ends, as QEMU's ``monitor_puts`` does.

Nothing else is written unless the session asked for it: QMP events, the
notices that QEMU went away or is back (:meth:`HMPMonitor.notice`) and the
note that a line waits behind another operator's command go only to a
session with events on (``.events on``, ``--events-listen``).  A session
that did not ask sees QEMU's absence as the answer to its next line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, List, Mapping, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from hmpbridge.board import CommandBoard
from hmpbridge.bridge_cmds import complete_bridge_command, is_bridge_command
from hmpbridge.commands import table_for
from hmpbridge.completion import Completion, CompletionContext
from hmpbridge.driver import complete_with
from hmpbridge.events import EventHub
from hmpbridge.flow import WriteGuard
from hmpbridge.history import ConnectionHistory, HistoryStore
from hmpbridge.interfaces import CommandExecutor, LineService, MonitorChannel, StreamTransport
from hmpbridge.limits import Limits
from hmpbridge.line_editor import LineEditor
from hmpbridge.line_queue import MAX_PENDING_KEYS, KeyQueue, LineRunner
from hmpbridge.model import SessionState
from hmpbridge.render.events import format_event
from hmpbridge.switchboard import NoVM, VMChoice, VMDirectory, VMTarget

__all__ = ["HMPMonitor", "SessionConfig", "monitor_for", "PROMPT", "TURN_LINES", "TURN_ECHO",
           "TURN_KEYS", "TURN_READ", "MAX_PENDING_KEYS", "puts"]

PROMPT = "(qemu) "

#: Lines answered at once (empty lines, errors) run per reactor turn; the rest
#: wait for the next turn, so one client's burst does not hold up the others.
TURN_LINES = 64

#: Echo bytes one session's keys may produce per reactor turn.  QEMU's redraw
#: writes the whole line again for every key typed, so a 4095-byte line typed
#: at once echoes 33 MB (as QEMU's own monitor does); the editor takes the
#: keys :data:`TURN_KEYS` at a time and leaves the rest for the next turn once
#: this much was echoed, so other clients are served in between.
TURN_ECHO = 256 * 1024
#: Keys handed to the editor at a time.
TURN_KEYS = 64
#: Keys one session reads per reactor turn (about 4 microseconds each).
TURN_READ = 16384


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def puts(text: str) -> bytes:
    """``text`` as QEMU's monitor_puts writes it: each ``\\n`` as ``\\r\\n``."""
    return _encode(text).replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class SessionConfig:
    """What every session of one listener shares.

    :ivar runner: parses, authorises, runs and renders lines.
    :ivar clock: for the waiting notice and the turns of a long burst.
    :ivar executor: the QMP connection (completion asks it; its profile
        decides the release whose keys the editor follows).
    :ivar events: where QMP events come from.
    :ivar events_on: whether sessions start with events shown (and notices).
    :ivar board: who runs what, shared by every listener.
    :ivar history: where sessions' histories come from and go back to.
    :ivar limits: client limits: the stall timeout and the unread output a
        connection's write guard allows (see :func:`monitor_for`).
    :ivar max_pending_keys: bytes a client may have sent and the session not
        yet read before reading from it pauses.
    :ivar vm_directory: on a listener shared by several VMs, the VMs served:
        each session chooses one (``.vm NAME``); ``runner`` is then the
        :class:`~hmpbridge.switchboard.NoVM` that answers before it does.
    """

    runner: LineService
    clock: IReactorTime
    executor: Optional[CommandExecutor] = None
    events: Optional[EventHub] = None
    events_on: bool = False
    board: CommandBoard = field(default_factory=CommandBoard)
    history: HistoryStore = field(default_factory=ConnectionHistory)
    limits: Limits = field(default_factory=Limits)
    max_pending_keys: int = MAX_PENDING_KEYS
    vm_directory: Optional[VMDirectory] = None


class HMPMonitor:
    """QEMU's HMP monitor as one client sees it (a :class:`~hmpbridge.interfaces.MonitorSession`).

    :param config: what the listener's sessions share.
    :param state: this session's state (identity, history, current CPU, ...).
    :param output: the connection's write guard, when there is one: every
        write is counted by it (through the channel), and while the client
        reads none of its output, no further line runs (the guard drops a
        client that stays so; see :mod:`hmpbridge.flow`).
    """

    _log = Logger()
    #: whether QMP events and the bridge's notices are shown (``.events on``)
    events_on: bool

    def __init__(self, config: SessionConfig, state: Optional[SessionState] = None,
                 output: Optional[WriteGuard] = None) -> None:
        self._config = config
        self._listener_config = config
        self._output = output
        self.state = state if state is not None else SessionState()
        self._channel: Optional[MonitorChannel] = None
        self._editor = LineEditor(lambda: self.state.history, _encode(PROMPT),
                                  release=self._release)
        self._keys = KeyQueue(self._pause, self._resume, config.max_pending_keys)
        self._lines = LineRunner(config.runner, self.state, self, config.board, config.history,
                                 config.clock, self._tell, lambda: self.events_on)
        self._lines.load_history()
        self._out = bytearray()
        self._unsubscribe: Callable[[], None] = lambda: None
        self.events_on = False
        if config.events_on:
            self.set_events(True)
        self._completing = False
        self._reading = False
        self._turn: Optional[Any] = None
        self._eof = False
        self._closed = False
        directory = config.vm_directory
        self._vms = VMChoice(directory, lambda: self.state.identity, self._switch,
                             config.clock) if directory is not None else None

    @property
    def vms(self) -> Optional[VMChoice]:
        """The session's choice of VM, on a listener shared by several (else None)."""
        return self._vms

    def _switch(self, target: Optional[VMTarget], reason: str) -> None:
        """Talk to ``target`` from the next line (None: answer lines with ``reason``).

        As on another monitor of another QEMU, the current CPU and mouse
        buttons start afresh; the history, the events setting and a passed
        descriptor stay with the session.
        """
        shared = self._listener_config
        if target is None:
            base = shared.runner
            config = replace(shared, runner=base.saying(reason) if isinstance(base, NoVM)
                             else NoVM(reason))
        else:
            config = replace(shared, runner=target.runner, executor=target.executor,
                             events=target.events, board=target.board)
            identity = self.state.identity
            if identity is not None:
                self.state.identity = identity.on(target.name)
        self._config = config
        self._lines.retarget(config.runner, config.board)
        self.state.cpu_index = 0
        self.state.mouse_buttons = 0
        self.set_events(self.events_on)
        if reason:
            self.notice(reason.rstrip("\n"))  # to a session with events on only

    @property
    def busy(self) -> bool:
        """Whether a line runs or a completion is being found (keys wait meanwhile)."""
        return self._lines.running or self._completing

    # -- MonitorSession -----------------------------------------------------------

    def started(self, channel: MonitorChannel) -> None:
        """Write the banner and the first prompt, in one write."""
        self._channel = channel
        if self._output is not None:
            channel.count_output(self._output.wrote)
            self._output.resumed = self._read_keys
        self._out += puts(self._config.runner.banner()) + self._editor.show_prompt()
        self._flush()

    def received(self, data: bytes) -> None:
        """Bytes the client sent: keys for the editor, read in order."""
        if self._closed or not data:
            return
        self._keys.add(data)
        self._read_keys()

    def input_ended(self) -> None:
        """The client sends nothing more: answer what it sent, then close."""
        self._eof = True
        self._read_keys()

    def ended(self) -> None:
        """The connection is gone: nothing more is written or run."""
        if self._closed and self._channel is None:
            return
        self._closed = True
        self._channel = None
        self._lines.dropped(_lines_in(self._keys.clear()))
        if self._turn is not None and self._turn.active():
            self._turn.cancel()
        self._turn = None
        self._unsubscribe()
        self._lines.stop()
        self.descriptor(None)
        try:
            self._lines.save_history()
        except Exception:  # noqa: BLE001 - a store that fails must not stop the close
            self._log.failure("Saving the history failed")

    def descriptor(self, fd: Optional[int]) -> None:
        """Keep the descriptor a client passed for ``getfd``; a newer one replaces it."""
        old, self.state.received_fd = self.state.received_fd, fd
        if old is not None:
            try:
                os.close(old)
            except OSError:
                pass

    def identified(self) -> None:
        """The user became known after the session began: take that user's history."""
        self._lines.adopt_history()

    # -- reading keys -----------------------------------------------------------------

    def _release(self) -> "tuple[int, int]":
        executor = self._config.executor
        return executor.profile.release if executor is not None else (7, 2)

    def _read_keys(self) -> None:
        """Feed the editor until a line runs, a completion is asked, or the keys run out.

        A line answered at once (an empty line, a parse error) comes back
        here through :meth:`_answered`; the loop goes on instead of recursing.
        After :data:`TURN_LINES` lines, :data:`TURN_ECHO` bytes of echo or
        :data:`TURN_READ` keys, the rest waits for the next turn.
        """
        if self._reading:
            return
        self._reading = True
        try:
            lines = echoed = read = 0
            while len(self._keys) and not self.busy and not self._closed \
                    and not self._output_stalled():
                if lines >= TURN_LINES or echoed >= TURN_ECHO or read >= TURN_READ:
                    if self._turn is None:
                        self._turn = self._config.clock.callLater(0, self._next_turn)
                    break
                # a full line passes over printable keys at once: more of them per feed
                keys = self._keys.take(TURN_READ if self._editor.full else TURN_KEYS)
                step = self._editor.feed(keys)
                self._keys.put_back(step.rest)
                read += len(keys) - len(step.rest)
                self._out += step.echo
                echoed += len(step.echo)
                if step.line is not None:
                    lines += 1
                    self._run(step.line)
                elif step.complete is not None:
                    self._completing = True
                    self._find(step.complete).addCallback(self._completed)
            self._keys.settle()
            if self._eof and not len(self._keys) and not self.busy and not self._closed:
                self._flush()
                self._close()
        finally:
            self._reading = False
        self._flush()

    def _output_stalled(self) -> bool:
        """Whether the client reads none of its output (no line runs meanwhile)."""
        return self._output is not None and self._output.paused

    def _next_turn(self) -> None:
        self._turn = None
        self._read_keys()

    def _run(self, line: str) -> None:
        self._lines.run(line).addCallback(self._answered)
        # the echo of the line leaves once its command is on its way to QEMU (or
        # with its answer, when it has one already): always before the answer
        self._flush()

    def _answered(self, text: str) -> None:
        if self._closed:
            return  # the client left; its late answer goes nowhere
        if self.state.close_requested:
            self._out += puts(text)
            self._flush()
            self._close()
            return
        self._out += puts(text) + self._editor.show_prompt()
        self._flush()
        self._read_keys()

    # -- completion ---------------------------------------------------------------------

    def _find(self, text: str) -> "Deferred[Completion]":
        """The candidates for ``text``, QMP questions asked through the executor."""
        if is_bridge_command(text):
            candidates, word = complete_bridge_command(text, self)
            return succeed(Completion(candidates, len(_encode(word))))
        executor = self._config.executor
        if executor is None and self._vms is not None:
            return succeed(Completion())  # no VM to ask
        ctx = CompletionContext(
            schema_commands=executor.schema_commands if executor is not None else None,
            passthrough=self._config.runner.passthrough,
            table=executor.profile.table if executor is not None else table_for((7, 2)),
            schema=executor.profile.schema if executor is not None else None,
            profile=executor.profile if executor is not None else None,
            listdir=_listdir, isdir=os.path.isdir)
        return complete_with(executor, text, ctx, self._config.clock)

    def _completed(self, found: Completion) -> None:
        self._completing = False
        if self._closed:
            return
        self._out += self._editor.completed(found.candidates, found.index)
        self._flush()
        self._read_keys()

    # -- events and notices ---------------------------------------------------------------

    def set_events(self, on: bool) -> None:
        """Show QMP events and the bridge's notices in this session (``.events on``), or stop."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        hub = self._config.events
        # on a shared listener, the wish stays while no VM is chosen
        self.events_on = on and (hub is not None or self._listener_config.vm_directory is not None)
        if on and hub is not None:
            self._unsubscribe = hub.subscribe(self._event)

    def recent_events(self) -> List[Mapping[str, Any]]:
        """Events kept for late joiners, oldest first."""
        hub = self._config.events
        return list(hub.recent) if hub is not None else []

    def _event(self, event: Mapping[str, Any]) -> None:
        self.notice(format_event(event))

    def notice(self, line: str) -> None:
        """Tell an operator who asked for events ``line`` (an event, QEMU gone or back).

        A session without events on is told nothing: it would read the line
        as the answer to its next command.  While a command runs, the line
        lands before its answer; at the prompt, it is printed above the line
        being typed, which is then shown again.
        """
        if self._closed or not self.events_on:
            return
        self._tell(line)

    def _tell(self, line: str) -> None:
        if self._closed:
            return
        if self._lines.running:
            self._out += puts(line + "\n")  # lands before the answer and its prompt
        else:
            self._out += self._editor.interrupt(line + "\n")
        self._flush()

    # -- output -----------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._out and self._channel is not None and not self._closed:
            data = bytes(self._out)
            self._out.clear()
            self._channel.write(data)
        else:
            self._out.clear()

    def _close(self) -> None:
        channel = self._channel
        if channel is not None and not self._closed:
            self._closed = True
            channel.loseConnection()

    def _pause(self) -> None:
        if self._channel is not None:
            self._channel.pauseProducing()

    def _resume(self) -> None:
        if self._channel is not None and not self._closed:
            self._channel.resumeProducing()


def monitor_for(config: SessionConfig, state: SessionState, transport: StreamTransport,
                peer: str = "") -> HMPMonitor:
    """The session of one connection, its output watched by a write guard on ``transport``
    (the connection under the channel) with ``config.limits``."""
    guard = WriteGuard(transport, config.clock, stall_timeout=config.limits.stall_timeout,
                       max_pending=config.limits.max_unread, peer=peer)
    return HMPMonitor(config, state, output=guard)


def _lines_in(keys: bytes) -> List[str]:
    """The lines finished in ``keys`` (the client left before they ran)."""
    editor = LineEditor(lambda: [])
    lines = []
    while keys:
        step = editor.feed(keys)
        keys = step.rest
        if step.line is not None:
            lines.append(step.line)
    return lines



def _listdir(path: str) -> List[str]:
    """Directory entries for file name completion; nothing for a directory it cannot read."""
    try:
        return os.listdir(path)
    except OSError:
        return []
