"""Interactive sessions: when telnet clients get the line editor, and what it does there."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.events import EventHub
from hmpbridge.runner import CommandRunner
from hmpbridge.board import CommandBoard, waiting_notice
from hmpbridge.session import HMPSession
from hmpbridge.telnet import HMPTelnetTransport
from hmpbridge.testing import FakeExecutor

IAC, WILL, DO, ECHO, SGA = b"\xff", b"\xfb", b"\xfd", b"\x01", b"\x03"
OFFER = IAC + WILL + ECHO + IAC + WILL + SGA
ACCEPT = IAC + DO + ECHO + IAC + DO + SGA
BANNER = b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
BLOCK = {"query-block": lambda args: [{"device": "cd0"}, {"device": "disk0"}],
         "query-named-block-nodes": lambda args: []}


class Source:
    """An event source the hub subscribes to."""

    def __init__(self) -> None:
        self.observers = []

    def add_event_observer(self, callback: Any) -> Any:
        self.observers.append(callback)
        return lambda: None


def connect(mode: str, executor: Optional[FakeExecutor] = None, clock: Optional[Clock] = None,
            board: Optional[CommandBoard] = None, events: Optional[EventHub] = None,
            ) -> Tuple[HMPTelnetTransport, StringTransport, FakeExecutor]:
    executor = executor if executor is not None else FakeExecutor(BLOCK)
    tcp = StringTransport()
    telnet = HMPTelnetTransport(HMPSession, CommandRunner(executor, clock=clock or Clock()),
                                telnet_mode=mode, executor=executor, clock=clock or Clock(),
                                board=board, events=events)
    telnet.makeConnection(tcp)
    return telnet, tcp, executor


def interactive(**kw: Any) -> Tuple[HMPTelnetTransport, StringTransport, FakeExecutor]:
    """A session whose client (like telnet) sent a CR LF line and accepted echo."""
    telnet, tcp, executor = connect("auto", **kw)
    telnet.dataReceived(b"info name\r\n")
    telnet.dataReceived(ACCEPT)
    assert telnet.protocol.interactive
    tcp.clear()
    return telnet, tcp, executor


def test_auto_offers_echo_after_a_telnet_style_first_line() -> None:
    """A first line ending in CR LF alone in its packet gets QEMU's WILL ECHO, WILL SGA."""
    telnet, tcp, _ = connect("auto")
    tcp.clear()
    telnet.dataReceived(b"info status\r\n")
    assert tcp.value().startswith(OFFER)
    assert not telnet.protocol.interactive
    telnet.dataReceived(ACCEPT)
    assert telnet.protocol.interactive


def test_auto_leaves_scripts_alone() -> None:
    """LF lines, CR lines and several CR LF lines in one packet get no telnet bytes."""
    for first in (b"info status\n", b"info status\r", b"info status\r\ninfo status\r\n"):
        telnet, tcp, _ = connect("auto")
        telnet.dataReceived(first)
        telnet.dataReceived(b"info status\r\n")
        assert b"\xff" not in tcp.value() and b"\x1b" not in tcp.value()
        assert not telnet.protocol.interactive


def test_a_refused_offer_keeps_plain_lines() -> None:
    """A client answering DONT ECHO stays in plain-line mode."""
    telnet, tcp, _ = connect("auto")
    telnet.dataReceived(b"info status\r\n")
    telnet.dataReceived(IAC + b"\xfe" + ECHO)
    assert not telnet.protocol.interactive


def test_never_offers_nothing() -> None:
    """With telnet mode never, even telnet's first line gets only its answer."""
    telnet, tcp, _ = connect("never")
    tcp.clear()
    telnet.dataReceived(b"info status\r\n")
    assert tcp.value() == b"VM status: running\r\n(qemu) "


def test_always_offers_at_connect_and_echoes() -> None:
    """Mode always offers echo after the banner, as QEMU's telnet chardev, and echoes at once."""
    telnet, tcp, _ = connect("always")
    assert tcp.value() == BANNER + OFFER
    tcp.clear()
    telnet.dataReceived(b"i")
    assert tcp.value() == b"i\x1b[K"


