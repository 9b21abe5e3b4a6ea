"""hmpbridge gives qemu-storage-daemon, which speaks QMP only, an HMP monitor.

qemu-storage-daemon has no ``human-monitor-command``, so everything printed
here is hmpbridge's own translation.  The oracle is a ``qemu-system-x86_64``
of the same release started with the same block graph and chardevs (the same
image files, opened with locking off so both may hold them), asked through
QEMU's own HMP.  Every release this machine has runs: the system's 7.2
(``qemu-storage-daemon`` is in Debian 12's ``qemu-system-common``) and the
ones ``scripts/qemu-releases.sh`` unpacks (in their ``qemu-utils``); a
missing one is skipped with the reason.
Commands that need a guest (``info status``) or QEMU's human monitor (``info
mtree``) print one clear error line instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from typing import Iterator, List

import pytest

from tests.golden.vm import BASE_ARGS, VM, qemu_img
from tests.integration.conftest import Bridge, QemuRelease, _wait_for, qemu_releases


def release_params() -> List:
    params = []
    for release in qemu_releases():
        reason = release.missing or (
            "" if release.storage_daemon else
            f"QEMU {release.name} has no qemu-storage-daemon here (Debian 12: qemu-system-common)")
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(release, id=release.name, marks=marks))
    return params


def block_graph(images: str) -> List[str]:
    """The block nodes and chardevs both processes get (``--opt`` spelling)."""
    disk = os.path.join(images, "disk0.qcow2")
    return [
        "--blockdev", f"driver=file,filename={disk},node-name=file0,locking=off",
        "--blockdev", "driver=qcow2,file=file0,node-name=disk0",
        "--chardev", "null,id=null0",
        "--object", "iothread,id=io0",
    ]


class StorageDaemon:
    """A qemu-storage-daemon with one QMP socket for hmpbridge, killed on close."""

    def __init__(self, program: str, graph: List[str]) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpqsd")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        args = [program, *graph, "--chardev",
                f"socket,id=mon0,path={self.qmp_path},server=on,wait=off",
                "--monitor", "chardev=mon0"]
        self.proc = subprocess.Popen(args, cwd=self.dir, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(lambda: os.path.exists(self.qmp_path), "qemu-storage-daemon's QMP socket",
                  proc=self.proc)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Rig:
    """A release's daemon behind hmpbridge, and that release's qemu-system with the same graph."""

    def __init__(self, release: QemuRelease) -> None:
        assert release.program and release.storage_daemon
        self.release = release
        self.images = tempfile.mkdtemp(prefix="hmpqsdimg")
        qemu_img("create", "-q", "-f", "qcow2", os.path.join(self.images, "disk0.qcow2"), "64M")
        graph = block_graph(self.images)
        self.daemon = StorageDaemon(release.storage_daemon, graph)
        system_graph = [arg[1:] if arg.startswith("--") else arg for arg in graph]
        self.twin = VM(devices=lambda d: system_graph, base=[release.program, *BASE_ARGS[1:]])
        self.bridge = Bridge(f"unix:path={self.daemon.qmp_path}")
        self.session = self.bridge.session()

    def qemu(self, line: str) -> str:
        """What QEMU's own HMP prints for ``line`` on the twin."""
        return self.twin.qmp.hmp(line).replace("\r\n", "\n")

    def close(self) -> None:
        self.session.close()
        self.bridge.close()
        self.twin.close()
        self.daemon.close()
        shutil.rmtree(self.images, ignore_errors=True)


@pytest.fixture(scope="module", params=release_params())
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(request.param)
    try:
        yield r
    finally:
        r.close()


def test_banner_names_the_daemons_version(rig: Rig) -> None:
    """When an operator connects, the banner shows the daemon's QEMU version and the prompt."""
    assert rig.session.banner == (f"QEMU {rig.release.name} monitor - type 'help' for more "
                                  "information\r\n(qemu) ").encode()


