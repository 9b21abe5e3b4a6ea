"""Hostile HMP clients: telnet floods, pre-login floods, password guessing, audit gaps.

* Every byte the bridge writes for a session counts against ``--max-unread``;
  telnet commands are answered by nothing (as QEMU's telnet chardev), so a
  flood of them costs no output.
* Telnet input costs no Python call per byte or per command: the session is
  handed the data of a read in one call per share of it.
* A flood costs the other clients nothing: one read is handed on
  ``TURN_BYTES`` a turn of the reactor, reading paused meanwhile.
* Before login, at most :data:`~hmpbridge.login.MAX_PENDING_INPUT` bytes are
  held, whatever the client sends while its password is checked or a
  failure is being delayed.
* A :class:`~hmpbridge.throttle.LoginThrottle` shared by every connection
  refuses, unchecked, attempts for a user or from a peer with too many
  recent failures; they are answered like a wrong password.
* Every line is audited with who sent it: ``.`` commands, each login attempt
  (the name tried, never the password), and unix-socket clients by their
  credentials.
"""

from __future__ import annotations

import os
import pwd
import socket
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import pytest
from hypothesis import given, strategies as st
from twisted.conch.telnet import NOP
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ISystemHandle
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from hmpbridge.access import OPERATOR
from hmpbridge.channel import TURN_BYTES, ChardevChannel
from hmpbridge.chardev import TELNET_INIT
from hmpbridge.limits import Limits
from hmpbridge.model import Identity
from hmpbridge.login import FAILURE_DELAY, MAX_PENDING_INPUT, LoginGate, throttle_key
from hmpbridge.passwords import PasswordEntry
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeExecutor, TurnClock
from hmpbridge.throttle import FAILURE_WINDOW, PEER_FAILURES, USER_FAILURES, LoginThrottle
from tests.unit.test_fuzz_protocols import (
    IAC,
    cut_points,
    feed_channel,
    session_of,
    telnet_stream,
)

WILL, WONT, DO, DONT = b"\xfb", b"\xfc", b"\xfd", b"\xfe"
PEER = IPv4Address("TCP", "192.0.2.7", 40000)
BANNER = b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "


class Records:
    """Stands for the audit log: keeps the records written."""

    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []

    def write(self, rec: Mapping[str, Any]) -> None:
        self.records.append(dict(rec))


class FillingTransport(StringTransport):
    """A transport whose send buffer fills at ``size`` bytes, pausing its producer from
    within the write that fills it, as Twisted's do.

    :ivar filled_at: how much had been written when it filled (None: not yet).
    """

    def __init__(self, size: int, peer: Any = PEER) -> None:
        super().__init__(peerAddress=peer)
        self.size = size
        self.filled_at: Optional[int] = None

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.filled_at is None and len(self.value()) >= self.size and \
                self.producer is not None:
            self.filled_at = len(self.value())
            self.producer.pauseProducing()


def open_session(max_unread: int = 1024 * 1024, audit: Optional[Records] = None,
                 peer: Any = PEER, tcp: Optional[StringTransport] = None,
                 chardev: str = "telnet") -> Tuple[ChardevChannel, StringTransport]:
    """A session as the listener builds it, on an in-memory transport with a write guard."""
    runner = CommandRunner(FakeExecutor(), clock=Clock(), audit=audit)  # type: ignore[arg-type]
    factory = HMPServerFactory(runner, "tcp:4444", clock=TurnClock(), chardev=chardev,
                               limits=Limits(max_unread=max_unread))
    channel = factory.buildProtocol(peer)
    tcp = tcp if tcp is not None else StringTransport(peerAddress=peer)
    channel.makeConnection(tcp)
    return channel, tcp


def counting_calls(channel: ChardevChannel) -> List[bytes]:
    """Every chunk the session is handed, in order."""
    session = session_of(channel)
    calls: List[bytes] = []
    received = session.received

    def counted(data: bytes) -> None:
        calls.append(data)
        received(data)
    session.received = counted  # type: ignore[method-assign]
    return calls


# -- every byte written counts against --max-unread; nothing answers telnet commands ------------


