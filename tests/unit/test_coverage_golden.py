"""Every natively translated command is checked against QEMU 7.2 twice over.

A command carried out by hmpbridge itself (``native`` or ``xquery``) needs a
golden fixture (its QMP exchange and QEMU's own text, replayed by
``test_golden_info.py``) and a line in a differential corpus
(``tests/corpus/*.hmp``, run against twin VMs by ``test_fidelity.py``).  The
few that cannot take part in one of them are exempt here, each with the
reason and the test that covers it instead.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Dict, Set

import pytest

from hmpbridge.commands import NATIVE, XQUERY, all_commands
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import parse

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(TESTS, "golden", "fixtures")
CORPUS = os.path.join(TESTS, "corpus")

#: Commands that cannot have a golden fixture: key -> why, and what covers them.
NO_FIXTURE: Dict[str, str] = {}

#: Commands that cannot run in a twin corpus: key -> why, and what covers them.
NO_CORPUS: Dict[str, str] = {
    "quit": "QEMU exits, so no later line or state probe could run; "
            "tests/integration/test_cli_process.py::test_own_qemu_is_started_served_and_stopped "
            "sends quit through the bridge and sees QEMU and the bridge end",
    "getfd": "the descriptor travels with SCM_RIGHTS on a unix socket, which a corpus line "
             "cannot carry; tests/integration/test_clients.py::"
             "test_getfd_passes_the_clients_descriptor_to_qemu passes one and compares "
             "the no-descriptor error with QEMU's",
    "closefd": "it closes what getfd received; tests/integration/test_clients.py::"
               "test_getfd_passes_the_clients_descriptor_to_qemu closes a passed descriptor "
               "and compares the unknown-name error with QEMU's",
}

TRANSLATED = sorted(spec.key for spec in all_commands() if spec.strategy in (NATIVE, XQUERY))


def _fixture_handlers() -> Set[str]:
    found: Set[str] = set()
    for path in glob.glob(os.path.join(FIXTURES, "*.json")):
        with open(path) as f:
            found.add(json.load(f)["handler"])
    return found


def _corpus_keys() -> Set[str]:
    """The command keys of every corpus line that parses (QEMU's parse errors are lines too)."""
    found: Set[str] = set()
    for path in glob.glob(os.path.join(CORPUS, "*.hmp")):
        with open(path) as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    inv = parse(line.format(dir="/tmp/d", media="/tmp/d/media.iso"))
                except ParseError:
                    continue
                found.add(inv.spec.key)
    return found


FIXTURE_HANDLERS = _fixture_handlers()
CORPUS_KEYS = _corpus_keys()


@pytest.mark.parametrize("key", TRANSLATED)
def test_has_a_golden_fixture(key: str) -> None:
    """A translated command has a fixture captured from QEMU 7.2, or a stated exemption."""
    if key in NO_FIXTURE:
        assert key not in FIXTURE_HANDLERS, f"{key} has fixtures now: drop its exemption"
        return
    assert key in FIXTURE_HANDLERS, f"no golden fixture records {key!r}"


@pytest.mark.parametrize("key", TRANSLATED)
def test_has_a_corpus_line(key: str) -> None:
    """A translated command appears in a differential corpus (or a stated exemption)."""
    if key in NO_CORPUS:
        assert key not in CORPUS_KEYS, f"{key} is in a corpus now: drop its exemption"
        return
    assert key in CORPUS_KEYS, f"no corpus line runs {key!r}"


def test_exemptions_name_translated_commands() -> None:
    """Every exemption names a translated command and says what covers it instead."""
    for key, reason in {**NO_FIXTURE, **NO_CORPUS}.items():
        assert key in TRANSLATED, f"{key} is not native or xquery"
        assert "tests/" in reason or "fixtures being added" in reason
