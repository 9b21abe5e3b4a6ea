"""Every command QMP can express is translated; only HMP-only ones go to QEMU's monitor.

X
kind: ``native`` (QMP has the commands to build it), ``xquery`` (an
``x-query-*`` command returns the text), ``hmp_only`` or ``session``.
"""

from __future__ import annotations

import csv
import os
from typing import Dict

import pytest

from hmpbridge.commands import NATIVE, PASSTHROUGH, SESSION, XQUERY, all_commands

KINDS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "hmp-kinds.tsv")


def kinds() -> Dict[str, str]:
    with open(KINDS, newline="") as f:
        return {row["name"]: row["kind"] for row in csv.DictReader(f, delimiter="\t")}


SPECS = {spec.name: spec for spec in all_commands()}


@pytest.mark.parametrize("name,kind", sorted(kinds().items()))
def test_strategy_follows_what_qmp_can_express(name: str, kind: str) -> None:
    """A native or xquery command is never passthrough; an HMP-only one always is."""
    spec = SPECS[name]
    allowed = {"native": {NATIVE, XQUERY}, "xquery": {XQUERY, NATIVE},
               "hmp_only": {PASSTHROUGH}, "session": {SESSION, NATIVE}}[kind]
    assert spec.strategy in allowed, f"{name} is {kind} but {spec.strategy}"


def test_every_command_has_a_kind() -> None:
    """The table and the list of kinds name the same commands."""
    assert set(SPECS) == set(kinds())
