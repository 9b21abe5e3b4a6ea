"""QMP clients of the bridge cannot exhaust it: output, descriptors, audit, message size.

A client that stops reading gets nothing more forwarded and is dropped once
over ``Limits.max_unread`` or stalled ``Limits.stall_timeout``; descriptors
passed over SCM_RIGHTS are capped; every message is one audit record.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Tuple

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge import peercred
from hmpbridge.access import READ_ONLY
from hmpbridge.audit import AuditLog
from hmpbridge.events import EventHub
from hmpbridge.limits import MAX_QMP_MESSAGE, MAX_QMP_MESSAGE_READ_ONLY, Limits
from hmpbridge.peercred import PeerCredentials
from hmpbridge.qmp_server import (CLIENT_WINDOW, MAX_BACKLOG, MAX_HELD_FDS, PARSE_SLICE,
                                  TURN_MESSAGES, QMPServerFactory)
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeExecutor
from tests.unit.test_qmp_server import FakeMux, lines

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
STOP = {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}


class Transport(StringTransport):
    """A connection that records being aborted (as the write guard drops a client)."""

    aborted = False

    def __init__(self) -> None:
        super().__init__()
        self.sizes: List[int] = []  # of each write

    def write(self, data: bytes) -> None:
        super().write(data)
        self.sizes.append(len(data))

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True


def client(mux: FakeMux, negotiate: bool = True, limits: Limits = Limits(), **kw: Any):
    clock = Clock()
    factory = QMPServerFactory(mux, "tcp:4445", clock=clock, limits=limits, **kw)
    protocol = factory.buildProtocol(PEER)
    transport = Transport()
    protocol.makeConnection(transport)
    if negotiate:
        protocol.dataReceived(b'{"execute": "qmp_capabilities"}')
    lines(transport)
    return protocol, transport, clock


def turns(clock: Clock) -> None:
    """Let the reactor turn until no client has input left for a later turn."""
    for _ in range(10000):
        if not any(call.getTime() <= clock.seconds() for call in clock.getDelayedCalls()):
            return
        clock.advance(0)
    raise AssertionError("input never ran out")


def emit(mux: FakeMux, event: Dict[str, Any] = STOP) -> None:
    for observer in list(mux.events):
        observer(event)


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def pipes(count: int) -> Tuple[List[int], List[int]]:
    """``count`` read ends to pass, and their write ends (to close)."""
    reads, writes = [], []
    for _ in range(count):
        r, w = os.pipe()
        reads.append(r)
        writes.append(w)
    return reads, writes


def close_all(fds: List[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# -- output: a client that stops reading -------------------------------------------------------

def test_limits_reach_the_qmp_write_guard() -> None:
    """When limits are given to the factory, each QMP client's write guard uses them."""
    _, transport, _ = client(FakeMux(), limits=Limits(stall_timeout=5, max_unread=10))
    guard = transport.producer
    assert (guard.stall_timeout, guard.max_pending) == (5, 10)


def test_a_client_that_stops_reading_gets_nothing_more_forwarded() -> None:
    """When the client's send buffer is full, its next commands wait until it reads."""
    mux = FakeMux()
    protocol, transport, _ = client(mux)
    transport.producer.pauseProducing()
    protocol.dataReceived(b'{"execute": "query-status", "id": 1}[]{"execute": "stop", "id": 2}')
    assert mux.forwarded == [] and transport.value() == b""
    transport.producer.resumeProducing()
    assert [m["execute"] for m, _, _ in mux.forwarded] == ["query-status", "stop"]
    mux.answer(0)
    mux.answer(1)
    assert [r.get("id") for r in lines(transport)] == [1, None, 2]


def test_unread_replies_and_events_over_the_limit_drop_the_client() -> None:
    """When replies in flight and events pile up unread past max_unread, the client is dropped."""
    mux = FakeMux()
    protocol, transport, _ = client(mux, limits=Limits(max_unread=300))
    protocol.dataReceived(b'{"execute": "query-qmp-schema", "id": 1}' * CLIENT_WINDOW)
    transport.producer.pauseProducing()
    emit(mux)  # the write that filled the send buffer: not the client's backlog
    mux.answer(0, [{"name": "x" * 100}])
    emit(mux)
    assert not transport.aborted
    mux.answer(1, [{"name": "x" * 100}])
    assert transport.aborted
    emit(mux)  # the client is gone: nothing more is written for it
    mux.answer(2)