def test_a_client_flooding_telnet_commands_is_answered_nothing() -> None:
    """IAC DO floods get no answer (QEMU's chardev answers none), so they cost no output."""
    channel, tcp = open_session(max_unread=3000, tcp=FillingTransport(1))  # full at once
    guard = tcp.producer
    assert guard.paused
    for _ in range(999):
        channel.dataReceived(IAC + DO + b"\x01")
    assert guard.pending == 0 and not tcp.disconnected
    assert tcp.value() == TELNET_INIT + BANNER


def test_output_is_counted_as_written() -> None:
    """When output is held for a client, what is counted is what was written (0xff as it is,
    no telnet answer)."""
    channel, tcp = open_session(tcp=FillingTransport(1))
    guard = tcp.producer
    assert tcp.filled_at is not None
    channel.dataReceived(IAC + DO + b"\x05")
    channel.write(b"event \xff\r\nmore\r\n(qemu) ")  # as a notice to a session with events
    held = tcp.value()[tcp.filled_at:]
    assert held == b"event \xff\r\nmore\r\n(qemu) "
    assert guard.pending == len(held)


@given(telnet_stream(), cut_points, st.integers(1, 2000))
def test_every_byte_written_is_counted(data: bytes, cuts: List[int], size: int) -> None:
    """Lines and telnet commands, cut anywhere: once the send buffer is full, the guard
    counts every byte the client is sent after the write that filled it."""
    channel, tcp = open_session(max_unread=1 << 30, tcp=FillingTransport(size))
    guard = tcp.producer
    feed_channel(channel, data, [c % (len(data) + 1) for c in cuts])
    written = len(tcp.value())
    assert guard.pending == (0 if tcp.filled_at is None else written - tcp.filled_at)


# -- telnet input costs O(bytes), not O(bytes) Python calls ---------------------------------------


def test_a_stream_of_escaped_0xff_reaches_the_session_a_share_per_call() -> None:
    """When a client streams IAC IAC, the session gets the data in one call per share of a read."""
    channel, tcp = open_session()
    calls = counting_calls(channel)
    for _ in range(4):
        channel.dataReceived(b"\xff" * 8192)
        turns_until_idle(channel)
    channel.dataReceived(b"\n")
    assert len(calls) == 4 * 8192 // TURN_BYTES + 1
    assert b"".join(calls) == b"\xff" * 16384 + b"\n"
    assert tcp.value().endswith(b"(qemu) ")


def test_telnet_commands_inside_data_are_taken_out_as_qemu_does() -> None:
    """IAC NOP takes the byte after it, IAC IAC is 0xff, an option command three bytes: the
    session gets the rest in one call."""
    channel, _ = open_session()
    calls = counting_calls(channel)
    channel.dataReceived(b"info " + IAC + b"\xf1" + b"st\xff\xffatus" + IAC + DO + b"\x01" + b"\n")
    assert calls == [b"info t\xffatus\n"]


# -- a flood costs the other clients nothing ------------------------------------------------------


def turns_until_idle(channel: ChardevChannel, limit: int = 100000) -> int:
    """Run the session clock's due calls a turn at a time until none is left; the turns taken."""
    clock = channel.factory.clock
    turns = 0
    while clock.turn():
        turns += 1
        assert turns < limit, "a read is never finished"
    return turns


def test_one_reads_telnet_commands_are_handed_on_a_share_per_turn() -> None:
    """A 96 KiB read of commands is taken apart TURN_BYTES a turn, reading paused meanwhile,
    and the line after it is answered."""
    channel, tcp = open_session()
    calls = counting_calls(channel)
    channel.dataReceived(b"\xff\xf1x" * 32768 + b"info status\n")
    assert tcp.producerState == "paused"
    turns = turns_until_idle(channel)
    assert turns >= 3 * 32768 // TURN_BYTES - 1
    assert b"".join(calls) == b"info status\n"
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")
    assert tcp.producerState == "producing"


def test_a_half_close_waits_for_the_rest_of_the_read() -> None:
    """A client that half-closes after a long read still gets its line answered, then is closed."""
    channel, tcp = open_session()
    channel.dataReceived(b"\xff\xf1x" * 32768 + b"info status\n")
    channel.readConnectionLost()
    assert not tcp.disconnecting
    turns_until_idle(channel)
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ") and tcp.disconnecting


def test_a_session_that_paused_reading_stays_paused_after_the_rest_of_a_read() -> None:
    """Reading resumes when neither the session nor the channel holds it."""
    channel, tcp = open_session()
    channel.dataReceived((IAC + NOP + b"x") * 4096)
    assert tcp.producerState == "paused"
    channel.pauseProducing()  # as the session does with too many lines waiting
    turns_until_idle(channel)
    assert tcp.producerState == "paused"
    channel.resumeProducing()
    turns_until_idle(channel)
    assert tcp.producerState == "producing"


