"""The one QMP connection every session shares.

:class:`QMPMultiplexer` is a Twisted service.  It keeps a connection to QEMU
(reconnecting with back-off when it drops), negotiates it, reads the schema
so translations can ask what this QEMU offers, and lets any number of
callers run commands on it concurrently: every command gets a bridge-owned
id, so replies never cross between callers.

Every command of every caller passes :func:`hmpbridge.hazards.abort_refusal`
first: one that would make this QEMU release abort is answered here with a
``GenericError`` and never sent.
"""

from __future__ import annotations

import os
from typing import Any, Callable, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge import hazards
from hmpbridge.profile import QemuProfile, Release, profile_for
from hmpbridge.errors import CommandTimeout, QMPCommandError, QMPNotConnected, QMPProtocolError
from hmpbridge.interfaces import connected
from hmpbridge.model import QMPCommand
from hmpbridge.qapi_schema import SCHEMAS, Schema, SchemaStore
from hmpbridge.qmp_protocol import MAX_IN_FLIGHT, MAX_REPLY, QMPClientProtocol

__all__ = ["QMPMultiplexer", "NEGOTIATION_TIMEOUT", "SCHEMA_QUERIES", "SCHEMA_TURNS"]

EventCallback = Callable[[Mapping[str, Any]], None]
StateCallback = Callable[[bool], None]

#: Seconds a freshly connected peer has to greet and negotiate.  A QEMU
#: monitor that already has a client accepts the connection but never greets.
NEGOTIATION_TIMEOUT = 10.0

#: Reconnection back-off: first delay, growth factor and ceiling, in seconds.
RETRY_INITIAL, RETRY_FACTOR, RETRY_MAX = 0.2, 2.0, 5.0

#: ``query-qmp-schema`` queries in flight at once among the multiplexers sharing
#: :data:`SCHEMA_TURNS`.  A reply the process already keeps streams through
#: without being gathered, but until the first reply of a build is in, every VM
#: connecting at once would gather its own (about 200 KB each) side by side.
SCHEMA_QUERIES = 32

#: The process's turns at ``query-qmp-schema`` (see :data:`SCHEMA_QUERIES`).
SCHEMA_TURNS = DeferredSemaphore(SCHEMA_QUERIES)


