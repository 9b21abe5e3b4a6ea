"""Typing ``device_add`` property values the way QEMU's HMP does.

HMP's ``device_add`` hands every ``prop=value`` to QEMU as a string, and
QEMU reads each with its keyval visitor (``qobject_input_visitor_new_keyval``)
when the property is set: ``on``/``off`` for booleans, C integers (``0x10``,
``010``, ``-1`` wrapping for unsigned), sizes with suffixes (``1k``).
QMP's ``device_add`` read strings the same way until 9.1; since 9.2 it reads
JSON strictly (``qdev_device_add_from_qdict(..., from_json=true)``) and a
string where a property wants a number or boolean is refused with a type
error.  The QMP schema does not tell the two apart, so the translation
sends strings first and, when QEMU refuses one property's type, converts
that property as the keyval visitor would and asks again.  A value the
keyval visitor refuses gets the keyval visitor's message, as HMP prints it.

Only the property QEMU names is converted: the type
``device-list-properties`` reports is not always the one the property's
setter reads first (``addr`` says ``int32`` but reads ``06.0`` as a string).
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Tuple

from hmpbridge.qemu_opts import OptsError, bool_parse, strtoi64, strtosz, strtou64

__all__ = ["TypeRefusal", "type_refusal", "keyval_value", "PropertyValueError",
           "same_as_size"]

#: A property QEMU refused a string for: its name and the JSON kind it wanted
#: (``boolean``, ``integer``, ``uint64`` or ``number``).
TypeRefusal = Tuple[str, str]

_INVALID_TYPE = re.compile(r"Invalid parameter type for '(?P<name>[^']*)', "
                           r"expected: (?P<kind>boolean|integer|number)")
_EXPECTS_UINT = re.compile(r"Parameter '(?P<name>[^']*)' expects (?P<kind>uint64)")


class PropertyValueError(ValueError):
    """The keyval visitor refuses the value; ``str()`` is QEMU's message."""


def type_refusal(desc: str) -> Optional[TypeRefusal]:
    """The property and kind of a strict-JSON type error from ``device_add``, or None."""
    match = _INVALID_TYPE.fullmatch(desc) or _EXPECTS_UINT.fullmatch(desc)
    if match is None:
        return None
    return match.group("name"), match.group("kind")


_PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def same_as_size(text: str) -> bool:
    """Whether an unsigned property and a size property read ``text`` alike.

    A plain decimal below 10^19 means the same number to both; anything else
    (suffixes, ``0x``, octal, a sign) needs the property's type.
    """
    return _PLAIN_DECIMAL.fullmatch(text) is not None


def _strtod_finite(text: str) -> float:
    """``qemu_strtod_finite(text, NULL, ...)``: a whole finite C double."""
    stripped = text.lstrip(" \t\n\v\f\r")
    try:
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]*(\.[0-9a-fA-F]*)?([pP][+-]?[0-9]+)?", stripped):
            value = float.fromhex(stripped)
        elif re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", stripped):
            value = float(stripped)
        else:
            raise ValueError(text)
    except (OverflowError, ValueError):
        raise ValueError(text) from None
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def keyval_value(kind: str, prop_type: Optional[str], name: str, text: str) -> Any:
    """The JSON value QEMU's keyval visitor reads from ``text``.

    :param kind: what QEMU's strict reading wanted (see :data:`TypeRefusal`).
    :param prop_type: the property's type from ``device-list-properties``
        (``size`` properties take suffixes), or None when unknown.
    :raises PropertyValueError: with the keyval visitor's message.
    """
    if kind == "number":
        try:
            return _strtod_finite(text)
        except ValueError:
            raise PropertyValueError(
                f"Invalid parameter type for '{name}', expected: number") from None
    try:
        if kind == "boolean":
            return bool_parse(name, text)
        if kind == "integer":
            return strtoi64(text, 0)
        if kind == "uint64" and prop_type == "size":
            return strtosz(text, "B")
        if kind == "uint64":
            return strtou64(text, 0)
    except OptsError as err:
        if kind == "boolean":
            raise PropertyValueError(err.message) from None
        what = "size" if prop_type == "size" else "integer"
        raise PropertyValueError(f"Parameter '{name}' expects {what}") from None
    raise PropertyValueError(f"Parameter '{name}' expects {kind}")
