"""QEMU dies under load and comes back: every session is answered, none crosses, service resumes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Dict, Iterator, List

import pytest

from tests.golden.vm import BASE_ARGS
from tests.integration.conftest import PROMPT, Bridge, HMPClient, _wait_for, strip_echo

SESSIONS = 20
LINES = 150
GONE = b"hmpbridge: lost the connection to QEMU's monitor; reconnecting"
LOST = "Error: QEMU monitor connection lost\n"
UNAVAILABLE = "Error: QEMU monitor connection is not available\n"


class RestartableQEMU:
    """A QEMU whose QMP socket path stays the same across kill -9 and restart."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpresil")
        self.socket = os.path.join(self.dir, "qmp.sock")
        self.proc: "subprocess.Popen[bytes]"
        self.start()

    def start(self) -> None:
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.proc = subprocess.Popen(
            BASE_ARGS + ["-qmp", f"unix:{self.socket},server=on,wait=off"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        _wait_for(lambda: os.path.exists(self.socket), "QEMU's QMP socket", proc=None)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple]:
    qemu = RestartableQEMU()
    bridge = Bridge(f"unix:path={qemu.socket}")
    try:
        yield qemu, bridge
    finally:
        bridge.close()
        qemu.close()


def answers(raw: bytes, lines: List[str]) -> List[str]:
    """The answer to each of ``lines`` in a session's output, one per prompt, without the
    echo of the line.  A session that did not ask for events gets no notice: one would
    show as an answer that is not the line's."""
    parts = raw.split(PROMPT)[:-1]
    return [strip_echo(part.decode(), line).replace("\r\n", "\n")
            for part, line in zip(parts, lines)] + [part.decode() for part in parts[len(lines):]]


def test_kill_9_under_load_answers_every_line_in_its_own_session(rig) -> None:
    """When QEMU is killed with 20 sessions pipelining, each line gets its own answer or an error."""
    qemu, bridge = rig
    clients = [bridge.session() for _ in range(SESSIONS)]
    outputs: Dict[int, bytes] = {}

    def drive(n: int, client: HMPClient) -> None:
        lines = b"".join(f"qom-get /machine/s{n}x{j} type\n".encode() for j in range(LINES))
        client.sock.sendall(lines)
        data = client.buffer
        deadline = time.monotonic() + 60
        while data.count(PROMPT) < LINES and time.monotonic() < deadline:
            chunk = client.sock.recv(65536)
            if not chunk:
                break
            data += chunk
            answered[n] = data.count(PROMPT)
        outputs[n] = data

    answered = [0] * SESSIONS
    threads = [threading.Thread(target=drive, args=(n, c)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    # kill once answers flow, however fast this machine is, with most still in flight
    deadline = time.monotonic() + 30
    while sum(answered) < SESSIONS * 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    qemu.kill()
    for t in threads:
        t.join(90)
    errors_seen = 0
    for n in range(SESSIONS):
        got = answers(outputs[n], [f"qom-get /machine/s{n}x{j} type" for j in range(LINES)])
        assert len(got) == LINES, f"session {n} got {len(got)} answers"
        for j, text in enumerate(got[:LINES]):
            own = f"Error: Device '/machine/s{n}x{j}' not found\n"
            assert text in (own, LOST, UNAVAILABLE), (n, j, text)
            errors_seen += text != own
    assert errors_seen > 0, "QEMU died after every line was answered: nothing was in flight"
    for client in clients:
        client.close()


def test_service_resumes_when_qemu_is_back(rig) -> None:
    """When QEMU restarts on the same socket, the bridge reconnects and old sessions work again."""
    qemu, bridge = rig
    client = bridge.session()
    assert client.cmd("info status") in (UNAVAILABLE, LOST)
    qemu.start()
    deadline = time.monotonic() + 30
    while True:
        text = client.cmd("info status")
        if text == "VM status: paused (prelaunch)\n":
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    client.close()


def test_a_client_that_stops_reading_does_not_hold_up_others(rig) -> None:
    """When one client floods commands and never reads, another session is answered at once."""
    _, bridge = rig
    hog = socket.create_connection(("127.0.0.1", bridge.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(5)
    payload = b"help\n" * 2000
    try:
        hog.sendall(payload)
    except (socket.timeout, OSError):
        pass  # the bridge stopped reading from it: that is the point
    client = bridge.session()
    started = time.monotonic()
    assert client.cmd("info status") == "VM status: paused (prelaunch)\n"
    assert time.monotonic() - started < 5
    client.close()
    hog.close()


def test_connect_disconnect_churn_and_garbage_leave_the_server_serving(rig) -> None:
    """When hundreds of clients connect, send garbage or nothing, and vanish, others are served."""
    _, bridge = rig
    client = bridge.session()
    payloads = [b"", b"\xff\xfa" * 500, bytes(range(256)) * 20, b"a" * 10000 + b"\n",
                b"\xc3\x28\xa0\xa1 info status\r\n", b"info status\n"]
    for n in range(300):
        s = socket.create_connection(("127.0.0.1", bridge.port))
        if payloads[n % len(payloads)]:
            s.sendall(payloads[n % len(payloads)])
        if n % 3 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    assert client.cmd("info status") == "VM status: paused (prelaunch)\n"
    assert bridge.proc.poll() is None
    client.close()


def test_quit_from_one_operator_ends_qemu_and_who_asked_is_told(rig) -> None:
    """When one operator quits QEMU, a session that asked for events is told the monitor
    went away; one that did not hears nothing until its next command's answer."""
    qemu, bridge = rig
    watcher, quitter, script = bridge.session(), bridge.session(), bridge.session()
    assert watcher.cmd(".events on") == ""
    quitter.sock.sendall(b"quit\n")
    watcher.sock.settimeout(30)
    seen = b""
    while GONE not in seen:
        chunk = watcher.sock.recv(4096)
        assert chunk, seen
        seen += chunk
    assert seen.endswith(GONE) or GONE + b"\r\n" in seen
    quitter.sock.settimeout(30)
    rest = quitter.buffer
    while True:  # the quitter's session ends, as QEMU's own monitor connection does
        chunk = quitter.sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    assert b"Error" not in rest
    qemu.proc.wait(30)
    script.sock.settimeout(0)
    with pytest.raises(BlockingIOError):  # nothing unsolicited
        script.sock.recv(1)
    script.sock.settimeout(30)
    assert script.cmd("info status") in (LOST, UNAVAILABLE)
    qemu.start()  # leave the rig serving for whatever runs next
    watcher.close()
    quitter.close()
    script.close()


def test_a_hung_qemu_costs_a_timeout_not_a_hang() -> None:
    """When QEMU stops answering, commands fail after their class timeout and service resumes."""
    qemu = RestartableQEMU()
    bridge = Bridge(f"unix:path={qemu.socket}", "--timeout", "query=1")
    client, other = bridge.session(), bridge.session()
    try:
        os.kill(qemu.proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert client.cmd("info status") == (
            "Error: QEMU did not answer query-status within 1 s\n")
        assert 0.9 <= time.monotonic() - started < 5
        assert other.cmd("info name") == "Error: QEMU did not answer query-name within 1 s\n"
        os.kill(qemu.proc.pid, signal.SIGCONT)
        # the late replies are dropped; the next commands get their own answers
        assert client.cmd("info status") == "VM status: paused (prelaunch)\n"
        assert other.cmd("info name") == "labvm\n"
    finally:
        os.kill(qemu.proc.pid, signal.SIGCONT)
        client.close()
        other.close()
        bridge.close()
        qemu.close()
