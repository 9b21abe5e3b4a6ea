"""What any line may ask of QEMU: abort routes, exposure spellings, dump sizes, secrets."""

from __future__ import annotations

import glob
import inspect
import ipaddress
import json
import os
from typing import Any, Dict, List, Mapping, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.endpoints import _parse, _parseSSL, serverFromString
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor

from hmpbridge import hazards
from hmpbridge.access import (OPERATOR, READ_ONLY, Policy, SECRET_PROPERTIES, dump_size,
                              qmp_denial)
from hmpbridge.cli import Fatal, build_parser, check_exposure, policy_of
from hmpbridge.endpoints import exposure
from hmpbridge.errors import QMPCommandError
from hmpbridge.hmp_parser import parse
from hmpbridge.model import Identity, QMPCommand, SessionState
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor, FakeQEMU, FakeQMPEndpoint, failure_of, result_of

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "aborts")

BOB = Identity("bob", READ_ONLY, listener="tcp:4444", peer="127.0.0.1:5000", method="password")
ALICE = Identity("alice", OPERATOR, listener="tcp:4444", peer="127.0.0.1:5001",
                 method="password")


def hmc(line: str, **extra: Any) -> Dict[str, Any]:
    return {"execute": "human-monitor-command", "arguments": {"command-line": line, **extra}}


# -- the table and the tool that measures it -----------------------------------------


def measurements() -> List[Mapping[str, Any]]:
    found = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "qemu-*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return found


def test_every_measured_release_is_in_the_table_as_measured() -> None:
    """The table holds, per release, exactly what measure_aborts recorded (its JSON shape)."""
    results = measurements()
    assert {r["release"] for r in results} == set(hazards.ABORTS)
    for result in results:
        assert set(result) >= {"release", "qemu", "types", "aborts", "how"}
        assert set(result["aborts"]) == {"device-list-properties", "qom-list-properties",
                                         "device_add"}
        assert all(found == sorted(found) for found in result["aborts"].values())
        assert hazards.table_from_measurement(result) == hazards.ABORTS[result["release"]]
        assert hazards.MEASURED_ON[result["release"]] == result["qemu"]
        for command, found in result["aborts"].items():
            assert all(f"{command} {name}" in result["how"] for name in found)


def test_the_measuring_tool_probes_what_the_table_covers() -> None:
    """The tool probes the commands the table has a column for."""
    from tests.tools import measure_aborts

    assert set(measure_aborts.PROBED) | {"device_add"} == set(hazards.ABORTS["7.2"])


# -- judging QMP messages -------------------------------------------------------------


