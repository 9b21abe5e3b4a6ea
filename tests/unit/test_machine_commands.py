"""Machine, device and accelerator commands across releases: ``device_add``'s
property typing (QMP strict since 9.2), ``singlestep`` over QEMU 8.1 and later,
``xen-event-*``, ``info firmware-log``, ``dump-guest-memory -R``.

The QMP errors and HMP texts below were captured from QEMU 11.1.3 and 10.0.2
(``device_add`` through QMP and through ``human-monitor-command``).
"""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Mapping, Optional

import pytest

from hmpbridge.commands import CommandSpec
from hmpbridge.device_props import PropertyValueError, keyval_value, type_refusal
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, drive
from hmpbridge.handlers.accel import hmp_quoted, successor_line
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.testing import qmp_greeting


def spec(key: str, args: str = "") -> CommandSpec:
    return CommandSpec(name=key, args=args, params="", help="", strategy="native")


class StrictQEMU:
    """QMP ``device_add`` of QEMU 9.2+: a string for a typed property is refused.

    ``types``: property -> ``device-list-properties`` type.
    """

    STRICT = {"bool": "Invalid parameter type for '{}', expected: boolean",
              "int32": "Invalid parameter type for '{}', expected: integer",
              "uint32": "Parameter '{}' expects uint64",
              "uint64": "Parameter '{}' expects uint64",
              "size": "Parameter '{}' expects uint64"}

    def __init__(self, types: Mapping[str, str], realize_error: Optional[str] = None) -> None:
        self.types = dict(types)
        self.realize_error = realize_error
        self.sent: List[QMPCommand] = []
        self.added: List[Dict[str, Any]] = []

    def __call__(self, cmd: QMPCommand) -> Any:
        self.sent.append(cmd)
        args = dict(cmd.arguments or {})
        if cmd.execute == "device-list-properties":
            return [{"name": name, "type": kind} for name, kind in self.types.items()]
        assert cmd.execute == "device_add"
        for name, value in args.items():
            kind = self.types.get(name, "str")
            if isinstance(value, str) and kind in self.STRICT:
                raise QMPCommandError("GenericError", self.STRICT[kind].format(name))
        if self.realize_error:
            raise QMPCommandError("GenericError", self.realize_error)
        self.added.append(args)
        return {}


def device_add(opts: Dict[str, Any], qemu: StrictQEMU) -> str:
    inv = Invocation(spec("device_add", "device:O"), {"device": opts}, "device_add ...")
    try:
        return drive(HANDLERS["device_add"](inv, Context()), qemu)
    except QMPCommandError as err:
        return f"Error: {err.desc}\n"


RNG = {"max-bytes": "uint64", "period": "uint32", "rng": "link<rng-backend>"}


def test_device_add_converts_the_refused_properties_and_adds() -> None:
    qemu = StrictQEMU(RNG)
    opts = {"driver": "virtio-rng-pci", "id": "r1", "max-bytes": "1024", "period": "0x10"}
    assert device_add(opts, qemu) == ""
    assert qemu.added == [{"driver": "virtio-rng-pci", "id": "r1", "max-bytes": 1024,
                           "period": 16}]


@pytest.mark.parametrize("prop,value,message", [
    # what QEMU 11.1.3's own HMP printed for the same lines
    ("max-bytes", "abc", "Error: Parameter 'max-bytes' expects integer\n"),
    ("max-bytes", "1k", "Error: Parameter 'max-bytes' expects integer\n"),
])
def test_device_add_prints_hmps_message_for_a_value_hmp_refuses(prop: str, value: str,
                                                                message: str) -> None:
    qemu = StrictQEMU(RNG)
    assert device_add({"driver": "virtio-rng-pci", "id": "r2", prop: value}, qemu) == message
    assert qemu.added == []


def test_device_add_negative_unsigned_wraps_as_hmp_does() -> None:
    qemu = StrictQEMU(RNG)
    assert device_add({"driver": "virtio-rng-pci", "max-bytes": "-1"}, qemu) == ""
    assert qemu.added[0]["max-bytes"] == (1 << 64) - 1


