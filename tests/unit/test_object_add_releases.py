"""object_add follows the served QEMU's ``ObjectOptions``: its object types and
members, their order and whether they are required, from the live schema;
integer widths and sizes from QEMU's QAPI sources.  Texts measured on QEMU
7.2.22, 10.0.2 and 11.1.3 (``human-monitor-command``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given, strategies as st

from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.object_add import (LATER_MEMBERS, MEMBERS_SINCE, OBJECT_OPTIONS,
                                           OBJECT_TYPES_SINCE,
                                           object_options)
from hmpbridge.keyval import (INTEGERS, Alternate, Enum, KeyvalError, ListOf, Struct, TypeSpec,
                              keyval_parse, visit)
from hmpbridge.model import QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.qapi_schema import Schema
from hmpbridge.testing import CannedReplies, qmp_greeting, run_line

_load_all()

RELEASES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
VERSIONS = {"7.2": (7, 2, 22), "10.0": (10, 0, 2), "11.1": (11, 1, 3)}


@lru_cache(maxsize=None)
def entities(release: str) -> Tuple[Any, ...]:
    with open(os.path.join(RELEASES, release, "schema.json")) as f:
        return tuple(json.load(f))


@lru_cache(maxsize=None)
def schema(release: str) -> Schema:
    return Schema(entities(release))


def context(release: str, hmp_version: Optional[Tuple[int, int]] = None) -> Context:
    return Context(profile=profile_for(qmp_greeting(VERSIONS[release]), list(entities(release)),
                                       hmp_version))


def run(line: str, release: str, replies: Optional[Dict[str, Any]] = None) -> tuple:
    script = CannedReplies(replies)
    return run_line(line, script, context(release)), script.sent


def converted(text: str, release: str) -> Dict[str, Any]:
    tree, _ = keyval_parse(text, "qom-type")
    assert visit(object_options(schema(release)), tree, [], release == "7.2")
    return tree


def refusal(text: str, release: str) -> str:
    tree, _ = keyval_parse(text, "qom-type")
    with pytest.raises(KeyvalError) as err:
        visit(object_options(schema(release)), tree, [], release == "7.2")
    return str(err.value)


# --- the options read from the schema -----------------------------------------------------

def test_7_2s_schema_gives_the_7_2_table() -> None:
    """Read from QEMU 7.2's own schema, ObjectOptions is the hand-made 7.2 table, exactly."""
    built = object_options(schema("7.2"))
    assert built.members == OBJECT_OPTIONS.members
    assert set(built.variants) == set(OBJECT_OPTIONS.variants)
    for kind, variant in OBJECT_OPTIONS.variants.items():
        assert built.variants[kind] == variant, kind
    assert built == OBJECT_OPTIONS


def test_without_a_schema_the_7_2_table() -> None:
    assert object_options(None) is OBJECT_OPTIONS


def test_built_once_per_schema() -> None:
    """The options are worked out once per schema object, and anew for another."""
    first = object_options(schema("10.0"))
    assert object_options(schema("10.0")) is first
    assert object_options(Schema(entities("10.0"))) == first


def test_a_schema_without_object_add_keeps_the_7_2_table() -> None:
    assert object_options(Schema([])) is OBJECT_OPTIONS


NEW_TYPES = {
    "10.0": {"acpi-generic-initiator", "acpi-generic-port", "iommufd", "memory-backend-shm",
             "sev-snp-guest"},
    "11.1": {"acpi-generic-initiator", "acpi-generic-port", "iommufd", "memory-backend-shm",
             "sev-snp-guest", "monitor-hmp", "monitor-qmp", "tdx-guest"},
}


@pytest.mark.parametrize("release", ["10.0", "11.1"])
def test_object_types_are_the_schemas(release: str) -> None:
    built = object_options(schema(release))
    types = built.members[0][1]
    assert isinstance(types, Enum)
    assert set(types.values) - set(OBJECT_OPTIONS.variants) == NEW_TYPES[release]
    assert set(built.variants) <= set(types.values)


