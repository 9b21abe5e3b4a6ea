"""Real clients against hmpbridge's default listener: nc, socat, telnet, and raw sockets.

Expected bytes come from QEMU: the same client against twin B's own HMP
monitor on a plain TCP socket (``-monitor tcp:``).  The bridge's default
listener is QEMU's telnet kind, which differs from the plain one only by its
option negotiation at connect: that is taken out before comparing.  The strict
comparison of every kind is ``test_chardev_bytes.py``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pexpect
import pytest

from tests.integration.conftest import (PROMPT, TELNET_NEGOTIATION, HMPClient, monitor_exchange,
                                        same_bytes, strip_echo, strip_telnet)

LINES = ["info status", "info version", "info name", "info uuid"]


@pytest.fixture(scope="module")
def qemu_banner(twins) -> bytes:
    """The bytes QEMU's own monitor sends a new client before any input."""
    _, b = twins
    with socket.create_connection(("127.0.0.1", b.hmp_port), timeout=10) as s:
        data = b""
        while not data.endswith(PROMPT):
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    return data


def test_banner_is_qemus(bridge, qemu_banner):
    client = bridge.session()
    try:
        assert client.connect_bytes == TELNET_NEGOTIATION + qemu_banner
        assert client.banner == qemu_banner
        assert client.banner.startswith(b"QEMU 7.2.")
    finally:
        client.close()


def pipeline(command, port: int) -> bytes:
    script = "".join(line + "\n" for line in LINES).encode()
    return subprocess.run([*command, "127.0.0.1", str(port)] if command[0] == "nc" else
                          [*command, f"TCP:127.0.0.1:{port}"],
                          input=script, capture_output=True, timeout=30).stdout


@pytest.mark.skipif(shutil.which("nc") is None, reason="netcat-openbsd is not installed")
def test_nc_pipeline_is_byte_exact(bridge, twins):
    _, b = twins
    out = pipeline(["nc", "-N"], bridge.port)
    assert out.startswith(TELNET_NEGOTIATION)
    assert strip_telnet(out) == pipeline(["nc", "-N"], b.hmp_port)


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_socat_pipeline_is_byte_exact(bridge, twins):
    _, b = twins
    out = pipeline(["socat", "-t", "10", "-"], bridge.port)
    assert strip_telnet(out) == pipeline(["socat", "-t", "10", "-"], b.hmp_port)


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r\0", b"\r"], ids=["LF", "CRLF", "CRNUL", "CR"])
def test_each_line_end_as_qemu(bridge, twins, end):
    """Each line end is QEMU's: ``\\r`` and ``\\n`` each end a line (``\\r\\n`` is a
    line and an empty one), the NUL of ``\\r\\0`` is dropped."""
    _, b = twins
    data = b"".join(line.encode() + end for line in LINES)
    got = monitor_exchange(("127.0.0.1", bridge.port), [data])
    same_bytes(strip_telnet(got), monitor_exchange(("127.0.0.1", b.hmp_port), [data]),
               f"lines ending {end!r}")


def test_line_end_split_across_packets(bridge, twins):
    """An expect script's ``cmd\\r`` is answered at once, and a later ``\\n`` is an empty
    line of its own, as on QEMU's monitor."""
    _, b = twins
    segments = [b"info status\r", b"\ninfo name\n"]
    got = strip_telnet(monitor_exchange(("127.0.0.1", bridge.port), segments, pause=0.2))
    same_bytes(got, monitor_exchange(("127.0.0.1", b.hmp_port), segments, pause=0.2),
               "a line end split")


def test_unix_listener(twins, tmp_path):
    from tests.integration.conftest import Bridge
    a, b = twins
    path = str(tmp_path / "hmp.sock")
    # a second bridge cannot share A's bridge socket; use the probe VM B's instead
    extra = Bridge(f"unix:path={b.bridge_socket}", "--listen", f"unix:{path}")
    try:
        client = HMPClient(path)
        assert client.cmd("info status") == b.hmp("info status")
        client.close()
    finally:
        extra.close()


@pytest.mark.skipif(shutil.which("telnet") is None, reason="telnet is not installed")
def test_real_telnet_session(bridge, twins, qemu_banner):
    _, b = twins
    child = pexpect.spawn("telnet", ["127.0.0.1", str(bridge.port)], timeout=20)
    try:
        child.expect_exact(qemu_banner.decode().split("\r\n")[0])
        child.expect_exact("(qemu) ")
        for line in ["info status", "eject cd0", "info block cd0"]:
            want = b.hmp(line).replace("\n", "\r\n")
            child.send(line + "\r")
            child.expect_exact("(qemu) ")  # the bridge echoes, as QEMU's telnet monitor
            assert strip_echo(child.before.decode(), line) == want
        child.sendcontrol("]")
        child.expect_exact("telnet>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_getfd_passes_the_clients_descriptor_to_qemu(twins, tmp_path):
    """A descriptor sent with SCM_RIGHTS on a unix listener reaches QEMU's getfd."""
    from tests.integration.conftest import Bridge
    a, b = twins
    path = str(tmp_path / "hmp.sock")
    extra = Bridge(f"unix:path={b.bridge_socket}", "--listen", f"unix:{path}")
    try:
        client = HMPClient(path)
        assert client.cmd("getfd fd0") == b.hmp("getfd fd0")  # none passed yet
        with open(tmp_path / "passed", "wb") as passed:
            socket.send_fds(client.sock, [b"getfd fd0\n"], [passed.fileno()])
        assert client.read_answer("getfd fd0") == ""
        assert client.cmd("closefd fd0") == ""
        # it is gone now, as QEMU says of any name it does not hold
        assert client.cmd("closefd fd0") == b.hmp("closefd fd0")
        client.close()
    finally:
        extra.close()
