"""QEMU's telnet chardev, as pure byte rules: what it sends at connect, what it keeps of the input.

QEMU's ``-monitor telnet:HOST:PORT,server=on`` (``chardev/char-socket.c``):

* At connect it writes :data:`TELNET_INIT`, twelve bytes: ``IAC WILL ECHO``,
  ``IAC WILL SUPPRESS-GO-AHEAD``, ``IAC WILL BINARY``, ``IAC DO BINARY``
  (``tcp_chr_telnet_init``), and only then connects the monitor, which writes
  its banner and prompt.
* It never answers anything the client sends: not ``IAC DO``/``DONT``/
  ``WILL``/``WONT`` of any option, not ``IAC AYT``, not a subnegotiation.
* It writes the monitor's output as it is (a 0xff the monitor prints is not
  doubled; line ends are the monitor's ``\\r\\n``).
* It takes telnet commands out of the input with ``tcp_chr_process_IAC_bytes``
  (the same in QEMU 7.2 and 11.0's sources, for a telnet chardev that is not
  tn3270), one state per chardev that lasts across reads
  (:func:`strip_telnet_bytewise` is that function transcribed):

  - a byte other than IAC (0xff) is data;
  - ``IAC IAC`` is one data byte 0xff;
  - ``IAC BREAK`` (0xf3) is two bytes, and a break event the monitor ignores;
  - ``IAC`` and any other byte take the byte after them too, whatever it is:
    ``IAC WILL ECHO``, ``IAC NOP x`` and ``IAC SE x`` are all three bytes
    (``x`` is lost, an IAC included);
  - ``IAC SB`` is no subnegotiation: its payload is data, up to the ``IAC SE``
    that ends it, which takes the byte after it
    (``IAC SB 24 0 xterm IAC SE zab`` leaves ``\\0xtermab``).

Measured on QEMU 7.2.22, 10.0.2 and 11.1.3 (``tests/fixtures/chardev/``,
recorded by its ``capture.py``): the same bytes on all three.

One difference is kept on purpose: QEMU's telnet state belongs to the
chardev, so a client that leaves half-way through a command (after an IAC)
costs the next client its first byte; each hmpbridge connection starts from
the data state.
"""

from __future__ import annotations

import re
from typing import Tuple

__all__ = ["TELNET_INIT", "TelnetInput", "strip_telnet_bytewise"]

IAC = 0xFF
BREAK = 0xF3

#: What QEMU's telnet chardev writes at connect, before the monitor's banner.
TELNET_INIT = bytes((IAC, 0xFB, 0x01,   # WILL ECHO
                     IAC, 0xFB, 0x03,   # WILL SUPPRESS-GO-AHEAD
                     IAC, 0xFB, 0x00,   # WILL BINARY
                     IAC, 0xFD, 0x00))  # DO BINARY

# QEMU's do_telnetopt: 1 data, 2 after an IAC, 3 the byte after a command
_DATA, _AFTER_IAC, _SKIP = 1, 2, 3

#: Every whole token of the input: data, or a whole telnet command.
#: (possessive: the tokens never overlap, and without it the regular
#: expression engine takes 30 ms for 64 KiB of commands instead of 2)
_WHOLE = re.compile(rb"(?:[^\xff]+|\xff(?:[\xff\xf3]|[\s\S]{2}))*+")
#: A telnet command: IAC IAC keeps one 0xff (group 1), every other is dropped.
#: (``split`` keeps the groups; a ``\1`` template would cost a Python call per command)
_COMMAND = re.compile(rb"\xff(?:(\xff)|\xf3|[\s\S]{2})")


class TelnetInput:
    """The data bytes of a telnet client's input, as QEMU's telnet chardev keeps them.

    :meth:`feed` takes one read and returns its data; a telnet command split
    across reads is taken out all the same.  Runs of data and of commands are
    handled by regular expressions (no Python step per byte or per command):
    4 KiB of commands cost about a millisecond.
    """

    def __init__(self) -> None:
        self._state = _DATA

    @property
    def pending(self) -> bool:
        """Whether a telnet command began and is not finished yet."""
        return self._state != _DATA

    def feed(self, data: bytes) -> bytes:
        """The data in ``data``, telnet commands taken out."""
        start = 0
        kept = b""
        if self._state == _AFTER_IAC and data:
            byte = data[0]
            start = 1
            if byte == IAC:
                kept = b"\xff"
                self._state = _DATA
            elif byte == BREAK:
                self._state = _DATA
            else:
                self._state = _SKIP
        if self._state == _SKIP and start < len(data):
            start += 1
            self._state = _DATA
        if start >= len(data):
            return kept
        whole = _WHOLE.match(data, start)
        end = whole.end() if whole is not None else start
        tail = len(data) - end  # 0, or an IAC (and the command byte) still open
        if tail:
            self._state = _AFTER_IAC if tail == 1 else _SKIP
        body = data[start:end]
        if b"\xff" in body:
            body = b"".join(filter(None, _COMMAND.split(body)))
        return kept + body if kept else body


def strip_telnet_bytewise(data: bytes, state: int = _DATA) -> Tuple[bytes, int]:
    """QEMU's ``tcp_chr_process_IAC_bytes`` transcribed byte for byte: (data, state after).

    The model :class:`TelnetInput` is checked against; ``state`` is QEMU's
    ``do_telnetopt`` (1 data, 2 after an IAC, 3 skipping the byte after a command).
    """
    out = bytearray()
    for byte in data:
        if state > 1:
            if byte == IAC and state == 2:
                out.append(byte)
                state = 1
            else:
                if byte == BREAK and state == 2:
                    state += 1  # a break event: ignored by the monitor
                state += 1
            if state >= 4:
                state = 1
        elif byte == IAC:
            state = 2
        else:
            out.append(byte)
    return bytes(out), state
