"""Host network backends and QOM objects: ``netdev_add``/``netdev_del``,
``object_del`` and ``set_link``.

HMP's ``netdev_add`` reads ``type,id=ID,k=v`` as ``QemuOpts`` and converts
every value with QEMU's options visitor into the typed ``Netdev`` union;
QMP's ``netdev_add`` takes that union as JSON.  :func:`netdev_arguments`
does the visitor's part, member by member in schema order, with its error
texts (``Parameter 'port' expects a uint64 value``, ``... expects
uint16_t``, ``Parameter 'hubid' is missing``, ``Invalid parameter 'x'``),
including the ``ipv6-net=ADDR/LEN`` shorthand.  Repeated keys keep their
last value, as HMP's argument dictionary does.  Of several unknown options,
QEMU names the first its visitor's ``GHashTable`` holds once the known ones
are taken out; :mod:`hmpbridge.glib_order` lays the table out as GLib does.

HMP also remembers the options of every netdev it (or the command line)
made, and refuses a second one with the same id before anything else, with
nothing but ``Try "help netdev_add" for more information``.  Whether the id
names a backend already is asked with ``query-rx-filter`` (a backend that is
not a NIC answers ``isn't a NIC``).

``netdev_add help`` lists the backends of QEMU 7.2's own list that the
schema's ``netdev_add`` type enumeration holds; under an older release's
text, only those that release had (:data:`NETDEV_SINCE`), and only those
are taken.  The ``stream`` and ``dgram``
types cannot be made from HMP in QEMU 7.2 (its options visitor cannot read
their nested socket addresses); their lines get QEMU's errors and send nothing.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Generator, List, Mapping, Optional, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler, help_form
from hmpbridge.glib_order import StrHashTable, qdict_order
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qapi_schema import Schema, argument_names_or_values
from hmpbridge.qemu_opts import (OptsError, bool_parse, hex_suffix_taken, is_help_option,
                                 strtosz)
from hmpbridge.render.options_help import netdev_types_help

__all__ = ["NETDEV_MEMBERS", "NetdevError", "netdev_arguments", "netdev_add", "netdev_del",
           "object_del", "set_link"]

#: Members of each ``Netdev`` variant (QEMU 7.2), in schema order:
#: (name, QAPI type, required).
NETDEV_MEMBERS: Dict[str, Tuple[Tuple[str, str, bool], ...]] = {
    "none": (),
    "nic": (("netdev", "str", False), ("macaddr", "str", False), ("model", "str", False),
            ("addr", "str", False), ("vectors", "uint32", False)),
    "user": tuple((n, t, False) for n, t in (
        ("hostname", "str"), ("restrict", "bool"), ("ipv4", "bool"), ("ipv6", "bool"),
        ("ip", "str"), ("net", "str"), ("host", "str"), ("tftp", "str"),
        ("bootfile", "str"), ("dhcpstart", "str"), ("dns", "str"), ("dnssearch", "strlist"),
        ("domainname", "str"), ("ipv6-prefix", "str"), ("ipv6-prefixlen", "int"),
        ("ipv6-host", "str"), ("ipv6-dns", "str"), ("smb", "str"), ("smbserver", "str"),
        ("hostfwd", "strlist"), ("guestfwd", "strlist"), ("tftp-server-name", "str"))),
    "tap": tuple((n, t, False) for n, t in (
        ("ifname", "str"), ("fd", "str"), ("fds", "str"), ("script", "str"),
        ("downscript", "str"), ("br", "str"), ("helper", "str"), ("sndbuf", "size"),
        ("vnet_hdr", "bool"), ("vhost", "bool"), ("vhostfd", "str"), ("vhostfds", "str"),
        ("vhostforce", "bool"), ("queues", "uint32"), ("poll-us", "uint32"))),
    "l2tpv3": (("src", "str", True), ("dst", "str", True), ("srcport", "str", False),
               ("dstport", "str", False), ("ipv6", "bool", False), ("udp", "bool", False),
               ("cookie64", "bool", False), ("counter", "bool", False),
               ("pincounter", "bool", False), ("txcookie", "uint64", False),
               ("rxcookie", "uint64", False), ("txsession", "uint32", True),
               ("rxsession", "uint32", False), ("offset", "uint32", False)),
    "socket": tuple((n, "str", False) for n in
                    ("fd", "listen", "connect", "mcast", "localaddr", "udp")),
    "vde": (("sock", "str", False), ("port", "uint16", False), ("group", "str", False),
            ("mode", "uint16", False)),
    "bridge": (("br", "str", False), ("helper", "str", False)),
    "hubport": (("hubid", "int32", True), ("netdev", "str", False)),
    "netmap": (("ifname", "str", True), ("devname", "str", False)),
    "vhost-user": (("chardev", "str", True), ("vhostforce", "bool", False),
                   ("queues", "int", False)),
    "vhost-vdpa": (("vhostdev", "str", False), ("vhostfd", "str", False),
                   ("queues", "int", False), ("x-svq", "bool", False)),
}

#: Types with nested socket addresses, which HMP's options visitor cannot read.
_NESTED_TYPES = ("stream", "dgram")
#: ``NetClientDriver`` of QEMU 7.2, the values ``type`` accepts.
_DRIVERS = ("none", "nic", "user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde",
            "bridge", "hubport", "netmap", "vhost-user", "vhost-vdpa")

_INT_RANGES = {"int": (-(1 << 63), (1 << 63) - 1), "int32": (-(1 << 31), (1 << 31) - 1),
               "uint64": (0, (1 << 64) - 1), "uint32": (0, (1 << 32) - 1),
               "uint16": (0, (1 << 16) - 1)}
_C_TYPES = {"int32": "int32_t", "uint32": "uint32_t", "uint16": "uint16_t"}
_STRTOLL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")
_PARSE_UINT = re.compile(r"[ \t\n\v\f\r]*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


class NetdevError(Exception):
    """Options the options visitor refuses; ``str()`` is QEMU's message."""


