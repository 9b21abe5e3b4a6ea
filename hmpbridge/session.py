"""One HMP session: lines in, QEMU's text and the ``(qemu) `` prompt out.

:class:`HMPSession` is the application protocol inside a Telnet transport
(:class:`hmpbridge.telnet.HMPTelnetTransport`), which strips telnet commands, answers option
negotiation and turns ``\\r\\n`` and ``\\r\\0`` into one line end.  The
session runs one line at a time, in the order received, through the shared
:class:`~hmpbridge.runner.CommandRunner`, and writes each answer together
with the next prompt in a single write.

**Interactive mode.**  A client that lets the bridge echo (the ``telnet``
program answering ``IAC WILL ECHO``) gets QEMU's own line editor
(:mod:`hmpbridge.line_editor`): keys are echoed with QEMU's redraw
sequences, Up/Down walk this session's history, Tab completes
(:mod:`hmpbridge.completion`), events are printed above the half-typed line,
and a command that waits behind another operator's says so after a second.
Which clients get it is the listener's ``telnet_mode``: ``never`` (plain
lines only), ``always`` (offer echo at once, as QEMU's telnet chardev does),
or ``auto``: offer it only after a first line that ended in CR LF alone in
its packet, which is how ``telnet`` sends a line before any negotiation and
how ``echo | nc`` does not.  Everything else keeps the plain-line behaviour:
no echo, no ANSI sequences, no telnet bytes.
"""

from __future__ import annotations

import os
import re
from collections import deque
from typing import Any, Callable, Deque, List, Mapping, Optional, cast

from twisted.conch.telnet import ECHO, SGA, TelnetProtocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge.commands import table_for
from hmpbridge.board import WAIT_NOTICE_DELAY, CommandBoard, waiting_notice
from hmpbridge.bridge_cmds import is_bridge_command, run_bridge_command
from hmpbridge.completion import Completion, CompletionContext, complete
from hmpbridge.errors import QMPError, QMPNotConnected
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.line_editor import LineEditor
from hmpbridge.events import EventHub
from hmpbridge.flow import WriteGuard
from hmpbridge.history import ConnectionHistory, HistoryStore
from hmpbridge.limits import MAX_LINE, Limits
from hmpbridge.model import SessionState
from hmpbridge.peercred import describe_peer, identify
from hmpbridge.render.events import format_event
from hmpbridge.runner import CommandRunner, remember
from hmpbridge.telnet import HMPTelnetTransport

__all__ = ["HMPSession", "PROMPT", "MAX_QUEUED_LINES", "TELNET_MODES"]

PROMPT = "(qemu) "

#: Lines a client may have waiting before the session stops reading from it.
MAX_QUEUED_LINES = 256

_LINE_END = re.compile(rb"[\r\n]")

#: ``--telnet-mode`` values: when a client gets the interactive line editor.
TELNET_MODES = ("auto", "always", "never")

#: Lines answered at once (empty lines, errors) run per reactor turn; the rest
#: wait for the next turn, so one client's burst does not hold up the others.
TURN_LINES = 64

