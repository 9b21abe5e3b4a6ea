"""QMP client framing: one JSON object per line to and from QEMU.

:class:`QMPClientProtocol` reads QEMU's greeting, negotiates capabilities,
gives every command an id of its own, routes each reply back to the
Deferred of the command that caused it and hands events to a callback.  It
keeps at most :data:`MAX_IN_FLIGHT` commands outstanding, the depth of
QEMU's own request queue, and queues the rest in order.  When the connection
drops, every pending and queued command fails with
:class:`~hmpbridge.errors.QMPDisconnected`.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
import os
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Sequence, Set, Tuple, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IUNIXTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from hmpbridge.errors import QMPCommandError, QMPDisconnected, QMPProtocolError
from hmpbridge.interfaces import connected

__all__ = ["QMPClientProtocol", "MAX_IN_FLIGHT", "ID_PREFIX"]

#: QEMU queues at most 8 requests per monitor before it stops reading.
MAX_IN_FLIGHT = 8

#: Ids the bridge puts on its commands: ``"hmpbridge#<n>"``.
ID_PREFIX = "hmpbridge#"

EventCallback = Callable[[Mapping[str, Any]], None]

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


class QMPClientProtocol(LineOnlyReceiver):
    """One QMP connection, seen from the client side.

    :ivar ready: fires with the greeting's ``QMP`` member once
        ``qmp_capabilities`` succeeded; fails if negotiation fails or the
        connection drops first.
    :ivar lost: fires (with the reason's exception) when the connection is gone.
    """

    delimiter = b"\n"
    #: The longest reply accepted; QEMU's largest replies (schema, QOM
    #: trees) stay well below this.
    MAX_LENGTH = 64 * 1024 * 1024

    _log = Logger()

    def __init__(self, on_event: Optional[EventCallback] = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.on_event = on_event
        self.max_in_flight = max_in_flight
        self.greeting: Optional[Mapping[str, Any]] = None
        self.ready: "Deferred[Mapping[str, Any]]" = Deferred()
        self.lost: "Deferred[object]" = Deferred()
        self._ids = itertools.count(1)
        self._pending: Dict[str, Tuple[str, "Deferred[Any]"]] = {}
        self._queue: Deque[Tuple[Dict[str, Any], "Deferred[Any]", Tuple[int, ...]]] = deque()
        self._connected = False
        self._negotiated = False
        self._abort_reason: Optional[Exception] = None
        self._raw: Set["Deferred[Any]"] = set()
        #: whether out-of-band execution was negotiated with QEMU
        self.oob = False

    # -- public API ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Commands sent to QEMU and not yet answered."""
        return len(self._pending)

    @property
    def queued(self) -> int:
        """Commands waiting for a free slot in QEMU's queue."""
        return len(self._queue)

    def execute(self, message: Mapping[str, Any], fds: Sequence[int] = (),
                raw: bool = False) -> "Deferred[Any]":
        """Send a command (a dict without ``id``); fire with its ``return`` value.

        :param fds: file descriptors to pass along with the command
            (SCM_RIGHTS; needs a unix socket).  The protocol owns them from
            here on and closes its copies once QEMU has answered.
        :param raw: fire with the whole reply (``return`` or ``error``, and
            the bridge's ``id``) instead of its ``return`` value.

        An ``exec-oob`` command skips the queue (QEMU runs it at once).
        Fails with :class:`QMPCommandError` for an error reply (unless
        ``raw``) and with :class:`QMPDisconnected` if the connection is lost
        first.
        """
        d: "Deferred[Any]" = Deferred()
        if fds:
            d.addBoth(_close_fds, tuple(fds))
            if not IUNIXTransport.providedBy(self.transport):
                d.errback(QMPCommandError(
                    "GenericError", "file descriptors can only be passed to QEMU over a "
                    "unix socket QMP connection", str(message.get("execute", ""))))
                return d
        if not self._connected:
            d.errback(QMPDisconnected("not connected"))
            return d
        if raw:
            self._raw.add(d)
        if "exec-oob" in message and self._negotiated:
            self._send(dict(message), d, tuple(fds))
            return d
        self._queue.append((dict(message), d, tuple(fds)))
        self._pump()
        return d

    # -- LineOnlyReceiver ---------------------------------------------------

    def connectionMade(self) -> None:
        self._connected = True

    def lineReceived(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = _decode(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            self._protocol_error(f"unparseable message from QEMU: {err}")
            return
        if not isinstance(message, dict):
            self._protocol_error("QEMU sent a message that is not a JSON object")
            return
        if self.greeting is None:
            self._greeting_received(message)
        elif "event" in message:
            self._event_received(message)
        elif "return" in message or "error" in message:
            self._reply_received(message)
        else:
            self._log.warn("Ignoring unexpected QMP message {message!r}", message=message)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._protocol_error(f"QMP message longer than {self.MAX_LENGTH} bytes")

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._connected = False
        error = QMPDisconnected(reason.value if reason is not None else None)
        pending = [d for _, d in self._pending.values()] + [d for _, d, _ in self._queue]
        self._pending.clear()
        self._queue.clear()
        self._raw.clear()
        # ready first: failing a pending qmp_capabilities would otherwise fail
        # it with QMPDisconnected and hide the reason given to abort()
        if not self.ready.called:
            self.ready.errback(self._abort_reason or error)
        for d in pending:
            d.errback(error)
        self.lost.callback(reason.value if reason is not None else None)

    # -- internals ----------------------------------------------------------

    def _greeting_received(self, message: Mapping[str, Any]) -> None:
        greeting = message.get("QMP")
        if not isinstance(greeting, dict):
            self._protocol_error("the peer did not send a QMP greeting")
            return
        self.greeting = greeting
        negotiate: Dict[str, Any] = {"execute": "qmp_capabilities"}
        capabilities = greeting.get("capabilities")
        if isinstance(capabilities, list) and "oob" in capabilities:
            negotiate["arguments"] = {"enable": ["oob"]}
            self.oob = True
        caps = self._send(negotiate)
        caps.addCallbacks(self._negotiated_ok, self._negotiation_failed)

    def _negotiated_ok(self, _: Any) -> None:
        self._negotiated = True
        assert self.greeting is not None
        self.ready.callback(self.greeting)
        self._pump()

    def _negotiation_failed(self, failure: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(failure)
        if self._connected:
            connected(self).loseConnection()

    def _event_received(self, message: Mapping[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(message)
        except Exception:  # noqa: BLE001 - one bad observer must not drop the link
            self._log.failure("Event observer failed on {event}", event=message.get("event"))

    def _reply_received(self, message: Mapping[str, Any]) -> None:
        msg_id = message.get("id")
        entry = self._pending.pop(msg_id, None) if isinstance(msg_id, str) else None
        if entry is None:
            self._log.warn("Dropping QMP reply with unknown id {id!r}", id=msg_id)
            return
        command, d = entry
        self._pump()
        if d in self._raw:
            self._raw.discard(d)
            d.callback(message)
        elif "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            d.errback(QMPCommandError(str(error.get("class", "GenericError")),
                                      str(error.get("desc", "")), command, message))
        else:
            d.callback(message["return"])

    def _pump(self) -> None:
        """Send queued commands while QEMU's queue has room."""
        while (self._negotiated and self._queue and self._connected
               and len(self._pending) < self.max_in_flight):
            message, d, fds = self._queue.popleft()
            self._send(message, d, fds)

    def _send(self, message: Dict[str, Any], d: Optional["Deferred[Any]"] = None,
              fds: Tuple[int, ...] = ()) -> "Deferred[Any]":
        if d is None:
            d = Deferred()
        msg_id = f"{ID_PREFIX}{next(self._ids)}"
        message["id"] = msg_id
        try:
            data = _encode(message).encode("ascii")
        except (TypeError, ValueError) as err:
            d.errback(QMPProtocolError(f"cannot encode command: {err}"))
            return d
        self._pending[msg_id] = (str(message.get("execute", "")), d)
        for fd in fds:  # they travel with the next bytes written: this command
            # execute() took descriptors only over a unix socket
            cast(IUNIXTransport, self.transport).sendFileDescriptor(fd)
        connected(self).write(data + b"\n")
        return d

    def abort(self, reason: Exception) -> None:
        """Drop the connection at once; a pending :attr:`ready` fails with ``reason``."""
        self._abort_reason = reason
        if self.transport is not None:
            connected(self).abortConnection()

    def _protocol_error(self, text: str) -> None:
        self._log.error("QMP protocol error: {text}", text=text)
        if not self.ready.called:
            self.ready.errback(QMPProtocolError(text))
        connected(self).loseConnection()


def _close_fds(result: Any, fds: Tuple[int, ...]) -> Any:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    return result
