"""The real ``telnet`` program in interactive mode against hmpbridge and QEMU 7.2.

The default listener is QEMU's telnet chardev: it offers echo at connect,
telnet accepts and switches to character mode, and the bridge edits the line
as QEMU's monitor does from the first key.
"""

from __future__ import annotations

import shutil
import signal
import time

import pexpect
import pytest

from tests.integration.conftest import Bridge, HMPClient

pytestmark = pytest.mark.skipif(shutil.which("telnet") is None,
                                reason="telnet is not installed")


@pytest.fixture(scope="module")
def live(twins):
    """A bridge with passthrough on (netdevs, events) in front of VM A."""
    a, _ = twins
    bridge = Bridge(f"unix:path={a.bridge_socket}", "--events-listen",
                    "tcp:0:interface=127.0.0.1")
    try:
        yield bridge
    finally:
        bridge.close()


def operator(bridge: Bridge) -> pexpect.spawn:
    """A telnet session in character mode (from connect), after a first line."""
    child = pexpect.spawn("telnet", ["127.0.0.1", str(bridge.port)], timeout=20)
    child.expect_exact("(qemu) ")
    child.send("info name\r")
    child.expect_exact("(qemu) ")
    return child


def typed(child: pexpect.spawn, keys: str, expect: str) -> str:
    """Send keys, wait for ``expect``; what came before it."""
    child.send(keys)
    child.expect_exact(expect)
    return child.before.decode(errors="replace")


def test_editing_keys_redraw_and_run_the_edited_line(live, twins):
    """Arrows, Home/End, ^A/^E, Backspace, Delete, ^W and ^D edit the line QEMU 7.2's way
    (it has no ^K or ^U)."""
    _, b = twins
    child = operator(live)
    try:
        child.send("info stXtus")
        child.expect_exact("info stXtus\x1b[K")
        child.send("\x1b[D\x1b[D\x1b[D")
        child.expect_exact("\x1b[D\x1b[D\x1b[D")
        child.send("\x7fa")                        # Backspace the X, type a
        child.expect_exact("info status\x1b[K\x1b[D\x1b[D\x1b[D")
        child.send("\x01\x1b[3~i")                 # Home, Delete, retype
        child.send("\x05 junk\x17\x7f")            # End, a word, ^W, Backspace
        child.expect_exact("info status\x1b[K")
        child.send("\r")
        child.expect_exact("(qemu) ")
        assert b.hmp("info status").replace("\n", "\r\n") in child.before.decode()
        child.send("garbage\x17info versionn\x1b[D\x04")  # ^W the garbage, ^D the extra n
        child.send("\r")
        child.expect_exact("(qemu) ")
        assert b.hmp("info version").replace("\n", "\r\n") in child.before.decode()
    finally:
        child.close(force=True)


def test_history_is_each_operators_own(live):
    """Up recalls this operator's lines only, never another operator's."""
    one, two = operator(live), operator(live)
    try:
        typed(one, "info uuid\r", "(qemu) ")
        typed(one, "\x1b[A", "info uuid\x1b[K")
        typed(two, "\x1b[A", "info name\x1b[K")  # its own last line, not one's "info uuid"
        two.send("\x1b[Binfo history\r")  # Down from the last line empties it
        two.expect_exact("(qemu) ")
        assert "info uuid" not in two.before.decode()
        assert "0: 'info name'" in two.before.decode()
    finally:
        one.close(force=True)
        two.close(force=True)


def test_tab_completes_block_devices_and_qom_paths(live):
    """eject <Tab> lists QEMU's block devices; qom-list /machine/per<Tab> completes the path."""
    child = operator(live)
    try:
        out = typed(child, "eject \t", "(qemu) eject \x1b[K")
        assert "\r\ncd0       disk0     \r\n" in out
        child.send("\x17qom-list /machine/per\t")  # ^W takes "eject " away
        child.expect_exact("(qemu) qom-list /machine/peripheral\x1b[K")
        assert "/machine/peripheral-anon/" in child.before.decode()
        child.send("/\t")
        child.expect_exact("ide1-cd0/")
        child.send("\x17\x17dev\t")
        child.expect_exact("device_")
    finally:
        child.close(force=True)


def test_event_prints_above_the_half_typed_line(live, twins):
    """An event lands on its own line and the prompt and half-typed line come back."""
    a, _ = twins
    child = operator(live)
    try:
        typed(child, ".events on\r", "(qemu) ")
        typed(child, "info sta", "info sta\x1b[K")
        a.qmp.command("cont")
        child.expect_exact("\r\x1b[K")
        child.expect_exact(" RESUME\r\n(qemu) info sta\x1b[K")
        a.qmp.command("stop")
        child.expect_exact(" STOP\r\n(qemu) info sta\x1b[K")
        child.send("tus\r")
        child.expect_exact("VM status: paused")
    finally:
        a.qmp.command("stop")
        child.close(force=True)


def test_waiting_notice_and_scripts_unaffected(live, twins):
    """A command stuck behind another operator's says so after a second to a session that
    asked for events; the others (a script, an operator who did not ask) never see it."""
    a, b = twins
    first, second = operator(live), operator(live)
    typed(second, ".events on\r", "(qemu) ")
    script = HMPClient(("127.0.0.1", live.port))
    qemu = a.vm.proc
    try:
        qemu.send_signal(signal.SIGSTOP)  # QEMU busy: commands queue up at its monitor
        first.send("info status\r")
        time.sleep(0.2)
        second.send("info name\r")
        script.sock.sendall(b"info name\n")
        second.expect_exact("(waiting for another operator's command: info status)\r\n",
                            timeout=5)
        qemu.send_signal(signal.SIGCONT)
        second.expect_exact("(qemu) ")
        first.expect_exact("(qemu) ")
        assert "waiting" not in first.before.decode()
        assert script.read_answer("info name") == b.hmp("info name")
    finally:
        qemu.send_signal(signal.SIGCONT)
        first.close(force=True)
        second.close(force=True)
        script.close()
