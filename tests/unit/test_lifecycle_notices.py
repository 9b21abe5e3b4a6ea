"""Every session hears when QEMU goes away and when it is back."""

from __future__ import annotations

from typing import Callable, List

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from hmpbridge.runner import CommandRunner
from hmpbridge.server import CONNECTION_BACK, CONNECTION_GONE, HMPServerFactory
from hmpbridge.testing import FakeExecutor


class Upstream:
    def __init__(self) -> None:
        self.observers: List[Callable[[bool], None]] = []

    def add_state_observer(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self.observers.append(callback)
        return lambda: self.observers.remove(callback)

    def set(self, up: bool) -> None:
        for observer in self.observers:
            observer(up)


def connect(factory: HMPServerFactory) -> StringTransport:
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    transport.protocol = protocol  # the telnet framing the client talks to
    transport.clear()
    return transport


def test_idle_sessions_are_told_on_a_line_of_their_own_with_the_prompt_again() -> None:
    """When QEMU goes away and comes back, each idle session gets both notices."""
    upstream = Upstream()
    factory = HMPServerFactory(CommandRunner(FakeExecutor()), upstream=upstream)
    first, second = connect(factory), connect(factory)
    upstream.set(False)
    upstream.set(True)
    for transport in (first, second):
        assert transport.value() == (
            b"\r\n" + CONNECTION_GONE.encode() + b"\r\n(qemu) "
            b"\r\nhmpbridge: connected to QEMU 7.2.22 again\r\n(qemu) ")
    assert CONNECTION_BACK.format(version="QEMU 7.2.22") in first.value().decode()


def test_closed_sessions_are_not_written_to() -> None:
    """When a session has gone, the notice skips it."""
    upstream = Upstream()
    factory = HMPServerFactory(CommandRunner(FakeExecutor()), upstream=upstream)
    transport = connect(factory)
    transport.protocol.connectionLost(None)
    upstream.set(False)
    assert transport.value() == b""


def test_a_busy_session_gets_the_notice_before_its_answer() -> None:
    """When a command is waiting, the notice lands before the command's error and prompt."""
    upstream = Upstream()
    executor = FakeExecutor(manual=True)
    factory = HMPServerFactory(CommandRunner(executor), upstream=upstream)
    transport = connect(factory)
    transport.protocol.dataReceived(b"info status\n")
    upstream.set(False)
    from hmpbridge.errors import QMPDisconnected

    executor.fail(QMPDisconnected("gone"))
    assert transport.value() == (CONNECTION_GONE.encode() + b"\r\n"
                                 b"Error: QEMU monitor connection lost\r\n(qemu) ")
