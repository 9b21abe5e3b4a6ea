"""tls: endpoint strings and certificate identities."""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.channel import ChardevChannel
from hmpbridge.model import Identity
from hmpbridge.qmp_server import QMPServerFactory
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeExecutor
from hmpbridge.runner import CommandRunner
from hmpbridge.endpoints import split_description
from hmpbridge.tls import tls_server_endpoint
from tests.unit.test_qmp_server import FakeMux


def test_split_description_honours_escaped_colons() -> None:
    """When an option holds a colon escaped as \\:, it stays in one field."""
    assert split_description(r"tls:4443:interface=\:\:1:caCerts=/a/ca.pem") == (
        ["4443"], {"interface": "::1", "caCerts": "/a/ca.pem"})


@pytest.mark.parametrize("description,missing", [
    ("tls:privateKey=k:caCerts=c", "port"), ("tls:4443:caCerts=c", "privateKey"),
    ("tls:4443:privateKey=k", "caCerts")])
def test_incomplete_tls_descriptions_say_what_is_missing(description: str, missing: str) -> None:
    """When a tls: description lacks the port, key or CA, the error names it."""
    with pytest.raises(ValueError, match=missing):
        tls_server_endpoint(None, description)


def test_certificate_name_becomes_the_hmp_user_unless_a_password_login_decided() -> None:
    """When a TLS handshake proves a name, it replaces the peer address, but not a login."""
    factory = HMPServerFactory(CommandRunner(FakeExecutor()), "tls:4443")
    by_peer = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
    by_peer.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000)))
    factory.identified(by_peer, "carol")
    assert factory.state_of(by_peer).identity.name == "carol"
    assert factory.state_of(by_peer).identity.method == "certificate"
    by_password = ChardevChannel(
        "plain", lambda channel: factory.session(Identity("alice", method="password"), channel),
        Clock())
    by_password.makeConnection(StringTransport())
    factory.identified(by_password, "carol")
    assert factory.state_of(by_password).identity.name == "alice"


def test_certificate_name_becomes_the_qmp_clients_identity() -> None:
    """When a QMP client's certificate is verified, audit and logs name its CN."""
    factory = QMPServerFactory(FakeMux(), "tls:4445")
    protocol = factory.buildProtocol(None)
    factory.identified(protocol, "carol")
    assert protocol.identity.name == "carol" and protocol.identity.method == "certificate"
