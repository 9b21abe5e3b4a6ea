"""Access control against a real QEMU: passwords, roles, TLS client certificates, audit."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
from typing import Iterator, List

import pytest

from tests.integration.conftest import (ANSI, PROMPT, SENTINEL, SENTINEL_ANSWER,
                                        TELNET_NEGOTIATION, Bridge, LoginClient, Twin, add_user,
                                        bridge_command, connect, free_port, monitor_exchange,
                                        read_into, same_bytes)


def make_password_file(path: str) -> None:
    add_user(path, "alice", "wonderland")
    add_user(path, "bob", "builder", role="read-only")


def make_certificates(d: str) -> None:
    """A CA, a server certificate and a client certificate for CN=carol."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name in ("server", "carol"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj",
            f"/CN={'localhost' if name == 'server' else name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem")


class Rig:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpaccess")
        self.passwords = os.path.join(self.dir, "passwords")
        self.audit = os.path.join(self.dir, "audit.log")
        make_password_file(self.passwords)
        make_certificates(self.dir)
        self.vm = Twin()
        self.ro_port, self.tls_port = free_port(), free_port()
        self.bridge = Bridge(
            f"unix:path={self.vm.bridge_socket}", "--password-file", self.passwords,
            "--audit-log", self.audit,
            "--qmp-read-only-listen", f"unix:{self.dir}/ro.qmp",
            "--read-only-listen", f"tcp:{self.ro_port}:interface=127.0.0.1",
            "--listen", f"tls:{self.tls_port}:interface=127.0.0.1:"
                        f"privateKey={self.dir}/server.key:certKey={self.dir}/server.pem:"
                        f"caCerts={self.dir}/ca.pem")

    def close(self) -> None:
        self.bridge.close()
        self.vm.close()

    def audit_records(self) -> List[dict]:
        with open(self.audit) as f:
            return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def test_login_inside_the_telnet_framing(rig: Rig) -> None:
    """The login comes after the telnet negotiation; the user name is echoed, the password
    never; the CR ending the password and a LF at the start of the next packet are one line
    end, so what follows is byte for byte what QEMU's own monitor sends for the same keys."""
    sock = connect(("127.0.0.1", rig.bridge.port))
    data = bytearray()
    try:
        assert read_into(sock, data, b"login: ", 0, 10), bytes(data)
        assert data.startswith(TELNET_NEGOTIATION + b"login: "), bytes(data)
        asked = len(data)
        sock.sendall(b"alice\r")
        assert read_into(sock, data, b"Password: ", asked, 10), bytes(data)
        echo = ANSI.sub(b"", bytes(data[asked:data.index(b"Password: ", asked)]))
        assert echo.rstrip(b"\r\n").endswith(b"alice"), bytes(data[asked:])
        sock.sendall(b"wonderland\r")
        assert read_into(sock, data, PROMPT, asked, 30), bytes(data)
        banner_end = len(data)
        sock.sendall(b"\ninfo name\r" + SENTINEL)
        assert read_into(sock, data, SENTINEL_ANSWER, banner_end, 10), bytes(data)
    finally:
        sock.close()
    assert b"wonderland" not in data
    qemu = monitor_exchange(("127.0.0.1", rig.vm.hmp_port), [b"info name\r"])
    same_bytes(bytes(data[banner_end:]), qemu[qemu.index(PROMPT) + len(PROMPT):],
               "after the login")


def test_operator_logs_in_and_changes_state(rig: Rig) -> None:
    """When an operator logs in, the banner follows and state-changing commands run."""
    client = LoginClient(rig.bridge.port, "alice", "wonderland")
    banner = client.expect(PROMPT)
    assert banner.startswith(b"\r\nQEMU 7.2.") and banner.endswith(b"(qemu) ")
    assert client.cmd("cont") == ""
    assert client.cmd("info status") == "VM status: running\n"
    client.close()


