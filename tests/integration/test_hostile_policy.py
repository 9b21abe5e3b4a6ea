"""What a line may ask of a real QEMU 7.2: no abort, no stall, no secret, no exposure by spelling."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any, Dict, Iterator, List

import pytest

from hmpbridge import hazards
from tests.golden.recorder import QMPClient
from tests.integration.conftest import ROOT, Bridge, HMPClient, Twin, bridge_command, free_port


class Rig:
    """A VM holding a secret, and a bridge with operator and read-only HMP and QMP listeners."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmppolicy")
        self.vm = Twin(extra=["-object", "secret,id=sec0,data=hunter2"])
        self.ro_port = free_port()
        self.bridge = Bridge(
            f"unix:path={self.vm.bridge_socket}",
            "--qmp-listen", f"unix:{self.dir}/op.qmp",
            "--qmp-read-only-listen", f"unix:{self.dir}/ro.qmp",
            "--read-only-listen", f"tcp:{self.ro_port}:interface=127.0.0.1")
        self.operator = self.bridge.session()
        self.reader = HMPClient(("127.0.0.1", self.ro_port))
        self.qmp_operator = QMPClient(f"{self.dir}/op.qmp")
        self.qmp_reader = QMPClient(f"{self.dir}/ro.qmp")

    def alive(self) -> None:
        """QEMU still answers: directly, through an HMP session and through both QMP clients."""
        assert self.vm.qmp.command("query-status")["status"] == "prelaunch"
        assert self.operator.cmd("info status") == "VM status: paused (prelaunch)\n"
        assert self.reader.cmd("info status") == "VM status: paused (prelaunch)\n"
        assert self.qmp_reader.command("query-status")["status"] == "prelaunch"
        assert self.qmp_operator.command("query-status")["status"] == "prelaunch"

    def close(self) -> None:
        for client in (self.operator, self.reader, self.qmp_operator, self.qmp_reader):
            client.close()
        self.bridge.close()
        self.vm.close()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def hmc(line: str) -> Dict[str, Any]:
    return {"execute": "human-monitor-command", "arguments": {"command-line": line}}


READ_ONLY_ROUTES: List[Dict[str, Any]] = [
    *({"execute": "device-list-properties", "arguments": {"typename": t}}
      for t in sorted(hazards.ABORTS["7.2"]["device-list-properties"])),
    *({"execute": "qom-list-properties", "arguments": {"typename": t}}
      for t in sorted(hazards.ABORTS["7.2"]["qom-list-properties"])),
    hmc("device_add virtio-gpu-gl-pci,help"),
    hmc("device_add virtio-gpu-gl,?"),
    hmc("device_add id=x,driver=virtio-vga-gl,help=on"),
]


@pytest.mark.parametrize("message", READ_ONLY_ROUTES,
                         ids=lambda m: str(m.get("arguments")))
def test_a_read_only_qmp_client_cannot_abort_qemu(rig: Rig, message: Dict[str, Any]) -> None:
    """Every measured abort route from a read-only QMP client gets a GenericError; QEMU lives."""
    reply = rig.qmp_reader.send(message)
    assert reply["error"]["class"] == "GenericError"
    assert "makes QEMU 7.2 abort" in reply["error"]["desc"]
    rig.alive()


@pytest.mark.parametrize("message", [
    hmc("calc_dirty_rate -b 1"),
    {"execute": "calc-dirty-rate", "arguments": {"mode": "dirty-ring", "calc-time": 1}},
    hmc("device_add virtio-vga-gl,help"),
    {"execute": "qom-list-properties", "arguments": {"typename": "microvm-machine"}},
], ids=lambda m: str(m.get("arguments")))
def test_an_operator_qmp_client_cannot_abort_qemu(rig: Rig, message: Dict[str, Any]) -> None:
    """Operators too: the routes are refused for every client."""
    reply = rig.qmp_operator.send(message)
    assert reply["error"]["class"] == "GenericError" and "abort" in reply["error"]["desc"]
    rig.alive()


@pytest.mark.parametrize("line", ["device_add virtio-gpu-gl,help",
                                  "device_add driver=virtio-vga-gl,?",
                                  "calc_dirty_rate -r 1", "calc_dirty_rate -b 1"])
def test_an_operator_hmp_session_cannot_abort_qemu(rig: Rig, line: str) -> None:
    """The HMP lines that would abort QEMU print a line of their own; QEMU lives."""
    out = rig.operator.cmd(line)
    assert out.count("\n") == 1 and ("abort" in out or "dirty-ring is not enabled" in out)
    rig.alive()


# -- dumps ------------------------------------------------------------------------------


