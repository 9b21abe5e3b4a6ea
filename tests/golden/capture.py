"""Capture golden texts for the native commands from a real QEMU.

    cd /work/main && .venv/bin/python -m tests.golden.capture [scenario ...]
    HMPBRIDGE_TWIN_QEMU=.qemu/10.0.2/qemu-system-x86_64 .venv/bin/python -m tests.golden.capture

Each scenario starts a VM (see :mod:`tests.golden.vm`: the system's QEMU, or
the one ``HMPBRIDGE_TWIN_QEMU`` names), puts it in some state and records
cases with :func:`tests.golden.recorder.record`: hmpbridge's QMP exchange plus
QEMU's own text, and the QEMU they came from (``release``, ``qemu``).
Fixtures go to ``tests/golden/fixtures/`` as ``<scenario>-<case>.json`` for
7.2, and to ``tests/golden/fixtures/<X.Y>/`` for any other release; a line per
case reports whether hmpbridge's text already matched.  Every VM is killed
when its scenario ends.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from typing import Any, Dict, List, Optional

from hmpbridge.commands import CommandTable
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import parse
from hmpbridge.profile import profile_for
from tests.golden.recorder import QMPClient, record, write_fixture
from tests.golden.scenarios import SCENARIOS as BASE_SCENARIOS

__all__ = ["Capture", "main", "fixtures_dir"]

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
#: The release whose fixtures sit directly in :data:`FIXTURES`.
BASE_RELEASE = "7.2"


def fixtures_dir(release: str) -> str:
    """Where the fixtures of ``release`` (``"10.0"``) are kept."""
    return FIXTURES if release == BASE_RELEASE else os.path.join(FIXTURES, release)

_IDLE = re.compile(r"idle_time_ns=\d+")


def _args(line: str, table: CommandTable) -> "tuple[str, Dict[str, Any]]":
    """The handler key and parsed args of ``line``, as ``table``'s grammar parses it."""
    inv = parse(line, table)
    assert inv is not None, line
    return inv.spec.key, dict(inv.args)


class Capture:
    """Records the cases of one scenario against one VM."""

    def __init__(self, scenario: str, qmp: QMPClient, tz: Optional[str]) -> None:
        self.scenario = scenario
        self.qmp = qmp
        self.tz = tz
        self.profile = profile_for(qmp.greeting.get("QMP"))
        self.fixtures = fixtures_dir(self.profile.release_text)
        self.results: List[str] = []

    def case(self, name: str, line: str, *, cpu_index: int = 0, note: str = "",
             twin: Optional[QMPClient] = None, moving_idle: bool = False) -> Dict[str, Any]:
        """Record ``line`` as fixture ``<scenario>-<name>.json``.

        :param moving_idle: ``idle_time_ns`` moves between the handler's query
            and QEMU's own text; QEMU's values are replaced by the recorded ones
            (after checking that nothing else differs) and the fixture says so.
        :returns: the fixture; empty (and nothing recorded) when the release
            captured from has no such command.
        """
        try:
            key, args = _args(line, self.profile.table)
        except ParseError as err:
            if not str(err).startswith("unknown command"):
                raise
            self.results.append(f"skip {self.scenario}-{name}: {line} "
                                f"(QEMU {self.profile.release_text} has no such command)")
            return {}
        fixture = record(self.qmp, line, args, key, cpu_index=cpu_index, twin=twin,
                         tz=self.tz, note=note)
        if moving_idle:
            self._adjust_idle(fixture)
        os.makedirs(self.fixtures, exist_ok=True)
        write_fixture(os.path.join(self.fixtures, f"{self.scenario}-{name}.json"), fixture)
        ok = fixture["got"] == fixture["expected"]
        self.results.append(f"{'ok  ' if ok else 'DIFF'} {self.scenario}-{name}: {line}")
        if not ok:
            self.results.append("  expected: " + repr(fixture["expected"]))
            self.results.append("  got:      " + repr(fixture["got"]))
        return fixture

    @staticmethod
    def _adjust_idle(fixture: Dict[str, Any]) -> None:
        text = fixture["expected"]
        if _IDLE.sub("idle_time_ns=N", text) != _IDLE.sub("idle_time_ns=N", fixture["got"]):
            return  # a real difference: keep QEMU's text as it is
        (_, reply), = fixture["exchanges"]
        values = iter([e.get("stats", {}).get("idle_time_ns", 0)
                       for e in reply["return"] if "device" in e])
        fixture["expected"] = _IDLE.sub(lambda m: f"idle_time_ns={next(values)}", text)
        fixture["note"] = ("idle_time_ns moves between two queries; QEMU's own text was "
                           "identical apart from it, and its values here are the recorded ones")


def all_scenarios() -> Dict[str, Any]:
    """The scenarios of :mod:`tests.golden.scenarios` and of every ``scenarios_*.py`` beside it."""
    import importlib
    import pkgutil

    found: Dict[str, Any] = dict(BASE_SCENARIOS)
    for mod in pkgutil.iter_modules([HERE]):
        if mod.name.startswith("scenarios_"):
            found.update(importlib.import_module(f"tests.golden.{mod.name}").SCENARIOS)
    return found


def main(argv: List[str]) -> int:
    """Run the scenarios named in ``argv`` (all when none); print a report."""
    os.makedirs(FIXTURES, exist_ok=True)
    scenarios = all_scenarios()
    names = argv or list(scenarios)
    report: List[str] = []
    start = time.monotonic()
    for name in names:
        report += scenarios[name](functools.partial(Capture, name))
    sys.stdout.write("\n".join(report) + "\n")
    diffs = sum(1 for r in report if r.startswith("DIFF"))
    sys.stdout.write(f"{len([r for r in report if r[:4] in ('ok  ', 'DIFF')])} cases, "
                     f"{diffs} differ, {time.monotonic() - start:.1f} s\n")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
