"""The login exchange in front of a password-protected listener.

It runs inside the channel (after a telnet listener's negotiation): the user
name is echoed as QEMU's readline echoes typed keys, the password never, and
the CR ending a field takes the LF after it even from the next read.
"""

from __future__ import annotations

from typing import List, Optional

from hypothesis import given, strategies as st
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from hmpbridge.access import OPERATOR, READ_ONLY
from hmpbridge.interfaces import MonitorChannel, OutputMeter
from hmpbridge.line_editor import LineEditor
from hmpbridge.login import FAILURE_DELAY, LOGIN_TIMEOUT, MAX_FIELD, LoginGate
from hmpbridge.model import Identity
from hmpbridge.passwords import PasswordEntry

USERS = {("alice", "wonder"): PasswordEntry("alice", OPERATOR, "x"),
         ("bob", "builder"): PasswordEntry("bob", READ_ONLY, "x")}


class Channel:
    """A MonitorChannel that keeps what is written to it."""

    kind = "telnet"

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written += data

    def loseConnection(self) -> None:
        self.closed = True

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def count_output(self, meter: OutputMeter) -> None:
        pass

    def peer_text(self) -> str:
        return "127.0.0.1:40000"


class Inner:
    """Stands for the HMP session: records its identity and what it receives."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.data: List[bytes] = []
        self.lost = False
        self.input_over = False

    def started(self, channel: MonitorChannel) -> None:
        channel.write(b"BANNER\r\n(qemu) ")

    def received(self, data: bytes) -> None:
        self.data.append(data)

    def input_ended(self) -> None:
        self.input_over = True

    def ended(self) -> None:
        self.lost = True

    def descriptor(self, fd: int) -> None:
        pass

    def identified(self) -> None:
        pass


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
        self.channel = Channel()
        self.gate.started(self.channel)

    def output(self) -> bytes:
        data = bytes(self.channel.written)
        self.channel.written.clear()
        return data


def echo(keys: bytes) -> bytes:
    """What QEMU's readline writes for ``keys`` typed after a prompt."""
    return LineEditor(lambda: (), b"login: ").feed(keys).echo


def test_prompts_then_hands_over_with_the_identity() -> None:
    """When the right name and password arrive, the session starts with that identity."""
    rig = Rig()
    assert rig.output() == b"login: "
    rig.gate.received(b"alice\r\n")
    assert rig.output() == echo(b"alice\r") + b"Password: "
    rig.gate.received(b"wonder\r\ninfo status\n")
    assert rig.output() == b"\r\nBANNER\r\n(qemu) "
    assert rig.inner is not None and rig.inner.identity.name == "alice"
    assert rig.inner.identity.role == OPERATOR and rig.inner.identity.method == "password"
    assert rig.inner.data == [b"info status\n"]
    rig.gate.received(b"stop\n")
    assert rig.inner.data[-1] == b"stop\n"


def test_the_name_is_echoed_as_readline_does_and_the_password_never() -> None:
    """Each key of the name is echoed with QEMU's redraw sequences; the password's keys not at all."""
    rig = Rig()
    rig.output()
    for key in b"al":
        rig.gate.received(bytes([key]))
    assert rig.output() == b"a\x1b[K\x1b[Dal\x1b[K"
    rig.gate.received(b"x\x7fice\r")
    assert rig.output() == (b"\x1b[D\x1b[Dalx\x1b[K\x1b[D\x1b[D\x1b[Dal\x1b[K"
                            b"\x1b[D\x1b[Dali\x1b[K\x1b[D\x1b[D\x1b[Dalic\x1b[K"
                            b"\x1b[D\x1b[D\x1b[D\x1b[Dalice\x1b[K\r\nPassword: ")
    rig.gate.received(b"won")
    rig.gate.received(b"der")
    assert rig.output() == b""
    rig.gate.received(b"\r")
    assert rig.output() == b"\r\nBANNER\r\n(qemu) "
    assert rig.inner is not None and rig.inner.identity.name == "alice"


def test_tab_in_the_name_completes_nothing() -> None:
    """A Tab in the user name is a key readline offers no completion for."""
    rig = Rig()
    rig.output()
    rig.gate.received(b"ali\tce\r")
    assert b"\t" not in rig.output()
    rig.gate.received(b"wonder\r")
    assert rig.inner is not None and rig.inner.identity.name == "alice"


def test_listener_role_caps_the_users_role() -> None:
    """When a read-only listener admits an operator, the session is read-only."""
    rig = Rig(listener_role=READ_ONLY)
    rig.gate.received(b"alice\nwonder\n")
    assert rig.inner is not None and rig.inner.identity.role == READ_ONLY


