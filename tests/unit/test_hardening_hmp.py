"""Hostile HMP clients: telnet floods, pre-login floods, password guessing, audit gaps.

* Every byte the bridge writes for a session, telnet negotiation answers
  included, counts against ``--max-unread``: a client that never reads the
  answers to its own ``IAC DO`` flood is dropped like any other non-reader.
* Telnet input costs a few Python calls per telnet command, not per byte:
  runs of data (IAC IAC escapes included) reach the session in one call.
* A flood of option requests costs the other clients nothing: a request
  the bridge refused is refused once per read however often it is
  repeated, the answers are what Twisted's state machine gives without
  the repeats, and one read's commands are handled a bounded number per
  turn of the reactor, reading paused meanwhile.
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
import re
import socket
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import pytest
from hypothesis import given, strategies as st
from twisted.conch.telnet import ECHO, NOP, SGA, TelnetTransport
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ISystemHandle
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from hmpbridge.access import OPERATOR
from hmpbridge.limits import Limits
from hmpbridge.model import Identity
from hmpbridge.login import FAILURE_DELAY, MAX_PENDING_INPUT, LoginGate
from hmpbridge.passwords import PasswordEntry
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.session import TELNET_MODES, TURN_LINES, HMPSession
from hmpbridge.telnet import HMPTelnetTransport
from hmpbridge.testing import FakeExecutor
from hmpbridge.throttle import FAILURE_WINDOW, PEER_FAILURES, USER_FAILURES, LoginThrottle
from tests.unit.test_fuzz_protocols import (
    IAC,
    cut_points,
    feed,
    framed_lines,
    plain_output,
    plain_stream,
    without_negotiation,
)

WILL, WONT, DO, DONT = b"\xfb", b"\xfc", b"\xfd", b"\xfe"
PEER = IPv4Address("TCP", "192.0.2.7", 40000)


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
                 telnet_mode: str = "never") -> Tuple[HMPTelnetTransport, StringTransport]:
    """A session as the listener builds it, on an in-memory transport with a write guard."""
    runner = CommandRunner(FakeExecutor(), clock=Clock(), audit=audit)  # type: ignore[arg-type]
    factory = HMPServerFactory(runner, "tcp:4444", clock=TurnClock(), telnet_mode=telnet_mode,
                               limits=Limits(max_unread=max_unread))
    telnet = factory.buildProtocol(peer)
    tcp = tcp if tcp is not None else StringTransport(peerAddress=peer)
    telnet.makeConnection(tcp)
    return telnet, tcp


def counting_calls(telnet: HMPTelnetTransport) -> List[bytes]:
    """Every chunk the session is handed, in order."""
    session = telnet.protocol
    assert isinstance(session, HMPSession)
    calls: List[bytes] = []
    received = session.dataReceived

    def counted(data: bytes) -> None:
        calls.append(data)
        received(data)
    session.dataReceived = counted  # type: ignore[method-assign]
    return calls


# -- negotiation answers count against --max-unread -----------------------------------------------


def test_a_client_that_never_reads_its_negotiation_answers_is_dropped() -> None:
    """When the send buffer is full, IAC DO answers count like output; past the limit, the client goes."""
    telnet, tcp = open_session(max_unread=3000, tcp=FillingTransport(1))  # full at once
    guard = tcp.producer
    assert guard.paused
    for _ in range(999):
        telnet.dataReceived(IAC + DO + b"\x01")  # each one is refused: IAC WONT 1
    assert guard.pending == 999 * 3 and not tcp.disconnected
    telnet.dataReceived(IAC + DO + b"\x01" + IAC + DO + b"\x02")
    assert tcp.disconnected, "past --max-unread, a client is dropped"


def test_output_is_counted_as_written_with_escapes_and_line_ends() -> None:
    """When output is held for a client, what is counted is what was written: 0xff doubled, CR LF."""
    telnet, tcp = open_session(tcp=FillingTransport(1))
    guard = tcp.producer
    session = telnet.protocol
    assert isinstance(session, HMPSession) and tcp.filled_at is not None
    session.notice("event \udcff\nmore")  # events reach a client that is not reading, too
    telnet.dataReceived(IAC + DO + b"\x05")
    held = tcp.value()[tcp.filled_at:]
    assert held == b"\r\nevent \xff\xff\r\nmore\r\n(qemu) " + IAC + WONT + b"\x05"
    assert guard.pending == len(held)


@given(framed_lines(), cut_points, st.integers(1, 2000))
def test_every_byte_written_is_counted(framed: Tuple[List[bytes], List[List[bytes]]],
                                       cuts: List[int], size: int) -> None:
    """Lines and telnet commands, cut anywhere: once the send buffer is full, the guard
    counts every byte the client is sent after the write that filled it."""
    _, lines = framed
    data = b"".join(b"".join(atoms) for atoms in lines)
    telnet, tcp = open_session(max_unread=1 << 30, tcp=FillingTransport(size))
    guard = tcp.producer
    feed(telnet, data, [c % (len(data) + 1) for c in cuts])
    written = len(tcp.value())
    assert guard.pending == (0 if tcp.filled_at is None else written - tcp.filled_at)


# -- telnet input costs O(bytes), not O(bytes) Python calls ---------------------------------------


def test_a_stream_of_escaped_0xff_reaches_the_session_in_one_call() -> None:
    """When a client streams IAC IAC, the session gets the data in one call per chunk."""
    telnet, tcp = open_session()
    calls = counting_calls(telnet)
    for _ in range(4):
        telnet.dataReceived(b"\xff" * 65536)
    telnet.dataReceived(b"\n")
    assert len(calls) == 5
    assert b"".join(calls) == b"\xff" * 131072 + b"\n"
    assert tcp.value().endswith(b"(qemu) ")


def test_telnet_commands_inside_data_split_it_only_where_they_are() -> None:
    """A command between two runs of data makes two calls, the data unchanged around it."""
    telnet, _ = open_session()
    calls = counting_calls(telnet)
    telnet.dataReceived(b"info " + IAC + b"\xf1" + b"st\xff\xffatus" + IAC + DO + b"\x01" + b"\n")
    assert calls == [b"info ", b"st\xffatus", b"\n"]


def _atom_is_command(atom: bytes) -> bool:
    return atom.startswith(IAC) and atom != IAC + IAC


@given(framed_lines(), cut_points)
def test_session_calls_scale_with_commands_and_chunks_not_bytes(
        framed: Tuple[List[bytes], List[List[bytes]]], cuts: List[int]) -> None:
    """Random telnet commands between lines, random chunks: at most one call per piece of data."""
    contents, lines = framed
    data = b"".join(b"".join(atoms) for atoms in lines)
    commands = sum(1 for atoms in lines for atom in atoms if _atom_is_command(atom))
    cuts = [c % (len(data) + 1) for c in cuts]
    chunks = len(set(c for c in cuts if 0 < c < len(data))) + 1
    telnet, tcp = open_session()
    calls = counting_calls(telnet)
    feed(telnet, data, cuts)
    assert len(calls) <= chunks + commands + data.count(b"\r")
    expected, _ = plain_output(plain_stream(contents))
    assert without_negotiation(tcp.value()) == expected


def test_a_sub_negotiation_is_read_without_a_call_per_byte() -> None:
    """A sub-negotiation's payload is collected whole and ignored; the line after it runs."""
    telnet, tcp = open_session()
    calls = counting_calls(telnet)
    telnet.dataReceived(IAC + b"\xfa\x18" + b"x" * 4000 + IAC + IAC + IAC + b"\xf0info status\n")
    assert calls == [b"info status\n"]
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")


