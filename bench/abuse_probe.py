"""The probe of :mod:`bench.abuse`: an operator's HMP session timed while an attack runs.

``python -m bench.abuse_probe`` reads one JSON line on stdin (``port``,
``user``, ``password``, ``pid`` of the bridge, ``grace`` in seconds), logs in,
prints ``{"ready": true}``, then sends ``info status`` every 20 ms, timing
each answer, and samples the bridge's ``VmRSS`` and open descriptors
(``/proc/PID/fd``) every 100 ms.  On a line on stdin it stops sending, waits
up to ``grace`` seconds for the answers still owed, and prints its result
(see :class:`ProbeResult`) as one JSON line.

It runs in a process of its own so that the attacking clients, which block
and stream, do not delay its timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from bench.abuse_clients import PROMPT
from bench.stats import percentile

__all__ = ["ProbeResult", "latency_summary", "split_answers", "classify_answer",
           "PROBE_INTERVAL", "SAMPLE_INTERVAL"]

#: How often the probe sends ``info status``, and samples the bridge (seconds).
PROBE_INTERVAL = 0.020
SAMPLE_INTERVAL = 0.100
#: Seconds the probe has to log in (the parent waits longer for it to be ready).
LOGIN_TIMEOUT = 10.0


def latency_summary(latencies_ns: Sequence[int]) -> Dict[str, float]:
    """Count, p50, p99 and max of ``latencies_ns``, the times in milliseconds (NaN if none)."""
    ms = [v / 1e6 for v in latencies_ns]
    return {"n": float(len(ms)), "p50": percentile(ms, 0.50), "p99": percentile(ms, 0.99),
            "max": max(ms) if ms else float("nan")}


def split_answers(buffer: bytes) -> Tuple[List[bytes], bytes]:
    """The complete answers in ``buffer`` (each up to and without its prompt), and the rest."""
    parts = buffer.split(PROMPT)
    return parts[:-1], parts[-1]


def classify_answer(answer: bytes) -> str:
    """``ok`` (a VM status), ``notice`` (only ``hmpbridge:`` notices) or ``failed``."""
    if b"VM status: " in answer:
        return "ok"
    lines = [line for line in answer.replace(b"\r", b"").split(b"\n") if line.strip()]
    if lines and all(line.startswith(b"hmpbridge: ") for line in lines):
        return "notice"
    return "failed"


@dataclass
class ProbeResult:
    """What the probe process saw during one attack."""

    latencies_ns: List[int] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    failed_examples: List[str] = field(default_factory=list)
    unanswered: int = 0
    notices: int = 0
    lost: Optional[str] = None
    rss_start: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    fds_start: int = 0
    fds_peak: int = 0
    fds_end: int = 0
    bridge_gone: bool = False
    error: Optional[str] = None

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "ProbeResult":
        """Build from the probe process's JSON line (unknown keys are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _bridge_sample(pid: int) -> Optional[Tuple[int, int]]:
    """(VmRSS in bytes, open descriptors) of ``pid``, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


async def _login(config: Dict[str, Any]) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A session on ``config["port"]`` logged in, its banner and first prompt read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", config["port"])
    for prompt, answer in ((b"login: ", config["user"]), (b"Password: ", config["password"])):
        await reader.readuntil(prompt)
        writer.write(answer.encode() + b"\n")
    await reader.readuntil(PROMPT)
    return reader, writer


async def _probe(config: Dict[str, Any], said: Dict[str, bool]) -> Dict[str, Any]:
    """Log in, say ready, then probe and sample the bridge until told to stop."""
    loop = asyncio.get_running_loop()
    result: Dict[str, Any] = {"latencies_ns": [], "sent": 0, "failed": 0, "failed_examples": [],
                              "unanswered": 0, "notices": 0, "lost": None}
    try:
        reader, writer = await asyncio.wait_for(_login(config), LOGIN_TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError(f"not logged in within {LOGIN_TIMEOUT:g} s") from None

    pid = config["pid"]
    first = _bridge_sample(pid) or (0, 0)
    samples = {"rss_start": first[0], "rss_peak": first[0], "rss_end": first[0],
               "fds_start": first[1], "fds_peak": first[1], "fds_end": first[1],
               "bridge_gone": False}
    stopping = asyncio.Event()

    def told_to_stop() -> None:
        loop.remove_reader(sys.stdin.fileno())  # the line stays unread: no more wake-ups
        stopping.set()

    loop.add_reader(sys.stdin.fileno(), told_to_stop)
    sent_at: Deque[int] = deque()

    async def sample() -> None:
        while not samples["bridge_gone"]:
            got = _bridge_sample(pid)
            if got is None:
                samples["bridge_gone"] = True
                break
            samples["rss_end"], samples["fds_end"] = got
            samples["rss_peak"] = max(samples["rss_peak"], got[0])
            samples["fds_peak"] = max(samples["fds_peak"], got[1])
            await asyncio.sleep(SAMPLE_INTERVAL)

    async def read() -> None:
        buf = b""
        while True:
            chunk = await reader.read(65536)
            now = time.perf_counter_ns()
            if not chunk:
                result["lost"] = "closed by the bridge"
                return
            answers, buf = split_answers(buf + chunk)
            for answer in answers:
                kind = classify_answer(answer)
                if kind == "notice":
                    result["notices"] += 1
                    continue
                if not sent_at:
                    result["failed"] += 1
                    if len(result["failed_examples"]) < 3:
                        result["failed_examples"].append(f"unasked: {answer[:100]!r}")
                    continue
                result["latencies_ns"].append(now - sent_at.popleft())
                if kind == "failed":
                    result["failed"] += 1
                    if len(result["failed_examples"]) < 3:
                        result["failed_examples"].append(repr(answer[:100]))

    print(json.dumps({"ready": True}), flush=True)
    said["ready"] = True
    sampler = asyncio.ensure_future(sample())
    reading = asyncio.ensure_future(read())
    tick = loop.time()
    while not stopping.is_set() and not reading.done():
        sent_at.append(time.perf_counter_ns())
        writer.write(b"info status\n")
        result["sent"] += 1
        tick += PROBE_INTERVAL
        if tick < loop.time():  # fell behind (this process was not scheduled): no burst
            tick = loop.time() + PROBE_INTERVAL
        try:
            await asyncio.wait_for(stopping.wait(), max(0.0, tick - loop.time()))
        except asyncio.TimeoutError:
            pass
    grace_end = loop.time() + config["grace"]
    while sent_at and not reading.done() and loop.time() < grace_end:
        await asyncio.sleep(0.01)
    result["unanswered"] = len(sent_at)
    reading.cancel()
    await asyncio.sleep(SAMPLE_INTERVAL)
    sampler.cancel()
    writer.close()
    result.update(samples)
    return result


def main() -> None:
    """Run the probe as configured by the first line of stdin; print its result."""
    config = json.loads(sys.stdin.readline())
    said = {"ready": False}
    try:
        result = asyncio.run(_probe(config, said))
    except Exception as err:  # reported, not raised: the benchmark prints it as a MISS
        result = {"error": f"{type(err).__name__}: {err}"}
        if not said["ready"]:
            print(json.dumps({"ready": False}), flush=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
