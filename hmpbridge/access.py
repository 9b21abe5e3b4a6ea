"""Who is on the other end of a session, and what they may run.

Two roles exist.  An ``operator`` may run everything.  A ``read-only`` user
may run the commands the command table marks ``reads_only`` (every ``info``
subcommand, ``help``, ``print``, ``x``, ...) and, on a QMP listener, the QMP
commands that only read state.  A role comes from the user (password file)
and from the listener; the narrower of the two applies.

A :class:`Policy` also bounds what one line may ask of QEMU, whatever the
role allows: how much memory ``x``/``xp`` dump (a lower limit for read-only
users), how much ``memsave``/``pmemsave`` write, and whether a read-only user
may read secrets (a ``secret`` object's ``data``) and host addresses
(``gpa2hva``, ``gpa2hpa``).  The same judgement applies to an HMP line, to a
QMP command and to the line inside a ``human-monitor-command``.

Pure: no reactor, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections import abc
from typing import Any, Mapping, Optional

from hmpbridge.commands import CommandSpec, CommandTable
from hmpbridge.handlers import asks_for_help
from hmpbridge.hmp_parser import parse_carried
from hmpbridge.model import OPERATOR, READ_ONLY, ROLES, Identity, Invocation

__all__ = [
    "MAX_DUMP",
    "READ_ONLY_MAX_DUMP",
    "SECRET_PROPERTIES",
    "HOST_ADDRESS_COMMANDS",
    "Policy",
    "line_limit",
    "OPERATOR",
    "READ_ONLY",
    "ROLES",
    "narrowest",
    "peer_text",
    "hmp_allowed",
    "hmp_denial",
    "qmp_denial",
]

#: QMP commands that change nothing, besides ``query-*`` and ``x-query-*``.
READING_QMP = frozenset({
    "qmp_capabilities", "qom-list", "qom-get", "qom-list-types", "qom-list-properties",
    "device-list-properties", "trace-event-get-state", "qom-list-get",
})


#: Bytes one ``x``/``xp`` may dump by default.  QEMU 7.2 prints 1,000,000
#: ``xg`` units (8 MB) in 0.87 s, 28.5 MB of text; the wordiest format,
#: ``cb``, takes 9.4 characters a byte, so 64 KiB print at most 620 kB,
#: within the 1 MiB a client may have unread (``--max-unread``).
MAX_DUMP = 64 * 1024
#: The same for read-only users.
READ_ONLY_MAX_DUMP = 16 * 1024

#: QOM properties that return a secret in plaintext: ``data`` of the
#: ``secret`` type (``crypto/secret.c``; with ``keyid`` it is the ciphertext).
#: A QOM path may be partial or go through links, so the name is refused on
#: any object; the other properties of ``secret`` and ``secret_keyring``
#: (``iv``, ``keyid``, ``format``, ``file``, ``loaded``, ``serial``) reveal no
#: secret, nor does ``tls-creds-x509``'s ``passwordid`` (an object id).
SECRET_PROPERTIES = frozenset({"data"})

#: HMP commands that print host addresses (virtual, physical) of guest memory.
HOST_ADDRESS_COMMANDS = frozenset({"gpa2hva", "gpa2hpa"})

#: Bytes counted per unit of an ``x``/``xp`` without a size letter: QEMU's
#: default size is shared by every monitor, so the largest is assumed.
_UNIT_UNKNOWN = 8
#: Bytes counted per instruction of ``x/i``.
_UNIT_INSTRUCTION = 16


@dataclass(frozen=True)
class Policy:
    """What one line may ask of QEMU.

    :ivar max_dump: bytes an operator's ``x``/``xp`` may dump.
    :ivar read_only_max_dump: bytes a read-only user's may.
    :ivar max_save: bytes ``memsave``/``pmemsave`` may write (0: no limit).
    :ivar read_only_secrets: read-only users may read secrets and host addresses.
    """

    max_dump: int = MAX_DUMP
    read_only_max_dump: int = READ_ONLY_MAX_DUMP
    max_save: int = 0
    read_only_secrets: bool = False

    def dump_limit(self, role: str) -> int:
        """Bytes one dump may cover for ``role``."""
        return self.read_only_max_dump if role == READ_ONLY else self.max_dump


def dump_size(inv: Invocation) -> int:
    """Bytes an ``x``/``xp`` line asks QEMU to dump (see :data:`_UNIT_UNKNOWN`)."""
    fmt = inv.args.get("fmt") or {}
    count = fmt.get("count")
    count = 1 if count is None else int(count)
    size = fmt.get("size")
    if isinstance(size, int):
        unit = size
    elif fmt.get("format") == "i":
        unit = _UNIT_INSTRUCTION
    else:
        unit = _UNIT_UNKNOWN
    return max(count, 0) * unit


def line_limit(inv: Invocation, role: str, policy: Policy, who: str) -> Optional[str]:
    """Why ``inv`` asks more of QEMU than ``policy`` lets ``role`` ask, or None.

    :param who: how the reason names the client (``'bob' is read-only``).
    """
    key = inv.spec.key
    if key in ("x", "xp"):
        size, limit = dump_size(inv), policy.dump_limit(role)
        if size > limit:
            return (f"'{key}' asks for {size} bytes of memory; {role} clients may dump "
                    f"at most {limit} bytes per command")
    elif key in ("memsave", "pmemsave"):
        return _save_limit(key, inv.args.get("size"), policy)
    elif role != OPERATOR and not policy.read_only_secrets:
        if key in HOST_ADDRESS_COMMANDS:
            return f"permission denied: '{key}' prints host addresses and {who}"
        if key == "qom-get":
            return _secret_denial(inv.args.get("property"), who)
    return None


def _secret_denial(prop: Any, who: str) -> Optional[str]:
    """Why reading QOM property ``prop`` is refused (``who`` may not read secrets), or None."""
    if prop in SECRET_PROPERTIES:
        return f"permission denied: property '{prop}' may hold a secret and {who}"
    return None


def _save_limit(key: str, size: Any, policy: Policy) -> Optional[str]:
    if policy.max_save and isinstance(size, int) and size > policy.max_save:
        return (f"'{key}' asks to save {size} bytes of memory; at most "
                f"{policy.max_save} bytes per command")
    return None


def qmp_limit(message: Mapping[str, Any], role: str, policy: Policy,
              table: Optional[CommandTable] = None) -> Optional[str]:
    """Why a QMP ``message`` asks more of QEMU than ``policy`` lets ``role`` ask, or None.

    An HMP line in a ``human-monitor-command`` is read with ``table`` (the
    served QEMU's; QEMU 7.2's when None).
    """
    name = str(message.get("execute") or message.get("exec-oob") or "")
    arguments = message.get("arguments")
    if not isinstance(arguments, abc.Mapping):
        arguments = {}
    who = f"this client is {role}"
    if name == "human-monitor-command":
        inv = parse_carried(message, table)
        return line_limit(inv, role, policy, who) if inv is not None else None
    if name in ("memsave", "pmemsave"):
        return _save_limit(name, arguments.get("size"), policy)
    if role == OPERATOR or policy.read_only_secrets:
        return None
    if name == "qom-get":
        return _secret_denial(arguments.get("property"), who)
    if name == "qom-list-get":
        return f"permission denied: 'qom-list-get' returns secrets among its values and {who}"
    return None


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


def qmp_denial(message: Mapping[str, Any], role: str,
               policy: Optional[Policy] = None,
               table: Optional[CommandTable] = None) -> Optional[str]:
    """Why ``role`` may not send this QMP ``message``, or None when it may.

    A ``human-monitor-command`` is judged by the entry of ``table`` (the
    served QEMU's; QEMU 7.2's when None) for the HMP line it carries; then
    the message is held to ``policy`` (the default :class:`Policy` when
    None): dump and save sizes, secrets.
    """
    denial = _role_denial(message, role, table)
    if denial is not None:
        return denial
    return qmp_limit(message, role, policy or DEFAULT_POLICY, table)


def _role_denial(message: Mapping[str, Any], role: str,
                 table: Optional[CommandTable] = None) -> Optional[str]:
    """Why ``role`` may not send ``message`` at all, or None."""
    if role == OPERATOR:
        return None
    name = str(message.get("execute") or message.get("exec-oob") or "")
    if name == "human-monitor-command":
        inv = parse_carried(message, table)
        if inv is not None and hmp_allowed(inv, role):
            return None
        what = f"'{inv.spec.key}'" if inv is not None else "this command line"
        return f"permission denied: {what} changes VM state and this client is {role}"
    if name.startswith(("query-", "x-query-")) or name in READING_QMP:
        return None
    return f"permission denied: '{name}' changes VM state and this client is {role}"


DEFAULT_POLICY = Policy()
