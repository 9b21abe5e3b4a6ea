"""QMP as QEMU's server side frames and checks it (pure: no I/O).

* :class:`JSONStreamSplitter` cuts a byte stream into JSON texts the way
  QEMU's JSON streamer does: by bracket balance, not by lines, so several
  messages in one line and one message over several lines both work.
* :func:`check_message` validates a parsed message with QEMU 7.2's error
  texts (``QMP input member 'foo' is unexpected``, ...).
* :func:`dumps` writes a message as QEMU does (``{"return": {}, "id": 1}``,
  upper-case ``\\uXXXX`` escapes), so clients see QEMU's bytes.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

__all__ = ["JSONStreamSplitter", "ParseFailure", "check_message", "dumps", "error_reply",
           "MAX_MESSAGE_SIZE", "MAX_NESTING", "nesting_limit", "ReplySplitter", "OversizedLine",
           "REPLY_TAIL", "Unencodable", "encode"]

#: Largest message accepted (QEMU allows 64 MiB tokens; the bridge keeps less in memory).
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: Deepest nesting accepted, as in QEMU (see :func:`nesting_limit`).
MAX_NESTING = 1024

_WS = b" \t\r\n"
_OPEN = b"{["
_CLOSE = b"}]"
_UESCAPE = re.compile(r"\\u([0-9a-f]{4})")


class ParseFailure:
    """A stretch of input QEMU would answer with a JSON parse error."""

    def __init__(self, desc: str) -> None:
        self.desc = desc

    def __repr__(self) -> str:
        return f"ParseFailure({self.desc!r})"


Piece = Union[Any, ParseFailure]


class JSONStreamSplitter:
    """Feed bytes, get complete JSON values (or :class:`ParseFailure`) out.

    :param max_size: the largest message, in bytes, before the input is
        refused with QEMU's ``JSON token size limit exceeded``.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE, max_nesting: int = MAX_NESTING) -> None:
        self.max_size = max_size
        self.max_nesting = min(max_nesting, nesting_limit())
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._string_start = 0
        self._skipping = False  # after a limit was hit: drop input up to the next line end

    def feed(self, data: bytes) -> List[Piece]:
        """Add ``data``; return every value completed by it, in order."""
        out: List[Piece] = []
        for byte in data:
            if self._skipping:
                if byte == 0x0A:
                    self._skipping = False
                continue
            if not self._buf and not self._in_string:
                if byte in _WS:
                    continue
                if byte in _CLOSE:
                    out.append(ParseFailure("JSON parse error, expecting value"))
                    continue
            self._buf.append(byte)
            if len(self._buf) > self.max_size:
                out.append(self._fail("JSON token size limit exceeded"))
                continue
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif byte == 0x5C:  # backslash
                    self._escape = True
                elif byte == 0x22:  # closing quote
                    self._in_string = False
                    if self._depth == 0:
                        out.append(self._take())
                elif byte < 0x20:
                    text = bytes(self._buf[self._string_start:]).decode("utf-8", "replace")
                    out.append(ParseFailure(f"JSON parse error, stray '{text}'"))
                    self._reset()
                continue
            if byte == 0x22:
                self._in_string = True
                self._string_start = len(self._buf) - 1
            elif byte in _OPEN:
                self._depth += 1
                if self._depth > self.max_nesting:
                    out.append(self._fail("JSON nesting depth limit exceeded"))
            elif byte in _CLOSE:
                if self._depth == 0:  # a close right after a bare scalar
                    del self._buf[-1]
                    out.append(self._take())
                    out.append(ParseFailure("JSON parse error, expecting value"))
                    continue
                self._depth -= 1
                if self._depth == 0:
                    out.append(self._take())
            elif self._depth == 0 and byte in _WS:
                out.append(self._take())  # a bare scalar ended
        return out

    def _take(self) -> Piece:
        text = bytes(self._buf)
        self._reset()
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            return ParseFailure("JSON parse error, stray '\\uFFFD'")
        try:
            return json.loads(decoded, parse_constant=_refuse_constant)
        except ValueError as err:
            return ParseFailure(f"JSON parse error, {_describe(err)}")
        except RecursionError:
            return ParseFailure("JSON nesting depth limit exceeded")

    def _fail(self, desc: str) -> ParseFailure:
        self._reset()
        self._skipping = True
        return ParseFailure(desc)

    def _reset(self) -> None:
        self._buf.clear()
        self._depth = 0
        self._in_string = False
        self._escape = False


