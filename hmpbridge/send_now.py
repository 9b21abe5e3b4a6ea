"""Sending at once: bytes written to an idle socket leave in the same reactor turn.

Twisted's ``transport.write`` queues bytes and sends them when the reactor
next finds the socket writable: one more pass through the reactor (an
``epoll_wait`` and its dispatch) for every write, on the path of every line.
:func:`write_now` queues them the same way, then, when nothing was waiting
before them and the transport is a socket of Twisted's own
(:class:`~twisted.internet.abstract.FileDescriptor`: TCP, unix), asks it to
send at once (``doWrite``, what the reactor would call).

Under backpressure nothing changes: bytes already waiting (the peer reads
slowly), or a producer paused by this write (a large answer), leave the
sending to the reactor, so a client that does not read still never stalls
anyone, and no producer is resumed from inside a write.  A send that fails
is left for the reactor to find again and report as it always does.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor

__all__ = ["write_now"]


def write_now(transport: Any, data: bytes) -> None:
    """Write ``data`` on ``transport``; send it at once if the socket was idle."""
    if not isinstance(transport, FileDescriptor):
        transport.write(data)  # TLS, or a test's transport: as before
        return
    idle = transport.offset == len(transport.dataBuffer)
    transport.write(data)
    if idle and transport.connected and not transport.disconnecting \
            and not transport.producerPaused:
        transport.doWrite()  # type: ignore[no-untyped-call]  # an error stays for the reactor