def _c_number(digits: str) -> int:
    if digits[:2] in ("0x", "0X"):
        return int(digits, 16)
    return int(digits, 8 if digits.startswith("0") else 10)


def _integer(name: str, kind: str, text: str) -> int:
    """An integer member: ``strtoll``/``parse_uint`` base 0, then the QAPI width check."""
    low, high = _INT_RANGES[kind]
    if kind.startswith("uint"):
        match = _PARSE_UINT.match(text)
        value = _c_number(match.group(1)) if match else None
        if value is None or value > _INT_RANGES["uint64"][1]:
            raise NetdevError(f"Parameter '{name}' expects a uint64 value")
    else:
        match = _STRTOLL.match(text)
        value = _c_number(match.group(2)) if match else None
        if value is not None and match and match.group(1) == "-":
            value = -value
        if value is None or not _INT_RANGES["int"][0] <= value <= _INT_RANGES["int"][1]:
            raise NetdevError(f"Parameter '{name}' expects an int64 value")
    if not low <= value <= high:
        raise NetdevError(f"Parameter '{name}' expects {_C_TYPES[kind]}")
    return value


def _member(name: str, kind: str, text: str, hex_suffix: bool = True) -> Any:
    """The JSON value of one member, as the options visitor converts it."""
    if kind == "str":
        return text
    if kind == "strlist":
        return [{"str": text}]
    if kind == "bool":
        try:
            return bool_parse(name, text)
        except OptsError as err:
            raise NetdevError(err.message) from None
    if kind == "size":
        try:
            return strtosz(text, hex_suffix=hex_suffix)
        except OptsError:
            raise NetdevError(f"Parameter '{name}' expects a size value") from None
    return _integer(name, kind, text)


#: The release whose ``ipv6-net`` error names the option given (``net: Fix a
#: misleading error message``).
IPV6_NET_MESSAGE_SINCE = (8, 2)


