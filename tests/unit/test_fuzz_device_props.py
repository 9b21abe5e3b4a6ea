"""Property-based tests of ``device_add``'s property typing against a strict QMP.

A fake QEMU 9.2+ refuses a string for any typed property with the error its
strict JSON visitor gives; HMP (the reference) reads every value with the
keyval visitor, in the order written, and stops at the first it refuses.
For random property tables and values (valid and not), the bridge must print
what HMP prints, add the device with the values HMP would have read, leave
string-read properties as strings, and need at most one round per property.
"""

from __future__ import annotations

import math
from typing import Any, Dict

from hypothesis import given, strategies as st

from hmpbridge.device_props import PropertyValueError, keyval_value
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, drive
from hmpbridge.model import Invocation
from tests.unit.test_machine_commands import StrictQEMU, spec

#: device-list-properties type -> what the strict visitor wanted.
KINDS = {"bool": "boolean", "int32": "integer", "uint32": "uint64", "uint64": "uint64",
         "size": "uint64", "str": None, "OnOffAuto": None}

names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("driver", "id", "bus"))
values = st.one_of(
    st.sampled_from(["on", "off", "yes", "no", "y", "n", "true", "false", "maybe", "",
                     "0", "1", "-1", "010", "0x1f", "0x", "1k", "1.5M", "2G", "1e3",
                     "18446744073709551615", "18446744073709551616", " 7", "7 ", "+3",
                     "auto", "06.0"]),
    st.text(alphabet="0123456789abcdefxkKMG.-+ ", max_size=8),
    st.integers(min_value=-(1 << 65), max_value=1 << 65).map(str))


@st.composite
def devices(draw: Any) -> Dict[str, Any]:
    props = draw(st.dictionaries(names, st.sampled_from(sorted(KINDS)), max_size=6))
    opts = {name: draw(values) for name in props}
    return {"types": props, "opts": opts}


def hmp_reference(types: Dict[str, str], opts: Dict[str, str]) -> Any:
    """(None, typed values) when HMP adds the device, else (message, None)."""
    typed: Dict[str, Any] = {}
    for name, text in opts.items():
        kind = KINDS[types[name]]
        if kind is None:
            typed[name] = text
            continue
        try:
            typed[name] = keyval_value(kind, types[name], name, text)
        except PropertyValueError as err:
            return f"Error: {err}\n", None
    return None, typed


@given(devices())
def test_device_add_does_what_hmp_does(device: Dict[str, Any]) -> None:
    types, opts = device["types"], device["opts"]
    qemu = StrictQEMU(types)
    inv = Invocation(spec("device_add", "device:O"), {"device": {"driver": "d", **opts}}, "")
    try:
        out = drive(HANDLERS["device_add"](inv, Context()), qemu)
    except QMPCommandError as err:  # pragma: no cover - the fake raises only type errors
        out = f"Error: {err.desc}\n"
    message, typed = hmp_reference(types, opts)
    if message is not None:
        assert out == message
        assert qemu.added == []
    else:
        assert out == ""
        assert qemu.added == [{"driver": "d", **typed}]
        for name, kind in types.items():
            if KINDS[kind] is None:
                assert qemu.added[0][name] == opts[name]
    rounds = [cmd for cmd in qemu.sent if cmd.execute == "device_add"]
    assert len(rounds) <= 1 + sum(KINDS[kind] is not None for kind in types.values())
    assert len([c for c in qemu.sent if c.execute == "device-list-properties"]) <= 1


@given(st.sampled_from(["boolean", "integer", "uint64", "number"]),
       st.sampled_from([None, "size", "uint32"]), st.text(max_size=12))
def test_keyval_value_answers_a_value_of_its_kind_or_qemus_message(
        kind: str, prop_type: Any, text: str) -> None:
    try:
        value = keyval_value(kind, prop_type, "p", text)
    except PropertyValueError as err:
        assert "'p'" in str(err)
        return
    if kind == "boolean":
        assert isinstance(value, bool)
    elif kind == "integer":
        assert isinstance(value, int) and -(1 << 63) <= value < (1 << 63)
    elif kind == "uint64":
        assert isinstance(value, int) and 0 <= value < (1 << 64)
    else:
        assert isinstance(value, float) and math.isfinite(value)