def test_a_stalled_client_is_dropped_after_the_stall_timeout() -> None:
    """When the client leaves its output unread for stall_timeout seconds, it is dropped."""
    protocol, transport, clock = client(FakeMux(), limits=Limits(stall_timeout=5))
    transport.producer.pauseProducing()
    clock.advance(4.9)
    assert not transport.aborted
    clock.advance(0.1)
    assert transport.aborted


def test_others_are_served_while_one_client_is_stalled() -> None:
    """When one client stops reading, another client's commands are forwarded and answered."""
    mux = FakeMux()
    stalled, stalled_transport, _ = client(mux)
    other, other_transport, _ = client(mux)
    stalled_transport.producer.pauseProducing()
    stalled.dataReceived(b'{"execute": "query-status", "id": 1}' * 10)
    other.dataReceived(b'{"execute": "query-name", "id": 2}')
    assert [m["execute"] for m, _, _ in mux.forwarded] == ["query-name"]
    mux.answer(0)
    assert lines(other_transport) == [{"return": {}, "id": 2}]


def test_a_flood_behind_an_unanswered_command_is_not_read() -> None:
    """When a client's early command is unanswered, its flood of bad messages waits unread."""
    mux = FakeMux()
    protocol, transport, clock = client(mux)
    protocol.dataReceived(b'{"execute": "query-status", "id": 0}' + b"[] " * (MAX_BACKLOG * 4))
    assert transport.producerState == "paused"
    assert len(protocol._replies) == MAX_BACKLOG
    mux.answer(0)
    turns(clock)
    assert len(lines(transport)) == MAX_BACKLOG * 4 + 1
    assert transport.producerState == "producing"


def test_a_client_that_must_wait_keeps_its_input_as_bytes() -> None:
    """When a client that is not reading sends a burst, it stays unparsed bytes, not messages."""
    mux = FakeMux()
    protocol, transport, clock = client(mux)
    transport.producer.pauseProducing()
    burst = b"[] " * 20000
    protocol.dataReceived(burst)
    assert transport.producerState == "paused"
    assert len(protocol._inbox) <= PARSE_SLICE and transport.value() == b""
    transport.producer.resumeProducing()
    turns(clock)
    replies = lines(transport)
    assert len(replies) == 20000 and transport.producerState == "producing"


def test_a_flood_is_answered_a_turn_at_a_time_and_others_are_served_between() -> None:
    """When a client sends thousands of messages at once, another client's turn comes between."""
    mux = FakeMux()
    flood, flood_transport, clock = client(mux)
    other, other_transport, _ = client(mux)
    other.clock = clock
    flood.dataReceived(b"[] " * (TURN_MESSAGES * 3))
    assert len(lines(flood_transport)) == TURN_MESSAGES
    assert flood_transport.producerState == "paused"
    other.dataReceived(b'{"execute": "query-name", "id": 1}')
    assert [m["execute"] for m, _, _ in mux.forwarded] == ["query-name"]
    turns(clock)
    assert len(lines(flood_transport)) == TURN_MESSAGES * 2
    assert flood_transport.producerState == "producing"


