"""QEMU's keyval syntax and its QAPI input visitor, as QEMU 7.2 does them.

``object_add`` (and ``-object``) read ``TYPE,id=ID,a.b=1,l.0=x`` with
``keyval_parse()`` (util/keyval.c): dotted keys build nested dictionaries,
all-digit fragments build lists, ``,,`` is a literal comma, and the first
item without ``=`` is the value of the implied key.  Every value is a
string; the keyval flavour of the QObject input visitor
(qapi/qobject-input-visitor.c) converts each one to its QAPI type while it
walks the schema: integers with ``strtoll``/``strtoull`` rules (base 0),
sizes with suffixes, booleans as on/off/yes/no/true/false/y/n, enumerations
by name.

* :func:`keyval_parse` returns the nested dictionary (key order as QEMU
  inserts it) and whether ``help``/``?`` was asked, or raises
  :class:`KeyvalError` with QEMU's message;
* :func:`visit` converts such a tree in place against a schema built from
  :class:`Struct`, :class:`Enum`, :class:`ListOf`, :class:`Alternate` and the
  builtin names in :data:`INTEGERS` (plus ``"str"``, ``"bool"``, ``"size"``,
  ``"number"`` and ``"any"``), member by member in schema order, raising
  QEMU's message for the first value it refuses.  A struct with members
  the schema does not know stops the walk: what has been converted so far,
  sent to QMP as it is, makes QEMU report
  the same unexpected member the keyval visitor would (it picks one from a
  hash table whose order QEMU alone knows).

* :func:`spec_from_schema` gives those specs for a type of a live
  ``query-qmp-schema`` reply, which says ``int`` for every integer type: a
  spec already known (an older release's table) and facts by member path
  keep the exact widths and sizes.

Errors that QEMU reports from a dictionary walk depend on ``QDict`` order;
:func:`hmpbridge.glib_order.qdict_order` reproduces it (512 buckets of
``tdb_hash``, newest entry first within a bucket).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
import math
import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from hmpbridge.glib_order import StrHashTable, qdict_order
from hmpbridge.qapi_schema import Schema
from hmpbridge.qemu_opts import (OptsError, bool_parse, is_help_option, strtoi64, strtosz,
                                 strtou64)

__all__ = ["KeyvalError", "Struct", "Enum", "ListOf", "Alternate", "TypeSpec", "INTEGERS",
           "keyval_parse", "is_help_option", "qdict_order", "visit", "spec_from_schema"]

#: Longest key fragment QEMU keeps (``key_in_cur[128]``).
_FRAGMENT_MAX = 127
_INT_MAX = (1 << 31) - 1

#: Integer builtins: (signed, bits).
INTEGERS: Dict[str, Tuple[bool, int]] = {
    "int": (True, 64), "int32": (True, 32), "int16": (True, 16), "int8": (True, 8),
    "uint64": (False, 64), "uint32": (False, 32), "uint16": (False, 16), "uint8": (False, 8),
}


class KeyvalError(Exception):
    """A string or value QEMU refuses; ``str()`` is QEMU's message."""

    def text(self) -> str:
        """As ``hmp_handle_error`` prints it."""
        return f"Error: {self}\n"


@dataclass(frozen=True)
class Enum:
    """A QAPI enumeration: the names it accepts."""

    values: Tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    """A QAPI array."""

    element: "TypeSpec"


@dataclass(frozen=True)
class Struct:
    """A QAPI struct, or a flat union when ``tag`` names its discriminator.

    :ivar members: (name, type, required) in schema order.
    :ivar variants: for a flat union, the members each tag value adds.
    """

    members: Tuple[Tuple[str, "TypeSpec", bool], ...]
    tag: Optional[str] = None
    variants: Mapping[str, "Struct"] = field(default_factory=dict)


@dataclass(frozen=True)
class Alternate:
    """A QAPI alternate, by the branches the keyval visitor can take.

    Every scalar is a string to it, so a scalar takes the ``str`` or
    enumeration branch, a dictionary the object branch, a list the array
    branch (QEMU's generated alternate visitors switch on the QObject type).
    """

    scalar: Optional["TypeSpec"] = None
    struct: Optional[Struct] = None
    array: Optional[ListOf] = None


TypeSpec = Union[str, Enum, ListOf, Struct, Alternate]
Tree = Dict[str, Any]


# --- keyval_parse ----------------------------------------------------------------------

_QAPI_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_-]*")
_STOP = re.compile(r"[=,]")


def _qapi_name_length(text: str) -> int:
    """``parse_qapi_name(s, false)``: length of the leading QAPI name, 0 if none."""
    match = _QAPI_NAME.match(text)
    return match.end() if match else 0


def _index_length(text: str) -> int:
    """Digits at the start of a fragment (``key_to_index`` with an end pointer)."""
    pos = 0
    while pos < len(text) and text[pos] in "0123456789":
        pos += 1
    return pos


