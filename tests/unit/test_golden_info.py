"""The native info commands against texts captured from QEMU 7.2.22.

Every fixture in ``tests/golden/fixtures`` holds the QMP commands hmpbridge
sent to a real QEMU, the replies it got, and the text QEMU's own HMP printed
at the same moment (``python -m tests.golden.capture`` records them).  Here
the handler is replayed against the recorded replies: it must send the same
commands in the same order and print QEMU's text byte for byte.
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any, Dict, Iterator, List

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all, drive, handler_for
from hmpbridge.model import Invocation, QMPCommand, SessionState
from hmpbridge.render.errors import render_error

_load_all()

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "golden", "fixtures")
PATHS = sorted(glob.glob(os.path.join(FIXTURES, "*.json")))


def _load(path: str) -> Dict[str, Any]:
    with open(path) as f:
        data: Dict[str, Any] = json.load(f)
    return data


@pytest.fixture
def local_time() -> Iterator[Any]:
    """Lets a test set the process time zone; the old one comes back afterwards."""
    old = os.environ.get("TZ")

    def set_tz(tz: Any) -> None:
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()

    yield set_tz
    set_tz(old)


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


def test_fixtures_are_present() -> None:
    """When the golden fixtures are listed, every native info command has some."""
    handlers = {_load(p)["handler"] for p in PATHS}
    assert handlers >= {
        "info status", "info version", "info name", "info uuid", "info kvm", "info cpus",
        "info block", "info blockstats", "info chardev", "info pci", "info mice",
        "info balloon", "info iothreads", "info memdev", "info snapshots", "info dump",
        "info block-jobs", "info migrate_parameters", "info migrate_capabilities"}


@pytest.mark.parametrize("path", PATHS, ids=[os.path.basename(p)[:-5] for p in PATHS])
def test_golden(path: str, local_time: Any) -> None:
    """When a handler gets QEMU's recorded replies, it prints QEMU's own text."""
    case = _load(path)
    local_time(case.get("tz"))
    inv = Invocation(by_key(case["handler"]), case["args"], case["line"])
    ctx = Context(state=SessionState(cpu_index=case.get("cpu_index", 0)),
                  schema_commands=None, passthrough=False)
    replay = _Replay(case["exchanges"])
    try:
        handler = handler_for(inv.spec)
        assert handler is not None
        text = drive(handler(inv, ctx), replay)
    except QMPCommandError as err:
        text = render_error(err)
    assert replay.position == len(replay.exchanges), "recorded commands were not all sent"
    assert text == case["expected"]