@pytest.mark.parametrize("message", [
    {"execute": "device-list-properties", "arguments": {"typename": "virtio-gpu-gl-pci"}},
    {"execute": "device-list-properties", "arguments": {"typename": "virtio-vga-gl"}},
    {"exec-oob": "qom-list-properties", "arguments": {"typename": "colo-compare"}},
    {"execute": "qom-list-properties", "arguments": {"typename": "x-remote-object"}},
    hmc("device_add virtio-gpu-gl-pci,help"),
    hmc("device_add virtio-gpu-gl,?"),
    hmc("device_add driver=virtio-vga-gl,help"),
    hmc("calc_dirty_rate -r 1"),
    {"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "dirty-bitmap"}},
])
def test_routes_to_a_qemu_72_abort_are_refused(message: Dict[str, Any]) -> None:
    """Every measured route to an abort of QEMU 7.2 is refused, with a one-line reason."""
    refusal = hazards.abort_refusal(message, "7.2")
    assert refusal is not None and "abort" in refusal and "\n" not in refusal


@pytest.mark.parametrize("message", [
    {"execute": "device-list-properties", "arguments": {"typename": "e1000"}},
    {"execute": "qom-list-properties", "arguments": {"typename": "iothread"}},
    hmc("device_add e1000,help"),
    hmc("device_add virtio-gpu-gl-pci"),  # adding is refused by QEMU itself
    hmc("info status"),
    {"execute": "calc-dirty-rate", "arguments": {"calc-time": 1}},
])
def test_harmless_messages_pass(message: Dict[str, Any]) -> None:
    """What QEMU answers without dying is not judged."""
    assert hazards.abort_refusal(message, "7.2") is None


def test_the_table_is_per_release() -> None:
    """A type that aborts only some releases is refused only there (any, for unmeasured ones)."""
    message = {"execute": "qom-list-properties", "arguments": {"typename": "colo-compare"}}
    assert hazards.abort_refusal(message, "11.1") is None
    assert hazards.abort_refusal(message, "10.0") is not None
    assert hazards.abort_refusal(message, "9.2") is not None
    assert hazards.abort_refusal(
        {"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "dirty-ring"}},
        "10.0") is None


def test_dirty_rate_modes_pass_with_kvm() -> None:
    """With KVM on, the dirty ring and bitmap are QEMU's to measure."""
    message = {"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "dirty-ring"}}
    assert hazards.needs_kvm_state(message, "7.2")
    assert hazards.abort_refusal(message, "7.2", kvm=True) is None


ABORTING_DRIVERS = sorted(hazards.ABORTS["7.2"]["device-list-properties"]) + [
    alias for alias, target in hazards.DEVICE_ALIASES.items()
    if target in hazards.ABORTS["7.2"]["device-list-properties"]]
OPTION = st.sampled_from(["id=x", "bus=pci.0", "addr=0x5", "xres=640", "max_outputs=1"])


@st.composite
def help_lines(draw: Any, drivers: List[str]) -> str:
    """``device_add`` asking a driver for help, spelled in the ways QEMU accepts."""
    driver = draw(st.sampled_from(drivers))
    helper = draw(st.sampled_from(["help", "?", "help=on", "?=x"]))
    options = draw(st.lists(OPTION, max_size=3))
    at = draw(st.integers(0, len(options)))
    options.insert(at, helper)
    first = draw(st.sampled_from([driver, f"driver={driver}"]))
    if first.startswith("driver=") and draw(st.booleans()):
        options.insert(draw(st.integers(0, len(options))), first)
        if options[0] in ("help", "?"):  # a bare first item is the driver's value
            options.remove(first)
            options.insert(0, first)
        return "device_add " + ",".join(options)
    return "device_add " + ",".join([first] + options)


@given(line=help_lines(ABORTING_DRIVERS), cpu=st.one_of(st.none(), st.integers(0, 3)),
       cpu_first=st.booleans())
def test_every_spelling_of_an_aborting_help_line_is_refused(
        line: str, cpu: Optional[int], cpu_first: bool) -> None:
    """Aliases, ``?``, extra options anywhere, QMP arguments in any order: all refused."""
    arguments: Dict[str, Any] = {"command-line": line}
    if cpu is not None:
        arguments = {"cpu-index": cpu, **arguments} if cpu_first else {**arguments,
                                                                          "cpu-index": cpu}
    message = {"arguments": arguments, "execute": "human-monitor-command"}
    assert hazards.abort_refusal(message, "7.2") is not None


@given(line=help_lines(["e1000", "virtio-net", "virtio-gpu-pci", "ich9-ahci"]))
def test_the_same_spellings_of_other_drivers_pass(line: str) -> None:
    """The same spellings of drivers that do not abort are left to QEMU."""
    assert hazards.abort_refusal(hmc(line), "7.2") is None


@given(typename=st.sampled_from(sorted(hazards.ABORTS["7.2"]["qom-list-properties"])),
       command=st.sampled_from(["execute", "exec-oob"]), typename_first=st.booleans(),
       with_id=st.booleans())
def test_qmp_property_listings_are_refused_in_any_argument_order(
        typename: str, command: str, typename_first: bool, with_id: bool) -> None:
    """``qom-list-properties`` of a type that aborts is refused however the message is laid out."""
    message: Dict[str, Any] = {"arguments": {"typename": typename}}
    message = {command: "qom-list-properties", **message} if typename_first \
        else {**message, command: "qom-list-properties"}
    if with_id:
        message["id"] = {"any": ["json"]}
    assert hazards.abort_refusal(message, "7.2") is not None


# -- the multiplexer judges every command -------------------------------------------


def connected_mux(handlers: Optional[Mapping[str, Any]] = None) -> tuple:
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(handlers, version=(7, 2, 22)))
    mux = QMPMultiplexer(endpoint, Clock())
    mux.startService()
    endpoint.flush()
    assert mux.connected
    return mux, endpoint


def test_forward_answers_an_abort_route_itself() -> None:
    """A QMP client's message that would abort QEMU gets a GenericError; QEMU never sees it."""
    mux, endpoint = connected_mux()
    before = list(endpoint.qemu.commands)
    d = mux.forward({"execute": "device-list-properties",
                     "arguments": {"typename": "virtio-gpu-gl-pci"}})
    endpoint.flush()
    reply = result_of(d)
    assert reply["error"]["class"] == "GenericError"
    assert "virtio-gpu-gl-pci" in reply["error"]["desc"] and "id" in reply
    assert endpoint.qemu.commands == before


def test_execute_fails_an_abort_route_with_a_command_error() -> None:
    """A handler's command that would abort QEMU fails as QEMU's errors do; nothing is sent."""
    mux, endpoint = connected_mux()
    before = list(endpoint.qemu.commands)
    d = mux.execute(QMPCommand("human-monitor-command",
                               {"command-line": "device_add virtio-vga-gl,?"}))
    endpoint.flush()
    error = failure_of(d, QMPCommandError).value
    assert isinstance(error, QMPCommandError) and error.error_class == "GenericError"
    assert endpoint.qemu.commands == before


def test_kvm_is_asked_once_and_only_when_a_message_depends_on_it() -> None:
    """calc-dirty-rate's ring mode asks query-kvm first (once); without KVM it is refused."""
    mux, endpoint = connected_mux({"query-kvm": lambda a: {"enabled": False, "present": True},
                                   "calc-dirty-rate": lambda a: {}})
    message = {"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "dirty-ring"}}
    first, second = mux.forward(message), mux.forward(message)
    endpoint.flush()
    assert "error" in result_of(first) and "error" in result_of(second)
    third = mux.forward(dict(message))
    endpoint.flush()
    assert "error" in result_of(third)
    assert endpoint.qemu.commands.count("query-kvm") == 2  # two asked before the first answer
    assert "calc-dirty-rate" not in endpoint.qemu.commands
    fourth = mux.forward({"execute": "calc-dirty-rate", "arguments": {"calc-time": 1}})
    endpoint.flush()
    assert result_of(fourth)["return"] == {}


def test_with_kvm_the_dirty_ring_goes_to_qemu() -> None:
    """With KVM on, QEMU answers the dirty-ring measurement itself."""
    mux, endpoint = connected_mux({"query-kvm": lambda a: {"enabled": True, "present": True},
                                   "calc-dirty-rate": lambda a: {}})
    d = mux.forward({"execute": "calc-dirty-rate",
                     "arguments": {"calc-time": 1, "mode": "dirty-ring"}})
    endpoint.flush()
    assert "return" in result_of(d)
    assert "calc-dirty-rate" in endpoint.qemu.commands


# -- dump sizes and secrets ----------------------------------------------------------


def run(runner: CommandRunner, line: str, state: SessionState) -> List[str]:
    out: List[str] = []
    runner.run(line, state).addCallback(out.append)
    return out


@pytest.mark.parametrize("line,size", [
    ("xp /3000000xg 0", 24000000), ("x /10xb 0", 10), ("x /10 0", 80), ("x 0", 8),
    ("xp /4i 0", 64), ("x /2w 0", 8), ("x /3h 0", 6)])
def test_dump_sizes(line: str, size: int) -> None:
    """count times the size letter; 8 bytes a unit when no size is given, 16 an instruction."""
    inv = parse(line)
    assert inv is not None and dump_size(inv) == size


def test_a_large_dump_is_refused_before_qemu_sees_it() -> None:
    """x/xp beyond the role's limit print an error; nothing is sent."""
    executor = FakeExecutor(handlers={"human-monitor-command": lambda a: "ok\r\n"})
    runner = CommandRunner(executor, clock=Clock())
    out = run(runner, "xp /3000000xg 0", SessionState(identity=BOB))
    assert out == ["Error: 'xp' asks for 24000000 bytes of memory; read-only clients may "
                   "dump at most 16384 bytes per command\n"]
    assert run(runner, "xp /8193xg 0", SessionState(identity=ALICE))[0].startswith(
        "Error: 'xp' asks for 65544 bytes")
    assert run(runner, "xp /2049xg 0", SessionState(identity=BOB))[0].startswith(
        "Error: 'xp' asks for 16392 bytes")
    assert executor.commands == []
    assert run(runner, "xp /2048xg 0", SessionState(identity=BOB)) == ["ok\n"]
    assert run(runner, "xp /8192xg 0", SessionState(identity=ALICE)) == ["ok\n"]


def test_the_limits_come_from_the_command_line() -> None:
    """--max-dump, --read-only-max-dump, --max-save and --read-only-secrets make the policy."""
    options = build_parser().parse_args(["--max-dump", "100", "--read-only-max-dump", "10",
                                         "--max-save", "4096", "--read-only-secrets"])
    assert policy_of(options) == Policy(max_dump=100, read_only_max_dump=10, max_save=4096,
                                        read_only_secrets=True)
    defaults = policy_of(build_parser().parse_args([]))
    assert defaults == Policy() and defaults.max_save == 0
    assert defaults.read_only_max_dump < defaults.max_dump
    for bad in (["--max-dump", "0"], ["--max-save", "-1"], ["--read-only-max-dump", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_memsave_sizes_are_held_to_max_save() -> None:
    """With --max-save, a larger memsave or pmemsave is refused over HMP and QMP alike."""
    executor = FakeExecutor(handlers={"pmemsave": lambda a: {}})
    runner = CommandRunner(executor, clock=Clock(), policy=Policy(max_save=4096))
    out = run(runner, "pmemsave 0 8192 ./x", SessionState(identity=ALICE))
    assert out[0].startswith("Error: 'pmemsave' asks to save 8192 bytes")
    assert run(runner, "pmemsave 0 4096 ./x", SessionState(identity=ALICE)) == [""]
    assert qmp_denial({"execute": "memsave", "arguments": {
        "val": 0, "size": 8192, "filename": "/tmp/x"}}, OPERATOR, Policy(max_save=4096))
    assert qmp_denial({"execute": "memsave", "arguments": {
        "val": 0, "size": 8192, "filename": "/tmp/x"}}, OPERATOR) is None


@pytest.mark.parametrize("line", ["qom-get /objects/sec0 data", "qom-get sec0 data",
                                  "gpa2hva 0", "gpa2hpa 0x1000"])
def test_secrets_and_host_addresses_are_refused_to_read_only_users(line: str) -> None:
    """Over HMP and inside human-monitor-command; operators, or --read-only-secrets, may."""
    executor = FakeExecutor(handlers={"qom-get": lambda a: "hunter2",
                                      "human-monitor-command": lambda a: "ok\r\n"})
    runner = CommandRunner(executor, clock=Clock())
    out = run(runner, line, SessionState(identity=BOB))
    assert out[0].startswith("Error: permission denied: ") and "'bob' is read-only" in out[0]
    assert executor.commands == []
    assert qmp_denial(hmc(line), READ_ONLY) is not None
    assert qmp_denial(hmc(line), OPERATOR) is None
    assert qmp_denial(hmc(line), READ_ONLY, Policy(read_only_secrets=True)) is None
    assert not run(runner, line, SessionState(identity=ALICE))[0].startswith("Error")
    allowing = CommandRunner(executor, clock=Clock(), policy=Policy(read_only_secrets=True))
    assert not run(allowing, line, SessionState(identity=BOB))[0].startswith("Error")


def test_qmp_secret_reads_are_refused_to_read_only_clients() -> None:
    """qom-get of a secret property and qom-list-get (values) are refused; others read."""
    for prop in SECRET_PROPERTIES:
        message = {"execute": "qom-get", "arguments": {"path": "/objects/sec0",
                                                       "property": prop}}
        assert "secret" in (qmp_denial(message, READ_ONLY) or "")
        assert qmp_denial(message, OPERATOR) is None
    assert qmp_denial({"execute": "qom-get", "arguments": {
        "path": "/objects/sec0", "property": "format"}}, READ_ONLY) is None
    listing = {"execute": "qom-list-get", "arguments": {"paths": ["/objects/sec0"]}}
    assert qmp_denial(listing, READ_ONLY) is not None
    assert qmp_denial(listing, READ_ONLY, Policy(read_only_secrets=True)) is None


# -- exposure, as Twisted binds ------------------------------------------------------


def twisted_binds(description: str) -> Optional[str]:
    """The interface Twisted's serverFromString would bind, or None for a unix socket."""
    args, kw = _parse(description)
    if args[0] == "ssl":
        bound = inspect.signature(_parseSSL).bind(None, *args[1:], **kw)
        bound.apply_defaults()
        return str(bound.arguments["interface"])
    endpoint = serverFromString(MemoryReactor(), description)
    while hasattr(endpoint, "_wrappedEndpoint") or hasattr(endpoint, "connectionCreator"):
        endpoint = getattr(endpoint, "_wrappedEndpoint", None) or endpoint.endpoint
    return getattr(endpoint, "_interface", None)


ADDRESSES = ["127.0.0.1", "127.0.0.2", "0.0.0.0", "", "::", "::1", "0:0:0:0:0:0:0:1",
             "::ffff:127.0.0.1", "localhost", "example.com", "127.1", "10.0.0.1", "::0",
             "0", "2130706433", "fe80::1"]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


@st.composite
def endpoint_strings(draw: Any) -> str:
    kind = draw(st.sampled_from(["tcp", "tcp6", "ssl", "haproxy", "TLS"]))
    if kind == "tcp6":
        kind = draw(st.sampled_from(["tcp6", "TCP6", "Tcp6", "tCP6"]))
    address = draw(st.sampled_from(ADDRESSES + [None]))
    fields = [kind]
    if kind == "haproxy":
        fields.append("tcp")
    if kind == "TLS":
        fields.append("/tmp/certs")
    port = "4444"
    positional = draw(st.booleans()) and kind.lower() in ("tcp", "haproxy")
    if positional:
        fields.append(port)
        if address is not None:
            fields.append(_escape(address))
    else:
        if draw(st.booleans()):
            fields.append(port)
        else:
            fields.append(f"port={port}")
        if address is not None:
            fields.append("interface=" + _escape(address))
    if kind == "ssl":
        fields.append("privateKey=/nonexistent.pem")
    if draw(st.booleans()):
        fields.append("backlog=" + str(draw(st.integers(1, 100))))
    return ":".join(fields)


@given(description=endpoint_strings())
def test_exposure_agrees_with_what_twisted_binds(description: str) -> None:
    """Generated spellings: local exactly when Twisted binds a loopback literal."""
    try:
        interface = twisted_binds(description)
    except (TypeError, ValueError):
        assert not exposure(description).local  # Twisted refuses it: never called local
        return
    seen = exposure(description)
    assert seen.interface == interface
    family = 6 if seen.kind in ("tcp6", "tls6") else 4
    try:
        address = ipaddress.ip_address(interface or "")
        expected = address.version == family and (
            address == ipaddress.ip_address("::1") if family == 6
            else address.is_loopback and str(address) == interface)
    except ValueError:
        expected = False
    assert seen.local == expected


@pytest.mark.parametrize("argv", [
    ["--listen", "TCP6:4621:interface=\\:\\:"],
    ["--qmp-listen", "Tcp6:4623"],
    ["--listen", "ssl:4622:privateKey=key.pem:certKey=cert.pem"],
    ["--listen", "TLS:/tmp/certs:4443"],
    ["--listen", "tcp6:4444:interface=\\:\\:ffff\\:127.0.0.1"],
    ["--listen", "tcp:4444:interface=localhost"],
    ["--listen", "tcp:4444:0.0.0.0"],
    ["--listen", "interface=0.0.0.0:tcp:4444"],
    ["--listen", "haproxy:tcp:4444"],
    ["--listen", "tls:4443:interface=0.0.0.0:privateKey=k.pem"],
    ["--read-only-listen", "systemd:domain=INET:index=0"],
    ["--qmp-read-only-listen", "ssl:4622:interface=0.0.0.0", "--password-file", "pw"],
])
def test_every_spelling_of_a_remote_listener_needs_a_guard(argv: List[str]) -> None:
    """Case, escapes, positional fields, defaults, wrappers: all refused with EXIT_USAGE."""
    with pytest.raises(Fatal) as raised:
        check_exposure(build_parser().parse_args(argv))
    assert raised.value.status == 2 and "--allow-remote" in raised.value.message


def test_tls_with_client_certificates_or_a_password_is_a_guard() -> None:
    """Client certificates guard any listener; a password guards HMP; ssl: alone does not."""
    assert check_exposure(build_parser().parse_args([
        "--listen", "tls:4443:interface=0.0.0.0:privateKey=k:caCerts=ca"])) == []
    assert check_exposure(build_parser().parse_args([
        "--listen", "ssl:4443:interface=0.0.0.0", "--password-file", "pw"])) == []
    assert check_exposure(build_parser().parse_args([
        "--listen", "ssl:4443", "--allow-remote"])) == [
        "ssl:4443 is reachable from other hosts without authentication"]
    assert check_exposure(build_parser().parse_args([
        "--listen", "tcp:4444:127.0.0.1", "--listen", "tcp6:4444:interface=\\:\\:1",
        "--qmp-listen", "unix:/run/x"])) == []


def test_help_documents_every_policy_option_with_its_default() -> None:
    """Each option of the policy says its default in --help."""
    text = " ".join(build_parser().format_help().split())
    for option, default in [("--max-dump BYTES", "65536"), ("--read-only-max-dump BYTES", "16384"),
                            ("--max-save BYTES", "0"), ("--qmp-max-message BYTES", "1048576"),
                            ("--qmp-read-only-max-message BYTES", "65536")]:
        assert option in text
        after = text.split("options:", 1)[1].split(option, 1)[1]
        assert after.split("(default: ", 1)[1].startswith(f"{default})"), option
    assert "--read-only-secrets" in text
