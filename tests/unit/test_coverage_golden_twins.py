"""The golden capture decides by the command table which lines need twin VMs.

A line whose command may change state (not ``reads_only``) and that asks for
no help runs through the handler on VM A and through QEMU's own HMP on twin B;
any other line runs on A alone; with no twin, a state-changing line is
refused.  QMP clients are fakes here (tests/integration/test_golden_twins.py
records on real twins).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import pytest

from hmpbridge.commands import all_commands
from hmpbridge.handlers import HELP_FORMS
from hmpbridge.hmp_parser import parse
from tests.golden import capture
from tests.golden.capture import Capture, changes_state

_GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": ""},
                     "capabilities": []}}


class FakeQMP:
    """Answers every QMP command with an error (or what ``answers`` says); keeps HMP lines."""

    def __init__(self, answers: Optional[Mapping[str, Any]] = None) -> None:
        self.greeting = _GREETING
        self.answers = dict(answers or {})
        self.sent: List[Dict[str, Any]] = []
        self.hmp_lines: List[str] = []

    def send(self, msg: Mapping[str, Any]) -> Dict[str, Any]:
        self.sent.append(dict(msg))
        if msg["execute"] in self.answers:
            return {"return": self.answers[msg["execute"]]}
        return {"error": {"class": "GenericError", "desc": "fake"}}

    def hmp(self, line: str, cpu_index: Optional[int] = None) -> str:
        self.hmp_lines.append(line)
        return "Error: fake\n"


@pytest.fixture
def fixtures_in_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(capture, "FIXTURES", str(tmp_path))
    return tmp_path


READS = ["info status", "info block", "qom-list /", "qom-get /machine type",
         "device_add help", "netdev_add help", "chardev-add help", "object_add help"]
CHANGES = ["nbd_server_start unix:n.sock", "migrate -d exec:true", "stop", "cont",
           "eject cd0", "qom-set /machine/peripheral/balloon0 guest-stats-polling-interval 2",
           "balloon 0", "device_del nosuch", "savevm s1"]


@pytest.mark.parametrize("line", READS)
def test_a_read_runs_on_one_vm(line: str, fixtures_in_tmp: Any) -> None:
    """A reads_only command, or a help request, is answered by VM A alone."""
    vm, twin = FakeQMP(), FakeQMP()
    Capture("t", vm, None, twin).case("x", line)  # type: ignore[arg-type]
    assert vm.hmp_lines == [line] and twin.hmp_lines == []


@pytest.mark.parametrize("line", CHANGES)
def test_a_state_changing_line_runs_on_twins(line: str, fixtures_in_tmp: Any) -> None:
    """The handler's QMP goes to A, QEMU's HMP text comes from B; without B it is refused."""
    vm, twin = FakeQMP({"stop": {}, "cont": {}}), FakeQMP()
    Capture("t", vm, None, twin).case("x", line)  # type: ignore[arg-type]
    assert vm.hmp_lines == [] and twin.hmp_lines == [line]
    assert twin.sent == []
    with pytest.raises(RuntimeError, match="record it on twins"):
        Capture("t", FakeQMP(), None).case("x", line)  # type: ignore[arg-type]


def test_the_decision_is_the_tables_reads_only_column() -> None:
    """For every command that parses bare, a twin is needed exactly when it is not reads_only.

    (Commands with help forms are checked above with their help lines.)
    """
    checked = 0
    for spec in all_commands():
        if spec.key in HELP_FORMS:
            continue
        try:
            inv = parse(spec.key)
        except Exception:  # noqa: BLE001 - needs arguments
            continue
        if inv is None or inv.spec is not spec:
            continue
        assert changes_state(inv) == (not spec.reads_only), spec.key
        checked += 1
    assert checked > 50
