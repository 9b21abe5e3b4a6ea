"""Text of small commands: ``ringbuf_read``'s escaped data."""

from __future__ import annotations

__all__ = ["ringbuf_text"]


def ringbuf_text(data: bytes) -> str:
    """The line ``ringbuf_read`` prints for the bytes read.

    QEMU prints the bytes up to the first NUL, a backslash doubled, control
    bytes other than newline and tab (and DEL) as ``\\uXXXX``, every other
    byte as it is, then a newline.  Bytes that are not UTF-8 come back as
    surrogate escapes, which the session writes out as the bytes they were.
    """
    out = bytearray()
    for byte in data.split(b"\0", 1)[0]:
        if byte == 0x5C:
            out += b"\\\\"
        elif (byte < 0x20 and byte not in (0x0A, 0x09)) or byte == 0x7F:
            out += b"\\u%04X" % byte
        else:
            out.append(byte)
    return out.decode("utf-8", "surrogateescape") + "\n"