telnet_piece = st.one_of(
    st.tuples(st.sampled_from([WILL, WONT, DO, DONT]), st.integers(1, 3000)).map(
        lambda c: (IAC + c[0] + b"\x01") * c[1]),
    st.integers(1, 3000).map(lambda n: (IAC + NOP + b"x") * n),
    st.sampled_from([b"x", b"info status\n", b"\r\n", IAC + IAC]))


@given(st.lists(telnet_piece, max_size=8), cut_points)
def test_work_per_turn_is_bounded_and_every_line_is_answered(
        pieces: List[bytes], cuts: List[int]) -> None:
    """Any mix of commands and data, cut anywhere: each turn hands the session at most
    TURN_BYTES, and the line after it all is answered once every read is done."""
    data = b"".join(pieces) + b"\ninfo status\n"
    channel, tcp = open_session()
    calls = counting_calls(channel)
    clock = channel.factory.clock
    start = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts
                          if 0 < c % (len(data) + 1) < len(data))) + [len(data)]:
        before = len(calls)
        channel.dataReceived(data[start:cut])
        assert sum(len(c) for c in calls[before:]) <= TURN_BYTES
        start = cut
        while tcp.producerState == "paused":
            before = len(calls)
            clock.turn()
            assert sum(len(c) for c in calls[before:]) <= TURN_BYTES
    turns_until_idle(channel)
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")


# -- pre-login input is bounded ---------------------------------------------------------------------


class Inner:
    """Stands for the HMP session: records what it receives."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.data = bytearray()

    def started(self, channel: Any) -> None:
        pass

    def received(self, data: bytes) -> None:
        self.data += data

    def input_ended(self) -> None:
        pass

    def ended(self) -> None:
        pass

    def descriptor(self, fd: int) -> None:
        os.close(fd)

    def identified(self) -> None:
        pass


USERS = {("alice", "wonder"): PasswordEntry("alice", OPERATOR, "x"),
         ("bob", "builder"): PasswordEntry("bob", OPERATOR, "x")}


class Gate:
    """A login gate on an in-memory transport; passwords are checked when told to."""

    def __init__(self, clock: Optional[Clock] = None, throttle: Optional[LoginThrottle] = None,
                 audit: Optional[List[Tuple[Identity, Mapping[str, Any], str]]] = None,
                 peer: Any = PEER, manual: bool = False,
                 transport: Optional[StringTransport] = None) -> None:
        self.clock = clock or Clock()
        self.inner: Optional[Inner] = None
        self.tried: List[Tuple[str, str]] = []
        self.checks: List[Tuple[Deferred[Optional[PasswordEntry]], Optional[PasswordEntry]]] = []

        def authenticate(name: str, password: str) -> Deferred[Optional[PasswordEntry]]:
            self.tried.append((name, password))
            entry = USERS.get((name, password))
            if not manual:
                return succeed(entry)
            d: Deferred[Optional[PasswordEntry]] = Deferred()
            self.checks.append((d, entry))
            return d

        def build(identity: Identity) -> Inner:
            self.inner = Inner(identity)
            return self.inner

        sink = None if audit is None else \
            (lambda identity, received, outcome: audit.append((identity, received, outcome)))
        def login(channel: ChardevChannel) -> LoginGate:
            self.login = LoginGate(authenticate, build, "tcp:4444", None, self.clock,
                                   throttle=throttle, audit=sink,
                                   peer_key=throttle_key(channel.transport))
            return self.login
        self.gate = ChardevChannel("plain", login, self.clock)
        self.transport = transport if transport is not None else StringTransport(peerAddress=peer)
        self.gate.makeConnection(self.transport)

    def checked(self) -> None:
        """The password check in flight ends."""
        d, entry = self.checks.pop(0)
        d.callback(entry)

    def output(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data


def test_input_during_a_password_check_is_bounded_and_reading_stops() -> None:
    """When a client floods while its password is checked, little is kept and reading pauses."""
    rig = Gate(manual=True)
    rig.gate.dataReceived(b"alice\nwonder\ninfo status\n")
    assert rig.transport.producerState == "paused"
    for _ in range(1000):
        rig.gate.dataReceived(b"y" * 4096)
        assert len(rig.login._buffer) <= MAX_PENDING_INPUT
    rig.checked()
    assert rig.inner is not None and rig.transport.producerState == "producing"
    assert rig.inner.data.startswith(b"info status\nyyyy")
    assert len(rig.inner.data) == MAX_PENDING_INPUT


def test_input_during_a_failure_delay_is_discarded() -> None:
    """When a client floods during a failure's delay, nothing is kept, as login(1) does."""
    rig = Gate()
    rig.gate.dataReceived(b"alice\nwrong\n")
    for _ in range(1000):
        rig.gate.dataReceived(b"z" * 4096)
        assert len(rig.login._buffer) == 0
    rig.clock.advance(FAILURE_DELAY)
    assert rig.output().endswith(b"Login incorrect\r\nlogin: ")
    rig.gate.dataReceived(b"alice\nwonder\n")
    assert rig.inner is not None and rig.tried[-1] == ("alice", "wonder")


