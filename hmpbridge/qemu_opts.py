"""QEMU's own text conversions, as QEMU 7.2 does them.

* :func:`parse_opts`: a ``QemuOpts`` string (``socket,id=s0,path=/x,server=on``)
  the way ``qemu_opts_parse_noisily()`` reads it, warnings and errors included;
* :func:`strtosz`, :func:`parse_option_size`: sizes with suffixes
  (``qemu_strtosz()``, ``qemu_strtosz_MiB()``);
* :func:`strtoi64`, :func:`strtou64`: ``qemu_strtoi64()``/``qemu_strtou64()``
  with no end pointer (base 0 reads ``0x`` and ``0`` prefixes);
* :func:`bool_parse`: ``qapi_bool_parse()``;
* :func:`string_visitor_value`: what QEMU's string input visitor makes of a
  text for a property type (``qom-set`` without ``-j``).

Every error is an :class:`OptsError` whose ``lines`` are the exact lines QEMU
prints for it (without the ``Error: `` prefix that ``hmp_handle_error`` adds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Collection, Dict, List, Mapping, Optional, Tuple

__all__ = [
    "is_help_option",
    "OptsError",
    "ParsedOpts",
    "parse_opts",
    "strtosz",
    "hex_suffix_taken",
    "HEX_SUFFIX_REFUSED_SINCE",
    "parse_option_size",
    "strtoi64",
    "strtou64",
    "bool_parse",
    "string_visitor_value",
    "INT64_MAX",
    "UINT64_MAX",
]

INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

#: The hint ``parse_option_size()`` appends to a bad size.
SIZE_HINT = ("Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-",
             "and exabytes, respectively.")
#: The hint QEMU appends to a malformed ``id=``.
ID_HINT = "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."


def is_help_option(text: str) -> bool:
    """``is_help_option()``: exactly ``help`` or ``?``."""
    return text in ("help", "?")


class OptsError(ValueError):
    """A conversion QEMU refuses.

    :param lines: the lines QEMU prints: the message, then any hint lines.
    :param kind: ``einval`` or ``erange`` for the number parsers.
    """

    def __init__(self, *lines: str, kind: str = "einval") -> None:
        super().__init__(lines[0] if lines else "")
        self.lines: Tuple[str, ...] = lines
        self.kind = kind

    @property
    def message(self) -> str:
        """The first line, the error message itself."""
        return self.lines[0] if self.lines else ""

    def text(self, prefix: str = "Error: ") -> str:
        """The lines as printed, ``prefix`` before the first."""
        if not self.lines:
            return ""
        return prefix + "\n".join(self.lines) + "\n"


# --- numbers -------------------------------------------------------------------------

_INT_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_DEC_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")
_HEX_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX])?([0-9a-fA-F]+)")


def _digits_value(digits: str, base: int) -> int:
    """``int(digits, base)``; a decimal past 20 digits is only known to overflow.

    Python refuses to convert decimals of thousands of digits, and C only
    needs to know that the value is past ``UINT64_MAX``.
    """
    if base == 10 and len(digits.lstrip("0")) > 20:
        return UINT64_MAX + 1
    return int(digits, base)


def _strtoull(text: str, base: int) -> Tuple[int, int, bool]:
    """C ``strtoull``: (value, end index, overflowed); end 0 when nothing parsed."""
    regex = {0: _INT_RE, 10: _DEC_RE, 16: _HEX_RE}[base]
    match = regex.match(text)
    if not match:
        return 0, 0, False
    sign, digits = match.groups()
    if base == 0:
        if digits[:2] in ("0x", "0X"):
            number = int(digits, 16)
        else:
            number = _digits_value(digits, 8 if digits.startswith("0") else 10)
    else:
        number = _digits_value(digits, base)
    overflow = number > UINT64_MAX
    if sign == "-":
        number = -number
    return number, match.end(), overflow


def strtoi64(text: str, base: int = 0) -> int:
    """``qemu_strtoi64(text, NULL, base)``: the whole text must be an int64."""
    number, end, _ = _strtoull(text, base)
    if end == 0 or end != len(text):
        raise OptsError("invalid integer")
    if not -(1 << 63) <= number <= INT64_MAX:
        raise OptsError("out of range", kind="erange")
    return number


def strtou64(text: str, base: int = 0) -> int:
    """``qemu_strtou64(text, NULL, base)``; like strtoull, ``-1`` wraps to 2^64-1."""
    number, end, overflow = _strtoull(text, base)
    if end == 0 or end != len(text):
        raise OptsError("invalid integer")
    if overflow:
        raise OptsError("out of range", kind="erange")
    return number & UINT64_MAX


_SUFFIXES = "BKMGTPE"
_FRACTION_RE = re.compile(r"\.[0-9]+(?:[eE][+-]?[0-9]+)?")


#: The first release that refuses a suffix after a hex size (QEMU 7.2 warned).
HEX_SUFFIX_REFUSED_SINCE = (8, 0)


def hex_suffix_taken(release: Tuple[int, int]) -> bool:
    """Whether ``release`` still takes a multiplier suffix after a hex size."""
    return release < HEX_SUFFIX_REFUSED_SINCE


def strtosz(text: str, default_suffix: str = "B",
            warnings: Optional[List[str]] = None, hex_suffix: bool = True) -> int:
    """``qemu_strtosz()`` (``default_suffix`` ``M`` for ``qemu_strtosz_MiB()``).

    Decimal with an optional fraction and a B/K/M/G/T/P/E suffix (any case,
    powers of 1024), or ``0x`` hex with no fraction; a suffix after hex is
    taken with QEMU 7.2's deprecation warning, appended to ``warnings``, or
    refused as 8.0 and later do when ``hex_suffix`` is false.
    :raises OptsError: ``kind`` is ``erange`` on overflow, else ``einval``.
    """
    number, end, overflow = _strtoull(text, 10)
    if end == 0:
        raise OptsError("invalid size")
    if overflow:
        raise OptsError("out of range", kind="erange")
    if "-" in text[:end]:
        raise OptsError("invalid size")
    fraction = 0
    rest = text[end:]
    if number == 0 and rest[:1] in ("x", "X"):
        number, end, overflow = _strtoull(text, 16)
        if overflow:
            raise OptsError("out of range", kind="erange")
        rest = text[end:]
        if rest[:1] == "." or (not hex_suffix and rest[:1] and rest[0].upper() in _SUFFIXES):
            raise OptsError("invalid size")
        if rest[:1] and rest[0].upper() in _SUFFIXES and warnings is not None:
            warnings.append("warning: Using a multiplier suffix on hex numbers "
                            f"is deprecated: {text}")
    elif rest[:1] == ".":
        match = _FRACTION_RE.match(rest)
        body = match.group(0) if match else "."
        if body == ".":
            rest = rest[1:]  # strtod failed: QEMU steps over the dot
        elif "e" in body.lower():
            raise OptsError("invalid size")
        else:
            fraction = int(float(body) * 2.0 ** 64)
            rest = rest[len(body):]
    if rest[:1] and rest[0].upper() in _SUFFIXES:
        mul = 1 << (10 * _SUFFIXES.index(rest[0].upper()))
        rest = rest[1:]
    else:
        mul = 1 << (10 * _SUFFIXES.index(default_suffix))
    if rest:
        raise OptsError("invalid size")
    if mul == 1:
        if fraction:
            raise OptsError("invalid size")
        return number
    total = number * mul + ((fraction * mul) >> 64)
    total += ((fraction * mul) & UINT64_MAX) >> 63  # round 0.5 upward
    if total > UINT64_MAX:
        raise OptsError("out of range", kind="erange")
    return total


def parse_option_size(name: str, value: str, warnings: Optional[List[str]] = None,
                      hex_suffix: bool = True) -> int:
    """``parse_option_size()``: a byte-unit size, with QEMU's error texts.

    :param warnings: where QEMU's warnings go (hex with a suffix).
    :param hex_suffix: whether a suffix after hex is taken (until 7.2).
    """
    try:
        return strtosz(value, "B", warnings, hex_suffix)
    except OptsError as err:
        if err.kind == "erange":
            raise OptsError(f"Value '{value}' is out of range for parameter '{name}'") from None
        raise OptsError(f"Parameter '{name}' expects a non-negative number below 2^64",
                        *SIZE_HINT) from None


def bool_parse(name: str, value: str) -> bool:
    """``qapi_bool_parse()``: on/yes/true/y and off/no/false/n."""
    if value in ("on", "yes", "true", "y"):
        return True
    if value in ("off", "no", "false", "n"):
        return False
    raise OptsError(f"Parameter '{name}' expects 'on' or 'off'")


def _parse_number(name: str, value: str) -> int:
    """``parse_option_number()`` (QemuOpts ``number`` options)."""
    try:
        return strtou64(value, 0)
    except OptsError as err:
        if err.kind == "erange":
            raise OptsError(f"Value '{value}' is too large for parameter '{name}'") from None
        raise OptsError(f"Parameter '{name}' expects a number") from None


def string_visitor_value(prop_type: str, name: str, text: str,
                         warnings: Optional[List[str]] = None) -> Any:
    """The typed value QEMU's string input visitor reads from ``text``.

    ``prop_type`` is the type ``qom-list`` shows.  Integer widths are left to
    QEMU, which checks them the same way for typed QMP values.
    :param warnings: where QEMU's warnings go (hex size with a suffix).
    """
    if prop_type in ("int", "int8", "int16", "int32", "int64"):
        try:
            return strtoi64(text, 0)
        except OptsError:
            raise OptsError(f"Parameter '{name}' expects int64") from None
    if prop_type in ("uint8", "uint16", "uint32", "uint64"):
        try:
            return strtou64(text, 0)
        except OptsError:
            raise OptsError(f"Parameter '{name}' expects uint64") from None
    if prop_type == "bool":
        return bool_parse(name, text)
    if prop_type in ("size", "size32"):
        return parse_option_size(name, text, warnings)
    if prop_type in ("number", "double"):
        try:
            number = float(text) if text == text.rstrip() and "_" not in text else float("nan")
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            raise OptsError(f"Parameter '{name}' expects number")
        return number
    return text


# --- QemuOpts ------------------------------------------------------------------------

_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")


@dataclass
class ParsedOpts:
    """A parsed QemuOpts string.

    :ivar id: the ``id=`` value (the first one), or None.
    :ivar items: ``(name, value)`` in order, ``id`` left out; values typed
        (bool/int) where the option list gives a type.
    :ivar warnings: lines QEMU prints while parsing (short-form booleans).
    :ivar help_wanted: a bare ``help``/``?`` item asked for the option list.
    """

    id: Optional[str] = None
    items: List[Tuple[str, Any]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    help_wanted: bool = False

    def get(self, name: str, default: Any = None) -> Any:
        """The last value given for ``name`` (``qemu_opt_get``), or ``default``."""
        for key, value in reversed(self.items):
            if key == name:
                return value
        return default

    def has(self, name: str) -> bool:
        """Whether ``name`` was given."""
        return any(key == name for key, _ in self.items)

    def as_dict(self) -> Dict[str, Any]:
        """Name -> last value, plus ``id`` (``qemu_opts_to_qdict``)."""
        out: Dict[str, Any] = {} if self.id is None else {"id": self.id}
        out.update(self.items)
        return out


def _opt_value(text: str, pos: int) -> Tuple[str, int]:
    """``get_opt_value``: up to a single comma, ``,,`` standing for a comma."""
    out = []
    while pos < len(text):
        if text[pos] == ",":
            if text[pos + 1:pos + 2] != ",":
                break
            pos += 1
        out.append(text[pos])
        pos += 1
    return "".join(out), pos


def _name_value(text: str, pos: int, firstname: Optional[str],
                warn: Optional[List[str]]) -> Tuple[str, str, int, bool]:
    """``get_opt_name_value``: one item; returns name, value, next pos, is_help."""
    length = len(re.match(r"[^=,]*", text[pos:]).group(0))  # type: ignore[union-attr]
    is_help = False
    if text[pos + length:pos + length + 1] != "=":
        if firstname:
            name = firstname
            value, pos = _opt_value(text, pos)
        else:
            name = text[pos:pos + length]
            pos += length
            prefix = ""
            if name.startswith("no"):
                name, value, prefix = name[2:], "off", "no"
            else:
                value = "on"
                is_help = is_help_option(name)
            if not is_help and warn is not None:
                warn.append(f"warning: short-form boolean option '{prefix}{name}' deprecated")
                if name == "delay":
                    warn.append(f"Please use nodelay={'on' if prefix else 'off'} instead")
                else:
                    warn.append(f"Please use {name}={value} instead")
    else:
        name = text[pos:pos + length]
        value, pos = _opt_value(text, pos + length + 1)
    if pos < len(text) and text[pos] == ",":
        pos += 1
    return name, value, pos, is_help


def _typed(desc_type: str, name: str, value: str, warnings: List[str]) -> Any:
    if desc_type == "bool":
        return bool_parse(name, value)
    if desc_type == "number":
        return _parse_number(name, value)
    if desc_type == "size":
        return parse_option_size(name, value, warnings)
    return value


def parse_opts(text: str, implied: Optional[str] = None,
               desc: Optional[Mapping[str, str]] = None,
               held: Tuple[str, Collection[str]] = ("", ())) -> ParsedOpts:
    """Parse ``text`` as ``qemu_opts_parse_noisily(list, text, implied is not None)``.

    :param implied: the list's implied option name for a bare first item.
    :param desc: option name -> ``string``/``bool``/``number``/``size`` for a
        list with a fixed set of options; None for a list that takes any.
        Only fixed lists warn about short-form booleans, and only they
        recognise a bare ``help``.
    :param held: the list's name and the ids it already holds options for;
        such an id is refused as ``qemu_opts_create()`` refuses it.
    :raises OptsError: with the lines QEMU prints for the first bad item,
        warnings printed before it included.
    """
    result = ParsedOpts()
    warn = result.warnings if desc is not None else None
    pos = 0
    while pos < len(text):  # opts_parse_id(): the first id= wins
        name, value, pos, _ = _name_value(text, pos, None, None)
        if name == "id":
            result.id = value
            break
    if result.id is not None and not _ID_RE.match(result.id):
        raise OptsError("Parameter 'id' expects an identifier", ID_HINT)
    list_name, held_ids = held
    if result.id is not None and result.id in held_ids:
        raise OptsError(f"Duplicate ID '{result.id}' for {list_name}")
    pos, firstname = 0, implied
    while pos < len(text):
        name, value, pos, is_help = _name_value(text, pos, firstname, warn)
        firstname = None
        if is_help and desc is not None:
            result.help_wanted = True
            return result
        if name == "id":
            continue
        if desc is not None:
            if name not in desc:
                raise OptsError(*result.warnings, f"Invalid parameter '{name}'")
            try:
                result.items.append((name, _typed(desc[name], name, value, result.warnings)))
            except OptsError as err:
                raise OptsError(*result.warnings, *err.lines) from None
        else:
            result.items.append((name, value))
    return result
