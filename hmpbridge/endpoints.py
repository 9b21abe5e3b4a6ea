"""Reading Twisted endpoint strings: their kind, their fields, what they expose.

Pure string work shared by the command line (loopback checks, a deeper listen
backlog) and the ``tls:`` endpoint parser.

An endpoint string is read as Twisted's ``serverFromString`` reads it
(``twisted.internet.endpoints._parse`` and ``_parseServer``): ``\\`` escapes
the next character, ``:`` separates fields, the first ``=`` of a field makes
it a keyword; ``tcp``, ``unix`` and ``ssl`` are matched exactly, every other
kind by its plugin's prefix whatever its case (``TCP6`` is ``tcp6``, ``TLS``
Twisted's SNI ``tls`` server).  Positional fields fill each kind's parameters
in order, and a missing interface means what Twisted binds: every IPv4
address for ``tcp`` and ``ssl``, ``::`` (every address) for ``tcp6`` and
Twisted's ``tls``.  hmpbridge's own ``tls:`` (exactly so spelled, see
:mod:`hmpbridge.tls`) takes ``interface`` as a keyword only.

An HMP listener's description may start with the kind of QEMU monitor chardev
it is (:func:`hmp_listener`, the kinds are :mod:`hmpbridge.chardev`):
``telnet:tcp:4444:interface=127.0.0.1``, ``plain:unix:/run/vm.hmp``.
Without one, a unix socket or standard I/O is ``plain`` (as QEMU's own
``-monitor unix:``) and every other endpoint ``telnet`` (as ``-monitor
telnet:``, which is how people reach a monitor over the network).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from hmpbridge.chardev import KINDS, PLAIN, TELNET

__all__ = ["LISTEN_BACKLOG", "kind", "split_description", "is_loopback", "with_backlog",
           "Exposure", "exposure", "HMPListener", "hmp_listener"]

#: Connections the kernel may queue before hmpbridge accepts them (Twisted's default is 50).
LISTEN_BACKLOG = 1024

#: Kinds Twisted matches exactly (``_serverParsers``).
_BUILTIN = ("tcp", "unix", "ssl")

#: Each network kind's parameters in Twisted's order, with the interface's default.
_PARAMETERS: Mapping[str, Tuple[Sequence[str], str]] = {
    "tcp": (("port", "interface", "backlog"), ""),
    "ssl": (("port", "privateKey", "certKey", "sslmethod", "interface", "backlog",
             "extraCertChain", "dhParameters"), ""),
    "tcp6": (("port", "backlog", "interface"), "::"),
    "tls6": (("path", "port", "backlog", "interface"), "::"),  # Twisted's TLS (SNI) server
}


def kind(description: str) -> str:
    """The endpoint type as written: ``tcp`` in ``tcp:4444:interface=127.0.0.1``."""
    return description.split(":", 1)[0]


def _fields(description: str) -> List[Tuple[str, ...]]:
    """The fields of ``description`` as Twisted's ``_tokenize`` splits them."""
    fields: List[Tuple[str, ...]] = []
    current, ops = "", ":="
    sofar: Tuple[str, ...] = ()
    chars = iter(description)
    for ch in chars:
        if ch in ops:
            sofar += (current,)
            current = ""
            if ch == ":":
                fields.append(sofar)
                sofar, ops = (), ":="
            else:
                ops = ":"
        elif ch == "\\":
            current += next(chars, "")
        else:
            current += ch
    fields.append(sofar + (current,))
    return fields


def _parse(description: str) -> Tuple[List[str], Dict[str, str]]:
    """Every positional field (the kind first) and the keyword fields, as Twisted's ``_parse``."""
    args: List[str] = []
    kwargs: Dict[str, str] = {}
    for field in _fields(description):
        if len(field) == 1:
            args.append(field[0])
        else:
            kwargs[field[0]] = field[1]
    return args, kwargs


def split_description(description: str) -> Tuple[List[str], Dict[str, str]]:
    """Positional and keyword fields after the first field (``\\:`` escapes a colon)."""
    first = _fields(description)[0]
    args, kwargs = _parse(description)
    return (args[1:] if len(first) == 1 else args), kwargs


@dataclass(frozen=True)
class Exposure:
    """Where a listen endpoint accepts clients from, and whether they must prove who they are.

    :ivar kind: the kind as Twisted resolves it (``tcp6`` for ``TCP6``; ``tls``
        for hmpbridge's own, ``tls6`` for Twisted's TLS server, ``unknown`` when
        it cannot be told).
    :ivar interface: the address it binds (None for a unix socket, standard I/O
        or an unknown kind).
    :ivar local: reachable only from this host.
    :ivar client_certificates: every client must present a certificate
        (hmpbridge's ``tls:`` with ``caCerts``).
    :ivar encrypted: the connection is TLS.
    """

    kind: str
    interface: Optional[str]
    local: bool
    client_certificates: bool = False
    encrypted: bool = False


