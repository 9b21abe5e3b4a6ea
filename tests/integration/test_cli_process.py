"""The ``hmpbridge`` command line, run for real."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest

from hmpbridge.cli import EXIT_LISTEN_FAILED, EXIT_OK, EXIT_QMP_UNREACHABLE
from hmpbridge.launcher import qemu_argv
from tests.golden.recorder import QMPClient
from tests.golden.vm import qemu_img
from tests.integration.conftest import PROMPT, ROOT, HMPClient, Twin, bridge_command, free_port


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(bridge_command(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def vm():
    twin = Twin()
    yield twin
    twin.close()


def test_help_documents_every_option():
    result = run("--help")
    assert result.returncode == EXIT_OK
    for option in ("--qmp", "--listen", "--no-passthrough", "--connect-timeout", "--qemu",
                   "--qemu-arg", "--log-level", "--version", "exit status"):
        assert option in result.stdout


def test_unreachable_qmp_exits_with_a_clear_message(tmp_path):
    result = run("--qmp", str(tmp_path / "nothing.sock"))
    assert result.returncode == EXIT_QMP_UNREACHABLE
    assert f"hmpbridge: cannot connect to QMP at unix:path={tmp_path}/nothing.sock" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_qmp_monitor_is_reported(vm):
    # QEMU serves one client per monitor; a second one never gets a greeting.
    holder = QMPClient(vm.bridge_socket)
    try:
        result = run("--qmp", vm.bridge_socket, "--connect-timeout", "1")
    finally:
        holder.close()
    assert result.returncode == EXIT_QMP_UNREACHABLE
    assert "no QMP greeting within 1 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_with_a_clear_message(vm):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--qmp", vm.bridge_socket, "--listen", f"tcp:{port}:interface=127.0.0.1")
    assert result.returncode == EXIT_LISTEN_FAILED
    assert f"hmpbridge: cannot listen on tcp:{port}:interface=127.0.0.1:" in result.stderr
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_endpoint_is_a_usage_error():
    result = run("--qmp", "nosuchtype:foo")
    assert result.returncode == 2
    assert "invalid --qmp endpoint" in result.stderr


def _own_qemu_reference(tmp_path) -> QMPClient:
    """A QEMU started with the same command line the bridge uses for its own."""
    disk = str(tmp_path / "disk0.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", disk, "64M")
    qmp = str(tmp_path / "qmp.sock")
    proc = subprocess.Popen(qemu_argv("qemu-system-x86_64", qmp, disk),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(qmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    client = QMPClient(qmp)
    client.proc = proc
    client.dir = str(tmp_path)
    return client


def first_session(proc: subprocess.Popen, port: int) -> HMPClient:
    """A session on ``port`` once the bridge ``proc`` accepts one (it must not exit first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return HMPClient(("127.0.0.1", port))
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)


def test_own_qemu_is_started_served_and_stopped(tmp_path):
    port = free_port()
    proc = subprocess.Popen(bridge_command("--listen", f"tcp:{port}:interface=127.0.0.1"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    reference = _own_qemu_reference(tmp_path)
    try:
        client = first_session(proc, port)
        for line in ["info status", "info block", "eject ide1-cd0", "info block ide1-cd0"]:
            got, want = client.cmd(line), reference.hmp(line)
            got = re.sub(r"/tmp/hmpbridge-\w+/", "<dir>/", got)
            want = want.replace(reference.dir + "/", "<dir>/")
            assert re.sub(r"#block\d+", "#blockN", got) == re.sub(r"#block\d+", "#blockN", want)
        # quit ends QEMU, which ends the bridge that started it
        client.sock.sendall(b"quit\n")
        assert client.answer("quit", client.read_to_end() + PROMPT) == ""  # echo, then closed
        assert proc.wait(30) == EXIT_OK
        log = proc.stdout.read()
        directory = re.search(r"unix:(/tmp/hmpbridge-\w+)/qmp.sock", log).group(1)
        assert not os.path.exists(directory)
    finally:
        if proc.poll() is None:
            proc.kill()
        reference.proc.kill()
        reference.proc.wait()


def test_sigterm_stops_the_own_qemu():
    port = free_port()
    proc = subprocess.Popen(bridge_command("--listen", f"tcp:{port}:interface=127.0.0.1"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        first_session(proc, port).close()
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert children, "no QEMU child process"
        proc.terminate()
        assert proc.wait(30) == EXIT_OK
        for pid in children:
            assert not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        if proc.poll() is None:
            proc.kill()


def oneshot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hmpbridge.oneshot", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_oneshot_against_a_bridge_and_straight_against_qmp(vm):
    from tests.integration.conftest import Bridge
    bridge = Bridge(f"unix:path={vm.bridge_socket}")
    try:
        ok = oneshot("--connect", f"tcp:host=127.0.0.1:port={bridge.port}",
                     "info status", "info name")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == vm.hmp("info status") + vm.hmp("info name")
        failed = oneshot("--connect", f"tcp:host=127.0.0.1:port={bridge.port}",
                         "info status", "eject nosuchdev")
        assert failed.returncode == 1
        assert failed.stdout == vm.hmp("info status") + vm.hmp("eject nosuchdev")
    finally:
        bridge.close()
    direct = oneshot("--qmp", vm.bridge_socket, "info status", "frob")
    assert direct.returncode == 1
    assert direct.stdout == vm.hmp("info status") + vm.hmp("frob")
    assert oneshot("--qmp", vm.bridge_socket, "info kvm").returncode == 0


def test_oneshot_unreachable(tmp_path):
    result = oneshot("--connect", str(tmp_path / "none.sock"), "info status")
    assert result.returncode == 3
    assert "cannot reach the monitor" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_lets_commands_in_flight_finish():
    """When SIGTERM arrives while a migration holds the prompt, its answer is still delivered."""
    twin = Twin()
    port = free_port()
    proc = subprocess.Popen(bridge_command("--qmp", twin.bridge_socket, "--listen",
                                           f"tcp:{port}:interface=127.0.0.1"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = first_session(proc, port)
        client.sock.sendall(b'migrate "exec:sleep 2; cat > /dev/null"\n')
        time.sleep(0.5)
        proc.terminate()
        assert client.read_answer('migrate "exec:sleep 2; cat > /dev/null"') == ""
        assert proc.wait(30) == EXIT_OK
        assert "Waiting for 1 command(s) in flight" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        twin.close()
