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
from typing import Any, Dict, List, Optional, Sequence

from hmpbridge.commands import CommandTable
from hmpbridge.errors import ParseError
from hmpbridge.handlers import asks_for_help
from hmpbridge.hmp_parser import parse
from hmpbridge.model import Invocation
from hmpbridge.profile import profile_for
from tests.golden.measured import compare
from tests.golden.recorder import HMPMonitor, QMPClient, record, write_fixture
from tests.golden.scenarios import SCENARIOS as BASE_SCENARIOS

__all__ = ["Capture", "main", "fixtures_dir", "changes_state"]

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
#: The release whose fixtures sit directly in :data:`FIXTURES`.
BASE_RELEASE = "7.2"


def fixtures_dir(release: str) -> str:
    """Where the fixtures of ``release`` (``"10.0"``) are kept."""
    return FIXTURES if release == BASE_RELEASE else os.path.join(FIXTURES, release)

_IDLE = re.compile(r"idle_time_ns=\d+")


def _parse(line: str, table: CommandTable) -> Invocation:
    """``line`` as ``table``'s grammar parses it."""
    inv = parse(line, table)
    assert inv is not None, line
    return inv


def changes_state(inv: Invocation) -> bool:
    """Whether the line may change the VM: its command is not ``reads_only`` and it asks no help."""
    return not (inv.spec.reads_only or asks_for_help(inv))


class Capture:
    """Records the cases of one scenario against one VM and, for lines that change state, its twin.

    :param twin: a VM started identically and brought to the same state by the
        scenario (or another monitor of it, :class:`tests.golden.recorder.HMPMonitor`).
        A line that may change state (its command is not ``reads_only`` in the
        command table, and it does not ask for help) runs through the handler on
        ``qmp`` and through QEMU's own HMP on the twin, so both start from the
        same state and QEMU's text is that of the same first attempt; every
        other line runs on ``qmp`` alone.  Without a twin such a line is refused.
    """

    def __init__(self, scenario: str, qmp: QMPClient, tz: Optional[str],
                 twin: Optional[HMPMonitor] = None) -> None:
        self.scenario = scenario
        self.qmp = qmp
        self.tz = tz
        self.twin = twin
        self.profile = profile_for(qmp.greeting.get("QMP"))
        self.fixtures = fixtures_dir(self.profile.release_text)
        self.results: List[str] = []

    def case(self, name: str, line: str, *, cpu_index: int = 0, note: str = "",
             moving_idle: bool = False, measured: Sequence[str] = ()) -> Dict[str, Any]:
        """Record ``line`` as fixture ``<scenario>-<name>.json``.

        :param moving_idle: ``idle_time_ns`` moves between the handler's query
            and QEMU's own text; QEMU's values are replaced by the recorded ones
            (after checking that nothing else differs) and the fixture says so.
        :param measured: names of run-time figures in the text
            (:data:`tests.golden.measured.FIGURES`), left out of the replay's comparison.
        :returns: the fixture; empty (and nothing recorded) when the release
            captured from has no such command.
        :raises RuntimeError: the line may change state and the capture has no twin.
        """
        try:
            inv = _parse(line, self.profile.table)
        except ParseError as err:
            if not str(err).startswith("unknown command"):
                raise
            self.results.append(f"skip {self.scenario}-{name}: {line} "
                                f"(QEMU {self.profile.release_text} has no such command)")
            return {}
        twin = self.twin if changes_state(inv) else None
        if changes_state(inv) and twin is None:
            raise RuntimeError(f"{self.scenario}-{name}: {line!r} may change state "
                               f"({inv.spec.key!r} is not reads_only): record it on twins")
        fixture = record(self.qmp, line, dict(inv.args), inv.spec.key, cpu_index=cpu_index,
                         twin=twin, tz=self.tz, note=note, measured=measured)
        if moving_idle:
            self._adjust_idle(fixture)
        os.makedirs(self.fixtures, exist_ok=True)
        write_fixture(os.path.join(self.fixtures, f"{self.scenario}-{name}.json"), fixture)
        ok = fixture["got"] == fixture["expected"]
        if not ok and measured:
            expected, got = compare(fixture["expected"], fixture["got"], fixture["measured"])
            ok = expected == got
        self.results.append(f"{'ok  ' if ok else 'DIFF'} {self.scenario}-{name}: {line}"
                            + (" (on twins)" if twin is not None else ""))
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
