"""Real clients against hmpbridge: nc, socat, telnet, and raw sockets.

Expected bytes come from QEMU: the banner from twin B's own HMP monitor on a
plain TCP socket, each command's text from ``human-monitor-command`` on B
(with QEMU's ``\\r\\n`` line ends, as its monitor writes them).
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pexpect
import pytest

from tests.integration.conftest import PROMPT, HMPClient

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


def qemu_answer(b, line: str) -> bytes:
    return b.hmp(line).replace("\n", "\r\n").encode() + PROMPT


def test_banner_is_qemus(bridge, qemu_banner):
    client = bridge.session()
    try:
        assert client.banner == qemu_banner
        assert client.banner.startswith(b"QEMU 7.2.")
    finally:
        client.close()


@pytest.mark.skipif(shutil.which("nc") is None, reason="netcat-openbsd is not installed")
def test_nc_pipeline_is_byte_exact(bridge, twins, qemu_banner):
    _, b = twins
    script = "".join(line + "\n" for line in LINES).encode()
    out = subprocess.run(["nc", "-N", "127.0.0.1", str(bridge.port)], input=script,
                         capture_output=True, timeout=30).stdout
    assert out == qemu_banner + b"".join(qemu_answer(b, line) for line in LINES)


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_socat_pipeline_is_byte_exact(bridge, twins, qemu_banner):
    _, b = twins
    script = "".join(line + "\n" for line in LINES).encode()
    out = subprocess.run(["socat", "-t", "10", "-", f"TCP:127.0.0.1:{bridge.port}"],
                         input=script, capture_output=True, timeout=30).stdout
    assert out == qemu_banner + b"".join(qemu_answer(b, line) for line in LINES)


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r\0", b"\r"], ids=["LF", "CRLF", "CRNUL", "CR"])
def test_each_line_end_is_one_line(bridge, twins, end):
    _, b = twins
    client = bridge.session()
    try:
        client.sock.sendall(b"".join(line.encode() + end for line in LINES))
        answers = [client.read_until_prompt() for _ in LINES]
        assert answers == [qemu_answer(b, line) for line in LINES]
        # nothing more: no empty extra command for the second byte of the line end
        client.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            client.sock.recv(1)
    finally:
        client.close()


def test_line_end_split_across_packets(bridge, twins):
    """An expect script's ``cmd\\r`` is answered at once, and a later ``\\n`` is no new line."""
    _, b = twins
    client = bridge.session()
    try:
        assert client.raw(b"info status\r") == qemu_answer(b, "info status")
        assert client.raw(b"\ninfo name\n") == qemu_answer(b, "info name")
    finally:
        client.close()


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
            child.sendline(line)
            child.expect_exact(line + "\r\n")  # telnet's own local echo
            child.expect_exact("(qemu) ")
            assert child.before.decode() == want
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
        assert client.read_until_prompt() == PROMPT
        assert client.cmd("closefd fd0") == ""
        # it is gone now, as QEMU says of any name it does not hold
        assert client.cmd("closefd fd0") == b.hmp("closefd fd0")
        client.close()
    finally:
        extra.close()