def test_device_add_boolean_and_size_properties() -> None:
    qemu = StrictQEMU({"deflate-on-oom": "bool", "cache": "size"})
    assert device_add({"driver": "x", "deflate-on-oom": "yes", "cache": "1k"}, qemu) == ""
    assert qemu.added == [{"driver": "x", "deflate-on-oom": True, "cache": 1024}]
    assert device_add({"driver": "x", "deflate-on-oom": "maybe"}, StrictQEMU(
        {"deflate-on-oom": "bool"})) == "Error: Parameter 'deflate-on-oom' expects 'on' or 'off'\n"
    assert device_add({"driver": "x", "cache": "1q"}, StrictQEMU(
        {"cache": "size"})) == "Error: Parameter 'cache' expects size\n"


def test_device_add_realize_errors_are_qemus_own() -> None:
    qemu = StrictQEMU({"deflate-on-oom": "bool"}, "Only one balloon device is supported")
    assert device_add({"driver": "virtio-balloon-pci", "deflate-on-oom": "on"},
                      qemu) == "Error: Only one balloon device is supported\n"


def test_device_add_strings_untouched_where_qemu_takes_them() -> None:
    """QEMU 7.2 to 9.1 (and string-read properties like ``addr``): one round, strings."""
    qemu = StrictQEMU({})
    assert device_add({"driver": "e1000", "id": "n2", "addr": "6"}, qemu) == ""
    assert [cmd.execute for cmd in qemu.sent] == ["device_add"]
    assert qemu.added == [{"driver": "e1000", "id": "n2", "addr": "6"}]


def test_type_refusal_reads_only_strict_json_errors() -> None:
    assert type_refusal("Invalid parameter type for 'speed', expected: integer") == (
        "speed", "integer")
    assert type_refusal("Parameter 'period' expects uint64") == ("period", "uint64")
    assert type_refusal("Parameter 'max-bytes' expects integer") is None
    assert type_refusal("Duplicate device ID 'n2'") is None


def test_keyval_value_forms() -> None:
    assert keyval_value("integer", "int32", "speed", "-0x10") == -16
    assert keyval_value("integer", "int32", "speed", "010") == 8
    assert keyval_value("uint64", "uint32", "p", "18446744073709551615") == (1 << 64) - 1
    assert keyval_value("number", None, "f", "1.5") == 1.5
    with pytest.raises(PropertyValueError, match="expected: number"):
        keyval_value("number", None, "f", "inf")
    with pytest.raises(PropertyValueError, match="expects integer"):
        keyval_value("uint64", "uint64", "p", "18446744073709551616")


# --- singlestep / one-insn-per-tb ------------------------------------------


def singlestep(option: Optional[str], version, passthrough: bool = True) -> List[QMPCommand]:
    sent: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        return ""

    args = {} if option is None else {"option": option}
    inv = Invocation(spec("singlestep", "option:s?"), args, "singlestep")
    ctx = Context(profile=profile_for(qmp_greeting(version), None, (7, 2)),
                  passthrough=passthrough)
    drive(HANDLERS["singlestep"](inv, ctx), respond)
    return sent


def test_singlestep_goes_as_one_insn_per_tb_to_qemu_8_1_and_later() -> None:
    sent = singlestep("off", (11, 1, 3))
    assert [c.arguments["command-line"] for c in sent] == ["one-insn-per-tb off"]
    assert singlestep(None, (9, 0, 0))[0].arguments["command-line"] == "one-insn-per-tb"


def test_singlestep_stays_singlestep_on_qemu_7_2() -> None:
    sent = singlestep("on", (7, 2, 22))
    assert sent[0].arguments["command-line"] == "singlestep"


def test_successor_line_quotes_what_hmp_would_split() -> None:
    inv = Invocation(spec("singlestep", "option:s?"), {"option": 'a b"c'}, "")
    assert successor_line(inv) == 'one-insn-per-tb "a b\\"c"'
    assert hmp_quoted("on") == "on"
    assert hmp_quoted("") == '""'


# --- xen-event-*, firmware-log, dump -R ------------------------------------


NO_XEN = QMPCommandError("GenericError", "Xen event channel emulation not enabled")


def raising(err: Exception):
    def respond(cmd: QMPCommand) -> Any:
        raise err
    return respond


def test_xen_events_without_xen_is_qemus_error() -> None:
    for key, args in (("xen-event-list", {}), ("xen-event-inject", {"port": 1})):
        inv = Invocation(spec(key), args, key)
        with pytest.raises(QMPCommandError, match="Xen event channel emulation not enabled"):
            drive(HANDLERS[key](inv, Context()), raising(NO_XEN))


