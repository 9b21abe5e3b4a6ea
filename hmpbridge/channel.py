"""The framing of an HMP listener's connections: each one of QEMU's monitor chardevs.

:class:`ChardevChannel` is the Twisted protocol of one client connection and
the :class:`~hmpbridge.interfaces.MonitorChannel` of the
:class:`~hmpbridge.interfaces.MonitorSession` it carries.  Its kind is one of
QEMU's socket chardevs (the byte rules are :mod:`hmpbridge.chardev`):

* ``telnet``: at connect it writes QEMU's twelve negotiation bytes, then
  starts the session; it takes telnet commands out of the input as QEMU
  does and answers none of them;
* ``plain``: it writes nothing of its own and passes every byte on.

Output goes out as the session writes it (the session writes ``\\r\\n`` line
ends, as QEMU's monitor does), each write counted for the session's write
guard (:meth:`ChardevChannel.count_output`).

A long read is handed on :data:`TURN_BYTES` bytes per turn of the reactor
(QEMU's socket chardev reads at most that much at once,
``CHR_READ_BUF_LEN``); the rest waits for the next turn with reading from
that client paused, so one client's 64 KiB read does not hold up the others.
A half-close (``nc -N``) is told to the session once everything read before
it is handed on; a descriptor passed over a unix socket goes to the session
(``getfd``).
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from twisted.internet.interfaces import (IDelayedCall, IFileDescriptorReceiver,
                                         IHalfCloseableProtocol, IReactorTime, ITCPTransport)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.chardev import KINDS, TELNET, connect_bytes
from hmpbridge.telnet import TelnetInput
from hmpbridge.send_now import write_now
from hmpbridge.interfaces import MonitorSession, OutputMeter, connected
from hmpbridge.peercred import describe_peer

__all__ = ["ChardevChannel", "TURN_BYTES", "SessionBuilder"]

#: Bytes of one client's input handed to its session per turn of the reactor
#: (QEMU's socket chardev reads at most ``CHR_READ_BUF_LEN``, 4096, at once).
TURN_BYTES = 4096

#: Makes the session a channel carries, once the connection is up.
SessionBuilder = Callable[["ChardevChannel"], MonitorSession]


@implementer(IHalfCloseableProtocol, IFileDescriptorReceiver)
class ChardevChannel(Protocol):
    """One client connection, framed as QEMU's ``kind`` of monitor chardev.

    :param kind: ``telnet`` or ``plain`` (see :mod:`hmpbridge.chardev`).
    :param build: makes the session once the connection is up (it may ask the
        channel for its transport, to watch its send buffer).
    :param clock: times the turns in which a long read is handed on.
    """

    _log = Logger()

    def __init__(self, kind: str, build: SessionBuilder, clock: IReactorTime) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown chardev kind {kind!r} (one of {', '.join(KINDS)})")
        self.kind = kind
        self._build = build
        self._clock = clock
        self._telnet: Optional[TelnetInput] = TelnetInput() if kind == TELNET else None
        self._session: Optional[MonitorSession] = None
        self._meter: Optional[OutputMeter] = None
        self._backlog = b""  # the rest of a read, handed on in later turns
        self._next_turn: Optional[IDelayedCall] = None
        self._session_paused = False  # reading paused by the session
        self._input_ended = False  # the client half-closed (told once the backlog is out)
        self._closing = False
        self._gone = False

    # -- MonitorChannel ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send ``data`` as it is."""
        if self._gone or not data:
            return
        write_now(connected(self), data)
        if self._meter is not None:
            self._meter(len(data))

    def loseConnection(self) -> None:
        self._closing = True
        connected(self).loseConnection()

    def pauseProducing(self) -> None:
        self._session_paused = True
        if not self._backlog:
            connected(self).pauseProducing()

    def resumeProducing(self) -> None:
        self._session_paused = False
        if self._backlog:
            self._schedule()  # reading resumes once the backlog is handed on
        elif not self._closing and not self._gone:
            connected(self).resumeProducing()

    def count_output(self, meter: OutputMeter) -> None:
        self._meter = meter

    def peer_text(self) -> str:
        return describe_peer(connected(self))

    # -- Twisted ------------------------------------------------------------------

    def connectionMade(self) -> None:
        transport = connected(self)
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)  # a typed key is echoed at once
        self.write(connect_bytes(self.kind))
        self._session = self._build(self)
        self._session.started(self)

    def dataReceived(self, data: bytes) -> None:
        if self._backlog:
            self._backlog += data  # delivered while reading was paused (TLS): after the rest
            return
        self._hand_on(data)

    def _hand_on(self, data: bytes) -> None:
        """Hand this turn's share of ``data`` to the session; keep the rest for the next turn."""
        chunk, rest = data[:TURN_BYTES], data[TURN_BYTES:]
        if rest:
            if not self._backlog and not self._session_paused and not self._closing:
                connected(self).pauseProducing()
            self._backlog = rest
        if self._telnet is not None:
            chunk = self._telnet.feed(chunk)
        session = self._session
        if chunk and session is not None and not self._gone:
            session.received(chunk)
        if self._backlog:
            if not self._session_paused:
                self._schedule()
        elif self._input_ended:
            self._input_ended = False
            self._end_input()

    def _schedule(self) -> None:
        if self._next_turn is None and not self._gone:
            self._next_turn = self._clock.callLater(0, self._turn)

    def _turn(self) -> None:
        self._next_turn = None
        if self._session_paused or self._gone:
            return
        data, self._backlog = self._backlog, b""
        self._hand_on(data)
        if not self._backlog and not self._session_paused and not self._closing \
                and not self._gone:
            connected(self).resumeProducing()

    def readConnectionLost(self) -> None:
        """The client half-closed: the session hears of it after what came before."""
        if self._backlog:
            self._input_ended = True
            return
        self._end_input()

    def _end_input(self) -> None:
        if self._session is not None and not self._gone:
            self._session.input_ended()
        else:
            self.loseConnection()

    def writeConnectionLost(self) -> None:
        self.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._gone = True
        self._backlog = b""
        if self._next_turn is not None and self._next_turn.active():
            self._next_turn.cancel()
        self._next_turn = None
        session, self._session = self._session, None
        if session is not None:
            session.ended()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """A descriptor passed over a unix socket (SCM_RIGHTS): the session's, for ``getfd``."""
        if self._session is not None and not self._gone:
            self._session.descriptor(descriptor)
        else:
            os.close(descriptor)

    def identified(self) -> None:
        """The client proved who it is (a TLS certificate): tell the session."""
        if self._session is not None and not self._gone:
            self._session.identified()
