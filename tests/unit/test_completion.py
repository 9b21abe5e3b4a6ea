"""Tab completion: which candidates each argument gets, from canned QMP replies."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import pytest

from hmpbridge.commands import all_commands, releases
from hmpbridge.completion import (COMPLETERS, Completion, CompletionContext, complete,
                                  parse_network_clients)
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import drive
from hmpbridge.line_editor import LineEditor
from hmpbridge.model import QMPCommand

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "readline.json")

QOM: Dict[str, List[Dict[str, str]]] = {
    "/": [{"name": "type", "type": "string"}, {"name": "machine", "type": "child<pc-machine>"},
          {"name": "objects", "type": "child<container>"}],
    "/machine": [{"name": "peripheral", "type": "child<container>"},
                 {"name": "peripheral-anon", "type": "child<container>"},
                 {"name": "unattached", "type": "child<container>"},
                 {"name": "pcspk-audiodev", "type": "str"}],
    "/machine/peripheral": [{"name": "type", "type": "string"},
                            {"name": "ide1-cd0", "type": "child<ide-cd>"},
                            {"name": "nic0", "type": "child<e1000>"},
                            {"name": "vblk0", "type": "child<virtio-blk-pci>"}],
    "/objects": [{"name": "type", "type": "string"}, {"name": "io0", "type": "child<iothread>"},
                 {"name": "pc.ram", "type": "child<memory-backend-ram>"}],
}
HOTPLUGGABLE = {"ide1-cd0": False, "nic0": True, "vblk0": True}
SCHEMA = [
    {"name": "migrate-set-parameters", "meta-type": "command", "arg-type": "10"},
    {"name": "10", "meta-type": "object", "members": [
        {"name": "announce-initial", "type": "int"}, {"name": "tls-creds", "type": "str"}]},
    {"name": "watchdog-set-action", "meta-type": "command", "arg-type": "11"},
    {"name": "11", "meta-type": "object", "members": [{"name": "action", "type": "12"}]},
    {"name": "12", "meta-type": "enum", "values": ["reset", "shutdown", "pause"]},
]
INFO_NETWORK = ("nic0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
                " \\ n0: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
                "hub 0\r\n \\ hub0port0: index=0,type=hubport,hub 0\r\n")


def reply(cmd: QMPCommand) -> Any:
    """A small QEMU: block devices cd0 and disk0, a few QOM objects, one snapshot."""
    args = cmd.arguments or {}
    if cmd.execute == "query-block":
        return [{"device": "cd0", "qdev": "ide1-cd0"},
                {"device": "disk0", "inserted": {"image": {"snapshots": [
                    {"id": "1", "name": "before-upgrade"}]}}},
                {"device": "", "qdev": "/machine/peripheral-anon/device[0]"}]
    if cmd.execute == "query-named-block-nodes":
        return [{"node-name": "#block123"}, {"node-name": "fmt0"}]
    if cmd.execute == "query-block-jobs":
        return [{"device": "job0"}]
    if cmd.execute == "query-chardev":
        return [{"label": "ser0", "filename": "null"}, {"label": "mon0", "filename": "x"}]
    if cmd.execute == "query-migrate-capabilities":
        return [{"capability": "xbzrle", "state": False}, {"capability": "events", "state": False}]
    if cmd.execute == "query-qmp-schema":
        return SCHEMA
    if cmd.execute == "human-monitor-command":
        assert args == {"command-line": "info network"}
        return INFO_NETWORK
    if cmd.execute == "qom-list":
        if args["path"] not in QOM:
            raise QMPCommandError("GenericError", f"Path '{args['path']}' not found")
        return QOM[args["path"]]
    if cmd.execute == "qom-get":
        return HOTPLUGGABLE[args["path"].rsplit("/", 1)[1]]
    raise AssertionError(f"unexpected {cmd}")


def run(text: str, ctx: Optional[CompletionContext] = None) -> Completion:
    asked: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        asked.append(cmd)
        return reply(cmd)
    return drive(complete(text, ctx), respond)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,candidates,index", [
    ("ej", ["eject"], 2),
    ("info st", ["stats", "status"], 2),
    ("info bl", ["block", "block-jobs", "blockstats"], 2),
    ("help in", ["info"], 2),
    ("help info ver", ["version"], 3),
    ("c", ["c", "calc_dirty_rate", "cancel_vcpu_dirty_limit", "change", "chardev-add",
           "chardev-change", "chardev-remove", "chardev-send-break", "client_migrate_info",
           "closefd", "commit", "cont", "cpu"], 1),
    ("eject ", ["cd0", "disk0", "fmt0"], 0),
    ("eject -f c", ["cd0"], 1),
    ("info block ", ["cd0", "disk0", "fmt0"], 0),
    ("block_job_cancel -f ", ["cd0", "disk0", "fmt0", "job0"], 0),
    ("sendkey ctrl-al", ["alt", "alt_r"], 2),
    ("sendkey f1", ["f1", "f10", "f11", "f12"], 2),
    ("device_del ", ["nic0", "vblk0"], 0),
    ("object_del ", ["io0", "pc.ram"], 0),
    ("chardev-remove m", ["mon0"], 1),
    ("loadvm ", ["1", "before-upgrade"], 0),
    ("migrate_set_capability x", ["xbzrle"], 1),
    ("migrate_set_capability xbzrle o", ["off", "on"], 1),
    ("migrate_set_parameter tls", ["tls-creds"], 3),
    ("watchdog_action ", ["pause", "reset", "shutdown"], 0),
    ("netdev_del ", ["hub0port0", "n0"], 0),
    ("set_link ", ["hub0port0", "n0", "nic0"], 0),
    ("qom-list ", ["/"], 0),
    ("qom-list /", ["/machine/", "/objects/", "/type"], 1),
    ("qom-list /machine/per", ["/machine/peripheral-anon/", "/machine/peripheral/"], 12),
    ("qom-get /machine/peripheral/n", ["/machine/peripheral/nic0/"], 21),
    ("qom-list /nowhere/x", [], 10),
    ("eject cd0 ", [], 0),
    ("frobnicate ", [], 0),
    ("eject -x", [], 0),
    ("stop ", [], 0),
])
def test_candidates(text: str, candidates: List[str], index: int) -> None:
    """Each completer offers the values QEMU would take there, filtered by what is typed."""
    got = run(text)
    assert sorted(got.candidates) == candidates
    assert got.index == index


def test_key_names_are_completed_after_the_last_dash() -> None:
    """sendkey completes the key being typed, not the whole combination."""
    assert run("sendkey ctrl-alt-de") == Completion(("delete",), 2)


def test_netdevs_need_passthrough() -> None:
    """Network backends are read from QEMU's monitor, so not when passthrough is off."""
    assert run("netdev_del ", CompletionContext(passthrough=False)).candidates == ()
    schema = frozenset({"query-block"})
    assert run("netdev_del ", CompletionContext(schema_commands=schema)).candidates == ()


