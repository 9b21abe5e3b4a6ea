"""HMP sessions over telnet framing: banner, line ends, ordering, prompts, closing."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from hmpbridge.handlers.fds import NO_FD
from hmpbridge.model import QMPCommand
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.limits import MAX_LINE
from hmpbridge.session import MAX_QUEUED_LINES, PROMPT, HMPSession
from hmpbridge.telnet import HMPTelnetTransport
from hmpbridge.testing import FakeExecutor

BANNER = b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
PAUSED = b"VM status: paused\r\n(qemu) "
RUNNING = b"VM status: running\r\n(qemu) "
UNKNOWN = b"unknown command: 'frob'\r\n(qemu) "
STATUS = QMPCommand("query-status")


class RecordingTransport(StringTransport):
    """A StringTransport that also keeps every write separately."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: List[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)


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
        }

    def _set(self, running: bool) -> Dict[str, Any]:
        self.running = running
        return {}


def open_session(executor: Optional[FakeExecutor] = None,
                 tcp: Optional[StringTransport] = None,
                 ) -> Tuple[HMPTelnetTransport, RecordingTransport, FakeExecutor]:
    """A connected session on a recording transport; the banner is cleared away."""
    executor = executor if executor is not None else FakeExecutor(VM().handlers())
    tcp = tcp if tcp is not None else RecordingTransport()
    telnet = HMPTelnetTransport(HMPSession, CommandRunner(executor))
    telnet.makeConnection(tcp)
    assert tcp.value() == BANNER
    tcp.clear()
    if isinstance(tcp, RecordingTransport):
        tcp.writes.clear()
    return telnet, tcp, executor  # type: ignore[return-value]


def session_of(telnet: HMPTelnetTransport) -> HMPSession:
    session = telnet.protocol
    assert isinstance(session, HMPSession)
    return session


# -- banner and prompt -----------------------------------------------------------------


def test_banner_and_prompt_in_one_write() -> None:
    """A new session gets QEMU's banner for the connected version and the prompt, at once."""
    tcp = RecordingTransport()
    telnet = HMPTelnetTransport(HMPSession, CommandRunner(FakeExecutor(version=(7, 2, 22))))
    telnet.makeConnection(tcp)
    assert tcp.writes == [BANNER]


def test_banner_without_a_greeting_says_unknown() -> None:
    """Before QEMU ever greeted, the banner names an unknown version."""
    tcp = StringTransport()
    HMPTelnetTransport(HMPSession, CommandRunner(FakeExecutor(version=None))).makeConnection(tcp)
    assert tcp.value() == b"QEMU unknown monitor - type 'help' for more information\r\n(qemu) "


def test_tcp_nodelay_is_set() -> None:
    """On a TCP transport the session turns Nagle off so prompts are not delayed."""
    @implementer(ITCPTransport)
    class TCP(StringTransport):
        nodelay: Optional[bool] = None

        def setTcpNoDelay(self, enabled: bool) -> None:
            self.nodelay = enabled

    tcp = TCP()
    HMPTelnetTransport(HMPSession, CommandRunner(FakeExecutor())).makeConnection(tcp)
    assert tcp.nodelay is True


def test_answer_and_prompt_in_one_write() -> None:
    """The answer and the next prompt leave in a single write, \\n as \\r\\n."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info status\r\n")
    assert tcp.writes == [PAUSED]
    assert executor.commands == [STATUS]


def test_command_with_no_output_gets_just_a_prompt() -> None:
    """stop sends QMP stop and prints nothing but the prompt."""
    vm = VM(running=True)
    telnet, tcp, executor = open_session(FakeExecutor(vm.handlers()))
    telnet.dataReceived(b"stop\r\n")
    assert tcp.writes == [PROMPT.encode()]
    assert executor.commands == [QMPCommand("stop")]
    assert not vm.running


def test_unknown_command_and_empty_line() -> None:
    """An unknown command prints QEMU's message; an empty line gives a bare prompt."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"frob\r\n\r\n")
    assert tcp.writes == [UNKNOWN, b"(qemu) "]
    assert executor.commands == []


