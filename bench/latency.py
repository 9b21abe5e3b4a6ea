"""Part 1: latency of one command at a time, four ways to the same QEMU.

* ``info status`` through hmpbridge;
* ``query-status`` straight on a QMP socket of the same QEMU;
* ``info status`` on QEMU's own HMP monitor (TCP, ``nodelay=on``);
* ``human-monitor-command`` ``info status`` on the direct QMP socket;
* ``info status`` through the floor relay (:mod:`bench.floor`), the least
  a Twisted relay costs.

The methods take turns in rounds, so a change of load on the shared machine
touches all of them alike.
"""

from __future__ import annotations

from typing import Dict, List

from bench.clients import (HMP_PROMPT, connect_hmp, connect_qmp, hmc_request,
                           qmp_request)
from bench.procs import Rig
from bench.stats import TARGETS, Target, fmt_us, p50_p99

__all__ = ["measure_latency"]

METHODS = ("hmpbridge info status", "QMP query-status", "QEMU HMP info status",
           "QMP human-monitor-command", "floor relay info status")


async def measure_latency(rig: Rig, count: int, rounds: int = 10) -> Dict[str, List[int]]:
    """Send ``count`` commands per method, sequentially, in ``rounds`` turns."""
    bridge = await connect_hmp(rig.bridge_port)
    qmp = await connect_qmp(rig.direct_qmp)
    qemu_hmp = await connect_hmp(rig.hmp_port)
    floor = await connect_hmp(rig.floor_port)
    plan = [(bridge, b"info status\n"), (qmp, qmp_request("query-status")),
            (qemu_hmp, b"info status\n"), (qmp, hmc_request("info status")),
            (floor, b"info status\n")]
    # each method answers the right thing before it is timed
    status = b"VM status: paused (prelaunch)\r\n" + HMP_PROMPT
    checks = (status, b'"status": "prelaunch"', status, b"VM status: paused (prelaunch)", status)
    for (conv, request), expected in zip(plan, checks):
        seen: List[bytes] = []
        conv.on_answer = seen.append
        await conv.run(request, count=1)
        conv.on_answer = None
        if expected not in seen[0]:
            raise RuntimeError(f"unexpected answer to {request!r}: {seen[0]!r}")
        await conv.run(request, count=200)  # warm-up
    results: Dict[str, List[int]] = {name: [] for name in METHODS}
    per_round = max(1, count // rounds)
    for _ in range(rounds):
        for name, (conv, request) in zip(METHODS, plan):
            conv.latencies = []
            await conv.run(request, count=per_round)
            results[name] += conv.latencies
    for conv in (bridge, qmp, qemu_hmp, floor):
        conv.close()
    return results


def report_latency(results: Dict[str, List[int]]) -> None:
    """Print p50/p99 per method and the ratio against direct QMP; check the target."""
    base, _ = p50_p99(results["QMP query-status"])
    print(f"{'method':32s} {'n':>6s} {'p50':>10s} {'p99':>10s} {'p50/QMP':>8s}")
    for name, values in results.items():
        p50, p99 = p50_p99(values)
        print(f"{name:32s} {len(values):6d} {fmt_us(p50):>10s} {fmt_us(p99):>10s} "
              f"{p50 / base:8.2f}")
    bridge, _ = p50_p99(results["hmpbridge info status"])
    ratio = bridge / base
    TARGETS.append(Target("latency p50 hmpbridge <= 1.3 x direct QMP", ratio <= 1.3,
                          f"{ratio:.2f} x ({fmt_us(bridge)} vs {fmt_us(base)})"))
