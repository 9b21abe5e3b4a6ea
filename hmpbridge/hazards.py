"""What makes which QEMU release abort, and whether a QMP message would.

Some requests kill QEMU outright (an assertion, a NULL pointer, ``exit(1)``
from a missing module) instead of answering with an error.  Each such route
is listed here with the release it was measured on
(``python -m tests.tools.measure_aborts``, whose output has the shape of
:data:`ABORTS`), and :func:`abort_refusal` judges any QMP message against
the table, the HMP line inside a ``human-monitor-command`` included.  The
multiplexer consults it for every command of every client, operators too;
the ``device_add`` handler uses the same table for its help form.

Pure: no reactor, no I/O.
"""

from __future__ import annotations

import re
from collections import abc
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from hmpbridge.commands import CommandTable
from hmpbridge.errors import HMPBridgeError
from hmpbridge.hmp_parser import parse, parse_carried
from hmpbridge.qemu_opts import is_help_option

__all__ = ["ABORTS", "MEASURED_ON", "DEVICE_ALIASES", "DIRTY_RATE_ABORTS_WITHOUT_KVM",
           "COMMAND_ABORTS", "command_aborts", "release_of", "aborts", "releases_aborting",
           "abort_refusal", "needs_kvm_state"]

#: Per QEMU release (``major.minor``), per QMP command, the ``typename``
#: arguments that make QEMU die (``-M pc -accel tcg -nodefaults -display none``,
#: Debian's packages).  ``device-list-properties`` also carries HMP's
#: ``device_add TYPE,help``.
ABORTS: Mapping[str, Mapping[str, FrozenSet[str]]] = {
    "7.2": {
        # exit 1: missing object type 'virtio-gpu-gl-device' (the OpenGL module)
        "device-list-properties": frozenset({"virtio-gpu-gl-pci", "virtio-vga-gl"}),
        # SIGABRT (colo-compare, qio-net-listener: qemu_mutex_destroy; microvm-machine:
        # acpi_setup_microvm) and SIGSEGV (x-remote-object)
        "qom-list-properties": frozenset({"colo-compare", "microvm-machine",
                                          "qio-net-listener", "x-remote-object"}),
        "device_add": frozenset(),
    },
    "10.0": {
        "device-list-properties": frozenset(),
        # SIGABRT (colo-compare, memory-region-portio-list), SIGSEGV (the rest)
        "qom-list-properties": frozenset({"colo-compare", "memory-region-portio-list",
                                          "qemu-text-console", "x-remote-object"}),
        "device_add": frozenset(),
    },
    "11.1": {
        "device-list-properties": frozenset(),
        "qom-list-properties": frozenset(),
        "device_add": frozenset(),
    },
}

#: QMP commands that make QEMU die whatever they ask, by the measured releases
#: where they do.  ``x-query-virtio-status`` (HMP's ``info virtio-status``)
#: fails an assertion in ``visit_start_struct`` on QEMU 11.1.3 for every virtio
#: device tried (blk, net, balloon; before and after the guest runs); 7.2.22
#: and 10.0.2 answer it.
COMMAND_ABORTS: Mapping[str, FrozenSet[str]] = {
    "x-query-virtio-status": frozenset({"11.1"}),
}

#: The QEMU builds :data:`ABORTS` was measured on (753, 836 and 894 types).
MEASURED_ON: Mapping[str, str] = {
    "7.2": "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
    "10.0": "10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)",
    "11.1": "11.1.3 (Debian 1:11.1.3+ds-1)",
}

#: Releases where ``calc-dirty-rate`` in ``dirty-ring`` or ``dirty-bitmap``
#: mode crashes QEMU (SIGSEGV) when KVM is off; 10.0 and 11.1 answer an error.
DIRTY_RATE_ABORTS_WITHOUT_KVM: FrozenSet[str] = frozenset({"7.2"})

