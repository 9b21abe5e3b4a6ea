"""Telnet framing for HMP sessions, forgiving of clients that do not speak telnet.

:class:`HMPTelnetTransport` is Twisted's telnet transport with what HMP
clients need on top: a line ending in a bare ``\\r`` runs at once, ``\\r\\r\\n``
ends the same lines however it is split, a client that half-closes (``nc -N``)
still gets every answer, descriptors passed over a unix socket reach the
session (``getfd``), and an invalid telnet command is ignored instead of
dropping the connection.

Input is parsed with ``bytes.find``: runs of data, escaped 0xff bytes
included, reach the session in one call, and only telnet commands are read a
byte at a time.  Every byte written to the client, the answers to option
negotiation included, is reported to the session's write guard
(:meth:`HMPTelnetTransport.count_output`), so a client that never reads the
answers to its own option flood is dropped at ``--max-unread`` like any other.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional

from twisted.conch.telnet import (
    AO,
    AYT,
    BRK,
    DM,
    DO,
    DONT,
    EC,
    EL,
    EOR,
    GA,
    IAC,
    IP,
    NOP,
    SB,
    SE,
    WILL,
    WONT,
    TelnetTransport,
)
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.logger import Logger
from zope.interface import implementer

from hmpbridge.interfaces import connected

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IAddress

    from hmpbridge.model import SessionState

__all__ = ["HMPTelnetTransport", "OutputMeter"]

#: Told the size of every write to the client (the session's write guard).
OutputMeter = Callable[[int], None]

_IAC_RUN = re.compile(rb"\xff+")
_CR_PAIR = re.compile(rb"\r([\s\S])")
_BARE_COMMANDS = frozenset((EOR, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA))
_OPTION_COMMANDS = frozenset((WILL, WONT, DO, DONT))


def _cr_pair(match: "re.Match[bytes]") -> bytes:
    """Telnet's reading of ``\\r`` and the byte after it (as Twisted's state machine)."""
    after = match.group(1)
    if after == b"\n":
        return b"\n"
    if after == b"\0":
        return b"\r"
    return b"\r" + after


def _ends_in_bare_cr(run: bytes) -> bool:
    """Whether ``run`` ends in a ``\\r`` that no byte follows (an odd run of them)."""
    return (len(run) - len(run.rstrip(b"\r"))) % 2 == 1


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
    _meter: Optional[OutputMeter] = None
    _replies: Optional[bytearray] = None  # negotiation answers gathered while parsing
    commands: bytearray  # type: ignore[assignment]  # the sub-negotiation being read
    command: bytes  # the option command whose option byte is awaited

    #: the state of the session inside, set by the server factory
    session_state: Optional[SessionState]

    if TYPE_CHECKING:
        # Twisted's telnet classes are unannotated: the inherited methods this
        # class, the server and the session use, with their types
        def __init__(self, protocolFactory: Callable[..., Any], *args: Any,
                     **kw: Any) -> None: ...

        def applicationDataReceived(self, data: bytes) -> None: ...

        def commandReceived(self, command: bytes, argument: Optional[bytes]) -> None: ...

        def unhandledSubnegotiation(self, command: bytes, data: bytes) -> None: ...

        def will(self, option: bytes) -> Deferred[bool]: ...

        def getPeer(self) -> IAddress: ...

        def loseConnection(self) -> None: ...

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
        """Parse one chunk: runs of data are found with ``bytes.find`` and passed on whole.

        Only the bytes of telnet commands are looked at one by one, so a chunk
        costs a few Python calls per command, not per byte.  The states are
        Twisted's (``data``, ``escaped``, ``command``, ``subnegotiation``,
        ``subnegotiation-escaped``); a chunk ending in ``\\r`` ends its line at
        once instead of waiting in ``newline``.
        """
        if self._after_cr and data:
            # the line already ended at the \r; its \n or \0 is not a new line
            self._after_cr = False
            if data[:1] in (b"\n", b"\0") and self.state == "data":
                data = data[1:]
        out: List[bytes] = []
        self._replies = bytearray()
        try:
            self._parse(data, out)
        finally:
            self._deliver(out)
            self._flush_replies()
            self._replies = None

    def _parse(self, data: bytes, out: List[bytes]) -> None:
        pos, size = 0, len(data)
        while pos < size:
            state = self.state
            if state == "data":
                iac = data.find(IAC, pos)
                end = size if iac < 0 else iac
                if end > pos:
                    run = data[pos:end]
                    if b"\r" in run:
                        if iac < 0 and _ends_in_bare_cr(run):
                            self._after_cr = True
                        run = _CR_PAIR.sub(_cr_pair, run)
                    out.append(run)
                if iac < 0:
                    break
                pos = iac + 1
                if data[pos:pos + 1] == IAC:
                    # IAC IAC is a data byte 0xff: a run of them costs one step
                    escapes = _IAC_RUN.match(data, iac).end() - iac  # type: ignore[union-attr]
                    out.append(b"\xff" * (escapes // 2))
                    pos = iac + escapes // 2 * 2
                    if escapes % 2 == 0:
                        continue
                    pos += 1
                command = data[pos:pos + 1]
                if command in _OPTION_COMMANDS and pos + 1 < size:
                    # the usual command, whole in this chunk: answered in one step
                    self._deliver(out)
                    self.commandReceived(command, data[pos + 1:pos + 2])
                    pos += 2
                else:
                    self.state = "escaped"
            elif state == "escaped":
                byte = data[pos:pos + 1]
                pos += 1
                self.state = "data"
                if byte == IAC:
                    out.append(byte)
                elif byte == SB:
                    self.state = "subnegotiation"
                    self.commands = bytearray()
                elif byte in _BARE_COMMANDS:
                    self._deliver(out)
                    self.commandReceived(byte, None)
                elif byte in _OPTION_COMMANDS:
                    self.state = "command"
                    self.command = byte
                else:
                    self._invalid()
            elif state == "command":
                option = data[pos:pos + 1]
                pos += 1
                self.state = "data"
                self._deliver(out)
                self.commandReceived(self.command, option)
            elif state == "subnegotiation":
                iac = data.find(IAC, pos)
                end = size if iac < 0 else iac
                if not self._collect(data[pos:end]):
                    break
                if iac < 0:
                    break
                self.state = "subnegotiation-escaped"
                pos = iac + 1
            else:  # subnegotiation-escaped
                byte = data[pos:pos + 1]
                pos += 1
                if byte == SE:
                    self.state = "data"
                    self._deliver(out)
                    self._subnegotiated(bytes(self.commands))
                else:
                    self.state = "subnegotiation"
                    if not self._collect(byte):
                        break

    def _deliver(self, out: List[bytes]) -> None:
        """Hand the data gathered so far to the session, in one call."""
        if out:
            data = b"".join(out)
            out.clear()
            if data:
                self.applicationDataReceived(data)

    def _collect(self, data: bytes) -> bool:
        """Add to the sub-negotiation; False (and the client dropped) past Twisted's cap."""
        room = self._MAX_SUBNEGOTIATION_LENGTH - len(self.commands)
        if len(data) > room:
            self.commands += data[:max(room, 0)]
            self._subnegotiationLengthExceeded()
            return False
        self.commands += data
        return True

    def _subnegotiated(self, payload: bytes) -> None:
        """A complete ``IAC SB ... IAC SE``; an empty one carries nothing and is skipped."""
        if not payload:
            self._invalid()
            return
        command = payload[:1]
        handler = self.negotiationMap.get(command)
        if handler is None:
            self.unhandledSubnegotiation(command, payload[1:])
        else:
            handler([payload[index:index + 1] for index in range(1, len(payload))])

    def _invalid(self) -> None:
        """A command Twisted would raise on: ignored (said once per connection)."""
        if not self._warned:
            self._warned = True
            self._log.warn("Ignoring invalid telnet commands from {peer}", peer=self.getPeer())

    # -- output: every byte is counted, negotiation answers included ------------

    def count_output(self, meter: OutputMeter) -> None:
        """Have ``meter`` told the size of every write to the client from now on."""
        self._meter = meter

    def _written(self, size: int) -> None:
        if self._meter is not None:
            self._meter(size)

    def _write(self, data: bytes) -> None:
        """Telnet commands: answers to a chunk's commands go out together, after it."""
        if self._replies is not None:
            self._replies += data
            return
        connected(self).write(data)
        self._written(len(data))

    def _flush_replies(self) -> None:
        replies = self._replies
        if replies:
            self._replies = None
            self._write(bytes(replies))
            self._replies = bytearray()

    def write(self, data: bytes) -> None:
        """Session output: 0xff doubled, each ``\\n`` sent as CR LF."""
        self._flush_replies()  # answers to earlier commands go first
        data = data.replace(b"\xff", b"\xff\xff").replace(b"\n", b"\r\n")
        connected(self).write(data)
        self._written(len(data))

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Raw bytes, as Twisted's (no escaping), counted like the rest."""
        self._flush_replies()
        data = b"".join(seq)
        connected(self).write(data)
        self._written(len(data))

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
        connected(self).pauseProducing()

    def resumeProducing(self) -> None:
        connected(self).resumeProducing()

    def stopProducing(self) -> None:
        connected(self).stopProducing()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """A descriptor passed over a unix socket (SCM_RIGHTS), for ``getfd``."""
        protocol = self.protocol
        if protocol is not None and hasattr(protocol, "fd_received"):
            protocol.fd_received(descriptor)
        else:
            os.close(descriptor)
