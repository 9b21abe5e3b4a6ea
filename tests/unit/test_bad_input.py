"""Hostile input that once broke hmpbridge, kept as plain examples.

Each case was found by the property-based fuzzers (test_fuzz_parser.py,
test_fuzz_protocols.py) and is kept here as a plain example.
"""

from __future__ import annotations

import json

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.chardev import TELNET_INIT
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import parse
from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.qemu_opts import OptsError, strtoi64, strtosz
from hmpbridge.qmp_protocol import QMPClientProtocol
from hmpbridge.qmp_wire import JSONStreamSplitter, ParseFailure
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.limits import MAX_LINE
from hmpbridge.testing import FakeExecutor, result_of
from hmpbridge.transformer import REGISTER, parse_format

IAC, SB, SE = b"\xff", b"\xfa", b"\xf0"
BANNER = b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
STATUS = b"VM status: running\r\n(qemu) "


def parse_error(line: str) -> str:
    with pytest.raises(ParseError) as caught:
        parse(line)
    return caught.value.text


def open_session(chardev: str = "plain"):
    factory = HMPServerFactory(CommandRunner(FakeExecutor(), clock=Clock()), chardev=chardev,
                               clock=Clock())
    channel = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4444))
    tcp = StringTransport()
    channel.makeConnection(tcp)
    assert tcp.value() == (TELNET_INIT if chardev == "telnet" else b"") + BANNER
    tcp.clear()
    return channel, tcp


# -- the parser -----------------------------------------------------------------------------------


def test_register_after_the_dot_of_an_index_goes_to_qemu() -> None:
    """``i 0x70 .$eax`` reads a register: it parses and needs QEMU's monitor (it used to raise)."""
    inv = parse("i 0x70 .$eax")
    assert inv is not None and inv.args["index"] is REGISTER and inv.needs_registers
    executor = FakeExecutor({"human-monitor-command": lambda args: "0x12\n"},
                            schema_commands={"human-monitor-command"})
    text = result_of(CommandRunner(executor, clock=Clock()).run("i 0x70 .$eax", SessionState()))
    assert text == "0x12\n"
    assert executor.commands[-1] == QMPCommand(
        "human-monitor-command", {"command-line": "i 0x70 .$eax", "cpu-index": 0})


def test_decimal_past_pythons_digit_limit_is_too_large() -> None:
    """A 5000-digit decimal is QEMU's ``number too large``, not a Python conversion error."""
    assert parse_error("print " + "9" * 5000).startswith("number too large\n")
    assert parse("print " + "0" * 5000 + "7").args["val"] == 0o7


def test_non_ascii_digits_in_a_format_are_invalid_characters() -> None:
    """``/²x``: only ASCII digits count; ``²`` is an invalid format character."""
    assert parse_error("x /\u00b2x 0").startswith("invalid char in format: '\u00b2'\n")


def test_format_count_wraps_like_a_c_int() -> None:
    """A /fmt count is accumulated in a C int, so it wraps instead of growing without bound."""
    assert parse_format("/4294967297x")["count"] == 1
    assert parse_format("/2147483648x")["count"] == -(1 << 31)
    assert parse_format("/" + "9" * 5000 + "x")["format"] == "x"


def test_sizes_and_integers_past_the_digit_limit_are_out_of_range() -> None:
    """Sizes and option integers of thousands of digits overflow as in C (no ValueError)."""
    assert parse_error("block_resize disk0 " + "9" * 5000).startswith("invalid size\n")
    with pytest.raises(OptsError) as caught:
        strtosz("9" * 5000)
    assert caught.value.kind == "erange"
    with pytest.raises(OptsError):
        strtoi64("-" + "9" * 5000)


