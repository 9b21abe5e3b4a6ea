"""The QMP that the assorted info commands send, and how they print QEMU's errors.

Arguments go through the same C conversions as in QEMU's HMP (queue numbers
kept in 16 bits, the rocker group type in 8, "not given" markers), and
failures print the way each HMP handler prints them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.info_stats import comma_list
from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.testing import CannedReplies, run_line

_load_all()


class Script(CannedReplies):
    """Canned replies by QMP command name (a callable gets the command); default []."""

    def __init__(self, replies: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(replies, default=[])


def run(line: str, script: Script, cpu_index: int = 0) -> str:
    return run_line(line, script, Context(state=SessionState(cpu_index=cpu_index),
                                          passthrough=False))


def error(desc: str) -> QMPCommandError:
    return QMPCommandError("GenericError", desc, "x", {})


@pytest.mark.parametrize("line, queue", [
    ("info virtio-queue-status /p 65537", 1),
    ("info virtio-queue-status /p 0xffffffff", 0xFFFF),
    ("info virtio-vhost-queue-status /p 3", 3),
])
def test_queue_numbers_are_truncated_to_16_bits(line: str, queue: int) -> None:
    """The queue number reaches QMP as the uint16 QEMU's HMP passes on."""
    script = Script({"x-query-virtio-queue-status": error("e"),
                     "x-query-virtio-vhost-queue-status": error("e")})
    assert run(line, script) == "Error: e\n"
    assert script.sent[0].arguments == {"path": "/p", "queue": queue}


@pytest.mark.parametrize("line, index", [
    ("info virtio-queue-element /p 0", None),
    ("info virtio-queue-element /p 0 7", 7),
    ("info virtio-queue-element /p 0 0xffffffff", None),
    ("info virtio-queue-element /p 0 0x10002", 2),
])
def test_queue_element_index_minus_one_means_not_given(line: str, index: Optional[int]) -> None:
    """An index that reads as -1 in a C int is left out; others are sent as uint16."""
    script = Script({"x-query-virtio-queue-element": error("Region caches not initialized")})
    assert run(line, script) == "Error: Region caches not initialized\n"
    assert script.sent[0].arguments.get("index") == index


def test_vhost_error_shows_error_twice() -> None:
    """QEMU's vhost message starts with "Error: " itself, and HMP prefixes another."""
    script = Script({"x-query-virtio-vhost-queue-status":
                     error("Error: vhost device has not started yet")})
    assert run("info virtio-vhost-queue-status /p 0", script) == \
        "Error: Error: vhost device has not started yet\n"


@pytest.mark.parametrize("line, args", [
    ("info rocker-of-dpa-groups sw1", {"name": "sw1"}),
    ("info rocker-of-dpa-groups sw1 2", {"name": "sw1", "type": 2}),
    ("info rocker-of-dpa-groups sw1 265", {"name": "sw1"}),
    ("info rocker-of-dpa-groups sw1 258", {"name": "sw1", "type": 2}),
    ("info rocker-of-dpa-flows sw1 0xffffffff", {"name": "sw1"}),
    ("info rocker-of-dpa-flows sw1 60", {"name": "sw1", "tbl-id": 60}),
])
def test_rocker_filters_as_hmp_stores_them(line: str, args: Dict[str, Any]) -> None:
    """Group type 9 (after 8-bit truncation) and table id 0xffffffff mean "all"."""
    script = Script()
    assert run(line, script).endswith("\n")
    assert script.sent[0].arguments == args


def test_tpm_error_prints_fixed_message() -> None:
    """Whatever query-tpm says when failing, HMP prints "TPM device not supported"."""
    assert run("info tpm", Script({"query-tpm": error("x")})) == "TPM device not supported\n"


def test_sev_error_means_not_enabled() -> None:
    """A failing query-sev prints "SEV is not enabled"."""
    assert run("info sev", Script({"query-sev": error("x")})) == "SEV is not enabled\n"


def test_sgx_and_trace_event_errors_print_bare() -> None:
    """error_report_err prints the message without the "Error: " prefix."""
    assert run("info sgx", Script({"query-sgx": error("No EPC regions defined, SGX not "
                                                      "available")})) == \
        "No EPC regions defined, SGX not available\n"
    assert run("info trace-events x", Script({"trace-event-get-state":
                                               error('unknown event "x"')})) == \
        'unknown event "x"\n'


def test_trace_events_default_pattern_and_vcpu() -> None:
    """No name asks for "*"; a vCPU that is negative as a C int is refused without a newline."""
    script = Script({"trace-event-get-state": [{"name": "a", "state": "enabled", "vcpu": False},
                                               {"name": "b", "state": "disabled",
                                                "vcpu": False}]})
    assert run("info trace-events", script) == "a : state 1\nb : state 0\n"
    assert script.sent[0].arguments == {"name": "*"}
    quiet = Script()
    assert run("info trace-events a 0x80000000", quiet) == "argument vcpu must be positive"
    assert quiet.sent == []


def test_vm_generation_id_without_device() -> None:
    """The QMP error prints with HMP's Error: prefix."""
    assert run("info vm-generation-id",
               Script({"query-vm-generation-id": error("VM Generation ID device not found")})) \
        == "Error: VM Generation ID device not found\n"


