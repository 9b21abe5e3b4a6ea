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
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

__all__ = ["to_json", "to_pretty_json", "from_json", "JSONError", "JSONWording", "json_wording",
           "LEGACY_WORDING", "POSITIONED_WORDING", "PositionedStream", "positioned_text"]


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
    put(RECOVERY, list(range(0x20, 0xFE)), RECOVERY)
    put(RECOVERY, list(range(0x20)) + [0xFE, 0xFF] + _bytes("[", "]", "{", "}", ":", ","),
        START, True)
    put(RECOVERY, [0x09], RECOVERY)
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


def from_json(text: str, wording: Optional["JSONWording"] = None) -> Any:
    """Parse ``text`` as ``qobject_from_json()`` does.

    :param wording: the release's words for errors (:func:`json_wording`);
        10.x's by default.
    :raises JSONError: with QEMU's message (``JSON parse error, ...``,
        ``Expecting at most one JSON value``, ``Expecting a JSON value``).
    """
    if wording is not None and wording.positioned:
        _check_positioned(text)
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
        if braces + brackets > NESTING_LIMIT:
            pending, braces, brackets = [], 0, 0
            consume(None, "JSON nesting depth limit exceeded")
            continue
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


def _check_positioned(text: str) -> None:
    """Raise QEMU 11.1's error for ``text``, if it has one (see :class:`PositionedStream`)."""
    stream = PositionedStream()
    data = text.encode("utf-8", "surrogateescape")
    values = 0
    for outcome in stream.feed(data) + stream.flush():
        if values:
            raise JSONError("Expecting at most one JSON value")
        if outcome is not None:
            raise JSONError(positioned_text(outcome))
        values += 1


def _emit(tokens: List[Token], consume: Any) -> None:
    parser = _Parser(list(tokens))
    value = parser.value()
    if parser.err is not None or value is _FAIL:
        consume(None, parser.err or "JSON parse error, expecting value")
    else:
        consume(value, None)


# --- error wording by release ----------------------------------------------------------

class JSONWording:
    """How a QEMU release words its JSON parser's errors.

    Up to 11.0 an error is ``JSON parse error, <what>`` (``premature EOI``,
    ``missing : in object pair`` ...).  From 11.1 on it starts with the
    ``LINE:COLUMN: `` of the token at fault, counted in the whole text or
    connection (both from 1, columns in bytes), and some words changed
    (``premature end of input``, ``expecting ':'``, ``expected ',' or '}'``,
    ``expecting key``).  Limits (``JSON nesting depth limit exceeded``) carry no
    position in either.

    :ivar positioned: whether errors carry 11.1's position and words.
    """

    __slots__ = ("positioned",)

    def __init__(self, positioned: bool) -> None:
        self.positioned = positioned

    def __repr__(self) -> str:
        return f"JSONWording(positioned={self.positioned})"


#: QEMU up to 11.0.
LEGACY_WORDING = JSONWording(False)
#: QEMU 11.1 and later.
POSITIONED_WORDING = JSONWording(True)

#: The first release whose JSON errors carry a position (11.0 is not measured).
POSITIONED_SINCE = (11, 1)


def json_wording(release: Tuple[int, ...]) -> JSONWording:
    """The wording of QEMU release ``release`` (``(major, minor[, micro])``)."""
    return POSITIONED_WORDING if tuple(release[:2]) >= POSITIONED_SINCE else LEGACY_WORDING


#: A parse error as QEMU 11.1 reports it: (line, column, message), or no position.
Positioned = Tuple[Optional[int], Optional[int], str]


def positioned_text(error: Positioned) -> str:
    """``"2:6: JSON parse error, expecting value"``."""
    line, column, message = error
    return message if line is None else f"{line}:{column}: {message}"


T_END = 111  # end of input (a flush)
#: QEMU's limit on braces and brackets open at once.
NESTING_LIMIT = 1024
_OPENING = {T_LCURLY: T_RCURLY, T_LSQUARE: T_RSQUARE}

