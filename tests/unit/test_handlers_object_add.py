"""object_add: keyval parsing, conversion to ObjectOptions types, QEMU's errors and help forms."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.object_add import OBJECT_OPTIONS
from hmpbridge.keyval import KeyvalError, keyval_parse, qdict_order, visit
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_line

_load_all()


def run(line: str, replies: Optional[Dict[str, Any]] = None,
        ctx: Optional[Context] = None) -> tuple:
    """The text printed for ``line`` and the commands sent; an exception reply is raised."""
    script = CannedReplies(replies)
    return run_line(line, script, ctx, render=False), script.sent


def converted(text: str) -> Dict[str, Any]:
    """The object-add arguments for a keyval string, every member converted."""
    tree, wants_help = keyval_parse(text, "qom-type")
    assert not wants_help
    assert visit(OBJECT_OPTIONS, tree, [])
    return tree


# --- keyval_parse --------------------------------------------------------------------------

def test_implied_key_nesting_lists_and_escapes() -> None:
    """The first item is qom-type; dots nest, digit fragments make lists, ',,' is a comma."""
    tree, wants_help = keyval_parse("iothread,id=a,b.0=1,b.1=2,c.x.0.y=3,d=1,,2", "qom-type")
    assert not wants_help
    assert tree == {"qom-type": "iothread", "id": "a", "b": ["1", "2"],
                    "c": {"x": [{"y": "3"}]}, "d": "1,2"}


def test_repeated_key_keeps_last_value_in_first_place() -> None:
    """A repeated key replaces its value where it was first put, as QDict does."""
    tree, _ = keyval_parse("iothread,id=io3,poll-grow=1,id=io4", "qom-type")
    assert list(tree.items()) == [("qom-type", "iothread"), ("id", "io4"), ("poll-grow", "1")]


@pytest.mark.parametrize("text, has_type", [
    ("help", False), ("?", False), ("iothread,help", True), ("iothread,?", True),
    ("iothread,id=x,help", True), ("help,id=x", False),
])
def test_help_requests(text: str, has_type: bool) -> None:
    """A bare help or ? item anywhere asks for help; it is not the implied key's value."""
    tree, wants_help = keyval_parse(text, "qom-type")
    assert wants_help
    assert ("qom-type" in tree) == has_type


def test_help_prefix_is_a_value() -> None:
    """'helpme' is not a help request: it is the type's name."""
    assert keyval_parse("helpme,id=x", "qom-type") == ({"qom-type": "helpme", "id": "x"}, False)


@pytest.mark.parametrize("text, message", [
    ("iothread,,id=x", "Invalid parameter ''"),
    ("iothread,id=io1,poll-max-ns", "Expected '=' after parameter 'poll-max-ns'"),
    ("iothread,1a=1", "Invalid parameter '1a'"),
    ("iothread,a.1b=1", "Invalid parameter 'a.1b'"),
    ("iothread,a..b=1", "Invalid parameter 'a..b'"),
    ("iothread, x=3", "Invalid parameter ' x'"),
    ("iothread,a=1,a.b=1", "Parameters 'a.*' used inconsistently"),
    ("iothread,a.b=1,a=1", "Parameters 'a.*' used inconsistently"),
    ("iothread,h.1=0", "Parameter 'h.0' missing"),
    ("iothread,k.0=1,k.5=2", "Parameter 'k.1' missing"),
    ("iothread,h.0=0,h.x=1", "Parameters 'h.*' used inconsistently"),
    ("iothread," + "a" * 128 + "=1", f"Parameter '{'a' * 128}' is too long"),
    ("iothread,b." + "a" * 128 + "=1", f"Parameter fragment '{'a' * 128}' is too long"),
])
def test_syntax_errors(text: str, message: str) -> None:
    """Malformed strings get keyval_parse's own messages."""
    with pytest.raises(KeyvalError) as err:
        keyval_parse(text, "qom-type")
    assert str(err.value) == message


def test_first_error_follows_qdict_order() -> None:
    """Among several bad lists, the one QEMU's QDict visits first is reported (d before m)."""
    with pytest.raises(KeyvalError) as err:
        keyval_parse("iothread,m.0=1,m.x=2,d.0=1,d.x=2", "qom-type")
    assert str(err.value) == "Parameters 'd.*' used inconsistently"
    assert qdict_order(["m", "d"]) == ["d", "m"]
    assert qdict_order(["a", "c"]) == ["a", "c"]


# --- conversion ----------------------------------------------------------------------------

def test_memory_backend_members_are_typed() -> None:
    """Sizes take suffixes and fractions, booleans every QAPI spelling, lists their elements."""
    assert converted("memory-backend-ram,id=m,size=64M,share=on,prealloc=yes,merge=false,"
                     "dump=n,host-nodes.0=0,prealloc-threads=010,policy=bind") == {
        "qom-type": "memory-backend-ram", "id": "m", "size": 64 << 20, "share": True,
        "prealloc": True, "merge": False, "dump": False, "host-nodes": [0],
        "prealloc-threads": 8, "policy": "bind"}
    assert converted("memory-backend-ram,id=m,size=1.5k")["size"] == 1536


