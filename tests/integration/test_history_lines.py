"""A session's history holds the lines QEMU's readline would hold (``info history``).

QEMU's ``readline_hist_add`` keeps every entered line but the empty one (a
line of blanks too) and moves a repeated line to the end.  The same lines,
typed into QEMU's own monitor and into a bridge session, list the same
history.  A monitor without readline (``human-monitor-command``) has none, and
neither have lines run straight over QMP by ``hmpbridge-cmd``: history is the
session's, not the runner's.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from typing import Iterator, List, Tuple

import pytest

from tests.integration.conftest import PROMPT, UNDER_TEST, Bridge, Twin

#: One ``info history`` entry as QEMU prints it.
ENTRY = re.compile(rb"(\d+): '([^'\r\n]*)'\r?\n")

#: Typed one after the other: a blank line, an empty one, a repeated one.
LINES = [b"info name", b"   ", b"", b"info name", b"info history"]


def typed_history(port: int) -> List[Tuple[bytes, bytes]]:
    """What ``info history`` lists after :data:`LINES` typed into the monitor at ``port``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        data = b""
        while not data.endswith(PROMPT):  # the banner and first prompt
            chunk = sock.recv(65536)
            assert chunk, f"closed before the first prompt: {data!r}"
            data += chunk
        sock.sendall(b"".join(line + b"\n" for line in LINES))
        data = b""
        while not (b"'info history'" in data and data.endswith(PROMPT)):
            chunk = sock.recv(65536)
            assert chunk, f"closed before info history answered: {data[-300:]!r}"
            data += chunk
        return ENTRY.findall(data)
    finally:
        sock.close()


@pytest.fixture(scope="module")
def twin_and_bridge() -> Iterator[Tuple[Twin, Bridge]]:
    twin = Twin(extra=["-qmp", "unix:{dir}/cmd.sock,server=on,wait=off"])
    bridge = Bridge(f"unix:path={twin.bridge_socket}")
    try:
        yield twin, bridge
    finally:
        bridge.close()
        twin.close()


def test_blank_and_repeated_lines_are_kept_as_qemus_readline_keeps_them(twin_and_bridge) -> None:
    """A line of blanks is kept, the empty line is not, a repeated line moves to the end."""
    twin, bridge = twin_and_bridge
    qemu = typed_history(twin.hmp_port)
    assert qemu == [(b"0", b"   "), (b"1", b"info name"), (b"2", b"info history")]
    assert typed_history(bridge.port) == qemu


def test_lines_run_over_qmp_have_no_history_as_a_monitor_without_readline(
        twin_and_bridge) -> None:
    """``info history`` prints nothing through human-monitor-command, and so through
    ``hmpbridge-cmd``, whatever lines ran before it."""
    twin, _ = twin_and_bridge
    assert twin.hmp("help c") and twin.hmp("info history") == ""
    result = subprocess.run(
        [sys.executable, "-m", "hmpbridge.oneshot", "--qmp",
         f"unix:path={os.path.join(twin.dir, 'cmd.sock')}", "help c", "info history"],
        cwd=UNDER_TEST, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == twin.hmp("help c")
