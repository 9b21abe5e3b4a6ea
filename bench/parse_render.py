"""Part 4: lines per second through grammar, transformer, handler and renderer, no I/O.

Every line is parsed (:func:`hmpbridge.hmp_parser.parse`), its handler is
chosen as the runner chooses it, and :func:`hmpbridge.handlers.drive` runs
the handler against canned QMP replies; the text is rendered as for a
client.  Two mixes: the golden fixtures (real ``info`` output recorded from
QEMU) with common action and error lines, and a mix in which no line repeats
(numbers and names change every line).  The rate is counted on the CPU time
of this one thread, so load from other processes does not lower it.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import time
from dataclasses import replace
from typing import Any, Callable, Dict, List, Tuple

from hmpbridge.commands import PASSTHROUGH
from hmpbridge.errors import ParseError, QMPCommandError
from hmpbridge.handlers import Context, _load_all, drive, handler_for
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.handlers.session_cmds import resolve_format
from hmpbridge.hmp_parser import parse
from hmpbridge.model import PrintDefaults, QMPCommand, SessionState
from hmpbridge.render.errors import render_error

from bench.procs import REPO
from bench.stats import TARGETS, Target

__all__ = ["measure_parse_render", "fixture_cases", "run_line"]

_load_all()

Replies = List[Tuple[Dict[str, Any], Dict[str, Any]]]

#: Canned ``return`` values for the action lines, by QMP command.
_CANNED: Dict[str, Any] = {
    "human-monitor-command": "0000000000001000: 0x00000000 0x00000000 0x00000000 0x00000000\r\n",
    "query-status": {"status": "prelaunch", "singlestep": False, "running": False},
}

ACTION_LINES = [
    "stop", "cont", "eject -f ide1-cd0", "print /x 1+2*3", "x /4x 0x1000",
    "block_set_io_throttle ide0-hd0 1000 0 0 100 0 0", "info status", "system_reset",
    "device_add e1000,id=nic9,mac=52:54:00:12:34:57", "eject", "frob", "stop extra",
]


@functools.lru_cache(maxsize=1)
def _fixtures() -> Tuple[Dict[str, Any], ...]:
    """Every golden fixture, read once."""
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, "tests", "golden", "fixtures", "*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return tuple(found)


def fixture_cases() -> List[Tuple[str, Replies, str]]:
    """(line, recorded exchanges, QEMU's text) of every golden fixture."""
    return [(data["line"], data["exchanges"], data["expected"]) for data in _fixtures()]


def _replayer(exchanges: Replies) -> Callable[[QMPCommand], Any]:
    replies = iter(exchanges)

    def respond(cmd: QMPCommand) -> Any:
        try:
            _sent, reply = next(replies)
        except StopIteration:
            return _CANNED.get(cmd.execute, {})
        if "error" in reply:
            err = reply["error"]
            raise QMPCommandError(err["class"], err["desc"], cmd.execute, reply)
        return reply["return"]

    return respond


#: The default /fmt of the one QEMU the lines of a run are rendered for.
_PRINT_DEFAULTS = PrintDefaults()


def run_line(line: str, exchanges: Replies, state: SessionState) -> str:
    """Parse, translate and render one line as the runner does, replies canned."""
    try:
        inv = parse(line)
    except ParseError as err:
        return err.text
    if inv is None:
        return ""
    if any(item.type == "/" for item in inv.spec.items):
        inv = replace(inv, args={**inv.args, "format": resolve_format(
            inv.args.get("fmt"), _PRINT_DEFAULTS)})
    handler = handler_for(inv.spec)
    if inv.needs_registers or handler is None or inv.spec.strategy == PASSTHROUGH:
        handler = passthrough
    ctx = Context(state=state, print_defaults=_PRINT_DEFAULTS)
    try:
        gen = handler(inv, ctx)
        if isinstance(gen, str):
            return gen
        return drive(gen, _replayer(exchanges))
    except Exception as err:  # noqa: BLE001 - printed the way the runner prints it
        return render_error(err)


def _distinct_lines(count: int) -> List[str]:
    """Lines that never repeat: numbers and names change every time."""
    lines = []
    for i in range(count):
        lines.append([
            f"print /x {i}+{i % 7}*3",
            f"eject -f cd{i}",
            f"block_set_io_throttle hd{i} {i * 1000} 0 0 {i} 0 0",
            f"info block -v disk{i}",
            f"x /{i % 16 + 1}x {i * 4096:#x}",
            f"device_add e1000,id=nic{i},mac=52:54:00:12:{i // 256 % 256:02x}:{i % 256:02x}",
            f"cpu {i % 4}",
            f"info status {i}",
        ][i % 8])
    return lines


def _rate(lines: List[Tuple[str, Replies]], seconds: float) -> Tuple[float, int]:
    """Lines per CPU second over about ``seconds`` of repetitions of ``lines``."""
    state = SessionState()
    done = 0
    cpu0 = time.process_time()
    wall_end = time.monotonic() + seconds
    while time.monotonic() < wall_end:
        for line, exchanges in lines:
            run_line(line, exchanges, state)
        done += len(lines)
    return done / (time.process_time() - cpu0), done


def check_fixtures() -> Tuple[int, List[str]]:
    """Render every fixture line; how many there are, and those not giving QEMU's text."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    try:
        cases = _fixtures()
        wrong = [data["line"] for data in cases
                 if run_line(data["line"], data["exchanges"],
                             SessionState(cpu_index=int(data.get("cpu_index", 0))))
                 != data["expected"]]
        return len(cases), wrong
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def measure_parse_render(seconds: float) -> Dict[str, Any]:
    """Lines per CPU second for the fixture-and-action mix and for never-repeating lines."""
    checked, wrong = check_fixtures()
    mix = [(line, exchanges) for line, exchanges, _ in fixture_cases()]
    mix += [(line, []) for line in ACTION_LINES]
    for line, exchanges in mix:
        run_line(line, exchanges, SessionState())  # warm caches and the parser
    mix_rate, mix_done = _rate(mix, seconds)
    distinct = [(line, []) for line in _distinct_lines(max(2000, int(seconds * 40000)))]
    # each distinct line is run once
    state = SessionState()
    cpu0 = time.process_time()
    for line, exchanges in distinct:
        run_line(line, exchanges, state)
    distinct_rate = len(distinct) / (time.process_time() - cpu0)
    parse_only = _parse_rate([line for line, _ in mix], seconds / 2)
    return {"checked": checked, "wrong": wrong, "mix_lines": len(mix), "mix_rate": mix_rate,
            "mix_done": mix_done, "distinct_rate": distinct_rate,
            "distinct_done": len(distinct), "parse_rate": parse_only,
            "kinds": measure_kinds()}


def measure_kinds(per_kind: int = 2000, passes: int = 3) -> List[Tuple[str, float, float]]:
    """Per kind of never-repeating line: CPU us to parse it, and to parse, run and render it.

    The least of ``passes`` passes over ``per_kind`` lines, each pass with
    other lines (one more trailing blank), so that none is remembered.
    """
    lines = _distinct_lines(8 * per_kind)
    state = SessionState()
    found = []
    for kind in range(8):
        group = lines[kind::8]
        times = []
        for step in (_parse_quietly, lambda line: run_line(line, [], state)):
            best = float("inf")
            for n in range(passes):
                tail = " " * (n + 1)
                cpu0 = time.process_time()
                for line in group:
                    step(line + tail)
                best = min(best, (time.process_time() - cpu0) / len(group) * 1e6)
            times.append(best)
        found.append((group[0], times[0], times[1]))
    return found


def _parse_quietly(line: str) -> None:
    try:
        parse(line)
    except ParseError:
        pass


def _parse_rate(lines: List[str], seconds: float) -> float:
    done = 0
    cpu0 = time.process_time()
    wall_end = time.monotonic() + seconds
    while time.monotonic() < wall_end:
        for line in lines:
            try:
                parse(line)
            except ParseError:
                pass
        done += len(lines)
    return done / (time.process_time() - cpu0)


def report_parse_render(result: Dict[str, Any]) -> None:
    """Print the rates and check the 50,000 lines/s target."""
    wrong = result["wrong"]
    print(f"golden fixtures rendered as QEMU printed them: "
          f"{int(result['checked']) - len(wrong)} of {int(result['checked'])}"
          + (f" (differing: {', '.join(wrong)})" if wrong else ""))
    print(f"mix of {int(result['mix_lines'])} lines (golden fixtures + actions + errors): "
          f"{result['mix_rate']:,.0f} lines/s (parse alone {result['parse_rate']:,.0f} lines/s)")
    print(f"never-repeating lines ({int(result['distinct_done']):,}): "
          f"{result['distinct_rate']:,.0f} lines/s")
    kinds = result.get("kinds") or []
    if kinds:
        print("never-repeating lines by kind, CPU us per line (parse / parse+run+render):")
        for line, parse_us, total_us in kinds:
            print(f"  {line[:44]:44s} {parse_us:7.1f} / {total_us:7.1f}")
        print(f"  {'average':44s} {sum(k[1] for k in kinds) / len(kinds):7.1f} / "
              f"{sum(k[2] for k in kinds) / len(kinds):7.1f}")
    low = min(result["mix_rate"], result["distinct_rate"])
    TARGETS.append(Target("parse+render >= 50,000 lines/s on one core", low >= 50000,
                          f"{result['mix_rate']:,.0f} lines/s (mix), "
                          f"{result['distinct_rate']:,.0f} lines/s (never-repeating)"))
