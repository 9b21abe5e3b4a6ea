"""Turn the parse of one HMP line into argument values, the way QEMU converts them.

:class:`HMPTransformer` runs inside the LALR parser (no tree is built).
Expressions are evaluated on 64-bit signed integers as QEMU's ``expr_sum``
does; a command rule's children, which line up with its ``args_type`` items,
become the argument dictionary of an :class:`~hmpbridge.model.Invocation`.

Conversion problems raise :class:`ItemError`, which names the kind of
problem; :mod:`hmpbridge.hmp_parser` turns it into QEMU's exact message,
because only it knows the command label.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from lark import Token, Transformer, v_args

from hmpbridge.commands import ArgItem, CommandSpec
from hmpbridge.qemu_opts import OptsError, parse_opts, strtosz

__all__ = ["ItemError", "Register", "REGISTER", "HMPTransformer", "convert_items",
           "parse_size"]

_MASK64 = (1 << 64) - 1


class ItemError(Exception):
    """An argument QEMU would refuse.

    :param kind: what went wrong (``"int32"``, ``"size"``, ``"string"``, ...).
    :param detail: the character or text the message quotes, if any.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


class Register:
    """The value of an expression that reads a CPU register (``$eax``).

    QMP cannot read registers, so such a line can only run through
    ``human-monitor-command``; arithmetic on it yields it again.
    """

    def __repr__(self) -> str:
        return "REGISTER"


REGISTER = Register()


def _s64(value: int) -> int:
    """Wrap to a signed 64-bit value, as C's int64_t arithmetic does."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


def _binary(op: Any) -> Any:
    @v_args(inline=True)
    def method(self: "HMPTransformer", left: Any, _tok: Token, right: Any) -> Any:
        if left is REGISTER or right is REGISTER:
            return REGISTER
        return op(left, right)

    return method


def _unary(op: Any) -> Any:
    @v_args(inline=True)
    def method(self: "HMPTransformer", _tok: Token, value: Any) -> Any:
        return REGISTER if value is REGISTER else op(value)

    return method


def _div(left: int, right: int) -> int:
    if right == 0:
        raise ItemError("expression", "division by zero")
    quotient = abs(left) // abs(right)
    return _s64(quotient if (left < 0) == (right < 0) else -quotient)


def _mod(left: int, right: int) -> int:
    if right == 0:
        raise ItemError("expression", "division by zero")
    return _s64(left - _div(left, right) * right)


class DotIndex(int):
    """The value of an ``i.`` item (``.0x0a``), told apart by its type."""


class DotRegister(Register):
    """An ``i.`` item whose expression reads a register (``.$eax``)."""


DOT_REGISTER = DotRegister()


class HMPTransformer(Transformer[Token, Any]):
    """Evaluates expressions and converts command rules into argument dicts."""

    add = _binary(lambda a, b: _s64(a + b))
    sub = _binary(lambda a, b: _s64(a - b))
    mul = _binary(lambda a, b: _s64(a * b))
    div = _binary(_div)
    mod = _binary(_mod)
    band = _binary(lambda a, b: _s64(a & b))
    bor = _binary(lambda a, b: _s64(a | b))
    bxor = _binary(lambda a, b: _s64(a ^ b))
    pos = _unary(lambda a: a)
    neg = _unary(lambda a: _s64(-a))
    inv = _unary(lambda a: _s64(~a))

    @v_args(inline=True)
    def number(self, tok: Token) -> int:
        text = str(tok)
        if text.startswith(("0x", "0X")):
            value = int(text, 16)
        elif text.startswith("0") and len(text) > 1:
            value = int(text, 8)
        elif len(text) > 20:  # past 2**64 (and past Python's int() digit limit)
            value = _MASK64 + 1
        else:
            value = int(text)
        if value > _MASK64:
            raise ItemError("expression", "number too large")
        return _s64(value)

    @v_args(inline=True)
    def charlit(self, tok: Token) -> int:
        return ord(str(tok)[1].encode("latin-1", "replace")[:1] or b"?")

    @v_args(inline=True)
    def register(self, tok: Token) -> Register:
        return REGISTER

    @v_args(inline=True)
    def int32(self, value: Any) -> Any:
        if value is not REGISTER and (value & _MASK64) >> 32:
            raise ItemError("int32")
        return value

    @v_args(inline=True)
    def int64(self, value: Any) -> Any:
        return value if value is REGISTER else value & _MASK64

    @v_args(inline=True)
    def mebibytes(self, value: Any) -> Any:
        if value is REGISTER:
            return value
        if value < 0:
            raise ItemError("positive")
        return _s64(value * (1 << 20))

    int32_next = int32
    int64_next = int64
    mebibytes_next = mebibytes

    @v_args(inline=True)
    def dotindex(self, value: Any) -> "DotIndex | DotRegister":
        if value is REGISTER:
            return DOT_REGISTER
        return DotIndex(self.int32(value))

    def __default__(self, data: Any, children: List[Any], meta: Any) -> Any:
        # Command rules are converted by the parser, which knows their spec.
        return (str(data), children)


def _unquote(token: Any, kind: str) -> str:
    """QEMU's get_str for a double-quoted word: five escapes, nothing else."""
    text = str(token)
    if not text.startswith('"'):
        return text
    out = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            mapped = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}.get(nxt)
            if mapped is None:
                raise ItemError(kind)
            out.append(mapped)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


#: The largest size an ``o`` item takes (QEMU compares with INT64_MAX).
_SIZE_MAX = (1 << 63) - 1


