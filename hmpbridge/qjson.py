"""QEMU's JSON, both ways, as QEMU 7.2 writes and reads it.

:func:`to_json` is ``qobject_to_json()``: one line, ``", "`` between items and
``": "`` after a key.  :func:`to_pretty_json` is ``qobject_to_json_pretty(obj, true)`` (``qom-get``
prints it): 4-space indent, an empty object or array opens and closes on two
lines, non-ASCII and control characters as upper-case ``\\uXXXX``, floats
``%.17g``.

:func:`from_json` is ``qobject_from_json()`` (``qom-set -j`` reads it): QEMU's
lexer, streamer and parser, so a bad value fails with QEMU's message
(``JSON parse error, stray '"x'``).  It accepts what QEMU accepts, single-quoted
strings and ``\\'`` included.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

__all__ = ["to_json", "to_pretty_json", "from_json", "JSONError"]


# --- writer --------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t"}


#: Printable ASCII other than ``"`` and ``\\``: written as it is.
_PLAIN = re.compile(r'[ !#-\[\]-~]*\Z')


def _quoted(text: str) -> str:
    if _PLAIN.match(text):
        return '"' + text + '"'
    out = ['"']
    for ch in text:
        cp = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif cp > 0xFFFF:
            cp -= 0x10000
            out.append("\\u%04X\\u%04X" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
        elif cp < 0x20 or cp >= 0x7F:
            out.append("\\u%04X" % cp)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "%.17g" % value
    return _quoted(str(value))


def _write(value: Any, depth: int, out: List[str]) -> None:
    if isinstance(value, (dict, list)):
        is_dict = isinstance(value, dict)
        out.append("{" if is_dict else "[")
        items: Iterable[Tuple[Any, Any]] = (
            value.items() if isinstance(value, dict) else ((None, v) for v in value))
        first = True
        for key, item in items:
            out.append("\n" if first else ",\n")
            first = False
            out.append(" " * (4 * (depth + 1)))
            if is_dict:
                out.append(_quoted(str(key)) + ": ")
            _write(item, depth + 1, out)
        out.append("\n" + " " * (4 * depth) + ("}" if is_dict else "]"))
    else:
        out.append(_scalar(value))


def _write_compact(value: Any, out: List[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for number, (key, item) in enumerate(value.items()):
            out.append((", " if number else "") + _quoted(str(key)) + ": ")
            _write_compact(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for number, item in enumerate(value):
            out.append(", " if number else "")
            _write_compact(item, out)
        out.append("]")
    else:
        out.append(_scalar(value))


def to_json(value: Any) -> str:
    """``value`` as QEMU's one-line JSON writer prints it."""
    out: List[str] = []
    _write_compact(value, out)
    return "".join(out)


def to_pretty_json(value: Any) -> str:
    """``value`` as QEMU's pretty JSON writer prints it (no trailing newline)."""
    out: List[str] = []
    _write(value, 0, out)
    return "".join(out)


# --- reader --------------------------------------------------------------------------

class JSONError(ValueError):
    """QEMU refuses the JSON text; ``str()`` is its message."""


# Lexer states (json-lexer.c); tokens share the namespace.
(START, RECOVERY, DQ, DQ_ESC, SQ, SQ_ESC, ZERO, EXP_DIGITS, EXP_SIGN, EXP_E,
 MANTISSA, MANTISSA_DIGITS, DIGITS, SIGN, KEYWORD) = range(15)
(T_ERROR, T_LCURLY, T_RCURLY, T_LSQUARE, T_RSQUARE, T_COLON, T_COMMA,
 T_INTEGER, T_FLOAT, T_KEYWORD, T_STRING) = range(100, 111)


def _bytes(*spans: str) -> List[int]:
    """Byte values of single characters or ``a-z`` style spans."""
    out: List[int] = []
    for span in spans:
        lo, hi = (span[0], span[-1]) if len(span) == 3 else (span, span)
        out.extend(range(ord(lo), ord(hi) + 1))
    return out