PosToken = Tuple[int, bytes, int, int]  # kind, text, line, column


class PositionedStream:
    """QEMU 11.1's JSON lexer and streamer over a byte stream, for its errors.

    The lexer is json-lexer.c's (the table of :func:`_table`); each token is
    placed where QEMU 11.1 places it: one past the column of the character
    that last emptied the lexer's token buffer.  That is the token's first
    byte, except right after a number, a keyword or a lexer error, which end
    on the character after them: a token that starts on that character is
    placed one column further (``[1:]`` puts the ``:`` at column 4).  A
    newline starts line + 1 at column 0 before it is read; a tab, a carriage
    return and each byte of a multi-byte character count one column.

    Messages end where 7.2's streamer ends them (braces and brackets counted
    apart); each message's first error (:class:`_PositionedParser`) is
    reported when it ends, or at :meth:`flush`.

    :param skip_line_after_limit: after a nesting error, drop input up to the
        next line end (as the bridge's QMP reader does), rather than read on.
    """

    def __init__(self, skip_line_after_limit: bool = False,
                 nesting_limit: int = NESTING_LIMIT) -> None:
        self.skip_line_after_limit = skip_line_after_limit
        self.nesting_limit = nesting_limit
        self.line = 1
        self.x = 0
        self.start = (1, 1)
        self._state = START
        self._token = bytearray()
        self._tokens: List[PosToken] = []
        self._braces = 0
        self._brackets = 0
        self._skipping = False

    def skip(self, data: bytes) -> None:
        """Count ``data`` as read by a streamer left with nothing pending after it."""
        newlines = data.count(b"\n")
        if newlines:
            self.line += newlines
            self.x = len(data) - data.rfind(b"\n") - 1
        else:
            self.x += len(data)
        self.start = (self.line, self.x + 1)
        self._state = START
        self._token.clear()
        self._tokens = []
        self._braces = self._brackets = 0
        self._skipping = False

    def idle(self) -> bool:
        """Whether nothing is pending: no token, no message, no line being skipped."""
        return (self._state == START and not self._tokens and not self._token
                and not self._skipping)

    def skip_line(self) -> None:
        """Drop what is pending and the input up to the next line end."""
        self._state = START
        self._token.clear()
        self._reset()
        self._skipping = True

    def feed(self, data: bytes) -> List[Optional[Positioned]]:
        """Read ``data``; each message it ends, in order: None if it parses, else its error."""
        out: List[Optional[Positioned]] = []
        for byte in data:
            self._char(byte, False, out)
        return out

    def flush(self) -> List[Optional[Positioned]]:
        """The end of the text (``qobject_from_json``'s flush)."""
        out: List[Optional[Positioned]] = []
        self._char(0, True, out)
        if self._tokens:
            self._tokens.append((T_END, b"", self.start[0], self.start[1]))
            out.append(self._parse())
        return out

    def _char(self, byte: int, flush: bool, out: List[Optional[Positioned]]) -> None:
        self.x += 1
        if byte == 0x0A and not flush:
            self.x = 0
            self.line += 1
        if self._skipping:
            if byte == 0x0A:
                self._skipping = False
                self.start = (self.line, self.x + 1)
            return
        consumed = False
        while (self._state != START) if flush else not consumed:
            new, lookahead = _LEXER[self._state][byte]
            consumed = not flush and not lookahead
            if consumed:
                self._token.append(byte)
            if new >= T_ERROR:
                self._token_out(new, bytes(self._token), out)
                self._token.clear()
                self.start = (self.line, self.x + 1)
                new = RECOVERY if new == T_ERROR else START
            elif new in (START, RECOVERY):
                self._token.clear()
                self.start = (self.line, self.x + 1)
            self._state = new
            if self._skipping:
                self._state = START
                self._token.clear()
                return

    def _token_out(self, kind: int, text: bytes, out: List[Optional[Positioned]]) -> None:
        line, column = self.start
        if kind == T_ERROR:
            self._reset()
            out.append((line, column, "JSON parse error, stray '%s'"
                        % text.decode("utf-8", "replace")))
            return
        if kind == T_LCURLY:
            self._braces += 1
        elif kind == T_RCURLY:
            self._braces -= 1
        elif kind == T_LSQUARE:
            self._brackets += 1
        elif kind == T_RSQUARE:
            self._brackets -= 1
        if self._braces + self._brackets > self.nesting_limit:
            self._reset()
            out.append((None, None, "JSON nesting depth limit exceeded"))
            if self.skip_line_after_limit:
                self._skipping = True
            return
        self._tokens.append((kind, text, line, column))
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 \
                and self._brackets >= 0:
            return
        out.append(self._parse())

    def _parse(self) -> Optional[Positioned]:
        tokens = self._tokens
        self._reset()
        return _PositionedParser(tokens).error()

    def _reset(self) -> None:
        self._tokens = []
        self._braces = self._brackets = 0


