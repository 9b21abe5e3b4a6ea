"""The bridge in front of the newer QEMU releases Debian ships, unpacked by
``scripts/qemu-releases.sh`` (``./test.sh`` runs it) beside the system's 7.2.

Each release's QEMU is started with the golden VMs' command line; the bridge
connects to it, greets with its version, and answers the lines whose text
did not change between releases as that QEMU's own monitor does.  The
measured table of requests that kill each release is held to live: QEMU
stays up.  Both programs of each release (``qemu-system-x86_64`` and
``qemu-storage-daemon``) are the ones of the packages
``scripts/qemu-pins/<version>.sha256`` pins.
"""

from __future__ import annotations

import os
import subprocess
from typing import Iterator, Tuple

import pytest

from hmpbridge import hazards
from tests.golden.recorder import QMPClient
from tests.golden.vm import VM
from tests.integration.conftest import (NEWER_RELEASES, ROOT, Bridge, QemuRelease,
                                        release_params, served_release)

PINS = os.path.join(ROOT, "scripts", "qemu-pins")

#: Lines whose text is the same in 7.2 and the newer releases.
STABLE_LINES = ["info status", "info version", "info name", "info uuid", "info kvm"]


@pytest.fixture(scope="module", params=release_params(NEWER_RELEASES))
def release(request: pytest.FixtureRequest) -> Iterator[Tuple[str, VM, Bridge, str]]:
    qemu: QemuRelease = request.param
    with served_release(qemu, "--qmp-read-only-listen", "unix:{mux}") as (vm, bridge, mux):
        yield qemu.name, vm, bridge, mux


def test_the_banner_names_the_release(release) -> None:
    version, _, bridge, _ = release
    session = bridge.session()
    try:
        assert session.banner == (f"QEMU {version} monitor - type 'help' for more "
                                  "information\r\n(qemu) ").encode()
    finally:
        session.close()


@pytest.mark.parametrize("line", STABLE_LINES)
def test_stable_lines_are_that_qemus_own(release, line: str) -> None:
    _, vm, bridge, _ = release
    session = bridge.session()
    try:
        assert session.cmd(line) == vm.qmp.hmp(line)
    finally:
        session.close()


def test_the_measured_aborts_are_refused_and_qemu_lives(release) -> None:
    """Every request the table says kills this release is refused to a QMP client."""
    version, vm, _, mux = release
    table = hazards.ABORTS[hazards.release_of({"version": vm.qmp.command("query-version")})]
    client = QMPClient(mux)
    try:
        for command, types in table.items():
            if command == "device_add":
                continue
            for typename in sorted(types):
                reply = client.send({"execute": command, "arguments": {"typename": typename}})
                assert reply["error"]["class"] == "GenericError", (command, typename)
                assert "abort" in reply["error"]["desc"]
        assert client.command("query-status")["status"] == "prelaunch"
        assert vm.qmp.command("query-version")["qemu"]["major"] == int(version.split(".")[0])
    finally:
        client.close()


def pinned_version(version: str, package: str) -> str:
    """The Debian version of ``package`` that ``scripts/qemu-pins/<version>.sha256`` pins."""
    with open(os.path.join(PINS, f"{version}.sha256")) as f:
        for line in f:
            name = line.split()[1]
            if name.startswith(package + "_"):
                return name.split("_")[1].replace("%3a", ":")
    raise LookupError(f"{package} is not pinned for {version}")


@pytest.mark.parametrize("qemu", release_params(NEWER_RELEASES))
def test_the_unpacked_programs_are_the_pinned_packages(qemu: QemuRelease) -> None:
    """When a release is unpacked, its programs are the pinned packages' (both launchers)."""
    assert qemu.program is not None and qemu.storage_daemon is not None, qemu
    debian = pinned_version(qemu.name, "qemu-system-x86")
    assert pinned_version(qemu.name, "qemu-utils") == debian
    system = subprocess.run([qemu.program, "--version"], capture_output=True, text=True,
                            check=True, timeout=30).stdout.splitlines()[0]
    daemon = subprocess.run([qemu.storage_daemon, "--version"], capture_output=True, text=True,
                            check=True, timeout=30).stdout.splitlines()[0]
    assert system == f"QEMU emulator version {qemu.name} (Debian {debian})"
    assert daemon == f"qemu-storage-daemon version {qemu.name} (Debian {debian})"
