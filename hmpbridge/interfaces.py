"""The seams between layers, as ``typing.Protocol`` classes.

Orchestration code depends on these, never on concrete classes, so tests can
plug in the fakes from :mod:`hmpbridge.testing`.
"""

from __future__ import annotations

from typing import Any, Callable, FrozenSet, Mapping, Optional, Protocol

from twisted.internet.defer import Deferred


from hmpbridge.model import QMPCommand

__all__ = ["CommandExecutor", "EventSource", "EventCallback"]

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


class EventSource(Protocol):
    """Delivers QMP events to observers."""

    def add_event_observer(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event_dict)`` for every event; returns an unsubscribe function."""
