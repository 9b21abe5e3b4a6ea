"""Machine, CPU, PCI, accelerator and device commands on QEMU 10.0.2 and 11.1.3,
and QEMU 7.2's text from 11.1.3.

Per release, twin VMs of that QEMU: A served by the bridge (translation
only, ``--no-passthrough``), B answering the same lines through its own
``human-monitor-command``.  Outputs must be equal line by line, and after the
lines that change the VM (``device_add`` with typed properties, ``chardev-add``
with ``reconnect``/``reconnect-ms``) both VMs must hold the same devices and
chardevs.  With ``--hmp-version 7.2``, QEMU 11.1.3 on machine
``pc-i440fx-7.2`` must print what a QEMU 7.2 twin prints.

Commands new since 7.2 run on every release: where a release lacks one, the
bridge must say ``unknown command`` as that QEMU does.
"""

from __future__ import annotations

import os
import re
from typing import Iterator, List, Tuple

import pytest

from tests.golden.vm import BASE_ARGS, VM, default_devices
from tests.integration.conftest import Bridge, HMPClient, QemuRelease, Twin, qemu_releases

RELEASES = {r.name: r for r in qemu_releases()}
NEWER = ["10.0.2", "11.1.3"]

EXTRA = ["-object", "cryptodev-backend-builtin,id=cr0", "-smp", "1,maxcpus=2"]

#: Lines that only read, compared with the same release's own output.
READ_LINES = ["info status", "info cpus", "info pci", "info iothreads", "info kvm",
              "info hotpluggable-cpus", "info accelerators", "info cryptodev",
              "info firmware-log", "xen-event-list", "xen-event-inject 1", "singlestep",
              "dump-guest-memory -z -l /nonexistent/core"]

#: Lines that change the VM; the VMs are compared afterwards.
CHANGE_LINES = [
    "device_add virtio-rng-pci,id=r1,max-bytes=1024,period=0x10",
    "device_add virtio-rng-pci,id=r2,max-bytes=abc",
    "device_add virtio-rng-pci,id=r3,max-bytes=-1",
    "device_add virtio-rng-pci,id=r4,max-bytes=1k",
    "device_add pci-bridge,id=br1,chassis_nr=1,shpc=off",
    "device_add virtio-net-pci,id=vn1,speed=1000,duplex=full,host_mtu=1400",
    "device_add virtio-net-pci,id=vn2,speed=abc",
    "device_add virtio-net-pci,id=vn3,host_mtu=70000",
    "device_add virtio-balloon-pci,id=b3,deflate-on-oom=maybe",
    "device_add e1000,id=n2,addr=9",
    "chardev-add socket,id=c1,host=127.0.0.1,port=1,reconnect=1",
    "chardev-add socket,id=c2,host=127.0.0.1,port=1,reconnect-ms=1000",
    "chardev-add socket,id=c3,host=127.0.0.1,port=1,reconnect=1,reconnect-ms=1000",
    "chardev-add socket,id=c4,path=/nonexistent/x,reconnect-ms=abc",
]

#: Lines compared between 11.1.3 with ``--hmp-version 7.2`` and a 7.2 twin.
SEVEN_TWO_LINES = ["info status", "info cpus", "info pci", "info kvm", "info hotpluggable-cpus",
                   "chardev-add socket,id=c1,host=127.0.0.1,port=1,reconnect=1",
                   "device_add virtio-rng-pci,id=r1,max-bytes=abc",
                   "trace-event nosuch on 0", "dumpdtb /nonexistent/x.dtb",
                   "set_password vnc pw", "sendkey f13", "balloon 0",
                   "info virtio-status /nosuch", "info ramblock",
                   "info trace-events qmp_enter_stop 3", "trace-event qmp_enter_stop on 0",
                   "chardev-add hub,id=hub2", "screendump /nonexistent/s.ppm",
                   "dump-guest-memory /nonexistent/dump", "set_password vnc pw fail"]

THREAD_IDS = re.compile(r"(thread_id=)\d+")


def _release(name: str) -> QemuRelease:
    release = RELEASES.get(name)
    if release is None or release.program is None:
        pytest.skip(release.missing if release is not None else f"QEMU {name} is not known")
    return release


class Pair:
    """Twin VMs of one QEMU: ``a`` behind the bridge, ``b`` answering itself."""

    def __init__(self, program: str, *bridge_args: str, machine: str = "pc") -> None:
        base = [program, "-M", machine, *BASE_ARGS[3:]]
        self.a = Twin(EXTRA, qemu=program) if machine == "pc" else None
        self.vm = self.a.vm if self.a is not None else VM(
            base=base, devices=lambda d: default_devices(d) + EXTRA + [
                "-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off",
                "-qmp", f"unix:{os.path.join(d, 'bridge2.sock')},server=on,wait=off"])
        self.bridges: List[Bridge] = []
        try:
            self.bridges.append(Bridge(f"unix:path={self.vm.path('bridge.sock')}",
                                       "--no-passthrough", *bridge_args, wait=False))
        except BaseException:
            self.close()
            raise

    def ready(self) -> HMPClient:
        """Wait for the bridge (started without waiting, while other VMs start)."""
        self.bridges[0].ready()
        self.session: HMPClient = self.bridges[0].session()
        return self.session

    def close(self) -> None:
        bridges, self.bridges = self.bridges, []
        for bridge in bridges:
            bridge.close()
        self.vm.close()


@pytest.fixture(scope="module", params=NEWER)
def twins(request: pytest.FixtureRequest) -> Iterator[Tuple[QemuRelease, Pair, VM]]:
    release = _release(request.param)
    assert release.program is not None
    pair = Pair(release.program)
    try:
        oracle = VM(base=[release.program, *BASE_ARGS[1:]],
                    devices=lambda d: default_devices(d) + EXTRA)
    except BaseException:
        pair.close()
        raise
    try:
        pair.ready()
        yield release, pair, oracle
    finally:
        oracle.close()
        pair.close()