# -- an option flood costs the other clients nothing ----------------------------------------------


class TurnClock(Clock):
    """A clock that runs the calls due a turn at a time, as the reactor does: a call made
    for now during a turn runs in the next one (``Clock.advance`` runs it at once)."""

    def turn(self) -> bool:
        """Run the calls due now, not those they make; whether there were any."""
        due = [call for call in self.calls if call.getTime() <= self.seconds()]
        for call in due:
            self.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)
        return bool(due)


def turns_until_idle(telnet: HMPTelnetTransport, limit: int = 100000) -> int:
    """Run the session clock's due calls a turn at a time until none is left; the turns taken."""
    clock = telnet.factory.clock
    turns = 0
    while clock.turn():
        turns += 1
        assert turns < limit, "a read is never finished"
    return turns


_OPTION_COMMAND = re.compile(rb"\xff\xff|\xff[\xfb-\xfe][\s\S]")


def option_commands(data: bytes) -> List[bytes]:
    """The telnet option commands in what a client was sent, in order (0xff escapes skipped)."""
    return [found for found in _OPTION_COMMAND.findall(data) if found != IAC + IAC]


def option_states(telnet: HMPTelnetTransport) -> Dict[bytes, Tuple[str, bool, str, bool]]:
    """Every option's state on both sides, the options never touched left out."""
    states = {option: (state.us.state, state.us.negotiating, state.him.state,
                       state.him.negotiating) for option, state in telnet.options.items()}
    return {option: state for option, state in states.items()
            if state != ("no", False, "no", False)}