# -- the QMP endpoint's framing ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [999, 1000, 1024])
def test_json_nested_near_the_limit_is_refused_not_raised(depth: int) -> None:
    """Nesting Python cannot decode and forward gets QEMU's nesting error; the stream goes on."""
    splitter = JSONStreamSplitter()
    out = splitter.feed(b"[" * depth + b"]" * depth + b'\n{"execute": "x"}')
    assert isinstance(out[0], ParseFailure)
    assert out[0].desc == "JSON nesting depth limit exceeded"
    assert out[-1] == {"execute": "x"}


# -- HMP sessions ----------------------------------------------------------------------------------


def test_subnegotiation_flood_is_data_and_the_line_stays_bounded() -> None:
    """IAC SB without IAC SE is no subnegotiation to QEMU: what follows is typed data, the
    line keeps at most 4095 bytes, and the client stays."""
    channel, tcp = open_session("telnet")
    channel.dataReceived(IAC + SB + b"\x18")
    for _ in range(16):
        channel.dataReceived(b"x" * 1024)
    channel.dataReceived(b"\r")
    channel.factory.clock.advance(0)
    assert tcp.value().endswith(b"unknown command: '" + b"x" * MAX_LINE + b"'\r\n(qemu) ")
    assert not tcp.disconnecting


def test_thousands_of_option_requests_are_never_answered_and_lines_still_run() -> None:
    """Ten thousand WILL/DO requests are taken out of the input and answered by nothing, as
    QEMU's telnet chardev does; the line after them runs."""
    channel, tcp = open_session("telnet")
    channel.dataReceived(b"".join(IAC + bytes([0xFB + n % 2 * 2, n % 256]) for n in range(10000)))
    channel.dataReceived(b"info status\r")
    channel.factory.clock.advance(0)  # the long read is handed on over several turns
    assert tcp.value().endswith(b"\r\n" + STATUS)
    assert IAC not in tcp.value()


def test_cr_cr_lf_ends_three_lines_whatever_the_chunks() -> None:
    """``cmd\\r`` then ``\\r\\n`` is one line and two empty ones (CR and LF each end a line in
    QEMU's readline), in one chunk as in two."""
    one, one_tcp = open_session()
    one.dataReceived(b"info status\r\r\n")
    two, two_tcp = open_session()
    two.dataReceived(b"info status\r")
    two.dataReceived(b"\r\n")
    assert two_tcp.value().endswith(STATUS + b"\r\n(qemu) \r\n(qemu) ")
    assert one_tcp.value() == two_tcp.value()


def test_empty_subnegotiation_leaves_its_se_as_qemu_does() -> None:
    """IAC SB IAC SE: QEMU takes IAC SB and the IAC after it, so SE (0xf0) is a typed byte."""
    channel, tcp = open_session("telnet")
    channel.dataReceived(IAC + SB + IAC + SE + b"info status\n")
    assert tcp.value().endswith(b"unknown command: '\xf0info'\r\n(qemu) ")


# -- the QMP client ----------------------------------------------------------------------------------


def negotiated_client():
    client = QMPClientProtocol()
    tcp = StringTransport()
    client.makeConnection(tcp)
    client.dataReceived(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    assert client.ready.called
    return client, tcp


def test_deeply_nested_reply_from_qemu_is_a_protocol_error() -> None:
    """A reply nested deeper than Python can decode drops the link like other garbage."""
    client, tcp = negotiated_client()
    client.execute({"execute": "x"})
    client.dataReceived(b'{"return": ' + b"[" * 1000 + b"]" * 1000
                        + b', "id": "hmpbridge#2"}\r\n')
    assert tcp.disconnecting


def test_greeting_with_a_number_for_capabilities_does_not_raise() -> None:
    """A greeting whose capabilities member is a number negotiates without oob."""
    client = QMPClientProtocol()
    tcp = StringTransport()
    client.makeConnection(tcp)
    client.dataReceived(b'{"QMP": {"version": {}, "capabilities": 5}}\r\n')
    assert json.loads(tcp.value()) == {"execute": "qmp_capabilities", "id": "hmpbridge#1"}
