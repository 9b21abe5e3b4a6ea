"""netdev_add's option conversion, its duplicate check, and the one-line netdev/object commands."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.handlers.netdev_objects import NetdevError, netdev_arguments
from hmpbridge.hmp_parser import parse
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, run_line

_load_all()


def run(line: str, replies: Optional[Dict[str, Any]] = None,
        ctx: Optional[Context] = None) -> tuple:
    """The text printed for ``line`` and the commands sent; an exception reply is raised."""
    script = CannedReplies(replies)
    return run_line(line, script, ctx, render=False), script.sent


_ABSENT = {"query-rx-filter": QMPCommandError("GenericError", "invalid net client name: x")}


def test_user_netdev_is_typed() -> None:
    """Booleans, the last of repeated list keys and plain strings become QMP's typed members."""
    out, sent = run("netdev_add user,id=u1,ipv6=off,restrict=on,hostfwd=tcp::1-:22,"
                    "hostfwd=tcp::2-:23,hostname=h", _ABSENT)
    assert out == ""
    assert sent == [QMPCommand("query-rx-filter", {"name": "u1"}),
                    QMPCommand("netdev_add", {"id": "u1", "type": "user", "ipv6": False,
                                              "restrict": True, "hostname": "h",
                                              "hostfwd": [{"str": "tcp::2-:23"}]})]


def test_ipv6_net_shorthand() -> None:
    """ipv6-net=ADDR/LEN becomes ipv6-prefix and ipv6-prefixlen; LEN defaults to 64."""
    assert netdev_arguments({"type": "user", "id": "u", "ipv6-net": "fec0::/56"}) == {
        "id": "u", "type": "user", "ipv6-prefix": "fec0::", "ipv6-prefixlen": 56}
    assert netdev_arguments({"type": "user", "id": "u", "ipv6-net": "fec0::"})[
        "ipv6-prefixlen"] == 64
    assert netdev_arguments({"type": "user", "id": "u", "ipv6-net": "fec0::/-1"})[
        "ipv6-prefixlen"] == -1


def test_integers_and_sizes() -> None:
    """Integers are read with base 0 and sizes with suffixes, as the options visitor does."""
    assert netdev_arguments({"type": "hubport", "id": "h", "hubid": "0x10"})["hubid"] == 16
    assert netdev_arguments({"type": "hubport", "id": "h", "hubid": "-1"})["hubid"] == -1
    args = netdev_arguments({"type": "tap", "id": "t", "sndbuf": "1M", "queues": "010"})
    assert (args["sndbuf"], args["queues"]) == (1 << 20, 8)


@pytest.mark.parametrize("options, message", [
    ({"type": "user"}, "Parameter 'id' is missing"),
    ({"id": "x"}, "Parameter 'type' is missing"),
    ({"id": "x", "type": "bogus"}, "Parameter 'type' does not accept value 'bogus'"),
    ({"id": "x", "type": "user", "ipv6": "maybe"}, "Parameter 'ipv6' expects 'on' or 'off'"),
    ({"id": "x", "type": "user", "bogus": "1"}, "Invalid parameter 'bogus'"),
    ({"id": "x", "type": "user", "bogus": "1", "ipv6": "x"},
     "Parameter 'ipv6' expects 'on' or 'off'"),
    ({"id": "x", "type": "hubport"}, "Parameter 'hubid' is missing"),
    ({"id": "x", "type": "hubport", "hubid": "x"}, "Parameter 'hubid' expects an int64 value"),
    ({"id": "x", "type": "hubport", "hubid": "99999999999"},
     "Parameter 'hubid' expects int32_t"),
    ({"id": "x", "type": "vde", "port": "-1"}, "Parameter 'port' expects a uint64 value"),
    ({"id": "x", "type": "vde", "port": "70000"}, "Parameter 'port' expects uint16_t"),
    ({"id": "x", "type": "tap", "sndbuf": "x"}, "Parameter 'sndbuf' expects a size value"),
    ({"id": "x", "type": "user", "ipv6-net": ""},
     "Parameter 'ipv6-net' expects a valid IPv6 prefix"),
    ({"id": "x", "type": "user", "ipv6-net": "fec0::/x"},
     "Parameter 'ipv6-prefixlen' expects a number"),
    ({"type": "user", "ipv6-net": ""}, "Parameter 'ipv6-net' expects a valid IPv6 prefix"),
])
def test_refusals(options: Dict[str, str], message: str) -> None:
    """When the options visitor would refuse a member, its message is QEMU's."""
    with pytest.raises(NetdevError) as info:
        netdev_arguments(options)
    assert str(info.value) == message


