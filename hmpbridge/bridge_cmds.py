"""Commands of the bridge itself, typed at the HMP prompt.

They start with a dot (``.events on``): QEMU has no command that does, so
they cannot collide with an HMP command now or later.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Protocol

from hmpbridge.render.events import format_event

__all__ = ["is_bridge_command", "run_bridge_command", "BridgeSession", "PREFIX"]

PREFIX = "."

HELP = """\
.events [on|off]  -- show QMP events as they happen in this session (or say whether it does)
.events replay    -- show the most recent events
.help             -- show the bridge's own commands
"""


class BridgeSession(Protocol):
    """What a bridge command may change in a session."""

    events_on: bool

    def set_events(self, on: bool) -> None:
        """Start or stop showing events."""

    def recent_events(self) -> "list[Mapping[str, Any]]":
        """The events kept for replay, oldest first."""


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


_COMMANDS: Dict[str, Callable[[BridgeSession, Optional[str]], str]] = {
    "events": _events,
    "help": lambda session, arg: HELP,
}


def run_bridge_command(line: str, session: BridgeSession) -> str:
    """Run a dot command; return the text to print."""
    words = line.strip(" \t")[len(PREFIX):].split()
    name = words[0] if words else ""
    command = _COMMANDS.get(name)
    if command is None:
        return f"unknown command: '{PREFIX}{name}'\n"
    if len(words) > 2:
        return f"{PREFIX}{name}: extraneous characters at the end of line\n"
    return command(session, words[1] if len(words) > 1 else None)
