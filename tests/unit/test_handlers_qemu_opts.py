"""QEMU's text conversions: QemuOpts strings, sizes, integers, booleans."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from hmpbridge.qemu_opts import (
    OptsError,
    bool_parse,
    parse_option_size,
    parse_opts,
    string_visitor_value,
    strtosz,
    strtou64,
)


@pytest.mark.parametrize("text, unit, value", [
    ("10", "M", 10 << 20), ("10M", "M", 10 << 20), ("1.5", "M", 1572864), ("1.", "M", 1 << 20),
    ("1.k", "M", 1024), ("1b", "M", 1), ("1e", "M", 1 << 60), ("0x10", "M", 16 << 20),
    ("1k", "B", 1024), ("500", "B", 500), ("0.5k", "B", 512), (" 5", "B", 5),
    ("1.5e", "M", 3 << 59),
])
def test_strtosz(text: str, unit: str, value: int) -> None:
    """When a size is valid for qemu_strtosz, its byte value comes out."""
    assert strtosz(text, unit) == value


@pytest.mark.parametrize("text", ["abc", "-1", "10x", "1.5b", "1.5e3", "", "0x1.5", "1.0 "])
def test_strtosz_refuses(text: str) -> None:
    """When a size is malformed, strtosz refuses it as invalid."""
    with pytest.raises(OptsError) as err:
        strtosz(text, "M")
    assert err.value.kind == "einval"


def test_strtosz_overflow_is_a_range_error() -> None:
    """When a size exceeds 64 bits, the error is a range error."""
    with pytest.raises(OptsError) as err:
        strtosz("16E")
    assert err.value.kind == "erange"


def test_hex_with_suffix_warns() -> None:
    """When hex carries a suffix, QEMU 7.2's deprecation warning is collected."""
    warnings: list = []
    assert strtosz("0x1k", "M", warnings) == 1024
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert warnings == ["warning: Using a multiplier suffix on hex numbers is deprecated: 0x1k"]


def test_option_size_messages() -> None:
    """When parse_option_size refuses a value, the lines are QEMU's, hint included."""
    # Captured from QEMU 7.2.22 via human-monitor-command.
    with pytest.raises(OptsError) as err:
        parse_option_size("downtime-limit", "abc")
    assert err.value.text() == (
        "Error: Parameter 'downtime-limit' expects a non-negative number below 2^64\n"
        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
        "and exabytes, respectively.\n")
    with pytest.raises(OptsError) as err:
        parse_option_size("xbzrle-cache-size", "16E")
    assert err.value.message == \
        "Value '16E' is out of range for parameter 'xbzrle-cache-size'"


@pytest.mark.parametrize("text, value", [
    ("7", 7), ("0x10", 16), ("010", 8), ("+7", 7), (" 7", 7), ("-1", (1 << 64) - 1),
])
def test_strtou64(text: str, value: int) -> None:
    """When qemu_strtou64 reads base 0, prefixes count and negatives wrap."""
    assert strtou64(text) == value


@pytest.mark.parametrize("text", ["7 ", "", "08", "x", "0x"])
def test_strtou64_refuses(text: str) -> None:
    """When characters are left over, qemu_strtou64 refuses the text."""
    with pytest.raises(OptsError):
        strtou64(text)


def test_bool_parse() -> None:
    """When a boolean is read, the six words and y/n work, anything else is QEMU's error."""
    assert [bool_parse("b", w) for w in ("on", "yes", "true", "y")] == [True] * 4
    assert [bool_parse("b", w) for w in ("off", "no", "false", "n")] == [False] * 4
    with pytest.raises(OptsError) as err:
        bool_parse("compress-wait-thread", "ON")
    assert err.value.message == "Parameter 'compress-wait-thread' expects 'on' or 'off'"


