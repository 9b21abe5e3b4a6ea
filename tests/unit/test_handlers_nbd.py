"""The NBD server commands and the socket address reader behind nbd_server_start."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.handlers.nbd import AddressError, socket_parse
from hmpbridge.testing import CannedReplies, run_line

_load_all()

QUERY_BLOCK = [
    {"device": "cd0", "removable": True},
    {"device": "disk0", "removable": False, "inserted": {"file": "d0.qcow2"}},
    {"device": "disk1", "removable": False, "inserted": {"file": "d1.qcow2"}},
]

# Captured from QEMU 7.2.22 via human-monitor-command.
CONFLICT = ("Permission conflict on node '#block179': permissions 'write' are both required "
            "by an unnamed block device (uses node '#block179' as 'root' child) and unshared "
            "by block device 'disk0' (uses node '#block179' as 'root' child).")


class Script(CannedReplies):
    """Canned replies by QMP command name; what was sent, as JSON-ready dicts."""

    @property
    def sent(self) -> List[Any]:
        return [cmd.to_dict() for cmd in self.commands]


def run(line: str, script: Script) -> str:
    return run_line(line, script)


def error(desc: str, name: str) -> QMPCommandError:
    return QMPCommandError("GenericError", desc, name,
                           {"error": {"class": "GenericError", "desc": desc}})


@pytest.mark.parametrize("uri, address", [
    ("unix:/run/nbd.sock", {"type": "unix", "data": {"path": "/run/nbd.sock"}}),
    ("fd:nbdfd", {"type": "fd", "data": {"str": "nbdfd"}}),
    ("vsock:3:10809", {"type": "vsock", "data": {"cid": "3", "port": "10809"}}),
    ("127.0.0.1:10809", {"type": "inet", "data": {"host": "127.0.0.1", "port": "10809"}}),
    ("tcp:localhost:0", {"type": "inet", "data": {"host": "localhost", "port": "0"}}),
    (":10809", {"type": "inet", "data": {"host": "", "port": "10809"}}),
    ("[::1]:10809", {"type": "inet", "data": {"host": "::1", "port": "10809"}}),
    ("h:1,to=5,ipv4,ipv6=off,keep-alive=on,mptcp",
     {"type": "inet", "data": {"host": "h", "port": "1", "to": 5, "ipv4": True,
                               "ipv6": False, "keep-alive": True, "mptcp": True}}),
    ("h:1,to=-1", {"type": "inet", "data": {"host": "h", "port": "1", "to": 65535}}),
    ("h:1,to=5,foo", {"type": "inet", "data": {"host": "h", "port": "1", "to": 5}}),
])
def test_socket_parse_accepts(uri: str, address: Dict[str, Any]) -> None:
    """Addresses QEMU accepts become the SocketAddressLegacy nbd-server-start takes."""
    assert socket_parse(uri) == address


@pytest.mark.parametrize("uri, message", [
    # every message captured from QEMU 7.2.22's nbd_server_start
    ("unix:", "invalid Unix socket address"),
    ("fd:", "invalid file descriptor address"),
    ("vsock:1", "error parsing address '1'"),
    ("vsock:1:2x,", "trailing characters in address '1:2x,'"),
    ("127.0.0.1:", "error parsing address '127.0.0.1:'"),
    ("tcp:", "error parsing address ''"),
    ("[::1", "error parsing IPv6 address '[::1'"),
    (":", "error parsing port in address ':'"),
    ("127.0.0.1:0,to=x", "error parsing to= argument"),
    ("127.0.0.1:0,to=+7x", "error parsing to= argument"),
    ("127.0.0.1:0,ipv4=yes", "error parsing 'ipv4' flag '=yes'"),
    ("127.0.0.1:0,ipv4=on,,x", "error parsing 'ipv4' flag '=on,,x'"),
    ("127.0.0.1:0,ipv6=,", "error parsing 'ipv6' flag '=,'"),
    ("127.0.0.1:0,mptcp=bad", "error parsing 'mptcp' flag '=bad'"),
    ("127.0.0.1:1,to=x,ipv4=bad", "error parsing to= argument"),
    ("a" * 65 + ":1", "error parsing address '" + "a" * 65 + ":1'"),
])
def test_socket_parse_refuses(uri: str, message: str) -> None:
    """Addresses QEMU refuses raise its message."""
    with pytest.raises(AddressError) as err:
        socket_parse(uri)
    assert str(err.value) == message


def test_long_port_is_cut_at_32_characters() -> None:
    """The port is read as at most 32 characters, as QEMU's sscanf does."""
    assert socket_parse("h:" + "0" * 40)["data"] == {"host": "h", "port": "0" * 32}


