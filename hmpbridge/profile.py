"""What the bridge knows of the QEMU at the other end of one QMP connection.

A :class:`QemuProfile` is worked out when the connection comes up (and again
at every reconnect: QEMU may come back as another release) from the
greeting's version and the ``query-qmp-schema`` reply:

- ``qemu``: the real version, which the banner and ``info version`` tell;
- ``release``: whose HMP text to print, QEMU's own release by default or
  an older one asked for with ``--hmp-version``;
- ``schema``: the live QMP schema (:class:`~hmpbridge.qapi_schema.Schema`),
  which decides every QMP difference between releases (members, enumeration
  values, commands present);
- ``table``: the HMP command table of ``release`` (its names, arguments and
  help byte for byte), with its grammar and parser.

Handlers, renderers and completion reach it through their context.  Text
layout is chosen by release ranges (:meth:`QemuProfile.since`); what QEMU can
do is read from the schema.  The module is pure: no reactor, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from hmpbridge.commands import CommandTable, releases, table_for
from hmpbridge.qapi_schema import Schema

__all__ = ["Release", "QemuProfile", "profile_for", "parse_release", "hmp_release", "version_of",
           "DEFAULT_PROFILE"]

#: ``(major, minor)`` of a QEMU release.
Release = Tuple[int, int]


def parse_release(text: str) -> Release:
    """``"7.2"`` -> ``(7, 2)``; :class:`ValueError` for anything else."""
    major, dot, minor = text.strip().partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise ValueError(f"not a QEMU release (MAJOR.MINOR): {text!r}")
    return int(major), int(minor)


def hmp_release(text: str) -> Release:
    """An ``--hmp-version`` value: a release with a command table of its own.

    :raises argparse.ArgumentTypeError: naming the releases there are.
    """
    import argparse

    try:
        release = parse_release(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err))
    known = releases()
    if release not in known:
        raise argparse.ArgumentTypeError(
            f"no HMP table for QEMU {text}; known releases: "
            + ", ".join(f"{major}.{minor}" for major, minor in known))
    return release


def version_of(greeting: Optional[Mapping[str, Any]]) -> Optional[Tuple[int, int, int]]:
    """The ``(major, minor, micro)`` a QMP greeting (its ``QMP`` member) announces."""
    if not greeting:
        return None
    qemu = greeting.get("version", {}).get("qemu", {})
    try:
        return int(qemu["major"]), int(qemu["minor"]), int(qemu["micro"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class QemuProfile:
    """One QEMU as the bridge serves it (see the module docstring).

    :ivar qemu: the real version, ``(major, minor, micro)``.
    :ivar release: the release whose HMP text is printed.
    :ivar table: the command table for ``release``.
    :ivar schema: the live QMP schema, or None when QEMU did not give it.
    """

    qemu: Tuple[int, int, int]
    release: Release
    table: CommandTable
    schema: Optional[Schema] = None

    def since(self, major: int, minor: int) -> bool:
        """Whether the text printed is that of release ``major.minor`` or later."""
        return self.release >= (major, minor)

    def has_qmp(self, command: str) -> bool:
        """True unless the schema is known and lacks ``command``."""
        return self.schema is None or command in self.schema.commands

    @property
    def release_text(self) -> str:
        """``"10.0"``."""
        return f"{self.release[0]}.{self.release[1]}"


def profile_for(greeting: Optional[Mapping[str, Any]],
                schema: Union[None, Schema, Sequence[Mapping[str, Any]]] = None,
                hmp_version: Optional[Release] = None) -> QemuProfile:
    """The profile of the QEMU that sent ``greeting`` and ``schema``.

    ``hmp_version`` asks for an older release's text; it never goes past
    QEMU's own release (a newer release's text would name commands this
    QEMU does not have).
    """
    qemu = version_of(greeting) or DEFAULT_QEMU
    own: Release = (qemu[0], qemu[1])
    release = own if hmp_version is None else min(hmp_version, own)
    return QemuProfile(qemu=qemu, release=release, table=table_for(release),
                       schema=schema if schema is None or isinstance(schema, Schema)
                       else Schema(schema))


#: The QEMU the bridge assumes before any has answered.
DEFAULT_QEMU: Tuple[int, int, int] = (7, 2, 0)

#: The profile of a QEMU 7.2 whose schema is not known (tests, before connecting).
DEFAULT_PROFILE = QemuProfile(qemu=DEFAULT_QEMU, release=(7, 2), table=table_for((7, 2)))