@pytest.mark.parametrize("ptype, text, value", [
    ("int32", "0x10", 16), ("int", "-3", -3), ("uint32", "-1", (1 << 64) - 1),
    ("bool", "yes", True), ("str", " a b ", " a b "), ("OnOffAuto", "auto", "auto"),
    ("size", "1k", 1024), ("link<bus>", "/x", "/x"),
])
def test_string_visitor_value(ptype: str, text: str, value: Any) -> None:
    """When a text meets a property type, it reads as QEMU's string input visitor reads it."""
    assert string_visitor_value(ptype, "p", text) == value


@pytest.mark.parametrize("ptype, message", [
    ("int32", "Parameter 'p' expects int64"), ("uint8", "Parameter 'p' expects uint64"),
    ("bool", "Parameter 'p' expects 'on' or 'off'"),
])
def test_string_visitor_errors(ptype: str, message: str) -> None:
    """When the text does not fit the type, the string input visitor's message comes out."""
    with pytest.raises(OptsError) as err:
        string_visitor_value(ptype, "p", "abc")
    assert err.value.message == message


DESC = {"backend": "string", "path": "string", "server": "bool", "wait": "bool",
        "delay": "bool", "nodelay": "bool", "size": "size", "reconnect": "number"}


@pytest.mark.parametrize("text, opts", [
    ("socket,id=s0,path=/x", {"id": "s0", "backend": "socket", "path": "/x"}),
    ("null,id=a,id=b", {"id": "a", "backend": "null"}),
    ("a,,b,id=x", {"id": "x", "backend": "a,b"}),
    ("id=x", {"id": "x"}),
    ("null,id=x,server=on,server=off", {"id": "x", "backend": "null", "server": False}),
    ("null,id=x,size=1k,reconnect=0x10", {"id": "x", "backend": "null", "size": 1024,
                                          "reconnect": 16}),
    ("null,id=x,", {"id": "x", "backend": "null"}),
])
def test_parse_opts(text: str, opts: Dict[str, Any]) -> None:
    """When a QemuOpts string parses, the first id and the last of each option are kept."""
    assert parse_opts(text, "backend", DESC).as_dict() == opts


def test_parse_opts_short_booleans() -> None:
    """When booleans are bare, QEMU's warnings are collected and no-prefixed names are off."""
    parsed = parse_opts("null,id=n5,nodelay,delay,wait,noserver", "backend", DESC)
    assert parsed.as_dict() == {"id": "n5", "backend": "null", "delay": True, "wait": True,
                                "server": False}
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert parsed.warnings == [
        "warning: short-form boolean option 'nodelay' deprecated",
        "Please use nodelay=on instead",
        "warning: short-form boolean option 'delay' deprecated",
        "Please use nodelay=off instead",
        "warning: short-form boolean option 'wait' deprecated",
        "Please use wait=on instead",
        "warning: short-form boolean option 'noserver' deprecated",
        "Please use server=off instead",
    ]


def test_parse_opts_any_list() -> None:
    """When the list takes any option, bare names are on without warnings and help is an option."""
    parsed = parse_opts("e1000,id=a,id=b,nobogus,help", "driver", None)
    assert parsed.as_dict() == {"id": "a", "driver": "e1000", "bogus": "off", "help": "on"}
    assert parsed.warnings == [] and not parsed.help_wanted


@pytest.mark.parametrize("text, lines", [
    ("null,id=1bad", ("Parameter 'id' expects an identifier",
                      "Identifiers consist of letters, digits, '-', '.', '_', "
                      "starting with a letter.")),
    ("null,id=x,bogus=1", ("Invalid parameter 'bogus'",)),
    ("null,id=x,server=maybe", ("Parameter 'server' expects 'on' or 'off'",)),
    ("null,id=x,reconnect=x", ("Parameter 'reconnect' expects a number",)),
])
def test_parse_opts_errors(text: str, lines: Optional[tuple]) -> None:
    """When an option is refused, the error lines are QEMU's."""
    # Captured from QEMU 7.2.22 via human-monitor-command (chardev-add).
    with pytest.raises(OptsError) as err:
        parse_opts(text, "backend", DESC)
    assert err.value.lines == lines


def test_parse_opts_help() -> None:
    """When a fixed list meets a bare help, help is wanted."""
    assert parse_opts("null,help", "backend", DESC).help_wanted
