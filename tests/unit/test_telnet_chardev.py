"""The listener kinds as QEMU's monitor chardevs: telnet and plain channels, byte for byte.

The expected bytes are QEMU's own, recorded from QEMU 7.2.22, 10.0.2 and
11.1.3 (``tests/fixtures/chardev/qemu-*.json``, made by ``capture.py`` there):
what each chardev sends at connect, and which line QEMU's monitor ran for each
way of sending telnet commands around a line.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.channel import TURN_BYTES, ChardevChannel
from hmpbridge.chardev import PLAIN, TELNET, connect_bytes
from hmpbridge.interfaces import MonitorChannel
from hmpbridge.line_editor import LineEditor
from hmpbridge.telnet import TELNET_INIT, TelnetInput, strip_telnet_bytewise
from hmpbridge.testing import TurnClock

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chardev"
RECORDINGS = sorted(FIXTURES.glob("qemu-*.json"))
BANNER = "QEMU {version} monitor - type 'help' for more information\r\n(qemu) "


def recording(path: Path) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as source:
        return json.load(source)  # type: ignore[no-any-return]


def latin(text: str) -> bytes:
    return text.encode("latin-1")


class Recorder:
    """A MonitorSession that keeps what its channel hands it."""

    def __init__(self) -> None:
        self.channel: Optional[MonitorChannel] = None
        self.data = bytearray()
        self.reads: List[bytes] = []
        self.events: List[str] = []
        self.fds: List[int] = []

    def started(self, channel: MonitorChannel) -> None:
        self.channel = channel
        self.events.append("started")

    def received(self, data: bytes) -> None:
        self.data += data
        self.reads.append(data)

    def input_ended(self) -> None:
        self.events.append("input_ended")

    def ended(self) -> None:
        self.events.append("ended")

    def descriptor(self, fd: int) -> None:
        self.fds.append(fd)

    def identified(self) -> None:
        self.events.append("identified")


def open_channel(kind: str, clock: Optional[Clock] = None):
    session = Recorder()
    channel = ChardevChannel(kind, lambda _: session, clock or Clock())
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    channel.makeConnection(transport)
    return channel, transport, session


def feed(channel: ChardevChannel, clock: Clock, packets: List[bytes]) -> None:
    for packet in packets:
        channel.dataReceived(packet)
        clock.advance(0)


def line_run(data: bytes) -> Optional[bytes]:
    """The line QEMU's readline ends with ``data`` (None: none ended)."""
    step = LineEditor(lambda: ()).feed(data)
    return None if step.line is None else step.line.encode("utf-8", "surrogateescape")


# -- what QEMU sends and keeps, per recorded case ---------------------------------------------


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_connect_bytes_are_qemus(path: Path) -> None:
    """A telnet channel starts with QEMU's twelve negotiation bytes; a plain one with nothing."""
    recorded = recording(path)
    banner = BANNER.format(version=recorded["version"])
    assert latin(recorded["connect"]["telnet"]) == TELNET_INIT + latin(banner)
    assert latin(recorded["connect"]["tcp"]) == latin(banner)
    assert latin(recorded["connect"]["unix"]) == latin(banner)
    for kind, expected in ((TELNET, TELNET_INIT), (PLAIN, b"")):
        channel, transport, session = open_channel(kind)
        assert transport.value() == expected == connect_bytes(kind)
        assert session.events == ["started"]


CASES = [(path, name) for path in RECORDINGS for name in recording(path)["cases"]]


@pytest.mark.parametrize("path,name", CASES, ids=[f"{p.stem}-{n}" for p, n in CASES])
def test_each_recorded_case_reaches_the_line_editor_as_in_qemu(path: Path, name: str) -> None:
    """Each recorded way of sending telnet commands (options, SB/SE, IAC IAC, BREAK, NOP, split
    reads) hands the line editor the bytes from which it runs QEMU's line; nothing is answered."""
    case = recording(path)["cases"][name]
    packets = [latin(p) for p in case["packets"]]
    for kind, recorded in ((TELNET, case["telnet"]), (PLAIN, case["tcp"])):
        clock = Clock()
        channel, transport, session = open_channel(kind, clock)
        transport.clear()
        feed(channel, clock, packets)
        assert transport.value() == b"", "the chardev itself never answers"
        if recorded["line"] is not None:
            assert line_run(bytes(session.data)) == latin(recorded["line"])
        expected = strip_telnet_bytewise(b"".join(packets))[0] if kind == TELNET \
            else b"".join(packets)
        assert bytes(session.data) == expected


