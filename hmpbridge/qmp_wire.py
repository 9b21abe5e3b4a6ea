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
           "MAX_MESSAGE_SIZE", "MAX_NESTING", "nesting_limit"]

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
