"""QEMU's monitor chardev kinds: what each sends at connect and keeps of the input.

A QEMU HMP monitor is reached through one of its socket chardevs, and each
hmpbridge listener is one of them (the framing that does the I/O is
:mod:`hmpbridge.channel`):

``telnet`` (``-monitor telnet:...,server=on``)
    QEMU's telnet negotiation at connect, telnet commands taken out of the
    input and none answered (the rules: :mod:`hmpbridge.telnet`).

``plain`` (``-monitor tcp:...,server=on``, ``-monitor unix:...,server=on``)
    Nothing at connect, every byte is data.

On both kinds the monitor's line editor (QEMU's readline) reads every data
byte from the first one, and writes ``\\r\\n`` line ends itself
(``monitor_puts``); the chardev adds nothing to the output.
"""

from __future__ import annotations

from hmpbridge.telnet import TELNET_INIT, TelnetInput

__all__ = ["TELNET", "PLAIN", "KINDS", "TELNET_INIT", "TelnetInput", "connect_bytes"]

TELNET = "telnet"
PLAIN = "plain"
#: The listener kinds, as QEMU's monitor chardevs.
KINDS = (TELNET, PLAIN)


def connect_bytes(kind: str) -> bytes:
    """What a chardev of ``kind`` writes at connect, before the monitor's banner."""
    if kind == TELNET:
        return TELNET_INIT
    if kind == PLAIN:
        return b""
    raise ValueError(f"unknown chardev kind {kind!r} (one of {', '.join(KINDS)})")
