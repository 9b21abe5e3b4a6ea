"""Golden scenarios for block jobs, image snapshots, I/O throttling and the NBD server.

Every line that may change state (refusals included: QEMU may accept what
the handler refused, or the other way round) runs on VM A through the
handler and on an identically started twin B through QEMU's own HMP.  Image
files and sockets are named relative to QEMU's working directory (each VM's
own directory), so the twins never share a file and the fixtures hold no
temporary paths.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List

from tests.golden.scenarios import Make
from tests.golden.vm import VM, default_devices, qemu_img, qemu_io

__all__ = ["SCENARIOS"]


def _devices(d: str) -> List[str]:
    """The default devices, disk1 (a qcow2 over a base with 4 MiB of data) and spare0.

    spare0 is a drive no guest device uses, so it may be exported writable.
    """
    qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "base.qcow2"), "8M")
    qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "spare.qcow2"), "1M")
    qemu_io(os.path.join(d, "base.qcow2"), "write -P 0x5a 0 4M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
             os.path.join(d, "top.qcow2"))
    return default_devices(d) + [
        "-drive", f"if=none,id=disk1,file={os.path.join(d, 'top.qcow2')},format=qcow2",
        "-device", "virtio-blk-pci,drive=disk1,id=vblk1",
        "-drive", f"if=none,id=spare0,file={os.path.join(d, 'spare.qcow2')},format=qcow2"]


def _named_devices(d: str) -> List[str]:
    """:func:`_devices` with their format nodes named ``fmt0`` and ``fmt1``.

    QEMU names a node left unnamed ``#block`` + a counter + two random digits,
    so the same node has different names on twin VMs; an error that names it
    (a permission conflict) would differ between the twins for no other reason.
    """
    names = {"id=disk0,": "fmt0", "id=disk1,": "fmt1"}
    return [arg + "".join(f",node-name={n}" for k, n in names.items() if arg.startswith(
        f"if=none,{k}")) for arg in _devices(d)]


def _wait(vms: List[VM], job: str, status: str) -> None:
    for vm in vms:
        vm.qmp.wait_event("JOB_STATUS_CHANGE", 60, {"id": job, "status": status})


def errors(make: Make) -> List[str]:
    """Every command's refusals: unknown devices and jobs, bad addresses, no server."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in [
            ("stream-nosuch", "block_stream nosuch"),
            ("stream-no-medium", "block_stream cd0"),
            ("stream-bad-base", "block_stream disk1 1 nosuchbase"),
            ("set-speed-nosuch", "block_job_set_speed nosuch 1"),
            ("cancel-nosuch", "block_job_cancel nosuch"),
            ("cancel-f-nosuch", "block_job_cancel -f nosuch"),
            ("complete-nosuch", "block_job_complete nosuch"),
            ("pause-nosuch", "block_job_pause nosuch"),
            ("resume-nosuch", "block_job_resume nosuch"),
            ("mirror-nosuch", "drive_mirror nosuch m.qcow2"),
            ("mirror-bad-dir", "drive_mirror disk0 nosuchdir/m.qcow2 qcow2"),
            ("mirror-n-missing", "drive_mirror -n disk0 missing.qcow2"),
            ("backup-nosuch", "drive_backup nosuch b.qcow2"),
            ("backup-bad-format", "drive_backup -c disk0 b.img nosuchfmt"),
            ("snapshot-no-file", "snapshot_blkdev disk0"),
            ("snapshot-n-no-file", "snapshot_blkdev -n disk0"),
            ("snapshot-nosuch", "snapshot_blkdev nosuch s.qcow2"),
            ("snapshot-n-missing", "snapshot_blkdev -n disk0 missing.qcow2 qcow2"),
            ("snapshot-internal-no-medium", "snapshot_blkdev_internal cd0 s1"),
            ("snapshot-internal-nosuch", "snapshot_blkdev_internal nosuch s1"),
            ("snapshot-delete-missing", "snapshot_delete_blkdev_internal disk0 nosnap"),
            ("snapshot-delete-missing-id", "snapshot_delete_blkdev_internal disk0 nosnap 7"),
            ("throttle-nosuch", "block_set_io_throttle nosuch 0 0 0 0 0 0"),
            ("throttle-qdev-no-medium", "block_set_io_throttle ide1-cd0 1000 0 0 0 0 0"),
            ("throttle-qdev-proxy", "block_set_io_throttle vblk0 0 0 0 0 0 0"),
            ("throttle-no-medium", "block_set_io_throttle cd0 1000 0 0 0 0 0"),
            ("throttle-mixed", "block_set_io_throttle disk0 1 2 3 4 5 6"),
            ("nbd-stop-not-running", "nbd_server_stop"),
            ("nbd-add-not-running", "nbd_server_add disk0"),
            ("nbd-remove-not-running", "nbd_server_remove exp0"),
            ("nbd-start-w-without-a", "nbd_server_start -w unix:n.sock"),
            ("nbd-start-unix-empty", "nbd_server_start unix:"),
            ("nbd-start-fd-empty", "nbd_server_start fd:"),
            ("nbd-start-fd-unknown", "nbd_server_start fd:nosuchfd"),
            ("nbd-start-vsock-short", "nbd_server_start vsock:1"),
            ("nbd-start-vsock-trailing", "nbd_server_start vsock:1:2x,"),
            ("nbd-start-no-port", "nbd_server_start 127.0.0.1:"),
            ("nbd-start-tcp-empty", "nbd_server_start tcp:"),
            ("nbd-start-ipv6-open", "nbd_server_start [::1"),
            ("nbd-start-colon", "nbd_server_start :"),
            ("nbd-start-bad-to", "nbd_server_start 127.0.0.1:0,to=x"),
            ("nbd-start-bad-flag", "nbd_server_start 127.0.0.1:0,ipv4=yes"),
            ("nbd-start-double-comma", "nbd_server_start 127.0.0.1:0,ipv6=on,,x"),
            ("nbd-start-bad-service", "nbd_server_start 127.0.0.1:notaport"),
            ("nbd-start-long-path", "nbd_server_start unix:" + "p" * 120),
        ]:
            cap.case(name, line)
        return cap.results