def test_read_only_user_is_refused_state_changes(rig: Rig) -> None:
    """When a read-only user sends stop, it is refused and the VM does not change."""
    client = LoginClient(rig.bridge.port, "bob", "builder")
    client.expect(PROMPT)
    assert client.cmd("stop") == (
        "Error: permission denied: 'stop' changes VM state and 'bob' is read-only\n")
    assert client.cmd("info status") == "VM status: running\n"
    assert client.cmd("device_add usb-tablet,id=t9").startswith(
        "Error: permission denied: 'device_add'")
    # asking for a device's options changes nothing: they print as QEMU prints them
    assert client.cmd("device_add usb-tablet,help") == rig.vm.hmp("device_add usb-tablet,help")
    client.close()


def test_read_only_listener_caps_an_operator(rig: Rig) -> None:
    """When an operator logs in on a read-only listener, they are read-only there."""
    client = LoginClient(rig.ro_port, "alice", "wonderland")
    client.expect(PROMPT)
    assert client.cmd("system_reset").startswith("Error: permission denied: 'system_reset'")
    client.close()


def test_wrong_password_is_delayed_refused_and_logged(rig: Rig) -> None:
    """When the password is wrong, the refusal comes after a delay and no session starts."""
    client = LoginClient(rig.bridge.port, "alice", "guess")
    started = time.monotonic()
    assert client.expect(b"login: ").endswith(b"Login incorrect\r\nlogin: ")
    assert time.monotonic() - started >= 0.9
    client.close()


def test_tls_client_certificate_names_the_operator(rig: Rig) -> None:
    """When a TLS client presents a certificate from the CA, the audit names its CN."""
    context = ssl.create_default_context(cafile=os.path.join(rig.dir, "ca.pem"))
    context.load_cert_chain(os.path.join(rig.dir, "carol.pem"), os.path.join(rig.dir, "carol.key"))
    raw = socket.create_connection(("127.0.0.1", rig.tls_port), timeout=30)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    client = LoginClient(rig.tls_port, "alice", "wonderland", sock=sock)
    client.expect(PROMPT)
    assert client.cmd("info name") == "labvm\n"
    client.close()
    # a password login still decides who the operator is
    assert rig.audit_records()[-1]["user"] == "alice"


def test_tls_without_a_client_certificate_is_refused(rig: Rig) -> None:
    """When a TLS client has no certificate, the handshake fails and nothing is served."""
    context = ssl.create_default_context(cafile=os.path.join(rig.dir, "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", rig.tls_port), timeout=30)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        sock = context.wrap_socket(raw, server_hostname="localhost")
        sock.recv(100) or (_ for _ in ()).throw(ConnectionError("closed"))


def test_read_only_qmp_listener(rig: Rig) -> None:
    """When a read-only QMP client sends a query and a stop, only the query runs."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(os.path.join(rig.dir, "ro.qmp"))
    f = sock.makefile("rw")
    assert "QMP" in json.loads(f.readline())
    replies = []
    for message in [{"execute": "qmp_capabilities"}, {"execute": "query-name", "id": 1},
                    {"execute": "stop", "id": 2}]:
        f.write(json.dumps(message) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                replies.append(reply)
                break
    assert replies[1] == {"return": {"name": "labvm"}, "id": 1}
    assert replies[2]["id"] == 2 and replies[2]["error"]["desc"].startswith("permission denied")
    sock.close()


def test_audit_lines_match_what_ran(rig: Rig) -> None:
    """When commands have run, the audit log holds one line each with user, QMP and outcome."""
    records = rig.audit_records()
    hmp = [(r["user"], r["hmp"], r["outcome"]) for r in records if "hmp" in r]
    assert ("alice", "cont", "ok") in hmp
    assert ("bob", "stop", "denied") in hmp
    cont = next(r for r in records if r.get("hmp") == "cont")
    assert cont["sent"] == [{"execute": "cont"}] and cont["auth"] == "password"
    assert cont["role"] == "operator" and cont["latency_ms"] >= 0
    qmp = [(r["qmp"]["execute"], r["outcome"]) for r in records if "qmp" in r]
    assert ("query-name", "ok") in qmp and ("stop", "denied") in qmp


def test_unguarded_remote_listener_is_refused() -> None:
    """When asked to listen on all interfaces without TLS or passwords, hmpbridge refuses."""
    proc = subprocess.run(bridge_command("--qmp", "/nonexistent.sock", "--listen",
                                         f"tcp:{free_port()}"), capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert "--allow-remote" in proc.stderr and "Traceback" not in proc.stderr
