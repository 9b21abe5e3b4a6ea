"""In-memory fakes for testing code that talks QMP, without QEMU or sockets.

* :class:`FakeQEMU` is the server side of a QMP connection: it greets,
  insists on ``qmp_capabilities`` first, answers commands from a table of
  handlers, records what it received, can hold its replies back (to test
  in-flight limits and replies out of order) and can emit events.
* :class:`FakeExecutor` stands in for the multiplexer behind a
  :class:`~hmpbridge.runner.CommandRunner`
  (:class:`~hmpbridge.interfaces.CommandExecutor`), answering at once or
  when a test says so.
* :func:`connect_qmp` wires a :class:`~hmpbridge.qmp_protocol.QMPClientProtocol`
  to a :class:`FakeQEMU` through :mod:`twisted.test.iosim`;
  :class:`FakeQMPEndpoint` does the same for every ``connect()`` of a client
  endpoint, so :class:`~hmpbridge.mux.QMPMultiplexer` runs against it with a
  :class:`twisted.internet.task.Clock`.  The client's side of these
  connections is a unix socket by default: descriptors it passes
  (SCM_RIGHTS) arrive at the fake with the bytes they were sent with.

* :class:`CannedReplies` answers a handler driven by
  :func:`hmpbridge.handlers.drive` from replies given by QMP command name
  (:class:`InTurn` for replies that change from call to call), and
  :func:`run_line` / :func:`run_key` drive one line's handler against it and
  return the text HMP would print.

Handlers are ``callable(arguments) -> return value``.  A handler raises an
exception with ``error_class`` and ``desc`` attributes (such as
:class:`~hmpbridge.errors.QMPCommandError`) to answer with that error; any
other exception answers ``GenericError`` with the exception's text.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from typing import (Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Type, TypeVar)

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import (IProtocol, IProtocolFactory, IStreamClientEndpoint,
                                         IUNIXTransport)
from twisted.internet.task import Clock
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from twisted.test.iosim import (FakeAddress, FakeTransport, IOPump, connect, makeFakeClient,
                                makeFakeServer)
from zope.interface import implementer

from hmpbridge.commands import PASSTHROUGH
from hmpbridge.profile import QemuProfile, profile_for
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all, drive, handler_for
from hmpbridge.handlers import Handler as CommandHandler
from hmpbridge.hmp_parser import parse
from hmpbridge.interfaces import connected
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.errors import render_error
from hmpbridge.qmp_protocol import QMPClientProtocol

__all__ = [
    "CannedReplies",
    "InTurn",
    "generic_error",
    "run_line",
    "run_key",
    "DEFAULT_VERSION",
    "Handler",
    "qmp_greeting",
    "default_handlers",
    "FakeQEMU",
    "FakeExecutor",
    "PendingCommand",
    "connect_qmp",
    "FakeQMPConnection",
    "FakeUNIXClientTransport",
    "FakeQMPEndpoint",
    "result_of",
    "failure_of",
    "TurnClock",
]

#: The QEMU version the fakes claim to be.
DEFAULT_VERSION: Tuple[int, int, int] = (7, 2, 22)

#: Answers one command: called with its ``arguments`` (``{}`` when absent).
Handler = Callable[[Dict[str, Any]], Any]

_T = TypeVar("_T")


def qmp_greeting(version: Tuple[int, int, int] = DEFAULT_VERSION, package: str = "",
                 capabilities: Iterable[str] = ("oob",)) -> Dict[str, Any]:
    """The ``QMP`` member of a greeting from QEMU ``version``."""
    major, minor, micro = version
    return {"version": {"qemu": {"major": major, "minor": minor, "micro": micro},
                        "package": package},
            "capabilities": list(capabilities)}


def default_handlers(version: Tuple[int, int, int] = DEFAULT_VERSION,
                     package: str = "") -> Dict[str, Handler]:
    """Handlers every fake has unless overridden: a running VM of QEMU ``version``."""
    major, minor, micro = version
    return {
        "query-status": lambda args: {"status": "running", "running": True,
                                      "singlestep": False},
        "query-version": lambda args: {"qemu": {"major": major, "minor": minor,
                                                "micro": micro},
                                       "package": package},
    }


def _error_of(exc: BaseException) -> Dict[str, str]:
    """The QMP ``error`` member for an exception raised by a handler."""
    return {"class": str(getattr(exc, "error_class", "GenericError")),
            "desc": str(getattr(exc, "desc", exc))}


def _command_error(error_class: str, desc: str) -> Dict[str, Any]:
    return {"error": {"class": error_class, "desc": desc}}


class FakeQEMU(LineReceiver):
    """QEMU's QMP monitor, in memory.

    :param handlers: command name -> handler; merged over
        :func:`default_handlers`.
    :param version: the QEMU version in the greeting (and ``query-version``).
    :param capabilities: the greeting's ``capabilities``.
    :param greet: whether to greet on connection; ``False`` behaves like a
        QEMU monitor that already has a client (it accepts but stays silent).

    :ivar received: every command message received, ``id`` included, in order.
    :ivar received_fds: copies of the descriptors passed to it (SCM_RIGHTS),
        in order; closed and forgotten when the connection is lost.
    :ivar held: replies kept back by :meth:`hold`, not yet released.
    :ivar negotiated: whether ``qmp_capabilities`` succeeded.
    :ivar enabled_capabilities: what ``qmp_capabilities`` enabled (``oob``);
        ``exec-oob`` commands are refused without ``oob``.
    :ivar connected: whether the connection is up.
    """

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024 * 1024

    def __init__(self, handlers: Optional[Mapping[str, Handler]] = None, *,
                 version: Tuple[int, int, int] = DEFAULT_VERSION, package: str = "",
                 capabilities: Iterable[str] = ("oob",), greet: bool = True) -> None:
        self.greeting = qmp_greeting(version, package, capabilities)
        self.handlers: Dict[str, Handler] = {**default_handlers(version, package),
                                             **(handlers or {})}
        self.greet = greet
        self.received: List[Dict[str, Any]] = []
        self.received_fds: List[int] = []
        self.held: List[Dict[str, Any]] = []
        self.negotiated = False
        self.enabled_capabilities: List[str] = []
        self.connected = False
        self.lost_reason: Optional[Failure] = None
        self._holding = False
        self._hold_only: Optional[FrozenSet[str]] = None
        self._clock = itertools.count(1)

    # -- what it received ---------------------------------------------------

    @property
    def commands(self) -> List[Optional[str]]:
        """The command name (``execute`` or ``exec-oob``) of every command received."""
        return [message.get("execute", message.get("exec-oob")) for message in self.received]

    def schema(self) -> List[Dict[str, Any]]:
        """The ``query-qmp-schema`` reply: one command entity per handler, plus a type."""
        names = set(self.handlers) | {"qmp_capabilities", "query-qmp-schema"}
        return ([{"name": name, "meta-type": "command", "arg-type": "0", "ret-type": "0"}
                 for name in sorted(names)]
                + [{"name": "0", "meta-type": "object", "members": []}])

    # -- driving it from a test -----------------------------------------------

    def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON message, ended with ``\\r\\n`` as QEMU does."""
        self.send_raw(json.dumps(message).encode("utf-8") + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (broken JSON, partial lines, ...)."""
        connected(self).write(data)

    def send_greeting(self) -> None:
        """Send the greeting (done on connection unless ``greet=False``)."""
        self.send({"QMP": self.greeting})

    def emit_event(self, name: str, data: Optional[Mapping[str, Any]] = None) -> None:
        """Send the event ``name`` with ``data``, stamped with a made-up time."""
        message: Dict[str, Any] = {"event": name}
        if data is not None:
            message["data"] = dict(data)
        message["timestamp"] = {"seconds": next(self._clock), "microseconds": 0}
        self.send(message)

    def hold(self, *commands: str) -> None:
        """Keep replies back until :meth:`release`: all of them, or those to ``commands``."""
        self._holding = True
        self._hold_only = frozenset(commands) if commands else None

    def stop_holding(self) -> None:
        """Answer new commands at once again (replies already held stay held)."""
        self._holding = False
        self._hold_only = None

    def release(self, *indices: int) -> None:
        """Send held replies: those at ``indices`` of :attr:`held` in that order, or all."""
        chosen = list(indices) if indices else list(range(len(self.held)))
        replies = [self.held[index] for index in chosen]
        self.held = [reply for index, reply in enumerate(self.held) if index not in chosen]
        for reply in replies:
            self.send(reply)

    def drop(self) -> None:
        """Close the connection from QEMU's side."""
        connected(self).loseConnection()

    # -- protocol ---------------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected = True
        if self.greet:
            self.send_greeting()

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.connected = False
        self.lost_reason = reason
        _close_fds(self.received_fds)
        self.received_fds.clear()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """Keep a copy of a descriptor the client passed (the client closes its own)."""
        self.received_fds.append(os.dup(descriptor))

    def lineReceived(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError as err:
            self.send(_command_error("GenericError", f"JSON parse error, {err}"))
            return
        if not isinstance(message, dict):
            self.send(_command_error("GenericError", "QMP input must be a JSON object"))
            return
        self.received.append(message)
        reply = self._answer(message)
        if "id" in message:
            reply["id"] = message["id"]
        name = message.get("execute", message.get("exec-oob"))
        if self._holding and (self._hold_only is None or name in self._hold_only):
            self.held.append(reply)
        else:
            self.send(reply)

    def _answer(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        name = message.get("execute", message.get("exec-oob"))
        if not isinstance(name, str):
            return _command_error("GenericError", "QMP input lacks member 'execute'")
        if "exec-oob" in message and "oob" not in self.enabled_capabilities:
            return _command_error("GenericError", "QMP input member 'exec-oob' is unexpected")
        if name == "qmp_capabilities":
            if self.negotiated:
                return _command_error(
                    "CommandNotFound",
                    "Capabilities negotiation is already complete, command ignored")
            enable = list((message.get("arguments") or {}).get("enable") or [])
            for capability in enable:
                if capability not in self.greeting["capabilities"]:
                    return _command_error("GenericError",
                                          f"Capability '{capability}' not available")
            self.negotiated = True
            self.enabled_capabilities = enable
            return {"return": {}}
        if not self.negotiated:
            return _command_error("CommandNotFound",
                                  "Expecting capabilities negotiation with 'qmp_capabilities'")
        handler = self.handlers.get(name)
        if handler is None:
            if name == "query-qmp-schema":
                return {"return": self.schema()}
            return _command_error("CommandNotFound", f"The command {name} has not been found")
        try:
            value = handler(dict(message.get("arguments") or {}))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply
            return {"error": _error_of(exc)}
        return {"return": {} if value is None else value}


@dataclass
class PendingCommand:
    """A command a manual :class:`FakeExecutor` has not answered yet."""

    command: QMPCommand
    deferred: "Deferred[Any]"


class FakeExecutor:
    """A :class:`~hmpbridge.interfaces.CommandExecutor` answering from handlers.

    :param handlers: command name -> handler; merged over :func:`default_handlers`.
    :param version: the QEMU version of :attr:`greeting`; ``None`` for no greeting.
    :param schema_commands: what :attr:`schema_commands` reports (``None``: unknown).
    :param chardevs_at_connect: what :attr:`chardevs_at_connect` reports.
    :param manual: keep every command in :attr:`pending` until :meth:`fire`
        (or :meth:`fail`) is called, instead of answering at once.
    :param schema: the ``query-qmp-schema`` reply the :attr:`profile` holds.
    :param hmp_version: the release whose text to print (``--hmp-version``).

    Like the multiplexer, it owns the descriptors of a command (``fds``)
    and closes them once the command is answered or failed.

    :ivar commands: every command executed, in order.
    """

    def __init__(self, handlers: Optional[Mapping[str, Handler]] = None, *,
                 version: Optional[Tuple[int, int, int]] = DEFAULT_VERSION,
                 schema_commands: Optional[Iterable[str]] = None,
                 chardevs_at_connect: Optional[Iterable[str]] = None,
                 manual: bool = False,
                 schema: Optional[Sequence[Mapping[str, Any]]] = None,
                 hmp_version: Optional[Tuple[int, int]] = None) -> None:
        self.handlers: Dict[str, Handler] = {
            **default_handlers(version or DEFAULT_VERSION), **(handlers or {})}
        self.greeting: Optional[Mapping[str, Any]] = (
            qmp_greeting(version) if version is not None else None)
        self.schema_commands: Optional[FrozenSet[str]] = (
            frozenset(schema_commands) if schema_commands is not None else None)
        self.chardevs_at_connect: Optional[FrozenSet[str]] = (
            frozenset(chardevs_at_connect) if chardevs_at_connect is not None else None)
        self.manual = manual
        self.profile: QemuProfile = profile_for(self.greeting, schema, hmp_version)
        self.commands: List[QMPCommand] = []
        self.pending: List[PendingCommand] = []

    def execute(self, command: QMPCommand) -> "Deferred[Any]":
        """Record ``command`` and answer it (now, or later when manual)."""
        self.commands.append(command)
        d: "Deferred[Any]" = Deferred()
        if self.manual:
            self.pending.append(PendingCommand(command, d))
        else:
            self._settle(command, d)
        return d

    def fire(self, index: int = 0) -> PendingCommand:
        """Answer the pending command at ``index`` from its handler."""
        entry = self.pending.pop(index)
        self._settle(entry.command, entry.deferred)
        return entry

    def fire_all(self) -> None:
        """Answer every pending command, oldest first, including ones they cause."""
        while self.pending:
            self.fire()

    def fail(self, error: BaseException, index: int = 0) -> PendingCommand:
        """Fail the pending command at ``index`` with ``error``."""
        entry = self.pending.pop(index)
        _close_fds(entry.command.fds)
        entry.deferred.errback(error)
        return entry

    def _settle(self, command: QMPCommand, d: "Deferred[Any]") -> None:
        try:
            self._answer(command, d)
        finally:
            _close_fds(command.fds)

    def _answer(self, command: QMPCommand, d: "Deferred[Any]") -> None:
        handler = self.handlers.get(command.execute)
        if handler is None:
            d.errback(QMPCommandError("CommandNotFound",
                                      f"The command {command.execute} has not been found",
                                      command.execute))
            return
        try:
            value = handler(dict(command.arguments or {}))
        except QMPCommandError as err:
            d.errback(err)
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply
            error = _error_of(exc)
            d.errback(QMPCommandError(error["class"], error["desc"], command.execute))
            return
        d.callback({} if value is None else value)


@implementer(IUNIXTransport)
class FakeUNIXClientTransport(FakeTransport):
    """The client's end of an in-memory unix socket: it can pass descriptors.

    A descriptor given to :meth:`sendFileDescriptor` reaches the peer's
    ``fileDescriptorReceived`` just before the bytes written after it.
    """

    def __init__(self, protocol: IProtocol, peer: IProtocol) -> None:
        super().__init__(protocol, isServer=False)
        self.peer = peer
        self._fds: List[int] = []

    def sendFileDescriptor(self, descriptor: int) -> None:
        self._fds.append(descriptor)

    def getOutBuffer(self) -> Optional[bytes]:
        data: Optional[bytes] = super().getOutBuffer()
        fds, self._fds = self._fds, []
        receive = getattr(self.peer, "fileDescriptorReceived", None)
        for fd in fds:
            if receive is not None:
                receive(fd)
        return data


def _client_transport(client: IProtocol, qemu: FakeQEMU, unix: bool) -> FakeTransport:
    return FakeUNIXClientTransport(client, qemu) if unix else makeFakeClient(client)


def connect_qmp(qemu: Optional[FakeQEMU] = None,
                client: Optional[QMPClientProtocol] = None,
                flush: bool = True, unix: bool = True,
                ) -> Tuple[QMPClientProtocol, FakeQEMU, IOPump]:
    """Connect ``client`` to ``qemu`` in memory; ``pump.flush()`` moves the bytes.

    :param flush: finish the greeting and negotiation before returning.
    :param unix: whether the client's transport is a unix socket (and can
        pass descriptors), or not.
    """
    qemu = qemu if qemu is not None else FakeQEMU()
    client = client if client is not None else QMPClientProtocol()
    pump = connect(qemu, makeFakeServer(qemu), client, _client_transport(client, qemu, unix),
                   greet=flush)
    return client, qemu, pump


@dataclass
class FakeQMPConnection:
    """One connection made through a :class:`FakeQMPEndpoint`."""

    qemu: FakeQEMU
    client: Any
    pump: IOPump


@implementer(IStreamClientEndpoint)
class FakeQMPEndpoint:
    """A client endpoint whose every ``connect()`` reaches a new :class:`FakeQEMU`.

    Nothing moves until :meth:`flush` is called.

    :param handlers: handlers for the :class:`FakeQEMU` of every connection.
    :param greet: whether those fakes greet (``False``: accept, stay silent).
    :param refuse: refuse connections (``ConnectionRefusedError``); may be
        changed between attempts.
    :param unix: whether the connections are unix sockets (and can pass descriptors).
    :param qemu_factory: builds the fake for each connection, overriding
        ``handlers`` and ``greet``.

    :ivar attempts: ``connect()`` calls so far, refused ones included.
    :ivar connections: the connections made, oldest first.
    """

    def __init__(self, handlers: Optional[Mapping[str, Handler]] = None, *,
                 greet: bool = True, refuse: bool = False, unix: bool = True,
                 qemu_factory: Optional[Callable[[], FakeQEMU]] = None) -> None:
        self.qemu_factory: Callable[[], FakeQEMU] = (
            qemu_factory if qemu_factory is not None
            else (lambda: FakeQEMU(handlers, greet=greet)))
        self.refuse = refuse
        self.unix = unix
        self.attempts = 0
        self.connections: List[FakeQMPConnection] = []

    @property
    def qemu(self) -> FakeQEMU:
        """The fake of the latest connection."""
        return self.connections[-1].qemu

    def connect(self, protocolFactory: IProtocolFactory) -> "Deferred[Any]":
        self.attempts += 1
        if self.refuse:
            return fail(ConnectionRefusedError("fake QMP endpoint refuses connections"))
        qemu = self.qemu_factory()
        client = protocolFactory.buildProtocol(FakeAddress())
        if client is None:
            return fail(ConnectionRefusedError("the factory built no protocol"))
        pump = connect(qemu, makeFakeServer(qemu), client,
                       _client_transport(client, qemu, self.unix), greet=False)
        self.connections.append(FakeQMPConnection(qemu, client, pump))
        return succeed(client)

    def flush(self) -> None:
        """Move every byte waiting on any connection, disconnections included."""
        for connection in list(self.connections):
            connection.pump.flush()


def result_of(d: "Deferred[_T]") -> _T:
    """The result a Deferred has already fired with; fails if it has not, or failed."""
    results: List[Any] = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError(f"{d!r} has not fired")
    result = results[0]
    if isinstance(result, Failure):
        raise AssertionError(f"{d!r} failed: {result.getTraceback()}")
    return result  # type: ignore[no-any-return]


def failure_of(d: "Deferred[Any]", *expected: Type[BaseException]) -> Failure:
    """The Failure a Deferred has already failed with, checked against ``expected``."""
    results: List[Any] = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError(f"{d!r} has not fired")
    result = results[0]
    if not isinstance(result, Failure):
        raise AssertionError(f"{d!r} succeeded with {result!r}")
    if expected and result.check(*expected) is None:
        raise AssertionError(f"{d!r} failed with {result.value!r}, not {expected}")
    return result


class TurnClock(Clock):
    """A clock that runs the calls due a turn at a time, as the reactor does: a call made
    for now during a turn runs in the next one (``Clock.advance`` runs it at once)."""

    def turn(self) -> bool:
        """Run the calls due now, not those they make; whether there were any."""
        due = [call for call in self.calls if call.getTime() <= self.seconds()]
        for call in due:
            self.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)
        return bool(due)


def _close_fds(fds: Iterable[int]) -> None:
    for fd in list(fds):
        try:
            os.close(fd)
        except OSError:
            pass


# -- driving one handler --------------------------------------------------------


class InTurn:
    """Replies given one per call, in order; the last one repeats."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)

    def next(self) -> Any:
        """The reply for this call."""
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def generic_error(desc: str) -> Callable[[QMPCommand], QMPCommandError]:
    """A reply for :class:`CannedReplies`: a ``GenericError`` naming the command asked."""
    return lambda cmd: QMPCommandError("GenericError", desc, cmd.execute)


class CannedReplies:
    """A responder for :func:`hmpbridge.handlers.drive`: replies by QMP command name.

    A reply is a value, an exception (raised at the handler's ``yield``), a
    callable (called with the command) or an :class:`InTurn`.  Commands
    without a reply get ``default``.

    :ivar commands: every command asked, in order (also :attr:`sent`).
    """

    def __init__(self, replies: Optional[Mapping[str, Any]] = None,
                 default: Any = None) -> None:
        self.replies = dict(replies or {})
        self.default = {} if default is None else default
        self.commands: List[QMPCommand] = []

    @property
    def sent(self) -> List[Any]:
        """The commands asked, in order."""
        return self.commands

    def __call__(self, cmd: QMPCommand) -> Any:
        self.commands.append(cmd)
        reply = self.replies.get(cmd.execute, self.default)
        if isinstance(reply, InTurn):
            reply = reply.next()
        if callable(reply):
            reply = reply(cmd)
        if isinstance(reply, Exception):
            raise reply
        return reply


def run_line(line: str, respond: Callable[[QMPCommand], Any], ctx: Optional[Context] = None,
             sleep: Optional[Callable[[float], None]] = None, render: bool = True) -> str:
    """Parse ``line``, drive its handler against ``respond``, return what HMP prints.

    :param render: print an uncaught QMP error as the runner does (``Error:
        <desc>``); when False it is raised to the caller.
    """
    inv = parse(line, (ctx or Context()).profile.table)
    assert inv is not None, f"{line!r} is a line QEMU ignores"
    return _run(inv, respond, ctx, sleep, render)


def run_key(key: str, args: Mapping[str, Any], respond: Callable[[QMPCommand], Any],
            ctx: Optional[Context] = None, line: str = "") -> str:
    """Drive the handler of table entry ``key`` with ``args`` (no parsing)."""
    table = (ctx or Context()).profile.table
    return _run(Invocation(table.by_key(key), dict(args), line or key), respond, ctx, None, True)


_load_all()


def _handler(inv: Invocation) -> CommandHandler:
    """The handler the runner would drive (QEMU's monitor for passthrough commands)."""
    from hmpbridge.handlers.passthrough import passthrough

    found = handler_for(inv.spec)
    if found is None or inv.spec.strategy == PASSTHROUGH:
        return passthrough
    return found


def _run(inv: Invocation, respond: Callable[[QMPCommand], Any], ctx: Optional[Context],
         sleep: Optional[Callable[[float], None]], render: bool) -> str:
    context = ctx if ctx is not None else Context()
    try:
        return drive(_handler(inv)(inv, context), respond, sleep=sleep)
    except QMPCommandError as err:
        if not render:
            raise
        return render_error(err)
