"""Golden capture on twins: a line that may change state gets QEMU's text of the same first attempt.

``tests/golden/capture.py`` runs a line through the handler on VM A and, when
its command is not ``reads_only``, through QEMU's own HMP on twin B, started
identically.  Run on one VM, QEMU's text would be that of a second attempt
(QEMU 11.1.3 accepts ``nbd_server_start 127.0.0.1:0,ipv4=yes`` and ``migrate -d``
with an NVMe device, so a second attempt on the same VM is refused).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Iterator, List

import pytest

from tests.golden import capture
from tests.golden import vm as golden_vm
from tests.golden.capture import Capture
from tests.golden.scenarios import Make
from tests.golden.scenarios_blockjobs import _devices
from tests.golden.scenarios_migration import SCENARIOS as MIGRATION
from tests.golden.vm import VM
from tests.integration.conftest import release_params


def _nbd_start(make: Make) -> List[str]:
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("nbd-start-bad-flag", "nbd_server_start 127.0.0.1:0,ipv4=yes")
        cap.case("nbd-start-running", "nbd_server_start unix:n.sock")
        return cap.results


@pytest.fixture
def into(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs the golden VMs on a release, writing fixtures under ``tmp_path``."""
    program = golden_vm.BASE_ARGS[0]

    def use(release: Any) -> str:
        golden_vm.BASE_ARGS[0] = release.program
        monkeypatch.setattr(capture, "FIXTURES", str(tmp_path))
        return str(tmp_path)

    yield use
    golden_vm.BASE_ARGS[0] = program


def _fixture(folder: str, name: str) -> Any:
    found = [os.path.join(root, name + ".json") for root, _, files in os.walk(folder)
             if name + ".json" in files]
    assert len(found) == 1, found
    with open(found[0]) as f:
        return json.load(f)


@pytest.mark.parametrize("release", release_params())
def test_state_changing_lines_are_recorded_on_twins(release: Any, into: Any) -> None:
    """nbd_server_start and migrate -d: QEMU's text of a first attempt, the bridge's the same."""
    folder = into(release)
    report = _nbd_start(functools.partial(Capture, "twins"))
    report += MIGRATION["migration-blocked"](functools.partial(Capture, "blocked"))
    assert not [line for line in report if line.startswith("DIFF")], "\n".join(report)
    assert all(line.endswith("(on twins)") for line in report
               if line.startswith("ok") and "info migrate" not in line), report
    started = _fixture(folder, "twins-nbd-start-bad-flag")
    assert started["qemu"] == release.name
    assert started["release"] == "%d.%d" % release.release
    # QEMU 11.1.3 accepts ipv4=yes (7.2 and 10.0 refuse it): then a second start is
    # refused on both twins alike, as each runs a server
    accepted = started["expected"] == ""
    assert accepted == (release.release >= (11, 1))
    assert _fixture(folder, "twins-nbd-start-running")["expected"] == (
        "Error: NBD server already running\n" if accepted else "")


@pytest.mark.parametrize("release", release_params()[:1])
def test_a_state_changing_line_without_a_twin_is_refused(release: Any, into: Any) -> None:
    """One VM answers a read; a line that may change state needs the twin."""
    into(release)
    with VM() as vm:
        cap = Capture("single", vm.qmp, vm.tz)
        assert cap.case("status", "info status")["expected"] == "VM status: paused (prelaunch)\n"
        cap.case("help", "device_add help")
        with pytest.raises(RuntimeError, match="may change state"):
            cap.case("stop", "nbd_server_start unix:n.sock")
        reply = vm.qmp.send({"execute": "nbd-server-stop"})
        assert reply["error"]["desc"] == "NBD server not running"