def test_out_of_band_commands_count_against_the_backlog() -> None:
    """When a client floods exec-oob, at most MAX_BACKLOG of them are at QEMU at once."""
    mux = FakeMux()
    protocol, transport, _ = client(mux, negotiate=False)
    protocol.dataReceived(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
    lines(transport)
    protocol.dataReceived(b'{"exec-oob": "query-status"}' * (MAX_BACKLOG * 3))
    assert len(mux.forwarded) == MAX_BACKLOG and transport.producerState == "paused"
    for n in range(MAX_BACKLOG * 3):
        mux.answer(n)
    assert len(mux.forwarded) == MAX_BACKLOG * 3 and transport.producerState == "producing"


def test_events_to_hmp_sessions_count_against_their_unread_limit() -> None:
    """When an HMP session with events on stops reading, events count and drop it past the limit."""
    mux = FakeMux()
    factory = HMPServerFactory(CommandRunner(FakeExecutor()), "tcp:4444", EventHub(mux),
                               events_on=True, clock=Clock(),
                               limits=Limits(max_unread=200))
    protocol = factory.buildProtocol(PEER)
    transport = Transport()
    protocol.makeConnection(transport)
    transport.producer.pauseProducing()
    for _ in range(5):
        emit(mux)
    assert not transport.aborted
    for _ in range(5):
        emit(mux)
    assert transport.aborted


# -- descriptors ---------------------------------------------------------------------------

def test_descriptors_before_negotiation_are_closed_at_once() -> None:
    """When a client that has not negotiated passes descriptors, none is kept."""
    protocol, _, _ = client(FakeMux(), negotiate=False)
    reads, writes = pipes(50)
    for fd in reads:
        protocol.fileDescriptorReceived(fd)
    assert protocol.held_fds == 0 and not any(is_open(fd) for fd in reads)
    close_all(writes)


def test_one_descriptor_is_kept_the_first_of_the_latest_batch() -> None:
    """When batches of descriptors arrive, the latest's first goes with getfd; the rest close."""
    mux = FakeMux()
    protocol, _, _ = client(mux)
    first, writes = pipes(3)
    second, more = pipes(3)
    for fd in first:
        protocol.fileDescriptorReceived(fd)
    protocol.dataReceived(b" ")
    for fd in second:
        protocol.fileDescriptorReceived(fd)
    assert protocol.held_fds == MAX_HELD_FDS == 1
    assert [is_open(fd) for fd in first + second] == [False] * 3 + [True, False, False]
    protocol.dataReceived(b'{"execute": "getfd", "arguments": {"fdname": "f"}}'
                          b'{"execute": "getfd", "arguments": {"fdname": "g"}}')
    assert [fds for _, fds, _ in mux.forwarded] == [(second[0],), ()]
    close_all([second[0]] + writes + more)


def test_pipelined_getfds_each_take_their_own_descriptor() -> None:
    """When getfds with their descriptors queue behind a full window, each keeps its own."""
    mux = FakeMux()
    protocol, _, _ = client(mux)
    protocol.dataReceived(b'{"execute": "query-status"}' * CLIENT_WINDOW)
    reads, writes = pipes(2)
    for n, fd in enumerate(reads):
        protocol.fileDescriptorReceived(fd)
        protocol.dataReceived(b'{"execute": "getfd", "arguments": {"fdname": "f%d"}}' % n)
    assert all(is_open(fd) for fd in reads) and len(mux.forwarded) == CLIENT_WINDOW
    for n in range(CLIENT_WINDOW + 1):
        mux.answer(n)
    assert [fds for _, fds, _ in mux.forwarded[CLIENT_WINDOW:]] == [(reads[0],), (reads[1],)]
    close_all(reads + writes)


def test_read_only_clients_hold_no_descriptors() -> None:
    """When a read-only client (which may not run getfd) passes a descriptor, it is closed."""
    protocol, _, _ = client(FakeMux(), role=READ_ONLY)
    reads, writes = pipes(1)
    protocol.fileDescriptorReceived(reads[0])
    assert protocol.held_fds == 0 and not is_open(reads[0])
    close_all(writes)


def test_held_descriptors_close_with_the_connection() -> None:
    """When a client leaves with a descriptor unused, the bridge closes it."""
    protocol, _, _ = client(FakeMux())
    reads, writes = pipes(1)
    protocol.fileDescriptorReceived(reads[0])
    protocol.connectionLost(None)
    assert not is_open(reads[0])
    close_all(writes)


def test_hmp_sessions_keep_one_descriptor() -> None:
    """When an HMP client passes many descriptors, its session keeps only the newest."""
    factory = HMPServerFactory(CommandRunner(FakeExecutor()), "unix:/h", clock=Clock())
    protocol = factory.buildProtocol(PEER)
    protocol.makeConnection(Transport())
    reads, writes = pipes(20)
    for fd in reads:
        protocol.fileDescriptorReceived(fd)
    assert [is_open(fd) for fd in reads] == [False] * 19 + [True]
    protocol.connectionLost(None)
    assert not is_open(reads[-1])
    close_all(writes)


# -- audit -------------------------------------------------------------------------------------

def audited(tmp_path, data: bytes, negotiate: bool = False, answers: int = 0,
            max_message: int = 1 << 20, role: str = "operator") -> List[Dict[str, Any]]:
    path = tmp_path / "audit.log"
    mux = FakeMux()
    protocol, _, _ = client(mux, negotiate=negotiate, audit=AuditLog(str(path)),
                            max_message=max_message, role=role)
    protocol.dataReceived(data)
    for n in range(answers):
        mux.answer(n)
    protocol.connectionLost(None)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_kind_of_message_is_one_audit_record(tmp_path) -> None:
    """When a client sends good, bad and refused messages, each is one record with its outcome."""
    data = (b'{"execute": "query-status", "id": 1}'      # before negotiation
            b'{"execute": "qmp_capabilities", "arguments": {"x": 1}}'
            b'{"execute": "qmp_capabilities"}'
            b'{"execute": "qmp_capabilities"}'            # again
            b'{"bad json\n'
            b'[1]'
            b'{"execute": "query-status", "foo": 1}'
            b'{"execute": "query-status", "id": 2}'
            b'{"execute": "query-name", "id": 3}')
    records = audited(tmp_path, data, answers=2)
    assert [(r["qmp"], r.get("error"), r["outcome"]) for r in records] == [
        ({"execute": "query-status", "id": 1}, None, "error:CommandNotFound"),
        ({"execute": "qmp_capabilities", "arguments": {"x": 1}}, None, "error:GenericError"),
        ({"execute": "qmp_capabilities"}, None, "ok"),
        ({"execute": "qmp_capabilities"}, None, "error:CommandNotFound"),
        (None, "JSON parse error, stray '\"bad json\n'", "parse-error"),
        ([1], None, "parse-error"),
        ({"execute": "query-status", "foo": 1}, None, "parse-error"),
        ({"execute": "query-status", "id": 2}, None, "ok"),
        ({"execute": "query-name", "id": 3}, None, "ok"),
    ]
    assert all(r["peer"] == "127.0.0.1:40000" and r["user"] == "127.0.0.1:40000"
               and r["listener"] == "tcp:4445" for r in records)
    assert [r["sent"] for r in records if r["sent"]] == [[{"execute": "query-status"}],
                                                         [{"execute": "query-name"}]]


def test_messages_left_unsent_when_the_client_leaves_are_audited(tmp_path) -> None:
    """When a client leaves with messages waiting (it stopped reading), each is recorded dropped."""
    path = tmp_path / "audit.log"
    mux = FakeMux()
    protocol, transport, _ = client(mux, audit=AuditLog(str(path)))
    transport.producer.pauseProducing()
    protocol.dataReceived(b'{"execute": "query-status"}[]')
    protocol.connectionLost(None)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["qmp"], r["outcome"]) for r in records] == [
        ({"execute": "qmp_capabilities"}, "ok"), ({"execute": "query-status"}, "dropped"),
        ([], "dropped")]
    assert mux.forwarded == []