def _same(text: str) -> str:
    return THREAD_IDS.sub(r"\1N", text)


@pytest.mark.parametrize("line", READ_LINES)
def test_read_line_is_that_qemus_own(twins: Tuple[QemuRelease, Pair, VM], line: str) -> None:
    _, pair, oracle = twins
    assert _same(pair.session.cmd(line)) == _same(oracle.qmp.hmp(line))


@pytest.mark.parametrize("line", CHANGE_LINES)
def test_change_line_is_that_qemus_own(twins: Tuple[QemuRelease, Pair, VM], line: str) -> None:
    _, pair, oracle = twins
    assert pair.session.cmd(line) == oracle.qmp.hmp(line)


def test_dump_guest_memory_raw_kdump(twins: Tuple[QemuRelease, Pair, VM]) -> None:
    """``-R`` (8.2) with ``-z`` writes the raw kdump form, as QEMU's own HMP does."""
    _, pair, oracle = twins
    ours, theirs = (os.path.join(vm.dir, "core") for vm in (pair.vm, oracle))
    assert pair.session.cmd(f"dump-guest-memory -z -R {ours}") == oracle.qmp.hmp(
        f"dump-guest-memory -z -R {theirs}") == ""
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        assert a.read(4096) == b.read(4096)
    assert os.path.getsize(ours) == os.path.getsize(theirs)


def _state(vm: VM) -> Tuple[List[str], List[str], str]:
    peripherals = sorted(p["name"] for p in vm.qmp.command("qom-list",
                                                            {"path": "/machine/peripheral"}))
    chardevs = sorted(c["label"] for c in vm.qmp.command("query-chardev")
                      if not c["label"].startswith("compat_monitor"))
    return peripherals, chardevs, vm.qmp.hmp("info pci")


def test_both_vms_hold_the_same_devices_and_chardevs(
        twins: Tuple[QemuRelease, Pair, VM]) -> None:
    _, pair, oracle = twins
    assert _state(pair.vm) == _state(oracle)
    assert "r1" in _state(oracle)[0]


@pytest.fixture(scope="module")
def seven_two() -> Iterator[Tuple[Pair, VM]]:
    """11.1.3 on pc-i440fx-7.2 behind ``--hmp-version 7.2``, and a QEMU 7.2 twin."""
    newest = _release("11.1.3")
    oldest = next((r for r in RELEASES.values() if r.release == (7, 2)), None)
    if oldest is None or oldest.program is None:
        pytest.skip("no QEMU 7.2 on this machine (the system's qemu-system-x86_64)")
    assert newest.program is not None
    pair = Pair(newest.program, "--hmp-version", "7.2", machine="pc-i440fx-7.2")
    try:
        twin = VM(base=[oldest.program, *BASE_ARGS[1:]],
                  devices=lambda d: default_devices(d) + EXTRA)
    except BaseException:
        pair.close()
        raise
    try:
        pair.ready()
        yield pair, twin
    finally:
        twin.close()
        pair.close()


@pytest.mark.parametrize("line", SEVEN_TWO_LINES)
def test_hmp_version_7_2_prints_what_7_2_prints(seven_two: Tuple[Pair, VM],
                                               line: str) -> None:
    pair, twin = seven_two
    assert _same(pair.session.cmd(line)) == _same(twin.qmp.hmp(line))


def test_hmp_version_7_2_single_step_mode(seven_two: Tuple[Pair, VM]) -> None:
    """7.2's ``(single step mode)`` from 11.1's one-insn-per-tb, read through x-query-jit."""
    pair, twin = seven_two
    pair.vm.qmp.hmp("one-insn-per-tb on")
    twin.qmp.hmp("singlestep on")
    try:
        assert pair.session.cmd("info status") == twin.qmp.hmp("info status") == (
            "VM status: paused (single step mode) (prelaunch)\n")
        numbers = re.compile(r"\d+")
        assert numbers.sub("N", pair.session.cmd("info jit")) == numbers.sub(
            "N", twin.qmp.hmp("info jit"))
    finally:
        pair.vm.qmp.hmp("one-insn-per-tb off")
        twin.qmp.hmp("singlestep off")


def test_hmp_version_7_2_reconnect_becomes_reconnect_ms(
        seven_two: Tuple[Pair, VM]) -> None:
    pair, _ = seven_two
    pair.session.cmd("chardev-add socket,id=c7,host=127.0.0.1,port=1,reconnect=1")
    labels = {c["label"]: c["filename"] for c in pair.vm.qmp.command("query-chardev")}
    assert labels["c7"] == "disconnected:tcp:127.0.0.1:1"


def test_hmp_version_7_2_singlestep_sets_one_insn_per_tb(seven_two: Tuple[Pair, VM]) -> None:
    """``singlestep``, ``gva2gpa``, ``info capture`` (no QMP command expresses them)
    through a bridge allowed QEMU's monitor."""
    pair, twin = seven_two
    pair.bridges.append(Bridge(f"unix:path={pair.vm.path('bridge2.sock')}",
                               "--hmp-version", "7.2"))
    session = pair.bridges[-1].session()
    for line in ("gva2gpa 0", "gva2gpa 4096", "info capture", "singlestep foo", "singlestep on"):
        assert session.cmd(line) == twin.qmp.hmp(line)
    jit = pair.vm.qmp.command("x-query-jit")["human-readable-text"]
    assert "one-insn-per-tb: on" in jit
    assert session.cmd("singlestep off") == ""
    assert "one-insn-per-tb: off" in pair.vm.qmp.command("x-query-jit")["human-readable-text"]
