"""A fake :class:`~hmpbridge.interfaces.MonitorChannel` and a session on it, for unit tests."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from twisted.internet.task import Clock

from hmpbridge.interfaces import OutputMeter
from hmpbridge.model import SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.session import HMPMonitor, SessionConfig
from hmpbridge.testing import FakeExecutor


class FakeChannel:
    """Records what the session writes and asks of its framing."""

    kind = "plain"

    def __init__(self) -> None:
        self.writes: List[bytes] = []
        self.paused = False
        self.pauses = 0
        self.closed = False
        self.meter: Optional[OutputMeter] = None

    @property
    def value(self) -> bytes:
        return b"".join(self.writes)

    def clear(self) -> None:
        self.writes.clear()

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after loseConnection"
        self.writes.append(data)

    def loseConnection(self) -> None:
        self.closed = True

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False

    def count_output(self, meter: OutputMeter) -> None:
        self.meter = meter

    def peer_text(self) -> str:
        return "127.0.0.1:40000"


def settle(clock: Clock) -> None:
    """Run every turn the session left for later (a long burst is read over several)."""
    while clock.getDelayedCalls():
        clock.advance(0)


def open_monitor(executor: Optional[FakeExecutor] = None, clock: Optional[Clock] = None,
                 state: Optional[SessionState] = None, **config: Any,
                 ) -> Tuple[HMPMonitor, FakeChannel, FakeExecutor]:
    """A started session on a fake channel (the banner is still in ``channel.writes``)."""
    executor = executor if executor is not None else FakeExecutor()
    clock = clock if clock is not None else Clock()
    runner = CommandRunner(executor, clock=clock)
    session = HMPMonitor(SessionConfig(runner=runner, clock=clock, executor=executor, **config),
                         state)
    channel = FakeChannel()
    session.started(channel)
    return session, channel, executor