#: QEMU's device aliases on a target with virtio-pci (``qdev_alias_table``),
#: tried by ``device_add`` when no device type has the name given.
DEVICE_ALIASES: Mapping[str, str] = {
    "ac97": "AC97", "es1370": "ES1370", "e1000-82540em": "e1000", "ahci": "ich9-ahci",
    "lsi": "lsi53c895a",
    **{f"virtio-{name}": f"virtio-{name}-pci" for name in (
        "9p", "balloon", "blk", "gpu", "gpu-gl", "input-host", "iommu", "keyboard", "mouse",
        "net", "rng", "scsi", "serial", "tablet")},
}

_PROPERTY_COMMANDS = ("device-list-properties", "qom-list-properties", "device_add")

#: The commands a hazard may lie in: any other is sent without a look at its arguments.
_JUDGED: FrozenSet[str] = frozenset(COMMAND_ABORTS) | frozenset(_PROPERTY_COMMANDS) | \
    frozenset({"human-monitor-command", "calc-dirty-rate"})


def release_of(greeting: Optional[Mapping[str, Any]]) -> Optional[str]:
    """``7.2``: the release in a greeting's ``QMP`` member, or None."""
    try:
        qemu = greeting["version"]["qemu"]  # type: ignore[index]
        return f"{int(qemu['major'])}.{int(qemu['minor'])}"
    except (KeyError, TypeError, ValueError):
        return None


def _known(command: str, release: Optional[str]) -> FrozenSet[str]:
    """The aborting type names for ``command``; every release's for one not measured."""
    if release is not None and release in ABORTS:
        return ABORTS[release].get(command, frozenset())
    return frozenset().union(*(table.get(command, frozenset()) for table in ABORTS.values()))


def aborts(command: str, typename: str, release: Optional[str] = None) -> bool:
    """Whether ``command`` with ``typename`` makes QEMU ``release`` die.

    For a release not measured (or None), any measured release's finding counts.
    """
    return typename in _known(command, release)


def releases_aborting(command: str, typename: str) -> Tuple[str, ...]:
    """The measured releases where ``command`` with ``typename`` makes QEMU die."""
    return tuple(release for release, table in ABORTS.items()
                 if typename in table.get(command, frozenset()))