def test_file_names() -> None:
    """F arguments list directory entries as QEMU does, directories with a slash."""
    tree = {".": ["disk.img", "iso", ".", ".."], "iso/": ["a.iso", "b.iso"]}
    ctx = CompletionContext(listdir=lambda d: tree.get(d, []), isdir=lambda p: p == "iso")
    assert run("change cd0 ", ctx) == Completion(("disk.img", "iso/"), 0)
    assert run("change cd0 iso/", ctx) == Completion(("iso/a.iso", "iso/b.iso"), 4)
    assert run("dumpdtb d", ctx) == Completion(("disk.img",), 1)


def test_a_failing_query_gives_no_candidates() -> None:
    """A QMP error while asking (a command this QEMU lacks) means nothing to offer."""
    def refuse(cmd: QMPCommand) -> Any:
        raise QMPCommandError("CommandNotFound", f"The command {cmd.execute} has not been found")
    assert drive(complete("eject "), refuse) == Completion((), 0)  # type: ignore[arg-type]


def test_every_completer_in_the_table_exists() -> None:
    """Every completer name the command table uses has an implementation."""
    used = {name for release in releases() for spec in all_commands(release)
            for name in spec.completers.values()}
    assert used <= set(COMPLETERS)


def test_network_clients() -> None:
    """info network lines give client names; NICs only when asked for."""
    assert parse_network_clients(INFO_NETWORK, nics=False) == ["n0", "hub0port0"]
    assert parse_network_clients(INFO_NETWORK, nics=True) == ["nic0", "n0", "hub0port0"]


@pytest.mark.parametrize("name,keys", [("tab-empty-line", b""), ("tab-all-info", b"info ")])
def test_command_lists_print_as_qemus(name: str, keys: bytes) -> None:
    """Tab on an empty line and after ``info`` lists the same names as QEMU, in its table."""
    with open(FIXTURE) as f:
        recorded = json.load(f)[name]
    editor = LineEditor(lambda: [])
    echo = editor.feed(keys).echo if keys else b""
    step = editor.feed(b"\t")
    found = run(step.complete or "")
    echo = editor.completed(found.candidates, found.index)
    assert echo == recorded[-1]["qemu"].encode("latin-1")


QEMU_OWN = {
    "query-chardev": [{"label": "ser0", "filename": "null"},
                      {"label": "rb0", "filename": "ringbuf"},
                      {"label": "mem0", "filename": "memory"}, {"label": "f0", "filename": "file"}],
    "query-chardev-backends": [{"name": "file"}, {"name": "ringbuf"}, {"name": "null"}],
    "query-qmp-schema": [
        {"name": "netdev_add", "meta-type": "command", "arg-type": "20"},
        {"name": "20", "meta-type": "object", "members": [
            {"name": "id", "type": "str"}, {"name": "type", "type": "21"}]},
        {"name": "21", "meta-type": "enum", "values": ["nic", "user", "tap", "hubport"]}],
    "query-block": [{"device": "cd0"}],
    "query-named-block-nodes": [],
    "query-block-jobs": [],
}