def test_denied_and_oversized_messages_are_audited(tmp_path) -> None:
    """When a message is denied or over the size limit, it is recorded and never forwarded."""
    data = b'{"execute": "stop"}{"execute": "query-name", "arguments": {"a": "' + \
        b"x" * 200 + b'"}}\n{"execute": "query-status"}'
    records = audited(tmp_path, data, negotiate=True, answers=1, max_message=100,
                      role=READ_ONLY)
    assert [(r["qmp"], r.get("error"), r["outcome"]) for r in records] == [
        ({"execute": "qmp_capabilities"}, None, "ok"),
        ({"execute": "stop"}, None, "denied"),
        (None, "JSON token size limit exceeded", "parse-error"),
        ({"execute": "query-status"}, None, "ok"),
    ]


def test_unix_clients_are_named_by_their_process_and_user(tmp_path, monkeypatch) -> None:
    """When a client comes over a unix socket, its user and process are its identity."""
    monkeypatch.setattr(peercred, "peer_credentials",
                        lambda transport: PeerCredentials(4242, 0, 0))
    records = audited(tmp_path, b'{"execute": "qmp_capabilities"}')
    assert (records[0]["user"], records[0]["peer"]) == ("root", "pid=4242,uid=0,gid=0")


# -- message size ------------------------------------------------------------------------------

def test_message_size_defaults_by_role() -> None:
    """When no limit is given, operators may send 1 MiB messages and read-only clients 64 KiB."""
    assert QMPServerFactory(FakeMux()).max_message == MAX_QMP_MESSAGE == 1 << 20
    assert QMPServerFactory(FakeMux(), role=READ_ONLY).max_message == \
        MAX_QMP_MESSAGE_READ_ONLY == 64 << 10
    assert QMPServerFactory(FakeMux(), role=READ_ONLY, max_message=10).max_message == 10