def is_subsequence(part: List[bytes], whole: List[bytes]) -> bool:
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


def test_a_refused_request_repeated_in_one_read_is_refused_once() -> None:
    """64 KiB of IAC DO for every option in turn, in one read: one IAC WONT per option."""
    telnet, tcp = open_session()
    connected = len(tcp.value())
    flood = b"".join(IAC + DO + bytes([n % 256]) for n in range(21845))
    telnet.dataReceived(flood)
    turns_until_idle(telnet)
    refusals = b"".join(IAC + WONT + bytes([n]) for n in range(256))
    assert tcp.value()[connected:] == refusals
    telnet.dataReceived(flood[:3 * 256])  # a new read asks again: it is refused again
    turns_until_idle(telnet)
    assert tcp.value()[connected:] == refusals * 2
    telnet.dataReceived(b"info status\n")
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")


def test_one_reads_telnet_commands_are_handled_a_bounded_number_per_turn() -> None:
    """32768 IAC NOP in one read: a bounded number per turn, reading paused until all are done."""
    telnet, tcp = open_session()
    handled: List[bytes] = []
    telnet.unhandledCommand = lambda command, argument: handled.append(command)  # type: ignore
    telnet.dataReceived((IAC + NOP) * 32768 + b"info status\n")
    per_turn = [len(handled)]
    assert tcp.producerState == "paused", "the rest of the read waits, and nothing more is read"
    assert not tcp.value().endswith(b"VM status: running\r\n(qemu) ")
    clock = telnet.factory.clock
    while tcp.producerState == "paused":
        before = len(handled)
        clock.turn()
        per_turn.append(len(handled) - before)
        assert len(per_turn) < 10000
    assert handled == [NOP] * 32768
    assert 0 < max(per_turn) <= 1024 and len(per_turn) >= 32
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")


def test_a_half_close_waits_for_the_rest_of_the_read() -> None:
    """A client that half-closes after a long read still gets its line answered, then is closed."""
    telnet, tcp = open_session()
    telnet.dataReceived((IAC + NOP) * 32768 + b"info status\n")
    telnet.readConnectionLost()
    assert not tcp.disconnecting
    turns_until_idle(telnet)
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ") and tcp.disconnecting


def test_a_session_that_paused_reading_stays_paused_after_the_rest_of_a_read() -> None:
    """Reading resumes when neither the session nor the telnet framing holds it."""
    telnet, tcp = open_session()
    telnet.dataReceived((IAC + NOP) * 4096)
    assert tcp.producerState == "paused"
    telnet.pauseProducing()  # as the session does with too many lines waiting
    turns_until_idle(telnet)
    assert tcp.producerState == "paused"
    telnet.resumeProducing()
    assert tcp.producerState == "producing"


option_command = st.tuples(st.sampled_from([WILL, WONT, DO, DONT]),
                           st.sampled_from([b"\x00", ECHO, SGA, b"\r", b"\x18", b"\xff"]))


@given(st.lists(option_command, min_size=1, max_size=12), st.integers(1, 40),
       st.sampled_from(TELNET_MODES))
def test_option_answers_are_twisteds_without_repeats_in_one_read(
        commands: List[Tuple[bytes, bytes]], repeat: int, mode: str) -> None:
    """Option commands over and over in one read end in the state Twisted's machine reaches;
    the answers are Twisted's in order, some repeats left out, none missing; one command per
    read gets exactly Twisted's answers."""
    stream = commands * repeat
    fast, fast_tcp = open_session(telnet_mode=mode)
    reference, reference_tcp = open_session(telnet_mode=mode)
    single, single_tcp = open_session(telnet_mode=mode)
    connected = len(reference_tcp.value())
    fast.dataReceived(b"".join(IAC + command + option for command, option in stream))
    turns_until_idle(fast)
    for command, option in stream:
        TelnetTransport.commandReceived(reference, command, option)
        single.dataReceived(IAC + command + option)
    assert option_states(fast) == option_states(reference) == option_states(single)
    assert fast.protocol.interactive == reference.protocol.interactive
    got = option_commands(fast_tcp.value()[connected:])
    want = option_commands(reference_tcp.value()[connected:])
    assert is_subsequence(got, want) and set(got) == set(want)
    assert single_tcp.value() == reference_tcp.value()


