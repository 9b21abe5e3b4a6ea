"""Hostile HMP clients against a real QEMU: telnet floods, pre-login floods, guessing, audit.

Two bridges in front of one VM: *plain* (no login; a TCP and a unix-socket
listener, ``--max-unread 65536`` and a stall timeout long enough that only
the unread-output limit can drop a client) and *login* (a password file).
Both write an audit log.  The bridge's memory is read from
``/proc/<pid>/status`` (``VmRSS`` before, ``VmHWM`` after: the peak).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

from tests.integration.conftest import (PROMPT, Bridge, HMPClient, LoginClient, Twin, add_user,
                                       free_port)

MAX_UNREAD = 65536
IAC, DO, WONT = b"\xff", b"\xfd", b"\xfc"
MiB = 1024 * 1024


class Rig:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmphard")
        self.passwords = os.path.join(self.dir, "passwords")
        add_user(self.passwords, "alice", "wonderland")
        add_user(self.passwords, "bob", "builder")
        self.vm = Twin(extra=["-qmp", "unix:{dir}/second.sock,server=on,wait=off",
                              "-qmp", "unix:{dir}/third.sock,server=on,wait=off"])
        self.unix = os.path.join(self.dir, "hmp.sock")
        self.plain_audit = os.path.join(self.dir, "plain.audit")
        self.login_audit = os.path.join(self.dir, "login.audit")
        qmp = f"unix:path={self.vm.bridge_socket}"
        self.plain = Bridge(qmp, "--no-passthrough", "--listen", f"unix:{self.unix}",
                            "--audit-log", self.plain_audit, "--max-unread", str(MAX_UNREAD),
                            "--stall-timeout", "600")
        self.login = Bridge(f"unix:path={self.vm.dir}/second.sock", "--no-passthrough", "--password-file", self.passwords,
                            "--audit-log", self.login_audit)

    def close(self) -> None:
        try:
            self.plain.close()
            self.login.close()
        finally:
            self.vm.close()
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def memory(bridge: Bridge, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of the bridge process, in bytes."""
    with open(f"/proc/{bridge.proc.pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for the bridge")


