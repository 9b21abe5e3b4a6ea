"""Write ``docs/commands.md`` from the command table.

    python -m hmpbridge.commands_doc > docs/commands.md

A unit test checks that the committed file is current.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Iterable, List

from hmpbridge.commands import (COMMANDS, NATIVE, PASSTHROUGH, SESSION, XQUERY,
                                CommandSpec)

__all__ = ["render", "main"]

_STRATEGY_NOTES = {
    NATIVE: "translated into the QMP commands listed and rendered by hmpbridge",
    XQUERY: "QEMU's `x-query-*` QMP command returns the text, printed as it comes",
    PASSTHROUGH: "QMP cannot express it: the validated line is sent as "
                 "`human-monitor-command` (off with `--no-passthrough`)",
    SESSION: "answered by hmpbridge for the session, without QMP",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _rows(specs: Iterable[CommandSpec]) -> List[str]:
    rows = ["| command | arguments | strategy | QMP | changes state |",
            "| --- | --- | --- | --- | --- |"]
    for spec in sorted(specs, key=lambda s: s.name):
        qmp = ", ".join(f"`{name}`" for name in spec.qmp) or "—"
        params = _cell(spec.params)
        rows.append(f"| `{_cell(spec.name)}` | {params and '`' + params + '`'} | "
                    f"{spec.strategy} | {qmp} | {'no' if spec.reads_only else 'yes'} |")
    return rows


def render() -> str:
    """The whole document."""
    top = [spec for spec in COMMANDS if not spec.is_info]
    info = [spec for spec in COMMANDS if spec.is_info]
    counts = Counter(spec.strategy for spec in COMMANDS)
    lines = [
        "# HMP commands",
        "",
        "Generated from `hmpbridge/commands.py` by `python -m hmpbridge.commands_doc`;",
        "do not edit by hand.",
        "",
        f"QEMU 7.2 lists {len(top)} commands in `help` and {len(info)}"
        " subcommands in `info`. Each has one strategy:",
        "",
    ]
    for strategy in (NATIVE, XQUERY, PASSTHROUGH, SESSION):
        lines.append(f"- **{strategy}** ({counts[strategy]}): {_STRATEGY_NOTES[strategy]}.")
    lines += ["", "## Commands", ""] + _rows(top)
    lines += ["", "## `info` subcommands", ""] + _rows(info)
    lines += ["", "## Forms of native commands left to QEMU's monitor", "",
              "These go through `human-monitor-command`, so `--no-passthrough` (and",
              "qemu-storage-daemon) refuses them with a one-line error.", ""]
    lines += [f"- {form}." for spec in COMMANDS for form in spec.monitor_forms]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the document."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
