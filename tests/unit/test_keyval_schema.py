"""keyval types read from a ``query-qmp-schema`` reply (introspection masks type
names and says ``int`` for every integer), and the keyval visitor's alternates,
numbers and ``any`` values, as qapi/qobject-input-visitor.c and the generated
alternate visitors (scripts/qapi/visit.py) treat them."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from hmpbridge.keyval import (Alternate, Enum, KeyvalError, ListOf, Struct, keyval_parse,
                              spec_from_schema, visit)
from hmpbridge.qapi_schema import Schema

#: A small schema as introspection gives it: masked names, every integer ``int``.
ENTITIES: List[Dict[str, Any]] = [
    {"name": "int", "meta-type": "builtin", "json-type": "int"},
    {"name": "str", "meta-type": "builtin", "json-type": "string"},
    {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
    {"name": "number", "meta-type": "builtin", "json-type": "number"},
    {"name": "any", "meta-type": "builtin", "json-type": "value"},
    {"name": "[int]", "meta-type": "array", "element-type": "int"},
    {"name": "1", "meta-type": "enum", "values": ["inet", "unix"]},
    {"name": "2", "meta-type": "object", "members": [
        {"name": "type", "type": "1"}, {"name": "size", "type": "int", "default": None}],
     "tag": "type", "variants": [{"case": "inet", "type": "3"}, {"case": "unix", "type": "4"}]},
    {"name": "3", "meta-type": "object", "members": [
        {"name": "host", "type": "str"}, {"name": "port", "type": "int", "default": None}]},
    {"name": "4", "meta-type": "object", "members": [{"name": "path", "type": "str"}]},
    {"name": "5", "meta-type": "alternate", "members": [{"type": "int"}, {"type": "2"}]},
    {"name": "6", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "[int]"}]},
    {"name": "7", "meta-type": "object", "members": [
        {"name": "addr", "type": "2"}, {"name": "nodes", "type": "[int]", "default": None},
        {"name": "alt", "type": "5", "default": None},
        {"name": "choice", "type": "6", "default": None},
        {"name": "ratio", "type": "number", "default": None},
        {"name": "blob", "type": "any", "default": None},
        {"name": "flag", "type": "bool", "default": None},
        {"name": "last", "type": "int", "default": None}]},
]
SCHEMA = Schema(ENTITIES)
ADDRESS = Struct((("type", Enum(("inet", "unix")), True), ("size", "int", False)), tag="type",
                 variants={"inet": Struct((("host", "str", True), ("port", "int", False))),
                           "unix": Struct((("path", "str", True),))})


def test_schema_types() -> None:
    """Each introspected type becomes its keyval spec; every integer is int64."""
    spec = spec_from_schema(SCHEMA, SCHEMA.entity("7"))
    assert spec == Struct((
        ("addr", ADDRESS, True), ("nodes", ListOf("int"), False),
        ("alt", Alternate(struct=ADDRESS), False),
        ("choice", Alternate(scalar=Enum(("inet", "unix")), array=ListOf("int")), False),
        ("ratio", "number", False), ("blob", "any", False), ("flag", "bool", False),
        ("last", "int", False)))


def test_known_widths_and_facts_win_over_int() -> None:
    """A known spec keeps an integer's width (or size) down nested members and list
    elements; a fact, by member path, overrides it; a known spec of another kind is
    not used for an integer."""
    known = Struct((("addr", Struct((("size", "size", False),), tag="type", variants={
        "inet": Struct((("port", "uint16", False),))}), True),
        ("nodes", ListOf("uint16"), False), ("last", "str", False)))
    spec = spec_from_schema(SCHEMA, SCHEMA.entity("7"), known, {"addr.port": "uint32"})
    assert isinstance(spec, Struct)
    members = {name: member for name, member, _ in spec.members}
    assert members["addr"].members[1] == ("size", "size", False)
    assert members["addr"].variants["inet"].members[1] == ("port", "uint32", False)
    assert members["nodes"] == ListOf("uint16")
    assert members["last"] == "int"


def options() -> Struct:
    """Schema type ``7`` after an implied key ``t``."""
    return Struct((("t", "str", True),) + spec_from_schema(SCHEMA, SCHEMA.entity("7")).members)


def converted(text: str) -> Dict[str, Any]:
    tree, _ = keyval_parse("x," + text, "t")
    assert visit(options(), tree, [])
    del tree["t"]
    return tree


def refusal(text: str) -> str:
    tree, _ = keyval_parse("x," + text, "t")
    with pytest.raises(KeyvalError) as err:
        visit(options(), tree, [])
    return str(err.value)


def test_alternate_branch_by_what_the_value_is() -> None:
    """A dictionary takes the object branch, a list the array branch, a string the
    string or enumeration branch."""
    assert converted("addr.type=unix,addr.path=p,alt.type=inet,alt.host=h,alt.port=7,"
                     "choice.0=1,choice.1=0x10") == {
        "addr": {"type": "unix", "path": "p"}, "alt": {"type": "inet", "host": "h", "port": 7},
        "choice": [1, 16]}
    assert converted("addr.type=unix,addr.path=p,choice=inet")["choice"] == "inet"
    assert refusal("addr.type=unix,addr.path=p,choice=tcp") == \
        "Parameter 'choice' does not accept value 'tcp'"


def test_alternate_without_the_values_branch_stops_the_walk() -> None:
    """QEMU names the alternate's type, which introspection masks: the value goes to
    QEMU unconverted (its JSON visitor words the refusal alike), and so do the members
    after it."""
    tree, _ = keyval_parse("x,addr.type=unix,addr.path=p,alt=5,last=7", "t")
    assert not visit(options(), tree, [])
    assert (tree["alt"], tree["last"]) == ("5", "7")


@pytest.mark.parametrize("text, value", [
    ("1.5", 1.5), ("-2", -2.0), ("1e3", 1000.0), ("  .5", 0.5), ("0x1p4", 16.0), ("+0", 0.0),
])
def test_numbers(text: str, value: float) -> None:
    assert converted(f"addr.type=unix,addr.path=p,ratio={text}")["ratio"] == value


@pytest.mark.parametrize("text", ["", "x", "1.5 ", "inf", "nan", "-infinity", "1e999", "1_0",
                                  "1e-400"])
def test_numbers_refused(text: str) -> None:
    """qemu_strtod_finite: the whole string, finite, in range."""
    assert refusal(f"addr.type=unix,addr.path=p,ratio={text}") == \
        "Invalid parameter type for 'ratio', expected: number"


def test_any_keeps_the_value_as_parsed() -> None:
    assert converted("addr.type=unix,addr.path=p,blob.a=1,blob.b.0=x")["blob"] == {
        "a": "1", "b": ["x"]}