def test_integers_read_with_base_zero_and_unsigned_wrap() -> None:
    """Integers take 0x and 0 prefixes and leading blanks; -1 wraps for an unsigned member."""
    args = converted("iothread,id=i,poll-max-ns=0x10,poll-grow= 5,poll-shrink=-3")
    assert (args["poll-max-ns"], args["poll-grow"], args["poll-shrink"]) == (16, 5, -3)
    args = converted("colo-compare,id=c,primary_in=a,secondary_in=b,outdev=c,iothread=i,"
                     "compare_timeout=-1")
    assert args["compare_timeout"] == (1 << 64) - 1


def test_nested_struct_union_and_list_of_structs() -> None:
    """Throttle limits, a socket address union and authz rules convert member by member."""
    assert converted("throttle-group,id=t,limits.iops-total=200,x-iops-total=1")[
        "limits"] == {"iops-total": 200}
    assert converted("x-vfio-user-server,id=v,socket.type=inet,socket.host=h,socket.port=1,"
                     "socket.to=9,socket.ipv4=on,device=d")["socket"] == {
        "type": "inet", "host": "h", "port": "1", "to": 9, "ipv4": True}
    assert converted("authz-list,id=a,rules.0.match=bob,rules.0.policy=allow,"
                     "rules.0.format=glob")["rules"] == [
        {"match": "bob", "policy": "allow", "format": "glob"}]


def test_hex_size_with_suffix_warns() -> None:
    """A hex size with a suffix is accepted with QEMU's deprecation warning."""
    tree, _ = keyval_parse("memory-backend-ram,id=m,size=0x10M", "qom-type")
    warnings: List[str] = []
    assert visit(OBJECT_OPTIONS, tree, warnings)
    assert tree["size"] == 16 << 20
    assert warnings == ["warning: Using a multiplier suffix on hex numbers is deprecated: 0x10M"]


@pytest.mark.parametrize("text, message", [
    ("bogus,id=x", "Parameter 'qom-type' does not accept value 'bogus'"),
    ("iothread", "Parameter 'id' is missing"),
    ("id=x", "Parameter 'qom-type' is missing"),
    ("memory-backend-ram,id=m", "Parameter 'size' is missing"),
    ("memory-backend-ram,id=m,policy=bogus", "Parameter 'policy' does not accept value 'bogus'"),
    ("iothread,id=i,poll-max-ns=1k", "Parameter 'poll-max-ns' expects integer"),
    ("iothread,id=i,poll-max-ns=", "Parameter 'poll-max-ns' expects integer"),
    ("iothread,id=i,poll-max-ns=9223372036854775808", "Parameter 'poll-max-ns' expects integer"),
    ("iothread,id=i,poll-max-ns.0=1", "Parameters 'poll-max-ns.*' are unexpected"),
    ("memory-backend-ram,id=m,size=64Q", "Parameter 'size' expects size"),
    ("memory-backend-ram,id=m,size=-1", "Parameter 'size' expects size"),
    ("memory-backend-ram,id=m,size=16E", "Parameter 'size' expects size"),
    ("memory-backend-ram,id=m,size=1M,share=maybe", "Parameter 'share' expects 'on' or 'off'"),
    ("memory-backend-ram,id=m,size=1M,prealloc-threads=-1",
     "Parameter 'prealloc-threads' expects uint32_t"),
    ("memory-backend-ram,id=m,size=1M,host-nodes.0=70000", "Parameter 'null' expects uint16_t"),
    ("memory-backend-ram,id=m,size=1M,host-nodes.0=x", "Parameter 'host-nodes.0' expects integer"),
    ("memory-backend-ram,id=m,size=1M,host-nodes=0",
     "Invalid parameter type for 'host-nodes', expected: array"),
    ("secret_keyring,id=k,serial=0x100000000", "Parameter 'serial' expects int32_t"),
    ("secret,id=s,data.x=1", "Parameters 'data.*' are unexpected"),
    ("throttle-group,id=t,limits=5", "Invalid parameter type for 'limits', expected: object"),
    ("throttle-group,id=t,limits.iops-total=1k", "Parameter 'limits.iops-total' expects integer"),
    ("authz-list,id=a,rules.0.policy=allow", "Parameter 'rules.0.match' is missing"),
    ("authz-list,id=a,rules.0.match=x,rules.0.policy=bogus",
     "Parameter 'policy' does not accept value 'bogus'"),
    ("iothread,id=i,bogus=1,poll-max-ns=x", "Parameter 'poll-max-ns' expects integer"),
])
def test_conversion_errors(text: str, message: str) -> None:
    """The first value refused, in schema order, gets the keyval visitor's message."""
    tree, _ = keyval_parse(text, "qom-type")
    with pytest.raises(KeyvalError) as err:
        visit(OBJECT_OPTIONS, tree, [])
    assert str(err.value) == message