def test_stats_checks_target_and_provider_before_asking() -> None:
    """Unknown targets and providers are refused with QEMU's words and no QMP."""
    script = Script()
    assert run("info stats cryptodev", script) == "invalid stats target cryptodev\n"
    assert run("info stats vm * xen", script) == "invalid stats provider xen\n"
    assert script.sent == []


def test_stats_vcpu_filter_uses_the_session_cpu() -> None:
    """The vcpu target names the current CPU's QOM path; names and provider build a request."""
    cpus = [{"cpu-index": 0, "qom-path": "/machine/unattached/device[0]"},
            {"cpu-index": 1, "qom-path": "/machine/peripheral/cpu1"}]
    script = Script({"query-cpus-fast": cpus, "query-stats-schemas": [], "query-stats": []})
    assert run("info stats vcpu halt_exits,,x, kvm", script, cpu_index=1) == ""
    assert [c.execute for c in script.sent] == ["query-stats-schemas", "query-cpus-fast",
                                                "query-stats"]
    assert script.sent[0].arguments == {"provider": "kvm"}
    assert script.sent[2].arguments == {
        "target": "vcpu", "vcpus": ["/machine/peripheral/cpu1"],
        "providers": [{"provider": "kvm", "names": ["halt_exits", "", "x"]}]}


def test_stats_errors_print_bare_and_results_show_provider() -> None:
    """A QMP error prints its message alone; without a provider argument each result names it."""
    assert run("info stats vm", Script({"query-stats-schemas": error("boom")})) == "boom\n"
    schemas = [{"provider": "kvm", "target": "vm",
                "stats": [{"name": "pages", "type": "instant", "base": 10, "exponent": 0}]}]
    script = Script({"query-stats-schemas": schemas,
                     "query-stats": [{"provider": "kvm",
                                      "stats": [{"name": "pages", "value": 4}]}]})
    assert run("info stats vm *", script) == "provider: kvm\n    pages (instant): 4\n"
    assert script.sent[1].arguments == {"target": "vm", "providers": [{"provider": "kvm"}]}


def test_comma_list_as_qemu_7_2_splits() -> None:
    """Empty items in the middle stay, a trailing comma adds nothing, "" gives no names."""
    assert comma_list("a,,b,") == ["a", "", "b"]
    assert comma_list("") == []


def _qom(tree: Dict[str, List[Dict[str, str]]], types: Dict[str, str]) -> Script:
    def qom_list(cmd: QMPCommand) -> Any:
        path = cmd.arguments["path"]
        return tree[path] if path in tree else error(f"Device '{path}' not found")

    return Script({"qom-list": qom_list,
                   "qom-get": lambda cmd: types[cmd.arguments["path"]]})


def test_qom_tree_walks_children_depth_first() -> None:
    """Each object lists its child<T> properties, sorted, indented two more per level."""
    tree = {
        "/machine": [{"name": "type", "type": "string"},
                     {"name": "unattached", "type": "child<container>"},
                     {"name": "peripheral", "type": "child<container>"},
                     {"name": "rtc", "type": "link<mc146818rtc>"}],
        "/machine/peripheral": [{"name": "d0", "type": "child<pc-dimm>"}],
        "/machine/peripheral/d0": [],
        "/machine/unattached": [],
    }
    script = _qom(tree, {"/machine": "pc-i440fx-7.2-machine"})
    assert run("info qom-tree", script) == ("/machine (pc-i440fx-7.2-machine)\n"
                                            "  /peripheral (container)\n"
                                            "    /d0 (pc-dimm)\n"
                                            "  /unattached (container)\n")


def test_qom_tree_partial_and_root_paths() -> None:
    """A partial path is named by its last component; the root prints as "/"."""
    tree = {"d0": [{"name": "m[0]", "type": "child<memory-region>"}], "d0/m[0]": [],
            "/": [{"name": "objects", "type": "child<container>"}], "/objects": []}
    script = _qom(tree, {"d0": "pc-dimm", "/": "container"})
    assert run("info qom-tree d0", script) == "/d0 (pc-dimm)\n  /m[0] (memory-region)\n"
    assert run("info qom-tree /", script) == "/ (container)\n  /objects (container)\n"


def test_qom_tree_names_a_linked_object_by_its_own_name() -> None:
    """A path ending in a link is named (and walked) by the canonical path qom-get gives."""
    tree = {"/m/cpu/memory": [], "/m/system[0]": []}
    script = _qom(tree, {"/m/system[0]": "memory-region"})
    script.replies["qom-get"] = lambda cmd: (
        "/m/system[0]" if cmd.arguments["property"] == "memory" else "memory-region")
    assert run("info qom-tree /m/cpu/memory", script) == "/system[0] (memory-region)\n"
    assert script.sent[1].arguments == {"path": "/m/cpu", "property": "memory"}
    assert script.sent[2].arguments == {"path": "/m/system[0]", "property": "type"}


@pytest.mark.parametrize("desc", ["Device 'x' not found", "Path 'x' is ambiguous"])
def test_qom_tree_unresolvable_path(desc: str) -> None:
    """Paths QEMU cannot resolve to one object print "could not be resolved"."""
    assert run("info qom-tree x", Script({"qom-list": error(desc)})) == \
        "Path 'x' could not be resolved.\n"
