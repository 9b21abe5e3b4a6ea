"""Property-based fuzzing of the HMP parser and the command runner.

Whatever line arrives, ``hmp_parser.parse`` either returns an invocation
(or None for a line QEMU ignores) or raises the documented ``ParseError``
carrying QEMU's text; and ``CommandRunner.run`` always returns a Deferred
that fires with text, never with a failure, a traceback or an internal error.

Lines come from four sources: random text, random bytes decoded as a session
decodes them (or with ``errors="replace"``), command names followed by
hostile arguments, and mutations of every real line of the differential
corpora and the parse fixtures (characters inserted, deleted, duplicated,
tokens swapped or replaced by huge numbers, unbalanced quotes, shifted
expressions and ``/fmt`` forms).  ``tests/unit/conftest.py`` bounds the
number of examples; ``HMPBRIDGE_FUZZ=deep`` runs many more.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List

from hypothesis import given, strategies as st
from twisted.internet.task import Clock

from hmpbridge.commands import table_for
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import parse
from hmpbridge.model import Invocation, SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor, result_of

ROOT = Path(__file__).resolve().parents[2]

#: The public corpus lives outside the repository; it is used where present.
PUBLIC_CORPUS = Path(os.environ.get("HMPBRIDGE_PUBLIC_CORPUS",
                                    "/work/shared/corpus/public.hmp"))


def corpus_lines() -> List[str]:
    """Every HMP line of the differential corpora and the parse fixtures."""
    files = sorted((ROOT / "tests" / "corpus").glob("*.hmp"))
    files.append(ROOT / "tests" / "fixtures" / "parse_lines.hmp")
    if PUBLIC_CORPUS.is_file():
        files.append(PUBLIC_CORPUS)
    lines: List[str] = []
    for path in files:
        for raw in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            if raw.strip() and not raw.startswith("#"):
                lines.append(raw.replace("{dir}", "/tmp/vm").replace("{media}", "/tmp/m.raw"))
    return lines


CORPUS = corpus_lines()

#: Every command name and alias, ``info`` subcommands included.
COMMAND_NAMES = sorted(table_for((7, 2)).top) + sorted(
    f"info {name}" for name in table_for((7, 2)).info)

#: Pieces QEMU's argument reader finds hard: numbers past 64 bits, shifts past
#: the word size, unbalanced quotes and brackets, odd ``/fmt`` and ``.index``
#: forms, option lists, flags, registers, control and non-ASCII characters.
FRAGMENTS = [
    "$pc + (1 << 70)", "(1 << 70)", "1 << 64", "-(1 << 63)", "~0", "1/0", "5 % 0",
    "18446744073709551615", "18446744073709551616", "-9223372036854775809",
    "99999999999999999999999", "9" * 4500, "0x" + "f" * 40, "0" + "7" * 30, "0x", "08",
    "'", "'a", "'ab'", "''", '"', '"unterminated', '"a b"', '"\\q"', '"\\', "\\",
    "/", "/x", "/10i", "/-5x", "/99999999999x", "/4294967297b", "/xx", "/cL", "/2\u00b2x",
    "/" + "9" * 4500 + "x", ".", ".$eax", ".0x0a", ". $", "$", "$eax", "$pc", "$$",
    "(", ")", "((1)", "(1))", "1 +", "+", "-", "--", "-f", "-f -f", "-x", "-n -v",
    "=", ",", "a=b,", "id=x,id=y", "driver=,", ",,", "on", "off", "onn",
    "1T", "16E", "1.5", "-1", "1k", "0b1", "1e5", "4096M",
    "\x00", "\t", "\x7f", "\u00e9", "\ufffd", "\udcff", "\u202e", "\U0001f600",
]


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def mutated(draw: Callable, base: st.SearchStrategy = st.sampled_from(CORPUS)) -> str:
    """A real line after one to five random edits."""
    line: str = draw(base)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "swap", "fragment",
                                   "replace", "repeat"]))
        pos = draw(st.integers(0, len(line)))
        if op == "insert":
            line = line[:pos] + draw(st.characters(exclude_categories=())) + line[pos:]
        elif op == "delete" and line:
            line = line[:pos] + line[pos + 1:]
        elif op == "duplicate" and line:
            end = draw(st.integers(pos, len(line)))
            line = line[:end] + line[pos:end] + line[end:]
        elif op == "fragment":
            space = draw(st.sampled_from(["", " "]))
            line = line[:pos] + space + draw(st.sampled_from(FRAGMENTS)) + space + line[pos:]
        elif op in ("swap", "replace", "repeat"):
            tokens = line.split(" ")
            i = draw(st.integers(0, len(tokens) - 1))
            if op == "swap":
                j = draw(st.integers(0, len(tokens) - 1))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            elif op == "replace":
                tokens[i] = draw(st.sampled_from(FRAGMENTS))
            else:
                tokens[i] = " ".join([tokens[i]] * draw(st.integers(2, 50)))
            line = " ".join(tokens)
    return line


#: A command name followed by hostile arguments.
command_lines = st.builds(
    lambda name, args: " ".join([name, *args]),
    st.sampled_from(COMMAND_NAMES),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=6))

#: Bytes decoded the way a session decodes them (undecodable bytes kept as surrogates).
session_text = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))

#: Bytes decoded with replacement characters.
replaced_text = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))

#: Any text, lone surrogates included.
any_text = st.text(st.characters(exclude_categories=()), max_size=200)


# -- checks -------------------------------------------------------------------------------------


def check_parse(line: str) -> None:
    """parse returns an invocation of this line or None, or raises ParseError with text."""
    try:
        inv = parse(line)
    except ParseError as err:
        assert isinstance(err.text, str) and err.text.endswith("\n"), repr(err.text)
        return
    assert inv is None or (isinstance(inv, Invocation) and inv.line == line)


def _passthrough_executor() -> FakeExecutor:
    return FakeExecutor({"human-monitor-command": lambda args: ""},
                        schema_commands={"human-monitor-command"})


#: How the runner may meet a QEMU: every QMP command known but refused
#: (native handlers run against CommandNotFound errors), no QMP command at
#: all, or only human-monitor-command.
EXECUTORS = {
    "refusing": lambda: FakeExecutor(),
    "empty-schema": lambda: FakeExecutor(schema_commands=()),
    "monitor-only": _passthrough_executor,
}


def run_line(line: str, executor: str) -> str:
    """What the runner prints for ``line``; fails if it raises or never answers."""
    clock = Clock()
    d = CommandRunner(EXECUTORS[executor](), clock=clock).run(line, SessionState())
    for _ in range(100):  # handlers that poll wait on the clock
        if d.called:
            break
        clock.advance(60)
    text = result_of(d)
    assert isinstance(text, str)
    assert "Traceback" not in text and "internal error" not in text, (line, text)
    assert text == "" or text.endswith("\n"), (line, text)
    return text


executors = st.sampled_from(sorted(EXECUTORS))


# -- the parser ---------------------------------------------------------------------------------


@given(any_text)
def test_parse_random_text(line: str) -> None:
    """Random text, lone surrogates included, never raises anything but ParseError."""
    check_parse(line)


@given(replaced_text)
def test_parse_random_bytes_decoded_with_replacement(line: str) -> None:
    """Random bytes decoded with errors="replace" never raise anything but ParseError."""
    check_parse(line)


@given(session_text)
def test_parse_random_bytes_decoded_as_a_session_does(line: str) -> None:
    """Random bytes decoded with surrogateescape (as sessions do) never raise but ParseError."""
    check_parse(line)


@given(command_lines)
def test_parse_commands_with_hostile_arguments(line: str) -> None:
    """Every command name, followed by huge numbers, quotes, /fmt and flags, parses or refuses."""
    check_parse(line)


@given(mutated())
def test_parse_mutated_corpus_lines(line: str) -> None:
    """Real corpus and fixture lines, mutated, never raise anything but ParseError."""
    check_parse(line)


@given(mutated(st.sampled_from(COMMAND_NAMES).map(lambda name: name + " 0x1000 16 /tmp/f")))
def test_parse_mutated_command_templates(line: str) -> None:
    """Each command name with typical arguments, mutated, parses or refuses with ParseError."""
    check_parse(line)


# -- the runner ---------------------------------------------------------------------------------


@given(any_text, executors)
def test_runner_answers_random_text(line: str, executor: str) -> None:
    """Random text through the runner always gives text, never a failure or internal error."""
    run_line(line, executor)


@given(session_text, executors)
def test_runner_answers_random_bytes(line: str, executor: str) -> None:
    """Random bytes as a session decodes them always give text from the runner."""
    run_line(line, executor)


@given(command_lines, executors)
def test_runner_answers_commands_with_hostile_arguments(line: str, executor: str) -> None:
    """Every command with hostile arguments runs to text, whatever the QEMU behind it offers."""
    run_line(line, executor)


@given(mutated(), executors)
def test_runner_answers_mutated_corpus_lines(line: str, executor: str) -> None:
    """Mutated corpus lines run to text, never a failure, traceback or internal error."""
    run_line(line, executor)