# -- line ends ----------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r\0", b"\r"])
def test_each_line_end_ends_exactly_one_line(ending: bytes) -> None:
    """\\r\\n, \\n, \\r\\0 and a bare \\r each end one line (never an extra empty one)."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info status" + ending)
    telnet.dataReceived(b"info status" + ending)
    assert tcp.value() == PAUSED * 2
    assert len(executor.commands) == 2


def test_bare_cr_at_chunk_end_runs_at_once_and_swallows_the_next_lf() -> None:
    """A chunk ending in \\r runs the line now; a \\n opening the next chunk is no new line."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info status\r")
    assert tcp.writes == [PAUSED]
    telnet.dataReceived(b"\n")
    assert tcp.writes == [PAUSED]
    telnet.dataReceived(b"info status\r")
    telnet.dataReceived(b"\ninfo status\r\n")
    assert tcp.writes == [PAUSED] * 3
    assert len(executor.commands) == 3


def test_bare_cr_at_chunk_end_then_nul_is_one_line() -> None:
    """\\r at the end of one chunk and \\0 at the start of the next make one line end."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info status\r")
    telnet.dataReceived(b"\0")
    assert tcp.writes == [PAUSED]
    assert len(executor.commands) == 1


def test_bare_cr_then_other_text_starts_the_next_line() -> None:
    """A bare \\r inside a chunk ends the line; the text after it is the next line."""
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"frob\rinfo status\r\n")
    assert tcp.writes == [UNKNOWN, PAUSED]


def test_line_split_across_chunks() -> None:
    """A line arriving in pieces runs once, when its end arrives."""
    telnet, tcp, executor = open_session()
    for piece in (b"in", b"fo st", b"atus"):
        telnet.dataReceived(piece)
        assert tcp.writes == []
    telnet.dataReceived(b"\r\n")
    assert tcp.writes == [PAUSED]
    assert executor.commands == [STATUS]


# -- ordering -----------------------------------------------------------------------------


def test_pipelined_lines_answered_in_order_each_with_a_prompt() -> None:
    """Lines sent in one chunk run in order; each answer comes with its own prompt."""
    vm = VM(running=True)
    telnet, tcp, executor = open_session(FakeExecutor(vm.handlers()))
    telnet.dataReceived(b"info status\r\nstop\r\ninfo status\r\nfrob\r\ncont\r\ninfo status\r\n")
    assert tcp.writes == [RUNNING, b"(qemu) ", PAUSED, UNKNOWN, b"(qemu) ", RUNNING]
    assert [c.execute for c in executor.commands] == [
        "query-status", "stop", "query-status", "cont", "query-status"]


def test_one_line_in_flight_at_a_time() -> None:
    """The next line is not started before the previous one is answered."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    telnet, tcp, _ = open_session(executor)
    telnet.dataReceived(b"stop\r\ninfo status\r\n")
    assert [p.command.execute for p in executor.pending] == ["stop"]
    assert tcp.writes == []
    executor.fire()
    assert tcp.writes == [b"(qemu) "]
    assert [p.command.execute for p in executor.pending] == ["query-status"]
    executor.fire()
    assert tcp.writes == [b"(qemu) ", PAUSED]


def test_slow_answer_in_one_session_does_not_delay_another() -> None:
    """Two sessions share one executor: B is answered while A's command is still pending."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    a, tcp_a, _ = open_session(executor)
    b, tcp_b, _ = open_session(executor)
    a.dataReceived(b"info status\r\n")
    b.dataReceived(b"info status\r\nfrob\r\n")
    assert len(executor.pending) == 2
    executor.fire(1)  # B's
    assert tcp_b.writes == [PAUSED, UNKNOWN]
    assert tcp_a.writes == []
    executor.fire()  # A's, at last
    assert tcp_a.writes == [PAUSED]
    assert tcp_b.writes == [PAUSED, UNKNOWN]


def test_sessions_keep_their_own_history() -> None:
    """Each session remembers its own lines."""
    executor = FakeExecutor(VM().handlers())
    a, _, _ = open_session(executor)
    b, _, _ = open_session(executor)
    a.dataReceived(b"info status\r\n")
    b.dataReceived(b"stop\r\n")
    assert session_of(a).state.history == ["info status"]
    assert session_of(b).state.history == ["stop"]


# -- long lines and odd bytes ------------------------------------------------------------------


def test_over_long_line_is_truncated_to_4095_characters() -> None:
    """Only the first 4095 bytes of a line are kept, as QEMU's readline does."""
    assert MAX_LINE == 4095
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"x" * 3000)
    telnet.dataReceived(b"y" * 3000 + b"\r\n")
    session = session_of(telnet)
    assert session.state.history == ["x" * 3000 + "y" * 1095]
    assert tcp.writes[-1].endswith(b"(qemu) ")
    telnet.dataReceived(b"info status\r\n")
    assert tcp.writes[-1] == PAUSED
    assert session.state.history[-1] == "info status"


