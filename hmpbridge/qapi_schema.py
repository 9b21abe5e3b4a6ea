"""Reading a ``query-qmp-schema`` reply: what a command's arguments are.

Introspection masks the names of most types (``"123"``), so a type is
reached from a command or event by name, through its ``arg-type`` or
``ret-type``, and then member by member.  :class:`Schema` does those walks
once per connection's schema; every QMP difference between QEMU releases is
decided by asking it (is there a member, an enumeration value, a command).
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence

__all__ = ["argument_names_or_values", "Schema", "SchemaStore", "SCHEMAS"]


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
    one (see :class:`SchemaStore`).

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


class SchemaStore:
    """The schemas in use, by the digest of the bytes of the reply they were made from.

    QEMUs of one build send the same ``query-qmp-schema`` reply, byte for byte
    but for its id: about 200 KB of JSON, 1.3 MiB once decoded.  The QMP client
    (:meth:`~hmpbridge.qmp_protocol.QMPClientProtocol.execute` with ``shared``)
    asks :meth:`known` before decoding a reply and hands what it decoded to
    :meth:`keep`, so a host serving many VMs of one build decodes the reply once
    and keeps one :class:`Schema`.  A schema is kept only while some connection
    holds it.
    """

    def __init__(self) -> None:
        self._in_use: "weakref.WeakValueDictionary[bytes, Schema]" = \
            weakref.WeakValueDictionary()
        self._lines: Dict[bytes, bytes] = {}  # the reply's line, by digest, while in use

    def __len__(self) -> int:
        """How many schemas are in use."""
        return len(self._in_use)

    def known(self, digest: bytes) -> Optional[Schema]:
        """The schema made from a reply whose bytes have ``digest``, if one is in use."""
        return self._in_use.get(digest)

    def lines(self) -> List[bytes]:
        """The lines of the replies in use, as they came (the client compares the next
        reply with them as it streams in, instead of gathering it)."""
        return list(self._lines.values())

    def keep(self, digest: Optional[bytes], value: Any, line: bytes = b"") -> Optional[Schema]:
        """The :class:`Schema` of the decoded reply ``value`` (None unless it is a list),
        kept under ``digest`` (unless None) with the reply's ``line`` for the next reply
        of the same bytes."""
        if not isinstance(value, list):
            return None
        if digest is not None:
            found = self._in_use.get(digest)
            if found is not None:
                return found
        schema = Schema(value)
        if digest is not None:
            self._in_use[digest] = schema
            if line:
                self._lines[digest] = line
                weakref.finalize(schema, self._lines.pop, digest, None)
        return schema


#: The process's schemas: every connection of the process shares them unless given
#: a store of its own.
SCHEMAS = SchemaStore()