def jobs(make: Make) -> List[str]:
    """A stream held back by its speed limit, paused and cancelled; a mirror and a backup."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        both = [vm, twin]
        cap.case("stream", "block_stream disk1 1b")
        cap.case("stream-again", "block_stream disk1", note="a second job on a busy device")
        cap.case("set-speed", "block_job_set_speed disk1 2")
        cap.case("set-speed-back", "block_job_set_speed disk1 1b")
        cap.case("pause", "block_job_pause disk1")
        _wait(both, "disk1", "paused")
        cap.case("jobs-paused", "info block-jobs")
        cap.case("complete-paused", "block_job_complete disk1")
        cap.case("resume", "block_job_resume disk1")
        _wait(both, "disk1", "running")
        cap.case("resume-again", "block_job_resume disk1")
        cap.case("cancel-f", "block_job_cancel -f disk1")
        _wait(both, "disk1", "null")
        cap.case("jobs-none", "info block-jobs")
        cap.case("mirror", "drive_mirror disk0 mirror.qcow2 qcow2")
        _wait(both, "disk0", "ready")
        cap.case("jobs-mirror-ready", "info block-jobs")
        cap.case("mirror-busy", "drive_mirror -f disk0 other.qcow2 qcow2")
        cap.case("complete", "block_job_complete disk0")
        _wait(both, "disk0", "null")
        cap.case("block-after-mirror", "info block disk0")
        cap.case("backup", "drive_backup -f -c disk1 backup.qcow2 qcow2")
        _wait(both, "disk1", "null")
        cap.case("backup-n-locked", "drive_backup -n disk1 mirror.qcow2")
        cap.case("snapshot", "snapshot_blkdev disk0 snap.qcow2 qcow2")
        cap.case("snapshot-n-locked", "snapshot_blkdev -n disk0 snap.qcow2 qcow2")
        cap.case("block-after-snapshot", "info block disk0")
        cap.case("stream-to-base", "block_stream disk0 0 mirror.qcow2")
        _wait(both, "disk0", "null")
        cap.case("internal", "snapshot_blkdev_internal disk1 s1")
        cap.case("internal-again", "snapshot_blkdev_internal disk1 s1")
        cap.case("internal-2", "snapshot_blkdev_internal disk1 s2")
        cap.case("snapshots", "info snapshots")
        cap.case("delete-internal-wrong-id", "snapshot_delete_blkdev_internal disk1 s1 2")
        cap.case("delete-internal-id", "snapshot_delete_blkdev_internal disk1 s1 1")
        cap.case("delete-internal", "snapshot_delete_blkdev_internal disk1 s2")
        cap.case("throttle", "block_set_io_throttle disk0 1000000 0 0 100 0 0")
        cap.case("throttle-qdev", "block_set_io_throttle vblk1 0 2000 3000 0 40 50")
        cap.case("block-throttled", "info block")
        cap.case("unthrottle", "block_set_io_throttle disk0 0 0 0 0 0 0")
        return cap.results


def nbd(make: Make) -> List[str]:
    """The NBD server: started with and without -a, exports added and removed."""
    with VM(_named_devices) as vm, VM(_named_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("start", "nbd_server_start unix:nbd.sock")
        cap.case("start-running", "nbd_server_start unix:nbd2.sock")
        cap.case("add", "nbd_server_add disk0")
        cap.case("add-again", "nbd_server_add disk0")
        cap.case("add-nosuch", "nbd_server_add nosuch")
        cap.case("add-no-medium", "nbd_server_add cd0")
        cap.case("add-w-conflict", "nbd_server_add -w disk1 exp1",
                 note="disk1's guest device shares no write permission")
        cap.case("add-named-w", "nbd_server_add -w spare0 exp1")
        cap.case("add-named-again", "nbd_server_add disk1 exp1")
        cap.case("remove-nosuch", "nbd_server_remove nosuch")
        cap.case("remove", "nbd_server_remove disk0")
        cap.case("remove-f", "nbd_server_remove -f exp1")
        cap.case("stop", "nbd_server_stop")
        cap.case("start-a", "nbd_server_start -a tcp:127.0.0.1:0,to=0,ipv4")
        cap.case("add-after-a", "nbd_server_add disk1")
        cap.case("stop-after-a", "nbd_server_stop")
        cap.case("start-a-w-conflict", "nbd_server_start -a -w unix:nbd.sock",
                 note="disk0's guest device shares no write permission")
        cap.case("stopped-after-conflict", "nbd_server_stop")
        return cap.results


SCENARIOS: Dict[str, Callable[[Make], List[str]]] = {
    "blockjobs-errors": errors,
    "blockjobs-jobs": jobs,
    "blockjobs-nbd": nbd,
}
