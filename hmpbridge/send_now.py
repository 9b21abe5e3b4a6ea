"""Sending at once: bytes written to an idle socket leave in the same reactor turn.

Twisted's ``transport.write`` queues bytes and sends them when the reactor
next finds the socket writable: one more pass through the reactor (an
``epoll_wait`` and its dispatch) for every write, on the path of every line.
:func:`write_now` sends them itself when nothing waits before them and the
transport is a socket of Twisted's own
(:class:`~twisted.internet.abstract.FileDescriptor`: TCP, unix): the
socket's ``writeSomeData``, what the reactor's ``doWrite`` would call, without
registering the socket as a writer and removing it again (two ``epoll_ctl``
calls and their Python around every write).  What the kernel does not take
waits in the transport's buffer for the reactor, as every write did before.

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
    if transport.offset == len(transport.dataBuffer) and not transport._tempDataLen \
            and len(data) <= transport.bufferSize and transport.connected \
            and not transport.disconnecting and not transport._writeDisconnected \
            and not transport.producerPaused \
            and (transport.producer is None or transport.streamingProducer):
        # nothing waits: the socket's own send, without the reactor's writer
        # registration and removal (two epoll_ctl calls) around it
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):
            if sent >= len(data):
                return
            data = data[sent:]  # the rest waits for the reactor (it cannot fill the buffer)
        # a failed send: the bytes wait, the reactor finds the error again and reports it
        transport.write(data)
        return
    idle = transport.offset == len(transport.dataBuffer) and not transport._tempDataLen
    transport.write(data)
    if idle and transport.connected and not transport.disconnecting \
            and not transport.producerPaused:
        transport.doWrite()  # type: ignore[no-untyped-call]  # an error stays for the reactor
