"""Part 1: latency of one command at a time, many ways to the same QEMU.

* ``info status`` through hmpbridge;
* ``query-status`` straight on a QMP socket of the same QEMU;
* ``info status`` on QEMU's own HMP monitor (TCP, ``nodelay=on``);
* ``human-monitor-command`` ``info status`` on the direct QMP socket;
* ``info status`` through the floor relay (:mod:`bench.floor`), the least
  a Twisted HMP-to-QMP relay costs;
* ``query-status`` through each relay of :mod:`bench.relays` (socat,
  asyncio, asyncio on uvloop, Twisted), each on a QMP socket of its own:
  what one more hop costs, in C and in Python, timed as direct QMP is.

The methods take turns in rounds, so a change of load on the shared machine
touches all of them alike.  Each is printed with its p50 relative to direct
QMP and to the fastest hop of the run.
"""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional, Tuple

from bench.clients import (HMP_PROMPT, Conversation, connect_hmp, connect_qmp, hmc_request,
                           qmp_request)
from bench.procs import Rig, bridge_env, REPO
from bench.relays import RELAYS, RelaySet
from bench.stats import TARGETS, Target, fmt_us, p50_p99

__all__ = ["measure_latency", "report_latency", "relay_method", "ratios"]

BRIDGE = "hmpbridge info status"
DIRECT = "QMP query-status"
FLOOR = "floor relay info status"
METHODS = (BRIDGE, DIRECT, "QEMU HMP info status", "QMP human-monitor-command", FLOOR)
#: What each relay's line is called.
RELAY_LABELS = {"socat": "socat relay", "asyncio": "asyncio relay",
                "uvloop": "asyncio+uvloop relay", "twisted": "Twisted relay"}


def relay_method(kind: str) -> str:
    """The method name of ``query-status`` through relay ``kind``."""
    return f"{RELAY_LABELS[kind]} query-status"


#: Methods that are not a hop to QEMU (they go through QEMU's own HMP code).
_NOT_HOPS = ("QEMU HMP info status", "QMP human-monitor-command")


async def _connect_qmp_tcp(port: int) -> Conversation:
    """A QMP connection through a relay on 127.0.0.1:``port``, capabilities negotiated."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: Conversation(b"\n", 2, qmp_request("qmp_capabilities")), "127.0.0.1", port)
    await proto.ready
    return proto


async def measure_latency(rig: Rig, count: int, rounds: int = 10,
                          relays: Optional[RelaySet] = None) -> Dict[str, List[int]]:
    """Send ``count`` commands per method, sequentially, in ``rounds`` turns.

    :param relays: the relays to time as well; when None, every relay of
        :mod:`bench.relays` that can run here is started on the rig's relay
        sockets for this part and stopped after it.
    """
    own = relays is None
    if relays is None:
        relays = RelaySet.start(rig.relay_qmp, RELAYS, rig.log, bridge_env(), REPO)
    try:
        return await _measure(rig, count, rounds, relays)
    finally:
        if own:
            relays.stop()


async def _measure(rig: Rig, count: int, rounds: int,
                   relays: RelaySet) -> Dict[str, List[int]]:
    bridge = await connect_hmp(rig.bridge_port)
    qmp = await connect_qmp(rig.direct_qmp)
    qemu_hmp = await connect_hmp(rig.hmp_port)
    floor = await connect_hmp(rig.floor_port)
    # each method answers the right thing before it is timed
    status = b"VM status: paused (prelaunch)\r\n" + HMP_PROMPT
    qmp_status = b'"status": "prelaunch"'
    plan: List[Tuple[str, Conversation, bytes, bytes]] = [
        (BRIDGE, bridge, b"info status\n", status),
        (DIRECT, qmp, qmp_request("query-status"), qmp_status),
        ("QEMU HMP info status", qemu_hmp, b"info status\n", status),
        ("QMP human-monitor-command", qmp, hmc_request("info status"),
         b"VM status: paused (prelaunch)"),
        (FLOOR, floor, b"info status\n", status)]
    for kind, relay in relays.relays.items():
        conv = await _connect_qmp_tcp(relay.port)
        plan.append((relay_method(kind), conv, qmp_request("query-status"), qmp_status))
    for name, conv, request, expected in plan:
        seen: List[bytes] = []
        conv.on_answer = seen.append
        await conv.run(request, count=1)
        conv.on_answer = None
        if expected not in seen[0]:
            raise RuntimeError(f"{name}: unexpected answer to {request!r}: {seen[0]!r}")
        await conv.run(request, count=200)  # warm-up
    results: Dict[str, List[int]] = {name: [] for name, *_ in plan}
    per_round = max(1, count // rounds)
    for _ in range(rounds):
        for name, conv, request, _expected in plan:
            conv.latencies = []
            await conv.run(request, count=per_round)
            results[name] += conv.latencies
    for conv in {id(c): c for _, c, _, _ in plan}.values():
        conv.close()
    for kind, why in relays.skipped.items():
        print(f"{RELAY_LABELS[kind]}: left out: {why}")
    return results


def ratios(results: Dict[str, List[int]]) -> Dict[str, Tuple[float, float, float, float]]:
    """Per method: p50, p99, p50 / direct QMP, p50 / the fastest hop's p50.

    The hops are direct QMP, the relays, the floor relay and hmpbridge (not
    QEMU's own HMP paths, which are other code in QEMU).
    """
    p50s = {name: p50_p99(values) for name, values in results.items()}
    base = p50s[DIRECT][0]
    best = min(p50 for name, (p50, _) in p50s.items() if name not in _NOT_HOPS)
    return {name: (p50, p99, p50 / base, p50 / best) for name, (p50, p99) in p50s.items()}


def report_latency(results: Dict[str, List[int]]) -> None:
    """Print p50/p99 per method and the ratios to direct QMP and to the best hop;
    check the targets."""
    table = ratios(results)
    print(f"{'method':38s} {'n':>6s} {'p50':>10s} {'p99':>10s} {'p50/QMP':>8s} {'p50/best':>8s}")
    for name, (p50, p99, to_qmp, to_best) in table.items():
        print(f"{name:38s} {len(results[name]):6d} {fmt_us(p50):>10s} {fmt_us(p99):>10s} "
              f"{to_qmp:8.2f} {to_best:8.2f}")
    bridge, _, ratio, _ = table[BRIDGE]
    base = table[DIRECT][0]
    TARGETS.append(Target("latency p50 hmpbridge <= 1.3 x direct QMP", ratio <= 1.3,
                          f"{ratio:.2f} x ({fmt_us(bridge)} vs {fmt_us(base)})"))
    socat = relay_method("socat")
    if socat in table:
        to_socat = bridge / table[socat][0]
        TARGETS.append(Target("latency p50 hmpbridge <= 1.1 x the socat relay", to_socat <= 1.1,
                              f"{to_socat:.2f} x ({fmt_us(bridge)} vs "
                              f"{fmt_us(table[socat][0])})"))