# Lines whose output must equal qemu-system's own HMP, in order (state carries over).
SAME_AS_QEMU = [
    "info version",
    "info block -n",
    "info block -n -v",
    "info block -n disk0",
    "info block -n nosuch",
    "info block-jobs",
    "info blockstats",
    "qom-list /objects/io0",
    "qom-get /objects/io0 poll-max-ns",
    "qom-set /objects/io0 poll-max-ns 1000",
    "qom-get /objects/io0 poll-max-ns",
    "chardev-add ringbuf,id=rb0,size=1024",
    "chardev-add ringbuf,id=rb0",
    "chardev-remove rb0",
    "chardev-remove rb0",
    "block_resize nosuch 1M",
    "block_stream nosuch",
    "block_job_set_speed nosuch 1",
    "block_job_cancel -f nosuch",
    "block_job_pause nosuch",
    "block_job_resume nosuch",
    "block_job_complete nosuch",
    "snapshot_blkdev_internal nosuch snap0",
    "snapshot_delete_blkdev_internal nosuch snap0",
    "drive_backup nosuch /nonexistent/backup.qcow2",
    "drive_mirror nosuch /nonexistent/mirror.qcow2",
    "nbd_server_stop",
    "nbd_server_remove disk0",
    "chardev-send-break null0",
    "ringbuf_write nosuch hello",
    "help block_resize",
    "frob",
]


@pytest.mark.parametrize("line", SAME_AS_QEMU)
def test_translated_output_equals_qemus_own(rig: Rig, line: str) -> None:
    """When a line runs on the daemon through hmpbridge, it prints what QEMU's HMP prints."""
    assert rig.session.cmd(line) == rig.qemu(line)


def test_nbd_server_serves_the_daemons_nodes(rig: Rig) -> None:
    """When an NBD server is started and a node exported, the daemon answers as QEMU does."""
    lines = ["nbd_server_start unix:{dir}/nbd.sock", "nbd_server_start unix:{dir}/nbd.sock",
             "nbd_server_add disk0", "nbd_server_add disk0", "nbd_server_add -w nosuch",
             "nbd_server_remove disk0", "nbd_server_remove disk0", "nbd_server_stop",
             "nbd_server_stop"]
    for line in lines:
        ours = rig.session.cmd(line.replace("{dir}", rig.daemon.dir))
        theirs = rig.qemu(line.replace("{dir}", rig.twin.dir))
        assert ours == theirs, line


def test_chardevs_match_apart_from_the_monitor_wiring(rig: Rig) -> None:
    """When chardevs are listed, the daemon's equal the twin's but for each one's own monitor."""
    def user_chardevs(text: str) -> List[str]:
        return sorted(line for line in text.splitlines()
                      if not line.startswith(("mon0:", "compat_monitor")))
    assert user_chardevs(rig.session.cmd("info chardev")) == \
        user_chardevs(rig.qemu("info chardev"))


@pytest.mark.parametrize("line,qmp", [("info status", "query-status"),
                                      ("info iothreads", "query-iothreads"),
                                      ("system_reset", "system_reset"),
                                      ("netdev_del nosuch", "netdev_del"),
                                      ("sendkey a", "send-key")])
def test_commands_the_daemon_lacks_print_one_clear_line(rig: Rig, line: str, qmp: str) -> None:
    """When the daemon has no QMP command for a line, one line names the missing command."""
    key = " ".join(line.split()[:2]) if line.startswith("info ") else line.split()[0]
    assert rig.session.cmd(line) == (
        f"Error: '{key}' is not available: this QEMU has no QMP command '{qmp}'\n")


def test_human_monitor_only_commands_say_why_they_cannot_run(rig: Rig) -> None:
    """When a line needs QEMU's human monitor, which the daemon lacks, the error says so."""
    assert rig.session.cmd("info mtree") == (
        "Error: 'info mtree' needs QEMU's human monitor, "
        "and this QEMU has no human-monitor-command\n")


def test_the_daemon_keeps_serving_after_errors(rig: Rig) -> None:
    """When errors have been printed, the same session still gets translated answers."""
    assert rig.session.cmd("info block-jobs") == "No active jobs\n"


def test_object_types_are_listed_without_qemus_monitor(rig: Rig) -> None:
    """When object_add help runs on the daemon, its types are listed as QEMU lists them."""
    lines = rig.session.cmd("object_add help").splitlines()
    assert lines[0] == "List of user creatable objects:"
    names = [line[2:] for line in lines[1:]]
    assert all(line.startswith("  ") for line in lines[1:])
    assert names == sorted(names, key=str.lower)
    assert {"iothread", "throttle-group", "secret"} <= set(names)
    rig.qemu("device_add help")  # loads every QOM module of the twin
    twin = {line[2:] for line in rig.qemu("object_add help").splitlines()[1:]}
    assert set(names) <= twin, set(names) - twin