class _PositionedParser:
    """QEMU 11.1's parser over one message's tokens: its first error, or None.

    It checks each token as it comes: where a key must be, anything but a
    string is ``expecting key``; after a key, ``expecting ':'``; after a
    member or an element, ``expected ',' or '}'`` (``']'``); where a value
    must be, ``expecting value``; the end of the text anywhere inside is
    ``premature end of input``.  A string's, a keyword's and a duplicate
    key's errors are placed at that token (a duplicate key at its value).
    """

    def __init__(self, tokens: List[PosToken]) -> None:
        self.tokens = tokens
        self.pos = 0

    def error(self) -> Optional[Positioned]:
        try:
            self.value()
        except _Fault as fault:
            return fault.error
        return None

    def take(self) -> PosToken:
        tok = self.tokens[self.pos] if self.pos < len(self.tokens) else (
            T_END, b"", self.tokens[-1][2], self.tokens[-1][3])
        self.pos += 1
        if tok[0] == T_END:
            raise _Fault(tok, "premature end of input")
        return tok

    def value(self) -> Any:
        tok = self.take()
        kind = tok[0]
        if kind == T_LCURLY:
            return self.members()
        if kind == T_LSQUARE:
            return self.elements()
        if kind == T_STRING:
            return self.string(tok)
        if kind == T_KEYWORD:
            if tok[1] not in (b"true", b"false", b"null"):
                raise _Fault(tok, "invalid keyword '%s'" % tok[1].decode("utf-8", "replace"))
            return None
        if kind in (T_INTEGER, T_FLOAT):
            return None
        raise _Fault(tok, "expecting value")

    def members(self) -> Any:
        keys: Set[str] = set()
        tok = self.take()
        if tok[0] == T_RCURLY:
            return None
        while True:
            if tok[0] != T_STRING:
                raise _Fault(tok, "expecting key")
            key = self.string(tok)
            colon = self.take()
            if colon[0] != T_COLON:
                raise _Fault(colon, "expecting ':'")
            at = self.tokens[self.pos] if self.pos < len(self.tokens) else None
            self.value()
            if key in keys and at is not None:
                raise _Fault(at, "duplicate key")
            keys.add(key)
            tok = self.take()
            if tok[0] == T_RCURLY:
                return None
            if tok[0] != T_COMMA:
                raise _Fault(tok, "expected ',' or '}'")
            tok = self.take()

    def elements(self) -> Any:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == T_RSQUARE:
            self.pos += 1
            return None
        while True:
            self.value()
            tok = self.take()
            if tok[0] == T_RSQUARE:
                return None
            if tok[0] != T_COMMA:
                raise _Fault(tok, "expected ',' or ']'")

    def string(self, tok: PosToken) -> str:
        probe = _Parser([])
        value = probe.string(tok[1])
        if probe.err is not None:
            raise _Fault(tok, probe.err[len("JSON parse error, "):])
        return str(value)


class _Fault(Exception):
    def __init__(self, tok: PosToken, message: str) -> None:
        super().__init__(message)
        self.error: Positioned = (tok[2], tok[3], "JSON parse error, " + message)
