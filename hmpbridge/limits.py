"""Limits on clients: how many may connect, and how long output may wait for one.

One :class:`ClientCount` is shared by every listener (HMP and QMP alike), so
the total number of connected clients stays below ``--max-clients`` whatever
listener they use; a client over the limit is told why in one line and
disconnected before any session starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from twisted.internet.protocol import Protocol

from hmpbridge.flow import MAX_PENDING_OUTPUT, STALL_TIMEOUT
from hmpbridge.interfaces import connected

__all__ = ["MAX_LINE", "MAX_QMP_MESSAGE", "MAX_QMP_MESSAGE_READ_ONLY", "Limits", "ClientCount",
           "Refusal", "REFUSAL", "when_lost"]

#: QEMU's readline keeps at most 4095 characters of a line and drops the rest.
MAX_LINE = 4095

#: Largest message, in bytes, a QMP client with the operator role may send.
#: QEMU 7.2's monitor reads its QMP socket one byte per main-loop turn (about
#: 6 s per MiB measured), so every client of the bridge waits while a large
#: message goes in; QEMU's own limits (64 MiB per token, 2 Mi tokens per
#: message) are far above what any command needs.  At 1 MiB no message can
#: reach QEMU's token count limit either.  A larger message gets QEMU's
#: ``JSON token size limit exceeded`` from the bridge and is never sent.
MAX_QMP_MESSAGE = 1024 * 1024
#: Largest message from a read-only QMP client: the commands it may run take
#: a path, a property name or one HMP line (at most 4095 bytes).
MAX_QMP_MESSAGE_READ_ONLY = 64 * 1024

#: What a client over the limit reads before the connection closes.
REFUSAL = b"hmpbridge: too many clients are connected; try again later\r\n"

_P = TypeVar("_P")


@dataclass(frozen=True)
class Limits:
    """The configurable limits (``--max-clients``, ``--stall-timeout``, ``--max-unread``).

    :ivar max_clients: connected clients at once, all listeners together.
    :ivar stall_timeout: seconds a client may leave its output unread.
    :ivar max_unread: bytes of output held for a client that is not reading.
    """

    max_clients: int = 20000
    stall_timeout: float = STALL_TIMEOUT
    max_unread: int = MAX_PENDING_OUTPUT


class ClientCount:
    """How many clients are connected, against a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def admit(self) -> bool:
        """Count a new client in; False (and not counted) when the limit is reached."""
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        """A counted client went away."""
        self.active = max(0, self.active - 1)


class Refusal(Protocol):
    """Tells a client over the limit why, and hangs up."""

    def connectionMade(self) -> None:
        transport = connected(self)
        transport.write(REFUSAL)
        transport.loseConnection()


def when_lost(protocol: _P, callback: Callable[[], None]) -> _P:
    """Have ``callback`` run once ``protocol`` loses its connection; returns ``protocol``."""
    target: Any = protocol  # its connectionLost is replaced on the instance
    lost = target.connectionLost

    def connection_lost(reason: Any = None) -> None:
        try:
            lost(reason)
        finally:
            callback()

    target.connectionLost = connection_lost
    return protocol