def _table() -> List[List[Tuple[int, bool]]]:
    """json-lexer.c's transition table: state -> byte -> (next, lookahead)."""
    table = [[(T_ERROR, False)] * 256 for _ in range(15)]

    def put(state: int, chars: List[int], new: int, lookahead: bool = False) -> None:
        for ch in chars:
            table[state][ch] = (new, lookahead)

    digits, ee = _bytes("0-9"), _bytes("e", "E")
    # After an error: skip to a structural or control character (not tab).
    put(RECOVERY, list(range(0x20)) + [0xFE, 0xFF] + _bytes("[", "]", "{", "}", ":", ","),
        START, True)
    put(RECOVERY, list(range(0x20, 0xFE)) + [0x09], RECOVERY)
    for plain, esc, quote in ((DQ, DQ_ESC, '"'), (SQ, SQ_ESC, "'")):
        put(esc, list(range(0x20, 0xFE)), plain)
        put(plain, list(range(0x20, 0xFE)), plain)
        put(plain, _bytes("\\"), esc)
        put(plain, _bytes(quote), T_STRING)
    for state, token in ((ZERO, T_INTEGER), (DIGITS, T_INTEGER), (KEYWORD, T_KEYWORD),
                         (EXP_DIGITS, T_FLOAT), (MANTISSA_DIGITS, T_FLOAT)):
        put(state, list(range(256)), token, True)  # TERMINAL(token)
    put(ZERO, digits, T_ERROR)
    put(ZERO, _bytes("."), MANTISSA)
    put(EXP_DIGITS, digits, EXP_DIGITS)
    put(EXP_SIGN, digits, EXP_DIGITS)
    put(EXP_E, _bytes("-", "+"), EXP_SIGN)
    put(EXP_E, digits, EXP_DIGITS)
    put(MANTISSA_DIGITS, digits, MANTISSA_DIGITS)
    put(MANTISSA_DIGITS, ee, EXP_E)
    put(MANTISSA, digits, MANTISSA_DIGITS)
    put(DIGITS, digits, DIGITS)
    put(DIGITS, ee, EXP_E)
    put(DIGITS, _bytes("."), MANTISSA)
    put(SIGN, _bytes("0"), ZERO)
    put(SIGN, _bytes("1-9"), DIGITS)
    put(KEYWORD, _bytes("a-z"), KEYWORD)
    put(START, _bytes('"'), DQ)
    put(START, _bytes("'"), SQ)
    put(START, _bytes("0"), ZERO)
    put(START, _bytes("1-9"), DIGITS)
    put(START, _bytes("-"), SIGN)
    for ch, token in zip("{}[]:,", (T_LCURLY, T_RCURLY, T_LSQUARE, T_RSQUARE, T_COLON,
                                    T_COMMA)):
        put(START, _bytes(ch), token)
    put(START, _bytes("a-z"), KEYWORD)
    put(START, [0x20, 0x09, 0x0D, 0x0A], START)
    return table


_LEXER = _table()


Token = Tuple[int, bytes]


def _lex(data: bytes) -> List[Token]:
    """Tokens of ``data``, flush included; errors are ``T_ERROR`` tokens."""
    tokens: List[Token] = []
    state, buf = START, bytearray()
    for pos in range(len(data) + 1):
        flush = pos == len(data)
        ch = 0 if flush else data[pos]
        consumed = False
        while (state != START) if flush else not consumed:
            new, lookahead = _LEXER[state][ch]
            consumed = not flush and not lookahead
            if consumed:
                buf.append(ch)
            if new >= T_ERROR:
                tokens.append((new, bytes(buf)))
                buf.clear()
                new = RECOVERY if new == T_ERROR else START
            elif new in (START, RECOVERY):
                buf.clear()
            state = new
    return tokens


class _Parser:
    """json-parser.c over one complete value's tokens; the first error wins."""

    def __init__(self, tokens: List[Token]) -> None:
        self.tokens = tokens
        self.err: Optional[str] = None

    def error(self, msg: str) -> None:
        if self.err is None:
            self.err = "JSON parse error, " + msg

    def peek(self) -> Optional[Token]:
        return self.tokens[0] if self.tokens else None

    def pop(self) -> Optional[Token]:
        return self.tokens.pop(0) if self.tokens else None

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            self.error("premature EOI")
            return _FAIL
        kind = tok[0]
        if kind == T_LCURLY:
            return self.container(T_RCURLY)
        if kind == T_LSQUARE:
            return self.container(T_RSQUARE)
        if kind in (T_INTEGER, T_FLOAT, T_STRING, T_KEYWORD):
            self.pop()
            return self.literal(tok)
        self.error("expecting value")
        return _FAIL

    def container(self, close: int) -> Any:
        is_dict = close == T_RCURLY
        self.pop()
        result: Any = {} if is_dict else []
        peek = self.peek()
        if peek is None:
            self.error("premature EOI")
            return _FAIL
        if peek[0] == close:
            self.pop()
            return result
        while True:
            if is_dict:
                if not self.pair(result):
                    return _FAIL
            else:
                item = self.value()
                if item is _FAIL:
                    self.error("expecting value")
                    return _FAIL
                result.append(item)
            tok = self.pop()
            if tok is None:
                self.error("premature EOI")
                return _FAIL
            if tok[0] == close:
                return result
            if tok[0] != T_COMMA:
                self.error("expected separator in " + ("dict" if is_dict else "list"))
                return _FAIL

    def pair(self, result: Dict[str, Any]) -> bool:
        if self.peek() is None:
            self.error("premature EOI")
            return False
        key = self.value()
        if not isinstance(key, str):
            self.error("key is not a string in object")
            return False
        tok = self.pop()
        if tok is None:
            self.error("premature EOI")
            return False
        if tok[0] != T_COLON:
            self.error("missing : in object pair")
            return False
        value = self.value()
        if value is _FAIL:
            self.error("Missing value in dict")
            return False
        if key in result:
            self.error("duplicate key")
            return False
        result[key] = value
        return True

    def literal(self, tok: Token) -> Any:
        kind, text = tok
        if kind == T_KEYWORD:
            word = {b"true": True, b"false": False, b"null": None}
            if text in word:
                return word[text]
            self.error("invalid keyword '%s'" % text.decode("utf-8", "replace"))
            return _FAIL
        if kind == T_STRING:
            return self.string(text)
        if kind == T_INTEGER:
            number = int(text)
            if -(1 << 63) <= number < (1 << 64):
                return number
        return float(text)

    def string(self, text: bytes) -> Any:
        out: List[str] = []
        quote, pos = text[0], 1
        while text[pos] != quote:
            if text[pos] == 0x5C:  # backslash
                beg = pos
                esc = chr(text[pos + 1])
                pos += 2
                if esc in _SIMPLE_ESCAPES:
                    out.append(_SIMPLE_ESCAPES[esc])
                    continue
                if esc != "u":
                    self.error("invalid escape sequence in string")
                    return _FAIL
                cp = _hex4(text[pos:pos + 4])
                pos += 4
                if 0xD800 <= cp <= 0xDBFF and text[pos:pos + 2] == b"\\u":
                    trailing = _hex4(text[pos + 2:pos + 6])
                    if 0xDC00 <= trailing <= 0xDFFF:
                        cp = 0x10000 + ((cp & 0x3FF) << 10) | (trailing & 0x3FF)
                        pos += 6
                    else:
                        cp = -1
                if not _valid_codepoint(cp):
                    self.error("%s is not a valid Unicode character"
                               % text[beg:pos].decode("utf-8", "replace"))
                    return _FAIL
                out.append(chr(cp))
                continue
            cp, pos = _utf8_codepoint(text, pos)
            if cp < 0:
                self.error("invalid UTF-8 sequence in string")
                return _FAIL
            out.append(chr(cp))
        return "".join(out)


