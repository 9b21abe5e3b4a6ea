"""QMP as QEMU's server side frames and checks it (pure: no I/O).

* :class:`JSONStreamSplitter` cuts a byte stream into JSON texts the way
  QEMU's JSON streamer does: by bracket balance, not by lines, so several
  messages in one line and one message over several lines both work.
* :func:`check_message` validates a parsed message with QEMU 7.2's error
  texts (``QMP input member 'foo' is unexpected``, ...).
* :func:`dumps` writes a message as QEMU does (``{"return": {}, "id": 1}``,
  upper-case ``\\uXXXX`` escapes, floats as ``%.17g``), so clients see QEMU's bytes.

The bridge's own side of its QMP connection:

* :class:`ReplySplitter` cuts QEMU's output into lines, never holding more
  than a limit of one (a longer one becomes an :class:`OversizedLine`: its
  size, head and tail);
* :func:`encode` writes a command as text QEMU parses to the same values, or
  raises :class:`Unencodable` for what QMP cannot carry.
"""

from __future__ import annotations

import json
import re
import sys
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple,
                    Union)

from hmpbridge.qjson import LEGACY_WORDING, JSONWording, PositionedStream, positioned_text

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
#: a ``\uXXXX`` escape, not a ``\\`` (escaped backslash) followed by ``uXXXX``
_UESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9a-f]{4})")


class ParseFailure:
    """A stretch of input QEMU would answer with a JSON parse error."""

    def __init__(self, desc: str) -> None:
        self.desc = desc

    def __repr__(self) -> str:
        return f"ParseFailure({self.desc!r})"


Piece = Union[Any, ParseFailure]