def test_refusal_is_printed_and_nothing_added() -> None:
    """When an option is refused, Error: <message> is printed and netdev_add is not sent."""
    out, sent = run("netdev_add vde,id=v,port=x", _ABSENT)
    assert out == "Error: Parameter 'port' expects a uint64 value\n"
    assert [c.execute for c in sent] == ["query-rx-filter"]


def test_existing_backend_id() -> None:
    """When a backend (not a NIC) has the id, HMP's bare 'Try help' line is printed first."""
    busy = {"query-rx-filter": QMPCommandError("GenericError", "net client(n0) isn't a NIC")}
    out, sent = run("netdev_add bogus,id=n0", busy)
    assert out == 'Try "help netdev_add" for more information\n'
    assert len(sent) == 1


def test_nic_id_goes_to_qemu() -> None:
    """When a NIC has the id, QMP's own duplicate error is printed, as HMP prints it."""
    inv = parse("netdev_add user,id=nic0")
    replies: Dict[str, Any] = {"query-rx-filter": {"name": "nic0"}}

    def respond(cmd: QMPCommand) -> Any:
        if cmd.execute == "netdev_add":
            raise QMPCommandError("GenericError", "Duplicate ID 'nic0'", "netdev_add")
        return replies[cmd.execute]

    with pytest.raises(QMPCommandError) as info:
        drive(HANDLERS["netdev_add"](inv, Context()), respond)
    assert info.value.desc == "Duplicate ID 'nic0'"


# Captured from QEMU 7.2.22 via human-monitor-command: HMP cannot make these types.
@pytest.mark.parametrize("line, text", [
    ("netdev_add stream", "Error: Parameter 'id' is missing\n"),
    ("netdev_add stream,id=s1", "Error: Parameter 'type' is missing\n"),
    ("netdev_add stream,id=s1,server=maybe", "Error: Parameter 'type' is missing\n"),
    ("netdev_add stream,id=s1,bogus=1", "Error: Parameter 'type' is missing\n"),
    ("netdev_add dgram,id=d0", "Error: dgram requires local= parameter\n"),
    ("netdev_add dgram,id=d0,local=x", "Error: Parameter 'type' is missing\n"),
    ("netdev_add dgram,id=d0,bogus=1", "Error: Invalid parameter 'bogus'\n"),
    ("netdev_add dgram,id=d0,local.type=inet,local.host=a,local.port=1",
     "Error: Invalid parameter 'local.port'\n"),
])
def test_nested_address_types_get_qemus_errors_and_send_nothing(line: str, text: str) -> None:
    """stream and dgram lines print what QEMU's options visitor says, and no netdev_add goes."""
    out, sent = run(line, {"query-rx-filter": QMPCommandError(
        "GenericError", "invalid net client name: s1")})
    assert out == text
    assert all(cmd.execute != "netdev_add" for cmd in sent)


def _schema(netdev_types: List[str]) -> List[Dict[str, Any]]:
    """A masked ``query-qmp-schema`` holding ``netdev_add`` and its type enumeration."""
    return [{"name": "netdev_add", "meta-type": "command", "arg-type": "7"},
            {"name": "7", "meta-type": "object", "tag": "type",
             "members": [{"name": "id", "type": "str"}, {"name": "type", "type": "9"}]},
            {"name": "9", "meta-type": "enum", "values": netdev_types}]


@pytest.mark.parametrize("line", ["netdev_add help", "netdev_add ?,id=x"])
def test_help_lists_the_backends_in_qemus_order(line: str) -> None:
    """netdev_add help lists QEMU's backends this QEMU has, in QEMU's order, nic and none not."""
    schema = _schema(["none", "nic", "user", "tap", "socket", "stream", "dgram", "hubport",
                      "netmap", "vhost-user"])
    out, sent = run(line, {"query-qmp-schema": schema})
    assert out == ("Available netdev backend types:\n"
                   "socket\nstream\ndgram\nhubport\ntap\nuser\nvhost-user\n")
    assert sent == [QMPCommand("query-qmp-schema")]
