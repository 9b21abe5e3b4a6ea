"""Twenty real QEMUs started and stopped in a directory, served by one hmpbridge: each by
its own listener, and by switching on a shared one (``.vm NAME``), with no answer ever
reaching another VM's session."""

from __future__ import annotations

import os
import threading
from typing import Dict, Iterator, List

import pytest

from tests.integration.conftest import HMPClient, _wait_for
from tests.integration.test_fleet_live import Host

VMS = [f"vm{n:02d}" for n in range(1, 21)]
#: ``info name`` lines each client sends.
ROUNDS = 15


@pytest.fixture
def twenty() -> Iterator[Host]:
    host = Host()
    try:
        for name in VMS:
            host.start_qemu(name)
        host.start_bridge("--listen", f"plain:unix:{host.run_dir}/shared.hmp",
                          "--password-file", _users(host.run_dir))
        for name in VMS:
            host.wait_listening(name)
        yield host
    finally:
        host.close()


def _users(directory: str) -> str:
    """A password file: ``ops`` reaches every VM, ``web`` only vm01..vm09."""
    from hmpbridge.passwords import set_user
    path = os.path.join(directory, "users")
    set_user(path, "ops", "operator", "pw")
    set_user(path, "web", "operator", "pw", ["vm0?"])
    return path


def login(address: str, user: str) -> HMPClient:
    client = HMPClient(address, timeout=20, banner=False)
    client.read_until(b"login: ")
    client.sock.sendall(user.encode() + b"\n")
    client.read_until(b"Password: ")
    client.sock.sendall(b"pw\n")
    client.banner = client.read_until_prompt().decode()[len("\r\n"):]  # after the password
    return client


def test_twenty_vms_by_own_listener_and_by_switching(twenty: Host) -> None:
    host = twenty
    shared = os.path.join(host.run_dir, "shared.hmp")
    crossings: List[str] = []
    failures: List[BaseException] = []

    def own_listener(name: str) -> None:
        client = login(host.hmp(name), "ops")
        try:
            for _ in range(ROUNDS):
                got = client.cmd("info name")
                if got != f"{name}\n":
                    crossings.append(f"{name}'s listener answered {got!r}")
        finally:
            client.close()

    def switching(offset: int) -> None:
        client = login(shared, "ops")
        try:
            for step in range(ROUNDS):
                name = VMS[(offset + step * 7) % len(VMS)]
                assert client.cmd(f".vm {name}") == ""
                got = client.cmd("info name")
                if got != f"{name}\n":
                    crossings.append(f"the shared session on {name} got {got!r}")
        finally:
            client.close()

    def run(target, *args) -> threading.Thread:  # type: ignore[no-untyped-def]
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)
        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    threads = [run(own_listener, name) for name in VMS]
    threads += [run(switching, offset) for offset in range(10)]
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert crossings == []

    log = host.log_text()  # each VM's QMP connection names its VM in the log
    assert all(f"VM {name}: Connected to QEMU 7.2.22" in log for name in VMS), log[-2000:]

    client = login(shared, "ops")
    assert client.banner.startswith("hmpbridge monitor of 20 VMs - type '.vms'")
    assert client.cmd("info name") == \
        "No VM chosen: type '.vm NAME' to choose one ('.vms' lists them)\n"
    listing = client.cmd(".vms").splitlines()
    assert [line.split()[0] for line in listing] == VMS
    assert all(line.split()[1:] == ["prelaunch", "QEMU", "7.2.22"] for line in listing), listing
    listed = client.raw(b".vm vm0\t")  # Tab lists the VM names that match
    assert b"vm01      vm02      vm03" in listed and b"vm10" not in listed
    client.read_until(b".vm vm0")  # the line is drawn again after the prompt
    client.sock.sendall(b"5\n")
    assert client.read_until_prompt().endswith(b"\r\n(qemu) ")
    assert client.cmd("info name") == "vm05\n"

    limited = login(shared, "web")
    assert [line.split()[0] for line in limited.cmd(".vms").splitlines()] == VMS[:9]
    assert limited.cmd(".vm vm15") == "unknown VM: 'vm15'\n"
    limited.close()
    refused = HMPClient(host.hmp("vm15"), timeout=20, banner=False)
    refused.read_until(b"login: ")
    refused.sock.sendall(b"web\npw\n")
    assert b"Login incorrect" in refused.read_until(b"Login incorrect")
    refused.close()

    # VMs stop and start under the sessions
    for name in VMS[:10]:
        host.stop_qemu(name)
    for name in VMS[:10]:
        _wait_for(lambda: not os.path.exists(host.hmp(name)), f"{name}'s listener to go",
                  timeout=10)
    assert client.cmd("info name") == \
        "VM 'vm05' is not served now (its QMP socket went away)\n"
    assert [line.split()[0] for line in client.cmd(".vms").splitlines()] == VMS[10:]
    host.start_qemu("vm05")
    host.wait_listening("vm05")
    _wait_for(lambda: client.cmd("info name") == "vm05\n", "the session on vm05 again",
              timeout=10)
    client.close()
    answers: Dict[str, str] = {}
    for name in VMS[10:] + ["vm05"]:
        own = login(host.hmp(name), "ops")
        answers[name] = own.cmd("info name")
        own.close()
    assert answers == {name: f"{name}\n" for name in answers}