def test_failures_are_answered_after_a_growing_delay_and_the_third_closes() -> None:
    """When passwords are wrong, each refusal waits longer, and the third attempt ends the connection."""
    rig = Rig()
    rig.output()
    rig.gate.received(b"alice\nwrong\n")
    rig.output()
    rig.clock.advance(FAILURE_DELAY - 0.01)
    assert rig.output() == b""
    rig.clock.advance(0.01)
    assert rig.output() == b"\r\nLogin incorrect\r\nlogin: "
    rig.gate.received(b"alice\nwrong\n")
    rig.output()
    rig.clock.advance(2 * FAILURE_DELAY)
    assert rig.output() == b"\r\nLogin incorrect\r\nlogin: "
    rig.gate.received(b"bob\nwrong\n")
    rig.output()
    rig.clock.advance(4 * FAILURE_DELAY)
    assert rig.output() == b"\r\nLogin incorrect\r\n"
    assert rig.channel.closed and rig.inner is None


def test_unknown_users_are_refused_like_wrong_passwords() -> None:
    """When the user does not exist, the answer is the same as for a wrong password."""
    rig = Rig()
    rig.output()
    rig.gate.received(b"mallory\nx\n")
    rig.clock.advance(FAILURE_DELAY)
    assert rig.output() == echo(b"mallory\n") + b"Password: \r\nLogin incorrect\r\nlogin: "
    assert rig.tried == ["mallory"] and rig.inner is None


def test_idle_clients_are_disconnected() -> None:
    """When a client does not log in within the timeout, it is told and disconnected."""
    rig = Rig()
    rig.output()
    rig.clock.advance(LOGIN_TIMEOUT)
    assert rig.output() == b"\r\nLogin timed out\r\n"
    assert rig.channel.closed


def test_an_endless_field_is_refused() -> None:
    """When a client sends a name longer than any real one, the connection ends."""
    rig = Rig()
    rig.gate.received(b"a" * (MAX_FIELD + 1))
    assert rig.channel.closed and rig.tried == []


def test_an_endless_password_is_refused() -> None:
    rig = Rig()
    rig.gate.received(b"alice\r" + b"p" * (MAX_FIELD + 1))
    assert rig.channel.closed and rig.tried == []


def test_telnet_line_ends_are_one_field_each() -> None:
    """When fields end in \\r\\0, \\r\\n or a bare \\r split from its \\n, each is one field."""
    rig = Rig()
    rig.gate.received(b"alice\r")
    rig.gate.received(b"\nwonder\r\0")
    assert rig.inner is not None and rig.inner.identity.name == "alice"
    assert rig.inner.data == []


def test_the_lf_after_the_passwords_cr_in_the_next_read_is_no_empty_line() -> None:
    """A CR ending the password's read and an LF starting the next are one line end: the session
    gets no empty line (which would print a second prompt)."""
    rig = Rig()
    rig.gate.received(b"alice\r\nwonder\r")
    assert rig.inner is not None
    rig.gate.received(b"\ninfo status\r\n")
    assert rig.inner.data == [b"info status\r\n"]


@given(cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=8),
       ends=st.sampled_from([b"\r", b"\n", b"\r\n", b"\r\0"]))
def test_any_split_logs_in_the_same(cuts: List[int], ends: bytes) -> None:
    """However the name, password and first line are cut into reads, the login ends the same:
    the same bytes written, the same identity, the same data handed to the session."""
    data = b"alice" + ends + b"wonder" + ends + b"info status\r"
    results = []
    for points in ([], cuts):
        rig = Rig()
        start = 0
        for cut in sorted(set(c for c in points if 0 < c < len(data))) + [len(data)]:
            rig.gate.received(data[start:cut])
            start = cut
        assert rig.inner is not None
        results.append((rig.output(), rig.inner.identity.name, b"".join(rig.inner.data)))
    assert results[0] == results[1]
    assert results[0][2] == b"info status\r"


def test_connection_loss_reaches_the_session() -> None:
    """When the client goes away after login, the session hears of it."""
    rig = Rig()
    rig.gate.received(b"alice\nwonder\n")
    rig.gate.ended()
    assert rig.inner is not None and rig.inner.lost


def test_half_close_before_login_closes_and_after_it_reaches_the_session() -> None:
    rig = Rig()
    rig.gate.input_ended()
    assert rig.channel.closed
    rig = Rig()
    rig.gate.received(b"alice\nwonder\n")
    rig.gate.input_ended()
    assert rig.inner is not None and rig.inner.input_over and not rig.channel.closed