def test_new_members_keep_their_qapi_types() -> None:
    """Members added since 7.2 take their QAPI types (introspection says only int)."""
    ten = object_options(schema("10.0")).variants
    assert ("offset", "size", False) in ten["memory-backend-file"].members
    assert ("rom", Enum(("auto", "on", "off")), False) in ten["memory-backend-file"].members
    assert ("throttle-bps", "uint64", False) in ten["cryptodev-backend-builtin"].members
    assert ("node", "uint32", True) in ten["acpi-generic-port"].members
    assert ten["memory-backend-shm"].members == OBJECT_OPTIONS.variants[
        "memory-backend-ram"].members
    snp = dict((name, spec) for name, spec, _ in ten["sev-snp-guest"].members)
    assert (snp["policy"], snp["cbitpos"], snp["reduced-phys-bits"]) == (
        "uint64", "uint32", "uint32")
    eleven = object_options(schema("11.1")).variants
    assert ("poll-weight", "int", False) in eleven["iothread"].members
    assert ("attributes", "uint64", False) in eleven["tdx-guest"].members
    socket = dict((n, s) for n, s, _ in eleven["x-vfio-user-server"].members)["socket"]
    assert isinstance(socket, Struct)
    assert ("keep-alive-idle", "uint32", False) in socket.variants["inet"].members


@pytest.mark.parametrize("kind", sorted(LATER_MEMBERS))
def test_every_fact_names_a_member_of_a_served_release(kind: str) -> None:
    """Each QAPI type fact is about a member some served schema has (no stale entries)."""
    def paths(spec: TypeSpec, prefix: str) -> List[str]:
        if isinstance(spec, ListOf):
            return paths(spec.element, prefix)
        if not isinstance(spec, Struct):
            return []
        found = []
        for struct in [spec, *spec.variants.values()]:
            for name, member, _ in struct.members:
                found += [prefix + name] + paths(member, prefix + name + ".")
        return found

    known = set()
    for release in ("10.0", "11.1"):
        variant = object_options(schema(release)).variants.get(kind)
        if variant is not None:
            known.update(paths(variant, ""))
    assert set(LATER_MEMBERS[kind]) <= known


# --- conversion by release ----------------------------------------------------------------

