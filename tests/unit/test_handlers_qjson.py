"""QEMU's JSON: the pretty writer qom-get prints with, the reader qom-set -j parses with."""

from __future__ import annotations

from typing import Any

import pytest

from hmpbridge.qjson import JSONError, from_json, to_json, to_pretty_json


# Every expected text in this file was captured from QEMU 7.2.22 via human-monitor-command
# (qom-get for the writer, qom-set -j for the reader).

def test_scalars() -> None:
    """When the value is a scalar, it prints alone: strings quoted, numbers and booleans bare."""
    assert to_pretty_json("52:54:00:12:34:56") == '"52:54:00:12:34:56"'
    assert to_pretty_json(0) == "0"
    assert to_pretty_json(True) == "true"
    assert to_pretty_json(18446744073709551615) == "18446744073709551615"


def test_escapes_are_upper_case() -> None:
    """When a string holds non-ASCII or control characters, they print as upper-case \\uXXXX."""
    value = 'h\u00e9llo \x01\t/"\\ \U0001F600 \x7f'
    assert to_pretty_json(value) == \
        '"h\\u00E9llo \\u0001\\t/\\"\\\\ \\uD83D\\uDE00 \\u007F"'
    assert to_pretty_json("a\x00b") == '"a\\u0000b"'


def test_empty_containers_take_two_lines() -> None:
    """When an array or object is empty, it opens and closes on separate lines."""
    assert to_pretty_json([]) == "[\n]"
    assert to_pretty_json({}) == "{\n}"
    assert to_pretty_json({"a": []}) == '{\n    "a": [\n    ]\n}'


def test_nested_object() -> None:
    """When objects nest, each level indents four spaces and closes at its parent's indent."""
    value = {"stats": {"stat-swap-out": 18446744073709551615,
                       "stat-available-memory": 18446744073709551615},
             "last-update": 0}
    assert to_pretty_json(value) == (
        '{\n    "stats": {\n        "stat-swap-out": 18446744073709551615,\n'
        '        "stat-available-memory": 18446744073709551615\n    },\n'
        '    "last-update": 0\n}')


def test_array_of_objects() -> None:
    """When an array holds objects, each object opens on its own indented line."""
    value = [{"cpuid-register": "EDX", "cpuid-input-ecx": 1, "cpuid-input-eax": 13,
              "features": 0}]
    assert to_pretty_json(value) == (
        '[\n    {\n        "cpuid-register": "EDX",\n        "cpuid-input-ecx": 1,\n'
        '        "cpuid-input-eax": 13,\n        "features": 0\n    }\n]')


def test_floats_use_17_digits() -> None:
    """When the value is a float, it prints with %.17g."""
    assert to_pretty_json(0.1) == "0.10000000000000001"
    assert to_pretty_json(1.5) == "1.5"


@pytest.mark.parametrize("text, value", [
    ("7", 7), ("-0", 0), ("1.5", 1.5), ("null", None), ("true", True),
    ('"a\\u0000b"', "a\x00b"),
    ("'it\\'s \"q\"'", 'it\'s "q"'),
    ('"\\ud83d\\ude00"', "\U0001F600"),
    ('{"a": [1, {}]}', {"a": [1, {}]}),
    ("18446744073709551615", 18446744073709551615),
    (" [ 1 , 2 ] ", [1, 2]),
])
def test_reader_accepts_what_qemu_accepts(text: str, value: Any) -> None:
    """When the text is JSON as QEMU reads it (single quotes included), the value comes back."""
    assert from_json(text) == value


@pytest.mark.parametrize("text, message", [
    ('"x', "JSON parse error, stray '\"x'"),
    ("{", "JSON parse error, premature EOI"),
    ("[1,", "JSON parse error, premature EOI"),
    ("1 2", "Expecting at most one JSON value"),
    ("'it''s'", "Expecting at most one JSON value"),
    ("1x", "Expecting at most one JSON value"),
    ("xyz", "JSON parse error, invalid keyword 'xyz'"),
    ('"\\u12"', 'JSON parse error, \\u12" is not a valid Unicode character'),
    ('"\\uFFFF"', "JSON parse error, \\uFFFF is not a valid Unicode character"),
    ('"\\ud800"', "JSON parse error, \\ud800 is not a valid Unicode character"),
    ('"\\q"', "JSON parse error, invalid escape sequence in string"),
    ('{"a":1,"a":2}', "JSON parse error, duplicate key"),
    ('{"a" 1}', "JSON parse error, missing : in object pair"),
    ("{1:2}", "JSON parse error, key is not a string in object"),
    ("[1 2]", "JSON parse error, expected separator in list"),
    ("]", "JSON parse error, expecting value"),
    ("[}", "JSON parse error, expecting value"),
    ('{"a":}', "JSON parse error, expecting value"),
    ("[,]", "JSON parse error, expecting value"),
    ("-", "JSON parse error, stray '-'"),
    ("1.", "JSON parse error, stray '1.'"),
    ("@", "JSON parse error, stray '@'"),
    ("True", "JSON parse error, stray 'T'"),
    ("01", "JSON parse error, stray '01'"),
])
def test_reader_errors_are_qemus(text: str, message: str) -> None:
    """When QEMU refuses the JSON, the error carries its exact message."""
    with pytest.raises(JSONError) as err:
        from_json(text)
    assert str(err.value) == message


def test_one_line_writer() -> None:
    """When written on one line, items part with ", " and a key ends with ": ", as QEMU writes."""
    assert to_json({"a": [1, "x"], "b": {}}) == '{"a": [1, "x"], "b": {}}'
    assert to_json("auto") == '"auto"'
    assert to_json(-1) == "-1"
    assert to_json(0.5) == "0.5"
