"""Tab completion against QEMU 7.2's own monitor: same candidates, same redrawn line.

Two QEMUs with the same command line (twins): A behind hmpbridge
(``--telnet-mode always``, which offers echo at connect as QEMU's telnet
chardev does), B with its own HMP monitor on ``-monitor telnet:...``.  The
real ``telnet`` program types the same keys into both, presses Tab and then
^L twice: everything between Tab and the first screen clear is what Tab
printed (the candidate table, or the inserted characters), and the redraw
after ^L is the line as completion left it.

Exceptions by design, compared only where QEMU offers something:

- QOM paths for ``qom-list``/``qom-get``/``qom-set``/``info qom-tree``:
  QEMU 7.2 completes nothing there, hmpbridge the path (not compared).
- ``chardev-change``: QEMU 7.2 completes nothing, hmpbridge the chardev ids
  (not compared).
- Block node names the user gave are offered next to backend names, and
  block job ids next to block devices for ``block_job_*``; this VM has
  neither, so those cases compare byte for byte.
- ``device_add``: hmpbridge reads ``device_add help``, which makes QEMU load
  its modules, and offers their devices too; QEMU offers only the device
  types it has loaded.  Compared: every device QEMU offers is offered, and
  for a prefix no module provides, byte for byte.  Its test comes last in
  this file (pytest keeps file order): QEMU's own lists (chardev backends,
  object types) grow once modules are loaded.
"""

from __future__ import annotations

import shutil
import time
from typing import Iterator, NamedTuple, Tuple

import pexpect
import pytest

from tests.integration.conftest import Bridge, Twin, free_port

pytestmark = pytest.mark.skipif(shutil.which("telnet") is None,
                                reason="telnet is not installed")

CLEAR = b"\x1b[2J\x1b[1;1H"  # what ^L prints before the prompt and line
PROMPT = b"(qemu) "


class Pair(NamedTuple):
    a: Twin
    b: Twin
    bridge: Bridge
    qemu_port: int


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """Twin A behind hmpbridge, twin B serving its own monitor over telnet."""
    ports = free_port(), free_port()
    twins = [Twin(extra=["-monitor", f"telnet:127.0.0.1:{port},server=on,wait=off"])
             for port in ports]
    bridge = Bridge(f"unix:path={twins[0].bridge_socket}", "--telnet-mode", "always")
    try:
        yield Pair(twins[0], twins[1], bridge, ports[1])
    finally:
        bridge.close()
        for twin in twins:
            twin.close()


class Tabbed(NamedTuple):
    """What Tab printed, and the line after it."""

    output: bytes
    line: bytes


def press_tab(port: int, text: str) -> Tabbed:
    """Connect with telnet, type ``text``, press Tab; what it printed and the line after."""
    child = pexpect.spawn("telnet", ["127.0.0.1", str(port)], timeout=20)
    try:
        child.expect_exact(PROMPT)
        time.sleep(0.3)  # telnet answers the echo offer and goes to character mode
        if text:
            child.send(text)
            child.expect_exact(text.encode() + b"\x1b[K")
        child.send("\t\x0c\x0c")
        child.expect_exact(CLEAR)
        output = child.before
        child.expect_exact(CLEAR)
        redraw = child.before
    finally:
        child.close(force=True)
    assert redraw.startswith(PROMPT), redraw
    return Tabbed(output, redraw[len(PROMPT):].split(b"\x1b[K", 1)[0])


def both(pair: Pair, text: str) -> Tuple[Tabbed, Tabbed]:
    """Tab after ``text`` in QEMU's monitor (first) and in hmpbridge (second)."""
    return press_tab(pair.qemu_port, text), press_tab(pair.bridge.port, text)


def candidates(output: bytes) -> list:
    """The words of a candidate table (empty when Tab inserted text instead)."""
    if not output.startswith(b"\r"):
        return []
    table = output.split(PROMPT, 1)[0]
    return sorted(table.decode().split())


@pytest.mark.parametrize("text", [
    "", "in", "info bl", "eject ", "device_del ", "chardev-remove ",
    "migrate_set_parameter ", "migrate_set_capability x", "sendkey ctrl-", "help inf",
    "info ",
    # QEMU's own completion functions beyond the list above
    "chardev-add ", "object_add ", "object_add th", "netdev_add ", "block_job_cancel ",
    "trace-event qmp_", "trace-event ", "trace-event vhost ", "info trace-events qcow2_",
    "migrate_set_capability xbzrle ", "ringbuf_write ", "watchdog_action ",
    "chardev-send-break s",
], ids=lambda text: repr(text))
def test_tab_prints_what_qemus_monitor_prints(pair: Pair, text: str) -> None:
    """Tab lists the same candidates in the same table and leaves the same line as QEMU 7.2."""
    qemu, bridge = both(pair, text)
    assert candidates(bridge.output) == candidates(qemu.output)
    assert bridge.output == qemu.output
    assert bridge.line == qemu.line


def test_object_del_completes_objects_added_since_start(pair: Pair) -> None:
    """After object_add, object_del <Tab> offers the new object id as QEMU does."""
    for twin in (pair.a, pair.b):
        twin.qmp.command("object-add", {"qom-type": "iothread", "id": "io-extra"})
    try:
        qemu, bridge = both(pair, "object_del ")
        assert b"io-extra" in qemu.output
        assert candidates(bridge.output) == candidates(qemu.output)
        assert bridge.output == qemu.output and bridge.line == qemu.line
        qemu, bridge = both(pair, "object_del io-")
        assert bridge.output == qemu.output and bridge.line == qemu.line
    finally:
        for twin in (pair.a, pair.b):
            twin.qmp.command("object-del", {"id": "io-extra"})


def test_ringbuf_commands_complete_ring_buffers_only(pair: Pair) -> None:
    """ringbuf_write and ringbuf_read offer ring buffer (and memory) chardevs only, as QEMU."""
    for twin in (pair.a, pair.b):
        twin.qmp.command("chardev-add", {"id": "rb0", "backend": {"type": "ringbuf", "data": {}}})
        twin.qmp.command("chardev-add", {"id": "mem0", "backend": {"type": "memory", "data": {}}})
    try:
        for text in ("ringbuf_write ", "ringbuf_read m", "chardev-remove "):
            qemu, bridge = both(pair, text)
            assert bridge.output == qemu.output and bridge.line == qemu.line, text
        assert candidates(qemu.output) == ["compat_monitor0", "compat_monitor1",
                                           "compat_monitor2", "compat_monitor3", "mem0",
                                           "rb0", "ser0"]
    finally:
        for twin in (pair.a, pair.b):
            twin.qmp.command("chardev-remove", {"id": "rb0"})
            twin.qmp.command("chardev-remove", {"id": "mem0"})


def test_device_add_offers_every_device_qemu_offers(pair: Pair) -> None:
    """device_add <Tab> offers QEMU's device types (and those of modules QEMU has not loaded)."""
    qemu, bridge = both(pair, "device_add virtio-n")
    assert bridge.output == qemu.output and bridge.line == qemu.line
    qemu, bridge = both(pair, "device_add usb-")
    assert set(candidates(qemu.output)) <= set(candidates(bridge.output))
    assert candidates(qemu.output)
