"""Golden scenarios for the assorted info commands: display servers, memory
devices, CPU slots, rocker, SEV/SGX, replay, trace events, stats, virtio and
the QOM composition tree.

    .venv/bin/python -m tests.golden.capture infomore-basic infomore-hotplug ...
"""

from __future__ import annotations

import os
import socket
import time
from typing import Callable, Dict, List

from tests.golden.scenarios import Make
from tests.golden.vm import BASE_ARGS, VM

__all__ = ["SCENARIOS"]

VBLK = "/machine/peripheral/vblk0/virtio-backend"
VNET = "/machine/peripheral/vnet0/virtio-backend"


def _slug(line: str) -> str:
    words = ["root" if w == "/" else w for w in line.split()[1:]]
    if line.endswith("/") and words[-1] != "root":
        words.append("trailing-slash")
    slug = "-".join(w.strip("-").replace("_", "-") for w in words)
    for old, new in (("/machine/peripheral/", ""), ("/virtio-backend", ""), ("*", "star"),
                     ("/", ""), (",", "+"), ("[", ""), ("]", "")):
        slug = slug.replace(old, new)
    return slug or "root"


def _no_memory_base() -> List[str]:
    base = list(BASE_ARGS)
    i = base.index("-m")
    del base[i:i + 2]
    return base


def basic(make: Make) -> List[str]:
    """Plain devices, a VNC server on a unix socket: every query in its simple form."""
    def devices(d: str) -> List[str]:
        return ["-drive", "if=none,id=disk0,format=raw,file=null-co://",
                "-device", "virtio-blk-pci,drive=disk0,id=vblk0",
                "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=vnet0",
                "-vnc", f"unix:{os.path.join(d, 'vnc.sock')}"]

    with VM(devices) as vm:
        cap = make(vm.qmp, vm.tz)
        lines = [
            "info vnc", "info spice", "info tpm", "info memory-devices",
            "info hotpluggable-cpus", "info vm-generation-id", "info memory_size_summary",
            "info sev", "info sgx", "info replay",
            "info rocker sw1", "info rocker-ports sw1", "info rocker-of-dpa-flows sw1",
            "info rocker-of-dpa-groups sw1 3",
            "info stats vm", "info stats vcpu", "info stats foo", "info stats vm * kvm",
            "info stats vm * foo", "info stats vm a,b", "info stats vcpu a, kvm",
            "info virtio", f"info virtio-status {VBLK}", f"info virtio-status {VNET}",
            f"info virtio-queue-status {VBLK} 0", f"info virtio-queue-status {VNET} 2",
            f"info virtio-queue-status {VBLK} 5", f"info virtio-queue-status {VBLK} 65536",
            f"info virtio-vhost-queue-status {VBLK} 0", f"info virtio-queue-element {VBLK} 0",
            f"info virtio-queue-element {VBLK} 0 3", "info virtio-status /nosuch",
            "info virtio-status /machine/peripheral/vblk0",
            "info trace-events qmp_enter_stop", "info trace-events qmp*",
            "info trace-events nosuchevent", "info trace-events qmp_enter_stop 0",
            "info trace-events qmp_enter_stop 5", "info trace-events qmp_enter_stop 0xffffffff",
            "info qom-tree /machine/peripheral", "info qom-tree vblk0",
            "info qom-tree /machine/peripheral-anon", "info qom-tree nosuch",
            "info qom-tree unnamed-gpio-in[0]", "info qom-tree /machine/peripheral/",
            "info qom-tree /machine/unattached/device[0]/memory",
            f"info qom-tree {VBLK}/parent_bus", "info qom-tree peripheral/vblk0",
        ]
        for line in lines:
            cap.case(_slug(line), line)
        # a client on the VNC socket (the handshake need not finish to be listed)
        client = socket.socket(socket.AF_UNIX)
        client.connect(vm.path("vnc.sock"))
        try:
            time.sleep(0.3)
            cap.case("vnc-client", "info vnc")
        finally:
            client.close()
        vm.qmp.command("trace-event-set-state", {"name": "qmp_enter_stop", "enable": True})
        cap.case("trace-events-enabled", "info trace-events qmp_enter_st*")
        cap.case("trace-events-all", "info trace-events")
        return cap.results


def hotplug(make: Make) -> List[str]:
    """Memory and CPU slots with things plugged in, a vmgenid device, a rocker switch."""
    def devices(d: str) -> List[str]:
        return ["-m", "128,slots=4,maxmem=1G", "-smp", "1,maxcpus=2",
                "-device", "vmgenid,id=gen0,guid=324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87",
                "-device", "rocker,name=sw1,len-ports=2,id=rk0",
                "-vnc", "127.0.0.1:0,to=90,websocket=on",
                "-object", "memory-backend-ram,id=mem-cold,size=64M",
                "-device", "pc-dimm,id=dimm-cold,memdev=mem-cold"]

    with VM(devices, base=_no_memory_base()) as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        q.command("object-add", {"qom-type": "memory-backend-ram", "id": "mem1",
                                 "size": 128 << 20})
        q.command("device_add", {"driver": "pc-dimm", "id": "dimm1", "memdev": "mem1"})
        q.command("object-add", {"qom-type": "memory-backend-ram", "id": "mem2",
                                 "size": 256 << 20})
        q.command("device_add", {"driver": "virtio-mem-pci", "id": "vmem0", "memdev": "mem2",
                                 "requested-size": 0})
        q.command("device_add", {"driver": "qemu64-x86_64-cpu", "id": "cpu1",
                                 "socket-id": 0, "core-id": 1, "thread-id": 0})
        for line in ["info memory-devices", "info memory_size_summary",
                     "info hotpluggable-cpus", "info vm-generation-id", "info vnc",
                     "info rocker sw1", "info rocker-ports sw1", "info rocker nosuch",
                     "info rocker-ports nosuch", "info rocker-of-dpa-flows sw1",
                     "info rocker-of-dpa-flows sw1 0", "info rocker-of-dpa-flows sw1 0xffffffff",
                     "info rocker-of-dpa-flows nosuch", "info rocker-of-dpa-groups sw1",
                     "info rocker-of-dpa-groups sw1 265", "info rocker-of-dpa-groups nosuch",
                     "info stats vcpu", "info virtio"]:
            cap.case(_slug(line), line)
        cap.case("stats-vcpu-cpu1", "info stats vcpu", cpu_index=1)
        cap.case("qom-tree-dimm1", "info qom-tree /machine/peripheral/dimm1")
        return cap.results


def bare(make: Make) -> List[str]:
    """``-M none``: a small QOM tree, printed whole from /machine and from the root."""
    base = list(BASE_ARGS)
    base[base.index("-M") + 1] = "none"
    with VM(lambda d: [], base=base) as vm:
        cap = make(vm.qmp, vm.tz)
        for line in ["info qom-tree", "info qom-tree /", "info qom-tree /objects",
                     "info virtio", "info hotpluggable-cpus", "info memory_size_summary"]:
            cap.case(_slug(line), line)
        return cap.results


def recording(make: Make) -> List[str]:
    """Record mode (``-icount rr=record``): info replay names the file and counts."""
    def devices(d: str) -> List[str]:
        return ["-icount", f"shift=0,rr=record,rrfile={os.path.join(d, 'rr.bin')}"]

    with VM(devices) as vm:
        cap = make(vm.qmp, vm.tz)
        cap.case("replay", "info replay")
        return cap.results


SCENARIOS: Dict[str, Callable[[Make], List[str]]] = {
    "infomore-basic": basic,
    "infomore-hotplug": hotplug,
    "infomore-bare": bare,
    "infomore-recording": recording,
}
