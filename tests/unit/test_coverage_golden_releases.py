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
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any, Dict, Iterator, List

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.model import QMPCommand
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
    assert text == case["expected"]


def test_known_differences_name_fixtures() -> None:
    """Every entry of a release's list names one of its fixtures, with a reason."""
    for folder in RELEASE_DIRS:
        names = {os.path.basename(p)[:-len(".json")]
                 for p in glob.glob(os.path.join(folder, "*.json"))}
        for name, reason in known_differences(folder).items():
            assert name in names, f"{folder}: no fixture {name}"
            assert reason, name