def _key_to_index(key: str) -> int:
    """``key_to_index(key, NULL)``: the index an all-digit key names, else -1."""
    if not key or not all(c in "0123456789" for c in key):
        return -1
    return min(int(key), _INT_MAX)


def _put(cur: Tree, fragment: str, value: Optional[str], key: str, cursor: int) -> Any:
    """``keyval_parse_put``: a string value, or the dictionary a fragment leads into."""
    old = cur.get(fragment)
    if old is not None:
        if isinstance(old, str) != (value is not None):
            raise KeyvalError(f"Parameters '{key[:cursor]}.*' used inconsistently")
        if value is None:
            return old
    new: Any = value if value is not None else {}
    cur[fragment] = new
    return new


def _parse_one(root: Tree, params: str, implied: Optional[str]) -> Tuple[int, bool]:
    """One ``key=value`` of ``params``: returns where the next starts, and whether it was help."""
    length = _span(params)
    key, key_end = params, length
    value_end: Optional[int] = None
    if length and params[length:length + 1] != "=":
        help_len = 1 if params[:1] == "?" else 4 if params.startswith("help") else 0
        if help_len == length:
            return length + (1 if params[length:length + 1] == "," else 0), True
        if implied is not None:
            key, key_end, value_end = implied, len(implied), length
    cur = root
    pos = 0
    fragment = ""
    while True:
        rest = key[pos:key_end]
        size = _index_length(rest) if pos and _index_length(rest) else _qapi_name_length(rest)
        if not size or (pos + size < key_end and key[pos + size] != "."):
            raise KeyvalError(f"Invalid parameter '{key[:key_end]}'")
        if size > _FRAGMENT_MAX:
            whole = pos == 0 and pos + size == key_end
            raise KeyvalError(f"Parameter{'' if whole else ' fragment'} "
                              f"'{key[pos:pos + size]}' is too long")
        if pos:
            cur = _put(cur, fragment, None, key, pos - 1)
        fragment = key[pos:pos + size]
        pos += size
        if key[pos:pos + 1] != ".":
            break
        pos += 1
    if value_end is not None:
        value = params[:value_end]
        after = value_end + (1 if params[value_end:value_end + 1] == "," else 0)
    else:
        if params[pos:pos + 1] != "=":
            raise KeyvalError(f"Expected '=' after parameter '{key[:pos]}'")
        chars: List[str] = []
        after = pos + 1
        while after < len(params):
            if params[after] == ",":
                after += 1
                if params[after:after + 1] != ",":
                    break
            chars.append(params[after])
            after += 1
        value = "".join(chars)
    _put(cur, fragment, value, key, key_end)
    return after, False


def _span(text: str) -> int:
    """``strcspn(text, "=,")``."""
    match = _STOP.search(text)
    return match.start() if match else len(text)


def _listify(cur: Tree, path: List[str]) -> Any:
    """``keyval_listify``: dictionaries whose keys are all indexes become lists."""
    has_index = has_member = False
    for key in qdict_order(list(cur)):
        if _key_to_index(key) >= 0:
            has_index = True
        else:
            has_member = True
        if isinstance(cur[key], dict):
            cur[key] = _listify(cur[key], path + [key])
    prefix = "".join(f"{key}." for key in path)
    if has_index and has_member:
        raise KeyvalError(f"Parameters '{prefix}*' used inconsistently")
    if not has_index:
        return cur
    slots = len(cur) + 1
    elements: List[Any] = [None] * slots
    max_index = -1
    for key in qdict_order(list(cur)):
        index = _key_to_index(key)
        max_index = max(max_index, index)
        if index < slots - 1:
            elements[index] = cur[key]
    result = []
    for index in range(min(slots, max_index + 1)):
        if elements[index] is None:
            raise KeyvalError(f"Parameter '{prefix}{index}' missing")
        result.append(elements[index])
    return result


def keyval_parse(params: str, implied_key: Optional[str] = None) -> Tuple[Tree, bool]:
    """``keyval_parse(params, implied_key, &help)``: the nested options and the help flag.

    :raises KeyvalError: QEMU's message for a malformed string.
    """
    root: Tree = {}
    wants_help = False
    pos = 0
    while pos < len(params):
        used, is_help = _parse_one(root, params[pos:], implied_key)
        wants_help = wants_help or is_help
        pos += used
        implied_key = None
    return _listify(root, []), wants_help


# --- the keyval input visitor -------------------------------------------------------------

class _Stop(Exception):
    """A struct holds members its type does not know: QEMU reports which."""


def _scalar(value: Any, full: str) -> str:
    """``qobject_input_get_keyval``: the string a scalar member must be."""
    if isinstance(value, (dict, list)):
        raise KeyvalError(f"Parameters '{full}.*' are unexpected")
    return str(value)


