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
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["nbd_server_start", "nbd_server_add", "nbd_server_remove", "nbd_server_stop",
           "AddressError", "socket_parse", "inet_parse", "WRITABLE_NEEDS_ALL",
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


def _vsock_parse(text: str) -> Dict[str, Any]:
    """``cid:port`` as a VsockSocketAddress."""
    split = _split(text, ":", 32)
    if split is None:
        raise AddressError(f"error parsing address '{text}'")
    cid, port, end = split
    if end != len(text):
        raise AddressError(f"trailing characters in address '{text}'")
    return {"cid": cid, "port": port}


def socket_parse(uri: str) -> Dict[str, Any]:
    """The SocketAddressLegacy QMP wants for ``uri``, as QEMU's ``socket_parse`` reads it."""
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
    try:
        address = socket_parse(inv.args["uri"])
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
