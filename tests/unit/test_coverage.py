"""The command tables against QEMU's command lists and hmpbridge's handlers."""

from __future__ import annotations

import os

import pytest

from hmpbridge.commands import (NATIVE, PASSTHROUGH, SESSION, XQUERY, all_commands, by_key,
                                releases, table_for)
from hmpbridge.handlers import HANDLERS, _load_all, handler_for

_load_all()

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")

#: Commands that must be translated natively (never through human-monitor-command).
CORE_NATIVE = [
    "info status", "info version", "info name", "info uuid", "info kvm", "info cpus",
    "info block", "info blockstats", "info chardev", "info pci", "info mice",
    "info balloon", "info iothreads", "info memdev", "info snapshots", "info dump",
    "info block-jobs", "info migrate_parameters", "info migrate_capabilities",
    "stop", "cont", "system_reset", "system_powerdown", "eject", "change",
    "block_resize", "balloon", "device_add", "device_del", "qom-list", "qom-get",
    "qom-set", "migrate_set_parameter", "migrate_set_capability", "chardev-add",
    "chardev-remove", "quit",
]
CORE_SESSION = ["help", "info", "cpu", "print", "info history"]


def _listed(name: str, info: bool) -> list:
    with open(os.path.join(FIXTURES, name), newline="") as f:
        lines = [line for line in f.read().split("\r\n") if line]
    keys = []
    for line in lines:
        words = line.split(" ")
        if info:
            keys.append("info " + words[1].split("|")[0])
        elif not line.startswith("\t") and words[0].split("|")[0] in {
            s.aliases[0] for s in all_commands() if not s.is_info
        }:
            keys.append(words[0].split("|")[0])
    return keys


def test_every_listed_command_has_an_entry() -> None:
    """Every line of QEMU 7.2's help and info listings has a command table entry."""
    listed = _listed("help.txt", info=False) + _listed("info.txt", info=True)
    assert len(listed) == 108 + 67
    assert sorted(listed) == sorted(spec.key for spec in all_commands())


EVERY_ENTRY = {(f"{spec.key}"): spec for release in releases() for spec in table_for(release)}


@pytest.mark.parametrize("spec", EVERY_ENTRY.values(), ids=list(EVERY_ENTRY))
def test_every_entry_has_a_strategy_and_handler(spec) -> None:  # type: ignore[no-untyped-def]
    """In every release, every entry has one strategy; native, xquery and session
    entries have a handler."""
    assert spec.strategy in (NATIVE, XQUERY, PASSTHROUGH, SESSION)
    if spec.strategy != PASSTHROUGH:
        assert handler_for(spec) is not None, f"{spec.key} is {spec.strategy} but has no handler"


@pytest.mark.parametrize("key", CORE_NATIVE)
def test_core_commands_are_native(key: str) -> None:
    """The core commands are translated natively, never passed through."""
    assert by_key(key).strategy == NATIVE
    assert key in HANDLERS


@pytest.mark.parametrize("key", CORE_SESSION)
def test_session_commands(key: str) -> None:
    """help, info, cpu, print and info history are answered per session."""
    assert by_key(key).strategy == SESSION
    assert key in HANDLERS


def test_every_entry_of_every_release_has_columns() -> None:
    """Every command some release lists has hmpbridge's columns (no silent passthrough)."""
    from hmpbridge.commands import COLUMNS

    missing = sorted({spec.key for release in releases() for spec in table_for(release)}
                     - set(COLUMNS))
    assert missing == []
