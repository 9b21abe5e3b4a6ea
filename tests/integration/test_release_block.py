"""Block listings on QEMU 10.0.2 and 11.1.3, and QEMU 7.2's text from 11.1.3.

Per release, one VM served by the bridge (translation only) with an internal
snapshot on its disk: each line's output through the bridge must equal what
that same QEMU's ``human-monitor-command`` prints for it (the lines only
read, so one VM answers both).  With ``--hmp-version 7.2``, QEMU 11.1.3 on
machine ``pc-i440fx-7.2`` must print what a QEMU 7.2 twin prints, both VMs
opening copies of one image (so sizes and snapshot dates agree); automatic
node names and the VMs' directories are the only things told apart.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.golden.vm import BASE_ARGS, TZ, VM, qemu_img
from tests.integration.conftest import Bridge, HMPClient, QemuRelease, qemu_releases

RELEASES = {r.name: r for r in qemu_releases()}
NEWER = [name for name in ("10.0.2", "11.1.3")]

#: Lines compared with the same QEMU's own output.
READ_LINES = [
    "info block",
    "info block -v",
    "info block -v disk0",
    "info block -n -v",
    "info blockstats",
    "info snapshots",
    "nbd_server_start :",
    "nbd_server_start 127.0.0.1:0,to=x",
    "nbd_server_start 127.0.0.1:0,mptcp=maybe",
    "nbd_server_start [::1]:",
    "change vnc foo",
    "change vnc password pw retain",
    "change vnc password pw",
    "info block-jobs",
]

#: Lines compared between 11.1.3 with ``--hmp-version 7.2`` and a 7.2 twin.
SEVEN_TWO_LINES = ["info block", "info block -v", "info block -v disk0", "info block -n -v",
                   "info blockstats", "info snapshots", "nbd_server_start :"]


def _release(name: str) -> QemuRelease:
    release = RELEASES.get(name)
    if release is None or release.program is None:
        pytest.skip(release.missing if release is not None else f"QEMU {name} is not known")
    return release


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """A 64 MiB qcow2 image with one internal snapshot ``s1`` (made by the system's qemu-img)."""
    folder = tempfile.mkdtemp(prefix="hmpblk")
    path = os.path.join(folder, "disk0.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", path, "64M")
    qemu_img("snapshot", "-c", "s1", path)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def _devices(image: str) -> Callable[[str], List[str]]:
    def devices(d: str) -> List[str]:
        shutil.copy(image, os.path.join(d, "disk0.qcow2"))
        return ["-drive", "if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
                "-drive", f"if=none,id=disk0,file={d}/disk0.qcow2,format=qcow2",
                "-device", "virtio-blk-pci,drive=disk0,id=vblk0",
                "-qmp", f"unix:{d}/bridge.sock,server=on,wait=off"]
    return devices


def _serve(program: str, image: str, machine: str = "pc",
           *bridge_args: str) -> Tuple[VM, Bridge, HMPClient]:
    base = [program, "-M", machine, *BASE_ARGS[3:]]
    vm = VM(devices=_devices(image), base=base)
    old = os.environ.get("TZ")
    os.environ["TZ"] = TZ  # snapshot dates are local time: the bridge's zone is the VM's
    try:
        bridge = Bridge(f"unix:path={vm.path('bridge.sock')}", "--no-passthrough",
                        *bridge_args)
    except BaseException:
        vm.close()
        raise
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
    return vm, bridge, bridge.session()


def _close(vm: VM, bridge: Bridge, session: HMPClient) -> None:
    session.close()
    bridge.close()
    vm.close()


@pytest.fixture(scope="module", params=NEWER)
def served(request: pytest.FixtureRequest, image: str) -> Iterator[Tuple[str, VM, HMPClient]]:
    release = _release(request.param)
    assert release.program is not None
    vm, bridge, session = _serve(release.program, image)
    try:
        yield release.name, vm, session
    finally:
        _close(vm, bridge, session)


@pytest.mark.parametrize("line", READ_LINES)
def test_line_is_that_qemus_own(served: Tuple[str, VM, HMPClient], line: str) -> None:
    """Each block line prints what this release's own monitor prints."""
    _, vm, session = served
    assert session.cmd(line) == vm.qmp.hmp(line)


def test_inactive_node(served: Tuple[str, VM, HMPClient]) -> None:
    """When disk0's node is inactive, info block says so and info snapshots finds no vmstate node."""
    _, vm, session = served
    node = vm.qmp.command("query-block")[1]["inserted"]["node-name"]
    vm.qmp.command("blockdev-set-active", {"node-name": node, "active": False})
    try:
        for line in ("info block", "info block -v disk0", "info snapshots"):
            assert session.cmd(line) == vm.qmp.hmp(line), line
        assert ", inactive)" in session.cmd("info block")
    finally:
        vm.qmp.command("blockdev-set-active", {"node-name": node, "active": True})


def test_parentless_node_with_snapshots(served: Tuple[str, VM, HMPClient]) -> None:
    """When a blockdev-add node has a snapshot of its own, info snapshots lists it as that QEMU does.

    QEMU 10.0.2 never reaches such a node once a drive's root was listed;
    11.1.3 lists it as partial.
    """
    version, vm, session = served
    path = vm.path("extra.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", path, "8M")
    vm.qmp.command("blockdev-add", {"driver": "qcow2", "node-name": "extra0",
                                    "file": {"driver": "file", "filename": path}})
    try:
        vm.qmp.command("blockdev-snapshot-internal-sync", {"device": "extra0", "name": "onlyx"})
        text = session.cmd("info snapshots")
        assert text == vm.qmp.hmp("info snapshots")
        assert ("onlyx" in text) is (version != "10.0.2")
        assert session.cmd("savevm viabridge") == vm.qmp.hmp("savevm viaqemu") == ""
        assert _holding("viabridge", vm) == _holding("viaqemu", vm)
        assert ("extra0" in _holding("viabridge", vm)) is (version != "10.0.2")
        vm.qmp.hmp("delvm viabridge")
        vm.qmp.hmp("delvm viaqemu")
    finally:
        vm.qmp.command("blockdev-del", {"node-name": "extra0"})


def _holding(tag: str, vm: VM) -> List[str]:
    """The named nodes holding snapshot ``tag``, automatic names left out."""
    return sorted(str(node["node-name"]) for node in vm.qmp.command("query-named-block-nodes")
                  if not str(node["node-name"]).startswith("#")
                  and any(sn["name"] == tag for sn in node["image"].get("snapshots", [])))


def _normal(text: str, vm: VM) -> str:
    return re.sub(r"#block\d+", "#blockN", text.replace(vm.dir, "{dir}"))


@pytest.fixture(scope="module")
def seven_two(image: str) -> Iterator[Tuple[VM, HMPClient, VM]]:
    """11.1.3 on pc-i440fx-7.2 behind ``--hmp-version 7.2``, and a QEMU 7.2 twin."""
    newest = _release("11.1.3")
    oldest = next((r for r in RELEASES.values() if r.release == (7, 2)), None)
    if oldest is None or oldest.program is None:
        pytest.skip("no QEMU 7.2 on this machine (the system's qemu-system-x86_64)")
    assert newest.program is not None
    vm, bridge, session = _serve(newest.program, image, "pc-i440fx-7.2",
                                 "--hmp-version", "7.2")
    twin = VM(devices=_devices(image), base=[oldest.program, *BASE_ARGS[1:]])
    try:
        yield vm, session, twin
    finally:
        twin.close()
        _close(vm, bridge, session)


@pytest.mark.parametrize("line", SEVEN_TWO_LINES)
def test_hmp_version_7_2_prints_what_7_2_prints(seven_two: Tuple[VM, HMPClient, VM],
                                               line: str) -> None:
    """With --hmp-version 7.2, QEMU 11.1.3's data prints as QEMU 7.2 prints its own."""
    vm, session, twin = seven_two
    assert _normal(session.cmd(line), vm) == _normal(twin.qmp.hmp(line), twin)


@pytest.fixture(scope="module")
def rejecting(image: str) -> Iterator[Tuple[VM, HMPClient]]:
    """QEMU 11.1.3 refusing deprecated QMP input (``block-job-pause`` among it)."""
    release = _release("11.1.3")
    assert release.program is not None
    base = [release.program, *BASE_ARGS[1:], "-compat", "deprecated-input=reject"]
    vm = VM(devices=_devices(image), base=base)
    try:
        bridge = Bridge(f"unix:path={vm.path('bridge.sock')}", "--no-passthrough")
    except BaseException:
        vm.close()
        raise
    session = bridge.session()
    try:
        yield vm, session
    finally:
        _close(vm, bridge, session)


def _job(vm: VM) -> Dict[str, Any]:
    jobs = vm.qmp.command("query-block-jobs")
    return jobs[0] if jobs else {}


def test_block_jobs_where_deprecated_commands_are_refused(
        rejecting: Tuple[VM, HMPClient]) -> None:
    """When QEMU refuses block-job-pause by policy, block_job_* still works as QEMU's HMP does."""
    vm, session = rejecting
    reply = vm.qmp.send({"execute": "block-job-pause", "arguments": {"device": "disk0"}})
    assert reply["error"]["desc"] == "Deprecated command block-job-pause disabled by policy"
    for line in ("block_job_pause nosuch", "block_job_resume nosuch",
                 "block_job_complete nosuch"):
        assert session.cmd(line) == vm.qmp.hmp(line) == "Error: Block job 'nosuch' not found\n"
    vm.qmp.command("drive-mirror", {"device": "disk0", "target": vm.path("m.qcow2"),
                                    "format": "qcow2", "sync": "full"})
    assert session.cmd("block_job_pause disk0") == ""
    assert _job(vm)["paused"] is True
    assert session.cmd("block_job_resume disk0") == ""
    assert _job(vm)["paused"] is False
    vm.qmp.wait_event("BLOCK_JOB_READY")
    assert session.cmd("block_job_complete disk0") == ""
    vm.qmp.wait_event("BLOCK_JOB_COMPLETED")
    assert _job(vm) == {}


#: Pieces of TCP addresses: hosts, ports, options, separators and escapes.  No
#: ``id``: from 10.1 QEMU keeps every id an address named (``inet_parse`` never
#: frees its QemuOpts), so a second use of one is a "Duplicate ID" only that
#: QEMU's history explains.
_ADDRESS_PIECES = st.sampled_from(
    [":", ",", ",,", "=", "[", "]", "0", "1", "127.0.0.1", "::1", "to", "ipv4", "ipv6",
     "numeric", "keep-alive", "keep-alive-count", "mptcp", "on", "off", "yes", "x", "help",
     "?", "addr", "no", "tcp:", "65536", "-1"])


def test_fuzzed_nbd_addresses_print_what_qemu_prints(served: Tuple[str, VM, HMPClient]) -> None:
    """Whatever TCP address nbd_server_start gets, the bridge prints what that QEMU prints."""
    _, vm, session = served

    @settings(max_examples=int(os.environ.get("HMPBRIDGE_LIVE_EXAMPLES", "40")),
              derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.lists(_ADDRESS_PIECES, min_size=1, max_size=8).map("".join))
    def check(address: str) -> None:
        line = "nbd_server_start " + address
        got = session.cmd(line)
        session.cmd("nbd_server_stop")
        want = vm.qmp.hmp(line)
        vm.qmp.hmp("nbd_server_stop")
        assert got == want

    check()
