"""Devices: ``device_add``, ``device_del``, ``balloon``.

``device_add`` sends every option as a JSON string, as HMP hands them to
QEMU; where QEMU's QMP reads JSON strictly (9.2 and later) and refuses a
string for a property, that property is converted as HMP's keyval reading
would and the command is sent again (:mod:`hmpbridge.device_props`).

``device_add DRIVER,help`` prints ``device-list-properties`` as
``qdev_device_help()`` does, after QEMU's alias table (``virtio-net`` is
``virtio-net-pci``).  ``device_add help`` groups the devices by category
with their descriptions, which no QMP reply holds; it goes through
``human-monitor-command``.
"""

from __future__ import annotations

from typing import Any, Dict, Generator, List, Mapping, Optional

from hmpbridge import device_props
from hmpbridge.errors import QMPCommandError
from hmpbridge.hazards import DEVICE_ALIASES, aborts, releases_aborting
from hmpbridge.handlers import Context, HandlerResult, handler, help_form
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qemu_opts import is_help_option
from hmpbridge.render.options_help import pci_addr_as_int32, properties_help

__all__ = ["device_add", "device_del", "balloon", "wants_help", "DEVICE_ALIASES"]


def wants_help(opts: Mapping[str, Any]) -> bool:
    """Whether QEMU would print help (``qdev_device_help``) instead of adding."""
    driver = opts.get("driver")
    if driver is None:
        return False
    return is_help_option(str(driver)) or any(is_help_option(key) for key in opts)


@help_form("device_add")
def _asks_for_help(inv: Invocation) -> bool:
    return wants_help(inv.args.get("device") or {})


@handler("device_add")
def device_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``device_add driver[,prop=value...]``: one QMP ``device_add``, values as strings.

    With no argument QEMU is asked all the same, so that it answers
    ``Parameter 'driver' is missing`` itself.
    """
    opts = inv.args.get("device") or {}
    if wants_help(opts):
        if is_help_option(str(opts["driver"])):
            return (yield from passthrough(inv, ctx))
        return (yield from device_help(str(opts["driver"]), ctx.profile.since(10, 0),
                                       int32_pci_addr=not ctx.profile.since(10, 0)))
    try:
        return (yield from add_typed(str(opts.get("driver", "")),
                                     {key: str(value) for key, value in opts.items()}))
    except QMPCommandError as err:
        if err.desc == _RNG_MAX_BYTES_9_1 and not ctx.profile.since(9, 1):
            return f"Error: {_RNG_MAX_BYTES_OLD}\n"
        raise


#: virtio-rng's refusal of ``max-bytes`` from QEMU 9.1, which also refuses 0;
#: earlier releases said the words of :data:`_RNG_MAX_BYTES_OLD`.
_RNG_MAX_BYTES_9_1 = "'max-bytes' parameter must be positive, and less than 2^63"
_RNG_MAX_BYTES_OLD = "'max-bytes' parameter must be non-negative, and less than 2^63"


#: Members of QMP ``device_add`` that are not device properties.
_NOT_PROPERTIES = frozenset({"driver", "id", "bus"})


def add_typed(driver: str, arguments: Dict[str, Any]) -> HandlerResult:
    """QMP ``device_add`` with string values, each refused one converted as HMP would.

    Every round converts the one property QEMU names (a failed ``device_add``
    leaves nothing behind), so there are at most as many rounds as string
    properties, plus one.
    """
    prop_types: Optional[Dict[str, str]] = None
    converted = set()
    while True:
        try:
            yield QMPCommand("device_add", dict(arguments))
            return ""
        except QMPCommandError as err:
            refusal = device_props.type_refusal(err.desc)
            if refusal is None:
                raise
            name, kind = refusal
            if (name in _NOT_PROPERTIES or name in converted
                    or not isinstance(arguments.get(name), str)):
                raise
            if prop_types is None and kind == "uint64" \
                    and not device_props.same_as_size(arguments[name]):
                # only sizes read differently (suffixes, no octal, no minus)
                prop_types = yield from _property_types(driver)
            try:
                arguments[name] = device_props.keyval_value(
                    kind, (prop_types or {}).get(name), name, arguments[name])
            except device_props.PropertyValueError as bad:
                return f"Error: {bad}\n"
            converted.add(name)


def _property_types(driver: str) -> Generator[QMPCommand, Any, Dict[str, str]]:
    """Property name -> type of ``driver`` (after QEMU's aliases); ``{}`` when unknown."""
    for typename in (driver, DEVICE_ALIASES.get(driver)):
        if typename is None:
            continue
        try:
            props = yield from _properties(typename)
        except QMPCommandError:
            continue
        return {str(p.get("name")): str(p.get("type")) for p in props or []}
    return {}


def device_help(driver: str, plain_defaults: bool = False,
                int32_pci_addr: bool = False) -> HandlerResult:
    """``device_add DRIVER,help``: the driver's properties, or QEMU's error, bare.

    As in QEMU, the alias table is read only when no type has the name.
    :param plain_defaults: print defaults as QEMU 10.0 does (``on``, bare strings).
    :param int32_pci_addr: print a PCI device's ``addr`` as ``<int32>``, as
        releases before 10.0 did (10.0 made its type ``str``).
    """
    typename = driver
    try:
        props = yield from _properties(typename)
    except QMPCommandError as err:
        if err.error_class != "DeviceNotFound" or driver not in DEVICE_ALIASES:
            return f"{err.desc}\n"
        typename = DEVICE_ALIASES[driver]
        try:
            props = yield from _properties(typename)
        except QMPCommandError as err:
            return f"{err.desc}\n"
    if props is None:
        releases = " and ".join(releases_aborting("device-list-properties", typename))
        return (f"hmpbridge: not asking for the properties of {typename}: "
                f"it makes QEMU {releases} abort\n")
    if int32_pci_addr:
        props = pci_addr_as_int32(props)
    return properties_help(typename, props, plain_defaults)


def _properties(typename: str) -> Generator[QMPCommand, Any, Optional[List[Any]]]:
    """``device-list-properties``, or None for a type that makes a QEMU release abort."""
    if aborts("device-list-properties", typename):
        return None
    props: List[Any] = yield QMPCommand("device-list-properties", {"typename": typename})
    return props


@handler("device_del")
def device_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``device_del id``: prints nothing, even though the unplug finishes later."""
    yield QMPCommand("device_del", {"id": inv.args["id"]})
    return ""


@handler("balloon")
def balloon(inv: Invocation, ctx: Context) -> HandlerResult:
    """``balloon MB``: the parser already made it bytes.

    QEMU 8.2 names the argument ``value`` in its refusal of a size of 0 or
    less, where earlier releases said ``target``; an older release's text
    keeps that word.
    """
    try:
        yield QMPCommand("balloon", {"value": inv.args["value"]})
    except QMPCommandError as err:
        if err.desc == _BALLOON_NOT_A_SIZE and not ctx.profile.since(8, 2):
            return "Error: Parameter 'target' expects a size\n"
        raise
    return ""


_BALLOON_NOT_A_SIZE = "Parameter 'value' expects a size"
