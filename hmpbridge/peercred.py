"""Who is on the other end of a unix socket: the peer's process and user.

A client on a unix socket has no address worth logging (its socket is
usually unbound), but the kernel knows which process connected and as which
user (``SO_PEERCRED``).  :func:`describe_peer` gives the text sessions,
QMP clients and the audit log use for any connection: ``host:port`` for TCP
and TLS, ``pid=4242,uid=1000,gid=1000`` for a unix socket.
"""

from __future__ import annotations

import pwd
import socket
import struct
from dataclasses import dataclass, replace
from typing import Any, Optional

from twisted.internet.interfaces import ISystemHandle

from hmpbridge.access import peer_text
from hmpbridge.model import Identity

__all__ = ["PeerCredentials", "peer_credentials", "describe_peer", "identify"]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class PeerCredentials:
    """The process that connected to a unix socket, as the kernel saw it at ``connect()``."""

    pid: int
    uid: int
    gid: int

    def text(self) -> str:
        """``pid=4242,uid=1000,gid=1000``."""
        return f"pid={self.pid},uid={self.uid},gid={self.gid}"

    def user(self) -> str:
        """The login name of :attr:`uid`, or ``uid=1000`` when it has none."""
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return f"uid={self.uid}"


def _socket_of(transport: Any) -> Optional[socket.socket]:
    """The socket under ``transport`` (looking through TLS and other wrappers)."""
    seen = 0
    while transport is not None and seen < 8:
        if ISystemHandle.providedBy(transport):
            handle = transport.getHandle()
            if isinstance(handle, socket.socket):
                return handle
        transport = getattr(transport, "transport", None)
        seen += 1
    return None


def peer_credentials(transport: Any) -> Optional[PeerCredentials]:
    """The peer's credentials when ``transport`` is a unix-socket connection, else None."""
    sock = _socket_of(transport)
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid, uid, gid)


def describe_peer(transport: Any) -> str:
    """The peer of ``transport`` as text: ``127.0.0.1:40000``, or the unix peer's credentials."""
    credentials = peer_credentials(transport)
    if credentials is not None:
        return credentials.text()
    try:
        peer = transport.getPeer()
    except Exception:  # noqa: BLE001 - a transport without a peer has nothing to tell
        return ""
    return peer_text(peer)


def identify(identity: Identity, transport: Any) -> Identity:
    """``identity`` of a client known only by its connection, named after what the
    kernel says of it: a unix-socket client becomes the user it runs as, its peer
    the process, user and group ids.  Any other identity is returned as it is."""
    if identity.method != "peer":
        return identity
    credentials = peer_credentials(transport)
    if credentials is not None:
        return replace(identity, name=credentials.user(), peer=credentials.text())
    if not identity.peer:
        peer = describe_peer(transport)
        return replace(identity, name=identity.name or peer, peer=peer)
    return identity
