"""The multiplexing QMP endpoint: QMP clients share the bridge's one QMP connection.

Each client sees QEMU as if it were its only client: QEMU's greeting, its own
capabilities negotiation, its own ids (of any JSON type) on its replies, and
every event.  Commands are forwarded with the bridge's ids; a client may have
at most :data:`CLIENT_WINDOW` commands at QEMU at once, so one client
pipelining thousands of commands cannot starve the others.

A client is held to bounded memory and time:

* input: with :data:`MAX_BACKLOG` requests unanswered (queued, at QEMU, or
  answered but waiting behind an earlier reply), the bytes it sent after
  them wait unparsed (at most what one read brought) and the bridge stops
  reading from its socket;
* output: a :class:`~hmpbridge.flow.WriteGuard` watches its send buffer; while
  the client is not reading, none of its further messages is taken up, and
  once it leaves more than ``Limits.max_unread`` bytes unread or stays stalled
  ``Limits.stall_timeout`` seconds it is dropped (replies and events alike
  count);
* descriptors passed with SCM_RIGHTS: at most :data:`MAX_HELD_FDS` waiting
  for a ``getfd``/``add-fd`` (none before negotiation or for a client that
  may not run them), one more with such a command waiting for its turn (the
  client's next messages wait behind it), and one with each command at QEMU;
* time: at most :data:`TURN_MESSAGES` of its messages per turn of the
  reactor; a message over the factory's ``max_message`` gets QEMU's ``JSON
  token size limit exceeded`` and is never forwarded.

Every message a client sends is one audit record, whatever becomes of it; a
unix-socket client is named by the user and process the kernel reports
(``SO_PEERCRED``).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Set, Tuple

from twisted.internet.interfaces import (IDelayedCall, IFileDescriptorReceiver,
                                         IHalfCloseableProtocol, IReactorTime)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.access import DEFAULT_POLICY, OPERATOR, READ_ONLY, Policy, peer_text, qmp_denial
from hmpbridge.audit import AuditLog
from hmpbridge.audit import record as audit_record
from hmpbridge.errors import QMPError
from hmpbridge.flow import WriteGuard
from hmpbridge.send_now import write_now
from hmpbridge.interfaces import connected
from hmpbridge.limits import (MAX_QMP_MESSAGE, MAX_QMP_MESSAGE_READ_ONLY, ClientCount, Limits,
                              Refusal, when_lost)
from hmpbridge.model import Identity
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.peercred import identify
from hmpbridge.qjson import json_wording
from hmpbridge.qmp_wire import (JSONStreamSplitter, ParseFailure, check_message, dumps,
                                error_reply, split_id, with_client_id)

__all__ = ["QMPServerProtocol", "QMPServerFactory", "CLIENT_WINDOW", "MAX_BACKLOG",
           "MAX_HELD_FDS", "PARSE_SLICE", "TURN_MESSAGES"]

#: Commands one client may have at QEMU at once.
CLIENT_WINDOW = 4
#: Requests a client may have unanswered before the bridge stops reading from it.
MAX_BACKLOG = 64
#: Descriptors a client may have passed and not yet used.  QEMU's monitor
#: keeps the descriptors of the last message that carried any, and ``getfd``
#: and ``add-fd`` each take the first of them and close the rest; so one is
#: all a client can ever use, and the bridge keeps that one (the first of the
#: latest batch) and closes the others at once.
MAX_HELD_FDS = 1

#: Bytes parsed at a time: a client that must wait keeps the rest of what it
#: sent as bytes, and at most this much input as parsed messages.
PARSE_SLICE = 1024

#: Messages of one client handled per turn of the reactor.  Answering a
#: malformed message costs the bridge about 45 us, and one read can bring
#: twenty thousand of them; the rest wait for the next turn, so every other
#: client is served in between.
TURN_MESSAGES = 256

#: Commands that take the descriptors a client passed with SCM_RIGHTS.
_FD_COMMANDS = frozenset({"getfd", "add-fd"})

_NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"
_ALREADY_NEGOTIATED = "Capabilities negotiation is already complete, command ignored"

#: Audit outcome of a message the bridge read but dropped because its client left.
DROPPED = "dropped"
#: Audit outcome of input that is not a well-formed QMP command (QEMU's error reply).
PARSE_ERROR = "parse-error"


@implementer(IFileDescriptorReceiver, IHalfCloseableProtocol)
class QMPServerProtocol(Protocol):
    """One QMP client of the bridge.

    :param limits: ``max_unread`` and ``stall_timeout`` for this client's output.
    :param clock: time for latencies and the stall timeout (the reactor by default).
    :param audit: where each message's record goes (None: not audited).
    """

    _log = Logger()
    factory: Optional["QMPServerFactory"] = None

    def __init__(self, mux: QMPMultiplexer, max_message: int = MAX_QMP_MESSAGE,
                 identity: Optional[Identity] = None, *, limits: Optional[Limits] = None,
                 clock: Optional[IReactorTime] = None,
                 audit: Optional[AuditLog] = None, policy: Policy = DEFAULT_POLICY) -> None:
        self.mux = mux
        self.identity = identity or Identity("unknown")
        self.policy = policy
        self.limits = limits or Limits()
        self.clock: IReactorTime = clock if clock is not None else _reactor()
        self.audit = audit
        self._splitter = JSONStreamSplitter(max_message)
        self._unread = b""  # read, not yet parsed (from _unread_at on)
        self._unread_at = 0
        self._received = 0.0  # when _unread came
        self._inbox: Deque[Tuple[Any, float]] = deque()  # parsed, not yet taken up
        self._negotiated = False
        self._oob = False
        self._backlog: Deque[Tuple[Dict[str, Any], Tuple[int, ...], "_Slot", float]] = deque()
        self._replies: Deque["_Slot"] = deque()  # in request order
        self._at_qemu = 0
        self._oob_unanswered = 0
        self._reading = True
        self._closed = False
        self._closed_for_reading = False
        self._guard: Optional[WriteGuard] = None
        self._fds: List[int] = []
        self._fds_waiting = 0  # queued commands that carry descriptors
        self._fd_batch = False  # descriptors arrived since the last bytes did
        self._unsubscribe: Callable[[], None] = lambda: None
        self._next_turn: Optional[IDelayedCall] = None
        self._fds_allowed = False  # whether the role may run getfd/add-fd (once connected)

    # -- connection -----------------------------------------------------------

    def connectionMade(self) -> None:
        transport = connected(self)
        # a unix-socket client is named by its process and user (SO_PEERCRED); a
        # TLS client's proved certificate name replaces its address later
        self.identity = identify(self.identity, transport)
        self._fds_allowed = any(qmp_denial({"execute": name}, self.identity.role) is None
                                for name in _FD_COMMANDS)
        greeting = self.mux.greeting
        if not self.mux.connected or greeting is None:
            transport.loseConnection()
            return
        # bad JSON is answered in the words of the QEMU behind the bridge
        self._splitter = JSONStreamSplitter(self._splitter.max_size,
                                            wording=json_wording(self.mux.profile.qemu))
        self._guard = WriteGuard(transport, self.clock, resumed=self._resume,
                                 stall_timeout=self.limits.stall_timeout,
                                 max_pending=self.limits.max_unread, peer=self.identity.peer)
        self._unsubscribe = self.mux.add_event_observer(self._event)
        self._clients().add(self)
        self._write(dumps({"QMP": greeting}))

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._closed = True
        if self._next_turn is not None and self._next_turn.active():
            self._next_turn.cancel()
        self._next_turn = None
        self._unsubscribe()
        self._clients().discard(self)
        now = self._now()
        for message, fds, _, started in self._backlog:
            self._audit({"qmp": message}, [], DROPPED, started, now)
            for fd in fds:
                _close(fd)
        self._backlog.clear()
        self._fds_waiting = 0
        if self.audit is not None:
            while self._parse_more():  # what it sent before leaving, recorded as dropped
                pass
        for piece, started in self._inbox:
            self._audit(_received(piece), [], DROPPED, started, now)
        self._inbox.clear()
        self._unread, self._unread_at = b"", 0
        self._drop_fds()

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
        """Keep the first descriptor of a batch for ``getfd``/``add-fd``; close the rest."""
        if self._closed or not self._negotiated or not self._fds_allowed:
            _close(descriptor)
            return
        if not self._fd_batch:
            self._fd_batch = True
            self._drop_fds()  # a newer batch replaces the last, as in QEMU
        if len(self._fds) < MAX_HELD_FDS:
            self._fds.append(descriptor)
        else:
            _close(descriptor)

    def _drop_fds(self) -> None:
        for fd in self._fds:
            _close(fd)
        self._fds.clear()

    @property
    def held_fds(self) -> int:
        """How many passed descriptors the client holds, waiting for a ``getfd``."""
        return len(self._fds)

    # -- input ------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._fd_batch = False
        self._unread = self._unread[self._unread_at:] + data if self._unread else data
        self._unread_at = 0
        self._received = self._now()
        self._take_up()

    def _later(self) -> None:
        """Carry on with this client's input at the reactor's next turn."""
        if self._next_turn is None:
            self._next_turn = self.clock.callLater(0, self._turn)

    def _turn(self) -> None:
        self._next_turn = None
        self._take_up()

    def _parse_more(self) -> bool:
        """Parse the next slice of what was read; False when nothing is left."""
        if self._unread_at >= len(self._unread):
            self._unread, self._unread_at = b"", 0
            return False
        end = self._unread_at + PARSE_SLICE
        chunk = self._unread[self._unread_at:end]
        self._unread_at = end
        received = self._received
        self._inbox.extend((piece, received) for piece in self._splitter.feed(chunk))
        return True

    def _busy(self) -> bool:
        """Whether the client's next message must wait.

        It must while the client is not reading its output, has too many
        requests unanswered, or has a command with descriptors queued (so a
        client holds few descriptors however it pipelines).
        """
        if self._guard is not None and self._guard.paused or self._fds_waiting:
            return True
        return len(self._replies) + self._oob_unanswered >= MAX_BACKLOG

    def _take_up(self) -> None:
        """Handle the messages read so far, as far as the client's limits allow."""
        handled = 0
        while not self._closed and not self._busy() and (self._inbox or self._parse_more()):
            if not self._inbox:
                continue
            if handled == TURN_MESSAGES:
                self._later()
                break
            handled += 1
            piece, started = self._inbox.popleft()
            if isinstance(piece, ParseFailure):
                self._local(None, error_reply("GenericError", piece.desc), PARSE_ERROR,
                            started, {"qmp": None, "error": piece.desc})
            else:
                self._message(piece, started)
        if self._closed:
            return
        waiting = bool(self._inbox) or self._unread_at < len(self._unread)
        if waiting and self._reading:
            self._reading = False
            connected(self).pauseProducing()
        elif not waiting and not self._reading and \
                len(self._replies) + self._oob_unanswered < MAX_BACKLOG // 2:
            self._reading = True
            connected(self).resumeProducing()
        self._maybe_finish()

    def _message(self, message: Any, started: float) -> None:
        problem = check_message(message, oob_allowed=self._oob)
        if problem is not None:
            self._local(message, error_reply("GenericError", problem, message), PARSE_ERROR,
                        started)
            return
        name = message.get("execute", message.get("exec-oob"))
        if name == "qmp_capabilities" and "execute" in message:
            self._local(message, self._negotiate(message), None, started)
        elif not self._negotiated:
            self._local(message, error_reply("CommandNotFound", _NEGOTIATE_FIRST, message),
                        None, started)
        else:
            denial = qmp_denial(message, self.identity.role, self.policy,
                                self.mux.profile.table)
            if denial is not None:
                self._log.warn("Denied {command} to {peer} on {listener}", command=name,
                               peer=self.identity.peer, listener=self.identity.listener)
                self._local(message, error_reply("GenericError", denial, message), "denied",
                            started)
                return
            fds: Tuple[int, ...] = ()
            if name in _FD_COMMANDS and self._fds:
                fds, self._fds = tuple(self._fds), []
            if "exec-oob" in message:
                # out of band: answered as soon as QEMU answers, ahead of the queue
                self._oob_unanswered += 1
                self._send(message, fds, _Slot(ordered=False), started)
                return
            self._backlog.append((message, fds, self._slot(), started))
            if fds:
                self._fds_waiting += 1
            self._pump()

    def _local(self, message: Any, reply: Mapping[str, Any], outcome: Optional[str],
               started: float, received: Optional[Mapping[str, Any]] = None) -> None:
        """Answer ``message`` without QEMU, and audit it (``outcome`` None: from the reply)."""
        if outcome is None:
            error = reply.get("error")
            outcome = f"error:{error.get('class')}" if isinstance(error, dict) else "ok"
        self._audit(received if received is not None else {"qmp": message}, [], outcome,
                    started)
        self._answer(self._slot(), reply)

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
        while self._backlog and self._at_qemu < CLIENT_WINDOW and not self._closed \
                and not (self._guard is not None and self._guard.paused):
            message, fds, slot, started = self._backlog.popleft()
            if fds:
                self._fds_waiting -= 1
            self._send(message, fds, slot, started)
        self._maybe_finish()

    def _resume(self) -> None:
        """The client read its output: carry on with what it sent meanwhile."""
        self._pump()
        self._take_up()

    def _send(self, message: Mapping[str, Any], fds: Tuple[int, ...], slot: "_Slot",
              started: float) -> None:
        request, _ = split_id(message)
        self._at_qemu += 1
        d = self.mux.forward(request, fds)
        d.addCallbacks(self._answered, self._failed, callbackArgs=(message, slot, started),
                       errbackArgs=(message, slot, started))

    def _answered(self, reply: Mapping[str, Any], message: Mapping[str, Any],
                  slot: "_Slot", started: float) -> None:
        self._at_qemu -= 1
        error = reply.get("error")
        outcome = f"error:{error.get('class')}" if isinstance(error, dict) else "ok"
        self._audit({"qmp": message}, [split_id(message)[0]], outcome, started)
        self._answer(slot, with_client_id(reply, message))
        self._pump()
        self._take_up()

    def _failed(self, failure: Failure, message: Mapping[str, Any], slot: "_Slot",
                started: float) -> None:
        self._at_qemu -= 1
        lost = isinstance(failure.value, QMPError)
        self._audit({"qmp": message}, [split_id(message)[0]],
                    "disconnected" if lost else "error", started)
        if lost:
            # QEMU went away with the command in flight; a direct client would
            # see its connection close, and so does this one.
            self._log.info("QMP command lost with the connection: {error}", error=failure.value)
            if not slot.ordered:
                self._oob_unanswered -= 1
            if not self._closed:
                connected(self).loseConnection()
            return
        self._log.failure("Forwarding a QMP command failed", failure)
        self._answer(slot, error_reply("GenericError", str(failure.value), message))
        self._pump()
        self._take_up()

    # -- output -------------------------------------------------------------------

    def _event(self, event: Mapping[str, Any]) -> None:
        if self._negotiated and not self._closed:
            self._write(dumps(event))

    def _slot(self) -> "_Slot":
        """A place for the next reply in request order."""
        slot = _Slot()
        self._replies.append(slot)
        return slot

    def _answer(self, slot: "_Slot", reply: Mapping[str, Any]) -> None:
        """Fill ``slot``; write every reply whose turn has come."""
        if not slot.ordered:
            self._oob_unanswered -= 1
            if not self._closed:
                self._write(dumps(reply))
            return
        if self._closed:
            return
        slot.reply = reply
        out = []
        while self._replies and self._replies[0].reply is not None:
            out.append(dumps(self._replies.popleft().reply))
        if out:
            self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        """Write ``data``, counted against the client's unread limit."""
        write_now(connected(self), data)
        if self._guard is not None:
            self._guard.wrote(len(data))

    def _maybe_finish(self) -> None:
        if self._closed_for_reading and not self._inbox and not self._backlog \
                and self._unread_at >= len(self._unread) and self._at_qemu == 0 \
                and not self._closed:
            connected(self).loseConnection()

    # -- audit --------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.seconds()

    def _audit(self, received: Mapping[str, Any], sent: List[Mapping[str, Any]],
               outcome: str, started: float, now: Optional[float] = None) -> None:
        if self.audit is None:
            return
        ended = self._now() if now is None else now
        try:
            self.audit.write(audit_record(identity=self.identity, received=received,
                                          sent=sent, outcome=outcome,
                                          latency=ended - started))
        except OSError as err:
            self._log.error("Cannot write the audit log: {error}", error=err)


