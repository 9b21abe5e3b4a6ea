"""qom-list, qom-get and qom-set."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_key

_load_all()

NIC0 = [{"name": "type", "type": "string"}, {"name": "addr", "type": "int32"},
        {"name": "mac", "type": "str"}, {"name": "realized", "type": "bool"},
        {"name": "romsize", "type": "uint32"}, {"name": "size", "type": "size"},
        {"name": "bus master[0]", "type": "child<memory-region>"}]


Script = CannedReplies


def run(key: str, args: Dict[str, Any], script: Script) -> str:
    return run_key(key, args, script)


def qom_set(path: str, prop: str, value: str, script: Script, json: bool = False) -> str:
    return run("qom-set", {"json": json, "path": path, "property": prop, "value": value}, script)


def test_qom_list_without_path_prints_root() -> None:
    """When qom-list has no path, / is printed and nothing is sent."""
    script = Script()
    assert run("qom-list", {}, script) == "/\n"
    assert script.sent == []


def test_qom_list_prints_name_and_type() -> None:
    """When qom-list has a path, each property prints as name (type) in QMP order."""
    script = Script({"qom-list": NIC0[:3]})
    assert run("qom-list", {"path": "nic0"}, script) == \
        "type (string)\naddr (int32)\nmac (str)\n"
    assert script.sent == [QMPCommand("qom-list", {"path": "nic0"})]


def test_qom_get_scalar() -> None:
    """When qom-get returns a string, it prints quoted."""
    # Captured from QEMU 7.2.22 via human-monitor-command.
    script = Script({"qom-get": "52:54:00:12:34:56"})
    assert run("qom-get", {"path": "nic0", "property": "mac"}, script) == \
        '"52:54:00:12:34:56"\n'
    assert script.sent == [QMPCommand("qom-get", {"path": "nic0", "property": "mac"})]


def test_qom_get_object() -> None:
    """When qom-get returns an object, it prints as QEMU's pretty JSON."""
    script = Script({"qom-get": {"stats": {"stat-swap-in": 18446744073709551615},
                                 "last-update": 0}})
    # Captured from QEMU 7.2.22 via human-monitor-command (one stat kept).
    assert run("qom-get", {"path": "/machine/peripheral/balloon0", "property": "guest-stats"},
               script) == ('{\n    "stats": {\n        "stat-swap-in": 18446744073709551615\n'
                           '    },\n    "last-update": 0\n}\n')


def test_qom_set_json_sends_the_parsed_value() -> None:
    """When qom-set has -j, the JSON value is sent as parsed, with no lookup."""
    script = Script()
    assert qom_set("balloon0", "guest-stats-polling-interval", "7", script, json=True) == ""
    assert script.sent == [QMPCommand("qom-set", {"path": "balloon0",
                                                  "property": "guest-stats-polling-interval",
                                                  "value": 7})]


@pytest.mark.parametrize("text, message", [
    ('"x', "Error: JSON parse error, stray '\"x'\n"),
    ("{", "Error: JSON parse error, premature EOI\n"),
    ("1 2", "Error: Expecting at most one JSON value\n"),
    ("xyz", "Error: JSON parse error, invalid keyword 'xyz'\n"),
])
def test_qom_set_json_errors(text: str, message: str) -> None:
    """When the -j value is not JSON, QEMU's parse error is printed and nothing is sent."""
    # Captured from QEMU 7.2.22 via human-monitor-command.
    script = Script()
    assert qom_set("nic0", "mac", text, script, json=True) == message
    assert script.sent == []


@pytest.mark.parametrize("prop, text, value", [
    ("addr", "3", 3), ("addr", "0x10", 16), ("addr", "010", 8), ("addr", "-2", -2),
    ("romsize", "-1", 18446744073709551615), ("realized", "yes", True),
    ("realized", "off", False), ("mac", "52:54:00:00:00:01", "52:54:00:00:00:01"),
    ("size", "1k", 1024), ("type", "x", "x"),
])
def test_qom_set_text_is_typed_by_the_property(prop: str, text: str, value: Any) -> None:
    """When qom-set has no -j, the text is converted after the property type qom-list gives."""
    script = Script({"qom-list": NIC0})
    assert qom_set("nic0", prop, text, script) == ""
    assert script.sent == [QMPCommand("qom-list", {"path": "nic0"}),
                           QMPCommand("qom-set", {"path": "nic0", "property": prop,
                                                  "value": value})]


def test_qom_set_unknown_path() -> None:
    """When the path does not resolve, HMP's Device not found is printed."""
    script = Script({"qom-list": QMPCommandError("GenericError", "Path 'x' is ambiguous")})
    assert qom_set("x", "a", "1", script) == "Error: Device 'x' not found\n"
    assert len(script.sent) == 1


def test_qom_set_unknown_property_is_left_to_qemu() -> None:
    """When the property is not listed, the text is sent and QEMU's error printed."""
    script = Script({"qom-list": NIC0, "qom-set": QMPCommandError(
        "GenericError", "Property 'e1000.nosuch' not found")})
    assert qom_set("nic0", "nosuch", "1", script) == \
        "Error: Property 'e1000.nosuch' not found\n"
    assert script.sent[-1].arguments == {"path": "nic0", "property": "nosuch", "value": "1"}


def test_qom_set_bad_text_prints_the_string_visitor_error() -> None:
    """When the text does not fit the type and QEMU complains of it, HMP's wording is printed."""
    wrong_type = ("Invalid parameter type for 'guest-stats-polling-interval', "
                  "expected: integer")
    script = Script({"qom-list": [{"name": "guest-stats-polling-interval", "type": "int"}],
                     "qom-set": QMPCommandError("GenericError", wrong_type)})
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert qom_set("balloon0", "guest-stats-polling-interval", "abc", script) == \
        "Error: Parameter 'guest-stats-polling-interval' expects int64\n"


def test_qom_set_bad_text_on_a_realized_device_prints_qemus_error() -> None:
    """When QEMU refuses the set before reading the value, its own error is printed."""
    realized = ("Attempt to set property 'addr' on device 'nic0' (type 'e1000') "
                "after it was realized")
    script = Script({"qom-list": NIC0, "qom-set": QMPCommandError("GenericError", realized)})
    assert qom_set("nic0", "addr", "zz", script) == f"Error: {realized}\n"
