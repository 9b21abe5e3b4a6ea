"""migrate_set_parameter and migrate_set_capability."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_key

_load_all()

SIZE_HINT = ("Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
             "and exabytes, respectively.\n")


Script = CannedReplies


def run(key: str, args: Dict[str, Any], script: Script) -> str:
    return run_key(key, args, script)


def set_param(name: str, value: str, script: Optional[Script] = None) -> str:
    return run("migrate_set_parameter", {"parameter": name, "value": value}, script or Script())


@pytest.mark.parametrize("name, text, value", [
    ("max-bandwidth", "10", 10485760),
    ("max-bandwidth", "1.5", 1572864),
    ("max-bandwidth", "1b", 1),
    ("max-bandwidth", "1.k", 1024),
    ("xbzrle-cache-size", "128M", 134217728),
    ("downtime-limit", "1k", 1024),
    ("downtime-limit", "0.5k", 512),
    ("announce-rounds", "5", 5),
    ("compress-level", "0x5", 5),
    ("compress-level", "010", 8),
    ("compress-level", " 7", 7),
    ("compress-level", "+7", 7),
    ("x-checkpoint-delay", "2000", 2000),
    ("compress-wait-thread", "y", True),
    ("block-incremental", "false", False),
    ("tls-creds", "", ""),
    ("tls-hostname", "ho", "ho"),
    ("multifd-compression", "zstd", "zstd"),
])
def test_parameter_conversions(name: str, text: str, value: Any) -> None:
    """When the value converts, migrate-set-parameters gets the typed value; nothing is printed."""
    script = Script()
    assert set_param(name, text, script) == ""
    assert script.sent == [QMPCommand("migrate-set-parameters", {name: value})]


# Every message below was captured from QEMU 7.2.22 via human-monitor-command.
@pytest.mark.parametrize("name, text, message", [
    ("nosuch", "1", "Error: invalid parameter value: nosuch\n"),
    ("compress-level", "x", "Error: Parameter 'compress-level' expects uint64\n"),
    ("compress-level", "", "Error: Parameter 'compress-level' expects uint64\n"),
    ("compress-level", "7 ", "Error: Parameter 'compress-level' expects uint64\n"),
    ("compress-level", "300", "Error: Parameter 'compress-level' expects uint8_t\n"),
    ("compress-level", "-1", "Error: Parameter 'compress-level' expects uint8_t\n"),
    ("x-checkpoint-delay", "5000000000",
     "Error: Parameter 'x-checkpoint-delay' expects uint32_t\n"),
    ("compress-wait-thread", "ON",
     "Error: Parameter 'compress-wait-thread' expects 'on' or 'off'\n"),
    ("max-bandwidth", "10x", "Error: Invalid size 10x\n"),
    ("max-bandwidth", "-1", "Error: Invalid size -1\n"),
    ("max-bandwidth", "1.5b", "Error: Invalid size 1.5b\n"),
    ("max-bandwidth", "1.5e3", "Error: Invalid size 1.5e3\n"),
    ("max-bandwidth", "8796093022208", "Error: Invalid size 8796093022208\n"),
    ("xbzrle-cache-size", "15E", "Error: Invalid size 15E\n"),
    ("xbzrle-cache-size", "16E",
     "Error: Value '16E' is out of range for parameter 'xbzrle-cache-size'\n"),
    ("downtime-limit", "abc",
     "Error: Parameter 'downtime-limit' expects a non-negative number below 2^64\n" + SIZE_HINT),
    ("block-bitmap-mapping", "x",
     "Error: The block-bitmap-mapping parameter can only be set through QMP\n"),
])
def test_parameter_errors(name: str, text: str, message: str) -> None:
    """When HMP's conversion refuses the value, QEMU's message is printed and nothing is sent."""
    script = Script()
    assert set_param(name, text, script) == message
    assert script.sent == []


def test_hex_size_with_suffix_warns_and_sets() -> None:
    """When a hex size carries a suffix, QEMU 7.2's warning is printed and the value set."""
    script = Script()
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert set_param("max-bandwidth", "0x1k", script) == \
        "warning: Using a multiplier suffix on hex numbers is deprecated: 0x1k\n"
    assert script.sent == [QMPCommand("migrate-set-parameters", {"max-bandwidth": 1024})]


def test_qmp_range_error_is_printed() -> None:
    """When QEMU's own check refuses the value, its error is printed."""
    desc = "Parameter 'compress_level' expects a value between 0 and 9"
    script = Script({"migrate-set-parameters": QMPCommandError("GenericError", desc)})
    assert set_param("compress-level", "10", script) == f"Error: {desc}\n"


def test_set_capability() -> None:
    """When the capability is known, migrate-set-capabilities gets a one-item list."""
    script = Script()
    assert run("migrate_set_capability", {"capability": "xbzrle", "state": True}, script) == ""
    assert script.sent == [QMPCommand("migrate-set-capabilities", {
        "capabilities": [{"capability": "xbzrle", "state": True}]})]


def test_set_unknown_capability() -> None:
    """When the capability is unknown, HMP's message is printed and nothing is sent."""
    script = Script()
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert run("migrate_set_capability", {"capability": "bogus", "state": True}, script) == \
        "Error: invalid parameter value: bogus\n"
    assert script.sent == []