def test_qemus_output_is_identical_on_every_recorded_release() -> None:
    """QEMU 7.2, 10.0 and 11.1 send the same bytes for every case (one rule serves them all)."""
    first = recording(RECORDINGS[0])
    for path in RECORDINGS[1:]:
        other = recording(path)
        assert other["cases"] == first["cases"]


# -- the telnet rule ------------------------------------------------------------------------


@pytest.mark.parametrize("data,expected", [
    (b"ab\xff\xfd\x18cd", b"abcd"),                # an option command: three bytes
    (b"a\xff\xffb", b"a\xffb"),                    # IAC IAC: one data byte 0xff
    (b"a\xff\xf3bc", b"abc"),                      # IAC BREAK: two bytes
    (b"a\xff\xf1bc", b"ac"),                       # IAC NOP takes the byte after it
    (b"a\xff\xfb\xffbc", b"abc"),                  # an IAC as the option byte is taken
    (b"\xff\xfa\x18\x00xterm\xff\xf0zabc", b"\x00xtermabc"),  # SB is no subnegotiation
])
def test_telnet_commands_taken_out_as_qemu_does(data: bytes, expected: bytes) -> None:
    assert TelnetInput().feed(data) == expected
    assert strip_telnet_bytewise(data)[0] == expected


def test_a_command_split_across_reads_is_taken_out() -> None:
    """The state lasts across reads: an IAC at the end of one read goes on in the next."""
    telnet = TelnetInput()
    assert telnet.feed(b"ab\xff") == b"ab" and telnet.pending
    assert telnet.feed(b"\xfd") == b"" and telnet.pending
    assert telnet.feed(b"\x18cd") == b"cd" and not telnet.pending
    assert telnet.feed(b"\xff") == b""
    assert telnet.feed(b"\xffz") == b"\xffz"


_TELNETISH = st.lists(st.one_of(
    st.sampled_from([b"\xff", b"\xff\xff", b"\xff\xf3", b"\xff\xfb\x01", b"\xff\xfa\x18",
                     b"\xff\xf0", b"\r", b"\n", b"\r\n", b"\r\0", b"\x1b[A", b"\t"]),
    st.binary(max_size=12)), max_size=40).map(b"".join)


@given(data=_TELNETISH, cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12))
def test_any_split_gives_the_bytes_of_one_read_and_of_qemus_rule(data: bytes,
                                                                  cuts: List[int]) -> None:
    """However a stream is cut into reads, the data handed on is what one read gives, and what
    QEMU's byte-by-byte rule gives."""
    whole = TelnetInput().feed(data)
    assert whole == strip_telnet_bytewise(data)[0]
    for kind, expected in ((TELNET, whole), (PLAIN, data)):
        clock = Clock()
        channel, transport, session = open_channel(kind, clock)
        start = 0
        for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
            channel.dataReceived(data[start:cut])
            start = cut
        clock.advance(0)
        assert bytes(session.data) == expected


@given(piece=_TELNETISH.filter(bool), extra=st.integers(min_value=0, max_value=64),
       cut=st.integers(min_value=1, max_value=TURN_BYTES))