def test_xen_event_inject_prints_the_port() -> None:
    sent: List[QMPCommand] = []
    inv = Invocation(spec("xen-event-inject", "port:i"), {"port": -1}, "")
    out = drive(HANDLERS["xen-event-inject"](inv, Context()),
                lambda cmd: sent.append(cmd) or {})
    assert out == "Delivered port -1\n"
    assert sent[0].arguments == {"port": 0xFFFFFFFF}


def test_info_firmware_log_decodes_and_escapes() -> None:
    log = base64.b64encode(b"Boot\r\nok\t\xff\n").decode()
    sent: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        return {"version": "edk2-stable", "log": log}

    inv = Invocation(spec("info firmware-log", "max-size:o?"), {"max-size": 4096}, "")
    out = drive(HANDLERS["info firmware-log"](inv, Context()), respond)
    assert out == "[ firmware version: edk2-stable ]\nBoot\r\nok\\t\\377\n\n"
    assert sent[0].arguments == {"max-size": 4096}


def test_info_firmware_log_error_is_qemus() -> None:
    inv = Invocation(spec("info firmware-log", "max-size:o?"), {}, "")
    with pytest.raises(QMPCommandError, match="firmware log buffer not found"):
        drive(HANDLERS["info firmware-log"](inv, Context()), raising(
            QMPCommandError("GenericError", "firmware log buffer not found")))


@pytest.mark.parametrize("flags,fmt", [({"zlib": True, "raw": True}, "kdump-raw-zlib"),
                                       ({"lzo": True, "raw": True}, "kdump-raw-lzo"),
                                       ({"snappy": True, "raw": True}, "kdump-raw-snappy"),
                                       ({"raw": True}, "elf"),
                                       ({"windmp": True, "raw": True}, "win-dmp")])
def test_dump_guest_memory_raw(flags: Dict[str, bool], fmt: str) -> None:
    sent: List[QMPCommand] = []
    inv = Invocation(spec("dump-guest-memory"), {"filename": "/tmp/x", **flags}, "")
    drive(HANDLERS["dump-guest-memory"](inv, Context()), lambda cmd: sent.append(cmd) or {})
    assert sent[0].arguments["format"] == fmt


# --- chardev reconnect / reconnect-ms --------------------------------------


