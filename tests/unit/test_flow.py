"""A client that stops reading is held to a bounded backlog, then dropped."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.flow import MAX_PENDING_OUTPUT, STALL_TIMEOUT, WriteGuard


class Transport(StringTransport):
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


def test_a_stalled_reader_is_dropped_after_the_timeout() -> None:
    """When the send buffer stays full for the stall timeout, the connection is aborted."""
    clock, transport = Clock(), Transport()
    guard = WriteGuard(transport, clock)
    assert transport.producer is guard and transport.streaming
    guard.pauseProducing()
    clock.advance(STALL_TIMEOUT - 1)
    assert not transport.aborted
    clock.advance(1)
    assert transport.aborted and guard.dropped


def test_a_reader_that_catches_up_is_kept_and_its_session_resumes() -> None:
    """When the client reads its backlog in time, nothing is dropped and the session goes on."""
    clock, transport, resumed = Clock(), Transport(), []  # type: ignore[var-annotated]
    guard = WriteGuard(transport, clock, resumed=lambda: resumed.append(True))
    guard.pauseProducing()
    clock.advance(STALL_TIMEOUT / 2)
    guard.resumeProducing()
    clock.advance(STALL_TIMEOUT)
    assert not transport.aborted and resumed == [True] and not guard.paused


def test_too_much_unread_output_drops_at_once() -> None:
    """When more than the limit waits for a paused client, it is dropped without waiting."""
    transport = Transport()
    guard = WriteGuard(transport, Clock())
    guard.wrote(MAX_PENDING_OUTPUT * 2)  # not paused: the transport is draining
    assert not transport.aborted
    guard.pauseProducing()
    guard.wrote(10)  # the write that filled the send buffer
    guard.wrote(MAX_PENDING_OUTPUT)
    assert not transport.aborted
    guard.wrote(1)
    assert transport.aborted


def test_the_write_that_fills_the_buffer_is_not_held_against_the_client() -> None:
    """When one answer larger than the limit fills the send buffer, a reading client stays."""
    transport = Transport()
    guard = WriteGuard(transport, Clock(), max_pending=100)
    transport.write(b"x" * 1000)
    guard.pauseProducing()  # as Twisted does from within that write
    guard.wrote(1000)
    assert not transport.aborted and guard.pending == 0
    guard.resumeProducing()
    assert not transport.aborted


def test_a_paused_session_runs_no_further_lines() -> None:
    """When the client stops reading, queued lines wait instead of running against QEMU."""
    from twisted.internet.address import IPv4Address

    from hmpbridge.runner import CommandRunner
    from hmpbridge.server import HMPServerFactory
    from hmpbridge.testing import FakeExecutor

    executor = FakeExecutor()
    clock = Clock()
    factory = HMPServerFactory(CommandRunner(executor, clock=clock), clock=clock)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = Transport()
    protocol.makeConnection(transport)
    guard = transport.producer
    guard.pauseProducing()
    protocol.dataReceived(b"info status\ninfo status\n")
    assert executor.commands == []
    guard.resumeProducing()
    assert [c.execute for c in executor.commands] == ["query-status", "query-status"]
    assert transport.value().count(b"VM status") == 2