telnet_piece = st.one_of(
    st.tuples(option_command, st.integers(1, 3000)).map(lambda c: (IAC + c[0][0] + c[0][1]) * c[1]),
    st.integers(1, 3000).map(lambda n: (IAC + NOP) * n),
    st.sampled_from([b"x", b"info status\n", b"\r\n", IAC + IAC]))


@given(st.lists(telnet_piece, max_size=8), cut_points)
def test_work_per_turn_is_bounded_and_every_line_is_answered(
        pieces: List[bytes], cuts: List[int]) -> None:
    """Any mix of option commands, other commands and data, cut anywhere: each turn hands the
    session and Twisted's state machine a bounded number of calls, and the line after it all
    is answered once every read is done."""
    data = b"".join(pieces) + b"\ninfo status\n"
    telnet, tcp = open_session()
    session = telnet.protocol
    calls = [0]
    received, command = session.dataReceived, telnet.commandReceived

    def count(call: Callable[..., None]) -> Callable[..., None]:
        def counted(*args: Any) -> None:
            calls[0] += 1
            call(*args)
        return counted
    session.dataReceived = count(received)  # type: ignore[method-assign]
    telnet.commandReceived = count(command)  # type: ignore[method-assign]
    clock = telnet.factory.clock
    start = 0
    per_turn: List[int] = []
    for cut in sorted(set(c % (len(data) + 1) for c in cuts if 0 < c % (len(data) + 1) < len(data))) \
            + [len(data)]:
        calls[0] = 0
        telnet.dataReceived(data[start:cut])
        per_turn.append(calls[0])
        start = cut
        while tcp.producerState == "paused":
            calls[0] = 0
            clock.turn()
            per_turn.append(calls[0])
            assert len(per_turn) < 100000
    assert max(per_turn) <= 1024 + 2
    assert tcp.value().endswith(b"VM status: running\r\n(qemu) ")


# -- pre-login input is bounded ---------------------------------------------------------------------


class Inner(Protocol):
    """Stands for the HMP session: records what it receives."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.received = bytearray()

    def dataReceived(self, data: bytes) -> None:
        self.received += data


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
        self.gate = LoginGate(authenticate, build, "tcp:4444", None, self.clock,
                              throttle=throttle, audit=sink)
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
        assert len(rig.gate._buffer) <= MAX_PENDING_INPUT
    rig.checked()
    assert rig.inner is not None and rig.transport.producerState == "producing"
    assert rig.inner.received.startswith(b"info status\nyyyy")
    assert len(rig.inner.received) == MAX_PENDING_INPUT


def test_input_during_a_failure_delay_is_discarded() -> None:
    """When a client floods during a failure's delay, nothing is kept, as login(1) does."""
    rig = Gate()
    rig.gate.dataReceived(b"alice\nwrong\n")
    for _ in range(1000):
        rig.gate.dataReceived(b"z" * 4096)
        assert len(rig.gate._buffer) == 0
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
            assert len(rig.gate._buffer) <= MAX_PENDING_INPUT
    assert rig.inner is None or len(rig.inner.received) <= MAX_PENDING_INPUT + 70000


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
    assert rig.output() == b"Password: "
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
    telnet, tcp = open_session(audit=audit)
    telnet.dataReceived(b".help\n.events off\ninfo status\n")
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
    telnet, _ = open_session(audit=audit, peer=UNIXAddress(None),
                             tcp=SocketTransport(unix_pair))
    telnet.dataReceived(b".help\n")
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
    read: every line gets its prompt, and the command its answer, TURN_LINES a turn."""
    telnet, tcp = open_session()
    tcp.clear()
    count = 65536
    telnet.dataReceived(b"\n" * count + b"info status\n")
    assert tcp.value().count(b"(qemu) ") == TURN_LINES  # the others wait their turn
    turns = turns_until_idle(telnet)
    out = tcp.value()
    assert out.count(b"(qemu) ") == count + 1
    assert out.endswith(b"VM status: running\r\n(qemu) ")
    assert turns == -(-(count + 1) // TURN_LINES) - 1
