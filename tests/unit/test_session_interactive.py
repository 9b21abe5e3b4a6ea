"""The interactive side of every session: completion, history, events, and nothing unsolicited."""

from __future__ import annotations

from typing import Any, Callable, List

from hypothesis import given
from hypothesis import strategies as st

from twisted.internet.task import Clock

from hmpbridge.board import CommandBoard, waiting_notice
from hmpbridge.events import EventHub
from hmpbridge.testing import FakeExecutor
from tests.unit.monitor_fakes import open_monitor

BLOCK = {"query-block": lambda args: [{"device": "cd0"}, {"device": "disk0"}],
         "query-named-block-nodes": lambda args: [],
         "query-name": lambda args: {}}
STOP = {"event": "STOP", "timestamp": {"seconds": 0, "microseconds": 0}}


class Source:
    """An event source the hub subscribes to."""

    def __init__(self) -> None:
        self.observers: List[Callable[[Any], None]] = []

    def add_event_observer(self, callback: Any) -> Any:
        self.observers.append(callback)
        return lambda: None

    def emit(self, event: Any) -> None:
        for observer in self.observers:
            observer(event)


def opened(**kw: Any):  # type: ignore[no-untyped-def]
    kw.setdefault("executor", FakeExecutor(BLOCK))
    session, channel, executor = open_monitor(**kw)
    channel.clear()
    return session, channel, executor


def test_tab_completes_from_the_first_key() -> None:
    """The very first keys of a session may be a Tab: QEMU's readline runs from the start."""
    session, channel, _ = opened()
    session.received(b"info ver\t")
    assert channel.value.endswith(b"info version \x1b[K")


def test_tab_lists_block_devices_from_qemu() -> None:
    """eject <Tab> asks query-block and prints the candidates, then prompt and line again."""
    session, channel, executor = opened()
    session.received(b"eject \t")
    assert channel.value.endswith(b"\r\ncd0       disk0     \r\n(qemu) eject \x1b[K")
    channel.clear()
    session.received(b"c\t")
    assert channel.value == (b"\x1b[D" * 6 + b"eject c\x1b[K" + b"\x1b[D" * 7
                             + b"eject cd0 \x1b[K")


def test_keys_after_a_tab_wait_for_its_candidates() -> None:
    """While completion asks QEMU, later keys wait; they follow the completed word."""
    executor = FakeExecutor(BLOCK, manual=True)
    session, channel, _ = opened(executor=executor)
    session.received(b"eject c\tx")
    before = channel.value
    assert not before.endswith(b"x\x1b[K")
    executor.fire_all()
    assert channel.value.endswith(b"eject cd0 x\x1b[K")


def test_up_and_down_walk_this_sessions_history_only() -> None:
    """Up recalls this session's lines; another session's lines never appear."""
    executor = FakeExecutor(BLOCK)
    one, first, _ = opened(executor=executor)
    two, second, _ = opened(executor=executor)
    one.received(b"info name\r")
    first.clear()
    one.received(b"\x1b[A")
    assert first.value == b"info name\x1b[K"
    two.received(b"\x1b[A")
    assert second.value == b""


# -- nothing unsolicited ---------------------------------------------------------------------


def test_notices_reach_only_sessions_that_asked_for_events() -> None:
    """QEMU gone or back: a session without events is told nothing; one with events is."""
    hub = EventHub(Source())
    quiet, quiet_channel, _ = opened(events=hub)
    told, told_channel, _ = opened(events=hub, events_on=True)
    told.received(b"info st")
    told_channel.clear()
    for session in (quiet, told):
        session.notice("hmpbridge: lost the connection to QEMU's monitor; reconnecting")
    assert quiet_channel.writes == []
    assert told_channel.value == (b"\r\x1b[Khmpbridge: lost the connection to QEMU's monitor; "
                                  b"reconnecting\r\n(qemu) info st\x1b[K")


def test_events_reach_only_sessions_that_asked() -> None:
    """An event is printed above the half-typed line of a session with events on, only."""
    source = Source()
    hub = EventHub(source)
    quiet, quiet_channel, _ = opened(events=hub)
    told, told_channel, _ = opened(events=hub)
    told.received(b".events on\r")
    told.received(b"info st")
    told_channel.clear()
    source.emit(STOP)
    out = told_channel.value
    assert out.startswith(b"\r\x1b[K") and b"STOP" in out
    assert out.endswith(b"\r\n(qemu) info st\x1b[K")
    assert quiet_channel.writes == []