@given(st.lists(st.tuples(st.sampled_from(["check", "send", "delay"]), st.integers(1, 70000)),
                max_size=12))
def test_pre_login_buffer_never_exceeds_its_cap(steps: List[Tuple[str, int]]) -> None:
    """Whatever is sent, in whatever chunks, while checks and delays run: the cap always holds."""
    rig = Gate(manual=True)
    for kind, size in steps:
        if kind == "send":
            rig.gate.dataReceived((b"user\npass\n" + b"q" * size)[:size])
        elif kind == "check" and rig.checks:
            rig.checked()
        elif kind == "delay":
            rig.clock.advance(size / 1000)
        if rig.inner is None:
            assert len(rig.login._buffer) <= MAX_PENDING_INPUT
    assert rig.inner is None or len(rig.inner.data) <= MAX_PENDING_INPUT + 70000


# -- password guessing across connections -----------------------------------------------------------


def fail_once(clock: Clock, throttle: LoginThrottle, user: str = "alice",
              peer: Any = PEER) -> Gate:
    rig = Gate(clock, throttle, peer=peer)
    rig.gate.dataReceived(user.encode() + b"\nwrong\n")
    clock.advance(FAILURE_DELAY)
    assert rig.output().endswith(b"\r\nLogin incorrect\r\nlogin: ")
    return rig


def test_a_user_with_too_many_failures_is_refused_from_any_connection() -> None:
    """After USER_FAILURES failures for a user, even the right password is refused.

    The password is still checked (and the answer ignored), so a refusal takes
    as long as a wrong password and tells a guesser nothing."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    audit: List[Tuple[Identity, Mapping[str, Any], str]] = []
    for n in range(USER_FAILURES):
        fail_once(clock, throttle, peer=IPv4Address("TCP", f"192.0.2.{n + 10}", 1))
    rig = Gate(clock, throttle, audit=audit)
    rig.output()
    rig.gate.dataReceived(b"alice\nwonder\n")
    assert rig.tried == [("alice", "wonder")] and rig.inner is None
    assert rig.output().endswith(b"\r\nPassword: ")
    clock.advance(FAILURE_DELAY - 0.01)
    assert rig.output() == b""
    clock.advance(0.01)
    assert rig.output() == b"\r\nLogin incorrect\r\nlogin: "
    assert [(i.name, r, o) for i, r, o in audit] == [("alice", {"login": "alice"},
                                                      "login-throttled")]
    rig.gate.dataReceived(b"bob\nbuilder\n")  # another user from the same peer is let in
    assert rig.inner is not None and rig.inner.identity.name == "bob"


def test_a_peer_with_too_many_failures_is_refused_for_every_user() -> None:
    """After PEER_FAILURES failures from one host, whatever its port, every user is refused."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    for n in range(PEER_FAILURES):
        fail_once(clock, throttle, user=f"user{n}", peer=IPv4Address("TCP", "192.0.2.7", n))
    rig = Gate(clock, throttle, peer=IPv4Address("TCP", "192.0.2.7", 5555))
    rig.gate.dataReceived(b"bob\nbuilder\n")
    clock.advance(FAILURE_DELAY)
    assert rig.tried == [("bob", "builder")] and rig.inner is None
    other = Gate(clock, throttle, peer=IPv4Address("TCP", "192.0.2.8", 5555))
    other.gate.dataReceived(b"bob\nbuilder\n")
    assert other.inner is not None


