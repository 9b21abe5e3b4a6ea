"""The HMP monitor session on a channel: banner, line ends, order, prompts, closing, flow.

Every session runs QEMU's line editor from the first byte (keys echo with
their redraw sequences, tests/unit/test_line_editor.py checks them against
QEMU); these tests look at what the session does around it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import pytest
from twisted.internet.task import Clock

from hmpbridge.handlers.fds import NO_FD
from hmpbridge.line_editor import MAX_LINE, LineEditor
from hmpbridge.model import Identity, QMPCommand, SessionState
from hmpbridge.session import TURN_ECHO, TURN_KEYS, TURN_LINES, puts
from hmpbridge.testing import FakeExecutor
from tests.unit.monitor_fakes import open_monitor, settle

BANNER = b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
PAUSED = b"VM status: paused\r\n(qemu) "
STATUS = QMPCommand("query-status")


def echo(text: bytes) -> bytes:
    """What QEMU's readline writes while ``text`` is typed at an empty prompt."""
    out = b""
    for n in range(1, len(text) + 1):
        out += b"\x1b[D" * (n - 1) + text[:n] + b"\x1b[K"
    return out


class VM:
    """Handlers for a VM whose run state stop and cont change."""

    def __init__(self, running: bool = False) -> None:
        self.running = running

    def handlers(self) -> Dict[str, Any]:
        return {
            "query-status": lambda args: {"status": "running" if self.running else "paused",
                                          "running": self.running, "singlestep": False},
            "stop": lambda args: self._set(False),
            "cont": lambda args: self._set(True),
            "quit": lambda args: {},
            "getfd": lambda args: {},
        }

    def _set(self, running: bool) -> Dict[str, Any]:
        self.running = running
        return {}


def opened(executor: Optional[FakeExecutor] = None, **kw: Any):  # type: ignore[no-untyped-def]
    session, channel, executor = open_monitor(
        executor if executor is not None else FakeExecutor(VM().handlers()), **kw)
    assert channel.writes == [BANNER]
    channel.clear()
    return session, channel, executor


# -- banner and prompt -----------------------------------------------------------------


def test_banner_and_prompt_in_one_write() -> None:
    """A new session gets QEMU's banner for the connected version and the prompt, at once."""
    session, channel, _ = open_monitor(FakeExecutor(version=(7, 2, 22)))
    assert channel.writes == [BANNER]


def test_banner_without_a_greeting_says_unknown() -> None:
    """Before QEMU ever greeted, the banner names an unknown version."""
    session, channel, _ = open_monitor(FakeExecutor(version=None))
    assert channel.value == b"QEMU unknown monitor - type 'help' for more information\r\n(qemu) "


def test_answer_and_prompt_in_one_write_after_the_echo() -> None:
    """The command goes to QEMU, then the echo of the line leaves; then the answer and
    the next prompt in one write."""
    session, channel, executor = opened(FakeExecutor(VM().handlers(), manual=True))
    session.received(b"info status\r")
    assert executor.commands == [STATUS]
    assert channel.writes == [echo(b"info status") + b"\r\n"]
    executor.fire_all()
    assert channel.writes == [echo(b"info status") + b"\r\n", PAUSED]


def test_an_answer_there_at_once_leaves_with_the_echo() -> None:
    """A line answered before its echo left (an error, a bridge command): one write."""
    session, channel, _ = opened()
    session.received(b"info status\r")
    assert channel.writes == [echo(b"info status") + b"\r\n" + PAUSED]


def test_text_line_ends_are_written_as_qemu_monitor_puts() -> None:
    """Every \\n of an answer goes out as \\r\\n, as QEMU's monitor writes it on any chardev."""
    assert puts("a\nb\n") == b"a\r\nb\r\n"


def test_command_with_no_output_gets_just_a_prompt() -> None:
    """stop prints nothing: only the prompt follows the echo."""
    session, channel, _ = opened()
    session.received(b"stop\r")
    assert channel.value == echo(b"stop") + b"\r\n(qemu) "


@pytest.mark.parametrize("ending,prompts", [(b"\r", 1), (b"\n", 1), (b"\r\0", 1), (b"\r\n", 2),
                                            (b"\n\r", 2)])
