"""The line editor echoes every key exactly as QEMU 7.2's readline does.

Expected bytes come from tests/fixtures/readline.json, recorded from QEMU's
own monitor by ``python -m tests.tools.capture_readline``.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from hmpbridge.line_editor import MAX_LINE, LineEditor, Step, format_candidates

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "readline.json")
with open(FIXTURE) as _f:
    RECORDED: Dict[str, List[Dict[str, str]]] = json.load(_f)

#: what Tab finds in each recorded case: (candidates, bytes of the word typed)
TAB: Dict[str, Tuple[Sequence[str], int]] = {
    "tab-one": (["version"], 3),
    "tab-many": (["status", "stats"], 2),
    "tab-many-cursor-mid": (["status", "stats"], 2),
    "tab-none-left": ([], 2),
    "tab-command": (["eject"], 2),
    "tab-sendkey": (["alt_r", "alt"], 2),
}


def replay(name: str, tab: Optional[Tuple[Sequence[str], int]] = None) -> None:
    """Feed a recorded case step by step; each step's echo must be QEMU's."""
    history: List[str] = []
    editor = LineEditor(lambda: history)
    for step in RECORDED[name]:
        keys, want = step["keys"].encode("latin-1"), step["qemu"].encode("latin-1")
        got = editor.feed(keys)
        echo = got.echo
        if got.line is not None:
            # QEMU's output goes on with the command's answer and the prompt
            want = want[:want.index(b"\r\n") + 2]
            if got.line.strip() and got.line not in history[-1:]:
                if got.line in history:
                    history.remove(got.line)
                history.append(got.line)
            editor.show_prompt()
        elif got.complete is not None:
            assert tab is not None
            echo += editor.completed(*tab)
        assert got.rest == b""
        assert echo == want, (name, keys)


@pytest.mark.parametrize("name", sorted(n for n in RECORDED if not n.startswith("tab-")))
def test_keys_echo_as_qemu(name: str) -> None:
    """Typing, cursor keys, deletion, ^W, ^L, Enter and history redraw byte for byte as QEMU."""
    replay(name)


@pytest.mark.parametrize("name", sorted(TAB))
def test_tab_echo_as_qemu(name: str) -> None:
    """Tab inserts a single candidate and a space, or lists several in QEMU's table."""
    replay(name, TAB[name])


def test_ctrl_k_deletes_to_the_end() -> None:
    """^K deletes from the cursor to the end of the line and redraws it."""
    editor = LineEditor(lambda: [])
    editor.feed(b"info status")
    step = editor.feed(b"\x1b[D\x1b[D\x1b[D\x0b")
    assert editor.line == "info sta" and editor.index == 8
    assert step.echo.endswith(b"\x1b[D" * 11 + b"info sta\x1b[K")


def test_ctrl_u_deletes_to_the_start() -> None:
    """^U deletes from the start of the line to the cursor and leaves the cursor at 0."""
    editor = LineEditor(lambda: [])
    editor.feed(b"xx info")
    editor.feed(b"\x1b[D\x1b[D\x1b[D\x1b[D")
    step = editor.feed(b"\x15")
    assert editor.line == "info" and editor.index == 0
    assert step.echo == b"\x1b[D" * 3 + b"info\x1b[K" + b"\x1b[D" * 4


def test_feed_stops_at_enter_and_tab() -> None:
    """Input after Enter or Tab is handed back unread, for after the command or completion."""
    editor = LineEditor(lambda: [])
    step = editor.feed(b"ab\tcd")
    assert step.complete == "ab" and step.rest == b"cd"
    editor.completed([], 2)
    step = editor.feed(step.rest + b"\x1b[D\rnext")
    assert step.line == "abcd" and step.rest == b"next"


def test_a_whole_line_at_an_empty_prompt_echoes_as_typed() -> None:
    """A line that arrives in one piece echoes as plain text and CR LF, with no redraws."""
    editor = LineEditor(lambda: [])
    assert editor.feed(b"info status\ninfo") == Step(
        echo=b"info status\r\n", line="info status", rest=b"info")


def test_line_length_is_capped() -> None:
    """Bytes past QEMU's 4095-byte buffer are dropped, typed or pasted."""
    editor = LineEditor(lambda: [])
    editor.feed(b"x" * (MAX_LINE + 10))
    assert len(editor.line) == MAX_LINE
    assert LineEditor(lambda: []).feed(b"y" * (MAX_LINE + 5) + b"\r").line == "y" * MAX_LINE


def test_interrupt_prints_above_and_restores_the_line() -> None:
    """An event line erases the shown line, prints, and redraws prompt, line and cursor."""
    editor = LineEditor(lambda: [])
    editor.feed(b"info st")
    editor.feed(b"\x1b[D")
    out = editor.interrupt("event STOP\n")
    assert out == b"\r\x1b[Kevent STOP\r\n(qemu) info st\x1b[K\x1b[D"
    assert editor.feed(b"a").echo == b"\x1b[D" * 6 + b"info sat\x1b[K\x1b[D"


def test_candidate_table_widths() -> None:
    """Columns are the longest candidate plus two, at least 10 and at most 80, in 80 columns."""
    assert format_candidates(["a", "b"]) == b"a         b         \r\n"
    long = "x" * 90
    assert format_candidates([long, "y"]) == long.encode() + b"\r\n" + b"y".ljust(80) + b"\r\n"