def _integer(kind: str, text: str, full: str, name: str) -> int:
    """An integer member: read as int64/uint64, then narrowed to its width."""
    signed, bits = INTEGERS[kind]
    try:
        number = strtoi64(text, 0) if signed else strtou64(text, 0)
    except OptsError:
        raise KeyvalError(f"Parameter '{full}' expects integer") from None
    low, high = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed
                 else (0, (1 << bits) - 1))
    if not low <= number <= high:
        raise KeyvalError(f"Parameter '{name}' expects {kind}_t")
    return number


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?")


def _number(text: str, full: str) -> float:
    """``qemu_strtod_finite`` on the whole string: leading blanks, decimal or hex,
    finite and in range (glibc reports ERANGE for a result too small to be a normal
    double, as for one too large)."""
    body = text.lstrip(" \t\n\v\f\r")
    value: Optional[float] = None
    if _HEX_FLOAT.fullmatch(body):
        sign = -1.0 if body[0] == "-" else 1.0
        digits = body.lstrip("+-")
        try:
            value = sign * float.fromhex(digits if "p" in digits.lower() else digits + "p0")
        except OverflowError:
            value = None
    elif _DECIMAL.fullmatch(body):
        value = float(body)
    unsigned = body.lstrip("+-")
    if unsigned[:2].lower() == "0x":
        mantissa = re.sub(r"[pP].*|[^1-9a-fA-F]", "", unsigned[2:])
    else:
        mantissa = re.sub(r"[eE].*|[^1-9]", "", unsigned)
    if (value is None or not math.isfinite(value)
            or (mantissa and abs(value) < sys.float_info.min)):
        raise KeyvalError(f"Invalid parameter type for '{full}', expected: number")
    return value


@dataclass
class _Walk:
    """What one :func:`visit` carries down: QEMU's warnings, and its choices."""

    warnings: List[str]
    hex_suffix: bool = True
    exact: bool = False


def _value(spec: TypeSpec, value: Any, full: str, name: str, walk: _Walk) -> Any:
    """The typed value of one member (``name`` is ``null`` for list elements)."""
    if isinstance(spec, Alternate):
        branch = (spec.struct if isinstance(value, dict) else
                  spec.array if isinstance(value, list) else spec.scalar)
        if branch is None:
            # QEMU names the alternate's type, which introspection masks: its
            # JSON visitor refuses the unconverted value in the same words
            raise _Stop()
        return _value(branch, value, full, name, walk)
    if spec == "any":
        return value
    if isinstance(spec, Struct):
        if not isinstance(value, dict):
            raise KeyvalError(f"Invalid parameter type for '{full}', expected: object")
        _struct(spec, value, full, walk)
        return value
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise KeyvalError(f"Invalid parameter type for '{full}', expected: array")
        for index, element in enumerate(value):
            value[index] = _value(spec.element, element, f"{full}.{index}", "null", walk)
        return value
    text = _scalar(value, full)
    if spec == "str":
        return text
    if isinstance(spec, Enum):
        if text not in spec.values:
            raise KeyvalError(f"Parameter '{name}' does not accept value '{text}'")
        return text
    if spec == "bool":
        try:
            return bool_parse(full, text)
        except OptsError as err:
            raise KeyvalError(err.message) from None
    if spec == "size":
        try:
            return strtosz(text, "B", walk.warnings, walk.hex_suffix)
        except OptsError:
            raise KeyvalError(f"Parameter '{full}' expects size") from None
    if spec == "number":
        return _number(text, full)
    return _integer(spec, text, full, name)


def _members(members: Tuple[Tuple[str, TypeSpec, bool], ...], tree: Tree, prefix: str,
             seen: List[str], walk: _Walk) -> None:
    for name, spec, required in members:
        full = prefix + name
        if name not in tree:
            if required:
                raise KeyvalError(f"Parameter '{full}' is missing")
            continue
        seen.append(name)
        tree[name] = _value(spec, tree[name], full, name, walk)


def _struct(spec: Struct, tree: Tree, full: str, walk: _Walk) -> None:
    """Members in schema order, then the variant's, then no member may be left."""
    prefix = f"{full}." if full else ""
    seen: List[str] = []
    _members(spec.members, tree, prefix, seen, walk)
    if spec.tag is not None:
        variant = spec.variants.get(tree[spec.tag])
        if variant is not None:
            _members(variant.members, tree, prefix, seen, walk)
    if any(key not in seen for key in tree):
        if walk.exact:
            raise KeyvalError(f"Parameter '{prefix}{_first_unexpected(tree, seen)}' "
                              "is unexpected")
        raise _Stop()