def test_long_reads_and_splits_agree(piece: bytes, extra: int, cut: int) -> None:
    """Reads longer than a turn's share, with telnet commands anywhere, give QEMU's data."""
    data = (piece * (2 * TURN_BYTES // len(piece) + 1))[:2 * TURN_BYTES + extra]
    clock = Clock()
    channel, transport, session = open_channel(TELNET, clock)
    channel.dataReceived(data[:cut])
    channel.dataReceived(data[cut:])
    for _ in range(8):
        clock.advance(0)
    assert bytes(session.data) == strip_telnet_bytewise(data)[0]


# -- the channel's protections ----------------------------------------------------------------


def test_a_long_read_is_handed_on_a_share_per_turn_with_reading_paused() -> None:
    """A 64 KiB read reaches the session TURN_BYTES at a time, one share per reactor turn, and
    the client is not read from until the whole read is handed on."""
    clock = TurnClock()
    channel, transport, session = open_channel(PLAIN, clock)
    data = bytes(range(256)) * 256
    channel.dataReceived(data)
    assert session.reads == [data[:TURN_BYTES]]
    assert transport.producerState == "paused"
    turns = 0
    while transport.producerState == "paused":
        assert clock.turn()
        turns += 1
        assert len(session.reads) == turns + 1
    assert turns == len(data) // TURN_BYTES - 1
    assert all(len(read) == TURN_BYTES for read in session.reads)
    assert b"".join(session.reads) == data


def test_bytes_arriving_while_a_backlog_waits_come_after_it() -> None:
    """Bytes delivered while reading is paused (TLS hands over what it decrypted) keep their order."""
    clock = Clock()
    channel, transport, session = open_channel(PLAIN, clock)
    channel.dataReceived(b"a" * (TURN_BYTES + 1))
    channel.dataReceived(b"b")
    clock.advance(0)
    assert bytes(session.data) == b"a" * (TURN_BYTES + 1) + b"b"
    assert transport.producerState == "producing"


def test_a_session_that_pauses_gets_nothing_until_it_resumes() -> None:
    """The session's pause holds the rest of a long read, and reading, until it resumes."""
    clock = TurnClock()
    channel, transport, session = open_channel(PLAIN, clock)
    channel.pauseProducing()
    assert transport.producerState == "paused"
    channel.resumeProducing()
    channel.dataReceived(b"x" * (3 * TURN_BYTES))
    channel.pauseProducing()
    clock.turn()
    clock.turn()
    assert len(session.data) == TURN_BYTES
    channel.resumeProducing()
    assert transport.producerState == "paused"  # the backlog is handed on first
    while clock.turn():
        pass
    assert len(session.data) == 3 * TURN_BYTES
    assert transport.producerState == "producing"


def test_half_close_is_told_after_everything_read_before_it() -> None:
    """A client that half-closes (nc -N) after a long read: its input ends after the last share."""
    clock = Clock()
    channel, transport, session = open_channel(TELNET, clock)
    channel.dataReceived(b"y" * (2 * TURN_BYTES))
    channel.readConnectionLost()
    assert session.events == ["started"]
    clock.advance(0)
    assert session.events == ["started", "input_ended"]
    assert len(session.data) == 2 * TURN_BYTES


def test_half_close_with_nothing_waiting_is_told_at_once() -> None:
    channel, transport, session = open_channel(PLAIN)
    channel.readConnectionLost()
    assert session.events == ["started", "input_ended"]


def test_connection_loss_ends_the_session_and_drops_the_backlog() -> None:
    clock = Clock()
    channel, transport, session = open_channel(PLAIN, clock)
    channel.dataReceived(b"z" * (2 * TURN_BYTES))
    channel.connectionLost(None)  # type: ignore[arg-type]
    clock.advance(0)
    assert session.events == ["started", "ended"]
    assert len(session.data) == TURN_BYTES
    channel.write(b"late")
    assert not transport.value().endswith(b"late")


def test_passed_descriptors_reach_the_session() -> None:
    """A descriptor passed over a unix socket is the session's (getfd)."""
    channel, transport, session = open_channel(PLAIN)
    left, right = socket.socketpair()
    try:
        fd = os.dup(left.fileno())
        channel.fileDescriptorReceived(fd)
        assert session.fds == [fd]
        os.close(fd)
    finally:
        left.close()
        right.close()


def test_every_write_is_counted_and_sent_as_it_is() -> None:
    """The session's write guard hears of every byte; 0xff and line ends go out unchanged."""
    channel, transport, session = open_channel(TELNET)
    counted: List[int] = []
    channel.count_output(counted.append)
    transport.clear()
    channel.write(b"a\xffb\r\n")
    channel.write(b"(qemu) ")
    assert transport.value() == b"a\xffb\r\n(qemu) "
    assert counted == [5, 7]


def test_peer_text_names_the_client() -> None:
    channel, transport, session = open_channel(PLAIN)
    assert channel.peer_text() == "127.0.0.1:40000"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        ChardevChannel("raw", lambda _: Recorder(), Clock())
    with pytest.raises(ValueError):
        connect_bytes("raw")