def test_dumps_over_the_limit_are_refused_while_everyone_is_served(rig: Rig) -> None:
    """xp /3000000xg (24 MB, many seconds of QEMU's time) is refused to every role."""
    assert rig.operator.cmd("xp /3000000xg 0") == (
        "Error: 'xp' asks for 24000000 bytes of memory; operator clients may dump at most "
        "65536 bytes per command\n")
    assert rig.reader.cmd("xp /2049xg 0").startswith("Error: 'xp' asks for 16392 bytes")
    reply = rig.qmp_reader.send(hmc("x /3000000xg 0"))
    assert reply["error"]["class"] == "GenericError" and "24000000" in reply["error"]["desc"]
    reply = rig.qmp_operator.send(hmc("xp /3000000xg 0"))
    assert reply["error"]["class"] == "GenericError"
    rig.alive()


def test_dumps_within_the_limit_run(rig: Rig) -> None:
    """A dump at the limit, in the wordiest format, is QEMU's own text."""
    out = rig.operator.cmd("xp /65536cb 0")
    assert out == rig.vm.hmp("xp /65536cb 0") and len(out) > 600_000
    assert rig.reader.cmd("xp /2048xg 0") == rig.vm.hmp("xp /2048xg 0")
    rig.alive()


# -- secrets -----------------------------------------------------------------------------


def test_secrets_are_refused_to_read_only_users_and_shown_to_operators(rig: Rig) -> None:
    """qom-get of a secret's data and gpa2hva: refused to read-only users on HMP and QMP."""
    out = rig.reader.cmd("qom-get /objects/sec0 data")
    assert out.startswith("Error: permission denied: property 'data' may hold a secret")
    assert "hunter2" not in out
    assert rig.reader.cmd("gpa2hva 0").startswith("Error: permission denied: 'gpa2hva'")
    reply = rig.qmp_reader.send({"execute": "qom-get",
                                 "arguments": {"path": "/objects/sec0", "property": "data"}})
    assert reply["error"]["class"] == "GenericError" and "hunter2" not in str(reply)
    reply = rig.qmp_reader.send(hmc("qom-get sec0 data"))
    assert reply["error"]["class"] == "GenericError"
    assert rig.reader.cmd("qom-get /objects/sec0 format") == '"raw"\n'
    assert rig.operator.cmd("qom-get /objects/sec0 data") == '"hunter2"\n'
    assert rig.operator.cmd("gpa2hva 0").startswith("Host virtual address for 0x0")
    assert rig.qmp_operator.command("qom-get", {"path": "/objects/sec0",
                                                "property": "data"}) == "hunter2"


def test_the_command_line_policy_reaches_qmp_listeners(rig: Rig) -> None:
    """--read-only-secrets and --read-only-max-dump hold on a QMP listener as on HMP ones
    (this bridge's QEMU is the rig's, through the rig's multiplexed endpoint)."""
    ro = f"{rig.dir}/ro-policy.qmp"
    bridge = Bridge(f"unix:path={rig.dir}/op.qmp", "--qmp-read-only-listen", f"unix:{ro}",
                    "--read-only-secrets", "--read-only-max-dump", "1024")
    client = QMPClient(ro)
    try:
        assert client.command("qom-get", {"path": "/objects/sec0",
                                          "property": "data"}) == "hunter2"
        assert client.command("human-monitor-command",
                              {"command-line": "xp /128xg 0"}).startswith("0000000000000000:")
        reply = client.send(hmc("xp /129xg 0"))
        assert reply["error"] == {
            "class": "GenericError",
            "desc": "'xp' asks for 1032 bytes of memory; read-only clients may dump at most "
                    "1024 bytes per command"}
    finally:
        client.close()
        bridge.close()
    rig.alive()


# -- exposure ----------------------------------------------------------------------------


def test_remote_spellings_are_refused_by_the_process(rig: Rig) -> None:
    """Case, escapes, defaults and TLS without client certificates: exit 2, nothing bound.

    Each process is given a QMP endpoint that answers (the rig's multiplexed
    one), so only the listener can stop it.
    """
    spellings = [
        ["--listen", "TCP6:%d:interface=\\:\\:"],
        ["--qmp-listen", "Tcp6:%d"],
        ["--listen", "ssl:%d:privateKey=" + os.path.join(rig.dir, "none.pem")],
        ["--read-only-listen", "tcp6:%d:interface=\\:\\:ffff\\:127.0.0.1"],
        ["--listen", "interface=0.0.0.0:tcp:%d"],
    ]
    procs = []
    for option, value in spellings:
        procs.append(subprocess.Popen(
            bridge_command("--qmp", f"unix:path={rig.dir}/op.qmp", option,
                           value % free_port()),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for proc, (_, value) in zip(procs, spellings):
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{value} was served")
            assert proc.returncode == 2, (value, err)
            assert "--allow-remote" in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    rig.alive()
