"""QEMU going away and coming back: told only to sessions that asked for events.

QEMU's own monitor never writes anything unsolicited, so a session that has
not asked for events (``.events on``, ``--events-listen``) learns that QEMU
went away from the error answer of its next command; one that asked is told
when it goes and when it is back.
"""

from __future__ import annotations

from typing import Any, Callable, List, Mapping

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from hmpbridge.errors import QMPDisconnected
from hmpbridge.events import EventHub
from hmpbridge.profile import DEFAULT_PROFILE
from hmpbridge.runner import CommandRunner
from hmpbridge.server import CONNECTION_BACK, CONNECTION_GONE, HMPServerFactory
from hmpbridge.testing import FakeExecutor


class Upstream:
    """The QMP connection as sessions see it: its state, and the QEMU it serves."""

    profile = DEFAULT_PROFILE

    def __init__(self) -> None:
        self.observers: List[Callable[[bool], None]] = []

    def add_state_observer(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self.observers.append(callback)
        return lambda: self.observers.remove(callback)

    def set(self, up: bool) -> None:
        for observer in self.observers:
            observer(up)


class NoEvents:
    def add_event_observer(self, callback: Callable[[Mapping[str, Any]], None]
                           ) -> Callable[[], None]:
        return lambda: None


def connect(factory: HMPServerFactory) -> StringTransport:
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    transport.protocol = protocol  # the channel the client talks to
    transport.clear()
    return transport


def factory_of(executor: FakeExecutor, upstream: Upstream, events_on: bool) -> HMPServerFactory:
    return HMPServerFactory(CommandRunner(executor), events=EventHub(NoEvents()),
                            events_on=events_on, upstream=upstream)


def test_sessions_without_events_are_told_nothing() -> None:
    """When QEMU goes away and comes back, a session that did not ask for events gets no byte."""
    upstream = Upstream()
    factory = factory_of(FakeExecutor(), upstream, events_on=False)
    first, second = connect(factory), connect(factory)
    upstream.set(False)
    upstream.set(True)
    assert first.value() == second.value() == b""


def test_idle_sessions_with_events_are_told_above_the_prompt() -> None:
    """When QEMU goes away and comes back, each idle session with events gets both notices."""
    upstream = Upstream()
    factory = factory_of(FakeExecutor(), upstream, events_on=True)
    first, second = connect(factory), connect(factory)
    upstream.set(False)
    upstream.set(True)
    for transport in (first, second):
        assert transport.value() == (
            b"\r\x1b[K" + CONNECTION_GONE.encode() + b"\r\n(qemu) "
            b"\r\x1b[Khmpbridge: connected to QEMU 7.2.22 again\r\n(qemu) ")
    assert CONNECTION_BACK.format(version="QEMU 7.2.22") in first.value().decode()


def test_closed_sessions_are_not_written_to() -> None:
    """When a session has gone, the notice skips it."""
    upstream = Upstream()
    factory = factory_of(FakeExecutor(), upstream, events_on=True)
    transport = connect(factory)
    transport.protocol.connectionLost(None)
    upstream.set(False)
    assert transport.value() == b""


def test_a_busy_session_without_events_gets_only_its_answer() -> None:
    """When a command is waiting as QEMU goes away, its error answer is all the session gets."""
    upstream = Upstream()
    executor = FakeExecutor(manual=True)
    transport = connect(factory_of(executor, upstream, events_on=False))
    transport.protocol.dataReceived(b"info status\r")
    transport.clear()
    upstream.set(False)
    executor.fail(QMPDisconnected("gone"))
    assert transport.value() == b"Error: QEMU monitor connection lost\r\n(qemu) "


def test_a_busy_session_with_events_gets_the_notice_before_its_answer() -> None:
    """When a command is waiting, the notice lands before the command's error and prompt."""
    upstream = Upstream()
    executor = FakeExecutor(manual=True)
    transport = connect(factory_of(executor, upstream, events_on=True))
    transport.protocol.dataReceived(b"info status\r")
    transport.clear()
    upstream.set(False)
    executor.fail(QMPDisconnected("gone"))
    assert transport.value() == (CONNECTION_GONE.encode() + b"\r\n"
                                 b"Error: QEMU monitor connection lost\r\n(qemu) ")