def nesting_limit() -> int:
    """The deepest nesting Python can decode, forward and encode again.

    Python's JSON decoder and encoder recurse once per level, so a message
    nested nearly as deep as the interpreter's recursion limit would parse
    and then fail on its way on; such a message is refused as too deep,
    in QEMU's words, below QEMU's own limit.
    """
    return min(MAX_NESTING, sys.getrecursionlimit() // 2)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid keyword '{name}'")


def _describe(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        message = err.msg.lower()
        if message.startswith("expecting value"):
            return "expecting value"
        if "delimiter" in message or message.startswith("expecting"):
            return message
        return message
    return str(err)


def check_message(message: Any, oob_allowed: bool) -> Optional[str]:
    """QEMU's complaint about a parsed QMP message, or None if it is well formed."""
    if not isinstance(message, dict):
        return "QMP input must be a JSON object"
    for key, value in message.items():
        if key in ("execute", "exec-oob"):
            if key == "exec-oob" and not oob_allowed:
                return "QMP input member 'exec-oob' is unexpected"
            if not isinstance(value, str):
                return f"QMP input member '{key}' must be a string"
        elif key == "arguments":
            if not isinstance(value, dict):
                return "QMP input member 'arguments' must be an object"
        elif key != "id":
            return f"QMP input member '{key}' is unexpected"
    if "execute" in message and "exec-oob" in message:
        return "QMP input member 'execute' clashes with 'exec-oob'"
    if "execute" not in message and "exec-oob" not in message:
        return "QMP input lacks member 'execute'"
    return None


def error_reply(error_class: str, desc: str, message: Any = None) -> Dict[str, Any]:
    """An error reply as QEMU builds it: the request's ``id`` first, when it had one."""
    reply: Dict[str, Any] = {}
    if isinstance(message, dict) and "id" in message:
        reply["id"] = message["id"]
    reply["error"] = {"class": error_class, "desc": desc}
    return reply


def with_client_id(reply: Mapping[str, Any], request: Mapping[str, Any]) -> Dict[str, Any]:
    """QEMU's reply with the bridge's id swapped for the client's (or dropped)."""
    if "id" in request:
        return {key: (request["id"] if key == "id" else value) for key, value in reply.items()}
    return {key: value for key, value in reply.items() if key != "id"}


def dumps(message: Any) -> bytes:
    """``message`` as QEMU writes it, with its ``\\r\\n``."""
    text = json.dumps(message, ensure_ascii=True)
    return _UESCAPE.sub(lambda m: "\\u" + m.group(1).upper(), text).encode("ascii") + b"\r\n"


def split_id(message: Mapping[str, Any]) -> Tuple[Dict[str, Any], bool]:
    """The message without its ``id``, and whether it had one."""
    return {k: v for k, v in message.items() if k != "id"}, "id" in message


# -- the bridge's own side: QEMU's replies in, the bridge's commands out -------------

#: Bytes kept from the end of a reply too long to keep whole: QEMU writes a
#: reply's ``"id"`` last, so the end of the line names the command it answers.
REPLY_TAIL = 256


class OversizedLine:
    """A line longer than a :class:`ReplySplitter`'s limit, discarded as it came in.

    :ivar size: its length in bytes (without the line end).
    :ivar tail: its last :data:`REPLY_TAIL` bytes.
    """

    __slots__ = ("size", "tail")

    def __init__(self, size: int, tail: bytes) -> None:
        self.size = size
        self.tail = tail

    def __repr__(self) -> str:
        return f"OversizedLine({self.size}, {self.tail!r})"


class ReplySplitter:
    """Cut QEMU's output into lines, never holding more than ``limit`` bytes of one.

    A longer line comes out as an :class:`OversizedLine` once its end
    arrives; what was read of it is dropped as it streams in, but for its
    tail.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._size = 0          # the length of a line being discarded, else 0
        self._tail = b""

    def feed(self, data: bytes) -> List[Union[bytes, OversizedLine]]:
        """Add ``data``; return every line it completes (without its ``\\n``), in order."""
        out: List[Union[bytes, OversizedLine]] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            self._add(data[start:] if end < 0 else data[start:end])
            if end < 0:
                return out
            out.append(self._finish())
            start = end + 1

    def _add(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self._size and len(self._buf) + len(chunk) <= self.limit:
            self._buf += chunk
            return
        if not self._size:  # this chunk makes the line too long: from here on, count
            self._size = len(self._buf)
            self._tail = bytes(self._buf[-REPLY_TAIL:])
            self._buf = bytearray()
        self._size += len(chunk)
        self._tail = (self._tail + chunk[-REPLY_TAIL:])[-REPLY_TAIL:]

    def _finish(self) -> Union[bytes, OversizedLine]:
        if self._size:
            line: Union[bytes, OversizedLine] = OversizedLine(self._size, self._tail)
            self._size, self._tail = 0, b""
            return line
        data = bytes(self._buf)
        self._buf = bytearray()
        return data


class Unencodable(ValueError):
    """A message QMP cannot carry; ``str()`` says what it holds, in a phrase."""


#: Characters QEMU 7.2 refuses in a JSON string, escaped or not ("... is not a
#: valid Unicode character", "invalid UTF-8 sequence in string"): surrogates
#: (a session's undecodable bytes are lone ones) and noncharacters.
_NOT_UNICODE = re.compile("[\ud800-\udfff\ufdd0-\ufdef"
                          + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}"
                                    for plane in range(17))
                          + "]")
_encode_fast = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                                separators=(",", ":")).encode


def encode(message: Any) -> bytes:
    """``message`` as one line of JSON that QEMU parses to the same values.

    Text goes out as UTF-8.  A float beyond the finite range (a client's
    ``1e400``) is written ``1e999``, which QEMU reads back as the same
    infinity.

    :raises Unencodable: for text QEMU would refuse (a lone surrogate, a
        noncharacter) and for NaN, which JSON cannot write.
    :raises TypeError: for a value that is not JSON data at all.
    """
    try:
        text = _encode_fast(message)
    except ValueError:  # a float that is not finite
        text = _encode_numbers(message, 0)
    bad = _NOT_UNICODE.search(text)
    if bad is not None:
        raise Unencodable(describe_character(bad.group()))
    return text.encode("utf-8")


def describe_character(char: str) -> str:
    """A phrase for a character QMP cannot carry."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how surrogateescape keeps an undecodable byte
        return f"text that is not valid UTF-8 (byte \\x{code - 0xDC00:02x})"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    return f"the noncharacter U+{code:04X}"


def _encode_numbers(value: Any, depth: int) -> str:
    if depth > MAX_NESTING:
        raise ValueError("nesting too deep")
    if isinstance(value, float):
        if value != value:
            raise Unencodable("NaN, which JSON cannot write")
        if value in (float("inf"), float("-inf")):
            return "1e999" if value > 0 else "-1e999"
    if isinstance(value, dict):
        return "{" + ",".join(_encode_fast(key) + ":" + _encode_numbers(item, depth + 1)
                              for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode_numbers(item, depth + 1) for item in value) + "]"
    return _encode_fast(value)
