"""QEMU killed and started again under 20 busy plain sessions: nothing unsolicited.

Each session is a script that reads one prompt per line (expect, a pexpect
loop, a shell ``while read``): it sends a line, reads up to the next prompt
and checks the answer is its own.  QEMU is killed with SIGKILL and started
again on the same QMP socket while they run.  A session that did not ask for
events must only ever get its own answers (a command that meets the gap may
get the bridge's error answer instead), never a notice, never an extra prompt:
at the end, every session has read exactly one prompt per line sent and
nothing is left unread.  A session on ``--events-listen``, and one that typed
``.events on``, do get the notices.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import pytest

from hmpbridge.render.errors import CONNECTION_LOST, NOT_CONNECTED
from tests.golden.recorder import QMPClient
from tests.golden.vm import BASE_ARGS, _die_with_parent
from tests.integration.conftest import PROMPT, Bridge, HMPClient, free_port

SESSIONS = 20
#: What a command may print when it meets the gap (the bridge's own words).
GAP_ANSWERS = (CONNECTION_LOST, NOT_CONNECTED)
GONE = b"hmpbridge: lost the connection to QEMU's monitor; reconnecting"


class Upstream:
    """A QEMU whose QMP socket stays at one path across a kill and a new start."""

    def __init__(self, directory: str) -> None:
        self.socket = os.path.join(directory, "qmp.sock")
        self.probe = os.path.join(directory, "probe.sock")
        self.log = os.path.join(directory, "qemu.log")
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        for path in (self.socket, self.probe):
            if os.path.exists(path):
                os.unlink(path)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*BASE_ARGS, "-qmp", f"unix:{self.socket},server=on,wait=off",
                 "-qmp", f"unix:{self.probe},server=on,wait=off"],
                stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 30
        while not (os.path.exists(self.socket) and os.path.exists(self.probe)):
            assert self.proc.poll() is None, open(self.log).read()
            assert time.monotonic() < deadline, "QEMU did not create its QMP sockets"
            time.sleep(0.02)

    def hmp(self, lines: List[str]) -> Dict[str, str]:
        """QEMU's own answer to each line (``\\n`` line ends)."""
        client = QMPClient(self.probe)
        try:
            return {line: client.hmp(line) for line in lines}
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass
class Operator:
    """One scripted session and what it saw."""

    n: int
    client: HMPClient
    lines: List[str]
    sent: int = 0
    answers: List[Tuple[float, str, str]] = field(default_factory=list)
    error: Optional[BaseException] = None

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                line = self.lines[self.sent % len(self.lines)]
                self.client.sock.sendall(line.encode() + b"\n")
                self.sent += 1
                data = self.client.read_until_prompt()
                self.answers.append((time.monotonic(), line, self.client.answer(line, data)))
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err

    def correct_since(self, since: float, expected: Dict[str, str]) -> int:
        return sum(1 for at, line, answer in self.answers
                   if at > since and answer == expected[line])

    def strays(self, expected: Dict[str, str]) -> List[Tuple[str, str]]:
        """(line, answer) for each answer that is neither the line's nor a gap's."""
        return [(line, answer) for _, line, answer in self.answers
                if answer != expected[line] and answer not in GAP_ANSWERS]


def lines_of(n: int) -> List[str]:
    """Lines whose answers differ from every other session's."""
    return [f"print {1000 + n}", "info status", f"print 0x{n + 1:x}00", "info name"]


