"""Every release with a command table: each command its ``help`` and ``info`` list is served.

For each release of :func:`hmpbridge.tables.releases` (generated from that
release's ``hmp-commands*.hx``), the bridge's table for it,
:func:`hmpbridge.commands.table_for`, must have an entry with a strategy for
every command and ``info`` subcommand (under every alias), and none that the
release lacks.  Every command whose QMP commands (the table's ``qmp``
column) all exist in that release's QMP (its live schema where one was
captured, ``tests/fixtures/releases/<X.Y>/schema.json``; else its QAPI
sources, ``qmp-commands.json`` written by ``tests/tools/capture_qapi_commands.py``,
which must name the same commands as each live schema) is translated
(``native`` or ``xquery``), never left to QEMU's human monitor; except the
commands ``tests/fixtures/hmp-kinds.tsv`` finds QMP cannot express
(``hmp_only``: ``drive_del`` names ``blockdev-del``, which deletes a node,
not a ``-drive`` with its device).

A release whose table ``table_for`` does not give yet is skipped, saying so.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from typing import FrozenSet, List, Optional, Tuple

import pytest

from hmpbridge import tables
from hmpbridge.commands import NATIVE, PASSTHROUGH, SESSION, XQUERY, CommandTable, table_for

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
RELEASES_FIXTURES = os.path.join(FIXTURES, "releases")
STRATEGIES = {NATIVE, XQUERY, PASSTHROUGH, SESSION}
Release = Tuple[int, int]


def release_id(release: Release) -> str:
    return f"{release[0]}.{release[1]}"


@functools.lru_cache(maxsize=None)
def schema_commands(release: Release) -> Optional[FrozenSet[str]]:
    """The QMP commands of ``release``: its captured schema's, else its QAPI sources'."""
    return live_commands(release) or source_commands(release)


@functools.lru_cache(maxsize=None)
def source_commands(release: Release) -> Optional[FrozenSet[str]]:
    """The QMP commands ``release``'s QAPI sources give Debian's x86_64 build, if read."""
    path = os.path.join(RELEASES_FIXTURES, release_id(release), "qmp-commands.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return frozenset(json.load(f)["commands"])


@functools.lru_cache(maxsize=None)
def live_commands(release: Release) -> Optional[FrozenSet[str]]:
    """The QMP commands of ``release``'s captured schema, or None when not captured."""
    path = os.path.join(RELEASES_FIXTURES, release_id(release), "schema.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        schema = json.load(f)
    if isinstance(schema, dict):  # a whole reply: {"return": [...]}
        schema = schema["return"]
    return frozenset(entry["name"] for entry in schema if entry.get("meta-type") == "command")


@functools.lru_cache(maxsize=None)
def hmp_only() -> FrozenSet[str]:
    """The commands QMP cannot express, by ``tests/fixtures/hmp-kinds.tsv``."""
    with open(os.path.join(FIXTURES, "hmp-kinds.tsv"), newline="") as f:
        return frozenset(row["name"] for row in csv.DictReader(f, delimiter="\t")
                         if row["kind"] == "hmp_only")


def bridge_table(release: Release) -> CommandTable:
    """``table_for(release)``, or a skip while it gives another release's table."""
    table = table_for(release)
    if tuple(table.release) != release:
        pytest.skip(f"table_for({release}) gives {release_id(table.release)}'s table: "
                    "the per-release command tables are not in place yet")
    return table


def hx_names(release: Release) -> List[Tuple[str, bool]]:
    """``(alias, is_info)`` of every command and info subcommand ``release`` lists."""
    hx = tables.load(release)
    return ([(alias, False) for entry in hx.commands for alias in entry.name.split("|")]
            + [(alias, True) for entry in hx.info for alias in entry.name.split("|")])


RELEASES = list(tables.releases())


@pytest.mark.parametrize("release", RELEASES, ids=map(release_id, RELEASES))
def test_every_listed_command_has_an_entry_with_a_strategy(release: Release) -> None:
    """When a release lists a command in help or info, its table serves it with a strategy."""
    table = bridge_table(release)
    missing, unset = [], []
    for alias, is_info in hx_names(release):
        spec = table.lookup_info(alias) if is_info else table.lookup(alias)
        name = f"info {alias}" if is_info else alias
        if spec is None:
            missing.append(name)
        elif spec.strategy not in STRATEGIES:
            unset.append(f"{name}: {spec.strategy!r}")
    assert not missing, f"{release_id(release)} lists commands its table lacks: {missing}"
    assert not unset, f"entries of {release_id(release)} without a strategy: {unset}"


@pytest.mark.parametrize("release", RELEASES, ids=map(release_id, RELEASES))
def test_the_table_has_no_command_the_release_lacks(release: Release) -> None:
    """When a release does not list a command, its table does not offer it either."""
    table = bridge_table(release)
    listed = set(hx_names(release))
    extra = sorted([f"{alias}" for alias in table.top if (alias, False) not in listed]
                   + [f"info {alias}" for alias in table.info if (alias, True) not in listed])
    assert not extra, f"{release_id(release)}'s table has commands it does not list: {extra}"


@pytest.mark.parametrize("release", RELEASES, ids=map(release_id, RELEASES))
def test_commands_qmp_can_express_are_translated(release: Release) -> None:
    """When the release's schema has a command's QMP commands, the bridge translates it."""
    commands = schema_commands(release)
    if commands is None:
        pytest.skip(f"no QMP commands known for {release_id(release)}")
    table = bridge_table(release)
    left = sorted(spec.key for spec in table
                  if spec.qmp and set(spec.qmp) <= commands and spec.name not in hmp_only()
                  and spec.strategy not in (NATIVE, XQUERY, SESSION))
    assert not left, (f"{release_id(release)}: QMP can express these, yet they go to QEMU's "
                      f"human monitor: {left}")


BOTH = [r for r in RELEASES if live_commands(r) is not None and source_commands(r) is not None]


def test_sources_and_live_schemas_meet_on_two_releases_at_least() -> None:
    assert len(BOTH) >= 2, "the QAPI sources are checked against live schemas of 7.2 and 10.0"


@pytest.mark.parametrize("release", BOTH, ids=map(release_id, BOTH))
def test_qapi_sources_name_the_live_schemas_commands(release: Release) -> None:
    """Where both were captured, the commands read from the QAPI sources (with the ``if``
    conditions of Debian's x86_64 build) are exactly those the live QEMU offers."""
    live, source = live_commands(release), source_commands(release)
    assert live is not None and source is not None
    assert sorted(live ^ source) == []


def test_every_release_without_a_live_schema_has_its_sources_read() -> None:
    """A release with a table but no live QEMU here still knows its QMP commands."""
    missing = [release_id(r) for r in RELEASES if schema_commands(r) is None]
    assert missing == []


def test_every_release_with_a_schema_has_a_table() -> None:
    """When a release's schema is captured, a command table for it exists too."""
    captured = sorted(name for name in os.listdir(RELEASES_FIXTURES)
                      if os.path.exists(os.path.join(RELEASES_FIXTURES, name, "schema.json")))
    have = {release_id(release) for release in RELEASES}
    assert set(captured) <= have, sorted(set(captured) - have)