def test_unknown_members_stop_the_walk() -> None:
    """A struct with a member its type lacks stops the walk; later members stay strings."""
    tree, _ = keyval_parse("throttle-group,id=t,limits.bogus=1,x-iops-total=x", "qom-type")
    assert not visit(OBJECT_OPTIONS, tree, [])
    assert tree["x-iops-total"] == "x"


# --- the handler ---------------------------------------------------------------------------

def test_object_add_sends_typed_arguments() -> None:
    """object_add sends object-add with converted members, in the order QEMU parsed them."""
    out, sent = run("object_add memory-backend-ram,id=mem1,size=64M,share=on")
    assert out == ""
    assert sent == [QMPCommand("object-add", {"qom-type": "memory-backend-ram", "id": "mem1",
                                              "size": 67108864, "share": True})]
    assert list(sent[0].arguments) == ["qom-type", "id", "size", "share"]


def test_refused_value_sends_nothing() -> None:
    """A value the visitor refuses is reported without any QMP command."""
    out, sent = run("object_add iothread,id=io1,poll-max-ns=abc")
    assert (out, sent) == ("Error: Parameter 'poll-max-ns' expects integer\n", [])
    out, sent = run("object_add iothread,,id=x")
    assert (out, sent) == ("Error: Invalid parameter ''\n", [])


def test_unknown_member_is_reported_by_qemu_in_keyval_words() -> None:
    """Unknown members go to QEMU, which picks one; a list index prints as '.0', not '[0]'."""
    error = QMPCommandError("GenericError", "Parameter 'rules[0].bogus' is unexpected")
    out, sent = run("object_add authz-list,id=al,rules.0.match=x,rules.0.policy=allow,"
                    "rules.0.bogus=1", {"object-add": error})
    assert out == "Error: Parameter 'rules.0.bogus' is unexpected\n"
    assert sent[0].arguments["rules"] == [{"match": "x", "policy": "allow", "bogus": "1"}]


def test_malformed_id_gets_the_identifier_hint() -> None:
    """QEMU's id check comes back from object-add; HMP's hint line is added."""
    error = QMPCommandError("GenericError", "Parameter 'id' expects an identifier")
    out, _ = run("object_add iothread,id=1bad", {"object-add": error})
    assert out == ("Error: Parameter 'id' expects an identifier\n"
                   "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n")


def test_warning_comes_before_the_creation_error() -> None:
    """The hex-size warning prints first, then QEMU's error."""
    error = QMPCommandError("GenericError", "Parameter 'bogus' is unexpected")
    out, _ = run("object_add memory-backend-ram,id=m3,size=0x10M,bogus=1", {"object-add": error})
    assert out == ("warning: Using a multiplier suffix on hex numbers is deprecated: 0x10M\n"
                   "Error: Parameter 'bogus' is unexpected\n")


@pytest.mark.parametrize("line", ["object_add help", "object_add ?", "object_add iothread,help",
                                  "object_add bogus,help", "object_add help,id=x"])
def test_help_forms_go_to_qemus_monitor(line: str) -> None:
    """Every help form runs through human-monitor-command, as the line was typed."""
    out, sent = run(line, {"human-monitor-command": "iothread options:\r\n"})
    assert out == "iothread options:\n"
    assert sent == [QMPCommand("human-monitor-command", {"command-line": line, "cpu-index": 0})]


def test_help_without_passthrough_says_so() -> None:
    """With passthrough off, a help form says it needs QEMU's monitor and sends nothing."""
    out, sent = run("object_add iothread,help", ctx=Context(passthrough=False))
    assert "passthrough is switched off" in out
    assert sent == []


@pytest.mark.parametrize("ctx", [Context(passthrough=False),
                                 Context(schema_commands=frozenset({"object-add",
                                                                    "qom-list-types"}))],
                         ids=["no-passthrough", "no-human-monitor"])
def test_type_list_without_qemus_monitor_comes_from_qom_list_types(ctx: Context) -> None:
    """Without QEMU's monitor, object_add help lists the user-creatable types, case aside."""
    types = [{"name": "throttle-group"}, {"name": "secret_keyring"}, {"name": "iothread"},
             {"name": "Zeta"}, {"name": "authz-list"}]
    out, sent = run("object_add help", {"qom-list-types": types}, ctx=ctx)
    assert out == ("List of user creatable objects:\n  authz-list\n  iothread\n"
                   "  secret_keyring\n  throttle-group\n  Zeta\n")
    assert sent == [QMPCommand("qom-list-types", {"implements": "user-creatable",
                                                  "abstract": False})]


def test_syntax_error_wins_over_help() -> None:
    """keyval_parse fails before help is looked at, as in QEMU."""
    out, sent = run("object_add iothread,help,,x")
    assert (out, sent) == ("Error: Invalid parameter ''\n", [])
