"""The twin corpora's release markers and the known-differences list, as the fidelity suite reads them.

``tests/integration/corpus.py`` decides which corpus lines run on which QEMU
release; a mistake there would silently drop lines from the twin checks of
a release.  Plain examples, Hypothesis variants, and the checked-in files.
"""

from __future__ import annotations

import glob
import os
from typing import List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.corpus import (CORPUS_DIR, KNOWN_DIFFERENCES, in_range,
                                      label_release, parse_conditions, parse_corpus,
                                      parse_known_differences, read_corpus,
                                      read_known_differences)

releases = st.tuples(st.integers(0, 20), st.integers(0, 9))
operators = st.sampled_from([">=", ">", "<=", "<", "=="])
COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b}
#: HMP-ish text: no line end, and not starting with ``#``.
hmp_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                   min_size=1, max_size=30).filter(
                       lambda t: t.strip() and not t.lstrip().startswith("#")
                       and "#@" not in t and t == t.rstrip())


def test_a_marker_is_split_from_its_line() -> None:
    """When a line ends in a marker, the line runs without it, only on releases in range."""
    corpus = parse_corpus("/x/core.hmp", "# comment\n#!qemu -smp 2\ninfo status\n"
                          "info cpus  #@ >=8.1 <11.0\n\ninfo block  #@ ==7.2\n")
    assert corpus.name == "core"
    assert [(line.number, line.text) for line in corpus.lines] == [
        (0, "info status"), (1, "info cpus"), (2, "info block")]
    assert [line.number for line in corpus.lines_for((7, 2))] == [0, 2]
    assert [line.number for line in corpus.lines_for((8, 1))] == [0, 1]
    assert [line.number for line in corpus.lines_for((11, 0))] == [0]
    assert corpus.args_for((11, 1)) == ["-smp", "2"]


def test_qemu_arguments_and_whole_files_follow_their_markers() -> None:
    """When a #!qemu line or the file has a range, other releases get neither."""
    corpus = parse_corpus("/x/new.hmp", "#!releases >=10.0\n"
                          "#!qemu -device rocker,len-ports=2  #@ <8.2\n"
                          "#!qemu -device '{\"driver\": \"rocker\"}'  #@ >=8.2\n"
                          "info rocker sw1\n")
    assert corpus.lines_for((7, 2)) == []
    assert [line.text for line in corpus.lines_for((10, 0))] == ["info rocker sw1"]
    assert corpus.args_for((7, 2)) == ["-device", "rocker,len-ports=2"]
    assert corpus.args_for((11, 1)) == ["-device", '{"driver": "rocker"}']


@pytest.mark.parametrize("marker", ["", "8.1", ">=8", "=>8.1", ">=8.1.2", "~8.1", ">= 8.1"])
def test_a_malformed_marker_is_refused(marker: str) -> None:
    """When a marker is not a list of >=X.Y-style conditions, reading the corpus fails."""
    with pytest.raises(ValueError):
        parse_corpus("/x/bad.hmp", f"info status  #@ {marker}\n")


@pytest.mark.parametrize("text", ["10.0 core:024", "10 core:024 why", "10.0 core:24 why",
                                  "10.0 core why", "11.1-as core:024 why", "11.1-7.2 core:024 why"])
def test_a_malformed_known_difference_is_refused(text: str) -> None:
    """When a list line lacks its release, its corpus:NNN or its reason, reading it fails."""
    with pytest.raises(ValueError):
        parse_known_differences(text + "\n")


def test_known_differences_are_keyed_by_release_and_line() -> None:
    known = parse_known_differences("# why\n\n10.0  core:024  help: a reason\n"
                                    "11.1 core_extra:009 info rdma: another\n")
    assert known == {("10.0", "core:024"): "help: a reason",
                     ("11.1", "core_extra:009"): "info rdma: another"}


def test_a_newer_release_printing_an_older_ones_text_is_listed_apart() -> None:
    """When an entry names 11.1-as-7.2, it stands for 7.2's lines run on QEMU 11.1."""
    known = parse_known_differences("11.1-as-7.2 core:005 info cpus: why\n")
    assert known == {("11.1-as-7.2", "core:005"): "info cpus: why"}
    assert label_release("11.1-as-7.2") == (7, 2)
    assert label_release("10.0") == (10, 0)


@given(releases, st.lists(st.tuples(operators, releases), min_size=1, max_size=3))
def test_conditions_hold_exactly_as_compared(release: Tuple[int, int],
                                             conditions: List[Tuple[str, Tuple[int, int]]]
                                             ) -> None:
    """Whatever the conditions, a release is in range when it meets every one of them."""
    text = " ".join(f"{op}{major}.{minor}" for op, (major, minor) in conditions)
    parsed = parse_conditions(text)
    assert parsed == tuple(conditions)
    assert in_range(release, parsed) == all(COMPARE[op](release, bound)
                                            for op, bound in conditions)


@given(st.lists(st.tuples(hmp_text, st.one_of(
    st.none(), st.lists(st.tuples(operators, releases), min_size=1, max_size=2))),
    min_size=1, max_size=8), releases)
def test_every_line_keeps_its_number_and_text(lines, release: Tuple[int, int]) -> None:
    """Whatever the markers, lines are numbered in file order and run where their range holds."""
    body = []
    for text, conditions in lines:
        marker = "" if conditions is None else "  #@ " + " ".join(
            f"{op}{major}.{minor}" for op, (major, minor) in conditions)
        body.append(text + marker)
    corpus = parse_corpus("/x/gen.hmp", "# generated\n" + "\n".join(body) + "\n")
    assert [(line.number, line.text) for line in corpus.lines] == [
        (number, text) for number, (text, _) in enumerate(lines)]
    want = [number for number, (_, conditions) in enumerate(lines)
            if conditions is None or all(COMPARE[op](release, b) for op, b in conditions)]
    assert [line.number for line in corpus.lines_for(release)] == want


def test_the_checked_in_corpora_and_list_read() -> None:
    """When the checked-in corpora and list are read, every entry names a line of a corpus."""
    corpora = {c.name: c for c in map(read_corpus, glob.glob(os.path.join(CORPUS_DIR, "*.hmp")))}
    assert corpora
    known = read_known_differences(KNOWN_DIFFERENCES)
    for (label, where), reason in known.items():
        name, number = where.split(":")
        assert name in corpora, where
        runs = {line.number for line in corpora[name].lines_for(label_release(label))}
        assert int(number) in runs, f"{where} does not run on {label}"
        assert reason
