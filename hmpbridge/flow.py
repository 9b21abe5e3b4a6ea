"""Output flow control: a client that stops reading cannot grow the bridge's memory.

:class:`WriteGuard` registers as a streaming producer on a connection's real
transport.  Twisted pauses it once the transport's send buffer is full; while
paused, the session runs no further lines, and the bytes it still writes are
counted.  A client that stays paused for :data:`STALL_TIMEOUT` seconds, or
makes the bridge hold more than :data:`MAX_PENDING_OUTPUT` bytes for it, is
disconnected; nobody else waits for it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["WriteGuard", "STALL_TIMEOUT", "MAX_PENDING_OUTPUT"]

#: Seconds a client may leave its output unread before it is dropped.
STALL_TIMEOUT = 60.0
#: Bytes held for a client that is not reading before it is dropped.
MAX_PENDING_OUTPUT = 1024 * 1024


@implementer(IPushProducer)
class WriteGuard:
    """Watches one connection's send buffer on behalf of its session.

    :param transport: the connection's real transport (TCP, unix, TLS).
    :param clock: for the stall timeout.
    :param resumed: called when the client has read its backlog.
    :param peer: who the client is, for the log line when it is dropped.
    """

    _log = Logger()

    def __init__(self, transport: Any, clock: IReactorTime,
                 resumed: Callable[[], None] = lambda: None,
                 stall_timeout: float = STALL_TIMEOUT,
                 max_pending: int = MAX_PENDING_OUTPUT, peer: str = "") -> None:
        self.transport = transport
        self.peer = peer
        self.clock = clock
        self.resumed = resumed
        self.stall_timeout = stall_timeout
        self.max_pending = max_pending
        self.paused = False
        self.pending = 0
        self.dropped = False
        self._uncounted = False  # the write that pauses the guard is not the client's backlog
        self._timer: Optional[IDelayedCall] = None
        transport.registerProducer(self, True)

    def pauseProducing(self) -> None:
        if self.paused or self.dropped:
            return
        self.paused = True
        self.pending = 0
        self._uncounted = True
        self._timer = self.clock.callLater(self.stall_timeout, self._drop, "stopped reading")

    def resumeProducing(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.pending = 0
        self._uncounted = False
        self._cancel()
        if not self.dropped:
            self.resumed()

    def stopProducing(self) -> None:
        self._cancel()

    def wrote(self, size: int) -> None:
        """Count ``size`` bytes written; drop the client if too much waits for it.

        The write that filled the send buffer (Twisted pauses the guard from
        within it) is not counted: only what is written after it, while the
        client is not reading, is.
        """
        if self._uncounted:
            self._uncounted = False
            return
        if self.paused and not self.dropped:
            self.pending += size
            if self.pending > self.max_pending:
                self._drop(f"left {self.pending} bytes unread")

    def _cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _drop(self, why: str) -> None:
        self._timer = None
        if self.dropped:
            return
        self.dropped = True
        self._log.warn("Dropping {peer}: it {why}", peer=self.peer or self.transport.getPeer(),
                       why=why)
        self.transport.abortConnection()
