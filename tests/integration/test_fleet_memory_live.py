"""--qmp-dir with real QEMUs: what a VM costs beyond the first, and each build's own schema.

QEMUs of one build send the same ``query-qmp-schema`` reply; the bridge decodes
it once and shares it, so a further VM of that build costs the bridge little
(it used to cost about 1.5 MiB, each VM's decoded reply, then 280-450 KiB, the
heap its decoding left behind).  QEMUs of other builds keep their own schema: a QMP
client of each VM is answered with that QEMU's own reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Iterator, List

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import _die_with_parent
from tests.integration.conftest import ROOT, HMPClient, _wait_for, qemu_releases
from tests.integration.test_fleet_live import Host

#: VMs started after the first, and what each may add to the bridge's RSS at most
#: (measured: about 25 KiB; each used to add 280-450 KiB, the heap left behind by
#: decoding its reply, and 1,500 KiB before replies were shared at all).
MORE_VMS = 6
PER_VM_LIMIT = 100 * 1024


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss(pid: int) -> int:
    time.sleep(0.5)
    return rss(pid)


class BuildsHost(Host):
    """A :class:`Host` whose QEMUs may be of other releases."""

    def start_program(self, name: str, program: str) -> None:
        self.qemus[name] = subprocess.Popen(
            [program, "-M", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-name", name, "-qmp", f"unix:{self.qmp(name)},server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _wait_for(lambda: os.path.exists(self.qmp(name)), f"{name}'s QMP socket",
                  proc=self.qemus[name])

    def schema_of(self, name: str) -> List[dict]:
        """``query-qmp-schema`` through VM ``name``'s own QMP listener."""
        client = QMPClient(os.path.join(self.run_dir, f"{name}.qmp"), timeout=10)
        try:
            return list(client.command("query-qmp-schema"))
        finally:
            client.close()


@pytest.fixture
def host() -> Iterator[BuildsHost]:
    h = BuildsHost()
    try:
        yield h
    finally:
        h.close()


def test_a_vm_of_a_build_already_served_costs_little(host: BuildsHost) -> None:
    """One QEMU 7.2, then six more of the same program: each answers with its own name,
    and the bridge's RSS grows by less than 100 KiB per VM."""
    host.start_qemu("vm0")
    host.start_bridge()
    host.wait_listening("vm0")
    assert host.name_of("vm0") == "vm0\n"
    before = settled_rss(host.bridge.pid)
    names = [f"vm{index}" for index in range(1, MORE_VMS + 1)]
    for name in names:
        host.start_qemu(name)
    for name in names:
        host.wait_listening(name)
    for name in ["vm0"] + names:
        assert host.name_of(name) == f"{name}\n"
    after = settled_rss(host.bridge.pid)
    per_vm = (after - before) / MORE_VMS
    assert per_vm < PER_VM_LIMIT, (
        f"RSS {before / 1024:.0f} KiB with one VM, {after / 1024:.0f} KiB with "
        f"{MORE_VMS + 1}: {per_vm / 1024:.0f} KiB per VM")
    assert "Traceback" not in host.log_text()


def test_each_build_keeps_its_own_schema(host: BuildsHost) -> None:
    """Two QEMU 7.2 and, where unpacked, a 10.0.2 and an 11.1.3 in one directory: a QMP
    client of each VM gets that QEMU's own query-qmp-schema reply (the recorded one of its
    release), the two 7.2 the same, and HMP's info version names each VM's own QEMU."""
    releases = {r.name: r for r in qemu_releases() if r.program is not None}
    system = qemu_releases()[0]
    assert system.program is not None and system.release == (7, 2)
    vms = {"a72": system, "b72": system}
    for name in ("10.0.2", "11.1.3"):
        if name in releases:
            vms["v" + name.replace(".", "")] = releases[name]
    for vm, release in vms.items():
        host.start_program(vm, release.program)
    host.start_bridge("--qmp-listen-each", f"unix:{host.run_dir}/{{vm}}.qmp")
    for vm in vms:
        host.wait_listening(vm)
    for vm, release in vms.items():
        recorded = os.path.join(ROOT, "tests", "fixtures", "releases",
                                "{}.{}".format(*release.release), "schema.json")
        with open(recorded) as f:
            assert host.schema_of(vm) == json.load(f), vm
        hmp = HMPClient(host.hmp(vm), timeout=10)
        try:
            assert hmp.cmd("info version").startswith(release.name), vm
        finally:
            hmp.close()