def _ipv6_net(opts: Dict[str, str], release: Tuple[int, int] = (7, 2)) -> None:
    """``ipv6-net=ADDR[/LEN]`` becomes ``ipv6-prefix`` and ``ipv6-prefixlen`` (LEN 64)."""
    prefix, slash, length = opts.pop("ipv6-net").partition("/")
    if not prefix and not slash:
        raise NetdevError("Parameter 'ipv6-net' expects a valid IPv6 prefix")
    number = 64
    if slash:
        match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)\Z", length)
        if not match or int(match.group(2)) > (1 << 64) - 1:
            raise NetdevError("parameter 'ipv6-net' expects a number after '/'"
                              if release >= IPV6_NET_MESSAGE_SINCE
                              else "Parameter 'ipv6-prefixlen' expects a number")
        number = int(match.group(2))
        number = (-number if match.group(1) == "-" else number) & ((1 << 64) - 1)
        number = number - (1 << 64) if number >= 1 << 63 else number
    opts["ipv6-prefix"] = prefix
    opts["ipv6-prefixlen"] = str(number)


def _visitor_table(keys: List[str]) -> List[str]:
    """The option names in the order QEMU's options visitor puts them in its table.

    HMP's options become a ``QDict`` (``id`` first, then the line's order), and
    ``QemuOpts`` again in the ``QDict``'s order, without ``id``.  ``ipv6-net``
    is replaced by ``ipv6-prefix`` and ``ipv6-prefixlen`` at the end, and the
    visitor adds ``id`` last.
    """
    names = [key for key in qdict_order(keys) if key != "id"]
    if "ipv6-net" in names:
        names.remove("ipv6-net")
        names += ["ipv6-prefix", "ipv6-prefixlen"]
    return names + (["id"] if "id" in keys else [])


def _first_unused(keys: List[str], visited: List[str]) -> str:
    """The option QEMU names as invalid: the first its visitor's table still holds.

    :param keys: the options as HMP parsed them, in the line's order.
    """
    unused = StrHashTable()
    for name in _visitor_table(keys):
        unused.insert(name)
    for name in visited:
        unused.remove(name)
    return next(iter(unused))


def netdev_members(kind: str, schema: Optional[Schema]) -> Tuple[Tuple[str, str, bool], ...]:
    """The members of netdev ``kind``: (name, QAPI type, required), in schema order.

    From the live schema where there is one (members come and go between
    releases); introspection names every integer type ``int``, so a member
    :data:`NETDEV_MEMBERS` knows keeps its exact width (and QEMU's error
    for a value out of it).
    """
    if schema is None:
        return NETDEV_MEMBERS.get(kind, ())
    union = schema.arguments("netdev_add")
    variant = next((v for v in union.get("variants", ()) if v.get("case") == kind), None)
    if variant is None:
        return NETDEV_MEMBERS.get(kind, ())
    known = {name: kind_ for name, kind_, _ in NETDEV_MEMBERS.get(kind, ())}
    members = []
    for member in schema.entity(variant.get("type")).get("members", ()):
        name = str(member["name"])
        members.append((name, known.get(name) or _json_kind(schema, member),
                        "default" not in member))
    return tuple(members)


def _json_kind(schema: Schema, member: Mapping[str, Any]) -> str:
    """The visitor's type of a member :data:`NETDEV_MEMBERS` does not know."""
    kind = schema.entity(member.get("type"))
    meta = kind.get("meta-type")
    if meta == "array":
        return "strlist"
    if meta == "builtin":
        return {"boolean": "bool", "int": "int"}.get(str(kind.get("json-type")), "str")
    return "str"


#: Netdev types newer than 7.2 -> the release that added them.
NETDEV_SINCE = {"af-xdp": (8, 2), "passt": (10, 1)}


def netdev_drivers(schema: Optional[Schema],
                   release: Optional[Tuple[int, int]] = None) -> Tuple[str, ...]:
    """The values ``netdev_add``'s ``type`` takes (the live schema's, else QEMU 7.2's);
    with ``release``, only those that release had (an older release's text)."""
    if schema is None:
        return _DRIVERS
    found = schema.enum_values(schema.member_type(schema.arguments("netdev_add"), "type"))
    drivers = tuple(found) or _DRIVERS
    if release is None:
        return drivers
    return tuple(name for name in drivers if release >= NETDEV_SINCE.get(name, (0, 0)))


