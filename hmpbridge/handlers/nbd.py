"""The built-in NBD server: ``nbd_server_start``, ``_add``, ``_remove``, ``_stop``.

QEMU 7.2's HMP (``block/monitor/block-hmp-cmds.c``):

- ``nbd_server_start [-a] [-w] host:port`` refuses ``-w`` without ``-a``
  (``Error: -w only valid together with -a``), reads the address with
  ``socket_parse`` (``unix:PATH``, ``fd:NAME``, ``vsock:CID:PORT``,
  ``[tcp:]HOST:PORT[,to=N][,ipv4][,ipv6][,keep-alive][,mptcp]``) and starts
  the server (``nbd-server-start``).  With ``-a`` it then exports every drive
  that has a medium (``query-block`` order, ``writable`` as ``-w`` says); at
  the first export that fails it stops the server and prints that error.
- ``nbd_server_add [-w] device [name]`` always sends ``writable``;
- ``nbd_server_remove [-f] name`` sends ``mode: hard`` only with ``-f``;
- ``nbd_server_stop``.

Each prints nothing on success and ``Error: <desc>`` on failure.  The address
is parsed here, with QEMU's messages, because QMP takes it already split up.
From 10.1 a TCP address is a QemuOpts string (``inet_parse`` reads it with
``qemu_opts_parse``): the address is the implied ``addr`` option, the others
(``numeric``, ``to``, ``ipv4``, ``ipv6``, ``keep-alive``,
``keep-alive-count``, ``keep-alive-idle``, ``keep-alive-interval``,
``mptcp``) are typed options with QemuOpts' own errors; before, ``sscanf``
and a search for each flag (:func:`inet_parse`).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qapi_schema import Schema
from hmpbridge.qemu_opts import OptsError, parse_opts

__all__ = ["nbd_server_start", "nbd_server_add", "nbd_server_remove", "nbd_server_stop",
           "AddressError", "socket_parse", "inet_parse", "inet_parse_opts", "inet_options", "inet_members",
           "INET_OPTIONS", "WRITABLE_NEEDS_ALL",
           "error_text"]

#: HMP's own message for ``nbd_server_start -w`` without ``-a``.
WRITABLE_NEEDS_ALL = "Error: -w only valid together with -a\n"

#: ``sizeof(struct sockaddr_un.sun_path)`` on Linux.
UNIX_PATH_MAX = 108

_TOO_LONG = re.compile(r"UNIX socket path '.*' is too long\Z", re.S)

#: The boolean options of an inet address, in the order QEMU looks for them.
_INET_FLAGS = ("ipv4", "ipv6", "keep-alive", "mptcp")


class AddressError(ValueError):
    """An address ``socket_parse`` refuses; the message is QEMU's."""


def _scan_set(text: str, start: int, stop_chars: str, width: int) -> str:
    """What ``%<width>[^<stop_chars>]`` reads from ``text[start:]`` ('' if nothing)."""
    end = start
    while end < len(text) and end - start < width and text[end] not in stop_chars:
        end += 1
    return text[start:end]


def _split(text: str, first_stop: str, first_width: int,
           opener: str = "", closer: str = ":") -> Optional[Tuple[str, str, int]]:
    """Match ``<opener>%W[^stop]<closer>%32[^,]%n``; None when sscanf reads fewer than two."""
    pos = len(opener)
    if not text.startswith(opener):
        return None
    first = _scan_set(text, pos, first_stop, first_width)
    if not first:
        return None
    pos += len(first)
    if not text.startswith(closer, pos):
        return None
    pos += len(closer)
    second = _scan_set(text, pos, ",", 32)
    if not second:
        return None
    return first, second, pos + len(second)


def _parse_flag(name: str, rest: str) -> bool:
    """``inet_parse_flag``: ``rest`` follows the option name (``=on``, ``=off`` or nothing)."""
    comma = rest.find(",")
    if comma >= 0:
        if rest[comma + 1:comma + 2] == ",":
            raise AddressError(f"error parsing '{name}' flag '{rest}'")
        value = rest[:comma]
    else:
        value = rest
    if value in ("", "=on"):
        return True
    if value == "=off":
        return False
    raise AddressError(f"error parsing '{name}' flag '{rest}'")


_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _parse_to(text: str) -> int:
    """The ``to=`` value (``%d``, then end or comma), as the uint16 QEMU stores."""
    match = _INT.match(text)
    if match is None or text[match.end():match.end() + 1] not in ("", ","):
        raise AddressError("error parsing to= argument")
    value = max(-2 ** 63, min(2 ** 63 - 1, int(match.group(1))))  # strtol clamps
    return value % 65536


