"""Telnet framing for HMP sessions, forgiving of clients that do not speak telnet.

:class:`HMPTelnetTransport` is Twisted's telnet transport with what HMP
clients need on top: a line ending in a bare ``\\r`` runs at once, ``\\r\\r\\n``
ends the same lines however it is split, a client that half-closes (``nc -N``)
still gets every answer, descriptors passed over a unix socket reach the
session (``getfd``), and an invalid telnet command is ignored instead of
dropping the connection.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Optional

from twisted.conch.telnet import TelnetTransport
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.logger import Logger
from zope.interface import implementer

from hmpbridge.interfaces import connected

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IAddress

    from hmpbridge.model import SessionState

__all__ = ["HMPTelnetTransport"]


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

    #: the state of the session inside, set by the server factory
    session_state: Optional[SessionState]

    if TYPE_CHECKING:
        # Twisted's telnet classes are unannotated: the inherited methods this
        # class, the server and the session use, with their types
        def __init__(self, protocolFactory: Callable[..., Any], *args: Any,
                     **kw: Any) -> None: ...

        def applicationDataReceived(self, data: bytes) -> None: ...

        def write(self, data: bytes) -> None: ...

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
            super().dataReceived(data)  # type: ignore[no-untyped-call]  # Telnet's is unannotated
        else:
            # A byte at a time: Twisted raises on a command byte it does not
            # know (or an empty sub-negotiation) and would lose the rest of
            # the chunk with it.
            for index in range(len(data)):
                try:
                    super().dataReceived(data[index:index + 1])  # type: ignore[no-untyped-call]
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
