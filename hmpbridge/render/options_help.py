"""The help texts of the ``*_add`` commands: property lists and backend lists."""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional, Sequence

from hmpbridge.qjson import to_json

__all__ = ["property_help", "properties_help", "pci_addr_as_int32", "netdev_types_help", "chardev_types_help",
           "object_types_help", "NETDEV_HELP_ORDER"]

#: The backends ``netdev_add help`` may list, in QEMU's order (``show_netdevs``;
#: ``passt`` from 10.1, ``af-xdp`` from 8.2); each one this QEMU was built
#: with, as its schema's netdev types say.  ``netmap`` is left out: only a
#: build with the netmap headers has it, and the schema names it either way.
NETDEV_HELP_ORDER = ("socket", "stream", "dgram", "hubport", "tap", "passt", "user", "l2tpv3",
                     "vde", "bridge", "af-xdp", "vhost-user", "vhost-vdpa", "vmnet-host",
                     "vmnet-shared", "vmnet-bridged")


def _default_text(default: Any, plain: bool) -> str:
    """A property's default as ``object_property_help()`` prints it.

    Until 9.2 always JSON; from 10.0 a string is printed bare and a boolean
    as ``on``/``off`` (anything else stays JSON).
    """
    if plain and isinstance(default, bool):
        return "on" if default else "off"
    if plain and isinstance(default, str):
        return default
    return to_json(default)


def property_help(prop: Mapping[str, Any], plain_defaults: bool = False) -> str:
    """One ``ObjectPropertyInfo`` as ``object_property_help()`` writes it.

    ``  name=<type>``, padded to 24 columns when a description or a default
    follows, then `` - description`` and `` (default: ...)``.

    :param plain_defaults: QEMU 10.0's form of the default (see :func:`_default_text`).
    """
    text = f"  {prop['name']}=<{prop['type']}>"
    description = prop.get("description")
    default = prop.get("default-value")
    if description is not None or default is not None:
        text = text.ljust(24) + " - "
    if description:
        text += description
    if default is not None:
        text += f" (default: {_default_text(default, plain_defaults)})"
    return text


def properties_help(type_name: str, props: Iterable[Mapping[str, Any]],
                    plain_defaults: bool = False) -> str:
    """``TYPE options:`` and the sorted property lines, or that there are none."""
    lines: List[str] = sorted(property_help(prop, plain_defaults) for prop in props)
    if not lines:
        return f"There are no options for {type_name}.\n"
    return f"{type_name} options:\n" + "".join(line + "\n" for line in lines)


#: The description of a PCI device's ``addr`` property (``qdev_prop_pci_devfn``).
PCI_DEVFN_DESCRIPTION = "Slot and optional function number, example: 06.0 or 06"


def pci_addr_as_int32(props: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The properties with a PCI slot property typed ``int32``, as before QEMU 10.0.

    QEMU 10.0 gave ``qdev_prop_pci_devfn`` the type ``str``; until 9.2 its
    name (``int32``) stood for the type.
    """
    return [dict(prop, type="int32")
            if prop.get("type") == "str" and prop.get("description") == PCI_DEVFN_DESCRIPTION
            else prop
            for prop in props]


def netdev_types_help(available: Iterable[str]) -> str:
    """``netdev_add help``: the backends of :data:`NETDEV_HELP_ORDER` in ``available``."""
    have = set(available)
    return "Available netdev backend types:\n" + "".join(
        name + "\n" for name in NETDEV_HELP_ORDER if name in have)


def chardev_types_help(backends: Sequence[Mapping[str, Any]],
                       order: Optional[Sequence[str]] = None) -> str:
    """``chardev-add help`` from a ``query-chardev-backends`` reply.

    Both walk QEMU's class table in the same order, but the QMP command
    prepends each name, so its list is the help text's, reversed.

    :param order: an older release's backends in its own order: the reply's
        names are printed in that order, and those it lacks are left out.
    """
    names = [str(backend["name"]) for backend in reversed(backends)]
    if order is not None:
        have = set(names)
        names = [name for name in order if name in have]
    return "Available chardev backend types: \n" + "".join(f"  {name}\n" for name in names)


def object_types_help(types: Iterable[Mapping[str, Any]]) -> str:
    """``object_add help`` from ``qom-list-types`` (user-creatable, not abstract).

    QEMU sorts the names without regard to case (``object_class_cmp``).
    """
    names = sorted((str(t["name"]) for t in types), key=str.lower)
    return "List of user creatable objects:\n" + "".join(f"  {name}\n" for name in names)
