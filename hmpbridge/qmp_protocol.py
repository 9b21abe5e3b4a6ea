"""QMP client framing: one JSON object per line to and from QEMU.

:class:`QMPClientProtocol` reads QEMU's greeting, negotiates capabilities,
gives every command an id of its own, routes each reply back to the
Deferred of the command that caused it and hands events to a callback.  It
keeps at most :data:`MAX_IN_FLIGHT` commands outstanding, the depth of
QEMU's own request queue, and queues the rest in order.  When the connection
drops, every pending and queued command fails with
:class:`~hmpbridge.errors.QMPDisconnected`.

Whatever one command does, the others carry on:

* a command QMP cannot carry (text that is not Unicode) fails alone, unsent
  (:class:`~hmpbridge.errors.QMPUnsendable`);
* an error reply without an id (QEMU could not parse what it was sent) is
  the reply to the oldest in-band command in flight: QEMU answers in-band
  requests in order, and queues its parse errors in sequence with them;
* a reply longer than ``max_reply`` bytes is dropped as it streams in and
  fails the command it answers (:class:`~hmpbridge.errors.QMPReplyTooLarge`),
  found by the ``"id"`` QEMU writes at the end of a ``return`` and at the
  start of an ``error`` (else, in order, as for an error without an id);
* a command that carries file descriptors goes to QEMU alone: it waits
  until nothing else is in flight, and nothing else is sent until it is
  answered, so QEMU hands it exactly its own descriptors.

A command sent with ``shared`` (``query-qmp-schema``, which QEMUs of one
build answer alike) has its reply recognised by the digest of its bytes,
its id aside, before it is decoded: a reply already decoded on any
connection is not decoded again, and the command fires with what ``shared``
keeps for it (see :class:`SharedReplies`).  While such a command is in
flight, the replies kept are compared with what comes in as it streams,
so a connection receiving one of them gathers none of its bytes (from the
moment one is kept: many VMs connecting at once receive their replies
side by side).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections import deque
from typing import (Any, Callable, Deque, Dict, List, Mapping, Optional, Protocol as Interface,
                    Sequence, Set, Tuple, cast)

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IUNIXTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge.errors import (QMPCommandError, QMPDisconnected, QMPError, QMPProtocolError,
                              QMPReplyTooLarge, QMPUnsendable)
from hmpbridge.send_now import write_now
from hmpbridge.interfaces import connected
from hmpbridge.qmp_wire import OversizedLine, ReplySplitter, Unencodable, encode

__all__ = ["QMPClientProtocol", "SharedReplies", "MAX_IN_FLIGHT", "ID_PREFIX", "MAX_REPLY"]

#: QEMU queues at most 8 requests per monitor before it stops reading.
MAX_IN_FLIGHT = 8

#: The longest reply kept by default, in bytes: QEMU's largest ordinary
#: replies (the QMP schema, QOM trees) stay well below it.
MAX_REPLY = 16 * 1024 * 1024

#: Ids the bridge puts on its commands: ``"hmpbridge#<n>"``.
ID_PREFIX = "hmpbridge#"

EventCallback = Callable[[Mapping[str, Any]], None]

_decode = json.JSONDecoder().decode
#: the id at the end of a reply (QEMU writes it last in a ``return``)...
_TAIL_ID = re.compile(rb'"id":\s*"(' + re.escape(ID_PREFIX.encode()) + rb'[0-9]+)"\s*\}\s*$')
#: ... and first in an ``error``
_HEAD_ID = re.compile(rb'\s*\{\s*"id":\s*"(' + re.escape(ID_PREFIX.encode()) + rb'[0-9]+)"')
#: the start of an event (QEMU writes its timestamp first)
_HEAD_EVENT = re.compile(rb'\s*\{\s*"(?:timestamp|event)"')
#: how far from a reply's end its id is looked for
_TAIL_WINDOW = 128


class SharedReplies(Interface):
    """Where the decoded replies to one command, alike from many QEMUs, are kept once.

    Keyed by the SHA-256 digest of the reply's bytes up to its id (QEMU writes
    the id last in a ``return``), so the same reply to another connection's
    command, which has another id, has the same digest.
    """

    def known(self, digest: bytes) -> Any:
        """What :meth:`keep` made of a reply whose bytes have ``digest``, or None."""

    def lines(self) -> Sequence[bytes]:
        """The lines of the replies kept, as they came (the next reply may be one)."""

    def keep(self, digest: Optional[bytes], value: Any, line: bytes) -> Any:
        """What the command fires with, for its decoded ``return`` value; kept under
        ``digest`` with the reply's ``line`` (``digest`` None: the id was not where QEMU
        writes it, and nothing is kept)."""


class _Sent:
    """A command QEMU has not answered yet."""

    __slots__ = ("command", "d", "oob", "shared")

    def __init__(self, command: str, d: "Deferred[Any]", oob: bool,
                 shared: Optional[SharedReplies] = None) -> None:
        self.command = command
        self.d = d
        self.oob = oob
        self.shared = shared


class QMPClientProtocol(Protocol):
    """One QMP connection, seen from the client side.

    :param max_reply: the longest reply kept, in bytes (default
        :data:`MAX_REPLY`); a longer one fails the command it answers and the
        connection carries on.

    :ivar ready: fires with the greeting's ``QMP`` member once
        ``qmp_capabilities`` succeeded; fails if negotiation fails or the
        connection drops first.
    :ivar lost: fires (with the reason's exception) when the connection is gone.
    """

    _log = Logger()

    def __init__(self, on_event: Optional[EventCallback] = None,
                 max_in_flight: int = MAX_IN_FLIGHT, max_reply: Optional[int] = None) -> None:
        self.on_event = on_event
        self.max_in_flight = max_in_flight
        self.max_reply = MAX_REPLY if max_reply is None else max_reply
        self.greeting: Optional[Mapping[str, Any]] = None
        self.ready: "Deferred[Mapping[str, Any]]" = Deferred()
        self.lost: "Deferred[object]" = Deferred()
        self._lines = ReplySplitter(self.max_reply)
        self._ids = itertools.count(1)
        self._pending: Dict[str, _Sent] = {}  # in the order sent
        self._queue: Deque[Tuple[Dict[str, Any], "Deferred[Any]", Tuple[int, ...],
                                 Optional[SharedReplies]]] = deque()
        self._exclusive: Optional[str] = None  # the id of a command with descriptors in flight
        self._connected = False
        self._negotiated = False
        self._broken = False
        self._abort_reason: Optional[Exception] = None
        self._raw: Set["Deferred[Any]"] = set()
        #: while QEMU's replies of one read are handled, the commands they let go
        #: wait here and leave together in one write once the read is done
        self._outbox: Optional[List[bytes]] = None
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
                raw: bool = False, shared: Optional[SharedReplies] = None) -> "Deferred[Any]":
        """Send a command (a dict without ``id``); fire with its ``return`` value.

        :param fds: file descriptors to pass along with the command
            (SCM_RIGHTS; needs a unix socket).  The protocol owns them from
            here on and closes its copies once QEMU has answered.  The
            command goes to QEMU alone (see the module's description).
        :param raw: fire with the whole reply (``return`` or ``error``, and
            the bridge's ``id``) instead of its ``return`` value; a command
            that fails here (unsendable, reply too large) fires with an
            error reply in QMP's form.
        :param shared: where replies to this command, alike from many QEMUs,
            are kept once (see :class:`SharedReplies`): the command fires with
            what ``shared`` keeps for its ``return`` value, and a reply whose
            bytes are known is not decoded.  Not with ``raw``.

        An ``exec-oob`` command skips the queue (QEMU runs it at once),
        unless a command with descriptors is in flight.
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
            shared = None
        if "exec-oob" in message and self._negotiated and not fds and self._exclusive is None:
            self._send(dict(message), d, shared=shared)
            return d
        self._queue.append((dict(message), d, tuple(fds), shared))
        self._pump()
        return d

    # -- Protocol -------------------------------------------------------------

    def connectionMade(self) -> None:
        self._connected = True

    def dataReceived(self, data: bytes) -> None:
        """Handle QEMU's messages of one read; the commands that their replies let
        go (and that their callbacks send) leave in one write at its end."""
        self._outbox = []
        try:
            for line in self._lines.feed(data):
                if self._broken:
                    return
                if isinstance(line, OversizedLine):
                    self._oversized(line)
                else:
                    self._line_received(line)
        finally:
            self._send_outbox()

    def _send_outbox(self) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox and self._connected:
            self._write(b"".join(outbox), len(outbox))

    def _write(self, data: bytes, commands: int = 1) -> None:
        """Write ``commands`` commands: at once when QEMU has nothing else in flight
        (it waits for them), else in the reactor's next turn, together with the
        others written meanwhile (QEMU reads them in one go)."""
        if len(self._pending) <= commands:
            write_now(connected(self), data)
        else:
            connected(self).write(data)

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._connected = False
        error = QMPDisconnected(reason.value if reason is not None else None)
        pending = [sent.d for sent in self._pending.values()] + [d for _, d, _, _ in self._queue]
        self._pending.clear()
        self._queue.clear()
        self._raw.clear()
        self._exclusive = None
        # ready first: failing a pending qmp_capabilities would otherwise fail
        # it with QMPDisconnected and hide the reason given to abort()
        if not self.ready.called:
            self.ready.errback(self._abort_reason or error)
        for d in pending:
            d.errback(error)
        self.lost.callback(reason.value if reason is not None else None)

    # -- internals ----------------------------------------------------------

    def _line_received(self, raw: bytes) -> None:
        line = raw.strip()
        if not line:
            return
        known = self._known_reply(line)
        if known is not None and known[2] is not None:
            self._settle(known[0]).d.callback(known[2])
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
            self._reply_received(message, known, raw)
        else:
            self._log.warn("Ignoring unexpected QMP message {message!r}", message=message)

    def _known_reply(self, line: bytes) -> Optional[Tuple[str, bytes, Any]]:
        """For a reply to a command in flight sent with ``shared``: its id, the digest of
        its bytes up to the id, and what was kept for those bytes (None if nothing)."""
        if not any(sent.shared is not None for sent in self._pending.values()):
            return None
        found = _TAIL_ID.search(line, max(0, len(line) - _TAIL_WINDOW))
        if found is None:
            return None
        msg_id = found.group(1).decode("ascii")
        sent = self._pending.get(msg_id)
        if sent is None or sent.shared is None:
            return None
        digest = hashlib.sha256(memoryview(line)[:found.start()]).digest()
        return msg_id, digest, sent.shared.known(digest)

    def _oversized(self, line: OversizedLine) -> None:
        if self.greeting is None:
            self._protocol_error(f"QMP greeting longer than {self.max_reply} bytes")
            return
        found = _TAIL_ID.search(line.tail) or _HEAD_ID.match(line.head)
        msg_id = found.group(1).decode("ascii") if found is not None else None
        if msg_id is None and _HEAD_EVENT.match(line.head) is not None:
            self._log.warn("Dropping a QMP event of {size} bytes (longer than {limit})",
                           size=line.size, limit=self.max_reply)
            return
        if msg_id is None:  # no id to be seen: it answers in order
            msg_id = self._oldest_in_band()
        if msg_id not in self._pending:
            self._log.warn("Dropping a QMP message of {size} bytes (longer than {limit}) "
                           "that answers no command in flight",
                           size=line.size, limit=self.max_reply)
            return
        assert msg_id is not None
        sent = self._settle(msg_id)
        self._log.warn("QEMU's reply to {command} ({id}) is {size} bytes, longer than "
                       "{limit}: dropped", command=sent.command, id=msg_id, size=line.size,
                       limit=self.max_reply)
        self._fail(sent.d, msg_id, QMPReplyTooLarge(sent.command, self.max_reply))

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
        caps: "Deferred[Any]" = Deferred()
        self._send(negotiate, caps)
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

    def _reply_received(self, message: Mapping[str, Any],
                        known: Optional[Tuple[str, bytes, Any]] = None, line: bytes = b""
                        ) -> None:
        msg_id = message.get("id")
        if not (isinstance(msg_id, str) and msg_id in self._pending):
            if "id" in message or "error" not in message:
                self._log.warn("Dropping QMP reply with unknown id {id!r}", id=msg_id)
                return
            msg_id = self._oldest_in_band()
            if msg_id is None:
                self._log.warn("Dropping QMP error without an id, no command in flight: "
                               "{message!r}", message=message)
                return
            self._log.warn("QEMU answered without an id: {message!r}; taken as the reply "
                           "to {command} ({id}), the oldest in-band command in flight",
                           message=message, command=self._pending[msg_id].command, id=msg_id)
        sent = self._settle(msg_id)
        d = sent.d
        if d in self._raw:
            self._raw.discard(d)
            d.callback(message)
        elif "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            d.errback(QMPCommandError(str(error.get("class", "GenericError")),
                                      str(error.get("desc", "")), sent.command, message))
        elif sent.shared is not None:
            digest = known[1] if known is not None and known[0] == msg_id else None
            d.callback(sent.shared.keep(digest, message["return"], line))
        else:
            d.callback(message["return"])

    def _oldest_in_band(self) -> Optional[str]:
        """The id of the in-band command sent first among those in flight."""
        for msg_id, sent in self._pending.items():
            if not sent.oob:
                return msg_id
        return None

    def _settle(self, msg_id: str) -> _Sent:
        """Take ``msg_id`` off the commands in flight and send what may go now."""
        sent = self._pending.pop(msg_id)
        if self._exclusive == msg_id:
            self._exclusive = None
        if sent.shared is not None and not any(
                other.shared is not None for other in self._pending.values()):
            self._lines.expect(None)
        self._pump()
        return sent

    def _fail(self, d: "Deferred[Any]", msg_id: Optional[str], error: QMPError) -> None:
        """Fail one command here; a raw caller gets QMP's form of the error."""
        if d in self._raw:
            self._raw.discard(d)
            d.callback({"id": msg_id, "error": {"class": "GenericError", "desc": str(error)}})
        else:
            d.errback(error)

    def _pump(self) -> None:
        """Send queued commands while QEMU's queue has room.

        A command with descriptors waits until nothing is in flight, and
        holds back everything after it until it is answered.
        """
        while (self._negotiated and self._queue and self._connected
               and self._exclusive is None):
            message, d, fds, shared = self._queue[0]
            busy = bool(self._pending) if fds else len(self._pending) >= self.max_in_flight
            if busy:
                return
            self._queue.popleft()
            msg_id = self._send(message, d, fds, shared)
            if fds and msg_id is not None:
                self._exclusive = msg_id

    def _send(self, message: Dict[str, Any], d: "Deferred[Any]",
              fds: Tuple[int, ...] = (), shared: Optional[SharedReplies] = None
              ) -> Optional[str]:
        """Write ``message`` with an id of its own; None if it cannot be sent."""
        msg_id = f"{ID_PREFIX}{next(self._ids)}"
        message["id"] = msg_id
        command = str(message.get("execute", message.get("exec-oob", "")))
        try:
            data = encode(message)
        except Unencodable as err:
            # the client's own error, answered to it and audited: not the
            # bridge's problem, and a client could flood the log with it
            self._log.debug("Not sending {command}: QMP cannot carry {reason}",
                            command=command, reason=str(err))
            self._fail(d, None, QMPUnsendable(command, str(err)))
            return None
        except (TypeError, ValueError, RecursionError) as err:
            self._raw.discard(d)
            d.errback(QMPProtocolError(f"cannot encode command: {err}"))
            return None
        self._pending[msg_id] = _Sent(command, d, "exec-oob" in message, shared)
        if shared is not None:
            self._lines.expect(shared.lines)
        if fds:  # they travel with the next bytes written: this command's alone
            outbox, self._outbox = self._outbox, [] if self._outbox is not None else None
            if outbox:
                write_now(connected(self), b"".join(outbox))
            for fd in fds:  # execute() took descriptors only over a unix socket
                cast(IUNIXTransport, self.transport).sendFileDescriptor(fd)
            write_now(connected(self), data + b"\n")
        elif self._outbox is not None:
            self._outbox.append(data + b"\n")
        else:
            self._write(data + b"\n")
        return msg_id

    def abort(self, reason: Exception) -> None:
        """Drop the connection at once; a pending :attr:`ready` fails with ``reason``."""
        self._abort_reason = reason
        if self.transport is not None:
            connected(self).abortConnection()

    def _protocol_error(self, text: str) -> None:
        self._log.error("QMP protocol error: {text}", text=text)
        self._broken = True
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
