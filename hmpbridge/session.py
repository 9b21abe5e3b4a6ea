"""One HMP session: lines in, QEMU's text and the ``(qemu) `` prompt out.

:class:`HMPSession` is the application protocol inside a Telnet transport
(:class:`HMPTelnetTransport`), which strips telnet commands, answers option
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

import itertools
import os
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Protocol, Tuple

from twisted.conch.telnet import ECHO, SGA, TelnetProtocol, TelnetTransport
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (IDelayedCall, IFileDescriptorReceiver,
                                         IHalfCloseableProtocol, IReactorTime, ITCPTransport)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.bridge_cmds import is_bridge_command, run_bridge_command
from hmpbridge.completion import Completion, CompletionContext, complete
from hmpbridge.errors import QMPError, QMPNotConnected
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.line_editor import LineEditor
from hmpbridge.events import EventHub
from hmpbridge.flow import WriteGuard
from hmpbridge.limits import Limits
from hmpbridge.model import SessionState
from hmpbridge.render.events import format_event
from hmpbridge.runner import CommandRunner, remember

__all__ = ["HMPSession", "HMPTelnetTransport", "PROMPT", "MAX_LINE", "MAX_QUEUED_LINES",
           "TELNET_MODES", "WAIT_NOTICE_DELAY", "CommandBoard", "HistoryStore",
           "ConnectionHistory", "waiting_notice"]

PROMPT = "(qemu) "

#: QEMU's readline keeps at most 4095 characters of a line and drops the rest.
MAX_LINE = 4095

#: Lines a client may have waiting before the session stops reading from it.
MAX_QUEUED_LINES = 256

_LINE_ENDS = frozenset(b"\r\n")

#: ``--telnet-mode`` values: when a client gets the interactive line editor.
TELNET_MODES = ("auto", "always", "never")

#: Seconds a command may wait behind another operator's before the operator is told.
WAIT_NOTICE_DELAY = 1.0

#: Typed bytes kept unread (while a command runs) before the session stops reading.
MAX_PENDING_KEYS = 65536


def waiting_notice(command: str) -> str:
    """What an operator whose command queues behind another operator's is told."""
    return f"(waiting for another operator's command: {command})"


class HistoryStore(Protocol):
    """Where a session's history comes from and goes back to.

    Keyed by who the operator is, so that a store that remembers (per
    authenticated user) can give an operator their history back next time.
    ``who`` is the user name of a password login or client certificate, and
    None for an operator known only by address: such history is never kept
    beyond the connection.  The session saves after each line and at its end.
    """

    def load(self, who: Optional[str]) -> List[str]:
        """The history to start a session with, oldest first."""

    def save(self, who: Optional[str], history: List[str]) -> None:
        """Keep a finished session's history."""


class ConnectionHistory:
    """History that lives as long as the connection: every session starts empty."""

    def load(self, who: Optional[str]) -> List[str]:
        return []

    def save(self, who: Optional[str], history: List[str]) -> None:
        return None


