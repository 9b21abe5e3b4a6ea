"""``--profile``: where the bridge spends its time, sampled by py-spy.

py-spy attaches to the running bridge during a throughput run and writes
collapsed stacks (``frame;frame;... count``); this module sums them per
function (self time, the innermost frame) and per hmpbridge module
(inclusive time), which is what docs/performance.md quotes.  The parse and
render path alone is profiled in-process with pyinstrument.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

__all__ = ["start_py_spy", "summarise_collapsed", "profile_parse_render"]


def py_spy() -> Optional[str]:
    """The py-spy executable beside this interpreter, or on PATH."""
    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.path.exists(beside) else shutil.which("py-spy")


def start_py_spy(pid: int, seconds: float, output: str) -> subprocess.Popen:
    """Sample ``pid`` for ``seconds`` into ``output`` (collapsed stacks)."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", "250", "--format", "raw", "--nonblocking",
                             "--output", output], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _function(frame: str) -> str:
    # py-spy frames look like "feed_token (lark/parsers/lalr_parser_state.py:67)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def _module(frame: str) -> str:
    return _function(frame).split(" (", 1)[1].rstrip(")")


def summarise_collapsed(path: str, top: int = 20) -> str:
    """Self time per function and inclusive time per module, as text."""
    own: Dict[str, int] = collections.Counter()
    inclusive: Dict[str, int] = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = stack.split(";")
            total += count
            own[_function(frames[-1])] += count
            for module in {_module(fr) for fr in frames}:
                inclusive[module] += count
    lines: List[str] = [f"{total} samples", "self time by function:"]
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f} %  {name}")
    lines.append("inclusive time by module:")
    mods: List[Tuple[str, int]] = sorted(inclusive.items(), key=lambda kv: -kv[1])
    for name, count in mods[:top + 10]:
        if "hmpbridge" in name or "twisted" in name or "lark" in name or "json" in name:
            lines.append(f"  {100 * count / total:5.1f} %  {name}")
    return "\n".join(lines)


def profile_parse_render(seconds: float) -> str:
    """pyinstrument's text report of the parse-and-render mix."""
    from pyinstrument import Profiler

    from bench.parse_render import ACTION_LINES, fixture_cases, run_line
    from hmpbridge.model import SessionState
    import time

    mix = [(line, exchanges) for line, exchanges, _ in fixture_cases()]
    mix += [(line, []) for line in ACTION_LINES]
    state = SessionState()
    for line, exchanges in mix:
        run_line(line, exchanges, state)  # load the parser before sampling
    profiler = Profiler(interval=0.0005)
    profiler.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for line, exchanges in mix:
            run_line(line, exchanges, state)
    profiler.stop()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))
