"""Each QEMU release's HMP command tables, as generated from that release by
:mod:`hmpbridge.tablegen` and checked in as ``X.Y.json`` beside this file.

- :func:`releases`: the releases that have a table, oldest first;
- :func:`load`: one release's :class:`HxTable` (cached: the tables are
  immutable and shared by every connection to a QEMU of that release);
- :func:`nearest`: the release whose table serves a QEMU of a given release:
  its own, else the nearest older one, else the oldest (7.2).

The entries are :class:`hmpbridge.hx.HxEntry` in table order (the order of
the ``.hx`` file; QEMU's ``help`` sorts them by name).  Pure: package data in,
frozen values out.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

from hmpbridge.hx import HxEntry

__all__ = ["Release", "HxTable", "releases", "load", "nearest"]

#: A QEMU release: (major, minor).
Release = Tuple[int, int]


@dataclass(frozen=True)
class HxTable:
    """One release's two HMP command tables.

    :ivar release: the release the table was generated from.
    :ivar source: where it came from (``"qemu.git v10.0.0 (7c949c53e9)"``).
    :ivar build: the build whose ``#if`` choices it holds.
    :ivar target: that build's target (``"x86_64"``): entries kept for other
        targets only (:attr:`HxEntry.targets`) are not that QEMU's commands.
    :ivar config: the ``CONFIG_*``/``TARGET_*`` symbols the ``.hx`` files were
        read with; empty when the table was read from a compiled program.
    :ivar commands: the top-level commands, in table order.
    :ivar info: the ``info`` subcommands, in table order.
    """

    release: Release
    source: str
    build: str
    target: str
    config: Tuple[str, ...]
    commands: Tuple[HxEntry, ...]
    info: Tuple[HxEntry, ...]

    def help_listing(self, info: bool = False, preconfig: bool = False) -> str:
        """What QEMU's ``help`` (or, with ``info``, ``info`` and ``help info``) prints.

        Entries sorted by name as ``strcmp`` sorts them, one ``help_line`` each
        (``info `` before the info ones), ``\\n`` line ends (the monitor sends
        ``\\r\\n``).  Only the entries :attr:`target` has; with ``preconfig``,
        only those QEMU allows before the machine is initialised (flag ``p``), as
        it lists them in that state.
        """
        entries = self.info if info else self.commands
        prefix = "info " if info else ""
        shown = sorted((e for e in entries
                        if e.available_on(self.target) and (not preconfig or "p" in e.flags)),
                       key=lambda e: e.name.encode())
        return "".join(prefix + e.help_line for e in shown)

    def command(self, name: str) -> Optional[HxEntry]:
        """The top-level entry one of whose aliases is ``name``.

        Entries of other targets are found too, as QEMU 11.1 finds them (and
        refuses to run them): ask :meth:`HxEntry.available_on` ``(table.target)``.
        """
        return _by_alias(self.commands, name)

    def info_command(self, name: str) -> Optional[HxEntry]:
        """The ``info`` subcommand one of whose aliases is ``name``."""
        return _by_alias(self.info, name)


def _by_alias(entries: Tuple[HxEntry, ...], name: str) -> Optional[HxEntry]:
    for entry in entries:
        if name in entry.name.split("|"):
            return entry
    return None


def _parse_release(text: str) -> Release:
    major, dot, minor = text.partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise ValueError(f"not a release X.Y: {text!r}")
    return int(major), int(minor)


@functools.lru_cache(maxsize=None)
def releases() -> Tuple[Release, ...]:
    """Every release with a table, oldest first."""
    found = []
    for item in importlib.resources.files(__name__).iterdir():
        name = item.name
        if name.endswith(".json"):
            found.append(_parse_release(name[: -len(".json")]))
    return tuple(sorted(found))


def _entry(raw: Dict[str, Any]) -> HxEntry:
    return HxEntry(
        name=str(raw["name"]),
        args_type=str(raw["args_type"]),
        params=str(raw["params"]),
        help=str(raw["help"]),
        flags=str(raw["flags"]),
        cmd=bool(raw["cmd"]),
        cmd_info_hrt=bool(raw["cmd_info_hrt"]),
        coroutine=bool(raw["coroutine"]),
        command_completion=None if raw["completion"] is None else str(raw["completion"]),
        sub_table=None if raw["sub_table"] is None else str(raw["sub_table"]),
        targets=tuple(str(t) for t in raw["targets"]),
    )


@functools.lru_cache(maxsize=None)
def _load(release: Release) -> HxTable:
    if release not in releases():
        raise LookupError(f"no HMP command table for QEMU {release[0]}.{release[1]}")
    text = (importlib.resources.files(__name__) / f"{release[0]}.{release[1]}.json").read_text(
        encoding="utf-8")
    doc = json.loads(text)
    if _parse_release(str(doc["release"])) != release:
        raise ValueError(f"{release[0]}.{release[1]}.json says it is {doc['release']}")
    return HxTable(
        release=release,
        source=str(doc["source"]),
        build=str(doc["build"]),
        target=str(doc["target"]),
        config=tuple(str(s) for s in (doc.get("config") or ())),
        commands=tuple(_entry(e) for e in doc["commands"]),
        info=tuple(_entry(e) for e in doc["info"]),
    )


def load(release: Union[Release, str]) -> HxTable:
    """The tables of ``release`` (``(10, 0)`` or ``"10.0"``); :exc:`LookupError` if none.

    For a QEMU whose release may have no table, ask :func:`nearest` first.
    """
    if isinstance(release, str):
        release = _parse_release(release)
    return _load((int(release[0]), int(release[1])))


def nearest(major: int, minor: int) -> Release:
    """The release whose table serves a QEMU ``major.minor``.

    Its own if there is one; else the newest older one (a 10.3 gets 10.2's,
    an 11.2 gets 11.1's); a QEMU older than every table gets the oldest (7.2).
    """
    known = releases()
    older = [r for r in known if r <= (major, minor)]
    return older[-1] if older else known[0]
