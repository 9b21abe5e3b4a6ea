"""One HMP session: lines in, QEMU's text and the ``(qemu) `` prompt out.

:class:`HMPSession` is the application protocol inside a Telnet transport
(:class:`HMPTelnetTransport`), which strips telnet commands, answers option
negotiation and turns ``\\r\\n`` and ``\\r\\0`` into one line end.  The
session runs one line at a time, in the order received, through the shared
:class:`~hmpbridge.runner.CommandRunner`, and writes each answer together
with the next prompt in a single write.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Deque, List, Mapping, Optional

from twisted.conch.telnet import TelnetProtocol, TelnetTransport
from twisted.internet.interfaces import (IFileDescriptorReceiver, IHalfCloseableProtocol,
                                         ITCPTransport)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.bridge_cmds import is_bridge_command, run_bridge_command
from hmpbridge.events import EventHub
from hmpbridge.model import SessionState
from hmpbridge.render.events import format_event
from hmpbridge.runner import CommandRunner, remember

__all__ = ["HMPSession", "HMPTelnetTransport", "PROMPT", "MAX_LINE", "MAX_QUEUED_LINES"]

PROMPT = "(qemu) "

#: QEMU's readline keeps at most 4095 characters of a line and drops the rest.
MAX_LINE = 4095

#: Lines a client may have waiting before the session stops reading from it.
MAX_QUEUED_LINES = 256

_LINE_ENDS = frozenset(b"\r\n")


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
                 events: Optional[EventHub] = None, events_on: bool = False) -> None:
        self.runner = runner
        self.state = state if state is not None else SessionState()
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

    # -- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        inner = getattr(self.transport, "transport", None)
        if ITCPTransport.providedBy(inner):
            inner.setTcpNoDelay(True)
        self._write(self.runner.banner() + PROMPT)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[override]
        self._closed = True
        self._lines.clear()
        self._unsubscribe()
        self.fd_received(None)

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
        if self._partial:
            self._take_line(bytes(self._partial))
            self._partial.clear()
        self._pump()

    # -- input --------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
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
        if self._busy or self._closed:
            return
        if not self._lines:
            if self._eof:
                self.transport.loseConnection()
            return
        if self._paused and len(self._lines) < MAX_QUEUED_LINES // 2:
            self._paused = False
            self.transport.resumeProducing()
        self._busy = True
        line = self._lines.popleft()
        if is_bridge_command(line):
            remember(self.state, line)
            self._answered(run_bridge_command(line, self))
            return
        self.runner.run(line, self.state).addCallback(self._answered)

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
        else:
            self._write("\n" + line + "\n" + PROMPT)

    def _answered(self, text: str) -> None:
        self._busy = False
        if self._closed:
            return  # the client left; its late answer goes nowhere
        if self.state.close_requested:
            if text:
                self._write(text)
            self._closed = True
            self.transport.loseConnection()
            return
        self._write(text + PROMPT)
        self._pump()

    def _write(self, text: str) -> None:
        self.transport.write(_encode(text))


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

    def dataReceived(self, data: bytes) -> None:
        if self._after_cr and data:
            # the line already ended at the \r; its \n or \0 is not a new line
            self._after_cr = False
            if data[:1] in (b"\n", b"\0"):
                data = data[1:]
        if b"\xff" not in data and self.state != "escaped":
            super().dataReceived(data)
        else:
            # A byte at a time: Twisted raises on a command byte it does not
            # know and would lose the rest of the chunk with it.
            for index in range(len(data)):
                try:
                    super().dataReceived(data[index:index + 1])
                except ValueError:
                    self._log.warn("Ignoring an invalid telnet command from {peer}",
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
