"""Peer credentials of unix-socket clients, and peer text for every transport."""

from __future__ import annotations

import os
import socket

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.interfaces import ISystemHandle
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from hmpbridge.peercred import PeerCredentials, describe_peer, peer_credentials


@implementer(ISystemHandle)
class _SocketTransport(StringTransport):
    """A transport over a real socket of a socketpair (the kernel fills SO_PEERCRED)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(peerAddress=UNIXAddress(None))
        self._sock = sock

    def getHandle(self) -> socket.socket:
        return self._sock


class _Wrapper:
    """A protocol wrapper (as TLS or telnet framing is) around another transport."""

    def __init__(self, transport: object) -> None:
        self.transport = transport


def test_unix_peer_is_this_process() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        creds = peer_credentials(_SocketTransport(left))
        assert creds == PeerCredentials(os.getpid(), os.getuid(), os.getgid())
        assert describe_peer(_SocketTransport(left)) == \
            f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"
        assert peer_credentials(_Wrapper(_SocketTransport(left))) == creds
    finally:
        left.close()
        right.close()


def test_tcp_peer_is_its_address() -> None:
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    assert peer_credentials(transport) is None
    assert describe_peer(transport) == "127.0.0.1:40000"


def test_user_name_or_uid() -> None:
    assert PeerCredentials(1, 0, 0).user() == "root"
    assert PeerCredentials(1, 2_000_000_000, 0).user() == "uid=2000000000"
