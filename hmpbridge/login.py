"""Asks for a user name and password before a listener's sessions begin.

:class:`LoginGate` sits between a connection and the protocol it will carry
(an HMP session).  It prompts ``login: `` and ``Password: ``, checks the pair
against a :class:`~hmpbridge.passwords.PasswordFile` (off the reactor thread,
since scrypt is slow on purpose), and on success hands the connection to the
protocol built for the authenticated :class:`~hmpbridge.access.Identity`; the
banner and prompt follow as usual.  A failed attempt is answered only after a
delay that doubles each time, is logged with the peer address, and the third
one closes the connection.  A client that does not finish logging in within
the login timeout is disconnected.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IDelayedCall,
    IFileDescriptorReceiver,
    IHalfCloseableProtocol,
    IProtocol,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.access import Identity, narrowest, peer_text
from hmpbridge.interfaces import connected
from hmpbridge.passwords import PasswordEntry

__all__ = ["LoginGate", "Authenticate", "MAX_ATTEMPTS", "FAILURE_DELAY", "LOGIN_TIMEOUT"]

#: Attempts per connection before it is closed.
MAX_ATTEMPTS = 3
#: Seconds before the first failure is answered; doubled for each further one.
FAILURE_DELAY = 1.0
#: Seconds a client has to log in.
LOGIN_TIMEOUT = 60.0
#: Longest user name or password accepted (bytes).
MAX_FIELD = 256

_LINE_END = re.compile(rb"[\r\n]")

#: ``authenticate(name, password)`` fires with the entry, or None when refused.
Authenticate = Callable[[str, str], "Deferred[Optional[PasswordEntry]]"]


@implementer(IHalfCloseableProtocol, IFileDescriptorReceiver)
class LoginGate(Protocol):
    """The login exchange, then a transparent pipe to the real protocol.

    :param authenticate: checks a name and password.
    :param build: makes the protocol for an authenticated identity.
    :param listener: the endpoint description (for the identity and logs).
    :param listener_role: the most the listener allows (None: no cap).
    :param clock: for delays and the login timeout.
    """

    _log = Logger()

    def __init__(self, authenticate: Authenticate, build: Callable[[Identity], IProtocol],
                 listener: str, listener_role: Optional[str], clock: IReactorTime) -> None:
        self._authenticate = authenticate
        self._build = build
        self._listener = listener
        self._listener_role = listener_role
        self._clock = clock
        self._buffer = b""
        self._name: Optional[str] = None
        self._failures = 0
        self._checking = False
        self._inner: Optional[IProtocol] = None
        self._closed = False
        self._timer: Optional[IDelayedCall] = None
        self._swallow = False

    @property
    def peer(self) -> str:
        """The client's address as text."""
        return peer_text(connected(self).getPeer())

    def connectionMade(self) -> None:
        self._timer = self._clock.callLater(LOGIN_TIMEOUT, self._expire)
        connected(self).write(b"login: ")

    def _expire(self) -> None:
        self._timer = None
        self._log.info("Login timed out for {peer} on {listener}", peer=self.peer,
                       listener=self._listener)
        connected(self).write(b"\r\nLogin timed out\r\n")
        connected(self).loseConnection()

    # -- the login exchange ---------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.dataReceived(data)
            return
        self._buffer += data
        self._next_field()

    def _next_field(self) -> None:
        """Take complete lines (``\\n``, ``\\r\\n``, ``\\r\\0`` or ``\\r``) as fields."""
        while not self._checking and self._inner is None and not self._closed:
            if self._swallow and self._buffer:
                if self._buffer[:1] in (b"\n", b"\0"):
                    self._buffer = self._buffer[1:]
                self._swallow = False
            match = _LINE_END.search(self._buffer)
            if match is None:
                if len(self._buffer) > MAX_FIELD:
                    self._refuse_overlong()
                return
            end = after = match.start()
            after += 1
            if self._buffer[end:after] == b"\r":
                if after == len(self._buffer):
                    self._swallow = True
                elif self._buffer[after:after + 1] in (b"\n", b"\0"):
                    after += 1
            field, self._buffer = self._buffer[:end].replace(b"\0", b""), self._buffer[after:]
            if len(field) > MAX_FIELD:
                self._refuse_overlong()
                return
            text = field.decode("utf-8", "replace")
            if self._name is None:
                self._name = text.strip()
                connected(self).write(b"Password: ")
            else:
                self._check(self._name, text)

    def _refuse_overlong(self) -> None:
        connected(self).write(b"\r\nLogin incorrect\r\n")
        self._closed = True
        connected(self).loseConnection()

    def _check(self, name: str, password: str) -> None:
        self._checking = True
        d = self._authenticate(name, password)
        d.addCallbacks(lambda entry: self._checked(name, entry),
                       lambda failure: self._checked(name, None, failure))

    def _checked(self, name: str, entry: Optional[PasswordEntry],
                 failure: Optional[Failure] = None) -> None:
        if self._closed:
            return
        if failure is not None:
            self._log.failure("Checking the password of {user} failed", failure, user=name)
        if entry is None:
            self._failed(name)
            return
        self._checking = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        identity = Identity(entry.name, narrowest(entry.role, self._listener_role),
                            listener=self._listener, peer=self.peer, method="password")
        self._log.info("{user} logged in from {peer} on {listener} as {role}",
                       user=identity.name, peer=identity.peer, listener=self._listener,
                       role=identity.role)
        transport = self.transport
        assert transport is not None  # the name and password came over it
        transport.write(b"\r\n")
        inner = self._build(identity)
        self._inner = inner
        inner.makeConnection(transport)
        rest, self._buffer = self._buffer, b""
        if rest:
            inner.dataReceived(rest)

    def _failed(self, name: str) -> None:
        self._failures += 1
        self._log.warn("Failed login for {user!r} from {peer} on {listener} "
                       "(attempt {attempt})", user=name, peer=self.peer,
                       listener=self._listener, attempt=self._failures)
        delay = FAILURE_DELAY * 2 ** (self._failures - 1)
        self._clock.callLater(delay, self._answer_failure)

    def _answer_failure(self) -> None:
        if self._closed:
            return
        connected(self).write(b"\r\nLogin incorrect\r\n")
        if self._failures >= MAX_ATTEMPTS:
            self._closed = True
            connected(self).loseConnection()
            return
        self._checking = False
        self._name = None
        self._buffer = b""  # typed ahead during the delay: discarded, as login(1) does
        connected(self).write(b"login: ")

    # -- after login: a transparent pipe --------------------------------------

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._inner is not None:
            self._inner.connectionLost(reason)

    def readConnectionLost(self) -> None:
        if self._inner is not None and IHalfCloseableProtocol.providedBy(self._inner):
            self._inner.readConnectionLost()
        elif self._inner is None:
            self._closed = True
            connected(self).loseConnection()

    def writeConnectionLost(self) -> None:
        if self._inner is not None and IHalfCloseableProtocol.providedBy(self._inner):
            self._inner.writeConnectionLost()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        if self._inner is not None and IFileDescriptorReceiver.providedBy(self._inner):
            self._inner.fileDescriptorReceived(descriptor)
        else:
            os.close(descriptor)