#: Typed bytes kept unread (while a command runs) before the session stops reading.
MAX_PENDING_KEYS = 65536


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class HMPSession(TelnetProtocol):
    """The HMP monitor as one client sees it.

    :param runner: runs lines and renders their output.
    :param state: this session's state (history, current CPU, ...).
    """

    _log = Logger()

    def __init__(self, runner: CommandRunner, state: Optional[SessionState] = None,
                 events: Optional[EventHub] = None, events_on: bool = False,
                 clock: Optional[IReactorTime] = None, telnet_mode: str = "never",
                 executor: Optional[CommandExecutor] = None,
                 board: Optional[CommandBoard] = None,
                 history: Optional[HistoryStore] = None,
                 limits: Optional[Limits] = None) -> None:
        self.runner = runner
        self._clock = clock
        self._limits = limits or Limits()
        self.state = state if state is not None else SessionState()
        if telnet_mode not in TELNET_MODES:
            raise ValueError(f"telnet mode must be one of {', '.join(TELNET_MODES)}")
        self.telnet_mode = telnet_mode
        self._executor = executor
        self._board = board if board is not None else CommandBoard()
        self._history_store: HistoryStore = history if history is not None \
            else ConnectionHistory()
        self.state.history[:] = self._history_store.load(self._who())
        self._saved_history: List[str] = list(self.state.history)
        self.interactive = False
        self._editor: Optional[LineEditor] = None
        self._keys = bytearray()
        self._completing = False
        self._probed = False
        self._ticket: Optional[int] = None
        self._wait_call: Optional[IDelayedCall] = None
        self._hub = events
        self._unsubscribe: Callable[[], None] = lambda: None
        self.events_on = False
        if events_on:
            self.set_events(True)
        self._partial = bytearray()
        self._overlong = False
        self._lines: Deque[str] = deque()
        self._busy = False
        self._paused = False
        self._eof = False
        self._closed = False
        self._guard: Optional[WriteGuard] = None
        self._pumping = False
        self._pump_again = False

    # -- connection ---------------------------------------------------------

    @property
    def _telnet(self) -> HMPTelnetTransport:
        """The telnet framing this session runs in (there from ``connectionMade`` on)."""
        assert self.transport is not None, "the session was never connected"
        return cast(HMPTelnetTransport, self.transport)

    def connectionMade(self) -> None:
        if self.state.identity is not None:
            # a unix-socket client is named after the user it runs as (SO_PEERCRED)
            self.state.identity = identify(self.state.identity, self.transport)
        inner = getattr(self.transport, "transport", None)
        if ITCPTransport.providedBy(inner):
            inner.setTcpNoDelay(True)
        if inner is not None and hasattr(inner, "registerProducer") and \
                getattr(inner, "producer", None) is None:
            identity = self.state.identity
            self._guard = WriteGuard(inner, self._reactor(), resumed=self._pump,
                                     stall_timeout=self._limits.stall_timeout,
                                     max_pending=self._limits.max_unread,
                                     peer=identity.peer if identity is not None
                                     else describe_peer(self.transport))
            # every byte written for this client counts, telnet answers included
            self._telnet.count_output(self._guard.wrote)
        self._write(self.runner.banner() + PROMPT)
        if self.telnet_mode == "always":
            self._offer_echo()
            self._enter_interactive()

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._closed = True
        for line in self._lines:  # sent, never run: the audit log still says so
            if line.strip():
                self.runner.audit(self.state.identity, {"hmp": line}, "dropped")
        self._lines.clear()
        self._unsubscribe()
        self._stop_waiting()
        self.fd_received(None)
        self._history_store.save(self._who(), list(self.state.history))

    def _who(self) -> Optional[str]:
        """The authenticated user name whose history this is (None: known only by address)."""
        identity = self.state.identity
        if identity is None or getattr(identity, "method", "peer") == "peer":
            return None
        return getattr(identity, "name", None)

    def _keep_history(self) -> None:
        """Save the history when a line changed it, so a crash loses no line."""
        if self.state.history != self._saved_history:
            self._saved_history = list(self.state.history)
            try:
                self._history_store.save(self._who(), self._saved_history)
            except Exception:  # noqa: BLE001 - a store that fails must not stop the line
                self._log.failure("Saving the history failed")

    def identified(self) -> None:
        """The user became known after the session began (a TLS client certificate).

        The session takes that user's kept history; lines already typed stay newest.
        """
        typed = list(self.state.history)
        self.state.history[:] = self._history_store.load(self._who())
        for line in typed:
            remember(self.state, line)
        self._saved_history = list(self.state.history)

    # -- telnet negotiation -----------------------------------------------------

    def first_line_crlf(self) -> None:
        """The client's first line ended in CR LF, alone in its packet (``telnet``'s way)."""
        if self.telnet_mode == "auto":
            self._offer_echo()

    def _offer_echo(self) -> None:
        """Offer to echo and to suppress go-ahead, as QEMU's telnet chardev does."""
        if self._probed:
            return
        self._probed = True
        self._telnet.will(ECHO).addCallbacks(lambda _: self._enter_interactive(),
                                             lambda _: None)
        self._telnet.will(SGA).addErrback(lambda _: None)

    def enableLocal(self, option: bytes) -> bool:
        """A client asking the bridge to echo gets the line editor (unless mode is never)."""
        if self.telnet_mode == "never" or option not in (ECHO, SGA):
            return False
        if option == ECHO:
            self._enter_interactive()
        return True

    def disableLocal(self, option: bytes) -> None:
        """The client takes echo back: the editor stays, its echo is harmless."""

    def _enter_interactive(self) -> None:
        if self.interactive or self._closed:
            return
        self.interactive = True
        self._editor = LineEditor(lambda: self.state.history, _encode(PROMPT))
        self._editor.show_prompt()
        self._keys += self._partial
        self._partial.clear()
        self._read_keys()

    def fd_received(self, fd: Optional[int]) -> None:
        """Keep the descriptor a client passed for ``getfd``; a newer one replaces it."""
        old, self.state.received_fd = self.state.received_fd, fd
        if old is not None:
            try:
                os.close(old)
            except OSError:
                pass

    def readConnectionLost(self) -> None:
        """The client closed its sending side: answer what it sent, then close."""
        self._eof = True
        if self.interactive:
            self._read_keys()
        if self._partial:
            self._take_line(bytes(self._partial))
            self._partial.clear()
        self._pump()

    # -- input --------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.interactive:
            self._keys += data
            if len(self._keys) > MAX_PENDING_KEYS and not self._paused:
                self._paused = True
                self._telnet.pauseProducing()
            self._read_keys()
            return
        start = 0
        end = _LINE_END.search(data)
        while end is not None:
            index = end.start()
            self._extend(data[start:index])
            self._take_line(bytes(self._partial))
            self._partial.clear()
            self._overlong = False
            start = index + 1
            end = _LINE_END.search(data, start)
        self._extend(data[start:])
        self._pump()

    def _extend(self, chunk: bytes) -> None:
        room = MAX_LINE - len(self._partial)
        if len(chunk) > room:
            chunk = chunk[:max(room, 0)]
            if not self._overlong:
                self._overlong = True
                self._log.warn("Truncating a line longer than {limit} bytes", limit=MAX_LINE)
        self._partial += chunk

    def _take_line(self, raw: bytes) -> None:
        self._lines.append(_decode(raw))
        if len(self._lines) >= MAX_QUEUED_LINES and not self._paused:
            self._paused = True
            self._telnet.pauseProducing()

    # -- running lines --------------------------------------------------------

    def _pump(self) -> None:
        """Run the next queued line, and the ones after it that are answered at once.

        A line answered at once (an empty line, a parse error) calls back into
        here from :meth:`_answered`; the loop takes the next line instead of
        recursing, so a read of thousands of such lines is a loop, not a stack.
        """
        if self._pumping:
            self._pump_again = True
            return
        self._pumping = True
        try:
            self._pump_again = True
            for _ in range(TURN_LINES):
                if not self._pump_again:
                    return
                self._pump_again = False
                self._run_next()
            if self._pump_again:
                # the rest next turn: other clients are served in between
                self._reactor().callLater(0, self._pump)
        finally:
            self._pumping = False

    def _run_next(self) -> None:
        if self._busy or self._closed or (self._guard is not None and self._guard.paused):
            return
        if not self._lines:
            if self._eof and not self._keys and not self._completing:
                self._telnet.loseConnection()
            return
        if self._paused and len(self._lines) < MAX_QUEUED_LINES // 2:
            self._paused = False
            self._telnet.resumeProducing()
        self._busy = True
        line = self._lines.popleft()
        if is_bridge_command(line):
            remember(self.state, line)
            self._keep_history()
            text = run_bridge_command(line, self)
            self.runner.audit(self.state.identity, {"hmp": line}, "ok")
            self._answered(text)
            return
        self._ticket = self._board.start(self, line)
        if self.interactive:
            self._wait_call = self._reactor().callLater(WAIT_NOTICE_DELAY, self._waiting)
        answer = self.runner.run(line, self.state)
        self._keep_history()
        answer.addCallback(self._answered)

    def _reactor(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor
            self._clock = reactor
        return self._clock

    def _waiting(self) -> None:
        """A second has passed: say so if another operator's command is ahead of ours."""
        self._wait_call = None
        if self._ticket is None or self._closed:
            return
        other = self._board.ahead_of(self._ticket)
        if other is not None:
            self._write(waiting_notice(other) + "\n")

    def _stop_waiting(self) -> None:
        if self._wait_call is not None and self._wait_call.active():
            self._wait_call.cancel()
        self._wait_call = None
        if self._ticket is not None:
            self._board.finish(self._ticket)
            self._ticket = None

    # -- interactive mode -------------------------------------------------------

    def _read_keys(self) -> None:
        """Feed typed keys to the editor until a line runs or a completion is asked."""
        editor = self._editor
        while editor is not None and self._keys and not self._busy \
                and not self._completing and not self._closed:
            data = bytes(self._keys)
            self._keys.clear()
            step = editor.feed(data)
            self._keys[:0] = step.rest
            if step.echo:
                self._echo(step.echo)
            if step.line is not None:
                self._lines.append(step.line)
                self._pump()
            elif step.complete is not None:
                self._completing = True
                Deferred.fromCoroutine(self._find(step.complete)).addCallback(self._completed)
        if self._paused and len(self._keys) < MAX_PENDING_KEYS // 2 and \
                len(self._lines) < MAX_QUEUED_LINES // 2:
            self._paused = False
            self._telnet.resumeProducing()
        if self._eof and not self._busy and not self._completing and not self._closed:
            self._pump()

    async def _find(self, text: str) -> Completion:
        """Run the completion generator, its QMP questions through the executor."""
        executor = self._executor
        ctx = CompletionContext(
            schema_commands=executor.schema_commands if executor is not None else None,
            passthrough=bool(getattr(self.runner, "_passthrough", True)),
            table=executor.profile.table if executor is not None else table_for((7, 2)),
            schema=executor.profile.schema if executor is not None else None,
            listdir=_listdir, isdir=os.path.isdir)
        gen = complete(text, ctx)
        value: Any = None
        error: Optional[BaseException] = None
        try:
            while True:
                try:
                    command = gen.throw(error) if error is not None else gen.send(value)
                except StopIteration as stop:
                    return stop.value if isinstance(stop.value, Completion) else Completion()
                if executor is None:
                    value, error = None, QMPNotConnected("no QMP connection")
                    continue
                try:
                    value, error = await executor.execute(command), None
                except QMPError as err:
                    value, error = None, err
        except Exception:  # noqa: BLE001 - a failed completion offers nothing
            self._log.failure("Completion of {text!r} failed", text=text)
            return Completion()

    def _completed(self, found: Completion) -> None:
        self._completing = False
        if self._closed or self._editor is None:
            return
        echo = self._editor.completed(found.candidates, found.index)
        if echo:
            self._echo(echo)
        self._read_keys()

    def _echo(self, data: bytes) -> None:
        """Write editor bytes; the telnet transport turns each ``\\n`` into CR LF."""
        self._write(_decode(data.replace(b"\r\n", b"\n")))

    # -- events ---------------------------------------------------------------

    def set_events(self, on: bool) -> None:
        """Show QMP events in this session (``.events on``), or stop."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        hub = self._hub
        self.events_on = on and hub is not None
        if on and hub is not None:
            self._unsubscribe = hub.subscribe(self._event)

    def recent_events(self) -> List[Mapping[str, Any]]:
        """Events kept for late joiners, oldest first."""
        return list(self._hub.recent) if self._hub is not None else []

    def _event(self, event: Mapping[str, Any]) -> None:
        self.notice(format_event(event))

    def notice(self, line: str) -> None:
        """Tell the operator ``line`` out of band (an event, QEMU going away or back).

        While a command runs, the line lands before its answer; at the prompt,
        it is printed on a line of its own and the prompt shown again.
        """
        if self._closed:
            return
        if self._busy:
            self._write(line + "\n")  # lands before the answer and its prompt
        elif self._editor is not None:
            self._echo(self._editor.interrupt(line + "\n"))  # above the half-typed line
        else:
            self._write("\n" + line + "\n" + PROMPT)

    def _answered(self, text: str) -> None:
        self._busy = False
        self._stop_waiting()
        if self._closed:
            return  # the client left; its late answer goes nowhere
        if self.state.close_requested:
            if text:
                self._write(text)
            self._closed = True
            self._telnet.loseConnection()
            return
        if self._editor is not None:
            self._write(text + _decode(self._editor.show_prompt()))
            self._pump()
            self._read_keys()
            return
        self._write(text + PROMPT)
        self._pump()

    def _write(self, text: str) -> None:
        self._telnet.write(_encode(text))  # counted by the write guard, if any


def _listdir(path: str) -> List[str]:
    """Directory entries for file name completion; nothing for a directory it cannot read."""
    try:
        return os.listdir(path)
    except OSError:
        return []