def test_enter_runs_the_line_and_shows_the_prompt() -> None:
    """Typed keys echo; Enter moves to a new line, runs the line and prompts again."""
    telnet, tcp, _ = interactive()
    telnet.dataReceived(b"info status")
    telnet.dataReceived(b"\r\0")
    assert tcp.value().endswith(b"info status\x1b[K\r\nVM status: running\r\n(qemu) ")


def test_keys_typed_while_a_command_runs_wait_for_its_answer() -> None:
    """As QEMU's monitor, keys after Enter are read only once the answer is printed."""
    executor = FakeExecutor(BLOCK, manual=True)
    telnet, tcp, _ = interactive(executor=executor)
    executor.fire_all()
    tcp.clear()
    telnet.dataReceived(b"info status\rab")
    assert tcp.value() == b"info status\r\n"
    executor.fire()
    assert tcp.value() == b"info status\r\nVM status: running\r\n(qemu) a\x1b[K\x1b[Dab\x1b[K"


def test_up_and_down_walk_this_sessions_history_only() -> None:
    """Up recalls this session's lines; another session's lines never appear."""
    executor = FakeExecutor(BLOCK)
    one, tcp_one, _ = interactive(executor=executor)
    two, tcp_two, _ = interactive(executor=executor)
    one.dataReceived(b"info status\r")
    tcp_one.clear()
    one.dataReceived(b"\x1b[A")
    assert tcp_one.value() == b"info status\x1b[K"
    two.dataReceived(b"\x1b[A")
    assert tcp_two.value() == b"info name\x1b[K"
    two.dataReceived(b"\x1b[A\x1b[B\x1b[B")
    assert two.protocol.state.history == ["info name"]


def test_tab_lists_block_devices_from_qemu() -> None:
    """eject <Tab> asks query-block and prints the candidates, then prompt and line again."""
    telnet, tcp, executor = interactive()
    telnet.dataReceived(b"eject \t")
    assert tcp.value().endswith(b"\r\ncd0       disk0     \r\n(qemu) eject \x1b[K")
    tcp.clear()
    telnet.dataReceived(b"c\t")
    assert tcp.value() == (b"\x1b[D" * 6 + b"eject c\x1b[K" + b"\x1b[D" * 7
                           + b"eject cd0 \x1b[K")


def test_event_is_printed_above_the_half_typed_line() -> None:
    """An event erases the line, prints itself, and the prompt and line come back."""
    source = Source()
    telnet, tcp, _ = interactive(events=EventHub(source))
    telnet.protocol.set_events(True)
    telnet.dataReceived(b"info st")
    tcp.clear()
    source.observers[0]({"event": "STOP", "timestamp": {"seconds": 0, "microseconds": 0}})
    out = tcp.value()
    assert out.startswith(b"\r\x1b[K") and b"STOP\r\n" in out
    assert out.endswith(b"\r\n(qemu) info st\x1b[K")


def test_waiting_notice_after_a_second_behind_another_operator() -> None:
    """A command queued behind another operator's is told so after a second, only interactively."""
    clock, board = Clock(), CommandBoard()
    executor = FakeExecutor(BLOCK, manual=True)
    first, tcp_first, _ = interactive(executor=executor, clock=clock, board=board)
    second, tcp_second, _ = interactive(executor=executor, clock=clock, board=board)
    script, tcp_script, _ = connect("auto", executor=executor, clock=clock, board=board)
    executor.fire_all()
    for tcp in (tcp_first, tcp_second, tcp_script):
        tcp.clear()
    first.dataReceived(b"info status\r")
    second.dataReceived(b"info name\r")
    script.dataReceived(b"info name\n")
    clock.advance(0.9)
    assert b"waiting" not in tcp_second.value()
    clock.advance(0.2)
    assert tcp_second.value().endswith(
        waiting_notice("info status").encode() + b"\r\n")
    assert b"waiting" not in tcp_first.value() and b"waiting" not in tcp_script.value()
    executor.fire_all()
    assert tcp_second.value().endswith(b"(qemu) ")


def test_board_names_the_oldest_other_command() -> None:
    """The board names only another session's command that started earlier."""
    board = CommandBoard()
    a, b = object(), object()
    first = board.start(a, "migrate -d tcp:x")
    second = board.start(b, "info block -v")
    assert board.ahead_of(second) == "migrate" and board.ahead_of(first) is None
    board.finish(first)
    assert board.ahead_of(second) is None