def test_line_of_exactly_4095_characters_is_kept_whole() -> None:
    """The limit is inclusive."""
    telnet, _, _ = open_session()
    telnet.dataReceived(b"z" * MAX_LINE + b"\n")
    assert session_of(telnet).state.history == ["z" * MAX_LINE]


def test_non_utf8_bytes_do_not_break_the_session() -> None:
    """Bytes that are not UTF-8 reach the parser as an unknown command, not a crash."""
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"\xc3\x28\r\ninfo status\r\n")
    assert tcp.writes[-1] == PAUSED
    assert len(tcp.writes) == 2


def test_telnet_option_offers_are_refused_and_stripped() -> None:
    """IAC WILL/DO offers get IAC DONT/WONT answers and never reach the line."""
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"\xff\xfb\x01\xff\xfd\x03info status\r\n")
    assert tcp.value() == b"\xff\xfe\x01\xff\xfc\x03" + PAUSED
    assert session_of(telnet).state.history == ["info status"]


def test_escaped_iac_is_a_literal_byte() -> None:
    """IAC IAC is one 0xff data byte in the line."""
    telnet, _, _ = open_session()
    telnet.dataReceived(b"frob\xff\xff\r\n")
    assert session_of(telnet).state.history == ["frob\udcff"]


def test_stray_telnet_command_byte_is_ignored() -> None:
    """An invalid command after IAC is skipped; the rest of the chunk still counts."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info\xff\x01 status\r\nfrob\r\n")
    assert tcp.writes == [PAUSED, UNKNOWN]
    assert executor.commands == [STATUS]
    telnet.dataReceived(b"info status\r\n")
    assert tcp.writes[-1] == PAUSED
    assert not tcp.disconnecting


def test_stray_telnet_command_split_across_chunks_is_ignored() -> None:
    """IAC at the end of one chunk and a bad command byte at the start of the next."""
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"info status\xff")
    telnet.dataReceived(b"\x01\r\n")
    assert tcp.writes == [PAUSED]


def test_0xff_in_output_is_escaped() -> None:
    """A 0xff byte echoed back in an answer is doubled, as telnet requires."""
    telnet, tcp, _ = open_session()
    telnet.dataReceived(b"frob\xff\xff\r\n")
    assert tcp.writes == [b"unknown command: 'frob\xff\xff'\r\n(qemu) "]


# -- closing ------------------------------------------------------------------------------


def test_quit_closes_the_session_without_output() -> None:
    """quit sends QMP quit, prints nothing and closes; later lines are not run."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"quit\r\ninfo status\r\n")
    assert executor.commands == [QMPCommand("quit")]
    assert tcp.writes == []
    assert tcp.disconnecting


def test_disconnect_with_a_line_in_flight_drops_the_late_answer() -> None:
    """A client that leaves with a command pending: no error, nothing written, queue dropped."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    telnet, tcp, _ = open_session(executor)
    telnet.dataReceived(b"info status\r\nstop\r\n")
    telnet.connectionLost(Failure(ConnectionDone()))
    executor.fire()
    assert tcp.writes == []
    assert executor.pending == []
    assert [c.execute for c in executor.commands] == ["query-status"]


def test_half_close_answers_everything_queued_then_closes() -> None:
    """After the client stops sending, every line it sent is answered, then the session closes."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    telnet, tcp, _ = open_session(executor)
    telnet.dataReceived(b"info status\r\nfrob\r\ninfo status\r\n")
    telnet.readConnectionLost()
    assert not tcp.disconnecting
    executor.fire()
    assert not tcp.disconnecting
    executor.fire()
    assert tcp.writes == [PAUSED, UNKNOWN, PAUSED]
    assert tcp.disconnecting


