"""The seams between layers, as ``typing.Protocol`` classes.

Orchestration code depends on these, never on concrete classes, so tests can
plug in the fakes from :mod:`hmpbridge.testing`.
"""

from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Callable, FrozenSet, Mapping, Optional, Protocol,
                    Sequence, cast)

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import BaseProtocol

from hmpbridge.model import Identity, QMPCommand, SessionState

if TYPE_CHECKING:
    from hmpbridge.profile import QemuProfile

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorCore, IReactorProcess, IReactorTime

    class IReactor(IReactorCore, IReactorTime, IReactorProcess):
        """The reactor as the command-line programs use it: run, keep time, spawn QEMU.

        Every Twisted reactor provides these; like Twisted's own
        ``twisted.internet._IReactorCommon``, this exists for type checking only
        (import it under ``TYPE_CHECKING``).
        """

__all__ = ["CommandExecutor", "EventSource", "EventCallback", "StreamTransport", "connected",
           "MonitorChannel", "MonitorSession", "OutputMeter", "LineService"]

EventCallback = Callable[[Mapping[str, Any]], None]


class CommandExecutor(Protocol):
    """Runs QMP commands; one shared instance serves every session."""

    def execute(self, command: QMPCommand) -> "Deferred[Any]":
        """Send ``command``; fire with its ``return`` value.

        Fails with :class:`~hmpbridge.errors.QMPCommandError` for an error
        reply, :class:`~hmpbridge.errors.QMPDisconnected` when the connection
        drops with the command in flight, :class:`~hmpbridge.errors.QMPNotConnected`
        when no connection is ready, :class:`~hmpbridge.errors.CommandTimeout`.
        """

    @property
    def greeting(self) -> Optional[Mapping[str, Any]]:
        """The ``QMP`` member of the current connection's greeting, if connected."""

    @property
    def schema_commands(self) -> Optional[FrozenSet[str]]:
        """QMP command names this QEMU offers (from ``query-qmp-schema``), if known."""

    @property
    def chardevs_at_connect(self) -> Optional[FrozenSet[str]]:
        """The chardev labels ``query-chardev`` gave when the connection came up, if known."""

    @property
    def profile(self) -> "QemuProfile":
        """The QEMU served (see :mod:`hmpbridge.profile`): the current connection's,
        else the last one's, else QEMU 7.2's with no schema."""


class LineService(Protocol):
    """What an HMP session's lines go to: a :class:`~hmpbridge.runner.CommandRunner`
    (one QEMU), or a :class:`~hmpbridge.switchboard.NoVM` while a session of a
    shared listener has no VM."""

    @property
    def passthrough(self) -> bool:
        """Whether ``human-monitor-command`` may carry what QMP cannot express."""

    def banner(self) -> str:
        """The banner a new session is greeted with."""

    def qemu_name(self) -> str:
        """``QEMU 7.2.22``: the QEMU lines go to ("" when none)."""

    def run(self, line: str, state: SessionState) -> "Deferred[str]":
        """Run ``line``; fire with the text to print."""

    def audit(self, identity: Optional[Identity], received: Mapping[str, Any], outcome: str,
              sent: Sequence[Mapping[str, Any]] = (), latency: float = 0.0) -> None:
        """Write one audit record (for what :meth:`run` does not see)."""


class EventSource(Protocol):
    """Delivers QMP events to observers."""

    def add_event_observer(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event_dict)`` for every event; returns an unsubscribe function."""


class StreamTransport(Protocol):
    """A stream connection (TCP, unix socket, TLS) as Twisted hands it to a protocol.

    Twisted types ``Protocol.transport`` as ``Optional[ITransport]``; the
    transports it connects stream protocols to can also abort the connection
    (``ITCPTransport``) and stop reading from it (``IPushProducer``).
    """

    def write(self, data: bytes) -> None:
        """Send ``data``."""

    def loseConnection(self) -> None:
        """Close once everything written is sent."""

    def abortConnection(self) -> None:
        """Close at once, dropping what is not sent yet."""

    def getPeer(self) -> IAddress:
        """The other end's address."""

    def pauseProducing(self) -> None:
        """Stop reading from the peer."""

    def resumeProducing(self) -> None:
        """Read from the peer again."""

    def stopProducing(self) -> None:
        """Stop reading for good."""


#: Told the size of every write to a client (a session's write guard).
OutputMeter = Callable[[int], None]


class MonitorChannel(Protocol):
    """The framing under one HMP monitor session: one of QEMU's chardev kinds.

    ``telnet`` is what ``-monitor telnet:...,server=on`` is: at connect it
    sends QEMU's option negotiation, and it takes telnet commands out of what
    the client sends, the way QEMU's socket chardev does (it answers none).
    ``plain`` is ``-monitor tcp:``/``-monitor unix:``: bytes both ways as they
    are.  Neither changes what the session writes: the session (like QEMU's
    monitor) writes ``\r\n`` line ends itself.
    """

    kind: str

    def write(self, data: bytes) -> None:
        """Send ``data`` to the client as it is."""

    def loseConnection(self) -> None:
        """Close once everything written is sent."""

    def pauseProducing(self) -> None:
        """Stop reading from the client (the session has enough queued)."""

    def resumeProducing(self) -> None:
        """Read from the client again."""

    def count_output(self, meter: OutputMeter) -> None:
        """Report the size of every write to ``meter`` (the framing's own bytes included)."""

    def peer_text(self) -> str:
        """The client, as logs and the audit name it (``127.0.0.1:40000``, ``pid=..,uid=..``)."""


class MonitorSession(Protocol):
    """What a :class:`MonitorChannel` delivers to: one HMP monitor session.

    The channel calls ``started`` once, after its own connect bytes; then
    ``received`` with the client's bytes, telnet commands already taken out
    (split anywhere: one key, half a line, many lines); ``input_ended`` when
    the client half-closed (answer what it sent, then close); ``ended`` once
    when the connection is gone; ``descriptor`` for each file descriptor the
    client passed over a unix socket (``getfd``).
    """

    def started(self, channel: MonitorChannel) -> None:
        """The connection is up: write the banner and the first prompt."""

    def received(self, data: bytes) -> None:
        """Bytes the client typed or sent."""

    def input_ended(self) -> None:
        """The client will send nothing more."""

    def ended(self) -> None:
        """The connection is closed; nothing may be written any more."""

    def descriptor(self, fd: int) -> None:
        """A file descriptor the client passed (the session owns it from now on)."""

    def identified(self) -> None:
        """The client's user became known after the session began (a TLS certificate)."""


def connected(protocol: BaseProtocol) -> StreamTransport:
    """The transport of ``protocol``, which must be connected.

    Twisted sets it before ``connectionMade`` and leaves it in place after
    the connection is lost, so every method that runs once a connection was
    made may use it.
    """
    transport = protocol.transport
    assert transport is not None, f"{type(protocol).__name__} was never connected"
    return cast(StreamTransport, transport)