def chardev_schema(socket_members: List[str]) -> List[Dict[str, Any]]:
    """The part of a live schema that says which members ChardevSocket has."""
    return [
        {"name": "chardev-add", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
        {"name": "1", "meta-type": "object", "members": [{"name": "id", "type": "str"},
                                                         {"name": "backend", "type": "2"}]},
        {"name": "2", "meta-type": "object", "tag": "type",
         "members": [{"name": "type", "type": "3"}],
         "variants": [{"case": "socket", "type": "4"}]},
        {"name": "4", "meta-type": "object", "members": [{"name": "data", "type": "5"}]},
        {"name": "5", "meta-type": "object",
         "members": [{"name": name, "type": "int"} for name in socket_members]},
    ]


#: ChardevSocket's reconnect members per release (query-qmp-schema of each).
SOCKET_72 = ["addr", "server", "reconnect"]
SOCKET_100 = ["addr", "server", "reconnect", "reconnect-ms"]
SOCKET_111 = ["addr", "server", "reconnect-ms"]


def chardev_add(line_args: str, version, members: List[str],
                hmp_version=None) -> Any:
    sent: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        return {}

    prof = profile_for(qmp_greeting(version), chardev_schema(members), hmp_version)
    inv = Invocation(spec("chardev-add", "args:s"), {"args": line_args}, "")
    out = drive(HANDLERS["chardev-add"](inv, Context(profile=prof)), respond)
    return out, [c.arguments for c in sent if c.execute == "chardev-add"]


SOCK = "socket,id=c1,host=127.0.0.1,port=1"


def test_chardev_reconnect_on_each_release() -> None:
    out, sent = chardev_add(SOCK + ",reconnect=1", (10, 0, 2), SOCKET_100)
    assert out == "" and sent[0]["backend"]["data"]["reconnect"] == 1
    out, sent = chardev_add(SOCK + ",reconnect-ms=1000", (10, 0, 2), SOCKET_100)
    assert out == "" and sent[0]["backend"]["data"]["reconnect-ms"] == 1000
    # QEMU 11.1.3's own HMP: the option is gone
    out, sent = chardev_add(SOCK + ",reconnect=1", (11, 1, 3), SOCKET_111)
    assert out == "Invalid parameter 'reconnect'\nError: Parsing chardev args failed\n"
    assert sent == []
    # QEMU 7.2.22's own HMP: not an option yet
    out, sent = chardev_add(SOCK + ",reconnect-ms=1000", (7, 2, 22), SOCKET_72)
    assert out == "Invalid parameter 'reconnect-ms'\nError: Parsing chardev args failed\n"


def test_chardev_reconnect_of_7_2_over_11_1_is_sent_as_milliseconds() -> None:
    out, sent = chardev_add(SOCK + ",reconnect=2", (11, 1, 3), SOCKET_111, (7, 2))
    assert out == ""
    data = sent[0]["backend"]["data"]
    assert data["reconnect-ms"] == 2000 and "reconnect" not in data


def test_chardev_both_reconnects_refused_as_qemu_9_2_does() -> None:
    out, sent = chardev_add(SOCK + ",reconnect=1,reconnect-ms=5", (11, 1, 3), SOCKET_111,
                            (10, 0))
    assert out == "Error: 'reconnect' and 'reconnect-ms' are mutually exclusive\n"
    assert sent == []


def test_chardev_logtimestamp_from_11_0() -> None:
    sent: List[QMPCommand] = []
    prof = profile_for(qmp_greeting((11, 1, 3)), None)
    inv = Invocation(spec("chardev-add", "args:s"), {"args": "null,id=n1,logtimestamp=on"}, "")
    assert drive(HANDLERS["chardev-add"](inv, Context(profile=prof)),
                 lambda cmd: sent.append(cmd) or {}) == ""
    assert sent[0].arguments["backend"]["data"]["logtimestamp"] is True


# --- texts that changed: device help defaults, trace-event vCPU, dumpdtb, VNC hint


def run_on(key: str, args_type: str, args: Dict[str, Any], version, respond) -> str:
    inv = Invocation(spec(key, args_type), args, key)
    ctx = Context(profile=profile_for(qmp_greeting(version), None))
    return drive(HANDLERS[key](inv, ctx), respond)


E1000_PROPS = [{"name": "autonegotiation", "type": "bool", "default-value": True},
               {"name": "romfile", "type": "str", "default-value": "efi-e1000.rom"},
               {"name": "x-pcie-lnksta-dllla", "type": "uint32", "default-value": 1}]


@pytest.mark.parametrize("version,lines", [
    ((7, 2, 22), ["  autonegotiation=<bool> -  (default: true)",
                  '  romfile=<str>          -  (default: "efi-e1000.rom")']),
    ((10, 0, 2), ["  autonegotiation=<bool> -  (default: on)",
                  "  romfile=<str>          -  (default: efi-e1000.rom)"]),
])
def test_device_help_defaults_per_release(version, lines: List[str]) -> None:
    out = run_on("device_add", "device:O", {"device": {"driver": "e1000", "help": "on"}},
                 version, lambda cmd: E1000_PROPS)
    for line in lines:
        assert line + "\n" in out
    assert "(default: 1)" in out


def test_trace_event_vcpu_ignored_from_8_1() -> None:
    sent: List[QMPCommand] = []
    args = {"name": "nosuch", "option": True, "vcpu": 0x80000000}

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        raise QMPCommandError("GenericError", 'unknown event "nosuch"')

    assert run_on("trace-event", "name:s,option:b,vcpu:i?", args, (7, 2, 22),
                  respond) == "argument vcpu must be positive"
    assert run_on("trace-event", "name:s,option:b,vcpu:i?", args, (10, 0, 2),
                  respond) == 'unknown event "nosuch"\n'
    assert "vcpu" not in sent[-1].arguments
    out = run_on("info trace-events", "name:s?,vcpu:i?", {"name": "x", "vcpu": 3},
                 (11, 1, 3), lambda cmd: sent.append(cmd) or [])
    assert out == "" and sent[-1].arguments == {"name": "x"}


NO_FDT = QMPCommandError("GenericError", "This machine doesn't have an FDT")


@pytest.mark.parametrize("version,ok,fail", [
    ((7, 2, 22), "info: dtb dumped to /x.dtb\n", "Error: This machine doesn't have a FDT\n"),
    ((9, 1, 0), "dtb dumped to /x.dtb", "Error: This machine doesn't have a FDT\n"),
    ((10, 0, 2), "DTB dumped to '/x.dtb'\n",
     "Error: This machine doesn't have an FDT\n(Perhaps it doesn't support FDT at all, "
     "or perhaps you need to provide an FDT with the -fdt option?)\n"),
])
def test_dumpdtb_per_release(version, ok: str, fail: str) -> None:
    args = {"filename": "/x.dtb"}
    assert run_on("dumpdtb", "filename:F", args, version, lambda cmd: {}) == ok
    assert run_on("dumpdtb", "filename:F", args, version, raising(NO_FDT)) == fail


def test_set_password_without_vnc_hint_on_11() -> None:
    no_vnc = raising(QMPCommandError("GenericError", "No VNC display is present"))
    args = {"protocol": "vnc", "password": "pw"}
    key, args_type = "set_password", "protocol:s,password:s,display:-ds,connected:s?"
    assert run_on(key, args_type, args, (10, 0, 2), no_vnc) == (
        "Error: Could not set password\n")
    assert run_on(key, args_type, args, (11, 1, 3), no_vnc) == (
        "Error: No VNC display is present\nTo enable it, use '-vnc ...'")


# --- info jit, and info status's single-step suffix from x-query-jit -------

JIT_11 = ("Accelerator settings:\none-insn-per-tb: on\n\nTranslation buffer state:\n"
          "gen code size       0/1073736704\n")


def test_info_jit_drops_accelerator_settings_before_8_1() -> None:
    reply = {"human-readable-text": JIT_11}
    assert run_on("info jit", "", {}, (11, 1, 3), lambda cmd: reply) == JIT_11
    inv = Invocation(spec("info jit"), {}, "info jit")
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    assert drive(HANDLERS["info jit"](inv, ctx), lambda cmd: reply) == (
        "Translation buffer state:\ngen code size       0/1073736704\n")


@pytest.mark.parametrize("jit,suffix", [(JIT_11, " (single step mode)"),
                                        (JIT_11.replace(": on", ": off"), ""),
                                        (None, "")])
def test_info_status_7_2_over_11_1_reads_one_insn_per_tb(jit: Optional[str], suffix: str) -> None:
    schema = [{"name": "x-query-jit", "meta-type": "command", "arg-type": "0", "ret-type": "0"}]
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), schema, (7, 2)))

    def respond(cmd: QMPCommand) -> Any:
        if cmd.execute == "query-status":
            return {"status": "running", "running": True}
        if jit is None:
            raise QMPCommandError("GenericError",
                                  "JIT information is only available with accel=tcg")
        return {"human-readable-text": jit}

    inv = Invocation(spec("info status"), {}, "info status")
    assert drive(HANDLERS["info status"](inv, ctx), respond) == f"VM status: running{suffix}\n"