@pytest.mark.parametrize("text, release, expected", [
    ("memory-backend-shm,id=shm1", "7.2",
     "Parameter 'qom-type' does not accept value 'memory-backend-shm'"),
    ("memory-backend-shm,id=shm1", "10.0", "Parameter 'size' is missing"),
    ("memory-backend-file,id=f2,size=1M,mem-path=/tmp,offset=x", "10.0",
     "Parameter 'offset' expects size"),
    ("memory-backend-file,id=f2,size=1M,mem-path=/tmp,offset=0x10M", "11.1",
     "Parameter 'offset' expects size"),
    ("memory-backend-file,id=f4,size=1M,mem-path=/tmp,rom=maybe", "10.0",
     "Parameter 'rom' does not accept value 'maybe'"),
    ("iothread,id=io4,poll-weight=x", "11.1", "Parameter 'poll-weight' expects integer"),
    ("iothread,id=io4,poll-weight=9223372036854775808", "11.1",
     "Parameter 'poll-weight' expects integer"),
    ("cryptodev-backend-builtin,id=c3,throttle-ops=x,throttle-bps=y", "10.0",
     "Parameter 'throttle-bps' expects integer"),
    ("acpi-generic-initiator,id=agi,pci-dev=x,node=4294967296", "10.0",
     "Parameter 'node' expects uint32_t"),
    ("acpi-generic-port,id=agp,pci-bus=x,node=-1", "11.1", "Parameter 'node' expects uint32_t"),
    ("acpi-generic-port,id=agp,node=1", "10.0", "Parameter 'pci-bus' is missing"),
    ("sev-snp-guest,id=snp,reduced-phys-bits=1,policy=18446744073709551615,cbitpos=x", "10.0",
     "Parameter 'cbitpos' expects integer"),
    ("sev-snp-guest,id=snp,reduced-phys-bits=4294967296", "11.1",
     "Parameter 'reduced-phys-bits' expects uint32_t"),
    ("sev-guest,id=sev,policy=x,legacy-vm-type=maybe", "7.2", "Parameter 'policy' expects integer"),
    ("sev-guest,id=sev,policy=x,legacy-vm-type=maybe", "10.0",
     "Parameter 'reduced-phys-bits' is missing"),
    ("monitor-hmp,id=mh2,readline=maybe", "10.0",
     "Parameter 'qom-type' does not accept value 'monitor-hmp'"),
    ("monitor-hmp,id=mh2,readline=maybe", "11.1", "Parameter 'chardev' is missing"),
    ("monitor-qmp,id=mq1,chardev=nope,close-action=bogus", "11.1",
     "Parameter 'close-action' does not accept value 'bogus'"),
    ("tdx-guest,id=td,attributes=18446744073709551616", "11.1",
     "Parameter 'attributes' expects integer"),
    ("tdx-guest,id=td3,quote-generation-socket=x", "11.1",
     "Invalid parameter type for 'quote-generation-socket', expected: object"),
    ("tdx-guest,id=td4,quote-generation-socket.type=unix", "11.1",
     "Parameter 'quote-generation-socket.path' is missing"),
    ("tdx-guest,id=td,quote-generation-socket.type=inet,quote-generation-socket.host=h,"
     "quote-generation-socket.port=1,quote-generation-socket.keep-alive-count=4294967296", "11.1",
     "Parameter 'keep-alive-count' expects uint32_t"),
    ("x-vfio-user-server,id=v,socket.type=inet,socket.host=h,socket.port=1,"
     "socket.keep-alive-idle=-1,device=d", "11.1", "Parameter 'keep-alive-idle' expects uint32_t"),
    ("x-vfio-user-server,id=v,socket.type=inet,socket.host=h,socket.port=1,"
     "socket.keep-alive-idle=x,device=d", "11.1",
     "Parameter 'socket.keep-alive-idle' expects integer"),
])
def test_refusals_are_that_releases(text: str, release: str, expected: str) -> None:
    """The first value refused is the one that release's keyval visitor refuses."""
    assert refusal(text, release) == expected


def test_values_of_new_members_are_typed() -> None:
    assert converted("memory-backend-file,id=f1,size=1M,mem-path=/tmp,offset=4k,rom=auto",
                     "10.0") == {"qom-type": "memory-backend-file", "id": "f1", "size": 1 << 20,
                                 "mem-path": "/tmp", "offset": 4096, "rom": "auto"}
    assert converted("iothread,id=io,poll-weight=0x10,poll-max-ns=5", "11.1")[
        "poll-weight"] == 16
    assert converted("cryptodev-backend-builtin,id=c,throttle-bps=-1", "10.0")[
        "throttle-bps"] == (1 << 64) - 1
    assert converted("tdx-guest,id=td,sept-ve-disable=on,quote-generation-socket.type=vsock,"
                     "quote-generation-socket.cid=2,quote-generation-socket.port=4050",
                     "11.1") == {
        "qom-type": "tdx-guest", "id": "td", "sept-ve-disable": True,
        "quote-generation-socket": {"type": "vsock", "cid": "2", "port": "4050"}}


def test_a_member_the_release_dropped_goes_to_qemu() -> None:
    """secret's 'loaded' left QAPI in 8.0: the walk stops, QEMU reports it as unexpected."""
    tree, _ = keyval_parse("secret,id=s1,data=x,loaded=on", "qom-type")
    assert not visit(object_options(schema("10.0")), tree, [])
    assert tree["loaded"] == "on"
    assert converted("secret,id=s1,data=x,loaded=on", "7.2")["loaded"] is True


# --- the handler --------------------------------------------------------------------------

def test_handler_reads_the_profiles_schema() -> None:
    out, sent = run("object_add memory-backend-shm,id=shm1,size=4M", "10.0")
    assert out == ""
    assert sent == [QMPCommand("object-add", {"qom-type": "memory-backend-shm", "id": "shm1",
                                              "size": 4 << 20})]
    out, sent = run("object_add memory-backend-shm,id=shm1,size=4M", "7.2")
    assert (out, sent) == (
        "Error: Parameter 'qom-type' does not accept value 'memory-backend-shm'\n", [])


