"""--qmp-dir with real QEMUs: every QMP socket of a directory served as a VM, each on its own
listener, picked up when it appears and dropped when it goes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, Iterator

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import QEMU, _die_with_parent
from tests.integration.conftest import (UNDER_TEST, HMPClient, _wait_for, bridge_command,
                                         stop_gently)


class Host:
    """A directory of QMP sockets, QEMUs started and stopped in it, and an hmpbridge."""

    def __init__(self) -> None:
        self.vms_dir = tempfile.mkdtemp(prefix="hmpfleet")
        self.run_dir = tempfile.mkdtemp(prefix="hmpfleetrun")
        self.qemus: Dict[str, subprocess.Popen] = {}
        self.bridge: subprocess.Popen = None  # type: ignore[assignment]
        self.log = tempfile.TemporaryFile()

    def qmp(self, name: str) -> str:
        return os.path.join(self.vms_dir, f"{name}.qmp")

    def hmp(self, name: str) -> str:
        return os.path.join(self.run_dir, f"{name}.hmp")

    def start_qemu(self, name: str) -> None:
        self.qemus[name] = subprocess.Popen(
            [QEMU, "-M", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-name", name, "-qmp", f"unix:{self.qmp(name)},server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _wait_for(lambda: os.path.exists(self.qmp(name)), f"{name}'s QMP socket",
                  proc=self.qemus[name])

    def stop_qemu(self, name: str) -> None:
        proc = self.qemus.pop(name)
        proc.terminate()
        proc.wait(10)
        if os.path.exists(self.qmp(name)):
            os.unlink(self.qmp(name))

    def start_bridge(self, *extra: str) -> None:
        self.bridge = subprocess.Popen(
            bridge_command("--qmp-dir", self.vms_dir, "--listen-each",
                           f"plain:unix:{self.run_dir}/{{vm}}.hmp", *extra),
            cwd=UNDER_TEST, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)

    def wait_listening(self, name: str, timeout: float = 15) -> None:
        try:
            _wait_for(lambda: os.path.exists(self.hmp(name)), f"the listener of {name}",
                      timeout=timeout, proc=self.bridge)
        except RuntimeError as err:
            raise AssertionError(f"{err}\n{self.log_text()}") from None

    def name_of(self, name: str) -> str:
        """What ``info name`` answers on VM ``name``'s own listener."""
        client = HMPClient(self.hmp(name), timeout=10)
        try:
            return client.cmd("info name")
        finally:
            client.close()

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self) -> None:
        if self.bridge is not None:
            stop_gently(self.bridge)
        for proc in self.qemus.values():
            proc.kill()
            proc.wait()
        self.log.close()
        shutil.rmtree(self.vms_dir, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host()
    try:
        yield h
    finally:
        h.close()


def test_each_vm_of_the_directory_on_its_own_listener(host: Host) -> None:
    """Three QEMUs (vm3's QMP held by another client at first), one hmpbridge --qmp-dir:
    each HMP listener answers with its own VM's name and each QMP listener reaches its VM;
    the held socket is said once and served once free; a VM that stops loses its listeners
    while the others keep answering; a fourth VM's listener appears within a second of its
    socket; stopping the bridge removes every listener's socket.  A socket left behind,
    refusing connections, is said once."""
    for name in ("vm1", "vm2", "vm3"):
        host.start_qemu(name)
    holder = socket.socket(socket.AF_UNIX)  # QEMU greets only its first client
    holder.settimeout(10)
    holder.connect(host.qmp("vm3"))
    assert b'"QMP"' in holder.recv(4096)
    stale = socket.socket(socket.AF_UNIX)  # a socket left behind: nobody listens on it
    stale.bind(host.qmp("stale"))
    stale.close()
    host.start_bridge("--connect-timeout", "1",
                      "--qmp-listen-each", f"unix:{host.run_dir}/{{vm}}.qmp")
    for name in ("vm1", "vm2"):
        host.wait_listening(name)
        assert host.name_of(name) == f"{name}\n"
        qmp = QMPClient(os.path.join(host.run_dir, f"{name}.qmp"), timeout=10)
        try:  # and its QMP listener reaches the same VM
            assert qmp.command("query-name") == {"name": name}
        finally:
            qmp.close()
    _wait_for(lambda: "held by another client" in host.log_text(), "the held socket's report",
              timeout=10)
    assert not os.path.exists(host.hmp("vm3"))
    holder.close()
    host.wait_listening("vm3")
    assert host.name_of("vm3") == "vm3\n"
    assert host.log_text().count("held by another client") == 1

    host.stop_qemu("vm2")
    _wait_for(lambda: not os.path.exists(host.hmp("vm2")), "vm2's listener to go", timeout=5)
    assert sorted(os.listdir(host.run_dir)) == [
        f"{name}.{kind}{lock}" for name in ("vm1", "vm3") for kind in ("hmp", "qmp")
        for lock in ("", ".lock")]
    for name in ("vm1", "vm3"):
        assert host.name_of(name) == f"{name}\n"

    host.start_qemu("vm4")
    appeared = time.monotonic()
    host.wait_listening("vm4", timeout=5)
    assert time.monotonic() - appeared < 1.0
    assert host.name_of("vm4") == "vm4\n"
    assert host.name_of("vm1") == "vm1\n"
    host.bridge.send_signal(signal.SIGTERM)  # stopping closes every VM's listeners
    assert host.bridge.wait(10) == 0
    assert os.listdir(host.run_dir) == []
    log = host.log_text()
    assert "Traceback" not in log, log
    # the socket left behind is said once; a QEMU's socket refusing before QEMU listens is not
    reports = [line for line in log.splitlines() if "cannot connect to QMP socket" in line]
    assert len(reports) == 1 and "stale.qmp" in reports[0], log


def test_a_directory_removed_and_made_again_is_served_again(host: Host) -> None:
    """``rm -r`` of the watched directory drops its VMs; once it is made again, a QEMU
    whose socket appears there is served (the directory is watched again)."""
    host.start_qemu("vm1")
    host.start_bridge()
    host.wait_listening("vm1")
    host.stop_qemu("vm1")
    shutil.rmtree(host.vms_dir)
    _wait_for(lambda: "was removed or renamed" in host.log_text(), "the removal's report",
              timeout=10)
    os.mkdir(host.vms_dir)
    host.start_qemu("vm2")
    host.wait_listening("vm2", timeout=10)
    assert host.name_of("vm2") == "vm2\n"
    _wait_for(lambda: "Watching" in host.log_text(), "inotify again", timeout=5)
