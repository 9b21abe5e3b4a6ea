"""Client limits shared by every listener."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from hmpbridge.chardev import TELNET_INIT
from hmpbridge.limits import REFUSAL, ClientCount, Limits
from hmpbridge.qmp_server import QMPServerFactory
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeExecutor
from tests.unit.test_qmp_server import FakeMux

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


def connect(factory):
    protocol = factory.buildProtocol(PEER)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def test_clients_over_the_limit_are_told_and_dropped_across_listeners() -> None:
    """When the shared limit is reached on any listener, the next client gets one line and is closed."""
    clients = ClientCount(2)
    hmp = HMPServerFactory(CommandRunner(FakeExecutor()), "tcp:4444", clients=clients)
    qmp = QMPServerFactory(FakeMux(), "unix:/q", clients=clients)
    first, _ = connect(hmp)
    connect(qmp)
    _, refused = connect(hmp)
    assert refused.value() == REFUSAL and refused.disconnecting
    _, refused_qmp = connect(qmp)
    assert refused_qmp.value() == REFUSAL
    first.connectionLost(None)
    assert clients.active == 1
    _, admitted = connect(hmp)
    assert admitted.value().startswith(TELNET_INIT + b"QEMU ")


def test_limits_reach_the_write_guard() -> None:
    """When limits are set, each session's write guard uses them."""
    factory = HMPServerFactory(CommandRunner(FakeExecutor()),
                               limits=Limits(stall_timeout=5, max_unread=10))
    _, transport = connect(factory)
    guard = transport.producer
    assert (guard.stall_timeout, guard.max_pending) == (5, 10)


def test_count_never_goes_negative() -> None:
    """When a release comes without an admission, the count stays at zero."""
    count = ClientCount(1)
    count.release()
    assert count.active == 0 and count.admit() and not count.admit()
