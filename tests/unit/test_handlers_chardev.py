"""chardev-add (-chardev options to QMP backends) and chardev-remove."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, chardev, drive
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.testing import CannedReplies, InTurn, run_key

_load_all()

PARSE_FAILED = "Error: Parsing chardev args failed\n"
COMMON = {"logappend": False}


Script = CannedReplies


@pytest.fixture(autouse=True)
def _fresh_alias_warnings() -> None:
    chardev.reset_alias_warnings()


def add(args: str, script: Optional[Script] = None) -> str:
    return run_key("chardev-add", {"args": args}, script or Script(), line="chardev-add " + args)


def backend_of(args: str) -> Dict[str, Any]:
    script = Script()
    assert add(args, script) == ""
    assert len(script.sent) == 1 and script.sent[0].execute == "chardev-add"
    return dict(script.sent[0].arguments or {})


@pytest.mark.parametrize("args, backend", [
    ("null,id=n1", {"type": "null", "data": COMMON}),
    ("socket,id=s2,path=/tmp/s2.sock,server=on,wait=off",
     {"type": "socket", "data": {**COMMON, "server": True, "wait": False, "addr": {
         "type": "unix", "data": {"path": "/tmp/s2.sock", "tight": True, "abstract": False}}}}),
    ("socket,id=s9,path=/tmp/s9.sock",
     {"type": "socket", "data": {**COMMON, "server": False, "addr": {
         "type": "unix", "data": {"path": "/tmp/s9.sock", "tight": True, "abstract": False}}}}),
    ("socket,id=s14,host=127.0.0.1,port=0,server=on,wait=off,ipv4=on,to=5,nodelay=on",
     {"type": "socket", "data": {**COMMON, "nodelay": True, "server": True, "wait": False,
                                 "addr": {"type": "inet", "data": {
                                     "host": "127.0.0.1", "port": "0", "to": 5,
                                     "ipv4": True}}}}),
    ("socket,id=s3",
     {"type": "socket", "data": {**COMMON, "server": False,
                                 "addr": {"type": "fd", "data": {"str": ""}}}}),
    ("socket,id=s12,fd=foo,telnet=on,reconnect=2,tls-creds=t0",
     {"type": "socket", "data": {**COMMON, "server": False, "telnet": True, "reconnect": 2,
                                 "tls-creds": "t0",
                                 "addr": {"type": "fd", "data": {"str": "foo"}}}}),
    ("file,id=f2,path=/tmp/f2.log,append=on",
     {"type": "file", "data": {**COMMON, "out": "/tmp/f2.log", "append": True}}),
    ("pipe,id=pp2,path=/tmp/p", {"type": "pipe", "data": {**COMMON, "device": "/tmp/p"}}),
    ("serial,id=t2,path=/dev/ttyS0",
     {"type": "serial", "data": {**COMMON, "device": "/dev/ttyS0"}}),
    ("pty,id=p1", {"type": "pty", "data": COMMON}),
    ("ringbuf,id=r3,size=64k", {"type": "ringbuf", "data": {**COMMON, "size": 65536}}),
    ("memory,id=m1", {"type": "memory", "data": COMMON}),
    ("stdio,id=st1", {"type": "stdio", "data": {**COMMON, "signal": True}}),
    ("udp,id=u2,port=4555",
     {"type": "udp", "data": {**COMMON, "remote": {"type": "inet", "data": {
         "host": "localhost", "port": "4555"}}}}),
    ("udp,id=u3,port=4556,localaddr=127.0.0.1",
     {"type": "udp", "data": {**COMMON,
                              "remote": {"type": "inet", "data": {"host": "localhost",
                                                                  "port": "4556"}},
                              "local": {"type": "inet", "data": {"host": "127.0.0.1",
                                                                 "port": "0"}}}}),
    ("mux,id=mx3,chardev=n1", {"type": "mux", "data": {**COMMON, "chardev": "n1"}}),
    ("null,id=lg1,logfile=/tmp/lg1.log,logappend=on",
     {"type": "null", "data": {"logfile": "/tmp/lg1.log", "logappend": True}}),
    ("spicevmc,id=sv2,name=vdagent", {"type": "spicevmc", "data": {**COMMON,
                                                                   "type": "vdagent"}}),
])
def test_backends(args: str, backend: Dict[str, Any]) -> None:
    """When the options are valid, one chardev-add carries the backend QEMU's parser builds."""
    chardev_id = args.split("id=")[1].split(",")[0]
    assert backend_of(args) == {"id": chardev_id, "backend": backend}