class CommandBoard:
    """Which session runs which command since when, across every listener.

    QEMU carries out QMP commands one after the other, so a command sent
    while another operator's slow one runs waits for it.
    """

    def __init__(self) -> None:
        self._running: Dict[int, Tuple[object, str]] = {}
        self._numbers = itertools.count()

    def start(self, session: object, line: str) -> int:
        """Note that ``session`` started ``line``; returns a ticket for :meth:`finish`."""
        ticket = next(self._numbers)
        words = line.split()
        name = " ".join(words[:2]) if words[:1] == ["info"] else " ".join(words[:1])
        self._running[ticket] = (session, name)
        return ticket

    def finish(self, ticket: int) -> None:
        """The command of ``ticket`` is answered."""
        self._running.pop(ticket, None)

    def ahead_of(self, ticket: int) -> Optional[str]:
        """The oldest other session's command, started earlier and still running."""
        mine = self._running.get(ticket)
        if mine is None:
            return None
        for other, (session, name) in sorted(self._running.items()):
            if other >= ticket:
                return None
            if session is not mine[0]:
                return name
        return None


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

    # -- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        inner = getattr(self.transport, "transport", None)
        if ITCPTransport.providedBy(inner):
            inner.setTcpNoDelay(True)
        if inner is not None and hasattr(inner, "registerProducer") and \
                getattr(inner, "producer", None) is None:
            clock = self._clock
            if clock is None:
                from twisted.internet import reactor as clock
            self._guard = WriteGuard(inner, clock, resumed=self._pump,
                                     stall_timeout=self._limits.stall_timeout,
                                     max_pending=self._limits.max_unread)
        self._write(self.runner.banner() + PROMPT)
        if self.telnet_mode == "always":
            self._offer_echo()
            self._enter_interactive()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[override]
        self._closed = True
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
        self.transport.will(ECHO).addCallbacks(lambda _: self._enter_interactive(),
                                               lambda _: None)
        self.transport.will(SGA).addErrback(lambda _: None)

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
                self.transport.pauseProducing()
            self._read_keys()
            return
        start = 0
        for index, byte in enumerate(data):
            if byte in _LINE_ENDS:
                self._extend(data[start:index])
                self._take_line(bytes(self._partial))
                self._partial.clear()
                self._overlong = False
                start = index + 1
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
            self.transport.pauseProducing()

    # -- running lines --------------------------------------------------------

    def _pump(self) -> None:
        if self._busy or self._closed or (self._guard is not None and self._guard.paused):
            return
        if not self._lines:
            if self._eof and not self._keys and not self._completing:
                self.transport.loseConnection()
            return
        if self._paused and len(self._lines) < MAX_QUEUED_LINES // 2:
            self._paused = False
            self.transport.resumeProducing()
        self._busy = True
        line = self._lines.popleft()
        if is_bridge_command(line):
            remember(self.state, line)
            self._keep_history()
            self._answered(run_bridge_command(line, self))
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
            self._clock = reactor  # type: ignore[assignment]
        return self._clock  # type: ignore[return-value]

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
            self.transport.resumeProducing()
        if self._eof and not self._busy and not self._completing and not self._closed:
            self._pump()

    async def _find(self, text: str) -> Completion:
        """Run the completion generator, its QMP questions through the executor."""
        executor = self._executor
        ctx = CompletionContext(
            schema_commands=executor.schema_commands if executor is not None else None,
            passthrough=bool(getattr(self.runner, "_passthrough", True)),
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
        self.events_on = on and self._hub is not None
        if self.events_on:
            self._unsubscribe = self._hub.subscribe(self._event)

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
            self.transport.loseConnection()
            return
        if self._editor is not None:
            self._write(text + _decode(self._editor.show_prompt()))
            self._pump()
            self._read_keys()
            return
        self._write(text + PROMPT)
        self._pump()

    def _write(self, text: str) -> None:
        data = _encode(text)
        self.transport.write(data)
        if self._guard is not None:
            self._guard.wrote(len(data))


def _listdir(path: str) -> List[str]:
    """Directory entries for file name completion; nothing for a directory it cannot read."""
    try:
        return os.listdir(path)
    except OSError:
        return []


@implementer(IHalfCloseableProtocol, IFileDescriptorReceiver)
class HMPTelnetTransport(TelnetTransport):
    """Telnet framing for an :class:`HMPSession`.

    Adds what HMP clients need on top of Twisted's telnet transport: a line
    ending in a bare ``\\r`` runs at once, a client that half-closes
    (``nc -N``) still gets every answer, and a stray telnet command byte
    from a client that does not speak telnet is ignored instead of dropping
    the connection.
    """

    _log = Logger()
    _after_cr = False
    _line_seen = False
    _warned = False

    def dataReceived(self, data: bytes) -> None:
        if not self._line_seen and (b"\r" in data or b"\n" in data):
            # telnet sends its first line as "text\r\n" in one packet
            self._line_seen = True
            if data.endswith(b"\r\n") and data.find(b"\r") == len(data) - 2 \
                    and data.find(b"\n") == len(data) - 1 and b"\xff" not in data:
                hook = getattr(self.protocol, "first_line_crlf", None)
                if hook is not None:
                    hook()
        cr = -1 if getattr(self.protocol, "interactive", False) else data.find(b"\r")
        while 0 <= cr < len(data) - 1:
            # Plain lines: every \r ends a chunk of its own, so a line ends the
            # same way however the bytes were split ("\r\r\n" is two lines).
            # Interactive sessions take \r as the Enter key in their editor.
            self._feed(data[:cr + 1])
            data = data[cr + 1:]
            cr = data.find(b"\r")
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if self._after_cr and data:
            # the line already ended at the \r; its \n or \0 is not a new line
            self._after_cr = False
            if data[:1] in (b"\n", b"\0"):
                data = data[1:]
        if self.state == "data" and b"\xff" not in data and b"\r" not in data:
            # nothing for the telnet state machine: skip its byte-by-byte walk
            if data:
                self.applicationDataReceived(data)
        elif b"\xff" not in data and self.state != "escaped":
            super().dataReceived(data)
        else:
            # A byte at a time: Twisted raises on a command byte it does not
            # know (or an empty sub-negotiation) and would lose the rest of
            # the chunk with it.
            for index in range(len(data)):
                try:
                    super().dataReceived(data[index:index + 1])
                except (ValueError, IndexError):
                    if not self._warned:
                        self._warned = True
                        self._log.warn("Ignoring invalid telnet commands from {peer}",
                                       peer=self.getPeer())
                    self.state = "data"
        if self.state == "newline":
            # A chunk ending in \r: end the line now rather than wait for the
            # next byte (expect scripts send "cmd\r" and wait for the prompt).
            self.state = "data"
            self._after_cr = True
            self.applicationDataReceived(b"\r")

    def readConnectionLost(self) -> None:
        protocol = self.protocol
        if protocol is not None and hasattr(protocol, "readConnectionLost"):
            protocol.readConnectionLost()
        else:
            self.loseConnection()

    def writeConnectionLost(self) -> None:
        self.loseConnection()

    # The session stops reading from a client with too many lines waiting.

    def pauseProducing(self) -> None:
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.transport.stopProducing()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """A descriptor passed over a unix socket (SCM_RIGHTS), for ``getfd``."""
        protocol = self.protocol
        if protocol is not None and hasattr(protocol, "fd_received"):
            protocol.fd_received(descriptor)
        else:
            os.close(descriptor)
