"""Socket activation: hmpbridge started the way systemd starts it, on listening sockets it
inherits (``LISTEN_FDS``, ``LISTEN_PID``, ``LISTEN_FDNAMES``; see ``sd_listen_fds(3)``), and
adopted through Twisted's ``systemd:domain=...:index=N`` or ``:name=NAME`` endpoint.

``systemd-socket-activate`` binds the sockets, waits for the first client, then runs
hmpbridge with the sockets as descriptors 3, 4, ... (as systemd does for a ``.socket``
unit).  The units' own lines are run: ``docs/systemd/hmpbridge@.socket``'s
``ListenStream=`` and ``hmpbridge@.service``'s ``ExecStart=``, with their paths moved to
a temporary directory, so the units and this test cannot drift apart.
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
from typing import Dict, Iterator, List, Sequence

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import QEMU, _die_with_parent
from tests.integration.conftest import (ROOT, TELNET_NEGOTIATION, UNDER_TEST, HMPClient,
                                        _wait_for, bridge_command, free_port, stop_gently)

ACTIVATE = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate is not "
                                "installed (Debian's systemd package has it)")

UNITS = os.path.join(ROOT, "docs", "systemd")
VM_NAME = "vm1"


def unit_values(unit: str, key: str) -> List[str]:
    """Every value of ``key=`` in ``docs/systemd/<unit>``, in order."""
    with open(os.path.join(UNITS, unit)) as f:
        return [line.split("=", 1)[1].strip() for line in f
                if line.startswith(f"{key}=")]


class Host:
    """Stand-ins for the host's directories, one QEMU 7.2 with its QMP socket where the
    units look for it (and its own HMP monitor, to compare), and what runs the bridge."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="hmpsa")
        self.qmp_dir = os.path.join(self.root, "hmpbridge-qmp")
        self.run_dir = os.path.join(self.root, "hmpbridge")
        os.mkdir(self.qmp_dir)
        os.mkdir(self.run_dir)
        self.own_hmp = os.path.join(self.root, "own.hmp")
        qmp = os.path.join(self.qmp_dir, f"{VM_NAME}.qmp")
        self.qemu = subprocess.Popen(
            [QEMU, "-M", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-name", VM_NAME, "-qmp", f"unix:{qmp},server=on,wait=off",
             "-monitor", f"unix:{self.own_hmp},server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _wait_for(lambda: os.path.exists(qmp) and os.path.exists(self.own_hmp),
                  "QEMU's monitors", proc=self.qemu)
        self.bridges: List[subprocess.Popen] = []
        self.logs: List[tempfile._TemporaryFileWrapper] = []

    def place(self, text: str) -> str:
        """A unit's line with the host's paths moved here and ``%i`` the VM."""
        return text.replace("/run/hmpbridge-qmp", self.qmp_dir) \
            .replace("/run/hmpbridge", self.run_dir).replace("%i", VM_NAME)

    def activate(self, listen: Sequence[str], argv: Sequence[str],
                 names: Sequence[str] = ()) -> subprocess.Popen:
        """``systemd-socket-activate``: bind ``listen``, run ``argv`` on the first client.

        Each socket is named (``LISTEN_FDNAMES``, which systemd always sets and Twisted
        requires) by ``names``, else as systemd names it by default: after its unit."""
        command = [ACTIVATE, *(f"--listen={address}" for address in listen)]
        names = list(names) or [f"hmpbridge@{VM_NAME}.socket"] * len(listen)
        command.append("--fdname=" + ":".join(names))
        log = tempfile.NamedTemporaryFile(prefix="hmpsa-log")
        proc = subprocess.Popen(command + list(argv), cwd=UNDER_TEST, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
        self.bridges.append(proc)
        self.logs.append(log)
        return proc

    def log_text(self, index: int = -1) -> str:
        with open(self.logs[index].name, "rb") as f:
            return f.read().decode(errors="replace")

    def own_banner(self) -> bytes:
        """What QEMU's own ``-monitor unix:`` sends a new client, up to its prompt."""
        client = HMPClient(self.own_hmp, timeout=10)
        try:
            return client.connect_bytes
        finally:
            client.close()

    def stop_bridges(self) -> None:
        """Stop every bridge (QEMU greets one QMP client at a time: the next test's waits)."""
        for proc in self.bridges:
            stop_gently(proc)
        for log in self.logs:
            log.close()
        self.bridges, self.logs = [], []

    def close(self) -> None:
        self.stop_bridges()
        self.qemu.kill()
        self.qemu.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def vm_host() -> Iterator[Host]:
    h = Host()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def host(vm_host: Host) -> Iterator[Host]:
    try:
        yield vm_host
    finally:
        vm_host.stop_bridges()


def unit_command(host: Host) -> List[str]:
    """``hmpbridge@.service``'s ``ExecStart=``, run from this checkout."""
    (exec_start,) = unit_values("hmpbridge@.service", "ExecStart")
    argv = shlex.split(host.place(exec_start))
    assert argv[0] == "/usr/bin/hmpbridge"
    return bridge_command(*argv[1:])


def tcp_qmp(port: int, command: str) -> Dict[str, object]:
    """A QMP client over TCP: the greeting, then ``command``'s reply (events skipped)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        lines = sock.makefile("rwb")
        greeting = json.loads(lines.readline())
        assert "QMP" in greeting
        for execute in ("qmp_capabilities", command):
            lines.write(json.dumps({"execute": execute}).encode() + b"\n")
            lines.flush()
            while True:
                reply = json.loads(lines.readline())
                if "event" not in reply:
                    break
        return reply


def test_the_units_sockets_serve_hmp_and_qmp(host: Host) -> None:
    """hmpbridge@.socket's two unix sockets handed to hmpbridge@.service's command line:
    the first client starts the bridge and gets QEMU's own banner, byte for byte (a plain
    listener, as QEMU's ``-monitor unix:``), and its answers; the second socket is QMP,
    multiplexed onto the same VM."""
    listen = [host.place(address) for address in unit_values("hmpbridge@.socket",
                                                              "ListenStream")]
    assert [os.path.basename(path) for path in listen] == [f"{VM_NAME}.hmp", f"{VM_NAME}.qmp"]
    proc = host.activate(listen, unit_command(host))
    _wait_for(lambda: all(os.path.exists(path) for path in listen),
              "systemd-socket-activate to listen", proc=proc)
    hmp = HMPClient(listen[0], timeout=30)  # the first client: the bridge starts now
    try:
        assert hmp.connect_bytes == host.own_banner(), host.log_text()
        assert hmp.cmd("info name") == f"{VM_NAME}\n"
        assert hmp.cmd("info status") == "VM status: paused (prelaunch)\n"
    finally:
        hmp.close()
    qmp = QMPClient(listen[1], timeout=30)
    try:
        assert qmp.command("query-name") == {"name": VM_NAME}
    finally:
        qmp.close()
    assert proc.poll() is None
    log = host.log_text()
    assert "Serving HMP on systemd:domain=UNIX:index=0 (plain" in log, log
    assert "Serving QMP on systemd:domain=UNIX:index=1" in log, log


def test_the_shared_socket_of_the_directory_service(host: Host) -> None:
    """hmpbridge.socket's socket, named by its ``FileDescriptorName=``, handed to
    hmpbridge.service's command line: the VMs of the directory get their own listeners, and
    a session of the shared socket chooses vm1 with ``.vm vm1`` and gets its answers."""
    (shared,) = [host.place(p) for p in unit_values("hmpbridge.socket", "ListenStream")]
    (name,) = unit_values("hmpbridge.socket", "FileDescriptorName")
    (exec_start,) = unit_values("hmpbridge.service", "ExecStart")
    argv = shlex.split(host.place(exec_start))
    assert argv[0] == "/usr/bin/hmpbridge"
    proc = host.activate([shared], bridge_command(*argv[1:]), names=[name])
    _wait_for(lambda: os.path.exists(shared), "systemd-socket-activate to listen", proc=proc)
    first = HMPClient(shared, timeout=30)  # the first client: the bridge starts now
    try:
        assert first.banner.startswith(b"hmpbridge monitor of "), host.log_text()
    finally:
        first.close()
    own = os.path.join(host.run_dir, f"{VM_NAME}.hmp")
    try:
        _wait_for(lambda: os.path.exists(own), "vm1's own listener", timeout=15, proc=proc)
    except RuntimeError as err:
        raise AssertionError(f"{err}: {host.log_text()}") from None
    session = HMPClient(shared, timeout=30)
    try:
        assert session.banner == b"hmpbridge monitor of 1 VM - type '.vms' to list them, " \
                                 b"'.vm NAME' to choose one\r\n(qemu) "
        assert session.cmd(f".vm {VM_NAME}") == ""
        assert session.cmd("info name") == f"{VM_NAME}\n"
    finally:
        session.close()
    client = HMPClient(own, timeout=10)
    try:
        assert client.cmd("info name") == f"{VM_NAME}\n"
    finally:
        client.close()
    assert re.search(r"Serving HMP.* on systemd:domain=UNIX:name=hmp \(plain",
                     host.log_text()), host.log_text()


def test_named_tcp_sockets_serve_telnet_and_qmp(host: Host) -> None:
    """Two loopback TCP sockets handed over by name (``FileDescriptorName=``): HMP on the
    one named ``hmp`` is a telnet listener (no chardev prefix, as ``tcp:``), QMP on ``qmp``.
    A loopback socket is local: no ``--allow-remote`` or password file is asked for."""
    hmp_port, qmp_port = free_port(), free_port()
    qmp_socket = os.path.join(host.qmp_dir, f"{VM_NAME}.qmp")
    proc = host.activate(
        [f"127.0.0.1:{hmp_port}", f"127.0.0.1:{qmp_port}"],
        bridge_command("--qmp", f"unix:path={qmp_socket}",
                       "--listen", "systemd:domain=INET:name=hmp",
                       "--qmp-listen", "systemd:domain=INET:name=qmp"),
        names=["hmp", "qmp"])
    _wait_for(lambda: "Listening on" in host.log_text(), "systemd-socket-activate", proc=proc)
    hmp = HMPClient(("127.0.0.1", hmp_port), timeout=30)
    try:
        assert hmp.connect_bytes.startswith(TELNET_NEGOTIATION), host.log_text()
        assert hmp.banner == host.own_banner()
        assert hmp.cmd("info name") == f"{VM_NAME}\n"
    finally:
        hmp.close()
    assert tcp_qmp(qmp_port, "query-name") == {"return": {"name": VM_NAME}}
    log = host.log_text()
    assert "Serving HMP on systemd:domain=INET:name=hmp (telnet" in log, log
    assert "reachable from other hosts" not in log


def run_refused(host: Host, listen: Sequence[str], *args: str,
                names: Sequence[str] = ()) -> str:
    """Start the bridge with ``args`` on ``listen``, connect once; its log once it exits 2."""
    proc = host.activate(listen, bridge_command(
        "--qmp", f"unix:path={os.path.join(host.qmp_dir, VM_NAME + '.qmp')}", *args),
        names=names)
    _wait_for(lambda: "Listening on" in host.log_text(), "systemd-socket-activate", proc=proc)
    address = listen[0]
    if address.startswith("/"):
        client = socket.socket(socket.AF_UNIX)
        client.connect(address)
    else:
        where, port = address.rsplit(":", 1)
        client = socket.create_connection((where, int(port)))
    try:
        assert proc.wait(30) == 2, host.log_text()
    finally:
        client.close()
    log = host.log_text()
    assert "Traceback" not in log, log
    return log


def test_a_socket_that_is_not_there_is_refused_clearly(host: Host) -> None:
    """An index or a name that nothing was handed over at, or a socket of another family
    than the endpoint says, stops the bridge with the reason (exit 2), not a traceback."""
    address = f"127.0.0.1:{free_port()}"
    log = run_refused(host, [address], "--listen", "systemd:domain=INET:index=1",
                      names=["hmp"])
    assert "invalid listen endpoint 'systemd:domain=INET:index=1': no socket was handed " \
           "over at index 1" in log, log
    log = run_refused(host, [f"127.0.0.1:{free_port()}"],
                      "--listen", "systemd:domain=INET:name=monitor", names=["hmp"])
    assert "invalid listen endpoint 'systemd:domain=INET:name=monitor': no socket was " \
           "handed over named 'monitor'" in log, log
    path = os.path.join(host.run_dir, "family.hmp")
    log = run_refused(host, [path], "--listen", "systemd:domain=INET:index=0")
    assert "invalid listen endpoint 'systemd:domain=INET:index=0': the socket handed over " \
           "is AF_UNIX, not AF_INET" in log, log


def test_a_socket_on_every_address_is_remote(host: Host) -> None:
    """An inherited socket bound to every address is reachable from other hosts: refused
    without a guard, as ``tcp:PORT`` is, and its address is said."""
    port = free_port()
    log = run_refused(host, [f"0.0.0.0:{port}"], "--listen", "systemd:domain=INET:index=0")
    assert "systemd:domain=INET:index=0 is reachable from other hosts (tcp on every " \
           "address) without authentication" in log, log