class JSONStreamSplitter:
    """Feed bytes, get complete JSON values (or :class:`ParseFailure`) out.

    It lexes as QEMU 7.2's JSON lexer does: a byte no token may hold
    (``N`` of ``NaN``, ``+``, a byte above ASCII outside a string, a control
    character or ``\xfe``/``\xff`` inside one) is ``stray '<token>'`` at
    once, and everything up to the next bracket or control character is
    skipped, as QEMU's lexer recovers.  Strings are read as QEMU's parser
    reads them (:func:`decode_string`), single-quoted ones too; numbers keep
    QEMU's types (beyond 64 bits, a double).

    :param max_size: the largest message, in bytes, before the input is
        refused with QEMU's ``JSON token size limit exceeded``.
    :param wording: the words of the QEMU release served (``json_wording``):
        from 11.1 on, a parse error starts with the ``LINE:COLUMN`` of its
        token in the connection's bytes, as :class:`PositionedStream` counts
        them, and some words changed.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE, max_nesting: int = MAX_NESTING,
                 wording: JSONWording = LEGACY_WORDING) -> None:
        self.max_size = max_size
        self.max_nesting = min(max_nesting, nesting_limit())
        self._placer = _Placer(self) if wording.positioned else None
        self._buf = bytearray()
        self._depth = 0  # braces and brackets open
        self._braces = 0
        self._brackets = 0
        self._state = _START
        self._quote = 0
        self._escape = False
        self._token_start = 0
        self._spans: List[Tuple[int, int, int]] = []  # (kind, start, end) of strings, keywords
        self._long_numbers = False  # whether a number may be beyond 64 bits
        self._skipping = False  # after a limit was hit: drop input up to the next line end

    def feed(self, data: bytes) -> List[Piece]:
        """Add ``data``; return every value completed by it, in order."""
        if self._placer is None:
            return self._split(data)
        out = self._split(data)
        self._placer.follow(data, out)
        return out

    def pending(self) -> int:
        """Bytes of a message begun and not ended (the tail of what was fed), or -1
        when the reader is not plainly between or inside messages (skipping,
        recovering from a lexer error)."""
        if self._skipping or self._state == _RECOVERY:
            return -1
        return len(self._buf)

    def _split(self, data: bytes) -> List[Piece]:
        out: List[Piece] = []
        i, size = 0, len(data)
        while i < size:
            if self._skipping:
                end = data.find(b"\n", i)
                if end < 0:
                    return out
                self._skipping = False
                i = end + 1
                continue
            if self._state == _START:
                byte = data[i]
                if self._depth and byte in _SEPARATORS:  # inside a message: nothing to check
                    self._buf.append(byte)
                    i += 1
                    continue
                if byte in _BRACKETS:
                    self._bracket(byte, out)
                    i += 1
                    continue
                found = _WHOLE.match(data, i)
                if found is not None:
                    end = found.end()
                    first = data[i]
                    if first in _WS:  # blanks: kept inside a message, dropped between
                        if self._buf:
                            self._append_run(data[i:end], out)
                        i = end
                        continue
                    if end < size and data[end] not in _CONTINUES:  # a whole number or keyword
                        self._token_start = len(self._buf)
                        if self._append_run(data[i:end], out):
                            self._token_ended(first >= 0x61)
                            self._token_done(out)
                        i = end
                        continue
            run = None if self._escape else _RUNS.get(self._state)
            if run is not None:  # the plain bytes of a string or the digits of a number
                found = (run[self._quote] if self._state == _STRING else run).match(data, i)
                end = found.end() if found is not None else i
                if end > i:
                    self._append_run(data[i:end], out)
                    i = end
                    continue
            self._byte(data[i], out)
            i += 1
        return out

    def _byte(self, byte: int, out: List[Piece]) -> None:
        state = self._state
        if state == _RECOVERY:
            if byte < 0x20 and byte != 0x09 or byte in _BRACKETS or byte in _SEPARATORS \
                    or byte >= 0xFE:
                self._state = _START
                self._byte(byte, out)
            return
        if state == _STRING:
            self._append(byte, out)
            if self._skipping:
                return
            if byte < 0x20 or byte >= 0xFE:
                self._lexer_error(bytes(self._buf[self._token_start:]), out)
            elif self._escape:
                self._escape = False
            elif byte == 0x5C:
                self._escape = True
            elif byte == self._quote:
                self._state = _START
                self._spans.append((_STRING, self._token_start, len(self._buf)))
                self._token_done(out)
            return
        if state != _START:
            nxt = _NUMBER_STATES[state](byte) if state != _KEYWORD else (
                _KEYWORD if 0x61 <= byte <= 0x7A else _END)
            if nxt == _END:
                self._token_ended(state == _KEYWORD)
                self._state = _START
                self._token_done(out)
                self._byte(byte, out)  # the byte that ended the token starts the next
            elif nxt == _ERROR:
                self._buf.append(byte)
                self._lexer_error(bytes(self._buf[self._token_start:]), out)
            else:
                self._state = nxt
                self._append(byte, out)
            return
        if byte in _WS:
            if self._buf:
                self._buf.append(byte)
            return
        self._token_start = len(self._buf)
        if byte == 0x22 or byte == 0x27:
            self._state, self._quote, self._escape = _STRING, byte, False
            self._append(byte, out)
        elif byte in _FIRST:
            self._state = _FIRST[byte]
            self._append(byte, out)
        elif byte in _BRACKETS:
            self._bracket(byte, out)
        elif byte in _SEPARATORS:
            if self._depth == 0:
                out.append(ParseFailure("JSON parse error, expecting value"))
                return
            self._append(byte, out)
        else:
            self._lexer_error(bytes([byte]), out)

    def _bracket(self, byte: int, out: List[Piece]) -> None:
        """One of ``{}[]``.  As in QEMU's streamer, braces and brackets are counted apart:
        a message ends when both counts are back to zero, or when either goes below."""
        if byte in _CLOSE and self._depth == 0:
            out.append(ParseFailure("JSON parse error, expecting value"))
            return
        self._token_start = len(self._buf)
        self._append(byte, out)
        if self._skipping:
            return
        if byte == 0x7B:
            self._braces += 1
        elif byte == 0x5B:
            self._brackets += 1
        elif byte == 0x7D:
            self._braces -= 1
        else:
            self._brackets -= 1
        self._depth = self._braces + self._brackets
        if byte in _OPEN:
            if self._depth > self.max_nesting:
                out.append(self._fail("JSON nesting depth limit exceeded"))
        elif self._braces < 0 or self._brackets < 0 or self._depth == 0:
            out.append(self._take())

    def _append_run(self, run: bytes, out: List[Piece]) -> bool:
        """Add bytes to the message; False if that made it too long."""
        self._buf += run
        if len(self._buf) > self.max_size:
            out.append(self._fail("JSON token size limit exceeded"))
            return False
        return True

    def _token_ended(self, keyword: bool) -> None:
        """A number or keyword ended: keywords are checked, long integers converted later."""
        if keyword:
            if self._buf[self._token_start:] not in _KEYWORDS:  # checked again in _take
                self._spans.append((_KEYWORD, self._token_start, len(self._buf)))
        elif len(self._buf) - self._token_start > 18:
            self._long_numbers = True

    def _append(self, byte: int, out: List[Piece]) -> None:
        self._buf.append(byte)
        if len(self._buf) > self.max_size:
            out.append(self._fail("JSON token size limit exceeded"))

    def _token_done(self, out: List[Piece]) -> None:
        """A string, number or keyword ended: at the top level, it is a whole message."""
        if self._depth == 0:
            out.append(self._take())

    def _lexer_error(self, token: bytes, out: List[Piece]) -> None:
        out.append(ParseFailure(f"JSON parse error, stray '{token.decode('utf-8', 'replace')}'"))
        self._reset()
        self._state = _RECOVERY

    def _take(self) -> Piece:
        text, spans, long_numbers = bytes(self._buf), self._spans, self._long_numbers
        self._reset()
        pieces: List[str] = []
        problem: Optional[Tuple[int, str]] = None
        strings: List[str] = []
        done = 0
        for kind, start, end in spans:
            pieces.append(text[done:start].decode("ascii"))
            done = end
            token = text[start:end]
            if kind == _KEYWORD:
                word = token.decode("ascii")
                if word not in ("true", "false", "null") and problem is None:
                    problem = (sum(map(len, pieces)), f"invalid keyword '{word}'")
                    word = "null"
                pieces.append(word)
                continue
            value = decode_string(token)
            if isinstance(value, ParseFailure):
                if problem is None:
                    problem = (sum(map(len, pieces)), value.desc)
                value = ""
            strings.append(value)
            pieces.append(json.dumps(value))
        pieces.append(text[done:].decode("ascii"))
        normal = "".join(pieces)
        # a key can only repeat where some string does: only then is each object's
        # keys looked at (QEMU refuses a repeated key: "JSON parse error, duplicate key")
        pairs = _refuse_duplicates if len(set(strings)) < len(strings) else None
        try:
            value = json.loads(normal, parse_int=_qemu_int if long_numbers else None,
                               object_pairs_hook=pairs)
        except _DuplicateKey:
            if problem is not None:
                return ParseFailure(f"JSON parse error, {problem[1]}")
            return ParseFailure("JSON parse error, duplicate key")
        except ValueError as err:
            if problem is not None and not (isinstance(err, json.JSONDecodeError)
                                            and err.pos <= problem[0]):
                return ParseFailure(f"JSON parse error, {problem[1]}")
            return ParseFailure(f"JSON parse error, {_describe(err, normal)}")
        except RecursionError:
            return ParseFailure("JSON nesting depth limit exceeded")
        if problem is not None:
            return ParseFailure(f"JSON parse error, {problem[1]}")
        return value

    def _fail(self, desc: str) -> ParseFailure:
        self._reset()
        self._skipping = True
        return ParseFailure(desc)

    def _reset(self) -> None:
        self._buf.clear()
        self._spans = []
        self._long_numbers = False
        self._depth = 0  # braces and brackets open
        self._braces = 0
        self._brackets = 0
        self._state = _START
        self._escape = False


#: 10.x's words -> 11.1's, for an error that cannot be placed
_NEW_WORDS = {"premature EOI": "premature end of input",
              "missing : in object pair": "expecting ':'",
              "expected separator in dict": "expected ',' or '}'",
              "expected separator in list": "expected ',' or ']'",
              "key is not a string in object": "expecting key"}
_PREFIX = "JSON parse error, "
#: the byte before a message that leaves no lexer state behind it
_CLEAN_END = frozenset(b' \t\r\n}]"\'')


def reworded(desc: str) -> str:
    """10.x's ``desc`` in 11.1's words, without a position."""
    if desc.startswith(_PREFIX):
        rest = desc[len(_PREFIX):]
        return _PREFIX + _NEW_WORDS.get(rest, rest)
    return desc


class _Placer:
    """Places a :class:`JSONStreamSplitter`'s parse errors as QEMU 11.1 does.

    A :class:`PositionedStream` follows the connection's bytes.  While the
    input parses it is only told how many bytes went by (what is not part of
    an unfinished message; that stays here until it ends); when the splitter
    reports an error, the stream reads what it was not given yet and its
    errors, in order, replace the splitter's descriptions.  Should the two
    disagree on how many errors there were (a message too long for the
    bridge, which QEMU would read on), the splitter's errors are given 11.1's
    words without a position.
    """

    def __init__(self, splitter: "JSONStreamSplitter") -> None:
        self.splitter = splitter
        self.stream = PositionedStream(skip_line_after_limit=True,
                                       nesting_limit=splitter.max_nesting)
        self.raw = bytearray()

    def follow(self, data: bytes, out: List[Piece]) -> None:
        self.raw += data
        failures = [piece for piece in out if isinstance(piece, ParseFailure)]
        stream = self.stream
        if not failures and stream.idle():
            pending = self.splitter.pending()
            cut = len(self.raw) - pending
            if pending == 0:
                stream.skip(bytes(self.raw))
                self.raw.clear()
                return
            if pending > 0 and (cut == 0 or self.raw[cut - 1] in _CLEAN_END):
                if cut:
                    stream.skip(bytes(self.raw[:cut]))
                    del self.raw[:cut]
                return
        errors = [error for error in stream.feed(bytes(self.raw)) if error is not None]
        self.raw.clear()
        if not failures:
            return
        if len(errors) == len(failures) and not any(
                failure.desc == "JSON token size limit exceeded" for failure in failures):
            for failure, error in zip(failures, errors):
                failure.desc = positioned_text(error)
            return
        for failure in failures:
            failure.desc = reworded(failure.desc)
        if self.splitter._skipping:
            stream.skip_line()
        else:
            stream.skip(b"")


# Lexer states outside strings, after QEMU's json-lexer.c.
(_START, _STRING, _KEYWORD, _RECOVERY, _NEG, _ZERO, _NONZERO, _MANTISSA, _MANTISSA_DIGITS,
 _EXP_E, _EXP_SIGN, _EXP_DIGITS, _END, _ERROR) = range(14)
_FIRST = {0x2D: _NEG, 0x30: _ZERO, **{c: _NONZERO for c in range(0x31, 0x3A)},
          **{c: _KEYWORD for c in range(0x61, 0x7B)}}


#: a whole token that needs no check but its end: blanks, a number, a keyword
_WHOLE = re.compile(rb"[ \t\r\n]+|-?(?:0(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?)?"
                    rb"|[1-9][0-9]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|[a-z]+")
_SEPARATORS = frozenset(b",:")
_BRACKETS = frozenset(b"{}[]")
_KEYWORDS = (b"true", b"false", b"null")
#: bytes after such a number that the lexer would read on (or refuse)
_CONTINUES = frozenset(b".eE0123456789+-")
#: runs of bytes that change nothing but the token's length
_RUNS: Dict[int, Any] = {
    _STRING: {0x22: re.compile(rb'(?:[^\x00-\x1f"\\\xfe\xff]+|\\[\x20-\xfd])+'),
              0x27: re.compile(rb"(?:[^\x00-\x1f'\\\xfe\xff]+|\\[\x20-\xfd])+")},
    **{state: re.compile(rb"[0-9]+") for state in (_NONZERO, _MANTISSA_DIGITS, _EXP_DIGITS)},
}


class _DuplicateKey(ValueError):
    """An object names the same key twice."""


def _refuse_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        raise _DuplicateKey()
    return value


def _digit(byte: int) -> bool:
    return 0x30 <= byte <= 0x39


_NUMBER_STATES: Dict[int, Any] = {
    _NEG: lambda b: _ZERO if b == 0x30 else _NONZERO if _digit(b) else _ERROR,
    _ZERO: lambda b: _ERROR if _digit(b) else _MANTISSA if b == 0x2E else _END,
    _NONZERO: lambda b: (_NONZERO if _digit(b) else _MANTISSA if b == 0x2E
                         else _EXP_E if b in b"eE" else _END),
    _MANTISSA: lambda b: _MANTISSA_DIGITS if _digit(b) else _ERROR,
    _MANTISSA_DIGITS: lambda b: (_MANTISSA_DIGITS if _digit(b) else _EXP_E if b in b"eE"
                                 else _END),
    _EXP_E: lambda b: _EXP_SIGN if b in b"+-" else _EXP_DIGITS if _digit(b) else _ERROR,
    _EXP_SIGN: lambda b: _EXP_DIGITS if _digit(b) else _ERROR,
    _EXP_DIGITS: lambda b: _EXP_DIGITS if _digit(b) else _END,
}


def _qemu_int(text: str) -> Union[int, float]:
    """An integer as QEMU keeps it: 64 bits signed or unsigned, else a double."""
    if len(text) <= 20:
        value = int(text)
        if -(1 << 63) <= value < (1 << 64):
            return value
    return float(text)


_ESCAPES = {0x22: '"', 0x27: "'", 0x5C: "\\", 0x2F: "/", 0x62: "\b", 0x66: "\f",
            0x6E: "\n", 0x72: "\r", 0x74: "\t"}


def decode_string(token: bytes) -> Union[str, ParseFailure]:
    """A string token (quotes included) as QEMU 7.2's parser reads it, or its error.

    Escapes ``\\uXXXX`` that are not four hex digits, lone or reversed
    surrogates and noncharacters are ``\\uXXXX is not a valid Unicode
    character`` (naming the escape as written, up to six bytes of the
    token); raw bytes must be UTF-8 as QEMU reads it, which also takes the
    overlong ``\\xc0\\x80`` for U+0000 and refuses surrogates and
    noncharacters (``invalid UTF-8 sequence in string``).
    """
    out: List[str] = []
    i, end = 1, len(token) - 1
    while i < end:
        byte = token[i]
        if byte == 0x5C:
            esc = token[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            if esc != 0x75:
                return ParseFailure("invalid escape sequence in string")
            cp, stop = _hex4(token, i + 2), i + 6
            if 0xD800 <= cp <= 0xDBFF and token[stop:stop + 2] == b"\\u":
                trailing = _hex4(token, stop + 2)
                if 0xDC00 <= trailing <= 0xDFFF:
                    cp = 0x10000 + ((cp & 0x3FF) << 10) + (trailing & 0x3FF)
                    stop += 6
                else:
                    cp = -1
            if not _valid_codepoint(cp):
                written = token[i:stop].decode("utf-8", "replace")
                return ParseFailure(f"{written} is not a valid Unicode character")
            out.append(chr(cp))
            i = stop
            continue
        plain = _PLAIN.match(token, i, end)
        stop = plain.end() if plain is not None else i + 1
        try:  # the common case: UTF-8 Python and QEMU both take
            text = token[i:stop].decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and not _has_noncharacter(text):
            out.append(text)
            i = stop
            continue
        cp, i = _utf8_codepoint(token, i, end)
        if cp < 0:
            return ParseFailure("invalid UTF-8 sequence in string")
        out.append(chr(cp))
    return "".join(out)


_PLAIN = re.compile(rb"[^\\]+")
#: characters that may be surrogates or noncharacters (checked one by one)
_SUSPECT = re.compile("[\ud800-\udfff\ufdd0-\uffff\U0001fffe-\U0010ffff]")


def _suspects(text: str) -> Iterator[str]:
    """The surrogates and noncharacters in ``text``, in order."""
    if text.isascii():
        return
    for found in _SUSPECT.finditer(text):
        char = found.group()
        if not _valid_codepoint(ord(char)):
            yield char


def _has_noncharacter(text: str) -> bool:
    return next(_suspects(text), None) is not None


def _hex4(token: bytes, at: int) -> int:
    digits = token[at:at + 4]
    if len(digits) != 4 or any(chr(d) not in "0123456789abcdefABCDEF" for d in digits):
        return -1
    return int(digits, 16)


def _valid_codepoint(cp: int) -> bool:
    return (0 <= cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF
            and not 0xFDD0 <= cp <= 0xFDEF and cp & 0xFFFE != 0xFFFE)


def _utf8_codepoint(token: bytes, i: int, end: int) -> Tuple[int, int]:
    """The code point at ``token[i]`` as QEMU's ``mod_utf8_codepoint`` reads it
    (-1 if invalid), and where the next one starts."""
    lead = token[i]
    if lead < 0x80:
        return lead, i + 1
    if 0xC0 <= lead <= 0xDF:
        size, cp, least = 2, lead & 0x1F, 0x80
    elif 0xE0 <= lead <= 0xEF:
        size, cp, least = 3, lead & 0x0F, 0x800
    elif 0xF0 <= lead <= 0xF7:
        size, cp, least = 4, lead & 0x07, 0x10000
    else:
        return -1, i + 1
    if i + size > end:
        return -1, i + 1
    for byte in token[i + 1:i + size]:
        if byte & 0xC0 != 0x80:
            return -1, i + 1
        cp = cp << 6 | byte & 0x3F
    if cp < least:  # overlong: only U+0000 as C0 80 (modified UTF-8)
        return (0, i + size) if (lead, cp) == (0xC0, 0) else (-1, i + 1)
    return (cp if _valid_codepoint(cp) else -1), i + size


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


def _describe(err: ValueError, text: str) -> str:
    """QEMU's words for where Python's decoder stopped in ``text``."""
    if not isinstance(err, json.JSONDecodeError):
        return str(err)
    message = err.msg.lower()
    if message.startswith("expecting ':' delimiter"):
        return "missing : in object pair"
    if message.startswith("expecting ',' delimiter"):
        inside = _container(text, err.pos)
        return f"expected separator in {'dict' if inside == '{' else 'list'}"
    if message.startswith("expecting property name"):
        char = text[err.pos:err.pos + 1]
        if char in ("}", "]", ",", ":"):
            return "expecting value"
        if char in ("{", "["):  # QEMU reads the key as a value first: its error comes first
            try:
                _raw_decode(text, err.pos)
            except json.JSONDecodeError as inner:
                return _describe(inner, text)
        return "key is not a string in object"
    if message.startswith("expecting value"):
        return "expecting value"
    return message


_raw_decode = json.JSONDecoder().raw_decode
_STRING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _container(text: str, pos: int) -> str:
    """The bracket (``{`` or ``[``) open at ``pos`` of well-lexed JSON ``text``."""
    stack: List[str] = []
    for char in _STRING_TOKEN.sub("", text[:pos]):
        if char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else "["


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
    """``message`` as QEMU writes it, with its ``\\r\\n``.

    Floats are printed as QEMU prints them, ``%.17g``: a client's id ``0.1``
    comes back ``0.10000000000000001``, ``1.0`` as ``1``, ``1e400`` as
    ``inf`` (which is not JSON).
    """
    text = _dumps_any(message)
    if _FLOATISH.search(text) is None or _FLOATISH.search(_STRINGS.sub('""', text)) is None:
        # no float outside strings (a schema's names have digits and dots):
        # only the escapes need QEMU's case
        if "\\u" in text:
            text = _UESCAPE.sub(_upper_escape, text)
    else:
        text = _TOKENS.sub(_qemu_token, text)
    return text.encode("ascii") + b"\r\n"


_dumps_any = json.JSONEncoder(ensure_ascii=True).encode
#: something that may be a float in JSON text (or inside a string: then checked again)
_FLOATISH = re.compile(r"[0-9][.eE]|Infinity|NaN")
#: a JSON string, escapes and all
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: a string, or a number (Python's words for the floats that are not finite included)
_TOKENS = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")|(-?Infinity|NaN|-?[0-9][0-9.eE+-]*)')


def _upper_escape(found: "re.Match[str]") -> str:
    return found.group(1) + "\\u" + found.group(2).upper()


def _qemu_token(found: "re.Match[str]") -> str:
    string, number = found.groups()
    if string is not None:
        return _UESCAPE.sub(_upper_escape, string)
    if number.lstrip("-").isdigit():
        return number
    return "%.17g" % float(number)


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
    :ivar head: its first :data:`REPLY_TAIL` bytes (an event starts with its
        ``"timestamp"``).
    :ivar tail: its last :data:`REPLY_TAIL` bytes (a reply ends with its ``"id"``).
    """

    __slots__ = ("size", "head", "tail")

    def __init__(self, size: int, head: bytes, tail: bytes) -> None:
        self.size = size
        self.head = head
        self.tail = tail

    def __repr__(self) -> str:
        return f"OversizedLine({self.size}, {self.head!r}, {self.tail!r})"


class ReplySplitter:
    """Cut QEMU's output into lines, never holding more than ``limit`` bytes of one.

    A longer line comes out as an :class:`OversizedLine` once its end
    arrives; what was read of it is dropped as it streams in, but for its
    tail.

    Lines from the source given to :meth:`expect` (a reply many QEMUs send
    alike) are compared with what comes in as it streams, instead of being
    gathered: a line equal to one of them comes out as that very ``bytes``
    object, and a connection receiving it holds none of its bytes on the way
    (from the moment the source has it, should that be in the middle of the
    line).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._size = 0          # the length of a line being discarded, else 0
        self._head = b""
        self._tail = b""
        self._source: Optional[Callable[[], Sequence[bytes]]] = None
        # the expected lines the line so far begins, while there are some (None: gathering)
        self._matching: Optional[List[bytes]] = None
        self._matched = 0       # the length of the line so far, while matching
        self._parted: Set[int] = set()  # ids of the expected lines this line is not

    def expect(self, source: Optional[Callable[[], Sequence[bytes]]]) -> None:
        """Compare what comes with the lines ``source()`` gives, from now on (None: stop).

        Only a saving: every line comes out as it came, whatever the lines are.
        """
        self._source = source

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
        if self._matching is None and self._source is not None and not self._size:
            self._begin_matching()
        if self._matching is not None:
            still = [line for line in self._matching if line.startswith(chunk, self._matched)]
            if still:
                self._matching = still
                self._matched += len(chunk)
                return
            # it parts from every expected line here: gather it, from what they share
            self._parted.update(id(line) for line in self._matching)
            self._buf = bytearray(memoryview(self._matching[0])[:self._matched])
            self._matching = None
            self._matched = 0
        if not self._size and len(self._buf) + len(chunk) <= self.limit:
            self._buf += chunk
            return
        if not self._size:  # this chunk makes the line too long: from here on, count
            self._size = len(self._buf)
            self._head = bytes(self._buf[:REPLY_TAIL])
            self._tail = bytes(self._buf[-REPLY_TAIL:])
            self._buf = bytearray()
        if len(self._head) < REPLY_TAIL:
            self._head += chunk[:REPLY_TAIL - len(self._head)]
        self._size += len(chunk)
        self._tail = (self._tail + chunk[-REPLY_TAIL:])[-REPLY_TAIL:]

    def _begin_matching(self) -> None:
        """Compare from here on with the expected lines what was gathered so far begins."""
        assert self._source is not None
        so_far = len(self._buf)
        found = []
        for line in self._source():
            if id(line) in self._parted:
                continue
            if so_far <= len(line) <= self.limit and line.startswith(self._buf):
                found.append(line)
            else:
                self._parted.add(id(line))
        if found:
            self._matching = found
            self._matched = so_far
            self._buf = bytearray()

    def _finish(self) -> Union[bytes, OversizedLine]:
        line: Union[bytes, OversizedLine]
        if self._matching is not None:
            line = next((whole for whole in self._matching if len(whole) == self._matched),
                        None) or self._matching[0][:self._matched]
        elif self._size:
            line = OversizedLine(self._size, self._head, self._tail)
            self._size, self._head, self._tail = 0, b"", b""
        else:
            line = bytes(self._buf)
            self._buf = bytearray()
        self._matching = None
        self._matched = 0
        self._parted = set()
        return line


class Unencodable(ValueError):
    """A message QMP cannot carry; ``str()`` says what it holds, in a phrase."""


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
        text = _TOKENS.sub(_qemu_reads_alike, _encode_any(message))
    # QEMU 7.2 refuses surrogates (a session's undecodable bytes are lone ones)
    # and noncharacters in a string, escaped or not
    for bad in _suspects(text):
        raise Unencodable(describe_character(bad))
    return text.encode("utf-8")


def describe_character(char: str) -> str:
    """A phrase for a character QMP cannot carry."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how surrogateescape keeps an undecodable byte
        return f"text that is not valid UTF-8 (byte \\x{code - 0xDC00:02x})"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    return f"the noncharacter U+{code:04X}"


_encode_any = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _qemu_reads_alike(found: "re.Match[str]") -> str:
    """Python's words for the floats that are not finite, as numbers QEMU's ``strtod``
    reads back alike; NaN has none."""
    number = found.group(2)
    if number == "NaN":
        raise Unencodable("NaN, which JSON cannot write")
    if number in ("Infinity", "-Infinity"):
        return number.replace("Infinity", "1e999")
    return found.group()