def test_refusals_end_a_window_after_the_last_failure() -> None:
    """When the window has passed since the failures, the user may log in again."""
    clock = Clock()
    throttle = LoginThrottle(clock, max_user_failures=2, max_peer_failures=0, window=100)
    fail_once(clock, throttle)
    fail_once(clock, throttle)
    assert throttle.refuses("alice", "192.0.2.7")
    clock.advance(100)
    rig = Gate(clock, throttle)
    rig.gate.dataReceived(b"alice\nwonder\n")
    assert rig.inner is not None


def test_guessing_from_elsewhere_does_not_lock_a_user_out_of_their_own_host() -> None:
    """A user's failures hold back every peer but the ones the user has logged in from."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    rig = Gate(clock, throttle, peer=IPv4Address("TCP", "192.0.2.1", 4000))
    rig.gate.dataReceived(b"alice\nwonder\n")  # alice logs in from her own host
    assert rig.inner is not None
    for n in range(USER_FAILURES):
        fail_once(clock, throttle, peer=IPv4Address("TCP", f"198.51.100.{n + 10}", 1))
    assert throttle.refuses("alice", "198.51.100.200")  # a new host guessing alice
    again = Gate(clock, throttle, peer=IPv4Address("TCP", "192.0.2.1", 4001))
    again.gate.dataReceived(b"alice\nwonder\n")
    assert again.inner is not None and again.inner.identity.name == "alice"


def test_listeners_share_the_throttle_they_are_given() -> None:
    """When every listener gets the same throttle, a user refused on one is refused on all."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    runner = CommandRunner(FakeExecutor(), clock=clock)
    one = HMPServerFactory(runner, "tcp:1", clock=clock, throttle=throttle)
    two = HMPServerFactory(runner, "unix:/x", clock=clock, throttle=throttle)
    assert one.throttle is two.throttle is throttle
    assert HMPServerFactory(runner, "tcp:3", clock=clock).throttle is not throttle


@given(st.lists(st.tuples(st.sampled_from(["alice", "bob", "carol"]),
                          st.sampled_from(["10.0.0.1", "10.0.0.2"]),
                          st.booleans(), st.integers(0, 60)), max_size=40))
def test_throttle_matches_a_sliding_window_model(
        attempts: List[Tuple[str, str, bool, int]]) -> None:
    """Random attempts over time: refused exactly when the peer has N recent failures, or
    the user has and has never logged in from that peer."""
    clock = Clock()
    window, max_user, max_peer = 100.0, 3, 4
    throttle = LoginThrottle(clock, max_user_failures=max_user, max_peer_failures=max_peer,
                             window=window)
    failures: List[Tuple[float, str, str]] = []
    known: Set[Tuple[str, str]] = set()
    for user, peer, right, wait in attempts:
        clock.advance(wait)
        now = clock.seconds()
        recent = [f for f in failures if f[0] > now - window]
        expected = (sum(1 for f in recent if f[1] == user) >= max_user
                    and (user, peer) not in known) or \
            sum(1 for f in recent if f[2] == peer) >= max_peer
        assert throttle.refuses(user, peer) == expected
        if expected:
            continue
        if right:
            throttle.succeeded(user, peer)
            known.add((user, peer))
            failures = [f if f[1] != user else (f[0], "", f[2]) for f in failures]
        else:
            throttle.failed(user, peer)
            failures.append((now, user, peer))
    assert throttle.remembered <= 6


# -- audit: every line, with who sent it -----------------------------------------------------------


def test_bridge_commands_are_audited() -> None:
    """When a client runs a . command, it is one audit record with the client's identity."""
    audit = Records()
    channel, tcp = open_session(audit=audit)
    channel.dataReceived(b".help\n.events off\ninfo status\n")
    assert [(r["hmp"], r["outcome"], r["user"], r["peer"]) for r in audit.records] == [
        (".help", "ok", "192.0.2.7:40000", "192.0.2.7:40000"),
        (".events off", "ok", "192.0.2.7:40000", "192.0.2.7:40000"),
        ("info status", "ok", "192.0.2.7:40000", "192.0.2.7:40000")]


