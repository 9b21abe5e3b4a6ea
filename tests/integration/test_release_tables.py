"""Each QEMU release this machine has lists, live, the commands of its generated table.

QEMU 7.2 (the system's) and 10.0.2 / 11.1.3 (unpacked by
``scripts/qemu-releases.sh``) are started with ``-machine none``; the table
:func:`hmpbridge.tables.nearest` picks for the version QEMU reports must
render ``help`` and ``info`` exactly as that QEMU prints them, and must know
every command ``help <name>`` answers for.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List

import pytest

from hmpbridge import tables
from tests.integration.conftest import ROOT
from tests.tools.capture_help import capture

RELEASES_DIR = os.environ.get("HMPBRIDGE_QEMU_RELEASES", os.path.join(ROOT, ".qemu"))
PROGRAMS = {
    "7.2": "qemu-system-x86_64",
    "10.0.2": os.path.join(RELEASES_DIR, "10.0.2", "qemu-system-x86_64"),
    "11.1.3": os.path.join(RELEASES_DIR, "11.1.3", "qemu-system-x86_64"),
}


def _help_lines(release: str) -> List[str]:
    """``help NAME`` for every alias of the commands and info commands of the table, and
    a few names of other releases."""
    table = tables.load(release)
    # ``help log`` is QEMU's list of log items, not log's entry
    lines = [f"help {a}" for e in table.commands for a in e.name.split("|") if a != "log"]
    lines += [f"help info {e.name}" for e in table.info]
    lines += ["help singlestep", "help one-insn-per-tb", "help info profile", "help clear"]
    # commands of other targets, run
    lines += [("info " if e in table.info else "") + e.name + " 0"
              for e in table.commands + table.info if not e.available_on(table.target)]
    return lines


@pytest.fixture(scope="module", params=sorted(PROGRAMS))
def live(request: pytest.FixtureRequest) -> Iterator[Dict[str, object]]:
    program = PROGRAMS[request.param]
    if os.sep in program and not os.access(program, os.X_OK):
        pytest.skip(f"QEMU {request.param} is not unpacked in {RELEASES_DIR}: "
                    "scripts/qemu-releases.sh needs its packages (HMPBRIDGE_QEMU_DEBS)")
    release = ".".join(request.param.split(".")[:2])
    yield capture([program], _help_lines(release))


@pytest.fixture(scope="module", params=sorted(PROGRAMS))
def preconfig(request: pytest.FixtureRequest) -> Iterator[Dict[str, object]]:
    program = PROGRAMS[request.param]
    if os.sep in program and not os.access(program, os.X_OK):
        pytest.skip(f"QEMU {request.param} is not unpacked in {RELEASES_DIR}: "
                    "scripts/qemu-releases.sh needs its packages (HMPBRIDGE_QEMU_DEBS)")
    yield capture([program], ["help info"], preconfig=True)


def _table(live: Dict[str, object]) -> tables.HxTable:
    version = live["version"]
    assert isinstance(version, dict)
    q = version["qemu"]
    release = tables.nearest(q["major"], q["minor"])
    assert release == (q["major"], q["minor"]), "every release tested live has its own table"
    return tables.load(release)


def test_help_lists_the_table(live) -> None:
    assert _table(live).help_listing().replace("\n", "\r\n") == live["help"]


def test_info_lists_the_info_table(live) -> None:
    assert _table(live).help_listing(info=True).replace("\n", "\r\n") == live["info"]


def test_help_of_each_name_is_its_entry(live) -> None:
    """``help NAME`` prints the entry of every alias the table has, and QEMU's
    ``unknown command`` for the names of other releases the table lacks."""
    table = _table(live)
    answers = live["lines"]
    assert isinstance(answers, dict)
    for line, text in answers.items():
        words = line.split()[1:]
        if line.split()[0] != "help" or words in ([], ["info"]):
            continue
        if words[0] == "info":
            entry = table.info_command(words[1])
            known = entry is not None and entry.available_on(table.target)
            want = "info " + entry.help_line if entry and known else (
                f"unknown command: 'info {words[1]}'\n")
        else:
            entry = table.command(words[0])
            known = entry is not None and entry.available_on(table.target)
            want = entry.help_line if entry and known else f"unknown command: '{words[0]}'\n"
        assert text == want.replace("\n", "\r\n"), line


def test_before_machine_init_the_preconfig_entries_are_listed(preconfig) -> None:
    """QEMU in ``--preconfig`` lists only the entries flagged ``p``, on its own monitor."""
    table = _table(preconfig)
    assert table.help_listing(preconfig=True).replace("\n", "\r\n") == preconfig["help"]
    info = table.help_listing(info=True, preconfig=True).replace("\n", "\r\n")
    assert info == preconfig["info"]
    assert preconfig["lines"]["help info"] == info


def test_commands_of_other_targets_are_found_and_refused(live) -> None:
    """QEMU 11.1 keeps s390x's commands in its x86_64 program; it does not list them
    (above) and refuses them as it refuses a command before machine init."""
    table = _table(live)
    others = [("info " if e in table.info else "") + e.name
              for e in table.commands + table.info if not e.available_on(table.target)]
    if table.release < (11, 1):
        assert not others
        return
    assert others
    for name in others:
        assert live["lines"][name + " 0"] == (
            f"Command '{name}' not available until machine initialization has completed.\r\n")