def run_own(text: str) -> Completion:
    """Complete against a QEMU with ring buffers, chardev backends and netdev types."""
    def respond(cmd: QMPCommand) -> Any:
        if cmd.execute == "trace-event-get-state":
            pattern = (cmd.arguments or {})["name"]
            assert pattern.endswith("*")
            names = ["qmp_enter_x", "qcow2_writev", "qmp_exit_x"]  # QEMU's order
            return [{"name": n, "state": "disabled", "vcpu": False}
                    for n in reversed(names) if n.startswith(pattern[:-1])]
        return QEMU_OWN[cmd.execute]
    return drive(complete(text), respond)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,candidates", [
    ("ringbuf_write ", ["mem0", "rb0"]),
    ("ringbuf_read r", ["rb0"]),
    ("chardev-remove ", ["f0", "mem0", "rb0", "ser0"]),
    ("chardev-add ", ["file", "null", "ringbuf"]),
    ("chardev-add file,id=x ", []),
    ("object_add secret,id=s0 ", []),
    ("netdev_add ", ["hubport", "nic", "tap", "user"]),
    ("netdev_add user,id=n1 ", []),
    ("trace-event qmp", ["qmp_enter_x", "qmp_exit_x"]),
    ("trace-event qcow2_writev ", ["off", "on"]),
    ("info trace-events q", ["qcow2_writev", "qmp_enter_x", "qmp_exit_x"]),
    ("block_job_cancel ", ["cd0"]),
])
def test_arguments_qemu_completes_with_functions_of_its_own(text: str,
                                                             candidates: List[str]) -> None:
    """As QEMU 7.2: ring buffers only for ringbuf_*, types for the first argument of
    chardev-add/netdev_add, trace event names, block devices for block jobs."""
    assert sorted(run_own(text).candidates) == candidates


def test_trace_events_keep_qemus_order_for_its_cap() -> None:
    """Trace events come in QEMU's order (trace-event-get-state lists them last first),
    so the 256 kept when there are more are the ones QEMU offers."""
    assert run_own("trace-event q").candidates == ("qmp_enter_x", "qcow2_writev", "qmp_exit_x")


OBJECT_HELP = "List of user creatable objects:\r\n  iothread\r\n  secret\r\n  throttle-group\r\n"
DEVICE_HELP = ('Controller/Bridge/Hub devices:\r\nname "pci-bridge", bus PCI, desc "Standard PCI '
               'Bridge"\r\n\r\nNetwork devices:\r\nname "e1000", bus PCI, alias "e1000-82540em"'
               ', desc "Intel Gigabit Ethernet"\r\nname "virtio-net-pci", bus PCI, alias '
               '"virtio-net"\r\n')


def run_help(text: str, ctx: Optional[CompletionContext] = None) -> Completion:
    """Complete against a QEMU whose monitor answers ``object_add help`` and ``device_add help``."""
    def respond(cmd: QMPCommand) -> Any:
        if cmd.execute == "human-monitor-command":
            line = (cmd.arguments or {})["command-line"]
            return {"object_add help": OBJECT_HELP, "device_add help": DEVICE_HELP}[line]
        if cmd.execute == "qom-list-types":
            return [{"name": "iothread"}, {"name": "dbus-display"}]
        raise AssertionError(f"unexpected {cmd}")
    return drive(complete(text, ctx), respond)  # type: ignore[arg-type]


def test_object_types_are_those_qemus_monitor_lists() -> None:
    """object_add completes the types object_add help lists (QEMU's loaded ones); without
    passthrough, the types qom-list-types reports."""
    assert sorted(run_help("object_add ").candidates) == ["iothread", "secret", "throttle-group"]
    assert run_help("object_add t").candidates == ("throttle-group",)
    no_hmc = CompletionContext(passthrough=False)
    assert sorted(run_help("object_add ", no_hmc).candidates) == ["dbus-display", "iothread"]


def test_device_types_come_from_device_add_help() -> None:
    """device_add completes the device names (not aliases) device_add help lists,
    for its first argument only."""
    assert sorted(run_help("device_add ").candidates) == ["e1000", "pci-bridge", "virtio-net-pci"]
    assert run_help("device_add virtio-n").candidates == ("virtio-net-pci",)
    assert run_help("device_add e1000,id=n1 ").candidates == ()
    assert run_help("device_add ", CompletionContext(passthrough=False)).candidates == ()


def test_key_names_are_the_served_qemus() -> None:
    """sendkey completes the live schema's QKeyCode: QEMU 10.0 has f13 to f24."""
    import json
    import os

    from hmpbridge.completion import CompletionContext, complete
    from hmpbridge.handlers import drive
    from hmpbridge.qapi_schema import Schema

    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases", "10.0",
                        "schema.json")
    with open(path) as f:
        ten = Schema(json.load(f))
    old = drive(complete("sendkey f1"), lambda cmd: None)
    from hmpbridge.commands import table_for

    new = drive(complete("sendkey f1", CompletionContext(schema=ten, table=table_for((10, 0)))),
                lambda cmd: None)
    assert "f13" not in old.candidates and {"f13", "f19"} <= set(new.candidates)
    # 7.2's text over QEMU 10.0 (--hmp-version 7.2): 7.2's keys
    seven_two = drive(complete("sendkey f1", CompletionContext(schema=ten)), lambda cmd: None)
    assert seven_two.candidates == old.candidates