def cpu_seconds(bridge: Bridge) -> float:
    """User and system CPU time the bridge process has used so far."""
    with open(f"/proc/{bridge.proc.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def records(path: str) -> List[Dict[str, Any]]:
    with open(path) as log:
        return [json.loads(line) for line in log]


def non_reader(port: int) -> socket.socket:
    """A TCP client with a tiny receive buffer that will never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def test_a_non_reading_negotiation_flood_keeps_memory_and_cpu_bounded(rig: Rig) -> None:
    """A client that sends IAC DO for option after option and never reads costs the bridge
    little memory and CPU: like QEMU's telnet chardev, it answers no option."""
    probe = rig.plain.session()
    before = memory(rig.plain, "VmRSS")
    cpu_before = cpu_seconds(rig.plain)
    sock = non_reader(rig.plain.port)
    chunk = b"".join(IAC + DO + bytes([n % 256]) for n in range(21845))
    sent, dropped = 0, False
    start = time.monotonic()
    try:
        while sent < 32 * MiB and time.monotonic() < start + 20:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        dropped = True  # reset by the bridge
    finally:
        sock.close()
    assert "VM status" in probe.cmd("info status")
    growth = memory(rig.plain, "VmHWM") - before
    cpu = cpu_seconds(rig.plain) - cpu_before
    print(f"\nnegotiation flood: dropped={dropped} after {sent / MiB:.1f} MiB sent in "
          f"{time.monotonic() - start:.1f} s; bridge CPU {cpu:.2f} s, "
          f"peak RSS {growth / MiB:+.1f} MiB over {before / MiB:.1f} MiB")
    assert growth < 32 * MiB
    assert cpu < 10, "answering repeated option requests costs a Python call per request"
    probe.close()


def test_a_negotiation_flood_is_never_answered(rig: Rig) -> None:
    """A client that asks IAC DO for every option, over and over, gets no answer to any
    (QEMU's telnet chardev answers none); its line after the flood is answered."""
    flooder = rig.plain.session()
    chunk = b"".join(IAC + DO + bytes([n % 256]) for n in range(21845))
    received: List[bytes] = []

    def read() -> None:
        while True:
            data = flooder.sock.recv(65536)
            received.append(data)
            if not data or b"VM status" in b"".join(received[-2:]):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(64):  # 4 MiB
        flooder.sock.sendall(chunk)
    flooder.sock.sendall(b"info status\n")
    reader.join(30)
    answers = b"".join(received)
    print(f"\nnegotiation flood: {64 * 21845:,} IAC DO requests, "
          f"{answers.count(IAC + WONT):,} IAC WONT answers")
    assert answers.endswith(PROMPT) and b"VM status: " in answers[-100:], answers[-200:]
    assert IAC not in answers, answers[:200]
    flooder.close()


def test_a_0xff_stream_leaves_other_sessions_answered(rig: Rig) -> None:
    """While a client streams escaped 0xff bytes as fast as it can, a probe's lines are answered.

    The stream itself is read at a cost per chunk, not per byte: its 64 MiB
    take the bridge a few CPU seconds at most (a call per byte took minutes).
    """
    probe = rig.plain.session()
    streamer = rig.plain.session()
    streamer.sock.settimeout(30)
    done: List[bytes] = []
    tail = bytearray()

    def read() -> None:
        """The streamer reads its echo as it comes (4095 bytes kept, each one redrawn)."""
        while True:
            data = streamer.sock.recv(1 << 20)
            if not data:
                return
            tail.extend(data)
            del tail[:-8192]
            if tail.endswith(b"'\r\n" + PROMPT):
                done.append(bytes(tail))
                return

    def stream() -> None:
        block = b"\xff" * 65536
        for _ in range(1024):  # 64 MiB: 32 MiB of data bytes 0xff
            streamer.sock.sendall(block)
        streamer.sock.sendall(b"\n")
        reader.join(30)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    cpu_before = cpu_seconds(rig.plain)
    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    latencies = []
    deadline = time.monotonic() + 30
    while (thread.is_alive() or not latencies) and time.monotonic() < deadline:
        start = time.monotonic()
        assert probe.cmd("info status").startswith("VM status: ")
        latencies.append(time.monotonic() - start)
        time.sleep(0.05)  # the probe's own lines cost the bridge little of the CPU measured
    thread.join(max(deadline - time.monotonic(), 0))
    cpu = cpu_seconds(rig.plain) - cpu_before
    latencies.sort()
    print(f"\n0xff stream: 64 MiB in {cpu:.2f} s of bridge CPU; {len(latencies)} probes, "
          f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")
    assert done and b"\r\nunknown command: '\xff\xff" in done[0], \
        "the streaming client's own line is answered"
    assert cpu < 10, "reading escaped 0xff bytes costs a Python call per byte"
    assert probe.cmd("info status").startswith("VM status: ")
    probe.close()
    streamer.close()


def flood_before_login(port: int, user: bytes, size: int) -> None:
    """Send a wrong password, then ``size`` bytes without a line end, as fast as possible."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(user + b"\nwrong\n")
        block = b"x" * 65536
        for _ in range(size // len(block)):
            sock.sendall(block)
    except OSError:
        pass  # the bridge may close once the delay is over: an over-long name
    finally:
        sock.close()


def test_a_pre_login_flood_keeps_memory_bounded(rig: Rig) -> None:
    """Four clients flooding during a failed login's delay leave the bridge's memory as it was."""
    # four password checks at once (scrypt takes 16 MiB each) make the peak to start from
    checks = [LoginClient(rig.login.port, "carol", "wrong") for _ in range(4)]
    for client in checks:
        client.expect(b"login: ")
        client.close()
    before = memory(rig.login, "VmHWM")
    threads = [threading.Thread(target=flood_before_login,
                                args=(rig.login.port, b"carol", 64 * MiB), daemon=True)
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    growth = memory(rig.login, "VmHWM") - before
    print(f"\npre-login flood: 4 x 64 MiB; bridge peak RSS {growth / MiB:+.1f} MiB over its "
          f"peak of {before / MiB:.1f} MiB")
    assert growth < 16 * MiB
    client = LoginClient(rig.login.port, "bob", "builder")
    client.read_until_prompt()
    assert client.cmd("info status").startswith("VM status: ")
    client.close()


def test_guessing_across_connections_is_throttled(rig: Rig) -> None:
    """After ten failures for a user over many connections, its right password is refused too."""
    clients = [LoginClient(rig.login.port, "alice", f"guess{n}") for n in range(10)]
    for client in clients:
        assert client.expect(b"login: ").endswith(b"Login incorrect\r\nlogin: ")
        client.close()
    refused = LoginClient(rig.login.port, "alice", "wonderland")
    assert refused.expect(b"login: ") == b"\r\nLogin incorrect\r\nlogin: "
    refused.close()
    other = LoginClient(rig.login.port, "bob", "builder")  # same peer, another user: let in
    other.read_until_prompt()
    assert other.cmd("info status").startswith("VM status: ")
    other.close()
    logins = [(r["user"], r["outcome"]) for r in records(rig.login_audit) if "login" in r]
    assert logins.count(("alice", "login-failed")) >= 10
    assert ("alice", "login-throttled") in logins and ("bob", "login-ok") in logins
    with open(rig.login_audit) as log:
        text = log.read()
    assert "wonderland" not in text and "guess" not in text and "builder" not in text


def test_listeners_share_one_count_of_failures(rig: Rig) -> None:
    """--login-user-failures counts failures on every listener of the bridge together."""
    port = free_port()
    bridge = Bridge(f"unix:path={rig.vm.dir}/third.sock", "--no-passthrough",
                    "--password-file", rig.passwords, "--login-user-failures", "1",
                    "--read-only-listen", f"tcp:{port}:interface=127.0.0.1")
    try:
        guess = LoginClient(bridge.port, "bob", "guess")
        assert guess.expect(b"login: ").endswith(b"Login incorrect\r\nlogin: ")
        guess.close()
        refused = LoginClient(port, "bob", "builder")  # the other listener, the right password
        assert refused.expect(b"login: ") == b"\r\nLogin incorrect\r\nlogin: "
        refused.close()
        other = LoginClient(port, "alice", "wonderland")  # only bob's name is held back
        other.read_until_prompt()
        assert other.cmd("info status").startswith("VM status: ")
        other.close()
    finally:
        bridge.close()


def test_every_line_is_audited_with_who_sent_it(rig: Rig) -> None:
    """Dot commands are audited, and a unix-socket client is named by its credentials."""
    local = HMPClient(rig.unix)
    local.cmd(".help")
    local.cmd("info status")
    remote = rig.plain.session()
    remote.cmd(".events off")
    port = remote.sock.getsockname()[1]
    local.close()
    remote.close()
    me = f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"
    seen = [(r["hmp"], r["user"], r["peer"], r["outcome"]) for r in records(rig.plain_audit)
            if r.get("hmp") in (".help", "info status", ".events off")]
    assert (".help", pwd.getpwuid(os.getuid()).pw_name, me, "ok") in seen
    assert ("info status", pwd.getpwuid(os.getuid()).pw_name, me, "ok") in seen
    assert (".events off", f"127.0.0.1:{port}", f"127.0.0.1:{port}", "ok") in seen
