"""QEMU 7.2's key names, as ``sendkey`` reads them.

``sendkey`` splits its argument on ``-`` and looks each name up in the
``QKeyCode`` enumeration (exact, case-sensitive match, ``unmapped``
included); ``<`` alone stands for ``less`` and a ``0x`` hex number is a raw
key number.  :data:`KEY_NAMES` is the enumeration in QEMU's order (as
``query-qmp-schema`` lists it), also the candidates for Tab completion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AbstractSet, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from hmpbridge.qapi_schema import Schema

__all__ = ["KEY_NAMES", "KeyNameError", "parse_keys", "qkeycode_values"]

#: ``QKeyCode`` of QEMU 7.2, in enumeration order.
KEY_NAMES: Tuple[str, ...] = (
    "unmapped", "shift", "shift_r", "alt", "alt_r", "ctrl", "ctrl_r", "menu", "esc", "1",
    "2", "3", "4", "5", "6", "7", "8", "9", "0", "minus", "equal", "backspace", "tab", "q",
    "w", "e", "r", "t", "y", "u", "i", "o", "p", "bracket_left", "bracket_right", "ret",
    "a", "s", "d", "f", "g", "h", "j", "k", "l", "semicolon", "apostrophe", "grave_accent",
    "backslash", "z", "x", "c", "v", "b", "n", "m", "comma", "dot", "slash", "asterisk",
    "spc", "caps_lock", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10",
    "num_lock", "scroll_lock", "kp_divide", "kp_multiply", "kp_subtract", "kp_add",
    "kp_enter", "kp_decimal", "sysrq", "kp_0", "kp_1", "kp_2", "kp_3", "kp_4", "kp_5",
    "kp_6", "kp_7", "kp_8", "kp_9", "less", "f11", "f12", "print", "home", "pgup", "pgdn",
    "end", "left", "up", "down", "right", "insert", "delete", "stop", "again", "props",
    "undo", "front", "copy", "open", "paste", "find", "cut", "lf", "help", "meta_l",
    "meta_r", "compose", "pause", "ro", "hiragana", "henkan", "yen", "muhenkan",
    "katakanahiragana", "kp_comma", "kp_equals", "power", "sleep", "wake", "audionext",
    "audioprev", "audiostop", "audioplay", "audiomute", "volumeup", "volumedown",
    "mediaselect", "mail", "calculator", "computer", "ac_home", "ac_back", "ac_forward",
    "ac_refresh", "ac_bookmarks", "lang1", "lang2",
)



def qkeycode_values(schema: Optional["Schema"]) -> Tuple[str, ...]:
    """``QKeyCode`` of a live schema, in enumeration order (``()`` when unknown).

    It is reached through ``send-key``'s ``keys``: the ``KeyValue`` union's
    ``qcode`` case wraps one.
    """
    if schema is None:
        return ()
    key_value = schema.member_type(schema.arguments("send-key"), "keys")
    variant = next((v for v in key_value.get("variants", ()) if v.get("case") == "qcode"),
                   None)
    if variant is None:
        return ()
    return tuple(schema.enum_values(schema.member_type(schema.entity(variant.get("type")),
                                                       "data")))


_KNOWN = frozenset(KEY_NAMES)
_HEX = frozenset("0123456789abcdefABCDEF")


class KeyNameError(ValueError):
    """A key name ``sendkey`` refuses; ``str()`` is the name as QEMU quotes it."""


def _number(token: str) -> int:
    """A ``0x..`` token as ``(int)strtoul(token, &end, 0)``, all of it hex digits."""
    digits = token[2:]
    if not digits or any(ch not in _HEX for ch in digits):
        raise KeyNameError(token)
    value = int(digits, 16)
    value = min(value, (1 << 64) - 1) & 0xFFFFFFFF  # strtoul saturates; int keeps 32 bits
    return value - (1 << 32) if value & 0x80000000 else value


def parse_keys(keys: str, known: Optional[AbstractSet[str]] = None) -> List[Dict[str, Any]]:
    """The ``KeyValue`` list of ``send-key`` for a ``sendkey`` argument.

    :param known: the key names of the QEMU at hand (its schema's
        ``QKeyCode``: 8.0 added ``f13`` to ``f24``); 7.2's by default.
    :raises KeyNameError: for the first token that is neither a key name nor
        a ``0x`` number (``''`` for an empty one, as in ``ctrl-``).
    """
    names = _KNOWN if known is None else known
    out: List[Dict[str, Any]] = []
    for token in keys.split("-"):
        if token == "<":
            token = "less"
        if token.startswith("0x"):
            out.append({"type": "number", "data": _number(token)})
        elif token in names:
            out.append({"type": "qcode", "data": token})
        else:
            raise KeyNameError(token)
    return out
