"""Who runs which command, across every session and listener.

QEMU carries out QMP commands one after the other, so a command sent while
another operator's slow one runs waits for it.  Interactive sessions use the
board to tell their operator so after :data:`WAIT_NOTICE_DELAY` seconds.
"""

from __future__ import annotations

import itertools
from typing import Dict, Optional, Tuple

__all__ = ["CommandBoard", "WAIT_NOTICE_DELAY", "waiting_notice"]

#: Seconds a command may wait behind another operator's before the operator is told.
WAIT_NOTICE_DELAY = 1.0


def waiting_notice(command: str) -> str:
    """What an operator whose command queues behind another operator's is told."""
    return f"(waiting for another operator's command: {command})"


class CommandBoard:
    """Which session runs which command since when, across every listener.

    QEMU carries out QMP commands one after the other, so a command sent
    while another operator's slow one runs waits for it.
    """

    def __init__(self) -> None:
        self._running: Dict[int, Tuple[object, str]] = {}
        self._numbers = itertools.count()

    def start(self, session: object, line: str) -> int:
        """Note that ``session`` started ``line``; returns a ticket for :meth:`finish`."""
        ticket = next(self._numbers)
        words = line.split()
        name = " ".join(words[:2]) if words[:1] == ["info"] else " ".join(words[:1])
        self._running[ticket] = (session, name)
        return ticket

    def finish(self, ticket: int) -> None:
        """The command of ``ticket`` is answered."""
        self._running.pop(ticket, None)

    def ahead_of(self, ticket: int) -> Optional[str]:
        """The oldest other session's command, started earlier and still running."""
        mine = self._running.get(ticket)
        if mine is None:
            return None
        for other, (session, name) in sorted(self._running.items()):
            if other >= ticket:
                return None
            if session is not mine[0]:
                return name
        return None