def test_hotpluggable_cpus_topology_ids_per_release() -> None:
    slot = {"type": "qemu64-x86_64-cpu", "vcpus-count": 1,
            "props": {"socket-id": 0, "module-id": 0, "core-id": 1, "thread-id": 0}}
    new = run_on("info hotpluggable-cpus", "", {}, (11, 1, 3), lambda cmd: [slot])
    assert '    module-id: "0"\n' in new
    inv = Invocation(spec("info hotpluggable-cpus"), {}, "")
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    old = drive(HANDLERS["info hotpluggable-cpus"](inv, ctx), lambda cmd: [slot])
    assert old == new.replace('    module-id: "0"\n', "")


def test_trace_event_7_2_over_11_1_answers_as_7_2s_qmp_did() -> None:
    """QEMU 9.1 dropped the vcpu argument and 8.1 the vCPU events: 7.2's answers are rebuilt."""
    schema = [{"name": "trace-event-set-state", "meta-type": "command", "arg-type": "1",
               "ret-type": "0"},
              {"name": "trace-event-get-state", "meta-type": "command", "arg-type": "2",
               "ret-type": "0"},
              {"name": "1", "meta-type": "object", "members": [
                  {"name": "name", "type": "str"}, {"name": "enable", "type": "bool"},
                  {"name": "ignore-unavailable", "type": "bool"}]},
              {"name": "2", "meta-type": "object", "members": [{"name": "name", "type": "str"}]}]
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), schema, (7, 2)))
    sent: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        if cmd.execute == "query-cpus-fast":
            return [{"cpu-index": 0, "thread-id": 1}]
        if cmd.arguments and cmd.arguments.get("name") == "nosuch":
            raise QMPCommandError("GenericError", 'unknown event "nosuch"')
        return [{"name": "e", "state": "disabled", "vcpu": False}]

    for key, args_type in (("trace-event", "name:s,option:b,vcpu:i?"),
                           ("info trace-events", "name:s?,vcpu:i?")):
        def run(name: str, vcpu: int) -> str:
            args = {"name": name, "option": True, "vcpu": vcpu}
            inv = Invocation(spec(key, args_type), args, key)
            return drive(HANDLERS[key](inv, ctx), respond)
        assert run("e", 3) == "invalid vCPU index 3\n"
        assert run("e", 0) == 'event "e" is not vCPU-specific\n'
        assert run("nosuch", 0) == 'unknown event "nosuch"\n'
        assert run("e*", 0) == ""
        assert run("e", -1) == "argument vcpu must be positive"
    assert not any(c.execute == "trace-event-set-state" for c in sent)
    assert all("vcpu" not in (cmd.arguments or {}) for cmd in sent)


