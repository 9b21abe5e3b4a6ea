"""Migration lines through the bridge in front of QEMU 10.0.2 and 11.1.3, and 7.2's text on demand.

For each release a pair of twins runs (``scripts/qemu-releases.sh`` unpacks
the QEMUs; a release that is not there is skipped with the reason): VM A is
served by the bridge with ``--no-passthrough`` (every line is translated),
VM B answers the same lines through its own ``human-monitor-command``.
Every line that changes something is run on both, so they stay twins: the
text and then the state (``query-migrate-parameters`` and
``query-migrate-capabilities``) must be the same.  After a real ``migrate``
of A, ``info migrate`` through the bridge is compared with A's own monitor
(the figures are A's).

``--hmp-version 7.2`` over QEMU 11.1.3 with machine ``pc-i440fx-7.2`` is
compared with the system's QEMU 7.2 on the same machine type, less the lines
QEMU 11.1 has no data for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.golden.vm import BASE_ARGS, VM, default_devices
from tests.integration.conftest import ROOT, Bridge, HMPClient, bridge_command

RELEASES_DIR = os.environ.get("HMPBRIDGE_QEMU_RELEASES", os.path.join(ROOT, ".qemu"))
RELEASES = ["10.0.2", "11.1.3"]

#: Lines of QEMU 7.2's text that QEMU 11.1 has no data for.
GONE_IN_11 = ("compress-level:", "compress-threads:", "compress-wait-thread:",
              "decompress-threads:", "block-incremental:", "compress:", "block:",
              "zero-blocks:", "decompress-error-check:")


def launcher(version: str) -> str:
    return os.path.join(RELEASES_DIR, version, "qemu-system-x86_64")


def _program(version: str) -> str:
    program = launcher(version)
    if not os.access(program, os.X_OK):
        pytest.skip(f"QEMU {version} is not unpacked in {RELEASES_DIR}: "
                    "scripts/qemu-releases.sh needs its packages")
    return program


def _vm(program: str, machine: str = "pc") -> VM:
    base = [program, *BASE_ARGS[1:]]
    base[base.index("-M") + 1] = machine
    return VM(base=base, devices=lambda d: default_devices(d) + [
        "-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off"])


class Pair:
    """VM A behind a bridge, its twin B, and one HMP session on the bridge."""

    def __init__(self, program: str, machine: str = "pc", *bridge_args: str,
                 twin: bool = True) -> None:
        self.a = _vm(program, machine)
        self.b = _vm(program, machine) if twin else None
        self.bridge = Bridge(f"unix:path={self.a.path('bridge.sock')}", "--no-passthrough",
                             *bridge_args)
        self.session: HMPClient = self.bridge.session()

    def both(self, line: str) -> Tuple[str, str]:
        """``line`` through the bridge on A and through QEMU's own monitor on B."""
        assert self.b is not None
        return self.session.cmd(line), self.b.qmp.hmp(line)

    def state(self, vm: VM) -> Dict[str, object]:
        return {name: vm.qmp.command(name) for name in (
            "query-migrate-parameters", "query-migrate-capabilities")}

    def close(self) -> None:
        self.session.close()
        self.bridge.close()
        self.a.close()
        if self.b is not None:
            self.b.close()


@pytest.fixture(scope="module", params=RELEASES)
def pair(request: pytest.FixtureRequest) -> Iterator[Tuple[str, Pair]]:
    twins = Pair(_program(request.param))
    try:
        yield request.param, twins
    finally:
        twins.close()


@pytest.mark.parametrize("line", ["info migrate_parameters", "info migrate_capabilities",
                                  "info migrate"])
def test_info_lines_are_that_qemus_own(pair, line: str) -> None:
    _, twins = pair
    ours, qemus = twins.both(line)
    assert ours == qemus


#: Lines that change the migration state (or are refused), run on both twins in order.
SET_LINES: Dict[str, List[str]] = {
    "10.0.2": [
        "migrate_set_parameter avail-switchover-bandwidth 1000",
        "migrate_set_parameter compress-level 1",
        "migrate_set_parameter block-incremental on",
        "migrate_set_parameter mode bogus",
        "migrate_set_parameter mode cpr-reboot",
        "migrate_set_parameter zero-page-detection legacy",
        "migrate_set_parameter x-vcpu-dirty-limit-period 500",
        "migrate_set_parameter direct-io maybe",
        "migrate_set_parameter multifd-qatzip-level 300",
        "migrate_set_capability compress on",
        "migrate_set_capability block on",
        "migrate_set_capability zero-blocks on",
        "migrate_set_capability events on",
        "migrate_set_capability zero-blocks off",
        "migrate_set_capability mapped-ram on",
        "migrate_set_capability mapped-ram off",
    ],
    "11.1.3": [
        "migrate_set_parameter avail-switchover-bandwidth 1000",
        "migrate_set_parameter compress-level 1",
        "migrate_set_parameter vcpu-dirty-limit 5",
        "migrate_set_parameter x-rdma-chunk-size 2M",
        "migrate_set_parameter x-rdma-chunk-size 1k",
        "migrate_set_parameter x-rdma-chunk-size abc",
        "migrate_set_parameter cpr-exec-command qemu-x",
        "migrate_set_parameter cpr-exec-command 'unterminated",
        "migrate_set_parameter max-postcopy-bandwidth 1k",
        "migrate_set_capability zero-blocks on",
        "migrate_set_capability compress on",
        "migrate_set_capability events on",
    ],
}