def _is_loopback_address(interface: str, family: int) -> bool:
    """Whether ``interface`` is a loopback address literal of ``family`` (4 or 6).

    Only canonical literals count: hostnames (``localhost`` too), IPv4-mapped
    IPv6 (``::ffff:127.0.0.1``), shortened or octal IPv4 forms and the
    any-addresses do not.
    """
    try:
        address = ipaddress.ip_address(interface)
    except ValueError:
        return False
    if address.version != family:
        return False
    if family == 6:
        return address == ipaddress.IPv6Address("::1")
    return address.is_loopback and str(address) == interface


def exposure(description: str, plugins: Sequence[str] = ("tcp6", "tls", "stdio",
                                                          "systemd", "haproxy")) -> Exposure:
    """How a listen endpoint ``description`` exposes the bridge.

    :param plugins: the server plugin prefixes Twisted knows (others are unknown).
    """
    if kind(description) == "tls":  # hmpbridge's own: keyword interface, caCerts required
        kwargs = split_description(description)[1]
        interface = kwargs.get("interface", "")
        return Exposure("tls", interface, _is_loopback_address(interface, 4),
                        client_certificates="caCerts" in kwargs, encrypted=True)
    positional, kwargs = _parse(description)
    if not positional:
        return Exposure("unknown", None, False)
    written, args = positional[0], positional[1:]
    if written in _BUILTIN:
        resolved = written
    elif written.lower() in plugins:
        resolved = written.lower()
    else:
        return Exposure("unknown", None, False)
    if resolved == "unix":
        return Exposure("unix", None, True)
    if resolved == "stdio":
        return Exposure("stdio", None, True)
    if resolved == "haproxy":
        inner = ":".join([_quote(arg) for arg in args]
                         + sorted(f"{_quote(k)}={_quote(v)}" for k, v in kwargs.items()))
        return exposure(inner, plugins)
    if resolved == "tls":
        resolved = "tls6"
    if resolved not in _PARAMETERS:  # systemd: an inherited socket, bound who knows where
        return Exposure(resolved, None, False)
    names, default = _PARAMETERS[resolved]
    bound = dict(zip(names, args))
    if "interface" in kwargs and "interface" in bound:
        return Exposure("unknown", None, False)  # Twisted refuses it (TypeError)
    interface = kwargs.get("interface", bound.get("interface", default))
    family = 6 if resolved in ("tcp6", "tls6") else 4
    return Exposure(resolved, interface, _is_loopback_address(interface, family),
                    encrypted=resolved in ("ssl", "tls6"))


def _quote(argument: str) -> str:
    """Twisted's ``quoteStringArgument``."""
    return argument.replace("\\", "\\\\").replace(":", "\\:")


def is_loopback(description: str) -> bool:
    """Whether a listen endpoint is reachable only from this host (unix, or on loopback)."""
    return exposure(description).local


#: Where each kind that takes a backlog has it among its positional fields.
_BACKLOG_AT = {"tcp": 2, "ssl": 5, "tcp6": 1, "unix": 2}


def with_backlog(description: str) -> str:
    """``description`` with a deep listen backlog, unless it sets its own (by name or place)."""
    positional, kwargs = _parse(description)
    if not positional or kind(description) == "tls":
        return description
    written = positional[0]
    resolved = written if written in _BUILTIN else written.lower()
    at = _BACKLOG_AT.get(resolved)
    if at is None or "backlog" in kwargs or len(positional) - 1 > at:
        return description
    return f"{description}:backlog={LISTEN_BACKLOG}"


#: Endpoint kinds (as Twisted resolves them) that are plain when no kind is written.
_PLAIN_BY_DEFAULT = ("unix", "stdio")


@dataclass(frozen=True)
class HMPListener:
    """An HMP listener's description, read.

    :ivar chardev: the QEMU monitor chardev kind it is: ``telnet`` or ``plain``.
    :ivar endpoint: the Twisted endpoint string (the description without its kind).
    :ivar description: as written (for logs).
    """

    chardev: str
    endpoint: str
    description: str


def hmp_listener(description: str) -> HMPListener:
    """Read ``telnet:ENDPOINT``, ``plain:ENDPOINT`` or a bare ``ENDPOINT`` (see the module)."""
    written, _, rest = description.partition(":")
    if written in KINDS:
        if not rest:
            raise ValueError(f"{written}: needs an endpoint after it")
        return HMPListener(written, rest, description)
    positional = _parse(description)[0]
    first = positional[0].lower() if positional else ""
    chardev = PLAIN if first in _PLAIN_BY_DEFAULT else TELNET
    return HMPListener(chardev, description, description)