def test_cr_and_lf_each_end_a_line(ending: bytes, prompts: int) -> None:
    """\\r and \\n each end a line, as QEMU's readline: CR LF is a line and an empty line."""
    session, channel, executor = opened()
    session.received(b"info status" + ending)
    assert channel.value == echo(b"info status") + b"\r\n" + PAUSED + b"\r\n(qemu) " * (prompts - 1)
    assert executor.commands == [STATUS]


def test_pipelined_lines_answered_in_order_each_with_a_prompt() -> None:
    """Lines sent together run one after the other, in order."""
    session, channel, executor = opened()
    session.received(b"stop\rcont\rinfo status\r")
    assert [c.execute for c in executor.commands] == ["stop", "cont", "query-status"]
    assert channel.value.endswith(b"VM status: running\r\n(qemu) ")
    assert channel.value.count(b"(qemu) ") == 3


def test_keys_typed_while_a_command_runs_wait_for_its_answer() -> None:
    """As QEMU's monitor, keys after Enter are read (and echoed) once the answer is written."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor)
    session.received(b"info status\rab")
    assert channel.value == echo(b"info status") + b"\r\n"
    channel.clear()
    executor.fire()
    assert channel.value == PAUSED + echo(b"ab")


def test_one_line_in_flight_at_a_time() -> None:
    """The second line is sent to QEMU only after the first is answered."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor)
    session.received(b"info status\rinfo status\r")
    assert len(executor.pending) == 1
    executor.fire()
    assert len(executor.pending) == 1
    executor.fire()
    assert channel.value.count(PAUSED) == 2


def test_slow_answer_in_one_session_does_not_delay_another() -> None:
    """Sessions share the runner, not a queue."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    slow, slow_channel, _ = opened(executor)
    fast, fast_channel, _ = opened(executor)
    slow.received(b"info status\r")
    fast.received(b"info status\r")
    executor.fire(1)
    assert fast_channel.value.endswith(PAUSED)
    assert not slow_channel.value.endswith(PAUSED)


def test_sessions_keep_their_own_history() -> None:
    """Each session's history holds its own lines, blank ones too, as QEMU's readline."""
    executor = FakeExecutor(VM().handlers())
    one, _, _ = opened(executor)
    two, _, _ = opened(executor)
    one.received(b"info status\r  \r\r")
    two.received(b"stop\r")
    assert one.state.history == ["info status", "  "]
    assert two.state.history == ["stop"]


def test_over_long_line_is_cut_at_4095_bytes() -> None:
    """QEMU's readline keeps 4095 bytes of a line; the rest is dropped, not echoed."""
    clock = Clock()
    session, channel, executor = opened(clock=clock)
    session.received(b"x" * (MAX_LINE + 50) + b"\r")
    settle(clock)
    assert ("unknown command: '" + "x" * MAX_LINE + "'").encode() in channel.value


def test_non_utf8_bytes_do_not_break_the_session() -> None:
    """Bytes that are not UTF-8 are echoed and answered as QEMU would, raw."""
    session, channel, _ = opened()
    session.received(b"frob\xff\r")
    assert channel.value.endswith(b"unknown command: 'frob\xff'\r\n(qemu) ")


def test_a_burst_of_lines_answered_at_once_yields_to_other_clients() -> None:
    """After TURN_LINES lines in one go, the rest waits for the next turn of the reactor."""
    clock = Clock()
    session, channel, _ = opened(clock=clock)
    session.received(b"\r" * (TURN_LINES + 10))
    assert channel.value.count(b"(qemu) ") == TURN_LINES
    clock.advance(0)
    assert channel.value.count(b"(qemu) ") == TURN_LINES + 10


# -- closing ------------------------------------------------------------------------------


def test_quit_closes_the_session_without_output() -> None:
    """quit sends QMP quit, prints nothing after its echo and closes; later lines do not run."""
    session, channel, executor = opened()
    session.received(b"quit\rinfo status\r")
    assert executor.commands == [QMPCommand("quit")]
    assert channel.value == echo(b"quit") + b"\r\n"
    assert channel.closed


def test_disconnect_with_a_line_in_flight_drops_the_late_answer() -> None:
    """A client that leaves with a command pending: nothing written, the rest not run."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor)
    session.received(b"info status\rstop\r")
    channel.clear()
    session.ended()
    executor.fire()
    assert channel.writes == []
    assert [c.execute for c in executor.commands] == ["query-status"]


def test_lines_never_run_are_audited_as_dropped() -> None:
    """The audit log names each line a client sent and left before it ran."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor)
    audited: List[Any] = []
    runner: Any = session._config.runner
    runner.audit = lambda who, received, outcome, **kw: audited.append((received, outcome))
    session.received(b"info status\rstop\rcont\r")
    session.ended()
    assert audited == [({"hmp": "stop"}, "dropped"), ({"hmp": "cont"}, "dropped")]