# Every message below was captured from QEMU 7.2.22 via human-monitor-command.
@pytest.mark.parametrize("args, text", [
    ("null", "Error: chardev: no id specified\n"),
    ("bogus,id=b1", "Error: 'bogus' is not a valid char driver name\n"),
    ("id=x1", 'Error: chardev: "x1" missing backend\n'),
    ("null,id=n2,bogus=1", "Invalid parameter 'bogus'\n" + PARSE_FAILED),
    ("null,id=1bad", "Parameter 'id' expects an identifier\nIdentifiers consist of letters, "
                     "digits, '-', '.', '_', starting with a letter.\n" + PARSE_FAILED),
    ("socket,id=s4,host=localhost", "Error: chardev: socket: no port given\n"),
    ("socket,id=s6,path=/x,host=y,port=1",
     "Error: None or one of 'path', 'fd' or 'host' option required.\n"),
    ("socket,id=s7,server=maybe,path=/x",
     "Parameter 'server' expects 'on' or 'off'\n" + PARSE_FAILED),
    ("socket,id=s8,path=/x,reconnect=x", "Parameter 'reconnect' expects a number\n"
     + PARSE_FAILED),
    ("ringbuf,id=r2,size=abc", "Parameter 'size' expects a non-negative number below 2^64\n"
     "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
     "and exabytes, respectively.\n" + PARSE_FAILED),
    ("file,id=f1", "Error: chardev: file: no filename given\n"),
    ("pipe,id=pp1", "Error: chardev: pipe: no device path given\n"),
    ("udp,id=u1", "Error: chardev: udp: remote port not specified\n"),
    ("mux,id=mx2", "Error: chardev: mux: no chardev given\n"),
    ("spicevmc,id=sv1", "Error: chardev: spice channel: no name given\n"),
    ("null,help", PARSE_FAILED),
    ("null,id=w3,width=99999999999999999999",
     "Value '99999999999999999999' is too large for parameter 'width'\n" + PARSE_FAILED),
    ("tty,id=t1", "warning: The alias 'tty' is deprecated, use 'serial' instead\n"
     "Error: chardev: serial/tty: no device path given\n"),
    ("null,id=n7,bogus,server", "warning: short-form boolean option 'bogus' deprecated\n"
     "Please use bogus=on instead\nInvalid parameter 'bogus'\n" + PARSE_FAILED),
])
def test_refused_before_qmp(args: str, text: str) -> None:
    """When QEMU's parsing refuses the options, its lines are printed and nothing is sent."""
    script = Script()
    assert add(args, script) == text
    assert script.sent == []


def test_short_form_booleans_warn_and_work() -> None:
    """When booleans are given bare, QEMU's warnings are printed and the chardev is added."""
    script = Script()
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert add("socket,id=s1,path=/tmp/s1.sock,server,nowait", script) == (
        "warning: short-form boolean option 'server' deprecated\n"
        "Please use server=on instead\n"
        "warning: short-form boolean option 'nowait' deprecated\n"
        "Please use wait=off instead\n")
    data = script.sent[0].arguments["backend"]["data"]  # type: ignore[index]
    assert (data["server"], data["wait"]) == (True, False)


def test_alias_warning_is_printed_once() -> None:
    """When an alias is used twice, QEMU warns only the first time."""
    script = Script({"chardev-add": QMPCommandError("GenericError", "x")})
    assert add("parport,id=t4,path=/nonexist", script).startswith("warning: The alias 'parport'")
    assert add("parport,id=t5,path=/nonexist", script) == "Error: x\n"
    assert script.sent[0].arguments["backend"]["type"] == "parallel"  # type: ignore[index]


def test_qmp_prefix_is_removed() -> None:
    """When QMP refuses the chardev, its 'Failed to add chardev' prefix is not printed."""
    script = Script({"chardev-add": QMPCommandError(
        "GenericError", "Failed to add chardev 's13': File descriptor named 'foo' has not "
        "been found")})
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert add("socket,id=s13,fd=foo", script) == \
        "Error: File descriptor named 'foo' has not been found\n"


def test_pty_prints_where_it_went() -> None:
    """When a pty is added, QEMU's redirection line is printed."""
    script = Script({"chardev-add": {"pty": "/dev/pts/0"}})
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert add("pty,id=p1", script) == "char device redirected to /dev/pts/0 (label p1)\n"


def test_mux_adds_base_then_mux() -> None:
    """When mux=on, the backend is added as ID-base and a mux named ID on top of it."""
    script = Script()
    assert add("null,id=mx,mux=on", script) == ""
    assert script.sent == [
        QMPCommand("chardev-add", {"id": "mx-base", "backend": {"type": "null", "data": COMMON}}),
        QMPCommand("chardev-add", {"id": "mx", "backend": {"type": "mux",
                                                           "data": {"chardev": "mx-base"}}}),
    ]


def test_failed_mux_removes_its_base() -> None:
    """When the mux cannot be added, the base chardev is removed again, as HMP does."""
    taken = QMPCommandError("GenericError", "Failed to add chardev 'n1': Chardev with id "
                            "'n1' already exists")
    script = Script({"chardev-add": InTurn({}, taken)})
    assert add("null,id=n1,mux=on", script) == \
        "Error: attempt to add duplicate property 'n1' to object (type 'container')\n"
    assert script.sent[-1] == QMPCommand("chardev-remove", {"id": "n1-base"})


