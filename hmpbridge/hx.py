"""QEMU's ``hmp-commands.hx`` / ``hmp-commands-info.hx``, read as QEMU's build reads them.

QEMU's build turns each ``.hx`` file into a C header with ``scripts/hxtool -h``
(which drops ``HXCOMM`` lines and the reStructuredText between ``SRST`` and
``ERST``) and compiles that header as the initialiser of an ``HMPCommand``
array.  :func:`read_hx` does the same in Python, for one build configuration:

1. :func:`hxtool_h`: hxtool's filter, including its shell ``read``, which
   trims blanks at both ends of every line;
2. :func:`preprocess`: the C preprocessor's part that matters here: lines
   spliced at a trailing backslash, comments removed, ``#if``/``#ifdef``/
   ``#ifndef``/``#elif``/``#else``/``#endif`` kept or dropped by evaluating
   ``defined(X)``, ``!``, ``&&``, ``||`` and parentheses against the set of
   defined symbols;
3. :func:`parse_entries`: the ``{ .field = value, ... },`` initialisers, with
   C string literals read as C reads them (adjacent literals concatenated,
   escapes ``\\n \\t \\" \\\\ \\' \\? \\a \\b \\f \\r \\v``, octal and hex).

:data:`DEBIAN_X86_64` is the set of ``CONFIG_*``/``TARGET_*`` symbols
defined for Debian's ``qemu-system-x86_64`` build, per release: the one that
makes each generated table list exactly what that QEMU's own ``help`` and
``info`` list (``tests/fixtures/releases``).

Pure: text in, entries out; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AbstractSet, Dict, FrozenSet, Iterator, List, Optional, Tuple

__all__ = [
    "HxEntry",
    "HxError",
    "DEBIAN_X86_64",
    "debian_x86_64",
    "hxtool_h",
    "preprocess",
    "parse_entries",
    "parse_string_literals",
    "read_hx",
]


class HxError(ValueError):
    """The text is not an ``.hx`` file this reader understands (with the line number)."""


@dataclass(frozen=True)
class HxEntry:
    """One ``HMPCommand`` initialiser.

    :ivar name: ``.name``, aliases included (``"cont|c"``).
    :ivar args_type: ``.args_type`` (``"force:-f,device:B"``).
    :ivar params: ``.params``, the first half of the ``help`` line.
    :ivar help: ``.help``, the second half, C escapes already applied.
    :ivar flags: ``.flags`` (``"p"``: allowed in preconfig), ``""`` when absent.
    :ivar cmd: the entry has a ``.cmd`` handler.
    :ivar cmd_info_hrt: the entry has a ``.cmd_info_hrt`` handler (an info
        command answered by a QMP ``x-query-*`` command's human-readable text).
    :ivar coroutine: ``.coroutine = true``.
    :ivar command_completion: the C function of ``.command_completion``, if any.
    :ivar sub_table: the C array of ``.sub_table`` (``hmp_info_cmds``), if any.
    :ivar targets: the targets the entry is for, by their ``SysEmuTarget`` names
        (``("i386", "x86_64")``); empty: every target.  Only programs built for
        several targets (11.1) keep such entries: before, ``#if defined(TARGET_...)``
        left them out of the build.
    """

    name: str
    args_type: str
    params: str
    help: str
    flags: str = ""
    cmd: bool = False
    cmd_info_hrt: bool = False
    coroutine: bool = False
    command_completion: Optional[str] = None
    sub_table: Optional[str] = None
    targets: Tuple[str, ...] = ()

    def available_on(self, target: str) -> bool:
        """True when QEMU running ``target`` (``"x86_64"``) has this command.

        QEMU 11.1 neither lists the others in ``help`` nor runs them: it finds
        them and answers ``Command 'NAME' not available until machine
        initialization has completed.``, as for a command refused in preconfig.
        """
        return not self.targets or target in self.targets

    @property
    def help_line(self) -> str:
        """What QEMU's ``help`` prints for this entry (``"%s %s -- %s\\n"``)."""
        return f"{self.name} {self.params} -- {self.help}\n"


# --- the build configuration ---------------------------------------------------

#: Defined for every Debian ``qemu-system-x86_64`` of 7.2 and later.
_BASE: FrozenSet[str] = frozenset({
    "TARGET_I386", "TARGET_X86_64",
    "CONFIG_LINUX", "CONFIG_POSIX",
    "CONFIG_FDT", "CONFIG_SLIRP", "CONFIG_SPICE", "CONFIG_TCG", "CONFIG_VNC",
    "CONFIG_REPLICATION", "CONFIG_XEN_EMU", "CONFIG_PIXMAN",
})

#: The symbols each release's Debian x86_64 system emulator is built with, as far
#: as the ``.hx`` files ask.  Not defined in any: ``CONFIG_TRACE_SIMPLE`` (Debian
#: traces to the log), ``CONFIG_VMNET`` (macOS), ``CONFIG_AF_XDP`` (no libxdp in
#: the bookworm backport of 10.0 nor in sid's 11.1), ``CONFIG_MOS6522`` and the
#: other targets.  ``CONFIG_PASST`` appears with 10.1's passt netdev; meson turns
#: it on by itself on Linux (no library needed) and sid's 11.1 has it, so 10.1,
#: 10.2 and 11.0 are taken to have it too (no Debian build of those was at hand).
#: ``CONFIG_XEN_EMU`` and ``CONFIG_PIXMAN`` only appear in the files from 8.0 and
#: 9.0 on, so defining them for older releases changes nothing.  Checked against
#: the ``help`` and ``info`` of Debian's 7.2.22, 10.0.2 (bookworm-backports) and
#: 11.1.3 (``tests/fixtures/releases``); the program of Debian 13's
#: ``qemu-system-x86 1:10.0.13+ds-0+deb13u1`` holds the same 10.0 table
#: (``python -m hmpbridge.tablegen --release 10.0 --deb ...``).
DEBIAN_X86_64: Dict[Tuple[int, int], FrozenSet[str]] = {
    (7, 2): _BASE,
    (8, 0): _BASE,
    (8, 1): _BASE,
    (8, 2): _BASE,
    (9, 0): _BASE,
    (9, 1): _BASE,
    (9, 2): _BASE,
    (10, 0): _BASE,
    (10, 1): _BASE | {"CONFIG_PASST"},
    (10, 2): _BASE | {"CONFIG_PASST"},
    (11, 0): _BASE | {"CONFIG_PASST"},
    (11, 1): _BASE | {"CONFIG_PASST"},
}


def debian_x86_64(release: Tuple[int, int]) -> FrozenSet[str]:
    """The symbols of Debian's x86_64 build of ``release`` (the nearest older one known)."""
    known = [r for r in DEBIAN_X86_64 if r <= release]
    return DEBIAN_X86_64[max(known) if known else min(DEBIAN_X86_64)]


# --- step 1: hxtool -h ------------------------------------------------------------

_IFS = " \t\n"


def hxtool_h(text: str) -> str:
    """``scripts/hxtool -h``: the C part of an ``.hx`` file.

    Every line is trimmed at both ends (hxtool reads it with ``read -r``);
    ``HXCOMM`` lines are dropped; ``SRST`` and ``ERST`` lines toggle the
    output off and on and are dropped themselves.
    """
    out: List[str] = []
    printing = True
    # ``read`` returns false on a last line without its line end: hxtool skips it
    for raw in text.split("\n")[:-1]:
        line = raw.strip(_IFS)
        if line.startswith("HXCOMM"):
            continue
        if line.startswith("SRST") or line.startswith("ERST"):
            printing = not printing
            continue
        if printing:
            out.append(line)
    return "".join(line + "\n" for line in out)


# --- step 2: the preprocessor -----------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(defined\b)|([A-Za-z_]\w*)|(\d+)[uUlL]*|(\|\||&&|[!()]))")


class _Condition:
    """A ``#if`` expression over ``defined``, ``!``, ``&&``, ``||``, parentheses."""

    def __init__(self, expr: str, symbols: AbstractSet[str], lineno: int) -> None:
        self.tokens = self._lex(expr, lineno)
        self.pos = 0
        self.symbols = symbols
        self.lineno = lineno
        self.expr = expr

    def _lex(self, expr: str, lineno: int) -> List[str]:
        tokens: List[str] = []
        pos = 0
        expr = expr.rstrip()
        while pos < len(expr):
            m = _TOKEN.match(expr, pos)
            if not m:
                raise HxError(f"line {lineno}: cannot evaluate #if {expr.strip()!r}")
            tokens.append(next(g for g in m.groups() if g is not None))
            pos = m.end()
        return tokens

    def _peek(self) -> Optional[str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, want: Optional[str] = None) -> str:
        tok = self._peek()
        if tok is None or (want is not None and tok != want):
            raise HxError(f"line {self.lineno}: cannot evaluate #if {self.expr.strip()!r}")
        self.pos += 1
        return tok

    def value(self) -> bool:
        result = self._or()
        if self._peek() is not None:
            raise HxError(f"line {self.lineno}: cannot evaluate #if {self.expr.strip()!r}")
        return result

    def _or(self) -> bool:
        result = self._and()
        while self._peek() == "||":
            self._take()
            rhs = self._and()
            result = result or rhs
        return result

    def _and(self) -> bool:
        result = self._unary()
        while self._peek() == "&&":
            self._take()
            rhs = self._unary()
            result = result and rhs
        return result

    def _unary(self) -> bool:
        if self._peek() == "!":
            self._take()
            return not self._unary()
        return self._primary()

    def _primary(self) -> bool:
        tok = self._take()
        if tok == "(":
            result = self._or()
            self._take(")")
            return result
        if tok == "defined":
            if self._peek() == "(":
                self._take()
                name = self._take()
                self._take(")")
            else:
                name = self._take()
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise HxError(f"line {self.lineno}: cannot evaluate #if {self.expr.strip()!r}")
            return name in self.symbols
        if tok.isdigit():
            return int(tok) != 0
        if re.fullmatch(r"[A-Za-z_]\w*", tok):
            # config-host.h defines CONFIG_X as 1; an undefined name is 0
            return tok in self.symbols
        raise HxError(f"line {self.lineno}: cannot evaluate #if {self.expr.strip()!r}")


def _strip_comments(text: str) -> str:
    """Comments out, each replaced by a space (line ends inside kept); strings untouched."""
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise HxError(f"line {text.count(chr(10), 0, i) + 1}: unterminated comment")
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def preprocess(c_text: str, symbols: AbstractSet[str]) -> str:
    """The lines of ``c_text`` the C preprocessor keeps for ``symbols``.

    Lines ending in a backslash are joined to the next first; directive lines
    and the lines of groups not taken become empty lines, so line numbers
    stay those of the input.
    """
    # splice, keeping a line count: the joined line carries the missing line ends
    lines: List[str] = []
    pending = ""
    pending_count = 0
    for line in c_text.split("\n"):
        if line.endswith("\\"):
            pending += line[:-1]
            pending_count += 1
            continue
        lines.append(pending + line)
        lines.extend([""] * pending_count)
        pending, pending_count = "", 0
    if pending_count:
        lines.append(pending)
        lines.extend([""] * (pending_count - 1))
    lines = _strip_comments("\n".join(lines)).split("\n")

    # each frame: (this group is kept, some branch of this #if was taken, the
    # enclosing group is kept, an #else was seen)
    stack: List[List[bool]] = []
    out: List[str] = []
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        active = all(frame[0] for frame in stack)
        if not stripped.startswith("#"):
            out.append(line if active else "")
            continue
        out.append("")
        m = re.match(r"#\s*(\w*)\s*(.*)$", stripped)
        directive, rest = (m.group(1), m.group(2)) if m else ("", "")
        if directive in ("if", "ifdef", "ifndef"):
            if directive == "if":
                taken = _Condition(rest, symbols, lineno).value() if active else False
            else:
                name = rest.strip()
                if not re.fullmatch(r"[A-Za-z_]\w*", name):
                    raise HxError(f"line {lineno}: #{directive} needs one name, not {rest!r}")
                taken = (name in symbols) == (directive == "ifdef")
            stack.append([taken, taken, active, False])
        elif directive == "elif":
            if not stack or stack[-1][3]:
                raise HxError(f"line {lineno}: #elif without #if")
            frame = stack[-1]
            if frame[1] or not frame[2]:
                frame[0] = False
            else:
                frame[0] = _Condition(rest, symbols, lineno).value()
                frame[1] = frame[0]
        elif directive == "else":
            if not stack or stack[-1][3]:
                raise HxError(f"line {lineno}: #else without #if")
            frame = stack[-1]
            frame[0] = not frame[1]
            frame[1] = True
            frame[3] = True
        elif directive == "endif":
            if not stack:
                raise HxError(f"line {lineno}: #endif without #if")
            stack.pop()
        elif directive == "" and not rest:
            pass  # the null directive
        else:
            raise HxError(f"line {lineno}: unsupported directive {stripped!r}")
    if stack:
        raise HxError("#if without #endif at the end of the file")
    return "\n".join(out)


# --- step 3: the initialisers -----------------------------------------------------

_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'", "?": "?",
    "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v",
}