class QMPMultiplexer(Service):
    """Runs QMP commands for many sessions over one connection to QEMU.

    :param endpoint: where QEMU's QMP socket is.
    :param clock: the reactor (for timeouts and reconnection).
    :param negotiation_timeout: seconds a peer has to greet and negotiate.
    :param max_in_flight: commands outstanding at QEMU at once.
    :param max_reply: the longest reply kept, in bytes; a longer one fails
        the command it answers (the connection carries on).
    :param hmp_version: the release whose HMP text to print when QEMU is
        newer (``--hmp-version``); None for QEMU's own.
    :param schemas: where the schemas of QEMU's ``query-qmp-schema`` replies
        are kept, shared with the other multiplexers of the process (QEMUs of
        one build send the same reply; it is decoded once): the process's
        :data:`~hmpbridge.qapi_schema.SCHEMAS` unless given.
    :param schema_turns: the turns at ``query-qmp-schema``, shared with the
        other multiplexers of the process: :data:`SCHEMA_TURNS` unless given.
        The wait for a turn counts in the negotiation time.
    :param vm: the VM's name, when the process serves several (its log lines
        begin ``VM NAME:``).
    """

    _log = Logger()

    def __init__(self, endpoint: IStreamClientEndpoint, clock: IReactorTime,
                 negotiation_timeout: float = NEGOTIATION_TIMEOUT,
                 max_in_flight: int = MAX_IN_FLIGHT, max_reply: int = MAX_REPLY,
                 hmp_version: Optional[Release] = None,
                 schemas: Optional[SchemaStore] = None,
                 schema_turns: Optional[DeferredSemaphore] = None, vm: str = "") -> None:
        self._endpoint = endpoint
        self._where = f"VM {vm}: " if vm else ""
        self._schemas = SCHEMAS if schemas is None else schemas
        self._schema_turns = SCHEMA_TURNS if schema_turns is None else schema_turns
        self._hmp_version = hmp_version
        self._profile: QemuProfile = profile_for(None, hmp_version=hmp_version)
        self._max_reply = max_reply
        self._clock = clock
        self._negotiation_timeout = negotiation_timeout
        self._max_in_flight = max_in_flight
        self._protocol: Optional[QMPClientProtocol] = None
        self._greeting: Optional[Mapping[str, Any]] = None
        self._schema: Optional[FrozenSet[str]] = None
        self._chardevs: Optional[FrozenSet[str]] = None
        self._event_observers: List[EventCallback] = []
        self._state_observers: List[StateCallback] = []
        self._waiters: List[Tuple[Optional[int], "Deferred[None]"]] = []
        self._failures = 0
        self._connecting: Optional["Deferred[Any]"] = None
        self._retry: Optional[IDelayedCall] = None
        # query-qmp-schema, as read at connect (shared with QEMUs of the same build)
        self._schema_reply: Optional[Sequence[Any]] = None
        self._kvm: Optional[bool] = None  # whether KVM is on, asked when first needed

    # -- CommandExecutor ----------------------------------------------------

    @property
    def greeting(self) -> Optional[Mapping[str, Any]]:
        """The ``QMP`` member of the latest greeting (kept across reconnects)."""
        return self._greeting

    @property
    def schema_commands(self) -> Optional[FrozenSet[str]]:
        """Command names of the connected QEMU, from ``query-qmp-schema``."""
        return self._schema

    @property
    def chardevs_at_connect(self) -> Optional[FrozenSet[str]]:
        """The chardevs QEMU had when this connection came up (``query-chardev``).

        HMP's ``chardev-add`` tells a chardev made from ``-chardev`` options
        from one made later; these are the candidates.
        """
        return self._chardevs

    @property
    def profile(self) -> QemuProfile:
        """The QEMU served: worked out at every connect (kept across a reconnect's wait)."""
        return self._profile

    @property
    def connected(self) -> bool:
        """Whether a negotiated connection is up."""
        return self._protocol is not None

    def execute(self, command: QMPCommand, timeout: Optional[float] = None) -> "Deferred[Any]":
        """Run ``command``; fire with its return value.

        :param timeout: seconds to wait for the reply; a late reply is dropped.
        """
        protocol = self._protocol
        if protocol is None:
            for fd in command.fds:
                os.close(fd)
            failed: "Deferred[Any]" = Deferred()
            failed.errback(QMPNotConnected("no QMP connection"))
            return failed
        message = command.to_dict()
        inner = self._judged(message, lambda: protocol.execute(message, command.fds),
                             command.fds, lambda refusal: _fail(QMPCommandError(
                                 "GenericError", refusal, command.execute)))
        if timeout is None:
            return inner
        outer: "Deferred[Any]" = Deferred()

        def expire() -> None:
            if not outer.called:
                outer.errback(CommandTimeout(command.execute, timeout))

        def settle(result: Any) -> None:
            if timer.active():
                timer.cancel()
            if not outer.called:
                if isinstance(result, Failure):
                    outer.errback(result)
                else:
                    outer.callback(result)

        timer = self._clock.callLater(timeout, expire)
        inner.addBoth(settle)
        return outer

    def forward(self, message: Mapping[str, Any], fds: Sequence[int] = ()) -> "Deferred[Any]":
        """Send a client's QMP message as it is (its ``id`` removed); fire with QEMU's whole reply.

        Used by the QMP endpoint: the reply keeps QEMU's form, ``error``
        replies included, with the bridge's id in it.
        """
        protocol = self._protocol
        if protocol is None:
            for fd in fds:
                os.close(fd)
            failed: "Deferred[Any]" = Deferred()
            failed.errback(QMPNotConnected("no QMP connection"))
            return failed
        if self._schema_reply is not None and not fds and _asks_for_schema(message):
            # The schema is fixed for the life of a QEMU process, and QEMU
            # takes about 40 ms to build it, during which every other client
            # waits: the copy read when connecting is QEMU's own answer.
            return _succeed({"return": self._schema_reply, "id": None})
        return self._judged(message, lambda: protocol.execute(message, fds, raw=True), fds,
                            lambda refusal: _succeed(
                                {"id": None, "error": {"class": "GenericError",
                                                       "desc": refusal}}))

    def _judged(self, message: Mapping[str, Any], send: Callable[[], "Deferred[Any]"],
                fds: Sequence[int],
                refuse: Callable[[str], "Deferred[Any]"]) -> "Deferred[Any]":
        """``send()`` unless ``message`` would make QEMU abort; then ``refuse(why)``.

        Whether KVM is on is asked (once per connection) only when a message
        depends on it.
        """
        release = hazards.release_of(self._greeting)

        def judge(kvm: Optional[bool]) -> "Deferred[Any]":
            refusal = hazards.abort_refusal(message, release, kvm, self._profile.table)
            if refusal is None:
                return send()
            for fd in fds:
                os.close(fd)
            self._log.warn("{where}Refused {command}: {refusal}", command=message.get(
                "execute", message.get("exec-oob")), refusal=refusal, where=self._where)
            return refuse(refusal)
        if self._kvm is None and hazards.needs_kvm_state(message, release,
                                                           self._profile.table):
            return self._kvm_state().addCallback(judge)
        return judge(self._kvm)

    def _kvm_state(self) -> "Deferred[Optional[bool]]":
        """Whether KVM is on, from ``query-kvm`` (None when QEMU cannot say)."""
        protocol = self._protocol
        if protocol is None:
            return _succeed(None)

        def read(reply: Any) -> Optional[bool]:
            if isinstance(reply, Mapping) and isinstance(reply.get("enabled"), bool):
                if self._protocol is protocol:
                    self._kvm = reply["enabled"]
                return bool(reply["enabled"])
            return None
        return protocol.execute({"execute": "query-kvm"}).addCallbacks(
            read, lambda _: None)

    @property
    def oob(self) -> bool:
        """Whether out-of-band execution is negotiated with QEMU."""
        return self._protocol is not None and self._protocol.oob

    # -- EventSource --------------------------------------------------------

    def add_event_observer(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every QMP event; returns an unsubscribe function."""
        self._event_observers.append(callback)
        return lambda: _discard(self._event_observers, callback)

    def add_state_observer(self, callback: StateCallback) -> Callable[[], None]:
        """Call ``callback(True|False)`` when the connection comes up or goes away."""
        self._state_observers.append(callback)
        return lambda: _discard(self._state_observers, callback)

    # -- life cycle ---------------------------------------------------------

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]  # Service is unannotated
        self._connect()

    def stopService(self) -> "Deferred[None]":
        super().stopService()  # type: ignore[no-untyped-call]
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._connecting is not None:
            self._connecting.cancel()
        protocol, self._protocol = self._protocol, None
        stopped: "Deferred[None]" = Deferred()
        if protocol is not None and protocol.transport is not None:
            protocol.lost.addBoth(lambda _: stopped.callback(None))
            protocol.transport.loseConnection()
        else:
            stopped.callback(None)
        return stopped

    def when_ready(self, fail_after_failures: Optional[int] = None) -> "Deferred[None]":
        """Fire once a negotiated connection is up.

        :param fail_after_failures: fail after this many failed connection
            attempts in a row, instead of waiting for reconnection forever.
        """
        d: "Deferred[None]" = Deferred()
        if self._protocol is not None:
            d.callback(None)
        else:
            self._waiters.append((fail_after_failures, d))
        return d

    # -- internals ----------------------------------------------------------

    def _connect(self) -> None:
        self._retry = None
        if not self.running:
            return
        protocol = QMPClientProtocol(on_event=self._dispatch_event, max_reply=self._max_reply,
                                     max_in_flight=self._max_in_flight)
        self._connecting = Deferred.fromCoroutine(self._attempt(protocol))

    async def _attempt(self, protocol: QMPClientProtocol) -> None:
        try:
            await connectProtocol(self._endpoint, protocol)  # type: ignore[no-untyped-call]
            timer = self._clock.callLater(self._negotiation_timeout, self._give_up, protocol)
            try:
                greeting = await protocol.ready
                # QEMUs of one build share one copy, decoded once (a host may serve a
                # thousand): a Schema, or None when QEMU's reply is no list
                await self._schema_turns.acquire()
                try:
                    reply = await protocol.execute({"execute": "query-qmp-schema"},
                                                   shared=self._schemas)
                finally:
                    self._schema_turns.release()
                schema = reply if isinstance(reply, Schema) else None
                commands = schema.commands if schema is not None else None
                chardevs = await self._chardev_labels(protocol, commands)
            finally:
                if timer.active():
                    timer.cancel()
        except Exception as err:  # noqa: BLE001 - every failure means: try again later
            self._connecting = None
            if protocol.transport is not None and not protocol.lost.called:
                connected(protocol).abortConnection()
            self._attempt_failed(err)
            return
        self._connecting = None
        if not self.running or protocol.lost.called:
            return
        self._up(protocol, greeting, schema, commands, chardevs)

    @staticmethod
    async def _chardev_labels(protocol: QMPClientProtocol,
                              commands: Optional[FrozenSet[str]]) -> Optional[FrozenSet[str]]:
        """The labels of ``query-chardev``, or None where QEMU cannot say."""
        if commands is not None and "query-chardev" not in commands:
            return None
        try:
            chardevs = await protocol.execute({"execute": "query-chardev"})
        except QMPCommandError:
            return None
        if not isinstance(chardevs, list):
            return None
        return frozenset(str(c.get("label")) for c in chardevs if isinstance(c, dict))

    def _up(self, protocol: QMPClientProtocol, greeting: Mapping[str, Any],
            schema: Optional[Schema], commands: Optional[FrozenSet[str]],
            chardevs: Optional[FrozenSet[str]]) -> None:
        self._schema_reply = schema.entities if schema is not None else None
        self._failures = 0
        self._kvm = None
        self._greeting = greeting
        self._schema = commands
        self._chardevs = chardevs
        self._profile = profile_for(greeting, schema, self._hmp_version)
        self._protocol = protocol
        protocol.lost.addCallback(self._connection_lost, protocol)
        version = greeting.get("version", {}).get("qemu", {})
        self._log.info("{where}Connected to QEMU {major}.{minor}.{micro} ({count} QMP "
                       "commands); printing QEMU {release}'s HMP text from table {table}",
                       where=self._where,
                       major=version.get("major"), minor=version.get("minor"),
                       micro=version.get("micro"), count=len(self._schema or ()),
                       release=self._profile.release_text,
                       table="{}.{}".format(*self._profile.table.release))
        self._explain_profile()
        waiters, self._waiters = self._waiters, []
        for _, d in waiters:
            d.callback(None)
        self._notify_state(True)

    def _explain_profile(self) -> None:
        """Log where the profile differs from what QEMU or the operator asked for."""
        profile = self._profile
        own = profile.qemu[:2]
        if self._hmp_version is not None and self._hmp_version > own:
            self._log.warn("{where}--hmp-version {asked} is newer than QEMU {qemu}: printing "
                           "QEMU {qemu}'s own text", where=self._where,
                           asked="{}.{}".format(*self._hmp_version),
                           qemu="{}.{}".format(*own))
        if profile.table.release != profile.release:
            self._log.warn("{where}No HMP table for QEMU {release}: using {table}'s, the "
                           "nearest older one, with what this QEMU's schema lacks unavailable",
                           where=self._where,
                           release=profile.release_text,
                           table="{}.{}".format(*profile.table.release))

    def _attempt_failed(self, err: BaseException) -> None:
        self._failures += 1
        self._log.debug("{where}QMP connection attempt {n} failed: {err}", n=self._failures,
                        err=err, where=self._where)
        keep = []
        for limit, d in self._waiters:
            if limit is not None and self._failures >= limit:
                d.errback(err)
            else:
                keep.append((limit, d))
        self._waiters = keep
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if not self.running or self._retry is not None:
            return
        delay = min(RETRY_MAX, RETRY_INITIAL * RETRY_FACTOR ** max(self._failures - 1, 0))
        self._retry = self._clock.callLater(delay, self._connect)

    def _give_up(self, protocol: QMPClientProtocol) -> None:
        stage = "QMP greeting" if protocol.greeting is None else "QMP negotiation"
        protocol.abort(QMPProtocolError(
            f"no {stage} within {self._negotiation_timeout:g} s "
            "(is another client already connected to this monitor?)"))

    def _connection_lost(self, reason: Any, protocol: QMPClientProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._log.warn("{where}QMP connection lost: {reason}", reason=reason,
                           where=self._where)
            self._notify_state(False)
            self._schedule_retry()

    def _dispatch_event(self, event: Mapping[str, Any]) -> None:
        for observer in list(self._event_observers):
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - keep serving the other observers
                self._log.failure("{where}Event observer failed", where=self._where)

    def _notify_state(self, up: bool) -> None:
        for observer in list(self._state_observers):
            try:
                observer(up)
            except Exception:  # noqa: BLE001
                self._log.failure("{where}State observer failed", where=self._where)


def _fail(error: BaseException) -> "Deferred[Any]":
    failed: "Deferred[Any]" = Deferred()
    failed.errback(error)
    return failed


def _succeed(value: Any) -> "Deferred[Any]":
    done: "Deferred[Any]" = Deferred()
    done.callback(value)
    return done


def _asks_for_schema(message: Mapping[str, Any]) -> bool:
    """Whether ``message`` is a plain in-band ``query-qmp-schema`` (no arguments)."""
    return message.get("execute") == "query-qmp-schema" and \
        set(message) <= {"execute", "arguments"} and message.get("arguments", {}) == {}


def _discard(items: List[Any], item: Any) -> None:
    if item in items:
        items.remove(item)
