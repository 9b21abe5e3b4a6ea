"""Part 5: time from launching hmpbridge to its banner on a connected client.

Each trial starts a new ``hmpbridge`` on QEMU's spare QMP socket and polls
its port every 2 ms; the time to the banner includes the interpreter's
start, the imports, connecting to QEMU, negotiating and reading the QMP
schema.  The time to the first answer (``info status``) is shown beside it,
since the grammar is loaded on the first line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Dict, List

from bench.procs import REPO, Rig, bridge_env, free_port, read_prompt, start_bridge, stop
from bench.stats import TARGETS, Target, percentile

__all__ = ["measure_startup", "report_startup"]


def _trial(rig: Rig) -> Dict[str, float]:
    port = free_port()
    t0 = time.perf_counter()
    proc = start_bridge(rig.spare_qmp, port, rig.log)
    try:
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except ConnectionRefusedError:
                if proc.poll() is not None or time.perf_counter() - t0 > 20:
                    raise RuntimeError("hmpbridge did not start (see the log)")
                time.sleep(0.002)
        with sock:
            read_prompt(sock)
            banner = time.perf_counter() - t0
            sock.sendall(b"info status\n")
            read_prompt(sock)
            first = time.perf_counter() - t0
    finally:
        stop(proc)
    return {"banner": banner, "first": first}


def _import_time() -> float:
    """Seconds ``import hmpbridge.cli`` adds to a bare interpreter start."""
    def run(code: str) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=bridge_env(), cwd=REPO)
            best = min(best, time.perf_counter() - t0)
        return best
    return run("import hmpbridge.cli") - run("pass")


def measure_startup(rig: Rig, trials: int) -> Dict[str, List[float]]:
    """Start the bridge ``trials`` times; banner and first-answer times."""
    results: Dict[str, List[float]] = {"banner": [], "first": []}
    for _ in range(trials):
        trial = _trial(rig)
        for key, value in trial.items():
            results[key].append(value)
        time.sleep(0.1)  # QEMU takes the next client on that socket
    results["import"] = [_import_time()]
    return results


def report_startup(results: Dict[str, List[float]]) -> None:
    """Print start-up times and check the 0.5 s target on the median."""
    banner = percentile(results["banner"], 0.5)
    first = percentile(results["first"], 0.5)
    print(f"launch to banner: median {banner * 1000:.0f} ms "
          f"(min {min(results['banner']) * 1000:.0f}, max {max(results['banner']) * 1000:.0f}, "
          f"{len(results['banner'])} trials); to the first answer: median {first * 1000:.0f} ms")
    print(f"of which importing hmpbridge.cli: {results['import'][0] * 1000:.0f} ms "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    TARGETS.append(Target("start-up to banner <= 0.5 s", banner <= 0.5,
                          f"median {banner * 1000:.0f} ms"))
