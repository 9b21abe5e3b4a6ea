"""JSON parse errors in each release's words, against what QEMU itself answered.

The expected texts are QEMU's (tests/tools/capture_json_errors.py recorded
them in tests/fixtures/releases/<X.Y>/json-errors.json): on its QMP socket, for
a battery of malformed input sent in chunks on one connection, and for
``qom-set -j`` through its HMP.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.qjson import (LEGACY_WORDING, POSITIONED_WORDING, JSONError, PositionedStream,
                             from_json, json_wording, positioned_text)
from hmpbridge.qmp_wire import JSONStreamSplitter, ParseFailure, check_message

RELEASES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")


def _fixture(release: str) -> Dict[str, Any]:
    with open(os.path.join(RELEASES, release, "json-errors.json"), encoding="utf-8") as f:
        return json.load(f)


def _release(name: str):
    major, minor = name.split(".")
    return int(major), int(minor)


FIXTURES = sorted(name for name in os.listdir(RELEASES)
                  if os.path.exists(os.path.join(RELEASES, name, "json-errors.json")))


def _answers(replies: List[str]) -> List[Optional[str]]:
    """Each reply's error text, or None for one that ran."""
    out: List[Optional[str]] = []
    for line in replies:
        reply = json.loads(line.encode("latin-1"))
        out.append(reply["error"]["desc"] if "error" in reply else None)
    return out


def _bridge_answers(chunks: List[List[str]], release) -> List[Optional[str]]:
    splitter = JSONStreamSplitter(wording=json_wording(release))
    splitter.feed(b'{"execute":"qmp_capabilities"}\n')
    out: List[Optional[str]] = []
    for case in chunks:
        for chunk in case:
            for piece in splitter.feed(chunk.encode("latin-1")):
                if isinstance(piece, ParseFailure):
                    out.append(piece.desc)
                else:
                    out.append(check_message(piece, oob_allowed=False))
    return out


@pytest.mark.parametrize("release", FIXTURES)
def test_qmp_errors_are_the_releases(release: str) -> None:
    record = _fixture(release)
    want = _answers(record["qmp"]["replies"])
    got = _bridge_answers(record["qmp"]["chunks"], _release(release))
    assert got == want


@pytest.mark.parametrize("release", FIXTURES)
def test_qom_set_json_errors_are_the_releases(release: str) -> None:
    wording = json_wording(_release(release))
    for case in _fixture(release)["hmp"]:
        try:
            from_json(case["value"], wording)
        except JSONError as err:
            assert f"Error: {err}\n" == case["output"], case["value"]
        else:
            assert "JSON" not in case["output"], case["value"]


def test_the_wording_changes_with_11_1() -> None:
    assert json_wording((10, 0)) is LEGACY_WORDING
    assert json_wording((11, 0, 0)) is LEGACY_WORDING
    assert json_wording((11, 1)) is POSITIONED_WORDING
    assert json_wording((12, 0, 1)) is POSITIONED_WORDING


def test_a_token_after_a_number_is_one_column_further() -> None:
    stream = PositionedStream()
    assert [positioned_text(e) for e in stream.feed(b'[1:]\n[1 :]\n') if e] == [
        "1:4: JSON parse error, expected ',' or ']'",
        "2:4: JSON parse error, expected ',' or ']'"]


# -- any bytes, any chunks: the splitter places errors as the model does --------------

_PIECES = st.sampled_from([b"{", b"}", b"[", b"]", b":", b",", b" ", b"\t", b"\n", b"\r",
                           b'"a"', b'"\xc3\xa9"', b"'b'", b"1", b"-2.5e3", b"01", b"true",
                           b"nul", b"+", b"\xff", b"\x01", b'"\\x"', b'"\\u00e9"',
                           b'"\\ud800"', b'"\xc3('])


def _model_errors(data: bytes) -> List[str]:
    stream = PositionedStream(skip_line_after_limit=True)
    return [positioned_text(e) for e in stream.feed(data) if e is not None]


@given(pieces=st.lists(_PIECES, max_size=40), cuts=st.lists(st.integers(1, 9), max_size=20))
def test_random_streams_are_placed_as_the_model_places_them(pieces, cuts) -> None:
    data = b"".join(pieces)
    splitter = JSONStreamSplitter(wording=POSITIONED_WORDING)
    got: List[str] = []
    at = 0
    for size in cuts + [len(data)]:
        got += [p.desc for p in splitter.feed(data[at:at + size]) if isinstance(p, ParseFailure)]
        at += size
    got += [p.desc for p in splitter.feed(data[at:]) if isinstance(p, ParseFailure)]
    assert got == _model_errors(data)