def _unescape(body: str, lineno: int) -> str:
    """The characters of one C string literal's body."""
    out: List[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise HxError(f"line {lineno}: a string literal ends in a backslash")
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        elif esc == "x":
            m = re.match(r"[0-9A-Fa-f]+", body[i + 2:])
            if not m:
                raise HxError(f"line {lineno}: \\x with no hex digits")
            out.append(chr(int(m.group(0), 16) & 0xFF))
            i += 2 + len(m.group(0))
        else:
            raise HxError(f"line {lineno}: unknown escape \\{esc}")
    return "".join(out)


_C_TOKEN = re.compile(
    r'(?P<space>\s+)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<ident>[A-Za-z_]\w*)'
    r"|(?P<number>\d\w*)|(?P<punct>[{}.,=&()])"
)


def _tokens(text: str) -> Iterator[Tuple[str, str, int]]:
    """(kind, text, line) for every C token of ``text``."""
    pos, lineno = 0, 1
    while pos < len(text):
        m = _C_TOKEN.match(text, pos)
        if not m:
            raise HxError(f"line {lineno}: unexpected {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        if kind != "space":
            yield kind, m.group(0), lineno
        lineno += m.group(0).count("\n")
        pos = m.end()


def parse_string_literals(source: str) -> str:
    """The string adjacent C literals make (``"a" "b\\n"`` -> ``"ab\\n"``)."""
    parts = []
    for kind, text, lineno in _tokens(source):
        if kind != "string":
            raise HxError(f"line {lineno}: {text!r} is not a string literal")
        parts.append(_unescape(text[1:-1], lineno))
    return "".join(parts)


_STRING_FIELDS = ("name", "args_type", "params", "help", "flags")
_NAME_FIELDS = ("cmd", "cmd_info_hrt", "command_completion", "sub_table")


def parse_entries(c_text: str) -> Tuple[HxEntry, ...]:
    """The ``{ .field = value, ... },`` initialisers of preprocessed C text, in order."""
    toks = list(_tokens(c_text))
    entries: List[HxEntry] = []
    i = 0

    def expect(text: str) -> None:
        nonlocal i
        if i >= len(toks) or toks[i][1] != text:
            got = toks[i][1] if i < len(toks) else "the end"
            line = toks[i][2] if i < len(toks) else toks[-1][2]
            raise HxError(f"line {line}: expected {text!r}, found {got!r}")
        i += 1

    while i < len(toks):
        start_line = toks[i][2]
        expect("{")
        fields: Dict[str, object] = {}
        while i < len(toks) and toks[i][1] != "}":
            expect(".")
            if i >= len(toks) or toks[i][0] != "ident":
                raise HxError(f"line {start_line}: a field name must follow '.'")
            field, line = toks[i][1], toks[i][2]
            i += 1
            expect("=")
            if field in fields:
                raise HxError(f"line {line}: .{field} given twice")
            if field in _STRING_FIELDS:
                parts = []
                while i < len(toks) and toks[i][0] == "string":
                    parts.append(_unescape(toks[i][1][1:-1], toks[i][2]))
                    i += 1
                if not parts:
                    raise HxError(f"line {line}: .{field} needs a string literal")
                fields[field] = "".join(parts)
            elif field in _NAME_FIELDS or field == "coroutine":
                if i >= len(toks) or toks[i][0] != "ident":
                    raise HxError(f"line {line}: .{field} needs a name")
                fields[field] = toks[i][1]
                i += 1
            else:
                raise HxError(f"line {line}: unknown field .{field}")
            if i < len(toks) and toks[i][1] == ",":
                i += 1
            elif i < len(toks) and toks[i][1] != "}":
                raise HxError(f"line {toks[i][2]}: expected ',' or '}}', found {toks[i][1]!r}")
        expect("}")
        if i < len(toks) and toks[i][1] == ",":
            i += 1
        missing = [f for f in ("name", "args_type", "params", "help") if f not in fields]
        if missing:
            raise HxError(f"line {start_line}: entry without .{', .'.join(missing)}")

        def name_of(field: str) -> Optional[str]:
            value = fields.get(field)
            return None if value in (None, "NULL") else str(value)

        entries.append(HxEntry(
            name=str(fields["name"]),
            args_type=str(fields["args_type"]),
            params=str(fields["params"]),
            help=str(fields["help"]),
            flags=str(fields.get("flags", "")),
            cmd=name_of("cmd") is not None,
            cmd_info_hrt=name_of("cmd_info_hrt") is not None,
            coroutine=fields.get("coroutine") == "true",
            command_completion=name_of("command_completion"),
            sub_table=name_of("sub_table"),
        ))
    return tuple(entries)


def read_hx(text: str, symbols: AbstractSet[str]) -> Tuple[HxEntry, ...]:
    """The entries an ``.hx`` file's text gives a build that defines ``symbols``."""
    return parse_entries(preprocess(hxtool_h(text), symbols))