def test_input_ended_answers_everything_then_closes() -> None:
    """After the client stops sending, every line it sent is answered, then the session closes."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor)
    session.received(b"info status\rfrob\rinfo status\r")
    session.input_ended()
    assert not channel.closed
    executor.fire()
    assert not channel.closed
    executor.fire()
    assert channel.value.count(b"(qemu) ") == 3
    assert channel.closed


def test_input_ended_leaves_an_unterminated_line_unrun() -> None:
    """A last line without a line end never reaches Enter: QEMU does not run it either."""
    session, channel, executor = opened()
    session.received(b"info status")
    session.input_ended()
    assert executor.commands == []
    assert channel.closed


def test_input_ended_with_nothing_pending_closes_at_once() -> None:
    """A client that half-closes an idle session is disconnected right away."""
    session, channel, _ = opened()
    session.input_ended()
    assert channel.closed and channel.writes == []


# -- flow control -------------------------------------------------------------------------


def test_reading_pauses_with_too_much_unread_and_resumes() -> None:
    """Past max_pending_keys unread bytes the session stops reading, and resumes below half."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    session, channel, _ = opened(executor, max_pending_keys=1000)
    line = b"info status\r"
    session.received(line * 100)
    assert channel.paused
    answered = 0
    while channel.paused:
        executor.fire()
        answered += 1
    assert (100 - 1 - answered) * len(line) <= 500
    executor.fire_all()
    assert channel.value.count(PAUSED) == 100
    assert channel.pauses == 1


# -- history store ------------------------------------------------------------------------


class Store:
    def __init__(self, kept: Optional[Dict[Optional[str], List[str]]] = None) -> None:
        self.kept = kept or {}
        self.saves: List[Any] = []

    def load(self, who: Optional[str]) -> List[str]:
        return list(self.kept.get(who, []))

    def save(self, who: Optional[str], history: List[str]) -> None:
        self.saves.append((who, list(history)))
        self.kept[who] = list(history)


def test_a_users_history_is_loaded_and_saved_after_each_line() -> None:
    """A logged-in user starts with the kept history; each line saves it at once."""
    store = Store({"alice": ["info name"]})
    state = SessionState(identity=Identity("alice", method="password"))
    session, channel, _ = opened(state=state, history=store)
    session.received(b"\x1b[A")
    assert channel.value == b"info name\x1b[K"
    session.received(b"\rstop\r")
    assert store.saves[-1] == ("alice", ["info name", "stop"])


# -- file descriptors ---------------------------------------------------------------------


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_getfd_passes_the_received_descriptor_to_qemu() -> None:
    """getfd hands the descriptor the client passed to QMP getfd, which then owns it."""
    session, channel, executor = opened()
    read_end, write_end = os.pipe()
    os.close(read_end)
    session.descriptor(write_end)
    assert session.state.received_fd == write_end
    session.received(b"getfd myfd\r")
    assert channel.value.endswith(b"\r\n(qemu) ")
    assert executor.commands == [QMPCommand("getfd", {"fdname": "myfd"})]
    assert executor.commands[0].fds == (write_end,)
    assert session.state.received_fd is None
    assert not is_open(write_end)


def test_getfd_without_a_descriptor_says_so() -> None:
    """getfd with nothing received prints QEMU's error and sends nothing."""
    session, channel, executor = opened()
    session.received(b"getfd myfd\r")
    assert channel.value.endswith(puts(NO_FD) + b"(qemu) ")
    assert executor.commands == []


def test_newer_descriptor_replaces_and_closes_the_older_one() -> None:
    """Only the latest descriptor is kept; the session closes its own when it ends."""
    session, _, _ = opened()
    first_r, first_w = os.pipe()
    second_r, second_w = os.pipe()
    os.close(first_r)
    os.close(second_r)
    session.descriptor(first_w)
    session.descriptor(second_w)
    assert not is_open(first_w)
    assert session.state.received_fd == second_w
    session.ended()
    assert not is_open(second_w)


