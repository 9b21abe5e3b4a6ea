"""The recipes of ``docs/deployment.md``, run as far as their parts run here.

The commands are read from the document (each recipe's block follows a
``<!-- recipe: NAME -->`` line), so the document and this test cannot drift
apart.  Their host paths are moved into a temporary directory, QEMU is the
system's 7.2 (a small machine stands for the recipes' ``...``), and what the
recipes' managers do is played by the test: a QMP monitor held by another
client, as Proxmox VE's and libvirt's are; a mount namespace with the
``-v`` bind mounts, as a container has.  Proxmox's ``qm``, libvirt, a
container engine and AppArmor or SELinux are not on the test machine; the
document says so in each recipe.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import QEMU, _die_with_parent
from tests.integration.conftest import (ROOT, UNDER_TEST, HMPClient, _wait_for,
                                        bridge_command, stop_gently)

DOC = os.path.join(ROOT, "docs", "deployment.md")
#: What stands for a recipe's ``...``: a small paused machine.
SMALL = ["-M", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"]
#: The host paths the recipes name, moved under the test's directory (longest first).
HOST_PATHS = ["/run/hmpbridge-qmp", "/run/hmpbridge", "/var/lib/vms", "/var/run/qemu-server"]


def recipe(name: str) -> str:
    """The code block that follows ``<!-- recipe: NAME -->`` in the document."""
    with open(DOC) as f:
        text = f.read()
    found = re.search(r"<!-- recipe: " + re.escape(name) + r" -->\n```[a-z]*\n(.*?)```",
                      text, re.S)
    assert found is not None, f"no recipe {name!r} in {DOC}"
    return found.group(1)


def moved(text: str, where: Dict[str, str]) -> str:
    """``text`` with each path of ``where`` (where it starts a path, not inside another
    one, and not a prefix of a longer name) replaced by its value, in one pass."""
    paths = "|".join(re.escape(path) for path in sorted(where, key=len, reverse=True))
    return re.sub(r"(?<![\w.-])(" + paths + r")(?![\w.-])",
                  lambda found: where[found.group(1)], text)


def command_lines(block: str) -> List[List[str]]:
    """The commands of a shell block, each split as the shell would."""
    return [shlex.split(line) for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


class Manager:
    """A QMP client holding a monitor, as a VM manager holds its own (QEMU greets one client
    per monitor).  :meth:`close` lets it go for good (the file object and the socket)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        assert "QMP" in json.loads(self.file.readline())
        self.command("qmp_capabilities")

    def command(self, name: str) -> Any:
        self.file.write(json.dumps({"execute": name}).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" not in reply:
                return reply["return"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class Host:
    """The recipes' host directories under a temporary one, the QEMUs and bridges started,
    and the clients that hold a monitor as a manager would."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="hmprecipe")
        for path in HOST_PATHS:
            os.makedirs(self.place(path))
        self.procs: List[subprocess.Popen] = []
        self.logs: Dict[subprocess.Popen, "tempfile._TemporaryFileWrapper[bytes]"] = {}
        self.held: List[Manager] = []

    def place(self, text: str) -> str:
        """``text`` with the host paths moved under the test's directory."""
        return moved(text, {path: self.root + path for path in HOST_PATHS})

    def start(self, argv: Sequence[str], wait_for: Optional[str] = None) -> subprocess.Popen:
        """Run ``argv`` (its output to a log); wait for the path ``wait_for`` if given."""
        log = tempfile.NamedTemporaryFile(prefix="hmprecipe-log")
        proc = subprocess.Popen(list(argv), cwd=UNDER_TEST, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
        self.procs.append(proc)
        self.logs[proc] = log
        if wait_for is not None:
            self.wait(wait_for, proc)
        return proc

    def qemu(self, argv: Sequence[str], wait_for: str) -> subprocess.Popen:
        """A recipe's QEMU command: this machine's QEMU, ``...`` a small machine."""
        assert argv[0] == "qemu-system-x86_64"
        args = [self.place(arg) for arg in argv[1:]]
        args = [part for arg in args for part in (SMALL if arg == "..." else [arg])]
        return self.start([QEMU, *args], wait_for)

    def bridge(self, argv: Sequence[str]) -> subprocess.Popen:
        """A recipe's hmpbridge command, run from this checkout."""
        assert argv[0] == "hmpbridge"
        return self.start(bridge_command(*(self.place(arg) for arg in argv[1:])))

    def wait(self, path: str, proc: subprocess.Popen, timeout: float = 15) -> None:
        try:
            _wait_for(lambda: os.path.exists(path), path, timeout=timeout, proc=proc)
        except RuntimeError as err:
            raise AssertionError(f"{err}\n{self.log_text(proc)}") from None

    def hold(self, path: str) -> Manager:
        """Hold the QMP monitor at ``path``, as a manager holds its own."""
        client = Manager(path)
        self.held.append(client)
        return client

    def log_text(self, proc: subprocess.Popen) -> str:
        with open(self.logs[proc].name, "rb") as f:
            return f.read().decode(errors="replace")

    def hmp(self, path: str, *lines: str) -> List[str]:
        """The answers to ``lines`` on the HMP listener at ``path``."""
        client = HMPClient(path, timeout=10)
        try:
            return [client.cmd(line) for line in lines]
        finally:
            client.close()

    def close(self) -> None:
        for client in self.held:
            client.close()
        for proc in reversed(self.procs):
            stop_gently(proc)
        for log in self.logs.values():
            log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def by_hand_commands() -> Tuple[List[str], List[str]]:
    """The by-hand recipe: its hmpbridge command and its QEMU command."""
    bridge, qemu = command_lines(recipe("by-hand"))
    return bridge, qemu


@pytest.fixture(scope="module")
def host() -> Iterator[Tuple[Host, subprocess.Popen]]:
    """The host and the by-hand recipe's hmpbridge (the same as ``hmpbridge.service``'s),
    started before any QEMU, watching ``/run/hmpbridge-qmp``."""
    h = Host()
    try:
        yield h, h.bridge(by_hand_commands()[0])
    finally:
        h.close()


def listener(h: Host, vm: str, kind: str = "hmp") -> str:
    return h.place(f"/run/hmpbridge/{vm}.{kind}")


def test_qemu_started_by_hand(host: Tuple[Host, subprocess.Popen]) -> None:
    """The by-hand recipe: the VM is served on its listeners while the script's own QMP
    monitor, held by the script, keeps answering it."""
    h, bridge = host
    qemu = by_hand_commands()[1]
    own = h.place("/var/lib/vms/vm1.qmp")
    proc = h.qemu(qemu, wait_for=h.place("/run/hmpbridge-qmp/vm1.qmp"))
    h.wait(own, proc)
    script = h.hold(own)
    h.wait(listener(h, "vm1"), bridge)
    assert h.hmp(listener(h, "vm1"), "info name", "info status") == [
        "vm1\n", "VM status: paused (prelaunch)\n"]
    qmp = QMPClient(listener(h, "vm1", "qmp"), timeout=10)
    try:
        assert qmp.command("query-name") == {"name": "vm1"}
    finally:
        qmp.close()
    assert script.command("query-status")["status"] == "prelaunch"


def proxmox_args() -> List[str]:
    """What the Proxmox recipe adds to QEMU's command line (``qm set VMID --args``)."""
    qm_set = command_lines(recipe("proxmox"))[0]
    assert qm_set[:3] == ["qm", "set", "100"]
    return shlex.split(qm_set[qm_set.index("--args") + 1])


def test_proxmox_second_monitor(host: Tuple[Host, subprocess.Popen]) -> None:
    """QEMU with a QMP monitor that Proxmox holds and the recipe's ``--args``: hmpbridge
    serves VM 100 through the second; the first keeps answering its client.  Then a
    bridge pointed at Proxmox's directory, whose only socket is held, says so once (within
    its --connect-timeout, not later), keeps serving nothing else, and serves VM 100 once
    the socket is let go."""
    h, bridge = host
    pve = h.place("/var/run/qemu-server/100.qmp")
    qemu = h.qemu(["qemu-system-x86_64", "-chardev",
                   f"socket,id=qmp,path={pve},server=on,wait=off",
                   "-mon", "chardev=qmp,mode=control", *proxmox_args(), "..."],
                  wait_for=h.place("/run/hmpbridge-qmp/100.qmp"))
    h.wait(pve, qemu)
    proxmox = h.hold(pve)
    h.wait(listener(h, "100"), bridge)
    assert h.hmp(listener(h, "100"), "info status") == ["VM status: paused (prelaunch)\n"]
    assert proxmox.command("query-status")["status"] == "prelaunch"

    mistaken = os.path.join(h.root, "mistaken")
    os.mkdir(mistaken)
    wrong = h.start(bridge_command("--qmp-dir", os.path.dirname(pve), "--connect-timeout", "1",
                                   "--listen-each", f"plain:unix:{mistaken}/{{vm}}.hmp"))
    said = f"VM 100: QMP socket {pve} is held by another client (it does not greet); " \
           "retrying with back-off"
    _wait_for(lambda: said in h.log_text(wrong), "the held socket's report", timeout=5,
              proc=wrong)
    assert os.listdir(mistaken) == []
    h.held.remove(proxmox)
    proxmox.close()
    h.wait(os.path.join(mistaken, "100.hmp"), wrong)
    assert h.hmp(os.path.join(mistaken, "100.hmp"), "info status") == [
        "VM status: paused (prelaunch)\n"]
    assert h.log_text(wrong).count(said) == 1


def libvirt_domain() -> Tuple[str, List[str]]:
    """The libvirt recipe's domain: its name and its ``<qemu:arg>`` values."""
    domain = ET.fromstring(recipe("libvirt"))
    ns = {"qemu": "http://libvirt.org/schemas/domain/qemu/1.0"}
    name = domain.findtext("name")
    assert name is not None
    return name, [arg.attrib["value"] for arg in domain.findall("qemu:commandline/qemu:arg", ns)]


def test_libvirt_qemu_commandline(host: Tuple[Host, subprocess.Popen]) -> None:
    """QEMU as libvirt starts it (``-name guest=NAME``, a monitor libvirt holds) with the
    recipe's ``<qemu:arg>`` values: hmpbridge serves it under the domain's name."""
    h, bridge = host
    name, args = libvirt_domain()
    monitor = os.path.join(h.root, "libvirt-monitor.sock")
    qemu = h.qemu(["qemu-system-x86_64", "-name", f"guest={name},debug-threads=on",
                   "-chardev", f"socket,id=charmonitor,path={monitor},server=on,wait=off",
                   "-mon", "chardev=charmonitor,id=monitor,mode=control", *args, "..."],
                  wait_for=h.place(f"/run/hmpbridge-qmp/{name}.qmp"))
    h.wait(monitor, qemu)
    libvirt = h.hold(monitor)
    h.wait(listener(h, name), bridge)
    assert h.hmp(listener(h, name), "info name") == [f"{name}\n"]
    assert libvirt.command("query-name") == {"name": name}


#: ``docker run`` options that take a value.
_DOCKER_VALUES = ("--name", "--device", "-v", "--volume")


def docker_run(argv: Sequence[str]) -> Tuple[List[Tuple[str, str, bool]], List[str]]:
    """A ``docker run`` command's bind mounts (host, container, read-only) and the command
    it runs in the container (after the image)."""
    assert list(argv[:2]) == ["docker", "run"]
    mounts: List[Tuple[str, str, bool]] = []
    at = 2
    while argv[at].startswith("-"):
        option = argv[at]
        if option in _DOCKER_VALUES:
            if option in ("-v", "--volume"):
                source, target, *flags = argv[at + 1].split(":")
                mounts.append((source, target, "ro" in flags))
            at += 2
        else:
            at += 1
    return mounts, list(argv[at + 1:])


def can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not can_unshare(), reason="mount namespaces (unshare -m) need root")
def test_containers_share_the_socket_directory(tmp_path) -> None:
    """The container recipe: QEMU and hmpbridge each in a mount namespace with the recipe's
    ``-v`` mounts (the bridge's QMP directory read-only); the bridge sees vm1's socket
    through its own mount and serves it, and a client on the host reaches it."""
    h = Host()
    try:
        qemu_run, bridge_run = command_lines(recipe("containers"))

        def contained(run: Sequence[str], container: str) -> Tuple[List[str], List[str]]:
            """The mount commands and the command, with paths of container ``container``."""
            mounts, command = docker_run(run)
            inside = os.path.join(h.root, container)
            setup = []
            for source, target, read_only in mounts:
                os.makedirs(inside + target)
                setup.append(f"mount --bind {shlex.quote(h.place(source))} "
                             f"{shlex.quote(inside + target)}")
                if read_only:
                    setup.append(f"mount -o remount,bind,ro {shlex.quote(inside + target)}")
            targets = {target: inside + target for _, target, _ in mounts}
            return setup, [moved(arg, targets) for arg in command]

        def in_namespace(setup: List[str], argv: List[str]) -> List[str]:
            script = " && ".join(setup + ['exec "$@"'])
            return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                    *argv]

        setup, command = contained(bridge_run, "hmpbridge")
        assert command[0] == "hmpbridge"
        bridge = h.start(in_namespace(setup, bridge_command(*command[1:])))
        setup, command = contained(qemu_run, "vm1")
        assert command[0] == "qemu-system-x86_64"
        command = [QEMU] + [part for arg in command[1:] for part in
                            (SMALL if arg == "..." else [arg])]
        h.start(in_namespace(setup, command), wait_for=h.place("/run/hmpbridge-qmp/vm1.qmp"))
        h.wait(listener(h, "vm1"), bridge)
        assert h.hmp(listener(h, "vm1"), "info name") == ["vm1\n"]
        sock = socket.socket(socket.AF_UNIX)  # QMP too, through the same mount
        try:
            sock.settimeout(10)
            sock.connect(listener(h, "vm1", "qmp"))
            assert b'"QMP"' in sock.recv(4096)
        finally:
            sock.close()
        assert "Read-only file system" not in h.log_text(bridge)
    finally:
        h.close()