def test_old_release_wording_over_11_1() -> None:
    """Errors whose wording changed print an older release's words under --hmp-version."""
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    inv = Invocation(spec("dumpdtb", "filename:F"), {"filename": "/x"}, "")
    assert drive(HANDLERS["dumpdtb"](inv, ctx), raising(NO_FDT)) == (
        "Error: This machine doesn't have a FDT\n")
    inv = Invocation(spec("set_password", "protocol:s,password:s"),
                     {"protocol": "vnc", "password": "pw"}, "")
    assert drive(HANDLERS["set_password"](inv, ctx), raising(
        QMPCommandError("GenericError", "No VNC display is present"))) == (
        "Error: Could not set password\n")


# --- sendkey: key names from the live schema (f13..f24 since 8.0) ----------

def sendkey_schema(names: List[str]) -> List[Dict[str, Any]]:
    return [{"name": "send-key", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
            {"name": "1", "meta-type": "object", "members": [{"name": "keys", "type": "[2]"}]},
            {"name": "[2]", "meta-type": "array", "element-type": "2"},
            {"name": "2", "meta-type": "object", "tag": "type",
             "members": [{"name": "type", "type": "3"}],
             "variants": [{"case": "number", "type": "4"}, {"case": "qcode", "type": "5"}]},
            {"name": "5", "meta-type": "object", "members": [{"name": "data", "type": "6"}]},
            {"name": "6", "meta-type": "enum", "values": names}]


def test_sendkey_names_from_the_live_schema() -> None:
    sent: List[QMPCommand] = []
    inv = Invocation(spec("sendkey", "keys:s,hold-time:i?"), {"keys": "ctrl-f13"}, "")
    new = Context(profile=profile_for(qmp_greeting((11, 1, 3)),
                                      sendkey_schema(["ctrl", "f12", "f13"])))
    assert drive(HANDLERS["sendkey"](inv, new), lambda cmd: sent.append(cmd) or {}) == ""
    assert sent[0].arguments["keys"][1] == {"type": "qcode", "data": "f13"}
    old = Context(profile=profile_for(qmp_greeting((7, 2, 22)), None))
    assert drive(HANDLERS["sendkey"](inv, old), lambda cmd: {}) == "invalid parameter: f13\n"


def test_chardev_options_per_release() -> None:
    from hmpbridge.handlers.chardev import chardev_options
    old, new = chardev_options((7, 2)), chardev_options((11, 1))
    assert "reconnect" in old and "reconnect-ms" not in old and "input-path" not in old
    assert "reconnect" not in new and "chardevs.3" in new and "logtimestamp" in new
    keys = list(chardev_options((10, 0)))
    assert keys.index("reconnect-ms") == keys.index("reconnect") + 1
    assert keys.index("input-path") == keys.index("path") + 1


def test_chardev_hub_and_input_path_from_10_0() -> None:
    schema = chardev_schema(SOCKET_100)
    schema[2]["variants"] += [{"case": "hub", "type": "6"}, {"case": "file", "type": "6"},
                              {"case": "null", "type": "6"}]
    schema.append({"name": "3", "meta-type": "enum",
                   "values": ["socket", "hub", "file", "null"]})
    sent: List[QMPCommand] = []
    prof = profile_for(qmp_greeting((10, 0, 2)), schema)
    for line in ("hub,id=h1,chardevs.0=a,chardevs.1=b,chardevs.3=d",
                 "file,id=f1,path=/o,input-path=/i"):
        inv = Invocation(spec("chardev-add", "args:s"), {"args": line}, "")
        assert drive(HANDLERS["chardev-add"](inv, Context(profile=prof)),
                     lambda cmd: sent.append(cmd) or {}) == ""
    assert sent[0].arguments["backend"] == {"type": "hub", "data": {
        "logappend": False, "chardevs": ["a", "b"]}}
    assert sent[1].arguments["backend"]["data"]["in"] == "/i"
    inv = Invocation(spec("chardev-add", "args:s"), {"args": "hub,id=h2,chardevs.0=a"}, "")
    old = Context(profile=profile_for(qmp_greeting((7, 2, 22)), None))
    assert drive(HANDLERS["chardev-add"](inv, old), lambda cmd: {}) == (
        "Invalid parameter 'chardevs.0'\nError: Parsing chardev args failed\n")


def test_device_add_plain_unsigned_needs_no_property_lookup() -> None:
    qemu = StrictQEMU(RNG)
    assert device_add({"driver": "virtio-rng-pci", "max-bytes": "1024"}, qemu) == ""
    assert [cmd.execute for cmd in qemu.sent] == ["device_add", "device_add"]
    qemu = StrictQEMU({"cache": "size"})
    assert device_add({"driver": "x", "cache": "010"}, qemu) == ""
    assert qemu.added[0]["cache"] == 10  # a size reads 010 as decimal, not octal


#: x-query-jit of QEMU 11.1.3 (paused, -M pc-i440fx-7.2) and QEMU 7.2.22's info jit.
JIT_11_1 = ("Accelerator settings:\none-insn-per-tb: off\n\nTranslation buffer state:\n"
            "gen code size       0/1073736704\nTB count            0\n"
            "TB hash buckets     0/8192 (0.00% head buckets used)\n"
            "TB hash occupancy   0.00% avg chain occ. Histogram: [0.0,0.0)%|█|[0.0,0.0]%\n"
            "\nStatistics:\nTB flush count      0\nTLB elided flushes  3584\n")
JIT_7_2 = ("Translation buffer state:\n"
           "gen code size       0/1073736704\nTB count            0\n"
           "TB hash buckets     0/8192 (0.00% head buckets used)\n"
           "TB hash occupancy   0.00% avg chain occ. Histogram: [0.0,0.0)%|█|[0.0,0.0]%\n"
           "TB hash avg chain   nan buckets. Histogram: (empty)\n"
           "\nStatistics:\nTB flush count      0\nTLB elided flushes  3584\n"
           "[TCG profiler not compiled]\n")


def test_info_jit_of_7_2_from_11_1() -> None:
    inv = Invocation(spec("info jit"), {}, "info jit")
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    reply = {"human-readable-text": JIT_11_1}
    assert drive(HANDLERS["info jit"](inv, ctx), lambda cmd: reply) == JIT_7_2
    ten = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (10, 0)))
    assert drive(HANDLERS["info jit"](inv, ten), lambda cmd: reply) == (
        "Accelerator settings:\none-insn-per-tb: off\n\n" + JIT_7_2)


