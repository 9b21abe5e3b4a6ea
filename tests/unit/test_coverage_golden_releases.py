"""Golden fixtures of the newer QEMU releases, replayed with the profile of the release they came from.

``tests/golden/fixtures/<X.Y>/`` holds what ``python -m tests.golden.capture``
recorded from QEMU X.Y (``HMPBRIDGE_TWIN_QEMU`` naming it): hmpbridge's QMP
exchange and QEMU's own text.  Each fixture is replayed here as the bridge
would serve that QEMU (its release's command table, ``ctx.profile``): the
handler must send the recorded commands in order and print QEMU's text byte
for byte.  (The 7.2 fixtures directly in ``tests/golden/fixtures/`` are
replayed by ``test_golden_info.py``.)

``tests/golden/fixtures/<X.Y>/known-differences.txt`` lists, one a line, the
fixtures whose text the bridge does not print yet (``name reason``): strict
xfails, so a fix shows up as XPASS until its line is taken off.

A fixture may name figures QEMU measures at run time (``measured``, see
:mod:`tests.golden.measured`): QEMU's own text comes from a second query after
the handler's, so such a figure may have moved.  Only those figures are left
out of the comparison, each found by its own pattern and checked to be there
in both texts, QEMU's no earlier than the handler's; every other byte counts.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any, Dict, Iterator, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.errors import QMPCommandError
from hmpbridge.model import QMPCommand
from tests.golden.measured import FIGURES, MaskError, compare
from tests.golden.recorder import fixture_profile, run_handler, set_timezone

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "golden", "fixtures")
RELEASE_DIRS = sorted(d for d in glob.glob(os.path.join(FIXTURES, "*"))
                      if os.path.isdir(d) and re.fullmatch(r"\d+\.\d+", os.path.basename(d)))


def known_differences(folder: str) -> Dict[str, str]:
    """``fixture name -> reason`` from the folder's ``known-differences.txt``."""
    path = os.path.join(folder, "known-differences.txt")
    known: Dict[str, str] = {}
    if os.path.exists(path):
        with open(path) as f:
            for raw in f:
                if raw.strip() and not raw.startswith("#"):
                    name, _, reason = raw.strip().partition(" ")
                    known[name] = reason.strip()
    return known


def cases() -> List[Any]:
    params = []
    for folder in RELEASE_DIRS:
        release = os.path.basename(folder)
        known = known_differences(folder)
        for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
            name = os.path.basename(path)[:-len(".json")]
            listed = f"{known.get(name)} [fixed? take it off {release}/known-differences.txt]"
            marks = ([pytest.mark.xfail(strict=True, reason=listed)] if name in known else [])
            params.append(pytest.param(path, id=f"{release}/{name}", marks=marks))
    return params


class _Replay:
    """Answers each command with the recorded reply, checking it is the recorded one."""

    def __init__(self, exchanges: List[Any]) -> None:
        self.exchanges = list(exchanges)
        self.position = 0

    def __call__(self, cmd: QMPCommand) -> Any:
        assert self.position < len(self.exchanges), f"unexpected extra command {cmd.to_dict()}"
        sent, reply = self.exchanges[self.position]
        self.position += 1
        assert cmd.to_dict() == sent, f"command #{self.position} differs"
        if "error" in reply:
            err = reply["error"]
            raise QMPCommandError(err["class"], err["desc"], cmd.execute, reply)
        return reply["return"]


@pytest.fixture
def local_time() -> Iterator[Any]:
    old = os.environ.get("TZ")
    yield set_timezone
    set_timezone(old)


@pytest.mark.parametrize("path", cases())
def test_golden_of_its_release(path: str, local_time: Any) -> None:
    """When a handler gets a release's recorded replies, it prints that QEMU's own text."""
    with open(path) as f:
        case: Dict[str, Any] = json.load(f)
    assert case["release"] == os.path.basename(os.path.dirname(path))
    local_time(case.get("tz"))
    replay = _Replay(case["exchanges"])
    text = run_handler(case["handler"], case["args"], case["line"], replay,
                       case.get("cpu_index", 0), fixture_profile(case), sleep=None)
    assert replay.position == len(replay.exchanges), "recorded commands were not all sent"
    expected, got = compare(case["expected"], text, case.get("measured", {}))
    assert got == expected