def test_handler_refuses_with_the_releases_words() -> None:
    out, sent = run("object_add sev-guest,id=sev,policy=x,legacy-vm-type=maybe", "11.1")
    assert (out, sent) == ("Error: Parameter 'reduced-phys-bits' is missing\n", [])


@pytest.mark.parametrize("line, hmp_version, taken", [
    ("object_add memory-backend-shm,id=shm1,size=4M", (7, 2), False),
    ("object_add memory-backend-shm,id=shm1,size=4M", (9, 1), True),
    ("object_add iommufd,id=i1", (8, 2), False),
    ("object_add iommufd,id=i1", (9, 0), True),
    ("object_add acpi-generic-port,id=p,pci-bus=b,node=0", (9, 1), False),
    ("object_add tdx-guest,id=td", (10, 0), False),
    ("object_add tdx-guest,id=td", (10, 1), True),
    ("object_add monitor-hmp,id=m,chardev=c", (11, 0), False),
    ("object_add monitor-hmp,id=m,chardev=c", (11, 1), True),
])
def test_older_text_takes_only_that_releases_types(line: str, hmp_version: Tuple[int, int],
                                                   taken: bool) -> None:
    """Under an older release's text, an object type that release did not have is
    refused in its words, as its monitor refuses it."""
    script = CannedReplies()
    out = run_line(line, script, context("11.1", hmp_version=hmp_version))
    kind = line.split()[1].split(",")[0]
    if taken:
        assert (out, [cmd.execute for cmd in script.sent]) == ("", ["object-add"])
    else:
        assert (out, script.sent) == (
            f"Error: Parameter 'qom-type' does not accept value '{kind}'\n", [])


def test_types_since_name_types_of_the_served_schemas() -> None:
    newest = set(object_options(schema("11.1")).variants)
    assert set(OBJECT_TYPES_SINCE) - {"igvm-cfg"} <= newest
    assert newest - set(OBJECT_TYPES_SINCE) == set(OBJECT_OPTIONS.variants)


def test_older_text_visits_in_that_releases_order() -> None:
    """Before 9.1 sev-guest's members came in 7.2's order: policy before reduced-phys-bits."""
    script = CannedReplies()
    line = "object_add sev-guest,id=sev,policy=x,legacy-vm-type=maybe"
    assert run_line(line, script, context("11.1", hmp_version=(7, 2))) == \
        "Error: Parameter 'policy' expects integer\n"
    assert run_line(line, script, context("11.1", hmp_version=(9, 1))) == \
        "Error: Parameter 'reduced-phys-bits' is missing\n"
    assert script.sent == []


# --- property: whatever the line, the arguments sent have the schema's types -------------------

def _member_line(data: st.DataObject, release: str) -> Tuple[str, Struct]:
    draw = data.draw
    options = object_options(schema(release))
    kind = draw(st.sampled_from(sorted(options.variants)))
    members = options.variants[kind].members
    picked = draw(st.lists(st.sampled_from(members), max_size=4, unique_by=lambda m: m[0])
                  if members else st.just([]))
    items = [kind, "id=obj"]
    for name, spec, _ in picked:
        items.append(f"{name}={draw(_text_for(spec))}")
    return ",".join(items), options


def _text_for(spec: TypeSpec) -> st.SearchStrategy[str]:
    numbers = st.one_of(st.integers(-(1 << 65), 1 << 65).map(str),
                        st.integers(0, 1 << 20).map(hex),
                        st.sampled_from(["1k", "2M", "0x10M", "", "x", "-0", " 7", "1.5k"]))
    if isinstance(spec, Enum):
        return st.one_of(st.sampled_from(spec.values), st.just("bogus"))
    if spec == "bool":
        return st.sampled_from(["on", "off", "yes", "no", "true", "false", "y", "n", "maybe"])
    if isinstance(spec, str) and (spec in INTEGERS or spec == "size"):
        return numbers
    return st.text("abc,=.0", max_size=6).map(lambda s: s.replace(",", ",,"))