_FAIL = object()
_SIMPLE_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t"}


def _hex4(chunk: bytes) -> int:
    digits = chunk.decode("latin-1")
    if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        return -1
    return int(digits, 16)


def _valid_codepoint(cp: int) -> bool:
    if cp < 0 or cp > 0x10FFFF:
        return False
    if 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
        return False
    return not 0xD800 <= cp <= 0xDFFF


def _utf8_codepoint(data: bytes, pos: int) -> Tuple[int, int]:
    """``mod_utf8_codepoint()``: one (modified) UTF-8 character at ``pos``."""
    byte = data[pos]
    pos += 1
    if byte < 0x80:
        return byte, pos
    if byte >= 0xFE or not byte & 0x40:
        return -1, pos
    length, mask = 0, 0x80
    while byte & mask:
        length += 1
        mask >>= 1
    cp = byte & (mask - 1)
    for _ in range(1, length):
        nxt = data[pos] if pos < len(data) else 0
        if nxt & 0xC0 != 0x80:
            return -1, pos
        pos += 1
        cp = (cp << 6) | (nxt & 0x3F)
    min_cp = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)[length - 2]
    if not _valid_codepoint(cp) or (cp < min_cp and not (cp == 0 and length == 2)):
        return -1, pos
    return cp, pos


def from_json(text: str) -> Any:
    """Parse ``text`` as ``qobject_from_json()`` does.

    :raises JSONError: with QEMU's message (``JSON parse error, ...``,
        ``Expecting at most one JSON value``, ``Expecting a JSON value``).
    """
    results: List[Any] = []
    error: Optional[str] = None

    def consume(value: Any, err: Optional[str]) -> None:
        nonlocal error
        if results:
            results.clear()
            error = "Expecting at most one JSON value"
        if error is not None:
            return
        if err is not None:
            error = err
        else:
            results.append(value)

    pending: List[Token] = []
    braces = brackets = 0
    for kind, body in _lex(text.encode("utf-8", "surrogateescape")):
        if kind == T_ERROR:
            pending, braces, brackets = [], 0, 0
            consume(None, "JSON parse error, stray '%s'" % body.decode("utf-8", "replace"))
            continue
        braces += {T_LCURLY: 1, T_RCURLY: -1}.get(kind, 0)
        brackets += {T_LSQUARE: 1, T_RSQUARE: -1}.get(kind, 0)
        pending.append((kind, body))
        if (braces > 0 or brackets > 0) and braces >= 0 and brackets >= 0:
            continue
        _emit(pending, consume)
        pending, braces, brackets = [], 0, 0
    if pending:
        _emit(pending, consume)
    if error is not None:
        raise JSONError(error)
    if not results:
        raise JSONError("Expecting a JSON value")
    return results[0]


def _emit(tokens: List[Token], consume: Any) -> None:
    parser = _Parser(list(tokens))
    value = parser.value()
    if parser.err is not None or value is _FAIL:
        consume(None, parser.err or "JSON parse error, expecting value")
    else:
        consume(value, None)