def test_start_plain() -> None:
    """nbd_server_start without -a only starts the server."""
    script = Script()
    assert run("nbd_server_start unix:/tmp/n.sock", script) == ""
    assert script.sent == [{"execute": "nbd-server-start", "arguments": {
        "addr": {"type": "unix", "data": {"path": "/tmp/n.sock"}}}}]


def test_start_w_needs_a() -> None:
    """-w without -a is refused before anything is sent."""
    script = Script()
    assert run("nbd_server_start -w :0", script) == "Error: -w only valid together with -a\n"
    assert script.sent == []


def test_start_bad_address_sends_nothing() -> None:
    """A bad address prints QEMU's message and starts nothing."""
    script = Script()
    assert run("nbd_server_start [::1", script) == "Error: error parsing IPv6 address '[::1'\n"
    assert script.sent == []


def test_start_already_running() -> None:
    """A server that is already running: QEMU's error, no exports attempted."""
    script = Script({"nbd-server-start": error("NBD server already running",
                                               "nbd-server-start")})
    assert run("nbd_server_start -a :0", script) == "Error: NBD server already running\n"
    assert [c["execute"] for c in script.sent] == ["nbd-server-start"]


def test_start_too_long_path_gets_hint() -> None:
    """A too long socket path prints the hint line QEMU's HMP shows."""
    desc = "UNIX socket path '/x' is too long"
    script = Script({"nbd-server-start": error(desc, "nbd-server-start")})
    assert run("nbd_server_start unix:/x", script) == (
        f"Error: {desc}\nPath must be less than 108 bytes\n")


def test_start_all_exports_drives_with_media() -> None:
    """-a exports every drive with a medium, writable as -w says."""
    script = Script({"query-block": QUERY_BLOCK})
    assert run("nbd_server_start -a -w :0", script) == ""
    assert script.sent[1:] == [
        {"execute": "query-block"},
        {"execute": "nbd-server-add", "arguments": {"device": "disk0", "writable": True}},
        {"execute": "nbd-server-add", "arguments": {"device": "disk1", "writable": True}}]


def test_start_all_stops_at_first_failure() -> None:
    """The first export that fails stops the server; its error is printed."""
    script = Script({"query-block": QUERY_BLOCK,
                     "nbd-server-add": error(CONFLICT, "nbd-server-add")})
    assert run("nbd_server_start -a -w :0", script) == f"Error: {CONFLICT}\n"
    assert [c["execute"] for c in script.sent] == [
        "nbd-server-start", "query-block", "nbd-server-add", "nbd-server-stop"]


def test_add_always_sends_writable() -> None:
    """nbd_server_add sends writable false without -w, and the name when given."""
    script = Script()
    assert run("nbd_server_add disk0", script) == ""
    assert run("nbd_server_add -w disk0 exp", script) == ""
    assert script.sent == [
        {"execute": "nbd-server-add", "arguments": {"device": "disk0", "writable": False}},
        {"execute": "nbd-server-add", "arguments": {"device": "disk0", "name": "exp",
                                                    "writable": True}}]


def test_remove_hard_only_with_f() -> None:
    """nbd_server_remove leaves mode to QEMU (safe) unless -f asks for hard."""
    script = Script()
    run("nbd_server_remove exp", script)
    run("nbd_server_remove -f exp", script)
    assert script.sent == [
        {"execute": "nbd-server-remove", "arguments": {"name": "exp"}},
        {"execute": "nbd-server-remove", "arguments": {"name": "exp", "mode": "hard"}}]


def test_stop_not_running() -> None:
    """nbd_server_stop prints QEMU's error when no server runs."""
    script = Script({"nbd-server-stop": error("NBD server not running", "nbd-server-stop")})
    assert run("nbd_server_stop", script) == "Error: NBD server not running\n"
