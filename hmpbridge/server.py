"""The listening side: a factory that gives every connection an HMP session.

Each connection is a :class:`~hmpbridge.channel.ChardevChannel` of the
listener's kind (``telnet`` or ``plain``, as QEMU's monitor chardevs), which
carries a :class:`~hmpbridge.login.LoginGate` first when the listener asks for
passwords, then the HMP session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from weakref import WeakKeyDictionary, WeakSet

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from hmpbridge.access import OPERATOR, narrowest, peer_text
from hmpbridge.channel import ChardevChannel
from hmpbridge.chardev import KINDS, TELNET
from hmpbridge.events import EventHub
from hmpbridge.limits import ClientCount, Limits, Refusal, when_lost
from hmpbridge.interfaces import LineService, MonitorSession, connected
from hmpbridge.login import Authenticate, LoginGate, throttle_key
from hmpbridge.password_checks import PasswordChecks
from hmpbridge.model import Identity, SessionState
from hmpbridge.passwords import PasswordFile
from hmpbridge.switchboard import VMDirectory
from hmpbridge.board import CommandBoard
from hmpbridge.history import ConnectionHistory, HistoryStore
from hmpbridge.peercred import identify
from hmpbridge.session import HMPMonitor, SessionConfig, monitor_for
from hmpbridge.throttle import LoginThrottle

__all__ = ["HMPServerFactory", "ListenerAccess", "CONNECTION_GONE", "CONNECTION_BACK"]

#: What the sessions that asked for events are told when the QMP connection
#: drops, and when it is back (the others learn it from their next command's answer).
CONNECTION_GONE = "hmpbridge: lost the connection to QEMU's monitor; reconnecting"
CONNECTION_BACK = "hmpbridge: connected to {version} again"


@dataclass(frozen=True)
class ListenerAccess:
    """Who may use one listener, and how much.

    :ivar users: when set, clients log in with a user name and password first.
    :ivar role: the most this listener allows (``read-only`` caps every user).
    :ivar vm: the VM this listener serves, when hmpbridge serves several
        (``--listen-each``): users the password file limits to other VMs
        cannot log in, and the audit names it.
    """

    users: Optional[PasswordFile] = None
    role: str = OPERATOR
    vm: str = ""


class HMPServerFactory(Factory):
    """Builds the channel, login gate and HMP session of each connection.

    :param runner: the runner all sessions share.
    :param listener: the endpoint description, used in logs.
    :param events: where sessions get QMP events from.
    :param events_on: whether sessions start with events shown.
    :param access: who may connect and with what role (everyone, as operator,
        when None).
    :param clock: for the login exchange's delays and the channels' turns
        (the reactor when None).
    :param upstream: the QMP connection; when given, the sessions that show
        events are told when QEMU goes away and when it is back.
    :param chardev: which of QEMU's monitor chardevs each connection is:
        ``telnet`` or ``plain`` (see :mod:`hmpbridge.chardev`).
    :param board: who runs what, shared by every listener (for the notice
        to an operator whose command waits behind another's).
    :param history: where sessions' histories come from and go back to.
    :param limits: client limits; ``clients`` counts the connected clients of
        every listener sharing it.
    :param throttle: failed logins across connections, shared by every
        listener (one of this listener's own, with the default limits, when None).
    :param password_checks: where passwords are checked, shared by every
        listener, a few at a time (the reactor's thread pool when None).
    :param vm_directory: the VMs served, on a listener shared by several:
        each session chooses one (``runner`` answers before it does).
    """

    _log = Logger()
    noisy = False

    def __init__(self, runner: LineService, listener: str = "",
                 events: Optional[EventHub] = None, events_on: bool = False,
                 access: Optional[ListenerAccess] = None,
                 clock: Optional[IReactorTime] = None, upstream: Any = None,
                 chardev: str = TELNET, board: Optional[CommandBoard] = None,
                 history: Optional[HistoryStore] = None, limits: Optional[Limits] = None,
                 clients: Optional[ClientCount] = None,
                 throttle: Optional[LoginThrottle] = None,
                 password_checks: Optional[PasswordChecks] = None,
                 vm_directory: Optional[VMDirectory] = None) -> None:
        if chardev not in KINDS:
            raise ValueError(f"unknown chardev kind {chardev!r} (one of {', '.join(KINDS)})")
        self.chardev = chardev
        self.password_checks = password_checks
        self.limits = limits or Limits()
        self.clients = clients if clients is not None else ClientCount(self.limits.max_clients)
        self.runner = runner
        self.upstream = upstream
        self.board = board if board is not None else CommandBoard()
        self.history = history if history is not None else ConnectionHistory()
        self.sessions: "WeakSet[HMPMonitor]" = WeakSet()
        self._states: "WeakKeyDictionary[ChardevChannel, SessionState]" = WeakKeyDictionary()
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
        self.config = SessionConfig(runner, clock, executor=upstream, events=events,
                                    events_on=events_on, board=self.board, history=self.history,
                                    limits=self.limits, vm_directory=vm_directory)

    def buildProtocol(self, addr: Optional[IAddress]) -> Optional[Any]:
        self._log.debug("HMP session from {peer} on {listener}", peer=addr,
                        listener=self.listener)
        if not self.clients.admit():
            self._log.warn("Refusing {peer} on {listener}: {count} clients connected",
                           peer=addr, listener=self.listener, count=self.clients.active)
            return Refusal()
        channel = ChardevChannel(self.chardev, self._start, self.clock)
        channel.factory = self
        return when_lost(channel, self.clients.release)

    def _start(self, channel: ChardevChannel) -> MonitorSession:
        """The first session a connection carries: the login, or the HMP session."""
        users = self.access.users
        peer = peer_text(connected(channel).getPeer())
        if users is None:
            identity = Identity(peer, narrowest(self.access.role), listener=self.listener,
                                peer=peer, vm=self.access.vm)
            # a unix-socket client is named after the user it runs as (SO_PEERCRED)
            return self.session(identify(identity, connected(channel)), channel)
        checks = self.password_checks
        authenticate: Authenticate = checks.authenticate if checks is not None else \
            (lambda name, password: deferToThread(users.authenticate, name, password))
        return LoginGate(authenticate, lambda identity: self.session(identity, channel),
                         self.listener, self.access.role, self.clock, throttle=self.throttle,
                         audit=self.runner.audit, peer_key=throttle_key(connected(channel)),
                         vm=self.access.vm)

    def session(self, identity: Identity, channel: ChardevChannel) -> MonitorSession:
        """The HMP session of one client, on its channel."""
        state = SessionState(identity=identity)
        monitor = monitor_for(self.config, state, connected(channel), peer=identity.peer)
        self._states[channel] = state
        self.sessions.add(monitor)
        return monitor

    def state_of(self, channel: ChardevChannel) -> Optional[SessionState]:
        """The state of the HMP session ``channel`` carries (None before it began)."""
        return self._states.get(channel)

    def _upstream(self, up: bool) -> None:
        """Tell the sessions that show events that QEMU went away, or is back (the
        others are told nothing: :meth:`HMPMonitor.notice` decides)."""
        text = CONNECTION_BACK.format(version=self.runner.qemu_name()) if up else CONNECTION_GONE
        for session in list(self.sessions):
            session.notice(text)

    def identified(self, protocol: Any, name: str) -> None:
        """A TLS client proved its certificate's name: it becomes the session's user.

        A password login, where one is asked for, still decides the identity.
        The session takes the user's kept history (see :mod:`hmpbridge.history`).
        """
        if not isinstance(protocol, ChardevChannel):
            return
        state = self._states.get(protocol)
        if state is not None and state.identity is not None and \
                state.identity.method == "peer":
            state.identity = state.identity.certified(name)
            protocol.identified()
