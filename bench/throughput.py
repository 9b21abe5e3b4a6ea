"""Part 2: many sessions sending ``info status`` back-to-back, against QEMU's ceiling.

Sessions run in client worker processes (``--client-procs``), each an asyncio
loop with its share of the sessions.  Every worker reports the CPU time it
used, so the output says whether the clients or the bridge were the limit.
QEMU's ceiling is ``query-status`` pipelined on a direct QMP socket: the
most commands per second QEMU's monitor answers at all.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from array import array
from typing import Dict, List, Tuple

from bench.clients import QMPPipeline, connect_hmp, connect_qmp, qmp_request
from bench.procs import Rig, cpu_seconds, machine_busy_seconds, raise_nofile
from bench.stats import TARGETS, Target, fmt_us, p50_p99

__all__ = ["measure_ceiling", "measure_sessions", "report_throughput"]

REQUEST = b"info status\n"


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _connect_all(port: int, count: int, batch: int = 40) -> list:
    sessions = []
    for start in range(0, count, batch):
        sessions += await asyncio.gather(*(connect_hmp(port)
                                           for _ in range(min(batch, count - start))))
    return sessions


async def _worker_main(conn, port: int, count: int, duration: float, warmup: float) -> None:
    sessions = await _connect_all(port, count)
    conn.send("ready")
    start_wall = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    offset = time.perf_counter_ns() - time.time_ns()
    begin = start_wall + offset
    window_start = begin + int(warmup * 1e9)
    deadline = begin + int(duration * 1e9)
    await asyncio.sleep(max(0.0, (begin - time.perf_counter_ns()) / 1e9))
    cpu0 = _cpu_self()
    await asyncio.gather(*(s.run(REQUEST, deadline_ns=deadline) for s in sessions))
    cpu = _cpu_self() - cpu0
    per_session = []
    for s in sessions:
        kept = array("q", (lat for lat, end in zip(s.latencies, s.finish_times)
                           if window_start <= end <= deadline))
        per_session.append(kept.tobytes())
        s.close()
    conn.send((cpu, per_session))


def _worker(conn, port: int, count: int, duration: float, warmup: float) -> None:
    raise_nofile()
    asyncio.run(_worker_main(conn, port, count, duration, warmup))


def measure_sessions(rig: Rig, sessions: int, procs: int, duration: float,
                     warmup: float, floor: bool = False) -> Dict[str, object]:
    """Run ``sessions`` concurrent sessions for ``duration`` s (the first ``warmup`` s unmeasured).

    :param floor: talk to the floor relay instead of hmpbridge.
    """
    server = rig.floor if floor else rig.bridge
    port = rig.floor_port if floor else rig.bridge_port
    ctx = multiprocessing.get_context("spawn")
    procs = max(1, min(procs, sessions))
    shares = [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]
    workers: List[Tuple[object, object]] = []
    for share in shares:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, port, share, duration, warmup))
        proc.start()
        workers.append((proc, parent))
    for _, pipe in workers:
        if pipe.recv() != "ready":
            raise RuntimeError("client worker failed")
    start = time.time_ns() + 200_000_000
    for _, pipe in workers:
        pipe.send(start)
    time.sleep(max(0.0, (start - time.time_ns()) / 1e9 + warmup))
    bridge0, qemu0, t0 = cpu_seconds(server.pid), cpu_seconds(rig.qemu.pid), time.monotonic()
    busy0 = machine_busy_seconds()
    time.sleep(max(0.0, (start - time.time_ns()) / 1e9 + duration))
    bridge1, qemu1, t1 = cpu_seconds(server.pid), cpu_seconds(rig.qemu.pid), time.monotonic()
    busy1 = machine_busy_seconds()
    client_cpu = 0.0
    latencies: List[List[int]] = []
    for proc, pipe in workers:
        cpu, per_session = pipe.recv()
        client_cpu += cpu
        for raw in per_session:
            values = array("q")
            values.frombytes(raw)
            latencies.append(list(values))
        proc.join()
    window = duration - warmup
    total = sum(len(v) for v in latencies)
    bridge_cpu, qemu_cpu = (bridge1 - bridge0) / (t1 - t0), (qemu1 - qemu0) / (t1 - t0)
    client = client_cpu / duration
    return {"sessions": sessions, "procs": procs, "rate": total / window, "floor": floor,
            "latencies": latencies, "client_cpu": client, "bridge_cpu": bridge_cpu,
            "qemu_cpu": qemu_cpu,
            "other_cpu": max(0.0, (busy1 - busy0) / (t1 - t0) - bridge_cpu - qemu_cpu - client)}


async def measure_ceiling(rig: Rig, duration: float, window: int = 64) -> Dict[str, float]:
    """QEMU's own ceiling: ``query-status`` pipelined on the direct QMP socket.

    Out-of-band is negotiated, as the bridge does: QEMU then reads the
    socket in its monitor I/O thread and queues up to 8 commands, which
    answers more commands per second than one at a time.
    """
    conv = await connect_qmp(rig.direct_qmp, oob=True)
    pipe = QMPPipeline(qmp_request("query-status"), window)
    conv.transport.set_protocol(pipe)
    pipe.connection_made(conv.transport)
    deadline = time.perf_counter_ns() + int(duration * 1e9)
    qemu0, cpu0, t0 = cpu_seconds(rig.qemu.pid), _cpu_self(), time.monotonic()
    pipe.start(deadline)
    await pipe.done
    elapsed = time.monotonic() - t0
    qemu1, cpu1 = cpu_seconds(rig.qemu.pid), _cpu_self()
    # let QEMU answer what is still in flight before the socket is reused
    await asyncio.sleep(0.2)
    conv.transport.close()
    return {"rate": pipe.answered / elapsed, "qemu_cpu": (qemu1 - qemu0) / elapsed,
            "client_cpu": (cpu1 - cpu0) / elapsed}


def report_throughput(runs: List[Dict[str, object]]) -> None:
    """Print one line per session count and check the 100-session targets.

    Each run carries the ceiling measured just before it (``ceiling``), so a
    change of load on the machine between runs does not skew the ratio.
    """
    print("ceiling: query-status pipelined (64 in flight, OOB negotiated) on the direct QMP "
          "socket, measured just before each run; CPU columns: share of one core during the "
          "run (other = the rest of the machine); F = the floor relay instead of hmpbridge")
    print(f"{'sessions':>8s} {'procs':>5s} {'cmds/s':>9s} {'ceiling':>9s} {'of ceil':>7s} "
          f"{'p50':>10s} {'p99':>10s} {'p99/p50':>7s} {'bridge':>6s} {'QEMU':>5s} "
          f"{'client':>6s} {'other':>5s}")
    for run in runs:
        top = run["ceiling"]["rate"]  # type: ignore[index]
        sessions: List[List[int]] = run["latencies"]  # type: ignore[assignment]
        every = [v for s in sessions for v in s]
        p50, p99 = p50_p99(every)
        ratios = [p50_p99(s)[1] / p50_p99(s)[0] for s in sessions if s]
        worst = max(ratios) if ratios else float("nan")
        rate: float = run["rate"]  # type: ignore[assignment]
        label = f"{run['sessions']}{'F' if run.get('floor') else ''}"
        print(f"{label:>8s} {run['procs']:5d} {rate:9,.0f} {top:9,.0f} {rate / top:7.0%} "
              f"{fmt_us(p50):>10s} {fmt_us(p99):>10s} {worst:7.1f} {run['bridge_cpu']:6.0%} "
              f"{run['qemu_cpu']:5.0%} {run['client_cpu']:6.0%} {run['other_cpu']:5.0%}")
        if run["sessions"] == 100 and not run.get("floor"):
            TARGETS.append(Target("100 sessions >= 90 % of the pipelined QMP ceiling",
                                  rate >= 0.9 * top, f"{rate / top:.0%} ({rate:,.0f} of "
                                  f"{top:,.0f} commands/s)"))
            TARGETS.append(Target("100 sessions: no session's p99 > 10 x its own p50", worst <= 10,
                                  f"worst p99/p50 {worst:.1f} (all sessions: p50 "
                                  f"{fmt_us(p50)}, p99 {fmt_us(p99)})"))
