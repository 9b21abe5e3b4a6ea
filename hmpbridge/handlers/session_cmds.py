"""Commands hmpbridge answers per session, as QEMU's monitor does itself.

``help``, the ``info`` listing, ``cpu N``, ``print`` and ``info history``.
``help`` and ``info`` are printed from the command table; ``print`` evaluates
its expression locally (the parser already did); ``cpu`` is checked against
``query-cpus-fast`` and kept in the session's state.
"""

from __future__ import annotations

import functools
import importlib.resources
import shlex
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Tuple

from hmpbridge.commands import CommandSpec, CommandTable
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, PrintDefaults, QMPCommand

__all__ = ["help_listing", "help_text", "format_print", "resolve_format"]


def _sorted(specs: Iterable[CommandSpec]) -> List[CommandSpec]:
    # QEMU sorts each table once by strcmp of the full name ("cont|c").
    return sorted(specs, key=lambda s: s.name.encode())


def help_listing(table: CommandTable, info: bool) -> str:
    """Every top-level command, or every info subcommand, one help line each."""
    specs = _sorted(table.listed(info))
    return "".join(s.help_line + "\n" for s in specs)


def help_text(table: CommandTable, name: Optional[str]) -> str:
    """What ``help [name]`` prints."""
    if not name:
        return help_listing(table, info=False)
    try:
        words = shlex.split(name)
    except ValueError:
        words = name.split()
    if not words:
        return help_listing(table, info=False)
    if words == ["log"]:
        return help_log(table.release)
    spec = table.lookup(words[0])
    if spec is None or not spec.available_on(table.target):
        return f"unknown command: '{words[0]}'\n"
    if spec.key != "info":
        return spec.help_line + "\n"
    if len(words) < 2:
        return help_listing(table, info=True)
    sub = table.lookup_info(words[1])
    if sub is None or not sub.available_on(table.target):
        return f"unknown command: 'info {words[1]}'\n"
    return sub.help_line + "\n"


def _captured_logs() -> List[Tuple[int, int]]:
    names = (item.name for item in importlib.resources.files("hmpbridge.help_log").iterdir())
    return sorted(tuple(int(part) for part in name[:-len(".txt")].split("."))  # type: ignore
                  for name in names if name.endswith(".txt"))


@functools.lru_cache(maxsize=None)
def help_log(release: Tuple[int, int]) -> str:
    """QEMU's ``help log`` table (its log items) for ``release``.

    Captured from the QEMUs tested live (``hmpbridge/help_log/X.Y.txt``: 7.2.22,
    10.0.2, whose table 11.1.3 prints too); a release between two captures
    gets the older one's.
    """
    captured = [r for r in _captured_logs() if r <= release] or _captured_logs()[:1]
    major, minor = captured[-1]
    return (importlib.resources.files("hmpbridge.help_log") / f"{major}.{minor}.txt").read_text()


@handler("help")
def help_command(inv: Invocation, ctx: Context) -> HandlerResult:
    """``help [cmd]``: from the command table, no QMP."""
    return help_text(ctx.profile.table, inv.args.get("name"))
    yield  # pragma: no cover - makes this a generator


@handler("info")
def info_listing(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info`` alone prints the info table, like ``help info``."""
    return help_listing(ctx.profile.table, info=True)
    yield  # pragma: no cover


#: What ``clear`` writes: VT100's cursor home, erase display, erase scrollback.
CLEAR_SCREEN = "\x1b[H\x1b[2J\x1b[3J"


@handler("clear")
def clear(inv: Invocation, ctx: Context) -> HandlerResult:
    """``clear`` (11.1): clear the terminal, as QEMU's monitor does."""
    return CLEAR_SCREEN
    yield  # pragma: no cover


@handler("info history")
def info_history(inv: Invocation, ctx: Context) -> HandlerResult:
    """This session's own readline history, this line included."""
    return "".join(f"{i}: '{line}'\n" for i, line in enumerate(ctx.state.history))
    yield  # pragma: no cover


@handler("cpu")
def cpu(inv: Invocation, ctx: Context) -> HandlerResult:
    """``cpu N``: make CPU N this session's current CPU, if it exists."""
    index = inv.args["index"]
    cpus = yield QMPCommand("query-cpus-fast")
    if not any(c.get("cpu-index") == index for c in cpus):
        return "invalid CPU index\n"
    ctx.state.cpu_index = index
    return ""


def resolve_format(fmt: Optional[Mapping[str, object]], defaults: PrintDefaults) -> str:
    """The format letter a ``/fmt`` item selects, updating the defaults as QEMU does."""
    if fmt is None:
        return defaults.format
    letter = fmt.get("format") or defaults.format
    size = fmt.get("size")
    if letter != "i":
        defaults.size = int(size) if isinstance(size, int) else defaults.size
    defaults.format = str(letter)
    return str(letter)


def _printc(value: int) -> str:
    c = value & 0xFFFFFFFF
    signed = c - (1 << 32) if c >> 31 else c
    escapes = {ord("'"): "\\'", ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r"}
    if signed in escapes:
        return f"'{escapes[signed]}'"
    if 32 <= signed <= 126:
        return f"'{chr(signed)}'"
    return f"'\\x{c:02x}'"


def format_print(value: int, letter: str) -> str:
    """QEMU's do_print: one line for a 64-bit value in format ``letter``."""
    value &= (1 << 64) - 1
    if letter == "o":
        return (f"0{value:o}" if value else "0") + "\n"
    if letter == "x":
        return (f"0x{value:x}" if value else "0") + "\n"
    if letter == "u":
        return f"{value}\n"
    if letter == "c":
        return _printc(value) + "\n"
    return f"{value - (1 << 64) if value >> 63 else value}\n"


@handler("print")
def print_command(inv: Invocation, ctx: Context) -> HandlerResult:
    """``print [/fmt] expr``, evaluated here (registers go to QEMU instead).

    The runner has already resolved the format letter against QEMU's shared
    default (``inv.args["format"]``).
    """
    letter = str(inv.args.get("format") or ctx.print_defaults.format)
    return format_print(int(inv.args["val"]), letter)
    yield  # pragma: no cover