def _typed(spec: TypeSpec, value: Any) -> bool:
    if isinstance(spec, Struct):
        return isinstance(value, dict)
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    if isinstance(spec, Alternate):
        return True
    if isinstance(spec, Enum):
        return value in spec.values
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "size":
        return isinstance(value, int) and 0 <= value < 1 << 64
    if isinstance(spec, str) and spec in INTEGERS:
        signed, bits = INTEGERS[spec]
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    return isinstance(value, str)


@given(st.sampled_from(["10.0", "11.1"]), st.data())
def test_converted_members_have_their_types(release: str, data: st.DataObject) -> None:
    """Any line of the schema's members either is refused with one message, or every
    member it sets is sent with its type (an int within its width, a size, a bool...)."""
    text, options = _member_line(data, release)
    try:
        tree, _ = keyval_parse(text, "qom-type")
    except KeyvalError:
        return
    try:
        complete = visit(options, tree, [], False)
    except KeyvalError as err:
        assert str(err).startswith(("Parameter", "Invalid parameter"))
        return
    assert complete
    variant = options.variants[tree["qom-type"]]
    for name, spec, _ in variant.members:
        if name in tree:
            assert _typed(spec, tree[name]), (name, spec, tree[name])


# --- members an older release's text did not have ----------------------------------------------

@pytest.mark.parametrize("line, hmp_version, expected", [
    # measured on QEMU 7.2.22 and 10.0.2 (the first unexpected member by GLib's hash table)
    ("object_add iothread,id=x1,poll-weight=3,bogus=1,zz=2", (7, 2), "poll-weight"),
    ("object_add iothread,id=x1,poll-weight=3,bogus=1,zz=2", (10, 0), "poll-weight"),
    ("object_add iothread,id=x2,zz=2,poll-weight=3,aa=1", (7, 2), "aa"),
    ("object_add memory-backend-file,id=f9,size=1M,mem-path=/tmp,offset=4k,rom=on,"
     "readonly=on,x=1", (7, 2), "rom"),
    ("object_add x-vfio-user-server,id=v,socket.type=inet,socket.host=h,socket.port=1,"
     "socket.keep-alive-idle=1,socket.zz=1,device=d", (10, 0), "socket.keep-alive-idle"),
    ("object_add cryptodev-backend-builtin,id=c1,throttle-bps=1,throttle-ops=2", (7, 2),
     "throttle-bps"),
    ("object_add memory-backend-file,id=f1,size=1M,mem-path=/tmp,offset=4k", (8, 0), "offset"),
])
def test_older_text_refuses_members_that_release_lacked(
        line: str, hmp_version: Tuple[int, int], expected: str) -> None:
    """A member added after the release whose text is printed is unexpected, as there."""
    script = CannedReplies()
    out = run_line(line, script, context("11.1", hmp_version=hmp_version))
    assert (out, script.sent) == (f"Error: Parameter '{expected}' is unexpected\n", [])


@pytest.mark.parametrize("line, hmp_version", [
    ("object_add iothread,id=x1,poll-weight=3", (11, 1)),
    ("object_add memory-backend-file,id=f1,size=1M,mem-path=/tmp,offset=4k", (8, 1)),
    ("object_add memory-backend-file,id=f1,size=1M,mem-path=/tmp,rom=on", (8, 2)),
    ("object_add cryptodev-backend-builtin,id=c1,throttle-bps=1", (8, 0)),
])
def test_members_from_the_release_on_are_taken(line: str, hmp_version: Tuple[int, int]) -> None:
    script = CannedReplies()
    assert run_line(line, script, context("11.1", hmp_version=hmp_version)) == ""
    assert [cmd.execute for cmd in script.sent] == ["object-add"]


def test_members_since_name_members_of_the_served_schemas() -> None:
    variants = object_options(schema("11.1")).variants
    for (kind, path), _ in MEMBERS_SINCE.items():
        names = dict((name, spec) for name, spec, _ in variants[kind].members)
        first, _, rest = path.partition(".")
        assert first in names, (kind, path)
        if rest:
            inner = names[first]
            assert isinstance(inner, Struct)
            assert any(rest in dict((n, s) for n, s, _ in v.members)
                       for v in inner.variants.values()), (kind, path)
