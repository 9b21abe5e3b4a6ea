"""Reading a ``query-qmp-schema`` reply: what a command's arguments are."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

__all__ = ["argument_names_or_values"]


def argument_names_or_values(schema: Sequence[Mapping[str, Any]], command: str,
                             member: Optional[str] = None) -> List[str]:
    """The members of ``command``'s arguments, or, given ``member``, the
    values of the enumeration that argument takes (``[]`` where there is none).

    Introspection masks type names, so the way goes from the command entity
    through its ``arg-type`` to the member's type entity.
    """
    by_name = {entity.get("name"): entity for entity in schema}
    arguments = by_name.get(by_name.get(command, {}).get("arg-type"), {})
    members = arguments.get("members", [])
    if member is None:
        return [m["name"] for m in members]
    kind = next((m.get("type") for m in members if m.get("name") == member), None)
    return list(by_name.get(kind, {}).get("values", []))