def test_set_lines_print_and_change_what_qemus_monitor_does(pair) -> None:
    version, twins = pair
    for line in SET_LINES[version]:
        ours, qemus = twins.both(line)
        assert (line, ours) == (line, qemus)
        assert twins.state(twins.a) == twins.state(twins.b), line
    for line in ("info migrate_parameters", "info migrate_capabilities"):
        ours, qemus = twins.both(line)
        assert ours == qemus


@pytest.mark.parametrize("line", ["calc_dirty_rate -b 1 64", "calc_dirty_rate -r 1 64",
                                  "calc_dirty_rate -r 100", "calc_dirty_rate -b 61",
                                  "calc_dirty_rate -r 1 5", "calc_dirty_rate -r 1"])
def test_calc_dirty_rate_refusals_are_that_qemus_own(pair, line: str) -> None:
    """Without KVM these QEMUs refuse the dirty ring and bad arguments in their own words."""
    _, twins = pair
    ours, qemus = twins.both(line)
    assert ours == qemus


def _wait_postmigrate(vm: VM) -> None:
    """Until QEMU has finished with a completed migration (its run state says so)."""
    deadline = time.monotonic() + 30
    while vm.qmp.command("query-status").get("status") != "postmigrate":
        assert time.monotonic() < deadline, "the migration did not end"
        time.sleep(0.05)


def test_migrate_and_info_migrate_after_it(pair) -> None:
    """A real migration of A to ``exec:``; ``info migrate`` is A's own text.

    Without ``-d`` the bridge holds the prompt until the migration has
    ended, as QEMU does: it is over when the prompt comes back.
    """
    version, twins = pair
    assert twins.session.cmd("migrate exec:cat>/dev/null") == ""
    assert twins.a.qmp.command("query-migrate")["status"] == "completed"
    lines = ["info migrate"] + (["info migrate -a"]
                                if tuple(map(int, version.split("."))) >= (10, 1) else [])
    for line in lines:
        assert twins.session.cmd(line) == twins.a.qmp.hmp(line)
    # Once paused by a migration, QEMU refuses another; both twins say so in the same words.
    twins.b.qmp.command("migrate", {"uri": "exec:cat>/dev/null"})
    for vm in (twins.a, twins.b):
        _wait_postmigrate(vm)
    ours, qemus = twins.both("migrate -d exec:cat>/dev/null")
    assert ours == qemus


def test_a_failed_incoming_migration_leaves_qemu_running(pair) -> None:
    """``migrate_incoming`` asks QEMU not to exit when the stream is bad, as HMP does.

    Twins started with ``-incoming defer`` both listen; each gets garbage;
    both must still be there, and print the same ``info migrate`` status.
    """
    version, _ = pair
    program = _program(version)
    a = _incoming_vm(program)
    b = _incoming_vm(program)
    bridge = Bridge(f"unix:path={a.path('bridge.sock')}", "--no-passthrough")
    session = bridge.session()
    try:
        assert session.cmd(f"migrate_incoming unix:{a.path('in.sock')}") == ""
        assert b.qmp.hmp(f"migrate_incoming unix:{b.path('in.sock')}") == ""
        for vm in (a, b):
            _send_garbage(vm.path("in.sock"))
        for vm in (a, b):
            _wait_failed(vm)
        assert a.proc.poll() is None and b.proc.poll() is None
        assert session.cmd("info status") == b.qmp.hmp("info status")
    finally:
        session.close()
        bridge.close()
        a.close()
        b.close()


def _incoming_vm(program: str) -> VM:
    return VM(base=[program, *BASE_ARGS[1:], "-incoming", "defer"], devices=lambda d: [
        "-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off"])


def _send_garbage(path: str) -> None:
    import socket
    deadline = time.monotonic() + 10
    while True:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                assert time.monotonic() < deadline, "QEMU did not listen"
                time.sleep(0.02)
                continue
            sock.sendall(b"this is not a migration stream\n" * 4)
            return


def _wait_failed(vm: VM) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert vm.proc.poll() is None, "QEMU exited on the failed incoming migration"
        try:
            if vm.qmp.command("query-migrate").get("status") == "failed":
                return
        except (ConnectionError, OSError):
            assert vm.proc.wait(5) is None, "QEMU exited on the failed incoming migration"
        assert time.monotonic() < deadline, "the incoming migration did not fail"
        time.sleep(0.05)


def _has_hmp_version_option() -> bool:
    done = subprocess.run(bridge_command("--help"), cwd=ROOT, capture_output=True, text=True)
    return "--hmp-version" in done.stdout


@pytest.fixture(scope="module")
def seven_two() -> Iterator[Tuple[Pair, VM]]:
    program = _program("11.1.3")
    if not _has_hmp_version_option():
        pytest.skip("this hmpbridge has no --hmp-version option")
    newer = Pair(program, "pc-i440fx-7.2", "--hmp-version", "7.2", twin=False)
    system = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
    older = VM(base=[system, "-M", "pc-i440fx-7.2", *BASE_ARGS[3:]], devices=default_devices)
    try:
        if older.qmp.greeting["QMP"]["version"]["qemu"]["major"] != 7:
            pytest.skip(f"the system's QEMU ({system}) is not QEMU 7.2")
        yield newer, older
    finally:
        newer.close()
        older.close()


@pytest.mark.parametrize("line", ["info migrate_parameters", "info migrate_capabilities",
                                  "info migrate"])
def test_hmp_version_7_2_over_11_1_prints_7_2s_text(seven_two, line: str) -> None:
    """QEMU 7.2's own text, less the lines for what QEMU 11.1 no longer has."""
    newer, older = seven_two
    expected = "".join(text for text in older.qmp.hmp(line).splitlines(True)
                       if not text.startswith(GONE_IN_11))
    assert newer.session.cmd(line) == expected
