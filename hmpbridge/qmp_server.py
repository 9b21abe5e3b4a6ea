"""The multiplexing QMP endpoint: QMP clients share the bridge's one QMP connection.

Each client sees QEMU as if it were its only client: QEMU's greeting, its own
capabilities negotiation, its own ids (of any JSON type) on its replies, and
every event.  Commands are forwarded with the bridge's ids; a client may have
at most :data:`CLIENT_WINDOW` commands at QEMU at once, so one client
pipelining thousands of commands cannot starve the others, and a client that
sends faster than QEMU answers is no longer read from until it catches up.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Set, Tuple

from twisted.internet.interfaces import (IFileDescriptorReceiver, IHalfCloseableProtocol,
                                         IReactorTime)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.access import OPERATOR, Identity, peer_text, qmp_denial
from hmpbridge.audit import AuditLog
from hmpbridge.audit import record as audit_record
from hmpbridge.errors import QMPError
from hmpbridge.interfaces import connected
from hmpbridge.limits import ClientCount, Limits, Refusal, when_lost
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.qmp_wire import (MAX_MESSAGE_SIZE, JSONStreamSplitter, ParseFailure,
                                check_message, dumps, error_reply, split_id, with_client_id)

__all__ = ["QMPServerProtocol", "QMPServerFactory", "CLIENT_WINDOW", "MAX_BACKLOG"]

#: Commands one client may have at QEMU at once.
CLIENT_WINDOW = 4
#: Commands a client may have waiting before the bridge stops reading from it.
MAX_BACKLOG = 64

#: Commands that take the descriptors a client passed with SCM_RIGHTS.
_FD_COMMANDS = frozenset({"getfd", "add-fd"})

_NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"
_ALREADY_NEGOTIATED = "Capabilities negotiation is already complete, command ignored"


@implementer(IFileDescriptorReceiver, IHalfCloseableProtocol)
class QMPServerProtocol(Protocol):
    """One QMP client of the bridge."""

    _log = Logger()
    factory: Optional["QMPServerFactory"] = None

    def __init__(self, mux: QMPMultiplexer, max_message: int = MAX_MESSAGE_SIZE,
                 identity: Optional[Identity] = None) -> None:
        self.mux = mux
        self.identity = identity or Identity("unknown")
        self._splitter = JSONStreamSplitter(max_message)
        self._negotiated = False
        self._oob = False
        self._backlog: Deque[Tuple[Dict[str, Any], Tuple[int, ...], "_Slot"]] = deque()
        self._replies: Deque["_Slot"] = deque()  # in request order
        self._at_qemu = 0
        self._paused = False
        self._closed = False
        self._fds: List[int] = []
        self._unsubscribe: Callable[[], None] = lambda: None

    # -- connection -----------------------------------------------------------

    def connectionMade(self) -> None:
        greeting = self.mux.greeting
        if not self.mux.connected or greeting is None:
            connected(self).loseConnection()
            return
        self._unsubscribe = self.mux.add_event_observer(self._event)
        self._clients().add(self)
        connected(self).write(dumps({"QMP": greeting}))

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._closed = True
        self._unsubscribe()
        self._clients().discard(self)
        self._backlog.clear()
        for fd in self._fds:
            _close(fd)
        self._fds.clear()

    def _clients(self) -> Set[QMPServerProtocol]:
        """The factory's connected clients (a throwaway set without a factory)."""
        return self.factory.clients if self.factory is not None else set()

    def readConnectionLost(self) -> None:
        """The client is done sending: answer what it sent, then close."""
        self._closed_for_reading = True
        self._maybe_finish()

    def writeConnectionLost(self) -> None:
        connected(self).loseConnection()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        self._fds.append(descriptor)

    # -- input ------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        for piece in self._splitter.feed(data):
            if isinstance(piece, ParseFailure):
                self._answer(self._slot(), error_reply("GenericError", piece.desc))
            else:
                self._message(piece)

    def _message(self, message: Any) -> None:
        problem = check_message(message, oob_allowed=self._oob)
        if problem is not None:
            self._answer(self._slot(), error_reply("GenericError", problem, message))
            return
        name = message.get("execute", message.get("exec-oob"))
        if name == "qmp_capabilities" and "execute" in message:
            self._answer(self._slot(), self._negotiate(message))
        elif not self._negotiated:
            self._answer(self._slot(), error_reply("CommandNotFound", _NEGOTIATE_FIRST, message))
        else:
            denial = qmp_denial(message, self.identity.role)
            if denial is not None:
                self._log.warn("Denied {command} to {peer} on {listener}", command=name,
                               peer=self.identity.peer, listener=self.identity.listener)
                self._audit(message, [], "denied", self._now())
                self._answer(self._slot(), error_reply("GenericError", denial, message))
                return
            fds: Tuple[int, ...] = ()
            if name in _FD_COMMANDS and self._fds:
                fds, self._fds = tuple(self._fds), []
            if "exec-oob" in message:
                # out of band: answered as soon as QEMU answers, ahead of the queue
                self._send(message, fds, _Slot(ordered=False))
                return
            self._backlog.append((message, fds, self._slot()))
            if len(self._backlog) >= MAX_BACKLOG and not self._paused:
                self._paused = True
                connected(self).pauseProducing()
            self._pump()

    def _negotiate(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        """Answer ``qmp_capabilities`` as QEMU does, for this client alone."""
        if self._negotiated:
            return error_reply("CommandNotFound", _ALREADY_NEGOTIATED, message)
        arguments = message.get("arguments", {})
        for key in arguments:
            if key != "enable":
                return error_reply("GenericError", f"Parameter '{key}' is unexpected", message)
        enable = arguments.get("enable", [])
        if not isinstance(enable, list):
            return error_reply("GenericError",
                               "Invalid parameter type for 'enable', expected: array", message)
        offered = (self.mux.greeting or {}).get("capabilities", [])
        for capability in enable:
            if capability != "oob":
                return error_reply("GenericError",
                                   f"Parameter 'null' does not accept value '{capability}'",
                                   message)
            if capability not in offered or not self.mux.oob:
                return error_reply("GenericError", f"Capability '{capability}' not available",
                                   message)
        self._negotiated = True
        self._oob = "oob" in enable
        return with_client_id({"return": {}, "id": None}, message)

    # -- forwarding ---------------------------------------------------------------

    def _pump(self) -> None:
        while self._backlog and self._at_qemu < CLIENT_WINDOW and not self._closed:
            message, fds, slot = self._backlog.popleft()
            self._send(message, fds, slot)
        if self._paused and len(self._backlog) < MAX_BACKLOG // 2 and not self._closed:
            self._paused = False
            connected(self).resumeProducing()
        self._maybe_finish()

    def _send(self, message: Mapping[str, Any], fds: Tuple[int, ...], slot: "_Slot") -> None:
        request, _ = split_id(message)
        self._at_qemu += 1
        d = self.mux.forward(request, fds)
        started = self._now()
        d.addCallbacks(self._answered, self._failed, callbackArgs=(message, slot, started),
                       errbackArgs=(message, slot, started))

    def _answered(self, reply: Mapping[str, Any], message: Mapping[str, Any],
                  slot: "_Slot", started: float) -> None:
        self._at_qemu -= 1
        error = reply.get("error")
        outcome = f"error:{error.get('class')}" if isinstance(error, dict) else "ok"
        self._audit(message, [split_id(message)[0]], outcome, started)
        self._answer(slot, with_client_id(reply, message))
        self._pump()

    def _now(self) -> float:
        clock = getattr(self.factory, "clock", None)
        return clock.seconds() if clock is not None else 0.0

    def _audit(self, message: Mapping[str, Any], sent: List[Mapping[str, Any]],
               outcome: str, started: float) -> None:
        log: Optional[AuditLog] = getattr(self.factory, "audit", None)
        if log is None:
            return
        try:
            log.write(audit_record(identity=self.identity, received={"qmp": dict(message)},
                                   sent=sent, outcome=outcome,
                                   latency=self._now() - started))
        except OSError as err:
            self._log.error("Cannot write the audit log: {error}", error=err)

    def _failed(self, failure: Failure, message: Mapping[str, Any], slot: "_Slot",
                started: float) -> None:
        self._at_qemu -= 1
        lost = isinstance(failure.value, QMPError)
        self._audit(message, [split_id(message)[0]], "disconnected" if lost else "error", started)
        if lost:
            # QEMU went away with the command in flight; a direct client would
            # see its connection close, and so does this one.
            self._log.info("QMP command lost with the connection: {error}", error=failure.value)
            if not self._closed:
                connected(self).loseConnection()
            return
        self._log.failure("Forwarding a QMP command failed", failure)
        self._answer(slot, error_reply("GenericError", str(failure.value), message))
        self._pump()

    def _event(self, event: Mapping[str, Any]) -> None:
        if self._negotiated and not self._closed:
            connected(self).write(dumps(event))

    def _slot(self) -> "_Slot":
        """A place for the next reply in request order."""
        slot = _Slot()
        self._replies.append(slot)
        return slot

    def _answer(self, slot: "_Slot", reply: Mapping[str, Any]) -> None:
        """Fill ``slot``; write every reply whose turn has come."""
        if self._closed:
            return
        if not slot.ordered:
            connected(self).write(dumps(reply))
            return
        slot.reply = reply
        out = []
        while self._replies and self._replies[0].reply is not None:
            out.append(dumps(self._replies.popleft().reply))
        if out:
            connected(self).write(b"".join(out))

    _closed_for_reading = False

    def _maybe_finish(self) -> None:
        if self._closed_for_reading and not self._backlog and self._at_qemu == 0 \
                and not self._closed:
            connected(self).loseConnection()


class _Slot:
    """Where one reply waits for its turn."""

    __slots__ = ("reply", "ordered")

    def __init__(self, ordered: bool = True) -> None:
        self.reply: Optional[Mapping[str, Any]] = None
        self.ordered = ordered


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class QMPServerFactory(Factory):
    """Builds a :class:`QMPServerProtocol` per client and drops them all when QEMU goes away."""

    _log = Logger()
    noisy = False

    def __init__(self, mux: QMPMultiplexer, listener: str = "",
                 max_message: int = MAX_MESSAGE_SIZE, role: str = OPERATOR,
                 audit: Optional[AuditLog] = None,
                 clock: Optional[IReactorTime] = None,
                 clients: Optional[ClientCount] = None) -> None:
        self.mux = mux
        self.counted = clients if clients is not None else ClientCount(Limits().max_clients)
        self.listener = listener
        self.max_message = max_message
        self.role = role
        self.audit = audit
        if clock is None:
            from twisted.internet import reactor
            clock = reactor
        self.clock: IReactorTime = clock
        self.clients: Set[QMPServerProtocol] = set()
        mux.add_state_observer(self._upstream)

    def buildProtocol(self, addr: Any) -> Optional[Protocol]:
        if not self.counted.admit():
            self._log.warn("Refusing {peer} on {listener}: {count} clients connected",
                           peer=addr, listener=self.listener, count=self.counted.active)
            return Refusal()
        peer = peer_text(addr)
        protocol = QMPServerProtocol(self.mux, self.max_message,
                                     Identity(peer, self.role, self.listener, peer))
        protocol.factory = self
        return when_lost(protocol, self.counted.release)

    def identified(self, protocol: Any, name: str) -> None:
        """A TLS client proved its certificate's name: it becomes the client's identity."""
        if isinstance(protocol, QMPServerProtocol):
            protocol.identity = protocol.identity.certified(name)

    def _upstream(self, up: bool) -> None:
        if up:
            return
        for client in list(self.clients):
            connected(client).loseConnection()
