"""Who is on the other end of a session, and what they may run.

Two roles exist.  An ``operator`` may run everything.  A ``read-only`` user
may run the commands the command table marks ``reads_only`` (every ``info``
subcommand, ``help``, ``print``, ``x``, ...) and, on a QMP listener, the QMP
commands that only read state.  A role comes from the user (password file)
and from the listener; the narrower of the two applies.

Pure: no reactor, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional

from hmpbridge.commands import CommandSpec
from hmpbridge.errors import HMPBridgeError
from hmpbridge.handlers import asks_for_help
from hmpbridge.hmp_parser import parse
from hmpbridge.model import Invocation

__all__ = [
    "OPERATOR",
    "READ_ONLY",
    "ROLES",
    "Identity",
    "narrowest",
    "peer_text",
    "hmp_allowed",
    "hmp_denial",
    "qmp_denial",
]

OPERATOR = "operator"
READ_ONLY = "read-only"
ROLES = (OPERATOR, READ_ONLY)

#: QMP commands that change nothing, besides ``query-*`` and ``x-query-*``.
READING_QMP = frozenset({
    "qmp_capabilities", "qom-list", "qom-get", "qom-list-types", "qom-list-properties",
    "device-list-properties", "trace-event-get-state",
})


@dataclass(frozen=True)
class Identity:
    """The operator of one session.

    :ivar name: the user name (password or certificate) or the peer address.
    :ivar role: ``operator`` or ``read-only``.
    :ivar listener: the endpoint description the session came in on.
    :ivar peer: the client's address as text.
    :ivar method: how the name was established: ``password``, ``certificate``
        or ``peer`` (no authentication: the address stands for the name).
    """

    name: str
    role: str = OPERATOR
    listener: str = ""
    peer: str = ""
    method: str = "peer"

    def certified(self, name: str) -> "Identity":
        """This identity once a TLS client certificate has proved ``name``."""
        return replace(self, name=name, method="certificate")


def peer_text(addr: Any) -> str:
    """A client address as text (``127.0.0.1:40000``, or the unix socket peer)."""
    host, port = getattr(addr, "host", None), getattr(addr, "port", None)
    if host is not None:
        return f"{host}:{port}"
    name = getattr(addr, "name", None)
    return name.decode(errors="replace") if isinstance(name, bytes) else (name or "unix")


def narrowest(*roles: Optional[str]) -> str:
    """The most restrictive of ``roles`` (None means no restriction)."""
    return READ_ONLY if READ_ONLY in roles else OPERATOR


def hmp_allowed(inv: Invocation, role: str) -> bool:
    """Whether ``role`` may run ``inv``: any command that only reads, or asks for help."""
    return role == OPERATOR or inv.spec.reads_only or asks_for_help(inv)


def hmp_denial(spec: CommandSpec, identity: Identity) -> str:
    """The line a denied HMP command prints."""
    return (f"Error: permission denied: '{spec.key}' changes VM state and "
            f"'{identity.name}' is {identity.role}\n")


def qmp_denial(message: Mapping[str, Any], role: str) -> Optional[str]:
    """Why ``role`` may not send this QMP ``message``, or None when it may.

    A ``human-monitor-command`` is judged by the command table entry of the
    HMP line it carries (parsed only for a restricted role).
    """
    if role == OPERATOR:
        return None
    name = str(message.get("execute") or message.get("exec-oob") or "")
    if name == "human-monitor-command":
        inv = _hmp_invocation(message)
        if inv is not None and hmp_allowed(inv, role):
            return None
        what = f"'{inv.spec.key}'" if inv is not None else "this command line"
        return f"permission denied: {what} changes VM state and this client is {role}"
    if name.startswith(("query-", "x-query-")) or name in READING_QMP:
        return None
    return f"permission denied: '{name}' changes VM state and this client is {role}"


def _hmp_invocation(message: Mapping[str, Any]) -> Optional[Invocation]:
    """The parsed line of a ``human-monitor-command``, if it parses."""
    line = (message.get("arguments") or {}).get("command-line")
    if not isinstance(line, str):
        return None
    try:
        inv = parse(line)
    except HMPBridgeError:
        return None
    return inv