def inet_parse(text: str) -> Dict[str, Any]:
    """``host:port[,opts]`` (``[v6]:port``, ``:port``) as an InetSocketAddress."""
    if text.startswith(":"):
        port = _scan_set(text, 1, ",", 32)
        if not port:
            raise AddressError(f"error parsing port in address '{text}'")
        host, pos = "", 1 + len(port)
    elif text.startswith("["):
        split = _split(text, "]", 64, opener="[", closer="]:")
        if split is None:
            raise AddressError(f"error parsing IPv6 address '{text}'")
        host, port, pos = split
    else:
        split = _split(text, ":", 64)
        if split is None:
            raise AddressError(f"error parsing address '{text}'")
        host, port, pos = split
    address: Dict[str, Any] = {"host": host, "port": port}
    options = text[pos:]
    at = options.find(",to=")
    if at >= 0:
        address["to"] = _parse_to(options[at + 4:])
    for name in _INET_FLAGS:
        at = options.find("," + name)
        if at >= 0:
            address[name] = _parse_flag(name, options[at + 1 + len(name):])
    return address


#: 10.1's ``inet_opts`` (Linux build): option -> QemuOpts type, and the bits
#: of the C member it is stored in (``to`` is a uint16, the keep-alive
#: numbers uint32).
INET_OPTIONS: Dict[str, Tuple[str, int]] = {
    "numeric": ("bool", 1), "to": ("number", 16), "ipv4": ("bool", 1), "ipv6": ("bool", 1),
    "keep-alive": ("bool", 1), "keep-alive-count": ("number", 32),
    "keep-alive-idle": ("number", 32), "keep-alive-interval": ("number", 32),
    "mptcp": ("bool", 1),
}


def inet_options(members: Optional[Any] = None) -> Dict[str, Tuple[str, int]]:
    """The options of :data:`INET_OPTIONS` this QEMU's ``InetSocketAddress`` has.

    :param members: the schema's member names of ``InetSocketAddress``, or
        None when the schema is not known (then all of them).
    """
    if members is None:
        return dict(INET_OPTIONS)
    return {name: spec for name, spec in INET_OPTIONS.items() if name in members}


def _not_a_warning(line: str) -> bool:
    return not (line.startswith("warning: short-form boolean option")
                or line.startswith("Please use "))


def inet_parse_opts(text: str,
                    options: Optional[Mapping[str, Tuple[str, int]]] = None) -> Dict[str, Any]:
    """10.1's ``inet_parse``: ``text`` as QemuOpts with the implied option ``addr``.

    QEMU parses it quietly (no short-form boolean warnings, no ``help``),
    then splits ``addr`` at its first colon (``[v6]:port`` when ``text``
    starts with ``[``).
    """
    options = INET_OPTIONS if options is None else options
    desc = {"addr": "string"}
    desc.update((name, kind) for name, (kind, _) in options.items())
    try:
        parsed = parse_opts(text, implied="addr", desc=desc)
    except OptsError as err:
        raise AddressError("\n".join(filter(_not_a_warning, err.lines))) from None
    if parsed.help_wanted:  # a bare help or ? is just an unknown option here
        raise AddressError(f"Invalid parameter '{_help_item(text)}'")
    addr = parsed.get("addr")
    if addr is None:
        raise AddressError("error parsing address ''")
    if text.startswith("["):
        end = addr.find("]:")
        if end < 2 or len(addr) - end < 3:
            raise AddressError(f"error parsing IPv6 address '{addr}'")
        host, port = addr[1:end], addr[end + 2:]
    else:
        colon = addr.find(":")
        if colon < 0 or len(addr) - colon < 2:
            raise AddressError(f"error parsing address '{addr}'")
        host, port = addr[:colon], addr[colon + 1:]
    address: Dict[str, Any] = {"host": host, "port": port}
    for name, (kind, bits) in options.items():
        if parsed.has(name):
            value = parsed.get(name)
            address[name] = value if kind == "bool" else value % (1 << bits)
    return address


def inet_members(schema: Optional[Schema]) -> Optional[List[str]]:
    """The members of ``InetSocketAddress`` in ``nbd-server-start``'s ``addr``, if known.

    The schema masks type names, so the way there is the command's argument,
    the ``inet`` case of the union and the wrapper's ``data``.
    """
    if schema is None:
        return None
    legacy = schema.member_type(schema.arguments("nbd-server-start"), "addr")
    for variant in legacy.get("variants", ()):
        if variant.get("case") == "inet":
            wrapper = schema.entity(variant.get("type"))
            return schema.member_names(schema.member_type(wrapper, "data"))
    return None


def _help_item(text: str) -> str:
    """The first bare ``help`` or ``?`` among ``text``'s items after the first.

    Items are split as QEMU's ``get_opt_name_value`` splits them: the first
    is a value up to a single comma (``,,`` stands for a comma); each later
    one is a name, then ``=`` and such a value, or nothing (a flag).
    """
    pos = _skip_value(text, 0)
    while pos < len(text):
        pos += 1  # the comma that ended the previous item
        name = re.match(r"[^=,]*", text[pos:]).group(0)  # type: ignore[union-attr]
        pos += len(name)
        if text[pos:pos + 1] == "=":
            pos = _skip_value(text, pos + 1)
        elif name in ("help", "?"):
            return name
    return "help"