def test_lines_never_run_are_audited_as_dropped() -> None:
    """When a client leaves with lines still waiting, each is recorded as dropped."""
    audit = Records()
    executor = FakeExecutor(manual=True)
    runner = CommandRunner(executor, clock=Clock(), audit=audit)  # type: ignore[arg-type]
    telnet = HMPServerFactory(runner, "tcp:4444", clock=Clock()).buildProtocol(PEER)
    telnet.makeConnection(StringTransport(peerAddress=PEER))
    telnet.dataReceived(b"info status\n.help\n\nstop\n")
    telnet.connectionLost(None)
    executor.fire()
    assert [(r["hmp"], r["outcome"]) for r in audit.records] == [
        (".help", "dropped"), ("stop", "dropped"), ("info status", "ok")]


def test_login_attempts_are_audited_with_the_name_never_the_password() -> None:
    """Each attempt is one record: the user tried and the outcome, no password anywhere."""
    audit: List[Tuple[Identity, Mapping[str, Any], str]] = []
    rig = Gate(audit=audit)
    rig.gate.dataReceived(b"mallory\nsecret1\n")
    rig.clock.advance(FAILURE_DELAY)
    rig.gate.dataReceived(b"alice\nwonder\n")
    assert [(i.name, i.peer, i.method, r, o) for i, r, o in audit] == [
        ("mallory", "192.0.2.7:40000", "password", {"login": "mallory"}, "login-failed"),
        ("alice", "192.0.2.7:40000", "password", {"login": "alice"}, "login-ok")]
    assert "secret1" not in repr(audit) and "wonder" not in repr(audit)


def test_login_records_reach_the_audit_log_through_the_runner() -> None:
    """When a listener asks for passwords, its login records go to the runner's audit log."""
    audit = Records()
    runner = CommandRunner(FakeExecutor(), clock=Clock(), audit=audit)  # type: ignore[arg-type]
    runner.audit(Identity("mallory", role="", listener="tcp:1", peer="h:1", method="password"),
                 {"login": "mallory"}, "login-failed")
    rec = audit.records[0]
    assert (rec["user"], rec["auth"], rec["login"], rec["outcome"], rec["sent"]) == \
        ("mallory", "password", "mallory", "login-failed", [])


@implementer(ISystemHandle)
class SocketTransport(StringTransport):
    """A transport over one end of a socketpair: the kernel fills SO_PEERCRED."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(peerAddress=UNIXAddress(None))
        self._sock = sock

    def getHandle(self) -> socket.socket:
        return self._sock


@pytest.fixture
def unix_pair() -> Iterator[socket.socket]:
    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        yield left
    finally:
        left.close()
        right.close()


def test_unix_socket_clients_are_audited_by_their_credentials(
        unix_pair: socket.socket) -> None:
    """A unix-socket client is named after the user it runs as, its peer its pid, uid and gid."""
    audit = Records()
    channel, _ = open_session(audit=audit, peer=UNIXAddress(None),
                              tcp=SocketTransport(unix_pair))
    channel.dataReceived(b".help\n")
    rec = audit.records[0]
    assert rec["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert rec["peer"] == f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"


def test_unix_socket_logins_are_counted_by_uid(unix_pair: socket.socket) -> None:
    """A unix-socket client's failures count against its uid, and its records name its process."""
    audit: List[Tuple[Identity, Mapping[str, Any], str]] = []
    clock = Clock()
    throttle = LoginThrottle(clock, max_user_failures=0, max_peer_failures=1)
    rig = Gate(clock, throttle, audit=audit, transport=SocketTransport(unix_pair))
    rig.gate.dataReceived(b"alice\nwrong\n")
    assert audit[0][0].peer == f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"
    assert throttle.refuses("bob", f"uid={os.getuid()}")
    assert not throttle.refuses("bob", audit[0][0].peer)


def test_a_read_of_many_lines_answered_at_once_is_a_loop_not_a_stack() -> None:
    """Tens of thousands of empty lines (each answered at once) and then a command, in one
    read: every line gets its prompt, and the command its answer, a share of it a turn."""
    channel, tcp = open_session()
    tcp.clear()
    count = 65536
    channel.dataReceived(b"\n" * count + b"info status\n")
    assert tcp.value().count(b"(qemu) ") <= TURN_BYTES  # the others wait their turn
    turns_until_idle(channel)
    out = tcp.value()
    assert out.count(b"(qemu) ") == count + 1
    assert out.endswith(b"VM status: running\r\n(qemu) ")
