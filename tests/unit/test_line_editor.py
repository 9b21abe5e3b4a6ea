"""The line editor and the session around it answer every key as QEMU's own monitor does.

Expected bytes come from tests/fixtures/readline/<release>.json, recorded
from QEMU 7.2.22, 10.0.2 and 11.1.3's own monitors on ``-monitor tcp:`` by
``python -m tests.tools.capture_readline_releases``: each case's chunks are
fed to a fresh session on a fake channel, one ``received`` per chunk, and
the session must write what QEMU wrote, byte for byte (banner, echo with
its redraw sequences, answers, prompts).  The lines run are ``info name``
(no name: no output) and unknown commands, so a fake QEMU answers them as
the real one did.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from hmpbridge.line_editor import MAX_LINE, LineEditor, format_candidates
from hmpbridge.testing import FakeExecutor

from tests.unit.monitor_fakes import open_monitor, settle

HERE = os.path.dirname(__file__)
FIXTURES = sorted(glob.glob(os.path.join(HERE, "..", "fixtures", "readline", "*.json")))
RECORDED: Dict[str, Dict[str, Any]] = {}
for _path in FIXTURES:
    with open(_path) as _f:
        RECORDED[os.path.basename(_path)[:-5]] = json.load(_f)
CASES: List[Tuple[str, str]] = [(release, name) for release, data in sorted(RECORDED.items())
                                for name in data["cases"]]
HANDLERS = {"query-name": lambda args: {}}


def version_of(release: str) -> Tuple[int, int, int]:
    found = re.search(r"version (\d+)\.(\d+)\.(\d+)", RECORDED[release]["qemu"])
    assert found is not None
    major, minor, micro = found.groups()
    return int(major), int(minor), int(micro)


def executor_of(release: str) -> FakeExecutor:
    return FakeExecutor(HANDLERS, version=version_of(release))


def expected(step: Dict[str, Any]) -> Tuple[int, str]:
    if "qemu" in step:
        raw = step["qemu"].encode("latin-1")
        return len(raw), hashlib.sha256(raw).hexdigest()
    return step["qemu_len"], step["qemu_sha256"]


def test_the_fixtures_cover_every_release() -> None:
    """QEMU 7.2, 10.0 and 11.1 were each recorded, with the same cases."""
    assert {"7.2", "10.0", "11.1"} <= set(RECORDED)
    names = {release: sorted(data["cases"]) for release, data in RECORDED.items()}
    assert names["7.2"] == names["10.0"] == names["11.1"]


@pytest.mark.parametrize("release", sorted(RECORDED))
def test_banner_as_qemu(release: str) -> None:
    """A new session writes QEMU's banner and the prompt, as each release does."""
    session, channel, _ = open_monitor(executor_of(release))
    assert channel.value == RECORDED[release]["banner"].encode("latin-1")


#: what the bridge does not print as QEMU does yet, outside the editor
KNOWN: Dict[str, str] = {}


@pytest.mark.parametrize("release,name", [
    pytest.param(release, name, marks=[pytest.mark.xfail(reason=KNOWN[name], strict=True)]
                 if name in KNOWN else [])
    for release, name in CASES])
def test_keys_as_qemu(release: str, name: str) -> None:
    """Each chunk of keys gets the bytes QEMU's monitor sent back for it."""
    clock = Clock()
    session, channel, _ = open_monitor(executor_of(release), clock)
    channel.clear()
    for step in RECORDED[release]["cases"][name]:
        session.received(step["keys"].encode("latin-1"))
        settle(clock)
        got = channel.value
        channel.clear()
        want_len, want_hash = expected(step)
        if "qemu" in step:
            assert got == step["qemu"].encode("latin-1"), (release, name, step["keys"][:40])
        assert (len(got), hashlib.sha256(got).hexdigest()) == (want_len, want_hash), \
            (release, name, step["keys"][:40])


SPLIT_CASES = [(release, name) for release, name in CASES
               if not name.startswith("long-line") and not name.startswith("tab-")]


@given(case=st.sampled_from(SPLIT_CASES), data=st.data())
def test_any_split_of_the_input_gives_the_same_bytes(case: Tuple[str, str],
                                                     data: st.DataObject) -> None:
    """However a case's bytes are cut into reads, the session writes the same bytes."""
    release, name = case
    keys = b"".join(step["keys"].encode("latin-1") for step in RECORDED[release]["cases"][name])
    whole, channel, _ = open_monitor(executor_of(release))
    whole.received(keys)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(keys) - 1, 1)), max_size=12)))
    split, other, _ = open_monitor(executor_of(release))
    start = 0
    for cut in cuts + [len(keys)]:
        split.received(keys[start:cut])
        start = cut
    assert other.value == channel.value


# -- the editor on its own ------------------------------------------------------------


