"""Part ``vms``: many VMs in one hmpbridge (``--qmp-dir`` with ``--listen-each``).

For each count of fake VMs (:mod:`bench.fake_qemus`: the project's QEMU fake
behind one real unix socket per VM, answering ``query-qmp-schema`` with QEMU
7.2.22's recorded reply, as a real QEMU's bridge would hold it) a fresh
bridge serves the directory with one plain HMP listener per VM, and the part
measures:

* the bridge's RSS once every VM's listener is there, and the RSS per VM
  beyond the first (against the one-VM run);
* how long a new VM takes to be served: from the moment its QMP socket is
  bound (the fake's ``time.monotonic_ns()``, the machine's clock) to the
  answer of ``info name`` with its name on its new listener, p50 of 20;
* ``info status`` p50 through one VM's listener, in rounds alternating with
  the one-VM bridge (kept up for this);
* 1,000 sessions spread over 100 VMs, all connected, each sending ``info
  name`` at once; an answer naming another VM is a crossing.

The RSS of the largest count is also measured with the fake's own few
schema entries, to show what the schema costs.  With ``--real`` the same is
measured with 20 paused QEMUs (the system's ``qemu-system-x86_64``) in the
directory, the first one alone at first.
Every listener runs QEMU's readline: the answer is what follows the echo's
``\\r\\n``, up to the prompt.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bench.clients import HMP_PROMPT, Conversation
from bench.procs import (QEMU, REPO, VENV_BIN, child_setup, bridge_env, raise_nofile,
                         rss_bytes, stop)
from bench.stats import TARGETS, Target, fmt_us, percentile

__all__ = ["measure_vms", "report_vms", "FakeVMs", "COUNTS"]

#: Fake VM counts measured, smallest first (the first is the baseline).
COUNTS = (1, 100, 1000)
#: New sockets timed per count.
APPEAR_TRIES = 20
#: Sequential ``info status`` commands timed through one listener, in rounds
#: alternating with the one-VM bridge.
STATUS_COUNT, STATUS_ROUNDS = 2000, 5
#: The ``query-qmp-schema`` reply the fake VMs give: QEMU 7.2.22's, recorded.
RECORDED_SCHEMA = os.path.join(REPO, "tests", "fixtures", "releases", "7.2", "schema.json")
#: Sessions of the crossing check, and over how many VMs.
SESSIONS, SESSION_VMS = 1000, 100
#: Real QEMUs with ``--real``.
REAL_VMS = 20

_MIB = 1024 * 1024


class FakeVMs:
    """A :mod:`bench.fake_qemus` process serving ``count`` fake VMs in ``directory``."""

    def __init__(self, directory: str, count: int, log: str,
                 schema: Optional[str] = None) -> None:
        options = ["--schema", schema] if schema is not None else []
        with open(log, "ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_qemus", *options, directory, str(count)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf, env=bridge_env(),
                cwd=REPO, preexec_fn=child_setup)
        self._expect(f"ready {count}")

    def _expect(self, head: str) -> List[str]:
        line = self.proc.stdout.readline().decode()
        if not line.startswith(head):
            raise RuntimeError(f"fake QEMUs: expected {head!r}, got {line!r}")
        return line.split()

    def add(self, name: str) -> int:
        """Add VM ``name``; the monotonic time (ns) its socket was bound."""
        self.proc.stdin.write(f"add {name}\n".encode())
        self.proc.stdin.flush()
        return int(self._expect(f"added {name}")[2])

    def remove(self, name: str) -> None:
        """Remove VM ``name`` (its socket file goes, its connections drop)."""
        self.proc.stdin.write(f"remove {name}\n".encode())
        self.proc.stdin.flush()
        self._expect(f"removed {name}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_fleet_bridge(qmp_dir: str, hmp_dir: str, log: str) -> subprocess.Popen:
    """hmpbridge serving ``qmp_dir``, one plain HMP listener per VM in ``hmp_dir``."""
    args = [os.path.join(VENV_BIN, "hmpbridge"), "--qmp-dir", qmp_dir,
            "--listen-each", f"plain:unix:{hmp_dir}/{{vm}}.hmp", "--log-level", "warn"]
    with open(log, "ab") as logf:
        return subprocess.Popen(args, stdout=logf, stderr=logf, env=bridge_env(), cwd=REPO,
                                preexec_fn=child_setup)


def listeners(hmp_dir: str) -> int:
    """How many per-VM listener sockets are in ``hmp_dir``."""
    return sum(1 for name in os.listdir(hmp_dir) if name.endswith(".hmp"))


def wait_listeners(hmp_dir: str, count: int, proc: subprocess.Popen,
                   timeout: float = 120.0) -> float:
    """Wait until ``hmp_dir`` holds ``count`` listeners; the seconds it took."""
    t0 = time.monotonic()
    while listeners(hmp_dir) < count:
        if proc.poll() is not None:
            raise RuntimeError(f"the bridge exited with status {proc.returncode}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {listeners(hmp_dir)} of {count} listeners "
                               f"after {timeout:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def _read_prompt(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(HMP_PROMPT):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed; got {data[-200:]!r}")
        data += chunk
    return data


def answer_of(data: bytes) -> bytes:
    """The answer in what a listener sent after a line: past the echo, before the prompt."""
    _, _, rest = data.partition(b"\r\n")
    return rest[:-len(HMP_PROMPT)] if rest.endswith(HMP_PROMPT) else rest


def served_after(path: str, name: str, timeout: float = 10.0) -> int:
    """Poll ``path`` every millisecond until it answers ``info name`` with ``name``.

    :returns: the monotonic time (ns) the right answer arrived.
    """
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            _read_prompt(sock)
            sock.sendall(b"info name\n")
            got = answer_of(_read_prompt(sock))
            done = time.monotonic_ns()
            if got != name.encode() + b"\r\n":
                raise RuntimeError(f"{path}: info name answered {got!r}")
            return done
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} not served within {timeout:.0f} s")
            time.sleep(0.001)
        finally:
            sock.close()


def wait_gone(path: str, timeout: float = 10.0) -> None:
    """Wait until the file ``path`` is removed."""
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} still there after {timeout:.0f} s")
        time.sleep(0.002)


async def _unix_session(path: str) -> Conversation:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_unix_connection(lambda: Conversation(HMP_PROMPT), path)
    await proto.ready
    return proto


async def status_p50(path: str, count: int = STATUS_COUNT) -> float:
    """``info status`` p50 (ns) of ``count`` sequential commands on one session of ``path``."""
    session = await _unix_session(path)
    try:
        await session.run(b"info status\n", count=100)  # warm-up
        session.latencies.clear()
        await session.run(b"info status\n", count=count)
        return percentile(session.latencies, 0.5)
    finally:
        session.close()


async def crossing_check(hmp_dir: str, vms: Sequence[str], sessions: int) -> Dict[str, Any]:
    """``sessions`` sessions spread over ``vms``, each sending ``info name`` at once.

    :returns: counts of sessions connected, answered with their own VM's name,
        answered with another VM's name (crossings), and otherwise.
    """
    names = [vms[i % len(vms)] for i in range(sessions)]
    conversations: List[Optional[Conversation]] = []
    failures: List[str] = []
    for start in range(0, sessions, 200):
        batch = names[start:start + 200]
        done = await asyncio.gather(
            *(_unix_session(os.path.join(hmp_dir, n + ".hmp")) for n in batch),
            return_exceptions=True)
        for got in done:
            if isinstance(got, BaseException):
                failures.append(repr(got))
                conversations.append(None)
            else:
                conversations.append(got)
    answers: List[Optional[bytes]] = [None] * sessions
    waits = []
    for index, conv in enumerate(conversations):
        if conv is None:
            continue
        conv.on_answer = lambda data, i=index: answers.__setitem__(i, answer_of(data))
        waits.append(conv.run(b"info name\n", count=1))
    t0 = time.monotonic()
    done = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 120)
    elapsed = time.monotonic() - t0
    failures += [repr(d) for d in done if isinstance(d, BaseException)]
    for conv in conversations:
        if conv is not None:
            conv.close()
    known = {n.encode() + b"\r\n" for n in vms}
    own = sum(1 for n, a in zip(names, answers) if a == n.encode() + b"\r\n")
    crossed = sum(1 for n, a in zip(names, answers)
                  if a is not None and a in known and a != n.encode() + b"\r\n")
    other = [a for a in answers if a is not None and a not in known]
    return {"sessions": sessions, "vms": len(vms), "connected": sum(c is not None for c in
                                                                     conversations),
            "answered": sum(a is not None for a in answers), "own": own, "crossed": crossed,
            "other": other[:3], "failures": failures[:3], "seconds": elapsed}


def appear_latencies(add: Any, remove: Any, hmp_dir: str, tries: int = APPEAR_TRIES
                     ) -> List[int]:
    """Add a VM ``tries`` times (``add(name)`` -> bound time ns), time until it is served.

    Each new VM is removed (``remove(name)``) and its listener gone before the next.
    """
    latencies = []
    for index in range(tries):
        name = f"new{index}"
        bound = add(name)
        latencies.append(served_after(os.path.join(hmp_dir, name + ".hmp"), name) - bound)
        remove(name)
        wait_gone(os.path.join(hmp_dir, name + ".hmp"))
    return latencies


def _settled_rss(pid: int) -> int:
    time.sleep(1.0)
    return rss_bytes(pid)


class FakeFleet:
    """A :class:`FakeVMs` process with ``count`` VMs and a bridge serving them.

    :param schema: a recorded ``query-qmp-schema`` reply (JSON file) the VMs
        answer with, or None for the fake's own few entries.
    """

    def __init__(self, count: int, base: str, label: str,
                 schema: Optional[str] = RECORDED_SCHEMA) -> None:
        self.count = count
        self.qmp_dir = os.path.join(base, f"qmp-{label}")
        self.hmp_dir = os.path.join(base, f"hmp-{label}")
        os.makedirs(self.qmp_dir)
        os.makedirs(self.hmp_dir)
        log = os.path.join(base, "log.txt")
        self.bridge: Optional[subprocess.Popen] = None
        self.fake = FakeVMs(self.qmp_dir, count, log, schema)
        try:
            self.bridge = start_fleet_bridge(self.qmp_dir, self.hmp_dir, log)
            self.attach = wait_listeners(self.hmp_dir, count, self.bridge)
        except BaseException:
            self.close()
            raise

    def listener(self, name: str) -> str:
        return os.path.join(self.hmp_dir, name + ".hmp")

    def close(self) -> None:
        if self.bridge is not None and self.bridge.poll() is None:
            stop(self.bridge)
        self.fake.close()


async def interleaved_status(one: str, many: str, rounds: int = STATUS_ROUNDS,
                             per_round: int = STATUS_COUNT // STATUS_ROUNDS
                             ) -> Tuple[float, float]:
    """``info status`` p50 (ns) on listeners ``one`` and ``many``, in alternating rounds.

    Both bridges run at once and take turns, so a change in the machine's
    load during the run falls on both alike.
    """
    a, b = await _unix_session(one), await _unix_session(many)
    try:
        for session in (a, b):
            await session.run(b"info status\n", count=100)  # warm-up
            session.latencies.clear()
        for _ in range(rounds):
            await a.run(b"info status\n", count=per_round)
            await b.run(b"info status\n", count=per_round)
        return percentile(a.latencies, 0.5), percentile(b.latencies, 0.5)
    finally:
        a.close()
        b.close()


def measure_fake(fleet: FakeFleet, one: Optional[FakeFleet]) -> Dict[str, Any]:
    """RSS, appearance, ``info status`` (against ``one``, the one-VM fleet) and crossings."""
    rss = _settled_rss(fleet.bridge.pid)
    result: Dict[str, Any] = {"count": fleet.count, "attach": fleet.attach, "rss": rss}
    if one is not None:
        result["status_one"], result["status_p50"] = asyncio.run(
            interleaved_status(one.listener("vm0"), fleet.listener("vm0")))
    result["appear"] = appear_latencies(fleet.fake.add, fleet.fake.remove, fleet.hmp_dir)
    if fleet.count >= SESSION_VMS:
        vms = [f"vm{i}" for i in range(SESSION_VMS)]
        result["crossing"] = asyncio.run(crossing_check(fleet.hmp_dir, vms, SESSIONS))
    return result


class RealVMs:
    """Paused QEMUs with their QMP sockets in ``directory`` (``-name`` is the VM's name)."""

    def __init__(self, directory: str, log: str) -> None:
        self.directory = directory
        self.log = log
        self.procs: Dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> subprocess.Popen:
        path = os.path.join(self.directory, name + ".qmp")
        args = [QEMU, "-M", "pc", "-nodefaults", "-display", "none", "-S", "-name", name,
                "-qmp", f"unix:{path},server=on,wait=off"]
        with open(self.log, "ab") as logf:
            proc = subprocess.Popen(args, stdout=logf, stderr=logf, cwd=self.directory,
                                    preexec_fn=child_setup)
        self.procs[name] = proc
        return proc

    def add(self, name: str) -> int:
        """Start QEMU ``name``; the monotonic time (ns) its socket was first seen (1 ms polls)."""
        path = os.path.join(self.directory, name + ".qmp")
        proc = self.start(name)
        while not os.path.exists(path):
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU {name} exited with status {proc.returncode}")
            time.sleep(0.001)
        return time.monotonic_ns()

    def wait_sockets(self) -> None:
        for name, proc in self.procs.items():
            path = os.path.join(self.directory, name + ".qmp")
            while not os.path.exists(path):
                if proc.poll() is not None:
                    raise RuntimeError(f"QEMU {name} exited with status {proc.returncode}")
                time.sleep(0.005)

    def remove(self, name: str) -> None:
        """Stop QEMU ``name`` (it removes its socket)."""
        proc = self.procs.pop(name)
        stop(proc)

    def close(self) -> None:
        for name in list(self.procs):
            self.remove(name)


def measure_real(base: str) -> Dict[str, Any]:
    """One bridge with one real QEMU, then :data:`REAL_VMS`: RSS, appearance, status, crossings."""
    qmp_dir, hmp_dir = os.path.join(base, "qmpreal"), os.path.join(base, "hmpreal")
    os.makedirs(qmp_dir)
    os.makedirs(hmp_dir)
    log = os.path.join(base, "log.txt")
    real = RealVMs(qmp_dir, log)
    bridge: Optional[subprocess.Popen] = None
    try:
        real.start("vm0")
        real.wait_sockets()
        bridge = start_fleet_bridge(qmp_dir, hmp_dir, log)
        wait_listeners(hmp_dir, 1, bridge)
        rss_one = _settled_rss(bridge.pid)
        p50_one = asyncio.run(status_p50(os.path.join(hmp_dir, "vm0.hmp")))
        for index in range(1, REAL_VMS):
            real.start(f"vm{index}")
        real.wait_sockets()
        attach = wait_listeners(hmp_dir, REAL_VMS, bridge)
        rss = _settled_rss(bridge.pid)
        p50 = asyncio.run(status_p50(os.path.join(hmp_dir, "vm0.hmp")))
        appear = appear_latencies(real.add, real.remove, hmp_dir)
        vms = [f"vm{i}" for i in range(REAL_VMS)]
        crossing = asyncio.run(crossing_check(hmp_dir, vms, SESSIONS))
        return {"count": REAL_VMS, "attach": attach, "rss_one": rss_one, "rss": rss,
                "status_p50_one": p50_one, "status_p50": p50, "appear": appear,
                "crossing": crossing}
    finally:
        if bridge is not None and bridge.poll() is None:
            stop(bridge)
        real.close()


def measure_vms(real: bool = False, counts: Sequence[int] = COUNTS) -> Dict[str, Any]:
    """Each fake count in turn, each with a fresh bridge, beside the one-VM fleet (kept up
    throughout as the baseline); then one count with the fake's own small schema; then
    the real QEMUs if asked."""
    raise_nofile()
    base = tempfile.mkdtemp(prefix="hmpvms")
    one: Optional[FakeFleet] = None
    try:
        one = FakeFleet(counts[0], base, f"{counts[0]}")
        runs = [measure_fake(one, None)]
        for count in counts[1:]:
            fleet = FakeFleet(count, base, f"{count}")
            try:
                runs.append(measure_fake(fleet, one))
            finally:
                fleet.close()
        small = FakeFleet(counts[-1], base, "small", schema=None)
        try:
            small_rss = _settled_rss(small.bridge.pid)
        finally:
            small.close()
        small_one = FakeFleet(1, base, "small-one", schema=None)
        try:
            small_one_rss = _settled_rss(small_one.bridge.pid)
        finally:
            small_one.close()
        return {"runs": runs, "small": {"count": counts[-1], "rss": small_rss,
                                        "rss_one": small_one_rss, "attach": small.attach},
                "real": measure_real(base) if real else None}
    finally:
        if one is not None:
            one.close()
        shutil.rmtree(base, ignore_errors=True)


def _crossing_line(c: Dict[str, Any]) -> str:
    text = (f"{c['sessions']:,} sessions over {c['vms']} VMs: {c['connected']:,} connected, "
            f"{c['answered']:,} answered ({c['own']:,} with their own VM's name, "
            f"{c['crossed']} with another VM's) in {c['seconds']:.2f} s")
    if c["other"]:
        text += f"; other answers, e.g. {c['other'][0]!r}"
    if c["failures"]:
        text += f"; failures, e.g. {c['failures'][0]}"
    return text


def _crossing_ok(c: Dict[str, Any]) -> bool:
    return c["own"] == c["sessions"] and c["crossed"] == 0


def report_vms(result: Dict[str, Any]) -> None:
    """Print the figures of every count and check the targets against the largest."""
    runs = result["runs"]
    base = runs[0]
    for run in runs:
        per = (run["rss"] - base["rss"]) / (run["count"] - 1) if run["count"] > 1 else 0.0
        run["per_vm"] = per
        status = ""
        if "status_p50" in run:
            status = (f"info status p50 {fmt_us(run['status_p50'])} (one-VM bridge meanwhile "
                      f"{fmt_us(run['status_one'])}); ")
        print(f"{run['count']:>5,} fake VMs: all listening {run['attach']:.2f} s after start; "
              f"RSS {run['rss'] / _MIB:.1f} MiB ({per / 1024:,.1f} KiB per VM beyond the "
              f"first); {status}new socket served p50 "
              f"{percentile(run['appear'], 0.5) / 1e6:.1f} ms (max "
              f"{max(run['appear']) / 1e6:.1f} ms)")
        if "crossing" in run:
            print(f"      {_crossing_line(run['crossing'])}")
    small = result["small"]
    small_per = (small["rss"] - small["rss_one"]) / (small["count"] - 1)
    print(f"{small['count']:>5,} fake VMs with the fake's own small schema (5 commands) "
          f"instead of QEMU 7.2's: RSS {small['rss'] / _MIB:.1f} MiB, with one "
          f"{small['rss_one'] / _MIB:.1f} MiB ({small_per / 1024:,.1f} KiB per VM beyond the "
          f"first); all listening {small['attach']:.2f} s after start")
    largest = runs[-1]
    n = largest["count"]
    ratio = largest["status_p50"] / largest["status_one"]
    appear = percentile(largest["appear"], 0.5)
    TARGETS.append(Target(f"{n:,} VMs <= 250 MB RSS", largest["rss"] <= 250e6,
                          f"{largest['rss'] / 1e6:.1f} MB"))
    TARGETS.append(Target(f"{n:,} VMs <= 150 KB per VM beyond the first",
                          largest["per_vm"] <= 150e3,
                          f"{largest['per_vm'] / 1e3:.1f} KB/VM"))
    TARGETS.append(Target(f"new socket served <= 200 ms (p50 of {len(largest['appear'])}, "
                          f"{n:,} VMs)", appear <= 200e6, f"{appear / 1e6:.1f} ms"))
    TARGETS.append(Target(f"info status p50 with {n:,} VMs <= 1.1 x with {base['count']}",
                          ratio <= 1.1, f"{fmt_us(largest['status_p50'])} vs "
                          f"{fmt_us(largest['status_one'])} = {ratio:.2f} x"))
    crossings = [run["crossing"] for run in runs if "crossing" in run]
    if crossings:
        c = crossings[0]
        TARGETS.append(Target(f"{c['sessions']:,} sessions over {c['vms']} VMs all answered, "
                              "none crossing", all(_crossing_ok(x) for x in crossings),
                              "; ".join(f"{x['own']:,} own, {x['crossed']} crossing"
                                        for x in crossings)))
    real = result.get("real")
    if real:
        per = (real["rss"] - real["rss_one"]) / (real["count"] - 1)
        print(f"{real['count']:>5} real QEMUs: RSS with one {real['rss_one'] / _MIB:.1f} MiB, "
              f"with {real['count']} {real['rss'] / _MIB:.1f} MiB ({per / 1024:,.1f} KiB per VM "
              f"beyond the first); info status p50 {fmt_us(real['status_p50'])} vs "
              f"{fmt_us(real['status_p50_one'])} with one; new QEMU served p50 "
              f"{percentile(real['appear'], 0.5) / 1e6:.1f} ms after its socket appeared (max "
              f"{max(real['appear']) / 1e6:.1f} ms)")
        print(f"      {_crossing_line(real['crossing'])}")
        TARGETS.append(Target(f"{real['count']} real QEMUs: <= 150 KB per VM beyond the first",
                              per <= 150e3, f"{per / 1e3:,.1f} KB/VM"))
        TARGETS.append(Target(f"{real['count']} real QEMUs: {real['crossing']['sessions']:,} "
                              "sessions all answered, none crossing",
                              _crossing_ok(real["crossing"]),
                              f"{real['crossing']['own']:,} own, "
                              f"{real['crossing']['crossed']} crossing"))
