"""Reading a ``query-qmp-schema`` reply: what a command's arguments are.

Introspection masks the names of most types (``"123"``), so a type is
reached from a command or event by name, through its ``arg-type`` or
``ret-type``, and then member by member.  :class:`Schema` does those walks
once per connection's schema; every QMP difference between QEMU releases is
decided by asking it (is there a member, an enumeration value, a command).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence

__all__ = ["argument_names_or_values", "Schema", "shared_schema"]


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


class Schema:
    """One QEMU's ``query-qmp-schema`` reply, with the walks handlers need.

    It is never changed once made, so QEMUs that send the same reply share
    one (see :func:`shared_schema`).

    :ivar entities: the reply as QEMU sent it.
    :ivar commands: the names of its commands.
    """

    def __init__(self, entities: Sequence[Mapping[str, Any]]) -> None:
        self.entities = entities
        self._by_name: Dict[str, Mapping[str, Any]] = {
            str(entity.get("name")): entity for entity in entities if isinstance(entity, Mapping)}
        self.commands: FrozenSet[str] = frozenset(
            name for name, entity in self._by_name.items() if entity.get("meta-type") == "command")

    def entity(self, name: Optional[str]) -> Mapping[str, Any]:
        """The entity called ``name`` (a command, event or masked type), ``{}`` if none."""
        return self._by_name.get(name, {}) if name is not None else {}

    def arguments(self, command: str) -> Mapping[str, Any]:
        """The object type of ``command``'s arguments (``{}`` when it has none)."""
        return self.entity(self.entity(command).get("arg-type"))

    def returns(self, command: str) -> Mapping[str, Any]:
        """The type ``command`` returns; for an array, the type of its elements."""
        kind = self.entity(self.entity(command).get("ret-type"))
        if kind.get("meta-type") == "array":
            return self.entity(kind.get("element-type"))
        return kind

    def event_data(self, event: str) -> Mapping[str, Any]:
        """The object type of ``event``'s data."""
        return self.entity(self.entity(event).get("arg-type"))

    def member_names(self, kind: Mapping[str, Any]) -> List[str]:
        """The members of object type ``kind``, in schema order, variants' members too.

        A flat union's variant members follow its common members, variant by
        variant, each name once.
        """
        names = [str(member["name"]) for member in kind.get("members", ())]
        for variant in kind.get("variants", ()):
            for name in self.member_names(self.entity(variant.get("type"))):
                if name not in names:
                    names.append(name)
        return names

    def member(self, kind: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        """Member ``name`` of object type ``kind`` (``{}`` when it has none)."""
        return next((m for m in kind.get("members", ()) if m.get("name") == name), {})

    def member_type(self, kind: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        """The type of member ``name`` of ``kind``; for an array, of its elements."""
        found = self.entity(self.member(kind, name).get("type"))
        if found.get("meta-type") == "array":
            return self.entity(found.get("element-type"))
        return found

    def has_member(self, kind: Mapping[str, Any], name: str) -> bool:
        """Whether object type ``kind`` has a member ``name``."""
        return bool(self.member(kind, name))

    def enum_values(self, kind: Mapping[str, Any]) -> List[str]:
        """The values of enumeration type ``kind`` (``[]`` for any other type)."""
        return [str(value) for value in kind.get("values", ())]

    def argument_names_or_values(self, command: str, member: Optional[str] = None) -> List[str]:
        """See :func:`argument_names_or_values`."""
        return argument_names_or_values(self.entities, command, member)


#: The schemas in use, by the digest of their reply: QEMUs of one build send
#: the same reply, and a host serving many of them keeps it once.
_IN_USE: "weakref.WeakValueDictionary[bytes, Schema]" = weakref.WeakValueDictionary()


def shared_schema(entities: Sequence[Mapping[str, Any]]) -> Schema:
    """The :class:`Schema` of ``entities``: the one already in use for an equal reply, if any.

    A reply is about 1.3 MiB of Python objects; a thousand QEMUs of one build
    would otherwise hold a thousand copies.  Kept only while some connection
    holds it.
    """
    key = hashlib.sha256(json.dumps(entities, sort_keys=True, separators=(",", ":"))
                         .encode("utf-8", "surrogatepass")).digest()
    found = _IN_USE.get(key)
    if found is None:
        found = _IN_USE[key] = Schema(entities)
    return found