def test_a_notice_while_a_command_runs_comes_before_its_answer() -> None:
    """For a session with events on, a notice during a command lands before the answer."""
    executor = FakeExecutor(BLOCK, manual=True)
    session, channel, _ = opened(executor=executor, events=EventHub(Source()), events_on=True)
    session.received(b"info name\r")
    channel.clear()
    session.notice("note")
    executor.fire()
    assert channel.value == b"note\r\n(qemu) "


def test_waiting_notice_only_for_sessions_with_events() -> None:
    """A command queued behind another operator's is told so after a second, if it asked."""
    clock, board = Clock(), CommandBoard()
    executor = FakeExecutor(BLOCK, manual=True)
    hub = EventHub(Source())
    first, first_channel, _ = opened(executor=executor, clock=clock, board=board)
    second, second_channel, _ = opened(executor=executor, clock=clock, board=board,
                                       events=hub, events_on=True)
    script, script_channel, _ = opened(executor=executor, clock=clock, board=board)
    first.received(b"info block\r")
    second.received(b"info name\r")
    script.received(b"info name\r")
    clock.advance(0.9)
    assert b"waiting" not in second_channel.value
    clock.advance(0.2)
    assert second_channel.value.endswith(waiting_notice("info block").encode() + b"\r\n")
    assert b"waiting" not in first_channel.value and b"waiting" not in script_channel.value
    executor.fire_all()
    assert second_channel.value.endswith(b"(qemu) ")


def test_board_names_the_oldest_other_command() -> None:
    """The board names only another session's command that started earlier."""
    board = CommandBoard()
    a, b = object(), object()
    first = board.start(a, "migrate -d tcp:x")
    second = board.start(b, "info block -v")
    assert board.ahead_of(second) == "migrate" and board.ahead_of(first) is None
    board.finish(first)
    assert board.ahead_of(second) is None


# -- nothing unsolicited, whatever happens when ------------------------------------------------

ACTIONS = st.one_of(
    st.tuples(st.just("keys"), st.sampled_from(
        [b"info name\r", b"info block\r", b"\r", b"frob", b"\x1b[A", b"eject c\t", b"\r\n",
         b"info st"])),
    st.tuples(st.just("notice"), st.sampled_from(["hmpbridge: lost the connection",
                                                  "hmpbridge: connected to QEMU again"])),
    st.tuples(st.just("event"), st.just(b"")),
    st.tuples(st.just("fire"), st.just(b"")),
    st.tuples(st.just("tick"), st.just(b"")),
)


def play(actions: List[Any], with_noise: bool) -> bytes:
    """What a session without events writes for ``actions``; the noise (notices, events,
    another operator's slow command and the clock) only happens ``with_noise``."""
    clock, board, source = Clock(), CommandBoard(), Source()
    executor = FakeExecutor(BLOCK, manual=True)
    hub = EventHub(source)
    session, channel, _ = opened(executor=executor, clock=clock, board=board, events=hub)
    other, _, _ = opened(executor=executor, clock=clock, board=board, events=hub,
                         events_on=True)
    if with_noise:
        other.received(b"info block\r")
    for kind, value in actions:
        if kind == "keys":
            session.received(value)
        elif kind == "fire":
            mine = [i for i, p in enumerate(executor.pending)
                    if not with_noise or i > 0 or len(executor.pending) > 1]
            if mine:
                executor.fire(mine[-1])
        elif with_noise and kind == "notice":
            session.notice(value)
            other.notice(value)
        elif with_noise and kind == "event":
            source.emit(STOP)
        elif with_noise and kind == "tick":
            clock.advance(1.5)
    while len(executor.pending) > (1 if with_noise else 0):
        executor.fire(len(executor.pending) - 1)
    return channel.value


@given(st.lists(ACTIONS, max_size=25))
def test_a_session_without_events_gets_nothing_it_did_not_ask_for(actions: List[Any]) -> None:
    """Notices, events and another operator's slow command change nothing in what a
    session that did not ask for events receives: the banner, prompts, its echo and answers."""
    assert play(actions, with_noise=True) == play(actions, with_noise=False)
