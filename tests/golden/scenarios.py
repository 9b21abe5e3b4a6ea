"""The VM states the golden capture visits, one function per scenario.

Each scenario gets a factory ``make(qmp, tz, twin=None) -> Capture``, starts
its VM(s), records its cases and returns the report lines.  A line that may
change state is recorded on twins (see :class:`tests.golden.capture.Capture`):
a scenario that has such lines starts a twin beside its VM and brings both
to the same state before each case.  VMs are always killed.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from tests.golden.recorder import HMPMonitor, QMPClient
from tests.golden.vm import BASE_ARGS, VM, qemu_img, qemu_io

__all__ = ["SCENARIOS"]



class Recorder(Protocol):
    """What a scenario records with (:class:`tests.golden.capture.Capture`)."""

    results: List[str]

    def case(self, name: str, line: str, *, cpu_index: int = 0, note: str = "",
             moving_idle: bool = False, measured: Sequence[str] = ()) -> Dict[str, Any]:
        """Record one case (a line that may change state on the twins)."""


class Make(Protocol):
    """Makes a scenario's recorder: ``make(qmp, tz)``, or ``make(qmp, tz, twin)`` where a
    line may change state (see :class:`tests.golden.capture.Capture`)."""

    def __call__(self, qmp: QMPClient, tz: Optional[str],
                 twin: Optional[HMPMonitor] = None) -> Recorder:
        """The recorder of one VM (and its twin)."""

#: Every command in its plain form.
PLAIN = ["info status", "info version", "info name", "info uuid", "info kvm", "info cpus",
         "info block", "info blockstats", "info chardev", "info pci", "info mice",
         "info balloon", "info iothreads", "info memdev", "info snapshots", "info dump",
         "info block-jobs", "info migrate_parameters", "info migrate_capabilities"]


def _slug(line: str) -> str:
    words = line.split()[1:]
    return "-".join(w.strip("-").replace("_", "-") for w in words) or "info"


def _plain(cap: Recorder, skip: Tuple[str, ...] = ()) -> None:
    for line in PLAIN:
        if line not in skip:
            cap.case(_slug(line), line)


def _wait_job(qmp: QMPClient, job: str, status: str, timeout: float = 60) -> None:
    qmp.wait_event("JOB_STATUS_CHANGE", timeout, {"id": job, "status": status})


def _wait_migration(qmp: QMPClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while qmp.command("query-migrate").get("status") != "completed":
        if time.monotonic() > deadline:
            raise TimeoutError("migration did not complete")
        time.sleep(0.1)


def _hmp_ok(qmp: QMPClient, line: str) -> None:
    out = qmp.hmp(line)
    if out:
        raise RuntimeError(f"{line!r} printed {out!r}")


def default(make: Make) -> List[str]:
    """The twin-check VM: every command, then running, paused, dumped, migrated."""
    with VM() as vm:
        cap = make(vm.qmp, vm.tz)
        _plain(cap)
        for line in ["info block disk0", "info block cd0", "info block -n", "info block -v",
                     "info block -n -v", "info block nosuch", "info block -v disk0"]:
            cap.case(_slug(line), line)
        vm.qmp.command("cont")
        time.sleep(1.5)
        cap.case("status-running", "info status")
        cap.case("blockstats-running", "info blockstats", moving_idle=True)
        vm.qmp.command("stop")
        cap.case("status-paused", "info status")
        vm.qmp.command("dump-guest-memory",
                       {"paging": False, "protocol": "file:" + vm.path("dump")})
        cap.case("dump-completed", "info dump")
        vm.qmp.command("migrate", {"uri": "exec:cat > /dev/null"})
        _wait_migration(vm.qmp)
        cap.case("status-postmigrate", "info status")
        cap.case("snapshots-postmigrate", "info snapshots")
        return cap.results


def _rich_devices(d: str) -> List[str]:
    def p(name: str) -> str:
        return os.path.join(d, name)

    qemu_img("create", "-q", "-f", "qcow2", p("base.qcow2"), "64M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", p("base.qcow2"), "-F", "qcow2",
             p("mid.qcow2"))
    qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", p("top.qcow2"))
    qemu_img("create", "-q", "-f", "qcow2", p("disk2.qcow2"), "32M")
    # data for the block jobs to copy, so that their speed limit holds them back
    qemu_io(p("base.qcow2"), "write -P 0x5a 0 4M")
    qemu_io(p("disk2.qcow2"), "write -P 0xa5 0 4M")
    qemu_img("create", "-q", "-f", "raw", p("ro.raw"), "1M")
    qemu_img("create", "-q", "-f", "raw", p("cd.iso"), "2M")
    qemu_img("create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=letmein",
             "-o", "encrypt.format=luks,encrypt.key-secret=sec0", p("enc.qcow2"), "16M")
    return [
        "-smp", "2",
        "-object", "secret,id=sec0,data=letmein",
        "-drive", f"if=none,id=cd0,media=cdrom,file={p('cd.iso')},format=raw",
        "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
        "-drive", f"if=none,id=disk0,file={p('top.qcow2')},format=qcow2,node-name=fmt0",
        "-device", "virtio-blk-pci,drive=disk0,id=vblk0",
        "-drive", f"if=none,id=disk1,file={p('ro.raw')},format=raw,readonly=on,cache=none",
        "-device", "virtio-blk-pci,drive=disk1,id=vblk1",
        "-drive", f"if=none,id=disk2,file={p('disk2.qcow2')},format=qcow2,node-name=fmt2,"
                  "detect-zeroes=on,cache=unsafe",
        "-device", "virtio-blk-pci,drive=disk2,id=vblk2",
        "-drive", f"if=none,id=disk3,file={p('enc.qcow2')},format=qcow2,"
                  "encrypt.key-secret=sec0,cache=writethrough",
        "-device", "virtio-blk-pci,drive=disk3,id=vblk3",
        "-device", "pci-bridge,id=br0,chassis_nr=1",
        "-netdev", "user,id=n0",
        "-device", "e1000,netdev=n0,id=nic0,mac=52:54:00:12:34:56,bus=br0,addr=1",
        "-device", "usb-ehci,id=ehci", "-device", "usb-tablet,bus=ehci.0,id=tablet0",
        "-device", "usb-mouse,bus=ehci.0,id=mouse0",
        "-chardev", "null,id=ser0", "-device", "isa-serial,chardev=ser0,id=serial0",
        "-chardev", "ringbuf,id=rb0",
        "-chardev", f"socket,id=cs0,path={p('cs0.sock')},server=on,wait=off",
        "-object", "iothread,id=io0",
        "-object", "iothread,id=io1,poll-max-ns=1000,poll-grow=2,poll-shrink=3,aio-max-batch=7",
        "-object", "memory-backend-ram,id=mem0,size=64M,policy=bind,host-nodes=0",
        "-object", "memory-backend-ram,id=mem1,size=64M,merge=off,dump=off,share=on",
        "-numa", "node,memdev=mem0", "-numa", "node,memdev=mem1",
    ]


def rich(make: Make) -> List[str]:
    """Backing chain, throttling, snapshots (global and partial), jobs, NUMA, bridge."""
    with VM(_rich_devices) as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        cap.case("snapshots-none", "info snapshots")
        _hmp_ok(q, "savevm s1")
        _hmp_ok(q, "savevm a-rather-long-snapshot-tag")
        q.command("blockdev-snapshot-internal-sync", {"device": "disk0", "name": "only0"})
        q.command("blockdev-snapshot-internal-sync", {"device": "disk2", "name": "only2"})
        q.command("blockdev-snapshot-internal-sync", {"device": "disk2", "name": "also2"})
        q.command("block_set_io_throttle", {
            "device": "disk0", "bps": 1000000, "bps_rd": 0, "bps_wr": 0, "iops": 100,
            "iops_rd": 0, "iops_wr": 0, "bps_max": 2000000, "iops_size": 4096})
        _plain(cap)
        for line in ["info block -v", "info block -n", "info block -n -v", "info block disk1",
                     "info block fmt2", "info block -v disk3", "info block -n fmt0",
                     "info block ide1-cd0"]:
            cap.case(_slug(line), line)
        cap.case("cpus-current1", "info cpus", cpu_index=1)
        q.command("migrate-set-parameters", {
            "downtime-limit": 400, "max-bandwidth": 10485760, "tls-creds": "tls0",
            "tls-hostname": "peer.example", "multifd-compression": "zlib",
            "compress-wait-thread": False, "cpu-throttle-tailslow": True,
            "block-incremental": True, "xbzrle-cache-size": 1048576,
            "max-postcopy-bandwidth": 1000, "tls-authz": "authz0", "announce-rounds": 7,
            "block-bitmap-mapping": [
                {"node-name": "fmt0", "alias": "n0",
                 "bitmaps": [{"name": "bm0", "alias": "b0"}, {"name": "bm1", "alias": "b1"}]},
                {"node-name": "fmt2", "alias": "n2", "bitmaps": []}]})
        q.command("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": True},
            {"capability": "events", "state": True}]})
        cap.case("migrate-parameters-set", "info migrate_parameters")
        cap.case("migrate-capabilities-set", "info migrate_capabilities")
        _hmp_ok(q, "singlestep on")
        cap.case("status-singlestep", "info status")
        _hmp_ok(q, "singlestep off")
        # block jobs: a stream held back by its speed limit, and a mirror
        q.command("block-stream", {"device": "disk0", "speed": 1})
        q.command("drive-mirror", {"device": "disk2", "target": vm.path("mirror.qcow2"),
                                   "format": "qcow2", "sync": "full", "speed": 1,
                                   "job-id": "mirror2"})
        time.sleep(0.5)
        cap.case("block-jobs-running", "info block-jobs")
        cap.case("block-during-jobs", "info block")
        cap.case("block-n-during-jobs", "info block -n")
        cap.case("snapshots-during-mirror", "info snapshots")
        q.command("block-job-cancel", {"device": "mirror2", "force": True})
        q.command("block-job-cancel", {"device": "disk0", "force": True})
        _wait_job(q, "mirror2", "null")
        _wait_job(q, "disk0", "null")
        cap.case("block-jobs-after-cancel", "info block-jobs")
        q.command("cont")
        time.sleep(2)
        q.command("stop")
        cap.case("pci-booted", "info pci")
        cap.case("blockstats-booted", "info blockstats", moving_idle=True)
        cap.case("status-after-run", "info status")
        _hmp_ok(q, "savevm later")
        cap.case("snapshots-after-run", "info snapshots")
        return cap.results


def _bare_base(machine: str = "pc") -> List[str]:
    base = list(BASE_ARGS)
    base[base.index("-M") + 1] = machine
    i = base.index("-name")
    del base[i:i + 4]  # no -name, no -uuid
    return base


def rawmix(make: Make) -> List[str]:
    """A writable raw disk next to a qcow2: every snapshot is partial; no extras at all."""
    def devices(d: str) -> List[str]:
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "w.raw"), "1M")
        qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "q.qcow2"), "8M")
        return ["-drive", f"if=none,id=raw0,file={os.path.join(d, 'w.raw')},format=raw",
                "-device", "virtio-blk-pci,drive=raw0,id=vraw0",
                "-drive", f"if=none,id=qc1,file={os.path.join(d, 'q.qcow2')},format=qcow2",
                "-device", "virtio-blk-pci,drive=qc1,id=vqc1"]

    with VM(devices, base=_bare_base("pc,i8042=off")) as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        q.command("blockdev-snapshot-internal-sync", {"device": "qc1", "name": "p1"})
        q.command("blockdev-snapshot-internal-sync", {"device": "qc1", "name": "p2"})
        for line in ["info snapshots", "info name", "info uuid", "info mice", "info balloon",
                     "info iothreads", "info memdev", "info chardev", "info block",
                     "info blockstats", "info pci"]:
            cap.case(_slug(line), line)
        return cap.results


def novmstate(make: Make) -> List[str]:
    """Nothing can hold the VM state: an empty cdrom and a writable raw disk."""
    def devices(d: str) -> List[str]:
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "w.raw"), "1M")
        return ["-drive", "if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
                "-drive", f"if=none,id=raw0,file={os.path.join(d, 'w.raw')},format=raw",
                "-device", "virtio-blk-pci,drive=raw0,id=vraw0"]

    with VM(devices) as vm:
        cap = make(vm.qmp, vm.tz)
        cap.case("snapshots", "info snapshots")
        cap.case("block", "info block")
        return cap.results


def owned(make: Make) -> List[str]:
    """A monitor-owned qcow2 node (blockdev-add) takes part in snapshots."""
    with VM() as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        qemu_img("create", "-q", "-f", "qcow2", vm.path("extra.qcow2"), "8M")
        q.command("blockdev-add", {"driver": "qcow2", "node-name": "extra0",
                                   "file": {"driver": "file", "filename": vm.path("extra.qcow2")}})
        # a device on a node with no drive: its BlockBackend has no name
        qemu_img("create", "-q", "-f", "qcow2", vm.path("anon.qcow2"), "8M")
        q.command("blockdev-add", {"driver": "qcow2", "node-name": "anon1",
                                   "file": {"driver": "file", "filename": vm.path("anon.qcow2")}})
        q.command("device_add", {"driver": "virtio-blk-pci", "drive": "anon1", "id": "vanon1"})
        _hmp_ok(q, "savevm s1")
        q.command("blockdev-snapshot-internal-sync", {"device": "extra0", "name": "onlyx"})
        q.command("blockdev-snapshot-internal-sync", {"device": "anon1", "name": "onlya"})
        cap.case("snapshots", "info snapshots")
        cap.case("block-n", "info block -n")
        cap.case("block-extra0", "info block extra0")
        cap.case("block-anon1", "info block anon1")
        cap.case("block", "info block")
        cap.case("blockstats", "info blockstats")
        return cap.results


def replay(make: Make) -> List[str]:
    """Record/replay mode: snapshots carry an icount; one is taken after running."""
    def devices(d: str) -> List[str]:
        qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "d.qcow2"), "8M")
        return ["-icount", f"shift=0,rr=record,rrfile={os.path.join(d, 'rr.bin')}",
                "-drive", f"if=none,id=disk0,file={os.path.join(d, 'd.qcow2')},format=qcow2",
                "-device", "virtio-blk-pci,drive=disk0,id=vblk0"]

    with VM(devices) as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        _hmp_ok(q, "savevm s0")
        q.command("cont")
        time.sleep(1.2)
        q.command("stop")
        _hmp_ok(q, "savevm after-run")
        cap.case("snapshots", "info snapshots")
        cap.case("block-v", "info block -v")
        cap.case("status", "info status")
        return cap.results


SCENARIOS: Dict[str, Callable[[Make], List[str]]] = {
    "default": default,
    "rich": rich,
    "rawmix": rawmix,
    "novmstate": novmstate,
    "owned": owned,
    "replay": replay,
}