def _received(piece: Any) -> Dict[str, Any]:
    """What the audit log says was received, for a message or a parse failure."""
    if isinstance(piece, ParseFailure):
        return {"qmp": None, "error": piece.desc}
    return {"qmp": piece}


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


def _reactor() -> IReactorTime:
    from twisted.internet import reactor
    return reactor


class QMPServerFactory(Factory):
    """Builds a :class:`QMPServerProtocol` per client and drops them all when QEMU goes away.

    :param max_message: the largest message a client may send, in bytes; a
        larger one gets QEMU's ``JSON token size limit exceeded`` and is never
        forwarded.  By default :data:`~hmpbridge.limits.MAX_QMP_MESSAGE`, or
        :data:`~hmpbridge.limits.MAX_QMP_MESSAGE_READ_ONLY` for a read-only listener.
    :param limits: ``max_unread`` and ``stall_timeout`` for every client's output
        (``max_clients`` is ``clients``'s business).
    :param clients: the count shared with the other listeners.
    :param policy: what a command may ask of QEMU (dump sizes, secrets), by role.
    :param vm: the VM served, when hmpbridge serves several (named in the audit).
    """

    _log = Logger()
    noisy = False

    def __init__(self, mux: QMPMultiplexer, listener: str = "",
                 max_message: Optional[int] = None, role: str = OPERATOR,
                 audit: Optional[AuditLog] = None,
                 clock: Optional[IReactorTime] = None,
                 clients: Optional[ClientCount] = None,
                 limits: Optional[Limits] = None,
                 policy: Policy = DEFAULT_POLICY, vm: str = "") -> None:
        self.mux = mux
        self.vm = vm
        self.policy = policy
        self.limits = limits or Limits()
        self.counted = clients if clients is not None else ClientCount(self.limits.max_clients)
        self.listener = listener
        if max_message is None:
            max_message = MAX_QMP_MESSAGE_READ_ONLY if role == READ_ONLY else MAX_QMP_MESSAGE
        self.max_message = max_message
        self.role = role
        self.audit = audit
        self.clock: IReactorTime = clock if clock is not None else _reactor()
        self.clients: Set[QMPServerProtocol] = set()
        mux.add_state_observer(self._upstream)

    def buildProtocol(self, addr: Any) -> Optional[Protocol]:
        if not self.counted.admit():
            self._log.warn("Refusing {peer} on {listener}: {count} clients connected",
                           peer=addr, listener=self.listener, count=self.counted.active)
            return Refusal()
        peer = peer_text(addr)
        protocol = QMPServerProtocol(self.mux, self.max_message,
                                     Identity(peer, self.role, self.listener, peer, vm=self.vm),
                                     limits=self.limits, clock=self.clock, audit=self.audit,
                                     policy=self.policy)
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
