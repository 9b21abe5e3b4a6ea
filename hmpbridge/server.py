"""The listening side: a factory that gives every connection an HMP session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from weakref import WeakSet

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from hmpbridge.access import OPERATOR, Identity, narrowest, peer_text
from hmpbridge.events import EventHub
from hmpbridge.limits import ClientCount, Limits, Refusal, when_lost
from hmpbridge.login import Authenticate, LoginGate
from hmpbridge.password_checks import PasswordChecks
from hmpbridge.model import SessionState
from hmpbridge.passwords import PasswordFile
from hmpbridge.runner import CommandRunner
from hmpbridge.board import CommandBoard
from hmpbridge.history import ConnectionHistory, HistoryStore
from hmpbridge.session import HMPSession
from hmpbridge.telnet import HMPTelnetTransport
from hmpbridge.throttle import LoginThrottle

__all__ = ["HMPServerFactory", "ListenerAccess", "CONNECTION_GONE", "CONNECTION_BACK"]

#: What every session is told when the QMP connection drops, and when it is back.
CONNECTION_GONE = "hmpbridge: lost the connection to QEMU's monitor; reconnecting"
CONNECTION_BACK = "hmpbridge: connected to {version} again"


@dataclass(frozen=True)
class ListenerAccess:
    """Who may use one listener, and how much.

    :ivar users: when set, clients log in with a user name and password first.
    :ivar role: the most this listener allows (``read-only`` caps every user).
    """

    users: Optional[PasswordFile] = None
    role: str = OPERATOR


class HMPServerFactory(Factory):
    """Builds a telnet-framed :class:`HMPSession` for each connection.

    :param runner: the runner all sessions share.
    :param listener: the endpoint description, used in logs.
    :param events: where sessions get QMP events from.
    :param events_on: whether sessions start with events shown.
    :param access: who may connect and with what role (everyone, as operator,
        when None).
    :param clock: for the login exchange's delays (the reactor when None).
    :param upstream: the QMP connection; when given, every session is told
        when QEMU goes away and when it is back.
    :param telnet_mode: which clients get the interactive line editor
        (``auto``, ``always`` or ``never``; see :mod:`hmpbridge.session`).
    :param board: who runs what, shared by every listener (for the notice
        to an operator whose command waits behind another's).
    :param history: where sessions' histories come from and go back to.
    :param limits: client limits; ``clients`` counts the connected clients of
        every listener sharing it.
    :param throttle: failed logins across connections, shared by every
        listener (one of this listener's own, with the default limits, when None).
    :param password_checks: where passwords are checked, shared by every
        listener, a few at a time (the reactor's thread pool when None).
    """

    _log = Logger()
    noisy = False

    def __init__(self, runner: CommandRunner, listener: str = "",
                 events: Optional[EventHub] = None, events_on: bool = False,
                 access: Optional[ListenerAccess] = None,
                 clock: Optional[IReactorTime] = None, upstream: Any = None,
                 telnet_mode: str = "never", board: Optional[CommandBoard] = None,
                 history: Optional[HistoryStore] = None, limits: Optional[Limits] = None,
                 clients: Optional[ClientCount] = None,
                 throttle: Optional[LoginThrottle] = None,
                 password_checks: Optional[PasswordChecks] = None) -> None:
        self.password_checks = password_checks
        self.limits = limits or Limits()
        self.clients = clients if clients is not None else ClientCount(self.limits.max_clients)
        self.runner = runner
        self.upstream = upstream
        self.telnet_mode = telnet_mode
        self.board = board if board is not None else CommandBoard()
        self.history = history if history is not None else ConnectionHistory()
        self.sessions: "WeakSet[Any]" = WeakSet()
        if upstream is not None:
            upstream.add_state_observer(self._upstream)
        self.listener = listener
        self.events = events
        self.events_on = events_on
        self.access = access or ListenerAccess()
        if clock is None:
            from twisted.internet import reactor
            clock = reactor
        self.clock: IReactorTime = clock
        self.throttle = throttle if throttle is not None else LoginThrottle(clock)

    def buildProtocol(self, addr: Optional[IAddress]) -> Optional[Any]:
        self._log.debug("HMP session from {peer} on {listener}", peer=addr,
                        listener=self.listener)
        if not self.clients.admit():
            self._log.warn("Refusing {peer} on {listener}: {count} clients connected",
                           peer=addr, listener=self.listener, count=self.clients.active)
            return Refusal()
        users = self.access.users
        if users is None:
            identity = Identity(peer_text(addr), narrowest(self.access.role),
                                listener=self.listener, peer=peer_text(addr))
            return when_lost(self.session(identity), self.clients.release)
        checks = self.password_checks
        authenticate: Authenticate = checks.authenticate if checks is not None else \
            (lambda name, password: deferToThread(users.authenticate, name, password))
        gate = LoginGate(authenticate, self.session, self.listener, self.access.role, self.clock,
                         throttle=self.throttle, audit=self.runner.audit)
        gate.factory = self
        return when_lost(gate, self.clients.release)

    def session(self, identity: Identity) -> Any:
        """The telnet-framed HMP session of one client."""
        state = SessionState(identity=identity)
        transport = HMPTelnetTransport(HMPSession, self.runner, events=self.events,
                                       events_on=self.events_on, state=state,
                                       clock=self.clock, telnet_mode=self.telnet_mode,
                                       executor=self.upstream, board=self.board,
                                       history=self.history, limits=self.limits)
        transport.factory = self
        transport.session_state = state
        self.sessions.add(transport)
        return transport

    def _upstream(self, up: bool) -> None:
        """Tell every session that QEMU went away, or is back."""
        text = CONNECTION_BACK.format(version=self.runner.qemu_name()) if up else CONNECTION_GONE
        for transport in list(self.sessions):
            session = getattr(transport, "protocol", None)
            if session is not None and hasattr(session, "notice"):
                session.notice(text)

    def identified(self, protocol: Any, name: str) -> None:
        """A TLS client proved its certificate's name: it becomes the session's user.

        A password login, where one is asked for, still decides the identity.
        The session takes the user's kept history (see :mod:`hmpbridge.history`).
        """
        state: Optional[SessionState] = getattr(protocol, "session_state", None)
        if state is not None and state.identity is not None and \
                state.identity.method == "peer":
            state.identity = state.identity.certified(name)
            session = getattr(protocol, "protocol", None)
            if session is not None and hasattr(session, "identified"):
                session.identified()
