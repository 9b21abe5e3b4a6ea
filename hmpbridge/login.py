"""Asks for a user name and password before a listener's sessions begin.

:class:`LoginGate` is the :class:`~hmpbridge.interfaces.MonitorSession` a
password-protected listener's channel carries first: it runs inside the
framing, after the channel's connect bytes (a telnet listener's negotiation
comes first), prompts ``login: `` and ``Password: ``, checks the pair
against a :class:`~hmpbridge.passwords.PasswordFile` (off the reactor thread,
since scrypt is slow on purpose), and on success starts the HMP session built
for the authenticated :class:`~hmpbridge.model.Identity` on the same channel;
the banner and prompt follow as usual.  QEMU's monitor has no login: the
exchange is hmpbridge's own.  The user name is echoed as QEMU's readline echoes
what is typed (:class:`~hmpbridge.line_editor.LineEditor`: its keys and redraw
sequences), the password never; the ``\\r`` ending either field takes one
``\\n`` (or ``\\0``) after it, even in the next read, so a client's CR LF is
one line end.  A failed attempt is answered only after a
delay that doubles each time, is logged with the peer address, and the third
one closes the connection.  A client that does not finish logging in within
the login timeout is disconnected.

Across connections, a shared :class:`~hmpbridge.throttle.LoginThrottle`
refuses attempts for a user, or from a peer, with too many recent failures,
whatever the password: it is checked all the same and they are answered like
a wrong one, after the same delay.  Every attempt is one audit record (the name tried, never
the password): ``login-ok``, ``login-failed`` or ``login-throttled``.

What arrives before the login ends is held in a buffer of at most
:data:`MAX_PENDING_INPUT` bytes (like a terminal's input queue, whose excess
is lost); while a password is checked the client is not read from, and what
arrives during a failure's delay is discarded, as ``login(1)`` flushes it.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Mapping, Optional

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge.access import narrowest
from hmpbridge.interfaces import MonitorChannel, MonitorSession
from hmpbridge.line_editor import LineEditor
from hmpbridge.model import Identity
from hmpbridge.passwords import PasswordEntry
from hmpbridge.peercred import describe_peer, peer_credentials
from hmpbridge.throttle import LoginThrottle

__all__ = ["LoginGate", "Authenticate", "AuditSink", "MAX_ATTEMPTS", "FAILURE_DELAY",
           "LOGIN_TIMEOUT", "MAX_FIELD", "MAX_PENDING_INPUT", "throttle_key"]

#: Attempts per connection before it is closed.
MAX_ATTEMPTS = 3
#: Seconds before the first failure is answered; doubled for each further one.
FAILURE_DELAY = 1.0
#: Seconds a client has to log in.
LOGIN_TIMEOUT = 60.0
#: Longest user name or password accepted (bytes).
MAX_FIELD = 256
#: Bytes held before the login ends (a terminal's input queue holds 4095); the rest is lost.
MAX_PENDING_INPUT = 4096

_LINE_END = re.compile(rb"[\r\n]")
_LOGIN_PROMPT = b"login: "

#: ``authenticate(name, password)`` fires with the entry, or None when refused.
Authenticate = Callable[[str, str], "Deferred[Optional[PasswordEntry]]"]

#: ``audit(identity, received, outcome)`` writes one audit record.
AuditSink = Callable[[Identity, Mapping[str, Any], str], None]


def throttle_key(transport: Any) -> str:
    """Whom failures are counted against: a TCP client's host, a unix client's uid."""
    credentials = peer_credentials(transport)
    if credentials is not None:
        return f"uid={credentials.uid}"
    try:
        peer = transport.getPeer()
    except Exception:  # noqa: BLE001 - a transport without a peer has nothing to tell
        peer = None
    if isinstance(peer, (IPv4Address, IPv6Address)):
        return peer.host
    return describe_peer(transport)


class LoginGate:
    """The login exchange, then the HMP session on the same channel.

    :param authenticate: checks a name and password.
    :param build: makes the session for an authenticated identity.
    :param listener: the endpoint description (for the identity and logs).
    :param listener_role: the most the listener allows (None: no cap).
    :param clock: for delays and the login timeout.
    :param throttle: failures across connections (shared by every listener);
        None: only this connection's attempts are limited.
    :param audit: where each attempt is recorded (None: nowhere).
    :param peer_key: whom failures count against (:func:`throttle_key`).
    :param vm: the VM this listener serves, when hmpbridge serves several: a
        user the password file limits to other VMs is refused here as a wrong
        password is (the audit record says ``login-denied``).
    """

    _log = Logger()

    def __init__(self, authenticate: Authenticate, build: Callable[[Identity], MonitorSession],
                 listener: str, listener_role: Optional[str], clock: IReactorTime,
                 throttle: Optional[LoginThrottle] = None,
                 audit: Optional[AuditSink] = None, peer_key: str = "",
                 vm: str = "") -> None:
        self._authenticate = authenticate
        self._vm = vm
        self._build = build
        self._listener = listener
        self._listener_role = listener_role
        self._clock = clock
        self._throttle = throttle
        self._audit = audit
        self._buffer = bytearray()
        self._dropped_input = False
        self._editor = LineEditor(lambda: (), _LOGIN_PROMPT, max_line=MAX_FIELD + 2)
        self._name: Optional[str] = None
        self._failures = 0
        self._checking = False
        self._delaying = False
        self._paused = False
        self._channel: Optional[MonitorChannel] = None
        self._inner: Optional[MonitorSession] = None
        self._closed = False
        self._timer: Optional[IDelayedCall] = None
        self._swallow = False
        self.peer = ""
        self._peer_key = peer_key

    @property
    def session(self) -> Optional[MonitorSession]:
        """The HMP session, once the login succeeded."""
        return self._inner

    def _write(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.write(data)

    def _close(self) -> None:
        self._closed = True
        if self._channel is not None:
            self._channel.loseConnection()

    def started(self, channel: MonitorChannel) -> None:
        self._channel = channel
        self.peer = channel.peer_text()
        if not self._peer_key:
            self._peer_key = self.peer
        self._timer = self._clock.callLater(LOGIN_TIMEOUT, self._expire)
        self._write(self._editor.show_prompt())

    def _expire(self) -> None:
        self._timer = None
        self._log.info("Login timed out for {peer} on {listener}", peer=self.peer,
                       listener=self._listener)
        self._write(b"\r\nLogin timed out\r\n")
        self._close()

    # -- the login exchange ---------------------------------------------------

    def received(self, data: bytes) -> None:
        if self._swallow and data:
            self._swallow = False
            if data[:1] in (b"\n", b"\0"):
                data = data[1:]  # the rest of the CR LF (or CR NUL) that ended a field
        if self._inner is not None:
            if data:
                self._inner.received(data)
            return
        if self._delaying or self._closed:
            return  # typed during a failure's delay: discarded, as login(1) does
        room = MAX_PENDING_INPUT - len(self._buffer)
        if len(data) > room:
            data = data[:max(room, 0)]
            if not self._dropped_input:
                self._dropped_input = True
                self._log.warn("Discarding input past {limit} bytes from {peer} on {listener} "
                               "before login", limit=MAX_PENDING_INPUT, peer=self.peer,
                               listener=self._listener)
        self._buffer += data
        self._next_field()

    def _take_line_end(self, end: bytes) -> None:
        """A field ended with ``end``: a CR takes the LF (or NUL) after it, now or in the next read."""
        if end != b"\r":
            return
        if not self._buffer:
            self._swallow = True
        elif bytes(self._buffer[:1]) in (b"\n", b"\0"):
            del self._buffer[:1]

    def _next_field(self) -> None:
        """Take complete fields: the name through the line editor, the password as it is."""
        while not self._checking and self._inner is None and not self._closed \
                and not self._delaying and self._buffer:
            if self._name is None:
                if not self._name_keys():
                    return
                continue
            match = _LINE_END.search(self._buffer)
            if match is None:
                if len(self._buffer) > MAX_FIELD:
                    self._refuse_overlong()
                return
            end = match.start()
            field = bytes(self._buffer[:end]).replace(b"\0", b"")
            line_end = bytes(self._buffer[end:end + 1])
            del self._buffer[:end + 1]
            self._take_line_end(line_end)
            if len(field) > MAX_FIELD:
                self._refuse_overlong()
                return
            self._check(self._name, field.decode("utf-8", "replace"))

    def _name_keys(self) -> bool:
        """Feed the buffer to the name's line editor; False when it needs more input."""
        data = bytes(self._buffer)
        step = self._editor.feed(data)
        self._buffer[:] = step.rest
        echo = step.echo
        if step.complete is not None:
            echo += self._editor.completed((), 0)  # nothing completes a user name
        self._write(echo)
        if step.line is None:
            if len(self._editor.buf) > MAX_FIELD:
                self._refuse_overlong()
                return False
            return step.complete is not None
        self._take_line_end(data[len(data) - len(step.rest) - 1:len(data) - len(step.rest)])
        if len(step.line.encode("utf-8", "surrogateescape")) > MAX_FIELD:
            self._refuse_overlong()
            return False
        self._name = step.line.encode("utf-8", "surrogateescape").decode(
            "utf-8", "replace").strip()
        self._write(b"Password: ")
        return True

    def _refuse_overlong(self) -> None:
        self._log.warn("Refusing an over-long login field from {peer} on {listener}",
                       peer=self.peer, listener=self._listener)
        self._record(self._name or "", "login-failed")
        self._write(b"\r\nLogin incorrect\r\n")
        self._close()

    def _record(self, name: str, outcome: str, identity: Optional[Identity] = None) -> None:
        """One audit record for one attempt: who tried, never the password."""
        if self._audit is None:
            return
        who = identity or Identity(name, role="", listener=self._listener, peer=self.peer,
                                   method="password", vm=self._vm)
        self._audit(who, {"login": name}, outcome)

    def _pause(self) -> None:
        """Read nothing more while the password is checked (the kernel holds it)."""
        if not self._paused and self._channel is not None:
            self._paused = True
            self._channel.pauseProducing()

    def _resume(self) -> None:
        if self._paused and not self._closed and self._channel is not None:
            self._paused = False
            self._channel.resumeProducing()

    def _check(self, name: str, password: str) -> None:
        self._checking = True
        self._pause()
        throttled = self._throttle is not None and self._throttle.refuses(name, self._peer_key)
        d = self._authenticate(name, password)
        if throttled:
            # The password is checked all the same and its answer ignored: a
            # refusal takes as long as a wrong password, so it tells nothing.
            d.addBoth(lambda _: self._refused_unchecked(name))
            return
        d.addCallbacks(lambda entry: self._checked(name, entry),
                       lambda failure: self._checked(name, None, failure))

    def _refused_unchecked(self, name: str) -> None:
        if self._closed:
            return
        self._log.warn("Refusing a login for {user!r} from {peer} on {listener}: "
                       "too many failures", user=name, peer=self.peer, listener=self._listener)
        self._failed(name, "login-throttled")

    def _checked(self, name: str, entry: Optional[PasswordEntry],
                 failure: Optional[Failure] = None) -> None:
        if self._closed:
            return
        if failure is not None:
            self._log.failure("Checking the password of {user} failed", failure, user=name)
        if entry is None:
            if self._throttle is not None:
                self._throttle.failed(name, self._peer_key)
            self._failed(name, "login-failed")
            return
        if self._throttle is not None:
            self._throttle.succeeded(name, self._peer_key)
        identity = Identity(entry.name, narrowest(entry.role, self._listener_role),
                            listener=self._listener, peer=self.peer, method="password",
                            vms=entry.vms, vm=self._vm)
        if not identity.may_reach(self._vm):
            self._log.warn("Refusing {user} from {peer} on {listener}: not allowed on VM {vm}",
                           user=identity.name, peer=identity.peer, listener=self._listener,
                           vm=self._vm)
            self._failed(name, "login-denied", identity)
            return
        self._checking = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._log.info("{user} logged in from {peer} on {listener}{on} as {role}",
                       user=identity.name, peer=identity.peer, listener=self._listener,
                       on=f" (VM {self._vm})" if self._vm else "", role=identity.role)
        self._record(name, "login-ok", identity)
        channel = self._channel
        assert channel is not None  # the name and password came over it
        channel.write(b"\r\n")
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._resume()
        inner = self._build(identity)
        self._inner = inner
        inner.started(channel)
        if rest:
            inner.received(rest)

    def _failed(self, name: str, outcome: str, identity: Optional[Identity] = None) -> None:
        self._failures += 1
        self._log.warn("Failed login for {user!r} from {peer} on {listener} "
                       "(attempt {attempt})", user=name, peer=self.peer,
                       listener=self._listener, attempt=self._failures)
        self._record(name, outcome, identity)
        delay = FAILURE_DELAY * 2 ** (self._failures - 1)
        self._clock.callLater(delay, self._answer_failure)
        # typed ahead meanwhile: discarded, as login(1) does
        self._buffer.clear()
        self._delaying = True
        self._resume()

    def _answer_failure(self) -> None:
        if self._closed:
            return
        self._delaying = False
        self._write(b"\r\nLogin incorrect\r\n")
        if self._failures >= MAX_ATTEMPTS:
            self._close()
            return
        self._checking = False
        self._name = None
        self._swallow = False
        self._write(self._editor.show_prompt())

    # -- the rest of MonitorSession: passed on once logged in -----------------

    def ended(self) -> None:
        self._closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._inner is not None:
            self._inner.ended()

    def input_ended(self) -> None:
        if self._inner is not None:
            self._inner.input_ended()
        else:
            self._close()

    def descriptor(self, fd: int) -> None:
        if self._inner is not None:
            self._inner.descriptor(fd)
        else:
            os.close(fd)

    def identified(self) -> None:
        if self._inner is not None:
            self._inner.identified()
