"""Command history kept per logged-in user across sessions and bridge restarts (--state-dir).

One VM; bridges in front of it one after the other (QEMU's QMP socket takes
one client at a time): with --password-file and --state-dir, then killed
and started again on the same state directory, then without passwords.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from typing import Iterator

import pexpect
import pytest

from tests.integration.conftest import (PROMPT, Bridge, HMPClient, LoginClient, Twin,
                                       add_user)


def login(port: int, user: str, password: str) -> LoginClient:
    """A logged-in client with the banner read."""
    client = LoginClient(port, user, password)
    client.expect(PROMPT)
    return client


class Rig:
    """A VM, a password file for alice and bob, and a state directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmphistory")
        self.passwords = os.path.join(self.dir, "passwords")
        self.state = os.path.join(self.dir, "state")
        for user, password in [("alice", "wonderland"), ("bob", "builder")]:
            add_user(self.passwords, user, password)
        self.vm = Twin()

    def bridge(self, *extra: str) -> Bridge:
        """A bridge on the VM with the state directory (and ``extra`` options)."""
        return Bridge(f"unix:path={self.vm.bridge_socket}", "--state-dir", self.state, *extra)

    def close(self) -> None:
        self.vm.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def test_users_get_their_own_history_back_after_reconnecting_and_a_crash(rig: Rig) -> None:
    """alice's lines come back in her next session and after the bridge is killed;
    bob never sees them."""
    bridge = rig.bridge("--password-file", rig.passwords)
    try:
        alice = login(bridge.port, "alice", "wonderland")
        assert alice.history() == []
        alice.cmd("info status")
        alice.cmd("info name")
        alice.close()
        again = login(bridge.port, "alice", "wonderland")
        # the first "info history" moved to the end when run again, as in QEMU's readline
        assert again.cmd("info history") == (
            "0: 'info status'\n1: 'info name'\n2: 'info history'\n")
        bob = login(bridge.port, "bob", "builder")
        assert bob.history() == []
        bob.close()
        again.cmd("info version")  # saved at once, before the session or the bridge ends
        bridge.proc.kill()
        bridge.proc.wait(10)
        again.close()
    finally:
        bridge.close()
    assert stat.S_IMODE(os.stat(rig.state).st_mode) == 0o700
    files = sorted(os.listdir(rig.state))
    assert files == ["u-616c696365.history", "u-626f62.history"]
    for name in files:
        assert stat.S_IMODE(os.stat(os.path.join(rig.state, name)).st_mode) == 0o600

    bridge = rig.bridge("--password-file", rig.passwords)
    try:
        alice = login(bridge.port, "alice", "wonderland")
        assert alice.history() == ["info status", "info name", "info version"]
        alice.close()
    finally:
        bridge.close()


def test_up_arrow_recalls_the_previous_sessions_line_in_telnet(rig: Rig) -> None:
    """In the telnet program, after logging in, Up walks back into alice's earlier session."""
    bridge = rig.bridge("--password-file", rig.passwords)
    try:
        first = login(bridge.port, "alice", "wonderland")
        first.cmd("info uuid")
        first.close()
        child = pexpect.spawn("telnet", ["127.0.0.1", str(bridge.port)], timeout=20)
        try:
            child.expect_exact("login: ")
            child.sendline("alice")
            child.expect_exact("Password: ")
            child.sendline("wonderland")
            child.expect_exact("(qemu) ")
            child.sendline("info name")  # telnet's first line: the bridge offers echo
            child.expect_exact("(qemu) ")
            time.sleep(0.3)  # telnet answers the echo offer
            child.send("\x1b[A")
            child.expect_exact("info name\x1b[K")
            child.send("\x1b[A")
            child.expect_exact("info uuid\x1b[K")
        finally:
            child.close(force=True)
    finally:
        bridge.close()


def test_address_only_operators_keep_history_per_connection(rig: Rig) -> None:
    """Without a login, each connection starts empty; nothing is written to the state directory."""
    before = {name: os.stat(os.path.join(rig.state, name)).st_mtime_ns
              for name in os.listdir(rig.state)}
    bridge = rig.bridge()
    try:
        one = HMPClient(("127.0.0.1", bridge.port))
        one.cmd("info status")
        assert one.cmd("info history") == "0: 'info status'\n1: 'info history'\n"
        one.close()
        two = HMPClient(("127.0.0.1", bridge.port))
        assert two.cmd("info history") == "0: 'info history'\n"
        two.close()
    finally:
        bridge.close()
    assert {name: os.stat(os.path.join(rig.state, name)).st_mtime_ns
            for name in os.listdir(rig.state)} == before