def wait_until(predicate, what: str, operators: List[Operator], expected: Dict[str, str],
               timeout: float = 30) -> None:
    """Wait for ``predicate``; fail at once when a session got an answer not its own."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for op in operators:
            assert op.error is None, f"session {op.n}: {op.error!r}"
            assert not op.strays(expected), \
                f"session {op.n} got answers not its own: {op.strays(expected)[:3]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def read_until(client: HMPClient, marker: bytes, timeout: float) -> bytes:
    client.sock.settimeout(timeout)
    try:
        return client.read_until(marker)
    finally:
        client.sock.settimeout(30)


@pytest.fixture(scope="module")
def rig():
    directory = tempfile.mkdtemp(prefix="hmpquiet")
    upstream = Upstream(directory)
    events_port = free_port()
    bridge = Bridge(f"unix:path={upstream.socket}",
                    "--events-listen", f"plain:tcp:{events_port}:interface=127.0.0.1",
                    listen="plain:tcp:{port}:interface=127.0.0.1")
    try:
        yield upstream, bridge, events_port
    finally:
        log = bridge.close()
        if upstream.proc is not None and upstream.proc.poll() is None:
            upstream.kill()
        shutil.rmtree(directory, ignore_errors=True)
        print(log[-3000:])


def test_sessions_get_only_their_own_answers_across_a_restart(rig) -> None:
    upstream, bridge, events_port = rig
    expected = upstream.hmp(sorted({line for n in range(SESSIONS) for line in lines_of(n)}))
    assert len(set(expected[lines_of(n)[0]] for n in range(SESSIONS))) == SESSIONS
    watcher = HMPClient(("127.0.0.1", events_port))
    asked = HMPClient(("127.0.0.1", bridge.port))  # a plain session that typed .events on
    assert asked.cmd(".events on") == ""
    operators = [Operator(n, HMPClient(("127.0.0.1", bridge.port)), lines_of(n))
                 for n in range(SESSIONS)]
    stop = threading.Event()
    threads = [threading.Thread(target=op.run, args=(stop,), daemon=True) for op in operators]
    for thread in threads:
        thread.start()
    try:
        start = time.monotonic()
        wait_until(lambda: all(op.correct_since(start, expected) >= 2 for op in operators),
                   "every session's first answers", operators, expected)

        upstream.kill()
        for events in (watcher, asked):
            assert GONE in read_until(events, GONE, 20)
        killed = time.monotonic()
        wait_until(lambda: all(op.answers and op.answers[-1][0] > killed for op in operators),
                   "a command in the gap", operators, expected, 20)

        upstream.start()
        for events in (watcher, asked):
            back = read_until(events, b" again", 30)
            assert b"hmpbridge: connected to QEMU " in back, back
        restarted = time.monotonic()
        wait_until(lambda: all(op.correct_since(restarted, expected) >= 3 for op in operators),
                   "every session's answers after it", operators, expected)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    for op in operators:
        assert op.error is None, f"session {op.n}: {op.error!r}"
        assert not op.strays(expected), \
            f"session {op.n} got answers not its own: {op.strays(expected)[:3]}"
        assert op.correct_since(restarted, expected) >= 3
        assert len(op.answers) == op.sent  # one prompt per line sent, so far
    # nothing unread: no extra prompt, no late notice
    time.sleep(0.3)
    for op in operators:
        op.client.sock.settimeout(0)
        try:
            extra = op.client.buffer + op.client.sock.recv(65536)
        except BlockingIOError:
            extra = op.client.buffer
        assert extra == b"", f"session {op.n} has more to read: {extra[:200]!r}"
        op.client.close()
    watcher.close()
    asked.close()
    lost = sum(1 for op in operators for _, _, answer in op.answers if answer in GAP_ANSWERS)
    print(f"{sum(op.sent for op in operators)} lines, {lost} met the gap")


def test_prompt_count_matches_lines_for_a_plain_pipeline(rig) -> None:
    """The shell ``while read`` case: one session, one prompt per line, across a restart."""
    upstream, bridge, _ = rig
    client = HMPClient(("127.0.0.1", bridge.port))
    try:
        assert client.cmd("info status") == upstream.hmp(["info status"])["info status"]
        upstream.kill()
        answers = [client.cmd("info name") for _ in range(3)]
        assert all(answer in GAP_ANSWERS for answer in answers), answers
        upstream.start()
        deadline = time.monotonic() + 30
        while client.cmd("info name") != "labvm\n":
            assert time.monotonic() < deadline, "the bridge did not reconnect"
            time.sleep(0.1)
        time.sleep(0.3)
        client.sock.settimeout(0)
        with pytest.raises(BlockingIOError):
            client.sock.recv(1)
        assert client.buffer == b""
        assert PROMPT not in client.buffer
    finally:
        client.close()
