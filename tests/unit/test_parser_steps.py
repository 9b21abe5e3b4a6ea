"""Remembered parser steps (``hmpbridge.lark_steps``) change no parse.

Every line is parsed twice for each release's command table: by a parser
that replays remembered steps (and keeps the terminals acceptable where
lines failed), and by one that hands every line to Lark alone, as the parser
did before.  Both must give the same command, arguments and registers flag,
or the same error text, ``/fmt`` and command key.  The lines are the corpora
and parse fixtures, generated lines for every command of every table (its
own flags, words, numbers, expressions, formats, option lists and hostile
fragments), and mutations of the corpus lines.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Tuple

import pytest
from hypothesis import given, strategies as st

from hmpbridge import lark_steps
from hmpbridge.commands import CommandSpec, CommandTable, releases, table_for
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import HMPParser

from tests.unit.test_fuzz_parser import CORPUS, FRAGMENTS, mutated

RELEASES = releases()


@functools.lru_cache(maxsize=None)
def stepped(release: Tuple[int, int]) -> HMPParser:
    """A parser of its own (not the shared one, whose line memory other tests fill)."""
    return HMPParser(table_for(release))


@functools.lru_cache(maxsize=None)
def reference(release: Tuple[int, int]) -> HMPParser:
    """Lark alone, every line."""
    return HMPParser(table_for(release), remember_steps=False)


def outcome(parser: HMPParser, line: str) -> Any:
    """What a caller can see of one parse."""
    try:
        inv = parser.parse(line)
    except ParseError as err:
        return ("refused", err.text, err.column, err.command, err.fmt)
    if inv is None:
        return None
    return ("accepted", inv.spec.key, inv.args, inv.needs_registers, inv.line)


def same(release: Tuple[int, int], line: str) -> None:
    assert outcome(stepped(release), line) == outcome(reference(release), line), (release, line)


def _names(table: CommandTable) -> List[str]:
    return sorted(table.top) + sorted(f"info {name}" for name in table.info)


#: Pieces of well-formed arguments, so that generated lines get past their
#: first item as often as they fail on it.
WORDS = ["ide0-hd0", "ide1-cd0", "/tmp/a.img", "e1000", "on", "off", "-", "x", "nic0",
         '"a b"', '"q\\"t"', "drive=d0,id=x", "e1000,id=n1,mac=52:54:00:12:34:56"]
NUMBERS = ["0", "1", "7", "08", "0x1000", "4096", "1+2*3", "(1+2)*3", "$eax", "'a'", "-1",
           "~0", "1<<4", "1k", "2G", "1.5M", "100%7", "6/3", "1|2^3&4", "18446744073709551615"]
FORMATS = ["/x", "/4x", "/2i", "/10xb", "/cL", "/3uh", "/dg", "/q"]


@st.composite
def command_line(draw: Callable[..., Any]) -> Tuple[Tuple[int, int], str]:
    """A release, and a line for one of its commands: its flags, then arguments."""
    release = draw(st.sampled_from(RELEASES))
    table = table_for(release)
    name = draw(st.sampled_from(_names(table)))
    spec: CommandSpec = table.info.get(name[5:]) if name.startswith("info ") else table.top[name]
    spec = spec or table.top["info"]
    flags = [f"-{item.flag_letter}" for item in spec.items if item.is_flag]
    piece = st.one_of(st.sampled_from(WORDS), st.sampled_from(NUMBERS),
                      st.sampled_from(FORMATS), st.sampled_from(FRAGMENTS),
                      st.sampled_from(flags or ["-f"]), st.text(max_size=8))
    args = draw(st.lists(piece, max_size=len(spec.items) + 2))
    blank = draw(st.sampled_from([" ", "  ", "\t"]))
    return release, blank.join([name, *args]) + draw(st.sampled_from(["", " ", "\t "]))


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"{r[0]}.{r[1]}")
def test_corpus_lines_parse_the_same(release: Tuple[int, int]) -> None:
    """Every line of the corpora and parse fixtures: the same verdict with and without steps."""
    for line in CORPUS:
        same(release, line)


@given(command_line())
def test_generated_command_lines_parse_the_same(case: Tuple[Tuple[int, int], str]) -> None:
    """Lines for every command of every release's table: the same verdict either way."""
    same(*case)


@given(st.sampled_from(RELEASES), mutated())
def test_mutated_corpus_lines_parse_the_same(release: Tuple[int, int], line: str) -> None:
    """Corpus lines after random edits: the same verdict either way."""
    same(release, line)


def test_lines_past_the_step_limit_are_parsed_by_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no room for new steps, lines needing one parse as before (Lark does it)."""
    monkeypatch.setattr(lark_steps, "STEP_LIMIT", 3)
    parser = HMPParser(table_for((7, 2)))
    lines = ["print 1+2", "eject -f ide1-cd0", "x /4x 0x1000", "print (1", "info block -v d0"]
    for line in lines:
        assert outcome(parser, line) == outcome(reference((7, 2)), line), line
    assert parser.stepped.learned == 3


def test_steps_are_remembered_and_replayed() -> None:
    """A second line of the same shape takes only remembered steps; a refused one none."""
    parser = HMPParser(table_for((7, 2)))
    parser.parse("block_set_io_throttle hd0 1 2 3 4 5 6")
    learned = parser.stepped.learned
    inv = parser.parse("block_set_io_throttle hd9 10 20 30 40 50 60")
    assert parser.stepped.learned == learned
    assert inv is not None and inv.args == {"device": "hd9", "bps": 10, "bps_rd": 20,
                                            "bps_wr": 30, "iops": 40, "iops_rd": 50,
                                            "iops_wr": 60}
    with pytest.raises(ParseError) as info:
        parser.parse("block_set_io_throttle hd9 10 20 30 40 50 x")
    assert info.value.text.startswith("invalid char 'x' in expression\n")


def test_a_line_with_a_newline_is_parsed_by_lark() -> None:
    """Lark counts lines in its tokens' positions; such a line is left to it."""
    parser = HMPParser(table_for((7, 2)))
    with pytest.raises(lark_steps.NotRemembered):
        parser.stepped.parse("print 1\n+2", "cmd_print")
    assert outcome(parser, "print 1\n+2") == outcome(reference((7, 2)), "print 1\n+2")
