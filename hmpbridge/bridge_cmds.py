"""Commands of the bridge itself, typed at the HMP prompt.

They start with a dot (``.events on``): QEMU has no command that does, so
they cannot collide with an HMP command now or later.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple, Union

from twisted.internet.defer import Deferred

from hmpbridge.render.events import format_event

__all__ = ["is_bridge_command", "run_bridge_command", "complete_bridge_command",
           "BridgeSession", "VMChooser", "PREFIX", "Answer"]

PREFIX = "."

HELP = """\
.events [on|off]  -- show QMP events as they happen in this session (or say whether it does)
.events replay    -- show the most recent events
.help             -- show the bridge's own commands
"""

#: The lines ``.help`` adds on a listener shared by several VMs.
VM_HELP = """\
.vms              -- list the VMs, their status and QEMU ('*' marks this session's)
.vm [NAME]        -- talk to VM NAME from the next line (or say which VM this session talks to)
"""

#: What a bridge command prints: at once, or once QEMU answered.
Answer = Union[str, "Deferred[str]"]


class VMChooser(Protocol):
    """A session's choice of VM on a listener shared by several
    (a :class:`~hmpbridge.switchboard.VMChoice`)."""

    def names(self) -> List[str]:
        """The VMs the session may choose, sorted."""

    def choose(self, name: str) -> str:
        """Talk to ``name`` from the next line; the text to print."""

    def describe(self) -> str:
        """Which VM the session talks to."""

    def listing(self) -> "Deferred[str]":
        """Every VM the session may choose, with its status."""


class BridgeSession(Protocol):
    """What a bridge command may change in a session."""

    events_on: bool

    def set_events(self, on: bool) -> None:
        """Start or stop showing events."""

    def recent_events(self) -> "list[Mapping[str, Any]]":
        """The events kept for replay, oldest first."""

    @property
    def vms(self) -> Optional[VMChooser]:
        """The session's choice of VM (None: the listener serves one QEMU)."""


def is_bridge_command(line: str) -> bool:
    """Whether ``line`` is for the bridge rather than for QEMU."""
    return line.lstrip(" \t").startswith(PREFIX)


def _events(session: BridgeSession, arg: Optional[str]) -> str:
    if arg is None:
        return f"Event display is {'on' if session.events_on else 'off'}\n"
    if arg in ("on", "off"):
        session.set_events(arg == "on")
        return ""
    if arg == "replay":
        return "".join(format_event(event) + "\n" for event in session.recent_events())
    return "Expected 'on', 'off' or 'replay'\n"


def _help(session: BridgeSession, arg: Optional[str]) -> str:
    return HELP + (VM_HELP if session.vms is not None else "")


def _vms(session: BridgeSession, arg: Optional[str]) -> Answer:
    if session.vms is None:
        return _ONE_QEMU
    if arg is not None:
        return f"{PREFIX}vms: extraneous characters at the end of line\n"
    return session.vms.listing()


def _vm(session: BridgeSession, arg: Optional[str]) -> Answer:
    if session.vms is None:
        return _ONE_QEMU
    return session.vms.describe() if arg is None else session.vms.choose(arg)


#: The answer to ``.vm``/``.vms`` on a listener of one QEMU.
_ONE_QEMU = "This listener serves one VM\n"

_COMMANDS: Dict[str, Callable[[BridgeSession, Optional[str]], Answer]] = {
    "events": _events,
    "help": _help,
    "vm": _vm,
    "vms": _vms,
}

#: The words that follow a command, where they are fixed.
_ARGUMENTS: Mapping[str, Tuple[str, ...]] = {"events": ("off", "on", "replay")}


def run_bridge_command(line: str, session: BridgeSession) -> Answer:
    """Run a dot command; return the text to print (or a Deferred of it)."""
    words = line.strip(" \t")[len(PREFIX):].split()
    name = words[0] if words else ""
    command = _COMMANDS.get(name)
    if command is None:
        return f"unknown command: '{PREFIX}{name}'\n"
    if len(words) > 2:
        return f"{PREFIX}{name}: extraneous characters at the end of line\n"
    return command(session, words[1] if len(words) > 1 else None)


def complete_bridge_command(text: str, session: BridgeSession) -> Tuple[Tuple[str, ...], str]:
    """The candidates for the last word of ``text`` (a dot command up to the cursor),
    and that word: command names, ``.events`` words, and VM names after ``.vm``."""
    words = text.lstrip(" \t").split()
    if text[-1:].isspace():
        words.append("")
    if len(words) == 1:
        word = words[0][len(PREFIX):]
        shared = session.vms is not None
        names = [PREFIX + n for n in sorted(_COMMANDS) if shared or n not in ("vm", "vms")]
        return tuple(n for n in names if n.startswith(PREFIX + word)), words[0]
    if len(words) != 2:
        return (), words[-1]
    name, word = words[0][len(PREFIX):], words[1]
    if name == "vm" and session.vms is not None:
        known: Tuple[str, ...] = tuple(session.vms.names())
    else:
        known = _ARGUMENTS.get(name, ())
    return tuple(n for n in known if n.startswith(word)), word