def _skip_value(text: str, pos: int) -> int:
    """Where a QemuOpts value starting at ``pos`` ends (at its comma, or the end)."""
    while pos < len(text):
        if text[pos] == ",":
            if text[pos + 1:pos + 2] != ",":
                break
            pos += 1
        pos += 1
    return pos


def _vsock_parse(text: str) -> Dict[str, Any]:
    """``cid:port`` as a VsockSocketAddress."""
    split = _split(text, ":", 32)
    if split is None:
        raise AddressError(f"error parsing address '{text}'")
    cid, port, end = split
    if end != len(text):
        raise AddressError(f"trailing characters in address '{text}'")
    return {"cid": cid, "port": port}


def socket_parse(uri: str, release: Tuple[int, int] = (7, 2),
                 inet_members: Optional[Any] = None) -> Dict[str, Any]:
    """The SocketAddressLegacy QMP wants for ``uri``, as QEMU's ``socket_parse`` reads it.

    :param release: whose parser: QemuOpts for TCP addresses from 10.1.
    :param inet_members: the schema's ``InetSocketAddress`` members, if known.
    """
    if uri.startswith("unix:"):
        if not uri[5:]:
            raise AddressError("invalid Unix socket address")
        return {"type": "unix", "data": {"path": uri[5:]}}
    if uri.startswith("fd:"):
        if not uri[3:]:
            raise AddressError("invalid file descriptor address")
        return {"type": "fd", "data": {"str": uri[3:]}}
    if uri.startswith("vsock:"):
        return {"type": "vsock", "data": _vsock_parse(uri[len("vsock:"):])}
    if uri.startswith("tcp:"):
        uri = uri[len("tcp:"):]
    if release >= (10, 1):
        return {"type": "inet", "data": inet_parse_opts(uri, inet_options(inet_members))}
    return {"type": "inet", "data": inet_parse(uri)}


def error_text(err: QMPCommandError) -> str:
    """``Error: <desc>``, with the hint QEMU prints after a too long socket path.

    QMP error replies drop hints; HMP prints them.
    """
    text = f"Error: {err.desc}\n"
    if _TOO_LONG.match(err.desc):
        text += f"Path must be less than {UNIX_PATH_MAX} bytes\n"
    return text


@handler("nbd_server_start")
def nbd_server_start(inv: Invocation, ctx: Context) -> HandlerResult:
    """``nbd_server_start [-a] [-w] address``; ``-a`` exports every drive with a medium."""
    writable = bool(inv.args.get("writable", False))
    export_all = bool(inv.args.get("all", False))
    if writable and not export_all:
        return WRITABLE_NEEDS_ALL
    members = inet_members(ctx.profile.schema)
    try:
        address = socket_parse(inv.args["uri"], ctx.profile.release, members)
    except AddressError as err:
        return f"Error: {err}\n"
    try:
        yield QMPCommand("nbd-server-start", {"addr": address})
    except QMPCommandError as err:
        return error_text(err)
    if not export_all:
        return ""
    blocks = yield QMPCommand("query-block")
    for entry in blocks or []:
        if "inserted" not in entry:
            continue
        try:
            yield QMPCommand("nbd-server-add", {"device": entry.get("device", ""),
                                                "writable": writable})
        except QMPCommandError as err:
            try:
                yield QMPCommand("nbd-server-stop")
            except QMPCommandError:
                pass  # HMP ignores a failure to stop
            return error_text(err)
    return ""


@handler("nbd_server_add")
def nbd_server_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``nbd_server_add [-w] device [name]``: ``writable`` is always sent."""
    arguments: Dict[str, Any] = {"device": inv.args["device"]}
    if "name" in inv.args:
        arguments["name"] = inv.args["name"]
    arguments["writable"] = bool(inv.args.get("writable", False))
    yield QMPCommand("nbd-server-add", arguments)
    return ""


@handler("nbd_server_remove")
def nbd_server_remove(inv: Invocation, ctx: Context) -> HandlerResult:
    """``nbd_server_remove [-f] name``: ``-f`` asks for ``mode: hard``."""
    arguments: Dict[str, Any] = {"name": inv.args["name"]}
    if inv.args.get("force"):
        arguments["mode"] = "hard"
    yield QMPCommand("nbd-server-remove", arguments)
    return ""


@handler("nbd_server_stop")
def nbd_server_stop(inv: Invocation, ctx: Context) -> HandlerResult:
    """``nbd_server_stop``."""
    yield QMPCommand("nbd-server-stop")
    return ""