def test_sendkey_7_2_text_over_11_1_takes_7_2s_names() -> None:
    inv = Invocation(spec("sendkey", "keys:s,hold-time:i?"), {"keys": "f13"}, "")
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)),
                                      sendkey_schema(["ctrl", "f12", "f13"]), (7, 2)))
    assert drive(HANDLERS["sendkey"](inv, ctx), lambda cmd: {}) == "invalid parameter: f13\n"


def test_info_memory_devices_hv_balloon() -> None:
    """``hv-balloon`` (8.2), as ``hmp_info_memory_devices`` prints it."""
    from hmpbridge.render.info_more import render_memory_devices
    assert render_memory_devices([
        {"type": "hv-balloon", "data": {"id": "hvb", "max-size": 1073741824}},
        {"type": "hv-balloon", "data": {"memaddr": 4294967296, "max-size": 2,
                                        "memdev": "/objects/m"}}]) == (
        'Memory device [hv-balloon]: "hvb"\n  max-size: 1073741824\n'
        'Memory device [hv-balloon]: ""\n  memaddr: 0x100000000\n  max-size: 2\n'
        '  memdev: /objects/m\n')


RAMBLOCK_11_1 = (
    "              Block Name    PSize              Offset               Used"
    "              Total                HVA  RO\n"
    "                  pc.ram    4 KiB  0x0000000000000000 0x0000000008000000"
    " 0x0000000008000000 0x00007fa76fe00000  rw\n")


