"""Write ``docs/commands.md`` from the command tables of every release.

    python -m hmpbridge.commands_doc > docs/commands.md

A unit test checks that the committed file is current.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Dict, List, Tuple

from hmpbridge.commands import (NATIVE, PASSTHROUGH, SESSION, XQUERY, CommandSpec,
                                releases, table_for)

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


Release = Tuple[int, int]


def _text(release: Release) -> str:
    return f"{release[0]}.{release[1]}"


def _span(seen: List[Release], known: Tuple[Release, ...]) -> str:
    """``7.2–``, ``8.1–8.2``, ``7.2–8.0, 9.1–`` (``–`` open: still in the newest)."""
    runs: List[Tuple[Release, Release]] = []
    for release in seen:
        if runs and known.index(release) == known.index(runs[-1][1]) + 1:
            runs[-1] = (runs[-1][0], release)
        else:
            runs.append((release, release))
    return ", ".join(_text(first) + "–" + ("" if last == known[-1] else _text(last))
                     for first, last in runs)


def commands_by_key(info: bool) -> Dict[str, Tuple[CommandSpec, List[Release]]]:
    """Every key any release lists: its newest entry and the releases that list it."""
    found: Dict[str, Tuple[CommandSpec, List[Release]]] = {}
    for release in releases():
        for spec in table_for(release).listed(info):
            seen = found.get(spec.key, (spec, []))[1]
            found[spec.key] = (spec, seen + [release])
    return found


def _rows(found: Dict[str, Tuple[CommandSpec, List[Release]]]) -> List[str]:
    known = releases()
    rows = ["| command | arguments | releases | strategy | QMP | changes state |",
            "| --- | --- | --- | --- | --- | --- |"]
    for spec, seen in sorted(found.values(), key=lambda item: item[0].name):
        qmp = ", ".join(" or ".join(f"`{name}`" for name in alternatives.split("|"))
                        for alternatives in spec.qmp) or "—"
        params = _cell(spec.params)
        rows.append(f"| `{_cell(spec.name)}` | {params and '`' + params + '`'} | "
                    f"{_span(seen, known)} | {spec.strategy} | {qmp} | "
                    f"{'no' if spec.reads_only else 'yes'} |")
    return rows


def render() -> str:
    """The whole document."""
    known = releases()
    top, info = commands_by_key(False), commands_by_key(True)
    counts = Counter(spec.strategy for spec, _ in [*top.values(), *info.values()])
    lines = [
        "# HMP commands",
        "",
        "Generated from `hmpbridge/commands.py` and the release tables in",
        "`hmpbridge/tables/` by `python -m hmpbridge.commands_doc`; do not edit by hand.",
        "",
        f"QEMU {_text(known[0])} to {_text(known[-1])} list {len(top)} commands in `help` and"
        f" {len(info)} subcommands in `info`",
        "between them (x86_64 builds); *releases* says which list each (`8.1–`: 8.1 and",
        "every later one). Arguments and help are the",
        "newest release's; `help CMD` prints the connected release's own. Each command has",
        "one strategy:",
        "",
    ]
    for strategy in (NATIVE, XQUERY, PASSTHROUGH, SESSION):
        lines.append(f"- **{strategy}** ({counts[strategy]}): {_STRATEGY_NOTES[strategy]}.")
    lines += ["", "## Commands", ""] + _rows(top)
    lines += ["", "## `info` subcommands", ""] + _rows(info)
    lines += ["", "## Forms of native commands left to QEMU's monitor", "",
              "These go through `human-monitor-command`, so `--no-passthrough` (and",
              "qemu-storage-daemon) refuses them with a one-line error.", ""]
    lines += [f"- {form}." for spec, _ in sorted([*top.values(), *info.values()],
                                                  key=lambda item: item[0].name)
              for form in spec.monitor_forms]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the document."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