def test_taken_id_reports_the_backend_error_first() -> None:
    """When the id is taken, the backend is tried under a scratch id; its error wins, as in HMP."""
    taken = QMPCommandError("GenericError", "Failed to add chardev 'n1': Chardev with id "
                            "'n1' already exists")
    cannot = QMPCommandError("GenericError", "Failed to add chardev 'n1.hmpbridge-probe': "
                             "Could not open '/nonexist/x': No such file or directory")
    script = Script({"chardev-add": InTurn(taken, cannot)})
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert add("file,id=n1,path=/nonexist/x", script) == \
        "Error: Could not open '/nonexist/x': No such file or directory\n"


def test_taken_id_with_a_working_backend() -> None:
    """When the id is taken but the backend opens, the scratch goes; the duplicate is reported."""
    taken = QMPCommandError("GenericError", "Failed to add chardev 'n1': Chardev with id "
                            "'n1' already exists")
    script = Script({"chardev-add": InTurn(taken, {"pty": "/dev/pts/2"})})
    # Captured from QEMU 7.2.22 via human-monitor-command.
    assert add("pty,id=n1", script) == (
        "char device redirected to /dev/pts/2 (label n1)\n"
        "Error: attempt to add duplicate property 'n1' to object (type 'container')\n")
    assert script.sent[-1] == QMPCommand("chardev-remove", {"id": "n1.hmpbridge-probe"})


def test_backend_help_lists_the_backends() -> None:
    """When the backend is help, query-chardev-backends is printed in QEMU's (reversed) order."""
    script = Script({"query-chardev-backends": [{"name": "pty"}, {"name": "null"}]})
    assert add("help", script) == "Available chardev backend types: \n  null\n  pty\n"
    assert script.sent == [QMPCommand("query-chardev-backends")]


def test_chardev_remove() -> None:
    """When chardev-remove runs, the id goes to QMP; an unknown one prints QEMU's error."""
    script = Script({"chardev-remove": QMPCommandError("GenericError",
                                                       "Chardev 'nosuch' not found")})
    inv = Invocation(by_key("chardev-remove"), {"id": "nosuch"}, "chardev-remove nosuch")
    with pytest.raises(QMPCommandError):
        drive(HANDLERS["chardev-remove"](inv, Context()), script)
    assert script.sent == [QMPCommand("chardev-remove", {"id": "nosuch"})]


AT_CONNECT = frozenset({"ser0", "compat_monitor0", "serial0", "parallel0", "debugcon",
                        "virtcon1", "gdb"})


def test_held_ids_are_the_chardevs_at_connect_less_the_optionless() -> None:
    """The chardevs there at connect count as made from options, less -serial's kind."""
    assert chardev.held_chardev_ids(AT_CONNECT) == frozenset({"ser0", "compat_monitor0"})
    assert chardev.held_chardev_ids(None) == frozenset()


@pytest.mark.parametrize("args", ["null,id=ser0", "pty,id=ser0", "bogus,id=ser0",
                                  "file,id=compat_monitor0,path=/nonexistent/x",
                                  "null,id=ser0,nosuch=1"])
def test_an_id_qemu_holds_options_for_is_refused_first(args: str) -> None:
    """When -chardev made that id, QEMU's options list refuses it before anything else."""
    script = Script()
    out = run_key("chardev-add", {"args": args}, script, Context(chardevs_at_connect=AT_CONNECT),
                  line="chardev-add " + args)
    # Captured from QEMU 7.2.22 via human-monitor-command (-chardev null,id=ser0).
    name = args.split("id=")[1].split(",")[0]
    assert out == f"Duplicate ID '{name}' for chardev\nError: Parsing chardev args failed\n"
    assert script.sent == []


def test_an_id_from_serial_goes_to_qemu() -> None:
    """When -serial made the chardev, QEMU kept no options: QMP's duplicate error is printed."""
    taken = QMPCommandError("GenericError", "attempt to add duplicate property 'serial0' to "
                            "object (type 'container')")
    script = Script({"chardev-add": taken})
    out = run_key("chardev-add", {"args": "null,id=serial0"}, script,
                  Context(chardevs_at_connect=AT_CONNECT), line="chardev-add null,id=serial0")
    assert out == ("Error: attempt to add duplicate property 'serial0' to object "
                   "(type 'container')\n")


def test_chardev_change_refuses_a_held_id_in_its_options() -> None:
    """chardev-change parses its options into the same list, so a held id= is a duplicate."""
    out = run_key("chardev-change", {"id": "cx0", "args": "null,id=ser0"}, Script(),
                  Context(chardevs_at_connect=AT_CONNECT), line="chardev-change cx0 null,id=ser0")
    assert out == "Duplicate ID 'ser0' for chardev\nError: Parsing chardev args failed\n"