def test_ctrl_u_and_history_keys_follow_the_served_release() -> None:
    """^U, ^P and ^N are QEMU 9.1's; an editor printing 7.2's text ignores them."""
    history = ["info name"]
    old = LineEditor(lambda: history, release=lambda: (7, 2))
    new = LineEditor(lambda: history, release=lambda: (10, 0))
    for editor in (old, new):
        editor.feed(b"abc")
    assert old.feed(b"\x15").echo == b""
    assert new.feed(b"\x15").echo == b"\x1b[D\x1b[D\x1b[D\x1b[K"
    assert old.feed(b"\x10").echo == b""
    assert new.feed(b"\x10").echo == b"info name\x1b[K"


def test_ctrl_k_is_not_a_qemu_key() -> None:
    """No QEMU release binds ^K: the line stays as it is."""
    editor = LineEditor(lambda: [], release=lambda: (11, 1))
    editor.feed(b"abc\x01")
    assert editor.feed(b"\x0b").echo == b""
    assert editor.line == "abc"


def test_feed_stops_at_enter_and_tab() -> None:
    """The rest of the input after a line end or a Tab is handed back unread."""
    editor = LineEditor(lambda: [])
    step = editor.feed(b"info\rmore")
    assert (step.line, step.rest) == ("info", b"more")
    step = editor.feed(b"inf\tx")
    assert (step.complete, step.rest) == ("inf", b"x")


def test_line_length_is_capped() -> None:
    """Typed at the end, bytes past QEMU's 4095-byte buffer are dropped without echo."""
    editor = LineEditor(lambda: [])
    editor.feed(b"x" * MAX_LINE)
    assert editor.feed(b"yz").echo == b""
    assert len(editor.line) == MAX_LINE
    assert LineEditor(lambda: []).feed(b"y" * (MAX_LINE + 5) + b"\r").line == "y" * MAX_LINE


def test_a_full_line_takes_one_more_byte_before_the_end() -> None:
    """QEMU checks the cursor, not the length: one byte more goes in before the end."""
    editor = LineEditor(lambda: [])
    editor.feed(b"x" * MAX_LINE + b"\x01")
    editor.feed(b"AB")
    assert editor.line == "A" + "x" * MAX_LINE


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


def test_interrupt_inside_an_escape_sequence_keeps_it() -> None:
    """An event between ESC [ and its final byte does not turn the rest into typed text."""
    editor = LineEditor(lambda: [])
    editor.feed(b"ab\x1b[")
    editor.interrupt("event\n")
    assert editor.feed(b"D").echo == b"\x1b[D"
    assert editor.line == "ab"


@pytest.mark.parametrize("release", [(7, 2), (11, 1)])
def test_keys_a_full_line_cannot_take_change_nothing(release: Tuple[int, int]) -> None:
    """A full line passes over a run of printable keys at once: the same echo and line as
    without them, however long the run (a client streaming bytes into a full line)."""
    def editor() -> LineEditor:
        return LineEditor(lambda: [], release=lambda: release)

    full = b"a" * MAX_LINE
    after = b"\x1b[Db\x7f\r"
    plain, flooded = editor(), editor()
    want = plain.feed(full).echo + plain.feed(after).echo
    got = flooded.feed(full).echo + flooded.feed(b"\xff" * 1_000_000 + b"xyz" * 1000).echo
    got += flooded.feed(after).echo
    assert got == want


KEYS = st.lists(st.sampled_from([b"a", b"xyz", b" ", b"\xc3\xa9", b"\x7f", b"\x08", b"\x01",
                                 b"\x05", b"\x04", b"\x17", b"\x15", b"\x1b[D", b"\x1b[C",
                                 b"\x1b[A", b"\x1b[B", b"\x1b[3~", b"\x1b", b"\r", b"\x9b",
                                 b"q" * 300]), max_size=60)


@pytest.mark.parametrize("release", [(7, 2), (9, 1), (11, 1)])
@given(keys=KEYS)
def test_a_run_typed_at_the_end_echoes_as_one_key_at_a_time(release: Tuple[int, int],
                                                           keys: List[bytes]) -> None:
    """The one-pass echo of keys typed at the end of the line is the key-by-key echo."""
    def run(editor: LineEditor, data: bytes) -> List[Any]:
        steps = []
        while True:
            step = editor.feed(data)
            steps.append((step.echo, step.line))
            if not step.rest:
                return steps + [bytes(editor.buf), editor.index]
            data = step.rest

    history = ["info status", "x" * 40]
    fast = LineEditor(lambda: history, release=lambda: release)
    slow = LineEditor(lambda: history, release=lambda: release)
    slow.typed_runs = False
    data = b"".join(keys)
    assert run(fast, data) == run(slow, data)