def test_known_differences_name_fixtures() -> None:
    """Every entry of a release's list names one of its fixtures, with a reason."""
    for folder in RELEASE_DIRS:
        names = {os.path.basename(p)[:-len(".json")]
                 for p in glob.glob(os.path.join(folder, "*.json"))}
        for name, reason in known_differences(folder).items():
            assert name in names, f"{folder}: no fixture {name}"
            assert reason, name



def _all_fixtures() -> List[str]:
    return sorted(glob.glob(os.path.join(FIXTURES, "*.json"))
                  + [p for d in RELEASE_DIRS for p in glob.glob(os.path.join(d, "*.json"))])


def test_every_fixture_records_its_release() -> None:
    """A fixture names the release it was recorded from: its folder's (7.2 at the top)."""
    for path in _all_fixtures():
        with open(path) as f:
            case = json.load(f)
        folder = os.path.basename(os.path.dirname(path))
        release = folder if re.fullmatch(r"\d+\.\d+", folder) else "7.2"
        assert case.get("release") == release, path
        qemu = case.get("qemu")
        assert qemu is None or qemu.startswith(release + "."), path


def test_measured_figures_are_named_with_their_reason() -> None:
    """A fixture's masked figures are known ones, each with the reason the module gives."""
    seen = 0
    for path in _all_fixtures():
        with open(path) as f:
            measured = json.load(f).get("measured", {})
        for name, why in measured.items():
            assert name in FIGURES, f"{path}: {name}"
            assert why == FIGURES[name].why, f"{path}: {name}"
            seen += 1
    assert seen, "no fixture names a run-time figure"


_TOTAL = "Status: \t\tpre-switchover\nTime (ms): \t\ttotal=%d, setup=14\nRemaining: \t\t0 B\n"
_OLD_TOTAL = "Migration status: pre-switchover\ntotal time: %d ms\nsetup: %d ms\n"
_MEASURED = {"migrate-total-time": FIGURES["migrate-total-time"].why}


@given(st.integers(0, 10 ** 12), st.integers(0, 10 ** 6))
def test_mask_hides_only_the_moving_total_time(bridge: int, later: int) -> None:
    """QEMU's total time read later than the handler's is masked, in both layouts."""
    for qemu, bridge_text in [(_TOTAL % (bridge + later), _TOTAL % bridge),
                              (_OLD_TOTAL % (bridge + later, 5), _OLD_TOTAL % (bridge, 5))]:
        expected, got = compare(qemu, bridge_text, _MEASURED)
        assert expected == got
        assert "<migrate-total-time>" in expected.splitlines()[1]
        assert expected.splitlines()[0] == qemu.splitlines()[0]


@given(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6), st.integers(1, 10 ** 6))
def test_mask_keeps_every_other_figure(total: int, setup: int, moved: int) -> None:
    """A different setup time (not a run-time figure) still fails the comparison."""
    expected, got = compare(_OLD_TOTAL % (total, setup), _OLD_TOTAL % (total, setup + moved),
                            _MEASURED)
    assert expected != got


@given(st.integers(1, 10 ** 6), st.integers(1, 10 ** 6))
def test_mask_refuses_a_total_time_earlier_in_qemus_text(total: int, earlier: int) -> None:
    """QEMU was asked after the handler: its total time cannot be the smaller one."""
    with pytest.raises(MaskError):
        compare(_TOTAL % total, _TOTAL % (total + earlier), _MEASURED)


def test_mask_refuses_a_figure_not_printed() -> None:
    """A declared figure QEMU did not print means a wrong declaration, not a pass."""
    with pytest.raises(MaskError):
        compare("Status: \t\tnone\n", "Status: \t\tnone\n", _MEASURED)
    with pytest.raises(MaskError):
        compare(_TOTAL % 5, "Status: \t\tpre-switchover\n", _MEASURED)
    with pytest.raises(MaskError):
        compare(_TOTAL % 5, _TOTAL % 5, {"no-such-figure": "why"})