def test_info_ramblock_without_hva_and_ro_before_8_0() -> None:
    reply = {"human-readable-text": RAMBLOCK_11_1}
    inv = Invocation(spec("info ramblock"), {}, "info ramblock")
    new = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None))
    assert drive(HANDLERS["info ramblock"](inv, new), lambda cmd: reply) == RAMBLOCK_11_1
    old = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    assert drive(HANDLERS["info ramblock"](inv, old), lambda cmd: reply) == (
        "              Block Name    PSize              Offset               Used"
        "              Total\n"
        "                  pc.ram    4 KiB  0x0000000000000000 0x0000000008000000"
        " 0x0000000008000000\n")


def test_virtio_not_realized_in_older_words() -> None:
    err = QMPCommandError("GenericError", "Path /nosuch is not a realized VirtIODevice")
    inv = Invocation(spec("info virtio-status", "path:s"), {"path": "/nosuch"}, "")
    for release, words in (((7, 2), "Path /nosuch is not a VirtIODevice"),
                           (None, "Path /nosuch is not a realized VirtIODevice")):
        # QEMU 10.0 is asked directly (11.1 is asked which devices there are first)
        ctx = Context(profile=profile_for(qmp_greeting((10, 0, 2)), None, release))
        with pytest.raises(QMPCommandError) as caught:
            drive(HANDLERS["info virtio-status"](inv, ctx), raising(err))
        assert caught.value.desc == words


def test_balloon_zero_in_older_words() -> None:
    err = QMPCommandError("GenericError", "Parameter 'value' expects a size")
    inv = Invocation(spec("balloon", "value:M"), {"value": 0}, "")
    old = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, (7, 2)))
    assert drive(HANDLERS["balloon"](inv, old), raising(err)) == (
        "Error: Parameter 'target' expects a size\n")
    new = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None))
    with pytest.raises(QMPCommandError):
        drive(HANDLERS["balloon"](inv, new), raising(err))


@pytest.mark.parametrize("key,args_type,args,desc,old", [
    ("screendump", "filename:F,format:-fs,device:s?,head:i?", {"filename": "/n/s.ppm"},
     "Could not create '/n/s.ppm': No such file or directory",
     "Error: failed to open file '/n/s.ppm': No such file or directory\n"),
    ("dump-guest-memory", "filename:F", {"filename": "/n/d"},
     "Could not create '/n/d': No such file or directory",
     "Error: Could not open '/n/d': No such file or directory\n"),
    ("set_password", "protocol:s,password:s,connected:s?",
     {"protocol": "vnc", "password": "pw", "connected": "fail"},
     "parameter 'connected' must be 'keep' when 'protocol' is 'vnc'",
     "Error: Invalid parameter 'connected'\n"),
])
def test_errors_reworded_in_8_2_keep_older_words(key: str, args_type: str,
                                                 args: Dict[str, Any], desc: str,
                                                 old: str) -> None:
    inv = Invocation(spec(key, args_type), args, key)
    err = QMPCommandError("GenericError", desc)
    for release, want in (((7, 2), old), (None, f"Error: {desc}\n")):
        ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, release))
        assert drive(HANDLERS[key](inv, ctx), raising(err)) == want


def test_gva2gpa_zero_in_older_form() -> None:
    inv = Invocation(spec("gva2gpa", "addr:l"), {"addr": 0}, "gva2gpa 0")
    for release, want in (((7, 2), "gpa: 0\n"), (None, "gpa: 0x0\n")):
        ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, release))
        assert drive(HANDLERS["gva2gpa"](inv, ctx), lambda cmd: "gpa: 0x0\r\n") == want


def test_capture_deprecation_warning_only_from_10_2() -> None:
    inv = Invocation(spec("info capture"), {}, "info capture")
    reply = "warning: 'info capture' is deprecated since v10.2, to be removed\r\n"
    for release, want in (((7, 2), ""), (None, reply.replace("\r\n", "\n"))):
        ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), None, release))
        assert drive(HANDLERS["info capture"](inv, ctx), lambda cmd: reply) == want


def test_info_ramblock_of_qemu_7_2_unchanged() -> None:
    text = RAMBLOCK_11_1.replace("                HVA  RO", "").replace(
        " 0x00007fa76fe00000  rw", "")
    inv = Invocation(spec("info ramblock"), {}, "info ramblock")
    ctx = Context(profile=profile_for(qmp_greeting((7, 2, 22)), None))
    assert drive(HANDLERS["info ramblock"](inv, ctx),
                 lambda cmd: {"human-readable-text": text}) == text