def netdev_arguments(options: Mapping[str, Any], schema: Optional[Schema] = None,
                     release: Tuple[int, int] = (7, 2)) -> Dict[str, Any]:
    """QMP ``netdev_add`` arguments for HMP's parsed options (``type``, ``id``, ...).

    :param schema: the served QEMU's schema (its netdev types and members).
    :param release: the release whose error texts (and netdev types) to use.
    :raises NetdevError: QEMU's message for the first member it refuses.
    """
    opts = {key: str(value) for key, value in options.items()}
    keys = list(opts)
    if "ipv6-net" in opts:
        _ipv6_net(opts, release)
    if "id" not in opts:
        raise NetdevError("Parameter 'id' is missing")
    if "type" not in opts:
        raise NetdevError("Parameter 'type' is missing")
    kind = opts["type"]
    if kind not in netdev_drivers(schema, release):
        raise NetdevError(f"Parameter 'type' does not accept value '{kind}'")
    arguments: Dict[str, Any] = {"id": opts.pop("id"), "type": opts.pop("type")}
    visited = ["id", "type"]
    if kind in _NESTED_TYPES:
        raise _nested_address_error(kind, opts, keys)
    for name, member_type, required in netdev_members(kind, schema):
        if name in opts:
            arguments[name] = _member(name, member_type, opts.pop(name),
                                      hex_suffix_taken(release))
            visited.append(name)
        elif required:
            raise NetdevError(f"Parameter '{name}' is missing")
    if opts:
        raise NetdevError(f"Invalid parameter '{_first_unused(keys, visited)}'")
    return arguments


def _nested_address_error(kind: str, opts: Mapping[str, str], keys: List[str]) -> NetdevError:
    """What QEMU 7.2 says of every ``stream`` or ``dgram`` line from HMP.

    The options visitor cannot read their nested socket addresses (``addr``,
    ``local``, ``remote``): entering one, it looks for the address's ``type``,
    which the netdev's own ``type`` has used up.  ``stream`` always enters
    ``addr``; ``dgram`` enters ``local`` or ``remote`` only when one is given,
    and otherwise ends as any netdev does, or asks for ``local``.
    """
    if kind == "stream" or "local" in opts or "remote" in opts:
        return NetdevError("Parameter 'type' is missing")
    if opts:
        return NetdevError(f"Invalid parameter '{_first_unused(keys, ['id', 'type'])}'")
    return NetdevError("dgram requires local= parameter")


def _has_its_options(netdev_id: str) -> Generator[QMPCommand, Any, bool]:
    """Whether a backend (not a NIC) of that id exists, so HMP holds its options."""
    try:
        yield QMPCommand("query-rx-filter", {"name": netdev_id})
    except QMPCommandError as err:
        return "isn't a NIC" in err.desc
    return False


@help_form("netdev_add")
def _asks_for_help(inv: Invocation) -> bool:
    return is_help_option(str(inv.args.get("netdev", {}).get("type")))


@handler("netdev_add")
def netdev_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``netdev_add type,id=ID[,k=v...]`` -> ``netdev_add`` with typed members."""
    options: Dict[str, Any] = dict(inv.args.get("netdev", {}))  # netdev:O may be absent
    if _asks_for_help(inv):
        schema = yield QMPCommand("query-qmp-schema")
        release = ctx.profile.release
        return netdev_types_help(name for name in argument_names_or_values(
            schema, "netdev_add", "type") if release >= NETDEV_SINCE.get(name, (0, 0)))
    if "id" in options and (yield from _has_its_options(str(options["id"]))):
        return f'Try "help {inv.spec.label}" for more information\n'
    try:
        arguments = netdev_arguments(options, ctx.profile.schema, ctx.profile.release)
    except NetdevError as err:
        return f"Error: {err}\n"
    yield QMPCommand("netdev_add", arguments)
    return ""


@handler("netdev_del")
def netdev_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``netdev_del id`` -> ``netdev_del``."""
    yield QMPCommand("netdev_del", {"id": inv.args["id"]})
    return ""


@handler("object_del")
def object_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``object_del id`` -> ``object-del``."""
    yield QMPCommand("object-del", {"id": inv.args["id"]})
    return ""


@handler("set_link")
def set_link(inv: Invocation, ctx: Context) -> HandlerResult:
    """``set_link name on|off`` -> ``set_link``."""
    yield QMPCommand("set_link", {"name": inv.args["name"], "up": inv.args["up"]})
    return ""
