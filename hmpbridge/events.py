"""Fan QMP events out to the HMP sessions that asked for them.

:class:`EventHub` subscribes once to the multiplexer and keeps the last
:data:`REPLAY_SIZE` events, so an operator who joins late can see what
happened (``.events replay``).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Deque, List, Mapping

from hmpbridge.interfaces import EventSource

__all__ = ["EventHub", "REPLAY_SIZE"]

#: How many recent events are kept for replay.
REPLAY_SIZE = 50

Listener = Callable[[Mapping[str, Any]], None]


class EventHub:
    """One subscription to QEMU's events, shared by every session."""

    def __init__(self, source: EventSource, replay_size: int = REPLAY_SIZE) -> None:
        self.recent: Deque[Mapping[str, Any]] = deque(maxlen=replay_size)
        self._listeners: List[Listener] = []
        source.add_event_observer(self._event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns an unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return unsubscribe

    def _event(self, event: Mapping[str, Any]) -> None:
        self.recent.append(event)
        for listener in list(self._listeners):
            listener(event)
