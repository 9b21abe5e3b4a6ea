"""The systemd units of ``docs/systemd``: systemd's own checker finds nothing to say about
them, their sandbox stays tight, and their command lines are ones hmpbridge accepts.

``systemd-analyze verify`` loads each unit as systemd would (unknown keys, bad values,
a missing program, dependencies on units not there); ``systemd-analyze security
--offline=true`` rates a service's sandbox from 0 (tight) to 10 without running it.
The units name ``/usr/bin/hmpbridge``; here it is this machine's ``hmpbridge``.  A
template (``hmpbridge@.service``) is checked as an instance, ``hmpbridge@vm1``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from hmpbridge.cli import build_parser, check_exposure, fleet_usage

UNITS = Path(__file__).resolve().parents[2] / "docs" / "systemd"
ANALYZE = shutil.which("systemd-analyze")
#: Where the units expect the program, and where it is here.
PROGRAM = "/usr/bin/hmpbridge"
HERE = os.path.join(os.path.dirname(sys.executable), "hmpbridge")
#: The highest overall exposure a service may have (systemd-analyze security: 0-10).
MOST_EXPOSURE = 2.0
SERVICES = ["hmpbridge.service", "hmpbridge@vm1.service"]

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


@pytest.fixture(scope="module")
def unit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units with this machine's hmpbridge, templates as instance ``vm1``."""
    if not os.access(HERE, os.X_OK):
        pytest.skip(f"{HERE} is not installed (pip install -e .)")
    out = tmp_path_factory.mktemp("units")
    for unit in UNITS.iterdir():
        if unit.suffix not in (".service", ".socket"):
            continue
        name = unit.name.replace("@.", "@vm1.")
        (out / name).write_text(unit.read_text().replace(PROGRAM, HERE))
    return out


def unit_files() -> List[str]:
    return sorted(unit.name for unit in UNITS.iterdir() if unit.suffix in (".service", ".socket"))


def test_the_units_are_the_expected_ones() -> None:
    assert unit_files() == ["hmpbridge.service", "hmpbridge.socket", "hmpbridge@.service",
                            "hmpbridge@.socket"]


@needs_analyze
@pytest.mark.parametrize("unit", [name.replace("@.", "@vm1.") for name in unit_files()])
def test_systemd_analyze_verify_says_nothing(unit_dir: Path, unit: str) -> None:
    result = subprocess.run([ANALYZE, "verify", str(unit_dir / unit)], capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_analyze
@pytest.mark.parametrize("service", SERVICES)
def test_the_sandbox_is_tight(unit_dir: Path, service: str) -> None:
    result = subprocess.run([ANALYZE, "security", "--offline=true", str(unit_dir / service)],
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= MOST_EXPOSURE, result.stdout


def exec_start(unit: str) -> List[str]:
    (line,) = [line for line in (UNITS / unit).read_text().splitlines()
               if line.startswith("ExecStart=")]
    argv = shlex.split(line.split("=", 1)[1].replace("%i", "vm1"))
    assert argv[0] == PROGRAM
    return argv[1:]


@pytest.mark.parametrize("unit", ["hmpbridge.service", "hmpbridge@.service"])
def test_the_command_lines_are_accepted(unit: str) -> None:
    """hmpbridge's parser takes each ``ExecStart=``, its option rules hold, and every listener
    is local (a unix socket: no --allow-remote or password file needed)."""
    options = build_parser().parse_args(exec_start(unit))
    assert fleet_usage(options) == ""
    local = {"systemd:domain=UNIX:index=0": "unix:/run/hmpbridge/vm1.hmp",
             "systemd:domain=UNIX:index=1": "unix:/run/hmpbridge/vm1.qmp",
             "systemd:domain=UNIX:name=hmp": "unix:/run/hmpbridge.hmp"}
    assert check_exposure(options, lambda d: local.get(d, d)) == []


def test_the_template_serves_the_socket_units_sockets_in_order() -> None:
    """``hmpbridge@.service`` adopts index 0 as HMP and 1 as QMP: the order of the socket
    unit's ``ListenStream=`` lines (systemd passes a unit's sockets in that order)."""
    listen = [line.split("=", 1)[1] for line in
              (UNITS / "hmpbridge@.socket").read_text().splitlines()
              if line.startswith("ListenStream=")]
    assert listen == ["/run/hmpbridge/%i.hmp", "/run/hmpbridge/%i.qmp"]
    options = build_parser().parse_args(exec_start("hmpbridge@.service"))
    assert options.listen == ["plain:systemd:domain=UNIX:index=0"]
    assert options.qmp_listen == ["systemd:domain=UNIX:index=1"]
    assert options.qmp == "unix:path=/run/hmpbridge-qmp/vm1.qmp"


def socket_values(unit: str, key: str) -> List[str]:
    return [line.split("=", 1)[1] for line in (UNITS / unit).read_text().splitlines()
            if line.startswith(f"{key}=")]


def test_the_shared_listener_is_the_socket_units() -> None:
    """``hmpbridge.service``'s shared ``--listen`` adopts ``hmpbridge.socket``'s socket by
    the name that unit gives it, outside the service's RuntimeDirectory (removed when the
    service stops, which would take the socket's file with it)."""
    options = build_parser().parse_args(exec_start("hmpbridge.service"))
    (name,) = socket_values("hmpbridge.socket", "FileDescriptorName")
    assert options.listen == [f"plain:systemd:domain=UNIX:name={name}"]
    (path,) = socket_values("hmpbridge.socket", "ListenStream")
    (runtime,) = socket_values("hmpbridge.service", "RuntimeDirectory")
    assert not path.startswith(f"/run/{runtime}/")


def test_the_service_runs_what_the_by_hand_recipe_runs() -> None:
    """``hmpbridge.service`` and the by-hand recipe of docs/deployment.md start the same
    hmpbridge but for the shared listener the socket unit hands over (the recipe's is run
    by tests/integration/test_deploy_recipes.py)."""
    doc = (UNITS.parent / "deployment.md").read_text()
    found = re.search(r"<!-- recipe: by-hand -->\n```sh\n(hmpbridge [^\n]*)\n", doc)
    assert found is not None
    unit = exec_start("hmpbridge.service")
    at = unit.index("--listen")
    assert shlex.split(found.group(1))[1:] == unit[:at] + unit[at + 2:]