def _release_key(release: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


def command_aborts(command: str, release: Optional[str]) -> bool:
    """Whether QMP ``command`` makes QEMU ``release`` die, whatever its arguments.

    A measured release is as measured; a release not measured (or None) is
    taken to abort unless it is older than the first measured release that
    does and no newer than a measured release that does not.
    """
    bad = COMMAND_ABORTS.get(command)
    if not bad:
        return False
    if release is not None and release in ABORTS:
        return release in bad
    if release is None:
        return True
    good = [_release_key(r) for r in ABORTS if r not in bad]
    return not good or _release_key(release) > max(good)


def _qemu(release: Optional[str]) -> str:
    return f"QEMU {release}" if release in ABORTS else "some QEMU releases"


def _refusal(what: str, release: Optional[str]) -> str:
    return f"hmpbridge does not send {what}: it makes {_qemu(release)} abort"


def needs_kvm_state(message: Mapping[str, Any], release: Optional[str],
                    table: Optional[CommandTable] = None) -> bool:
    """Whether judging ``message`` needs to know if KVM is on (a dirty-rate mode)."""
    if release is not None and release not in DIRTY_RATE_ABORTS_WITHOUT_KVM:
        return False
    if _name(message) not in _JUDGED:
        return False
    return _dirty_rate_mode(message, table) is not None


def _dirty_rate_mode(message: Mapping[str, Any],
                     table: Optional[CommandTable] = None) -> Optional[str]:
    """``dirty-ring``/``dirty-bitmap`` when ``message`` measures the dirty rate so."""
    name = _name(message)
    arguments = message.get("arguments")
    if not isinstance(arguments, abc.Mapping):
        arguments = {}
    if name == "calc-dirty-rate":
        mode = arguments.get("mode")
        return mode if mode in ("dirty-ring", "dirty-bitmap") else None
    if name == "human-monitor-command":
        inv = parse_carried(message, table)
        if inv is None or inv.spec.key != "calc_dirty_rate":
            return None
        if inv.args.get("dirty_ring"):
            return "dirty-ring"
        if inv.args.get("dirty_bitmap"):
            return "dirty-bitmap"
    return None


def abort_refusal(message: Mapping[str, Any], release: Optional[str],
                  kvm: Optional[bool] = None,
                  table: Optional[CommandTable] = None) -> Optional[str]:
    """Why ``message`` must not reach QEMU ``release`` (it would abort), or None.

    :param kvm: whether KVM is on (None: not known, taken as off).
    :param table: the command table HMP lines are read with (QEMU 7.2's when None).
    """
    name = _name(message)
    if name not in _JUDGED:
        return None
    arguments = message.get("arguments")
    if not isinstance(arguments, abc.Mapping):
        arguments = {}
    if command_aborts(name, release):
        return _refusal(name, release)
    if name in ("device-list-properties", "qom-list-properties"):
        typename = arguments.get("typename")
        if isinstance(typename, str) and aborts(name, typename, release):
            return _refusal(f"{name} for '{typename}'", release)
    elif name == "device_add":
        driver = arguments.get("driver")
        if isinstance(driver, str) and aborts("device_add", driver, release):
            return _refusal(f"device_add of '{driver}'", release)
    elif name == "human-monitor-command":
        line = arguments.get("command-line")
        if isinstance(line, str):
            refused = _line_refusal(line, release, table)
            if refused is not None:
                return refused
    mode = _dirty_rate_mode(message, table)
    if mode is not None and not kvm and (
            release is None or release in DIRTY_RATE_ABORTS_WITHOUT_KVM):
        return _refusal(f"calc-dirty-rate in mode {mode} without KVM", release)
    return None


def _line_refusal(line: str, release: Optional[str],
                  table: Optional[CommandTable] = None) -> Optional[str]:
    """Why HMP ``line`` would make QEMU abort, or None."""
    try:
        inv = parse(line, table)
    except HMPBridgeError:
        # QEMU may read a line hmpbridge cannot: refuse it if it names a hazard at all
        words = set(re.split(r"[\s,=]+", line))
        risky = {name for command in _PROPERTY_COMMANDS for name in _known(command, release)}
        risky |= {alias for alias, target in DEVICE_ALIASES.items() if target in risky}
        found = sorted(words & risky)
        if found:
            return _refusal(f"a line naming '{found[0]}'", release)
        return None
    if inv is None:
        return None
    deadly = [name for name in inv.spec.qmp if command_aborts(name, release)]
    if deadly:
        return _refusal(f"'{inv.spec.key}' ({deadly[0]})", release)
    if inv.spec.key != "device_add":
        return None
    opts: Mapping[str, Any] = inv.args.get("device") or {}
    driver = opts.get("driver")
    if driver is None or is_help_option(str(driver)):
        return None
    driver = str(driver)
    asks_help = any(is_help_option(str(key)) for key in opts)
    command = "device-list-properties" if asks_help else "device_add"
    for typename in (driver, DEVICE_ALIASES.get(driver)):
        if typename is not None and aborts(command, typename, release):
            form = f"device_add {driver},help" if asks_help else f"device_add {driver}"
            return _refusal(f"'{form}'", release)
    return None


def _name(message: Mapping[str, Any]) -> str:
    name = message.get("execute", message.get("exec-oob"))
    return name if isinstance(name, str) else ""


def table_from_measurement(result: Mapping[str, Any]) -> Dict[str, FrozenSet[str]]:
    """One release's row of :data:`ABORTS` from ``measure_aborts``' JSON output."""
    return {command: frozenset(found) for command, found in result["aborts"].items()}
