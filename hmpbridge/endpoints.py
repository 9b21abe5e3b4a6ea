"""Reading Twisted endpoint strings: their kind, their fields, what they expose.

Pure string work shared by the command line (loopback checks, a deeper listen
backlog) and the ``tls:`` endpoint parser.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

__all__ = ["LISTEN_BACKLOG", "kind", "split_description", "is_loopback", "with_backlog"]

#: Connections the kernel may queue before hmpbridge accepts them (Twisted's default is 50).
LISTEN_BACKLOG = 1024


def kind(description: str) -> str:
    """The endpoint type: ``tcp`` in ``tcp:4444:interface=127.0.0.1``."""
    return description.split(":", 1)[0]


def split_description(description: str) -> Tuple[List[str], Dict[str, str]]:
    """Positional and keyword fields after the kind (``\\:`` escapes a colon)."""
    fields, current, escaped = [], "", False
    for ch in description:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append(current)
            current = ""
        else:
            current += ch
    fields.append(current)
    args: List[str] = []
    kwargs: Dict[str, str] = {}
    for field in fields[1:]:
        key, sep, value = field.partition("=")
        if sep:
            kwargs[key] = value
        else:
            args.append(field)
    return args, kwargs


def is_loopback(description: str) -> bool:
    """Whether a listen endpoint is reachable only from this host (unix, or tcp on loopback)."""
    if kind(description) == "unix":
        return True
    interface = split_description(description)[1].get("interface", "").strip("[]")
    return interface == "localhost" or interface == "::1" or interface.startswith("127.")


def with_backlog(description: str) -> str:
    """``description`` with a deep listen backlog, unless it sets its own."""
    if kind(description) in ("tcp", "tcp6", "unix", "ssl") and "backlog=" not in description:
        return f"{description}:backlog={LISTEN_BACKLOG}"
    return description