def test_an_oversized_message_gets_qemus_error_is_not_sent_and_the_client_carries_on() -> None:
    """When a message is over the limit, QEMU's error comes back, and the next line is served."""
    mux = FakeMux()
    protocol, transport, _ = client(mux, max_message=1000)
    at_limit = b'{"execute": "query-name", "arguments": {"a": "' + b"x" * 951 + b'"}}'
    assert len(at_limit) == 1000
    protocol.dataReceived(at_limit)
    over = at_limit[:-2] + b'x"}}'
    for start in range(0, len(over), 300):
        protocol.dataReceived(over[start:start + 300])
    protocol.dataReceived(b'\n{"execute": "query-status", "id": 2}\n')
    assert [m["execute"] for m, _, _ in mux.forwarded] == ["query-name", "query-status"]
    assert len(protocol._splitter._buf) == 0
    mux.answer(0)
    mux.answer(1)
    assert lines(transport) == [
        {"return": {}},
        {"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}},
        {"return": {}, "id": 2}]


# -- property: random interleavings ------------------------------------------------------------

steps = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(1, 6)),
    st.tuples(st.just("junk"), st.integers(1, 6)),
    st.tuples(st.just("answer"), st.integers(0, 8)),
    st.tuples(st.just("event"), st.integers(1, 3)),
    st.tuples(st.just("pause"), st.just(0)),
    st.tuples(st.just("resume"), st.just(0)),
    st.tuples(st.just("tick"), st.integers(1, 4)),
), max_size=40)


@given(steps, st.integers(50, 2000))
def test_random_pauses_events_and_replies_keep_every_limit(script, max_unread: int) -> None:
    """Any interleaving: nothing forwarded while paused, replies in order, dropped when over."""
    mux = FakeMux()
    protocol, transport, clock = client(mux, limits=Limits(stall_timeout=3,
                                                           max_unread=max_unread))
    guard = transport.producer
    sent, answered, ids = 0, 0, []
    since_pause: List[int] = []  # sizes of the writes since the client stopped reading
    for op, n in script:
        before = len(mux.forwarded)
        writes = len(transport.sizes)
        if op == "send":
            protocol.dataReceived(b"".join(b'{"execute": "c", "id": %d}' % (sent + i)
                                           for i in range(n)))
            ids += [sent + i for i in range(n)]
            sent += n
        elif op == "junk":
            protocol.dataReceived(b"[] " * n)
            ids += [None] * n
        elif op == "answer":
            for _ in range(n):
                if answered < len(mux.forwarded):
                    mux.answer(answered, {"pad": "x" * 40})
                    answered += 1
        elif op == "event":
            for _ in range(n):
                emit(mux)
        elif op == "pause":
            guard.pauseProducing()
            since_pause = []
        elif op == "resume":
            guard.resumeProducing()
        else:
            clock.advance(n)
        if guard.paused and not guard.dropped:
            assert len(mux.forwarded) == before  # a client that is not reading gets nothing sent
        if guard.paused:
            since_pause += transport.sizes[writes:]
        if transport.aborted:
            break
        assert sum(since_pause[1:]) <= max_unread  # the write that filled the buffer aside
        assert len(protocol._replies) <= MAX_BACKLOG
        assert protocol._at_qemu <= CLIENT_WINDOW
    got = [r.get("id") for r in lines(transport) if "event" not in r]
    assert got == ids[:len(got)]  # replies in request order, none invented


@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=8), st.booleans(),
       st.sampled_from(["operator", READ_ONLY]))
def test_random_descriptor_batches_hold_at_most_one(batches, negotiate: bool, role: str) -> None:
    """Any number of batches of descriptors: at most one kept, the rest closed, none after close."""
    mux = FakeMux()
    protocol, _, _ = client(mux, negotiate=negotiate, role=role)
    passed: List[int] = []
    writes: List[int] = []
    forwarded_fds: List[int] = []
    try:
        for count, getfd in batches:
            reads, more = pipes(count)
            reused = set(reads) | set(more)  # numbers the bridge closed, handed out again
            passed = [fd for fd in passed if fd not in reused] + reads
            writes += more
            for fd in reads:
                protocol.fileDescriptorReceived(fd)
            protocol.dataReceived(b'{"execute": "getfd", "arguments": {"fdname": "f"}}'
                                  if getfd else b" ")
            held = [fd for fd in passed if is_open(fd)]
            forwarded_fds = [fd for _, fds, _ in mux.forwarded for fd in fds]
            queued = [fd for _, fds, _, _ in protocol._backlog for fd in fds]
            assert protocol.held_fds <= MAX_HELD_FDS and len(queued) <= 1
            assert len(held) == protocol.held_fds + len(queued) + len(forwarded_fds)
            assert len(held) <= MAX_HELD_FDS + 1 + CLIENT_WINDOW
            if not negotiate or role == READ_ONLY:
                assert held == []
        protocol.connectionLost(None)
        assert [fd for fd in passed if is_open(fd)] == forwarded_fds
    finally:
        close_all(forwarded_fds + writes)