def test_half_close_runs_an_unterminated_last_line() -> None:
    """A last line without a line end is run when the client half-closes."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"info status")
    assert tcp.writes == []
    telnet.readConnectionLost()
    assert tcp.writes == [PAUSED]
    assert executor.commands == [STATUS]
    assert tcp.disconnecting


def test_half_close_with_nothing_pending_closes_at_once() -> None:
    """A client that half-closes an idle session is disconnected right away."""
    telnet, tcp, _ = open_session()
    telnet.readConnectionLost()
    assert tcp.disconnecting
    assert tcp.writes == []


def test_write_side_lost_closes_the_connection() -> None:
    """When writing is no longer possible, the connection is closed."""
    telnet, tcp, _ = open_session()
    telnet.writeConnectionLost()
    assert tcp.disconnecting


# -- flow control -------------------------------------------------------------------------


def test_reading_pauses_with_too_many_lines_queued_and_resumes() -> None:
    """With 256 lines waiting the session stops reading, and resumes below half of that."""
    executor = FakeExecutor(VM().handlers(), manual=True)
    telnet, tcp, _ = open_session(executor)
    telnet.dataReceived(b"info status\r\n" * (MAX_QUEUED_LINES + 10))
    assert tcp.producerState == "paused"
    answered = 0
    while tcp.producerState == "paused":
        executor.fire()
        answered += 1
    # one line is in flight, the rest wait: resumed with fewer than 128 waiting
    assert MAX_QUEUED_LINES + 10 - 1 - answered < MAX_QUEUED_LINES // 2
    executor.fire_all()
    assert tcp.writes == [PAUSED] * (MAX_QUEUED_LINES + 10)


# -- file descriptors ---------------------------------------------------------------------


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_getfd_passes_the_received_descriptor_to_qemu() -> None:
    """getfd hands the descriptor the client passed to QMP getfd, which then owns it."""
    telnet, tcp, executor = open_session(FakeExecutor({"getfd": lambda args: {}}))
    read_end, write_end = os.pipe()
    os.close(read_end)
    telnet.fileDescriptorReceived(write_end)
    assert session_of(telnet).state.received_fd == write_end
    telnet.dataReceived(b"getfd myfd\r\n")
    assert tcp.writes == [b"(qemu) "]
    assert executor.commands == [QMPCommand("getfd", {"fdname": "myfd"})]
    assert executor.commands[0].fds == (write_end,)
    assert session_of(telnet).state.received_fd is None
    assert not is_open(write_end)


def test_getfd_without_a_descriptor_says_so() -> None:
    """getfd with nothing received prints QEMU's error and sends nothing."""
    telnet, tcp, executor = open_session()
    telnet.dataReceived(b"getfd myfd\r\n")
    assert tcp.value() == NO_FD.replace("\n", "\r\n").encode() + b"(qemu) "
    assert executor.commands == []


def test_newer_descriptor_replaces_and_closes_the_older_one() -> None:
    """Only the latest descriptor is kept; the session closes its own on disconnect."""
    telnet, _, _ = open_session()
    first_r, first_w = os.pipe()
    second_r, second_w = os.pipe()
    os.close(first_r)
    os.close(second_r)
    telnet.fileDescriptorReceived(first_w)
    telnet.fileDescriptorReceived(second_w)
    assert not is_open(first_w)
    assert session_of(telnet).state.received_fd == second_w
    telnet.connectionLost(Failure(ConnectionDone()))
    assert not is_open(second_w)


# -- the listening side --------------------------------------------------------------------


def test_server_factory_builds_a_telnet_framed_session() -> None:
    """Every connection gets its own session behind telnet framing, sharing the runner."""
    runner = CommandRunner(FakeExecutor(VM().handlers()))
    factory = HMPServerFactory(runner, "tcp:4444")
    address = IPv4Address("TCP", "127.0.0.1", 50000)
    first = factory.buildProtocol(address)
    second = factory.buildProtocol(address)
    assert isinstance(first, HMPTelnetTransport) and first is not second
    assert first.factory is factory
    tcp = StringTransport()
    first.makeConnection(tcp)
    second.makeConnection(StringTransport())
    assert tcp.value() == BANNER
    session = session_of(first)
    assert session.runner is runner and session_of(second).runner is runner
    assert session.state is not session_of(second).state
    first.dataReceived(b"info status\r\n")
    assert tcp.value() == BANNER + PAUSED