def parse_size(text: str, default_unit: str = "M", hex_suffix: bool = True) -> int:
    """An ``o`` item: ``qemu_strtosz_MiB()``; raises ``ItemError("size")`` if invalid.

    :param default_unit: the suffix assumed when none is given.
    :param hex_suffix: whether a suffix after a hex number is taken (until 7.2).
    """
    try:
        value = strtosz(text, default_unit.upper(), hex_suffix=hex_suffix)
    except OptsError:
        raise ItemError("size") from None
    if value > _SIZE_MAX:
        raise ItemError("size")
    return value


_FORMAT_LETTERS = "oduxic"
_SIZE_LETTERS = {"b": 1, "h": 2, "w": 4, "g": 8, "L": 8}


def parse_format(text: str) -> Dict[str, Optional[int | str]]:
    """The ``/[count][format][size]`` item: count, format letter, size in bytes."""
    body = text[1:]
    i = 0
    count = 1
    while i < len(body) and body[i] in "0123456789":  # qemu_isdigit: ASCII only
        # QEMU accumulates the count in a C int, which wraps (it builds with -fwrapv)
        count = ((count if i else 0) * 10 + ord(body[i]) - 48) & 0xFFFFFFFF
        i += 1
    count = count - (1 << 32) if count >> 31 else count
    fmt: Optional[str] = None
    size: Optional[int] = None
    for ch in body[i:]:
        if ch in _FORMAT_LETTERS:
            fmt = ch
        elif ch in _SIZE_LETTERS:
            size = _SIZE_LETTERS[ch]
        else:
            raise ItemError("format", ch)
    return {"count": count, "format": fmt, "size": size}


_WORD_KINDS = {"s": "string", "F": "filename", "B": "blockdev", "O": "opts"}


def _convert(item: ArgItem, spec: CommandSpec, raw: Any, hex_suffix: bool = True) -> Any:
    """Convert the child of one non-flag item; None when the item was absent."""
    if raw is None:
        return None
    typ = item.type
    if typ in ("s", "F", "B"):
        return _unquote(raw, _WORD_KINDS[typ])
    if typ == "S":
        return str(raw)
    if typ == "O":
        implied = "type" if spec.key == "netdev_add" else "driver"
        try:
            return parse_opts(_unquote(raw, "opts"), implied).as_dict()
        except OptsError as err:
            raise ItemError("opts", "\n".join(err.lines)) from None
    if typ == "b":
        if str(raw) not in ("on", "off"):
            raise ItemError("onoff")
        return str(raw) == "on"
    if typ == "o":
        return parse_size(str(raw), hex_suffix=hex_suffix)
    # i, l, M and i. were converted by the transformer as they were read.
    return int(raw) if isinstance(raw, DotIndex) else raw


def convert_items(spec: CommandSpec, children: Sequence[Any],
                  items: Optional[Sequence[ArgItem]] = None,
                  hex_suffix: bool = True) -> Dict[str, Any]:
    """Build the argument dict of ``spec`` from its rule's children.

    Flags, ``/fmt`` and ``.index`` are recognised by their type (they leave
    no placeholder when absent); every other item takes the next child.
    Flags map to booleans (False when absent); other absent items are left
    out, as QEMU leaves them out of its QDict.

    :param items: ``spec.items``, when the caller already has them.
    :param hex_suffix: whether sizes take a suffix after a hex number (QEMU 7.2).
    """
    args: Dict[str, Any] = {}
    count = len(children)
    at = 0
    for kind, key, token_type, item in _item_plan(spec.items if items is None else items):
        child = children[at] if at < count else None
        if kind is _FLAG or kind is _VALUE_FLAG:
            given = isinstance(child, Token) and child.type == token_type
            if given:
                at += 1
            if kind is _VALUE_FLAG:
                if given:
                    args[key] = _unquote(children[at], "flagvalue")
                    at += 1
            else:
                args[key] = given
        elif kind is _FORMAT:
            if isinstance(child, Token) and child.type == "FMT":
                args[key] = parse_format(str(child))
                at += 1
        elif kind is _DOT_INDEX:
            if isinstance(child, DotIndex):
                args[key] = int(child)
                at += 1
            elif child is DOT_REGISTER:
                args[key] = REGISTER
                at += 1
        else:
            if at < count:
                at += 1
            value = _convert(item, spec, child, hex_suffix)
            if value is not None:
                args[key] = value
    return args


# What convert_items does with an item (compared by identity).
_FLAG, _VALUE_FLAG, _FORMAT, _DOT_INDEX, _PLAIN = "flag", "value flag", "/", "i.", "plain"


_Plan = Tuple[Tuple[str, str, str, ArgItem], ...]

# Plans by the identity of the items' sequence (a command's items are made
# once), with the sequence itself, so that its id is not reused while here.
_PLANS: Dict[int, Tuple[Sequence[ArgItem], _Plan]] = {}


def _item_plan(items: Sequence[ArgItem]) -> _Plan:
    """For each item: what to do with it, its key, the token type of a flag, the item."""
    known = _PLANS.get(id(items))
    if known is None or known[0] is not items:
        if len(_PLANS) >= 4096:  # items made anew by some caller: start over
            _PLANS.clear()
        known = _PLANS[id(items)] = (items, _make_plan(items))
    return known[1]


def _make_plan(items: Sequence[ArgItem]) -> _Plan:
    plan = []
    for item in items:
        if item.is_flag:
            kind = _VALUE_FLAG if item.flag_takes_value else _FLAG
            plan.append((kind, item.key, _flag_type(item.flag_letter), item))
        elif item.type == "/":
            plan.append((_FORMAT, item.key, "", item))
        elif item.type == "i.":
            plan.append((_DOT_INDEX, item.key, "", item))
        else:
            plan.append((_PLAIN, item.key, "", item))
    return tuple(plan)


def _flag_type(letter: str) -> str:
    return f"FLAG_CAP_{letter}" if letter.isupper() else f"FLAG_{letter.upper()}"
