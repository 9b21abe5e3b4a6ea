"""Hostile QMP clients against a bridge in front of a real QEMU 7.2.

A client that never reads, one that passes thousands of descriptors, one
that sends malformed and oversized messages: the bridge stays within its
limits, keeps serving everyone else, and records every message.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import threading
import time
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.integration.conftest import Bridge, HMPClient, Twin

#: QEMU 7.2's reply to a message over its own size limit (64 MiB), captured from
#: ``qemu-system-x86_64 -machine none -qmp unix:...`` with a 64 MiB + 6 byte
#: string argument (it took QEMU 448 s to read).
QEMU_TOO_LARGE = (b'{"error": {"class": "GenericError", '
                  b'"desc": "JSON token size limit exceeded"}}\r\n')


@pytest.fixture(scope="module")
def rig() -> Iterator[Tuple[Twin, Bridge, Dict[str, str]]]:
    vm = Twin()
    paths = {name: os.path.join(vm.dir, f"bridge-{name}.sock") for name in ("qmp", "ro", "hmp")}
    paths["audit"] = os.path.join(vm.dir, "audit.log")
    bridge = Bridge(f"unix:path={vm.bridge_socket}",
                    "--qmp-listen", f"unix:{paths['qmp']}",
                    "--qmp-read-only-listen", f"unix:{paths['ro']}",
                    "--listen", f"unix:{paths['hmp']}",
                    "--audit-log", paths["audit"],
                    "--max-unread", "65536", "--stall-timeout", "5")
    try:
        yield vm, bridge, paths
    finally:
        bridge.close()
        vm.close()


def status(pid: int, field: str) -> int:
    """A ``kB`` figure of ``/proc/<pid>/status`` (``VmRSS``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class QMP:
    """A raw QMP client on a unix socket."""

    def __init__(self, path: str, negotiate: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.greeting = json.loads(self.file.readline())
        if negotiate:
            self.sock.sendall(b'{"execute": "qmp_capabilities"}\n')
            assert self.reply() == {"return": {}}

    def reply(self) -> Dict:
        while True:
            message = json.loads(self.file.readline())
            if "event" not in message:
                return message

    def command(self, name: str) -> Dict:
        self.sock.sendall(json.dumps({"execute": name}).encode() + b"\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_a_qmp_client_that_never_reads_is_dropped_and_memory_stays_bounded(rig) -> None:
    """A read-only client looping query-qmp-schema without reading is dropped; RSS stays flat."""
    _, bridge, paths = rig
    pid = bridge.proc.pid
    warm = QMP(paths["ro"])
    warm.command("query-qmp-schema")  # the bridge's buffers and caches, grown once
    warm.close()
    before = status(pid, "VmRSS")
    hog = QMP(paths["ro"])
    hog.sock.settimeout(0.2)
    request = b'{"execute": "query-qmp-schema"}\n' * 16
    started = time.monotonic()
    dropped, peak, deadline = False, before, started + 20
    while time.monotonic() < deadline and not dropped:
        try:
            hog.sock.send(request)
        except socket.timeout:
            pass  # the bridge stopped reading from it
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
        peak = max(peak, status(pid, "VmRSS"))
    hog.sock.close()
    print(f"bridge VmRSS {before} kB before, peak {peak} kB while the client never read; "
          f"{'dropped' if dropped else 'still connected'} after "
          f"{time.monotonic() - started:.1f} s")
    assert peak - before < 32 * 1024
    other = QMP(paths["ro"])  # everyone else is served
    assert other.command("query-status")["return"]["status"] in ("running", "prelaunch")
    other.close()
    assert dropped, "the client that never reads was not dropped"


def send_descriptors(path: str, count: int, negotiate: bool, per_message: int = 60) -> QMP:
    """Connect and pass ``count`` descriptors (of /dev/null), ``per_message`` at a time."""
    client = QMP(path, negotiate=negotiate)
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        for start in range(0, count, per_message):
            socket.send_fds(client.sock, [b" "], [fd] * min(per_message, count - start))
    finally:
        os.close(fd)
    return client


def settle(pid: int) -> int:
    """The bridge's descriptor count once it has read what was sent."""
    time.sleep(0.3)
    return descriptors(pid)


def test_thousands_of_descriptors_leave_the_bridge_bounded(rig) -> None:
    """Clients passing thousands of descriptors, negotiated or not, leave at most one each held."""
    _, bridge, paths = rig
    pid = bridge.proc.pid
    before = descriptors(pid)
    clients: List[QMP] = [send_descriptors(paths["qmp"], 6000, negotiate=False),
                          send_descriptors(paths["qmp"], 3000, negotiate=True),
                          send_descriptors(paths["ro"], 3000, negotiate=True)]
    clients[0].sock.sendall(b'{"execute": "qmp_capabilities"}\n')
    assert clients[0].reply() == {"return": {}}
    after = settle(pid)
    print(f"bridge descriptors: {before} before, {after} after 12000 passed")
    # one socket per client, one descriptor held by the negotiated operator
    assert after - before <= len(clients) + 1, (before, after)
    fresh = QMP(paths["qmp"])  # new clients are accepted
    assert fresh.command("query-status")["return"]["status"] in ("running", "prelaunch")
    fresh.close()
    for client in clients:
        client.close()


def test_hmp_sessions_hold_one_passed_descriptor(rig) -> None:
    """An HMP client on a unix socket passing thousands of descriptors leaves one held."""
    _, bridge, paths = rig
    pid = bridge.proc.pid
    before = descriptors(pid)
    session = HMPClient(paths["hmp"])
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        for _ in range(50):
            socket.send_fds(session.sock, [b" "], [fd] * 60)
    finally:
        os.close(fd)
    assert "VM status: " in session.cmd("info status")
    assert descriptors(pid) - before <= 2  # its socket and one descriptor
    session.close()


def test_every_message_is_audited_with_the_peers_process_and_user(rig) -> None:
    """Every message, good or bad, is one audit record naming the unix peer's user and process."""
    _, bridge, paths = rig
    with open(paths["audit"], "rb") as f:
        start = len(f.read())
    client = QMP(paths["ro"], negotiate=False)
    oversized = b'{"execute": "query-name", "arguments": {"a": "' + b"x" * (2 << 20) + b'"}}\n'
    script = [
        (b'{"execute": "query-status", "id": 1}\n', "error:CommandNotFound"),
        (b'{"execute": "qmp_capabilities"}\n', "ok"),
        (b'{"bad json\n', "parse-error"),
        (b'[1]\n', "parse-error"),
        (b'{"execute": "query-status", "foo": 1}\n', "parse-error"),
        (b'{"execute": "stop", "id": 2}\n', "denied"),
        (oversized, "parse-error"),
        (b'{"execute": "query-status", "id": 3}\n', "ok"),
        (b'{"execute": "query-no-such-thing", "id": 4}\n', "error:CommandNotFound"),
    ]
    replies = []
    for data, _ in script:
        client.sock.sendall(data)
        replies.append(client.file.readline())
    client.close()
    assert replies[6] == QEMU_TOO_LARGE
    assert json.loads(replies[7])["return"]["status"] in ("running", "prelaunch")  # it carries on
    with open(paths["audit"], "rb") as f:
        records = [json.loads(line) for line in f.read()[start:].splitlines()]
    assert [r["outcome"] for r in records] == [outcome for _, outcome in script]
    me = pwd.getpwuid(os.getuid()).pw_name
    peer = f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"
    assert {(r["user"], r["peer"], r["role"]) for r in records} == {(me, peer, "read-only")}
    assert records[6]["error"] == "JSON token size limit exceeded" and records[6]["sent"] == []


def test_an_oversized_message_costs_the_bridge_no_more_than_its_limit(rig) -> None:
    """A message far over the limit is refused as QEMU refuses one, without growing the bridge."""
    _, bridge, paths = rig
    pid = bridge.proc.pid
    client = QMP(paths["ro"])
    before = peak = status(pid, "VmRSS")
    chunk = b"y" * (1 << 20)
    client.sock.sendall(b'{"execute": "query-name", "arguments": {"a": "')
    for _ in range(32):
        client.sock.sendall(chunk)
        peak = max(peak, status(pid, "VmRSS"))
    client.sock.sendall(b'"}}\n{"execute": "query-status", "id": 5}\n')
    assert client.file.readline() == QEMU_TOO_LARGE
    reply = client.reply()
    assert reply["id"] == 5 and "status" in reply["return"]
    client.close()
    grown = max(peak, status(pid, "VmRSS")) - before
    print(f"bridge VmRSS grew {grown} kB at most for a 32 MiB message (limit 64 KiB)")
    assert grown < 8 * 1024


def test_a_flood_of_malformed_messages_does_not_hold_up_other_clients(rig) -> None:
    """While one client floods junk (reading its errors), another's commands are answered."""
    _, _, paths = rig
    flood = QMP(paths["qmp"])
    stop = threading.Event()

    def drain() -> None:
        try:
            while flood.sock.recv(1 << 16):
                pass
        except OSError:
            pass

    def send() -> None:
        junk = b"[] " * 20000
        try:
            while not stop.is_set():
                flood.sock.sendall(junk)
        except OSError:
            pass

    threads = [threading.Thread(target=drain), threading.Thread(target=send)]
    for thread in threads:
        thread.start()
    other = QMP(paths["qmp"])
    time.sleep(0.5)
    worst = 0.0
    for _ in range(10):
        started = time.monotonic()
        assert "return" in other.command("query-status")
        worst = max(worst, time.monotonic() - started)
    stop.set()
    flood.sock.shutdown(socket.SHUT_RDWR)
    for thread in threads:
        thread.join(10)
    flood.close()
    other.close()
    print(f"slowest query-status beside a junk flood: {worst * 1000:.0f} ms")
    assert worst < 0.5
