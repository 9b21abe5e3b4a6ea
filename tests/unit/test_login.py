"""The login exchange in front of a password-protected listener."""

from __future__ import annotations

from typing import List, Optional

from twisted.internet.defer import succeed
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.access import OPERATOR, READ_ONLY, Identity
from hmpbridge.login import FAILURE_DELAY, LOGIN_TIMEOUT, MAX_FIELD, LoginGate
from hmpbridge.passwords import PasswordEntry

USERS = {("alice", "wonder"): PasswordEntry("alice", OPERATOR, "x"),
         ("bob", "builder"): PasswordEntry("bob", READ_ONLY, "x")}


class Inner(Protocol):
    """Stands for the HMP session: records its identity and what it receives."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.received: List[bytes] = []
        self.lost = False

    def connectionMade(self) -> None:
        self.transport.write(b"BANNER\r\n(qemu) ")

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason=None) -> None:
        self.lost = True


class Rig:
    def __init__(self, listener_role: Optional[str] = None) -> None:
        self.clock = Clock()
        self.inner: Optional[Inner] = None
        self.tried: List[str] = []

        def authenticate(name: str, password: str):
            self.tried.append(name)
            return succeed(USERS.get((name, password)))

        def build(identity: Identity) -> Inner:
            self.inner = Inner(identity)
            return self.inner

        self.gate = LoginGate(authenticate, build, "tcp:4444", listener_role, self.clock)
        self.transport = StringTransport()
        self.gate.makeConnection(self.transport)

    def output(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data


def test_prompts_then_hands_over_with_the_identity() -> None:
    """When the right name and password arrive, the session starts with that identity."""
    rig = Rig()
    assert rig.output() == b"login: "
    rig.gate.dataReceived(b"alice\r\n")
    assert rig.output() == b"Password: "
    rig.gate.dataReceived(b"wonder\r\ninfo status\n")
    assert rig.output() == b"\r\nBANNER\r\n(qemu) "
    assert rig.inner is not None and rig.inner.identity.name == "alice"
    assert rig.inner.identity.role == OPERATOR and rig.inner.identity.method == "password"
    assert rig.inner.received == [b"info status\n"]
    rig.gate.dataReceived(b"stop\n")
    assert rig.inner.received[-1] == b"stop\n"


def test_listener_role_caps_the_users_role() -> None:
    """When a read-only listener admits an operator, the session is read-only."""
    rig = Rig(listener_role=READ_ONLY)
    rig.gate.dataReceived(b"alice\nwonder\n")
    assert rig.inner is not None and rig.inner.identity.role == READ_ONLY


def test_failures_are_answered_after_a_growing_delay_and_the_third_closes() -> None:
    """When passwords are wrong, each refusal waits longer, and the third attempt ends the connection."""
    rig = Rig()
    rig.output()
    rig.gate.dataReceived(b"alice\nwrong\n")
    rig.output()
    rig.clock.advance(FAILURE_DELAY - 0.01)
    assert rig.output() == b""
    rig.clock.advance(0.01)
    assert rig.output() == b"\r\nLogin incorrect\r\nlogin: "
    rig.gate.dataReceived(b"alice\nwrong\n")
    rig.output()
    rig.clock.advance(2 * FAILURE_DELAY)
    assert rig.output() == b"\r\nLogin incorrect\r\nlogin: "
    rig.gate.dataReceived(b"bob\nwrong\n")
    rig.output()
    rig.clock.advance(4 * FAILURE_DELAY)
    assert rig.output() == b"\r\nLogin incorrect\r\n"
    assert rig.transport.disconnecting and rig.inner is None


def test_unknown_users_are_refused_like_wrong_passwords() -> None:
    """When the user does not exist, the answer is the same as for a wrong password."""
    rig = Rig()
    rig.output()
    rig.gate.dataReceived(b"mallory\nx\n")
    rig.clock.advance(FAILURE_DELAY)
    assert rig.output() == b"Password: \r\nLogin incorrect\r\nlogin: "
    assert rig.tried == ["mallory"] and rig.inner is None


def test_idle_clients_are_disconnected() -> None:
    """When a client does not log in within the timeout, it is told and disconnected."""
    rig = Rig()
    rig.output()
    rig.clock.advance(LOGIN_TIMEOUT)
    assert rig.output() == b"\r\nLogin timed out\r\n"
    assert rig.transport.disconnecting


def test_an_endless_field_is_refused() -> None:
    """When a client sends a name longer than any real one, the connection ends."""
    rig = Rig()
    rig.gate.dataReceived(b"a" * (MAX_FIELD + 1))
    assert rig.transport.disconnecting and rig.tried == []


def test_telnet_line_ends_are_one_field_each() -> None:
    """When fields end in \\r\\0, \\r\\n or a bare \\r split from its \\n, each is one field."""
    rig = Rig()
    rig.gate.dataReceived(b"alice\r")
    rig.gate.dataReceived(b"\nwonder\r\0")
    assert rig.inner is not None and rig.inner.identity.name == "alice"
    assert rig.inner.received == []


def test_connection_loss_reaches_the_session() -> None:
    """When the client goes away after login, the session hears of it."""
    rig = Rig()
    rig.gate.dataReceived(b"alice\nwonder\n")
    rig.gate.connectionLost(None)
    assert rig.inner is not None and rig.inner.lost
