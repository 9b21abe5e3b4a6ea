"""Part 3: the bridge's memory with many idle sessions connected.

Both this process and the bridge get their open-file limit raised to the
hard limit.  When that is below the number of sessions asked for, the most
that fit are measured and the 10,000-session figure is extrapolated from the
bytes per session (and labelled so).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

from bench.clients import connect_hmp
from bench.procs import Rig, raise_nofile, rss_bytes
from bench.stats import TARGETS, Target, fmt_us

__all__ = ["measure_idle", "report_idle"]

#: descriptors kept free for everything else the processes have open
_SPARE_FDS = 200


async def measure_idle(rig: Rig, wanted: int, batch: int = 40) -> Dict[str, Any]:
    """Connect up to ``wanted`` idle sessions; RSS of the bridge before and with them.

    Connections are opened ``batch`` at a time, fewer than the listen backlog
    (50, Twisted's default): past it the kernel drops connection requests and
    the client only retries after a second or more.
    """
    soft, _ = raise_nofile()
    count = min(wanted, soft - _SPARE_FDS)
    await asyncio.sleep(0.5)
    before = rss_bytes(rig.bridge.pid)
    sessions = []
    failures: List[str] = []
    t0 = time.monotonic()
    for start in range(0, count, batch):
        done = await asyncio.wait_for(asyncio.gather(
            *(connect_hmp(rig.bridge_port) for _ in range(min(batch, count - start))),
            return_exceptions=True), 60)
        sessions += [s for s in done if not isinstance(s, BaseException)]
        failures += [repr(s) for s in done if isinstance(s, BaseException)]
    connect_time = time.monotonic() - t0
    count = len(sessions)
    await asyncio.sleep(1.0)
    with_sessions = rss_bytes(rig.bridge.pid)
    # the bridge still answers promptly with all of them connected
    probe = await connect_hmp(rig.bridge_port)
    await probe.run(b"info status\n", count=200)
    probe_p50 = sorted(probe.latencies)[len(probe.latencies) // 2]
    probe.close()
    for s in sessions:
        s.close()
    await asyncio.sleep(1.0)
    after = rss_bytes(rig.bridge.pid)
    return {"wanted": wanted, "count": count, "failures": failures, "before": before, "with": with_sessions,
            "after": after, "connect_time": connect_time, "probe_p50": probe_p50}


def report_idle(result: Dict[str, Any]) -> None:
    """Print the memory figures and check the 10,000-session target."""
    count, wanted = int(result["count"]), int(result["wanted"])
    per = (result["with"] - result["before"]) / max(1, count)
    mib = 1024 * 1024
    print(f"bridge RSS before: {result['before'] / mib:.1f} MiB; with {count:,} idle sessions: "
          f"{result['with'] / mib:.1f} MiB; after they left: {result['after'] / mib:.1f} MiB")
    print(f"per session: {per:,.0f} bytes; {count:,} sessions connected in "
          f"{result['connect_time']:.1f} s; info status p50 with them connected: "
          f"{fmt_us(result['probe_p50'])}")
    if result["failures"]:
        print(f"{len(result['failures'])} connections closed before the banner, "
              f"e.g. {result['failures'][0]}")
    total = result["with"]
    label = f"{total / mib:.1f} MiB measured"
    if count < wanted:
        total = result["before"] + per * wanted
        label = (f"{total / mib:.1f} MiB EXTRAPOLATED from {count:,} sessions "
                 f"(open-file hard limit)")
    TARGETS.append(Target(f"{wanted:,} idle sessions <= 200 MB RSS", total <= 200e6,
                          f"{label}, {per:,.0f} bytes/session"))