# -- output flow ----------------------------------------------------------------------------


class Guard:
    """What the session uses of a write guard."""

    def __init__(self) -> None:
        self.paused = False
        self.counted = 0
        self.resumed: Any = lambda: None

    def wrote(self, size: int) -> None:
        self.counted += size


def test_no_line_runs_while_the_client_reads_none_of_its_output() -> None:
    """With the write guard paused, typed lines wait; they run once the client reads again."""
    guard = Guard()
    executor = FakeExecutor(VM().handlers())
    clock = Clock()
    from hmpbridge.runner import CommandRunner
    from hmpbridge.session import HMPMonitor, SessionConfig
    from tests.unit.monitor_fakes import FakeChannel
    session = HMPMonitor(SessionConfig(runner=CommandRunner(executor, clock=clock), clock=clock,
                                       executor=executor), output=guard)  # type: ignore[arg-type]
    channel = FakeChannel()
    session.started(channel)
    assert channel.meter is not None
    channel.meter(5)
    assert guard.counted == 5
    guard.paused = True
    session.received(b"info status\r")
    assert executor.commands == []
    guard.paused = False
    guard.resumed()
    assert executor.commands == [STATUS]


def test_a_long_line_typed_at_once_is_echoed_over_several_turns() -> None:
    """A 4095-byte line echoes 33 MB, as QEMU's; the session leaves the rest of the keys
    for later turns once TURN_ECHO bytes were echoed, and the bytes are the same."""
    clock = Clock()
    session, channel, _ = opened(clock=clock)
    session.received(b"x" * 2000 + b"\r")
    first = len(channel.value)
    assert TURN_ECHO <= first < TURN_ECHO + TURN_KEYS * 3 * 2001
    settle(clock)
    whole = LineEditor(lambda: []).feed(b"x" * 2000 + b"\r").echo
    assert len(whole) > 4 * TURN_ECHO
    assert channel.value.startswith(whole)
    assert channel.value.endswith(b"'\r\n(qemu) ")


def test_keys_that_echo_nothing_are_read_a_bounded_number_per_turn() -> None:
    """Keys past a full line echo nothing; still at most TURN_READ of them are read per turn."""
    from hmpbridge.session import TURN_READ
    clock = Clock()
    session, channel, executor = opened(clock=clock, max_pending_keys=10 ** 6)
    session.received(b"\x1b[D" * 20000 + b"stop\r")
    assert executor.commands == []
    settle(clock)
    assert [c.execute for c in executor.commands] == ["stop"]
    assert 3 * 20000 > TURN_READ


def test_a_user_known_later_takes_their_history_typed_lines_newest() -> None:
    """A TLS certificate names the user after the session began: the user's kept history
    comes back, and the lines typed meanwhile stay newest."""
    store = Store({"bob": ["info name", "stop"]})
    state = SessionState(identity=Identity("127.0.0.1:1"))
    session, channel, _ = opened(state=state, history=store)
    session.received(b"stop\rcont\r")
    state.identity = Identity("bob", method="certificate")
    session.identified()
    assert state.history == ["info name", "stop", "cont"]
    session.ended()
    assert store.kept["bob"] == ["info name", "stop", "cont"]


def test_a_client_that_reads_no_output_is_dropped_at_the_limit() -> None:
    """monitor_for watches the connection: a client leaving more than max_unread bytes
    unread is dropped, as before the session had a channel."""
    from twisted.internet.testing import StringTransport

    from hmpbridge.limits import Limits
    from hmpbridge.runner import CommandRunner
    from hmpbridge.session import SessionConfig, monitor_for
    from tests.unit.monitor_fakes import FakeChannel

    class Raw(StringTransport):
        aborted = False

        def abortConnection(self) -> None:
            self.aborted = True

    raw, clock = Raw(), Clock()
    executor = FakeExecutor(VM().handlers())
    config = SessionConfig(runner=CommandRunner(executor, clock=clock), clock=clock,
                           executor=executor, limits=Limits(max_unread=1000))
    session = monitor_for(config, SessionState(), raw, "127.0.0.1:1")
    channel = FakeChannel()
    session.started(channel)
    assert raw.producer is not None
    raw.producer.pauseProducing()  # the send buffer is full
    assert channel.meter is not None
    for _ in range(3):
        channel.meter(600)
    assert raw.aborted