def _first_unexpected(tree: Tree, seen: List[str]) -> str:
    """The member ``qobject_input_check_struct`` names: the struct's keys go into a
    ``GHashTable`` in ``QDict`` order, each member visited leaves it, and the first
    left in slot order is reported."""
    table = StrHashTable()
    for key in qdict_order(list(tree)):
        table.insert(key)
    for key in seen:
        table.remove(key)
    return next(iter(table))


def visit(spec: Struct, tree: Tree, warnings: List[str], hex_suffix: bool = True,
          exact: bool = False) -> bool:
    """Convert ``tree`` in place to the types of ``spec``, as the keyval visitor does.

    QEMU's warnings (a size in hex with a suffix) are appended to ``warnings``;
    such a size is refused instead when ``hex_suffix`` is false (QEMU 8.0 on).
    With ``exact``, a member a struct of ``spec`` lacks is refused here, named
    as QEMU's GLib hash table orders them (for a QEMU that has members
    ``spec`` leaves out: an older release's view of it).
    :returns: True when every member was converted; False when a struct
        holds a member its type lacks, and the walk stopped there.
    :raises KeyvalError: QEMU's message for the first value it refuses.
    """
    try:
        _struct(spec, tree, "", _Walk(warnings, hex_suffix, exact))
    except _Stop:
        return False
    return True


# --- specs from a live schema ---------------------------------------------------------------

#: Introspection's JSON types of builtins -> keyval specs (every integer is ``int``).
_BUILTINS = {"int": "int", "number": "number", "boolean": "bool", "string": "str",
             "null": "any", "value": "any"}


def spec_from_schema(schema: Schema, kind: Mapping[str, Any], known: Optional[TypeSpec] = None,
                     facts: Optional[Mapping[str, TypeSpec]] = None, path: str = "") -> TypeSpec:
    """The keyval spec of schema type ``kind`` (an entity of ``schema``).

    Members, their order and whether they are required come from the schema.
    Introspection says ``int`` for every integer type and for sizes, so an
    integer takes its width from ``facts`` (specs by dotted member path, the
    variant's case left out: ``"socket.keep-alive-idle"``), else from
    ``known`` (the same type as an older table has it, walked alongside),
    else is ``int``.  Enumerations take the schema's values.
    """
    facts = facts or {}
    meta = kind.get("meta-type")
    if meta == "builtin":
        builtin = _BUILTINS.get(str(kind.get("json-type")), "any")
        if builtin == "int" and isinstance(known, str) and (known in INTEGERS or known == "size"):
            return known
        return builtin
    if meta == "enum":
        return Enum(tuple(schema.enum_values(kind)))
    if meta == "array":
        return ListOf(spec_from_schema(schema, schema.entity(kind.get("element-type")),
                                       known.element if isinstance(known, ListOf) else None,
                                       facts, path))
    if meta == "alternate":
        return _alternate(schema, kind, known, facts, path)
    if meta == "object":
        return _object(schema, kind, known if isinstance(known, Struct) else None, facts, path)
    return "any"


def _object(schema: Schema, kind: Mapping[str, Any], known: Optional[Struct],
            facts: Mapping[str, TypeSpec], path: str) -> Struct:
    known_members = {name: spec for name, spec, _ in known.members} if known else {}
    members = []
    for member in kind.get("members", ()):
        name = str(member.get("name"))
        where = path + name
        member_known = facts.get(where, known_members.get(name))
        members.append((name, spec_from_schema(schema, schema.entity(member.get("type")),
                                               member_known, facts, where + "."),
                        "default" not in member))
    variants: Dict[str, Struct] = {}
    for variant in kind.get("variants", ()):
        case = str(variant.get("case"))
        variants[case] = _object(schema, schema.entity(variant.get("type")),
                                 known.variants.get(case) if known else None, facts, path)
    tag = kind.get("tag")
    return Struct(tuple(members), tag=str(tag) if tag is not None else None, variants=variants)


def _alternate(schema: Schema, kind: Mapping[str, Any], known: Optional[TypeSpec],
               facts: Mapping[str, TypeSpec], path: str) -> Alternate:
    """The branches keyval can reach: a string or enumeration, an object, an array."""
    old = known if isinstance(known, Alternate) else Alternate()
    branches: Dict[str, TypeSpec] = {}
    for member in kind.get("members", ()):
        branch = schema.entity(member.get("type"))
        meta = branch.get("meta-type")
        inner: Optional[TypeSpec]
        if meta == "object":
            slot, inner = "struct", old.struct
        elif meta == "array":
            slot, inner = "array", old.array
        elif meta == "enum" or (meta == "builtin" and branch.get("json-type") == "string"):
            slot, inner = "scalar", old.scalar
        else:  # a number or boolean branch: keyval's scalars are all strings
            continue
        branches.setdefault(slot, spec_from_schema(schema, branch, inner, facts, path))
    return Alternate(**branches)  # type: ignore[arg-type]
