"""``python -m bench abuse``: the bridge stays healthy while one client misbehaves.

One paused QEMU 7.2 (16 MiB of guest memory, a QMP socket for the bridge and
one for direct checks) and one hmpbridge with every kind of listener: HMP
(``--listen``) and read-only HMP (``--read-only-listen``) on loopback TCP, QMP
(``--qmp-listen``) and read-only QMP (``--qmp-read-only-listen``) on unix
sockets, a password file (hmpbridge asks every HMP client to log in once one
is given: user ``op`` is an operator, ``ro`` is read-only) and an audit log.
The bridge runs with its default limits.

Then one misbehaving client at a time, each attack for ``--seconds``:

* a probe process, logged in as ``op``, sends ``info status`` every 20 ms and
  times each answer; it also samples the bridge's ``VmRSS`` and its open
  descriptors (``/proc/PID/fd``) every 100 ms;
* after the attack: is QEMU alive (its process, and ``query-status`` on the
  direct socket), and does the bridge answer a fresh HMP client and a fresh
  QMP client?

Each attack prints what it did and what it got back, then PASS or MISS for
each target: bridge RSS under 200 MB, probe max latency under 50 ms, no probe
command failed or went unanswered, QEMU alive, bridge answers.  When an attack
leaves a target missed, QEMU and the bridge are started afresh before the next
one, so that one attack's damage is not counted against the next.

``python -m bench.abuse`` itself is the probe process (configured by one JSON
line on stdin); run the benchmark with ``python -m bench abuse``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from bench.procs import QEMU, REPO, bridge_env, free_port, qemu_version, raise_nofile
from bench.stats import Target, percentile

__all__ = ["main", "build_parser", "ATTACKS", "latency_summary", "classify_answer",
           "split_answers", "classify_dump", "judge", "fmt_mib", "ProbeResult", "Health",
           "restart_reason", "select_attacks"]

PROMPT = b"(qemu) "
#: The targets every attack is judged against.
RSS_LIMIT = 200e6
PROBE_MAX_MS = 50.0
PROBE_INTERVAL = 0.020
#: What an attack may leave behind in the bridge before the next one gets a fresh bridge.
LEFT_BEHIND_RSS = 10 * 1024 * 1024
LEFT_BEHIND_FDS = 8
SAMPLE_INTERVAL = 0.100
#: Password of each user of the bench's password file.
USERS = {"op": ("operator", "op-secret-1"), "ro": ("read-only", "ro-secret-1")}
IAC, DO = 255, 253
_MIB = 1024 * 1024


# -- pure helpers (tests/unit/test_bench_abuse.py) ------------------------------------

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


def classify_dump(size: int, lengths: Dict[str, int], slack: int = 64 * 1024) -> Optional[str]:
    """Whose dump a file of ``size`` bytes holds: the name whose length it fits, else None.

    A dump of ``length`` bytes of guest memory is that many bytes plus ELF
    headers (under ``slack``).
    """
    for name, length in lengths.items():
        if length <= size < length + slack:
            return name
    return None


def fmt_mib(value: float) -> str:
    """Bytes as MiB with one decimal."""
    return f"{value / _MIB:.1f} MiB"


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


@dataclass
class Health:
    """The state after an attack."""

    qemu_alive: bool
    qemu_detail: str
    hmp_ok: bool
    hmp_detail: str
    qmp_ok: bool
    qmp_detail: str


def judge(key: str, probe: ProbeResult, health: Health) -> List[Target]:
    """The five targets of one attack, PASS or MISS."""
    summary = latency_summary(probe.latencies_ns)
    worst = summary["max"]
    if probe.unanswered:  # an unanswered command waited at least as long as the attack
        worst = float("inf")
    bad = probe.failed + probe.unanswered
    lost = f"; probe connection lost: {probe.lost}" if probe.lost else ""
    return [
        Target(f"attack {key}: bridge RSS < 200 MB", probe.rss_peak < RSS_LIMIT
               and not probe.bridge_gone and probe.error is None,
               f"peak {fmt_mib(probe.rss_peak)}" + (" (bridge exited)" if probe.bridge_gone
                                                    else "")),
        Target(f"attack {key}: probe max < 50 ms", worst < PROBE_MAX_MS and probe.error is None,
               f"max {summary['max']:.1f} ms over {int(summary['n'])} answers"
               + (f", {probe.unanswered} unanswered" if probe.unanswered else "")),
        Target(f"attack {key}: no probe failure", bad == 0 and probe.lost is None
               and probe.error is None and probe.sent > 0,
               f"{probe.failed} failed, {probe.unanswered} unanswered of {probe.sent}{lost}"
               + (f"; probe error: {probe.error}" if probe.error else "")),
        Target(f"attack {key}: QEMU alive", health.qemu_alive, health.qemu_detail),
        Target(f"attack {key}: bridge answers", health.hmp_ok and health.qmp_ok,
               f"HMP {health.hmp_detail}; QMP {health.qmp_detail}"),
    ]


# -- blocking clients with deadlines ------------------------------------------------------

class Client:
    """A socket with a read buffer; every wait ends at a deadline (``time.monotonic``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    @classmethod
    def tcp(cls, port: int, deadline: float) -> "Client":
        sock = socket.create_connection(("127.0.0.1", port), timeout=_left(deadline, 0.1))
        return cls(sock)

    @classmethod
    def unix(cls, path: str, deadline: float) -> "Client":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_left(deadline, 0.1))
        sock.connect(path)
        return cls(sock)

    def fill(self, deadline: float) -> bool:
        """Read once (waiting until ``deadline`` at most); False on timeout."""
        self.sock.settimeout(_left(deadline, 0.001))
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except OSError as err:
            self.closed = True
            raise ConnectionError(f"reset ({err.strerror})") from None
        if not chunk:
            self.closed = True
            raise ConnectionError("closed by the bridge")
        self.buf += chunk
        return True

    def read_until(self, marker: bytes, deadline: float) -> Optional[bytes]:
        """Everything up to and including ``marker``; None at the deadline."""
        while marker not in self.buf:
            if time.monotonic() >= deadline:
                return None
            self.fill(deadline)
        end = self.buf.index(marker) + len(marker)
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def send(self, data: bytes, deadline: float, fds: Sequence[int] = ()) -> bool:
        """Send all of ``data`` (``fds`` with its first byte); False at the deadline."""
        view = memoryview(data)
        self.sock.setblocking(False)
        try:
            if fds:
                while True:
                    if not _wait_writable(self.sock, deadline):
                        return False
                    try:
                        sent = socket.send_fds(self.sock, [view], list(fds))
                        break
                    except BlockingIOError:
                        continue
                view = view[sent:]
            while view:
                if not _wait_writable(self.sock, deadline):
                    return False
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    continue
            return True
        except OSError as err:
            self.closed = True
            raise ConnectionError(f"send failed ({err.strerror})") from None
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _left(deadline: float, least: float) -> float:
    return max(least, deadline - time.monotonic())


def _wait_writable(sock: socket.socket, deadline: float) -> bool:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _, writable, _ = select.select([], [sock], [], min(left, 0.1))
        if writable:
            return True


def hmp_login(port: int, user: str, deadline: float) -> Client:
    """An HMP session logged in as ``user``, its banner and first prompt read."""
    client = Client.tcp(port, deadline)
    password = USERS[user][1]
    for prompt, answer in ((b"login: ", user), (b"Password: ", password)):
        if client.read_until(prompt, deadline) is None:
            client.close()
            raise TimeoutError(f"no {prompt.decode().strip()!r} prompt")
        client.send(answer.encode() + b"\n", deadline)
    if client.read_until(PROMPT, deadline) is None:
        client.close()
        raise TimeoutError("no prompt after login")
    return client


def qmp_open(path: str, deadline: float, negotiate: bool = True) -> Client:
    """A QMP client of ``path``, greeting read and (by default) capabilities negotiated."""
    client = Client.unix(path, deadline)
    if client.read_until(b"\n", deadline) is None:
        client.close()
        raise TimeoutError("no greeting")
    if negotiate:
        reply = qmp_call(client, b'{"execute": "qmp_capabilities"}\n', deadline)
        if reply is None or "return" not in reply:
            client.close()
            raise ConnectionError(f"negotiation failed: {reply!r}")
    return client


def qmp_call(client: Client, request: bytes, deadline: float,
             fds: Sequence[int] = ()) -> Optional[Dict[str, Any]]:
    """Send ``request``; the next reply that is not an event, or None at the deadline."""
    if not client.send(request, deadline, fds):
        return None
    return qmp_reply(client, deadline)


def qmp_reply(client: Client, deadline: float) -> Optional[Dict[str, Any]]:
    """The next message that is not an event (``{"unparsable": ...}`` if not JSON)."""
    while True:
        line = client.read_until(b"\n", deadline)
        if line is None:
            return None
        try:
            message = json.loads(line, parse_constant=_not_json)
        except ValueError:
            return {"unparsable": line.decode("utf-8", "replace").strip()}
        if not (isinstance(message, dict) and "event" in message):
            return message


def _not_json(constant: str) -> None:
    """``json.loads`` accepts NaN and Infinity; JSON (and QEMU) does not."""
    raise ValueError(f"{constant} is not JSON")


def describe_reply(reply: Optional[Dict[str, Any]]) -> str:
    """One short line for a QMP reply."""
    if reply is None:
        return "no reply"
    if "unparsable" in reply:
        text = reply["unparsable"]
        return "a reply that is not JSON: " + repr(text if len(text) < 80 else "..." + text[-60:])
    if "error" in reply:
        error = reply["error"]
        return f"error {error.get('class')}: {str(error.get('desc'))[:90]}"
    if "return" in reply:
        value = reply["return"]
        if isinstance(value, list):
            return f"return (a list of {len(value)})"
        if isinstance(value, str):
            return f"return (text, {len(value):,} characters)"
        text = f"return {json.dumps(value)[:40]}"
        return text + (f" (id {json.dumps(reply['id'])})" if "id" in reply else "")
    return json.dumps(reply)[:100]


def pump(sock: socket.socket, chunk: bytes, deadline: float, rate: float = 0.0,
         drain: bool = False, max_bytes: int = 0) -> Tuple[int, int, Optional[str], float]:
    """Write ``chunk`` over and over until ``deadline``, at most ``rate`` bytes/s (0: no limit).

    :param drain: also read (and drop) whatever the bridge sends.
    :param max_bytes: stop after this many bytes (0: no limit).
    :return: bytes sent, bytes read, why it stopped early (None if it ran to
        the deadline) and the time it ran.
    """
    started = time.monotonic()
    sock.setblocking(False)
    sent = received = 0
    pending = memoryview(b"")
    reason: Optional[str] = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if max_bytes and sent >= max_bytes:
                reason = f"stopped at its {max_bytes / _MIB:.0f} MiB cap"
                break
            if not pending and (not rate or sent < rate * (now - started)):
                pending = memoryview(chunk)
            readers = [sock] if drain else []
            writers = [sock] if pending else []
            r, w, _ = select.select(readers, writers, [], min(0.01, deadline - now))
            if r:
                data = sock.recv(1 << 20)
                if not data:
                    reason = "closed by the bridge"
                    break
                received += len(data)
            if w:
                n = sock.send(pending)
                pending = pending[n:]
                sent += n
    except BlockingIOError:
        pass
    except OSError as err:
        reason = f"connection reset ({err.strerror})"
    finally:
        try:
            sock.setblocking(True)
        except OSError:
            pass
    return sent, received, reason, time.monotonic() - started


def run_threads(targets: Sequence[Callable[[], None]], deadline: float) -> int:
    """Run each callable in a daemon thread; wait until ``deadline``; return how many hang."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return sum(t.is_alive() for t in threads)


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


# -- the rig --------------------------------------------------------------------------------

def _die_with_parent() -> None:
    raise_nofile()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait(condition: Callable[[], bool], what: str, proc: subprocess.Popen,
          timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.01)


def _stop(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class AbuseRig:
    """One paused QEMU and one hmpbridge with every listener, in ``base``/rigN."""

    count = 0

    def __init__(self, base: str, password_file: str) -> None:
        AbuseRig.count += 1
        self.dir = os.path.join(base, f"rig{AbuseRig.count}")
        os.makedirs(self.dir)
        path = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.bridge_qmp, self.direct_qmp = path("bridge.qmp"), path("direct.qmp")
        self.mux_qmp, self.ro_qmp = path("mux.qmp"), path("ro.qmp")
        self.audit, self.log, self.qemu_log = path("audit.jsonl"), path("log.txt"), path("qemu.txt")
        #: the bridge's RSS and descriptors when the first attack began
        self.fresh: Optional[Tuple[int, int]] = None
        self.port, self.ro_port = free_port(), free_port()
        self.qemu: Optional[subprocess.Popen] = None
        self.bridge: Optional[subprocess.Popen] = None
        self.direct: Optional[Client] = None
        args = [QEMU, "-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
                "-m", "16"]
        for sock in (self.bridge_qmp, self.direct_qmp):
            args += ["-qmp", f"unix:{sock},server=on,wait=off"]
        try:
            with open(self.qemu_log, "ab") as qemu_log:
                self.qemu = subprocess.Popen(args, stdout=qemu_log, stderr=qemu_log,
                                             cwd=self.dir, preexec_fn=_die_with_parent)
            with open(self.log, "ab") as logf:
                for sock in (self.bridge_qmp, self.direct_qmp):
                    _wait(lambda s=sock: os.path.exists(s), f"QEMU's socket {sock}", self.qemu)
                bridge = [os.path.join(REPO, ".venv", "bin", "hmpbridge"),
                          "--qmp", f"unix:path={self.bridge_qmp}",
                          "--listen", f"tcp:{self.port}:interface=127.0.0.1",
                          "--read-only-listen", f"tcp:{self.ro_port}:interface=127.0.0.1",
                          "--qmp-listen", f"unix:{self.mux_qmp}",
                          "--qmp-read-only-listen", f"unix:{self.ro_qmp}",
                          "--password-file", password_file, "--audit-log", self.audit,
                          "--log-level", "warn"]
                self.bridge = subprocess.Popen(bridge, stdout=logf, stderr=logf,
                                               env=bridge_env(), cwd=REPO,
                                               preexec_fn=_die_with_parent)
            for sock in (self.mux_qmp, self.ro_qmp):
                _wait(lambda s=sock: os.path.exists(s), f"hmpbridge's socket {sock}",
                      self.bridge)
            _wait(self._login_prompt, "hmpbridge's login prompt", self.bridge)
            self.direct = qmp_open(self.direct_qmp, time.monotonic() + 10)
        except RuntimeError as err:
            self.close()
            with open(self.qemu_log, errors="replace") as f:
                said = f.read()[-300:]
            raise RuntimeError(f"{err}; log: {self.log_since(0)[-600:]} {said}") from None
        except BaseException:
            self.close()
            raise

    def _login_prompt(self) -> bool:
        try:
            client = Client.tcp(self.port, time.monotonic() + 2)
        except OSError:
            return False
        try:
            return client.read_until(b"login: ", time.monotonic() + 2) is not None
        except ConnectionError:
            return False
        finally:
            client.close()

    def log_size(self) -> int:
        return os.path.getsize(self.log)

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def health(self) -> Health:
        """QEMU alive? Does the bridge answer a fresh HMP client and a fresh QMP client?"""
        qemu_alive, qemu_detail = self._qemu_health()
        hmp_ok, hmp_detail = _fresh_hmp(self.port)
        qmp_ok, qmp_detail = _fresh_qmp(self.mux_qmp)
        if self.bridge is not None and self.bridge.poll() is not None:
            hmp_ok = qmp_ok = False
            hmp_detail = qmp_detail = f"hmpbridge exited with status {self.bridge.returncode}"
        return Health(qemu_alive, qemu_detail, hmp_ok, hmp_detail, qmp_ok, qmp_detail)

    def _qemu_health(self) -> Tuple[bool, str]:
        if self.qemu is None or self.qemu.poll() is not None:
            code = self.qemu.returncode if self.qemu is not None else None
            how = f"killed by signal {-code}" if code is not None and code < 0 else \
                f"exited with status {code}"
            with open(self.qemu_log, errors="replace") as f:
                said = [line.strip() for line in f if line.strip()]
            return False, f"QEMU {how}" + (f" ({said[-1][:120]})" if said else "")
        deadline = time.monotonic() + 3
        try:
            if self.direct is None or self.direct.closed:
                self.direct = qmp_open(self.direct_qmp, deadline)
            reply = qmp_call(self.direct, b'{"execute": "query-status"}\n', deadline)
        except (OSError, ConnectionError, TimeoutError) as err:
            return False, f"QEMU's process runs but its direct QMP socket fails: {err}"
        if reply is None or "return" not in reply:
            return False, f"query-status on the direct socket: {describe_reply(reply)}"
        return True, f"query-status on the direct socket: {reply['return'].get('status')}"

    def direct_call(self, request: bytes) -> str:
        """QEMU's own reply to ``request`` on the direct socket, described."""
        deadline = time.monotonic() + 3
        if self.direct is None or self.direct.closed:
            self.direct = qmp_open(self.direct_qmp, deadline)
        return describe_reply(qmp_call(self.direct, request, deadline))

    def close(self) -> None:
        if self.direct is not None:
            self.direct.close()
        _stop(self.bridge)
        _stop(self.qemu)


def _fresh_hmp(port: int, timeout: float = 3.0) -> Tuple[bool, str]:
    deadline = time.monotonic() + timeout
    try:
        client = hmp_login(port, "op", deadline)
    except (OSError, ConnectionError, TimeoutError) as err:
        return False, f"login failed: {err}"
    try:
        t0 = time.monotonic()
        client.send(b"info status\n", deadline)
        answer = client.read_until(PROMPT, deadline)
        took = (time.monotonic() - t0) * 1000
    except (OSError, ConnectionError) as err:
        return False, f"info status: {err}"
    finally:
        client.close()
    if answer is None:
        return False, f"info status not answered within {timeout:g} s"
    if classify_answer(answer) != "ok":
        return False, f"info status answered {answer[:80]!r}"
    return True, f"info status answered in {took:.1f} ms"


def _fresh_qmp(path: str, timeout: float = 3.0) -> Tuple[bool, str]:
    deadline = time.monotonic() + timeout
    try:
        client = qmp_open(path, deadline)
    except (OSError, ConnectionError, TimeoutError) as err:
        return False, f"connect failed: {err}"
    try:
        t0 = time.monotonic()
        reply = qmp_call(client, b'{"execute": "query-status"}\n', deadline)
        took = (time.monotonic() - t0) * 1000
    except (OSError, ConnectionError) as err:
        return False, f"query-status: {err}"
    finally:
        client.close()
    if reply is None or "return" not in reply:
        return False, f"query-status: {describe_reply(reply)}"
    return True, f"query-status answered in {took:.1f} ms"


def checkout_state() -> str:
    """The commit the bridge runs from, and how many of its files differ from it."""
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h %cI"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "hmpbridge"], cwd=REPO,
                                 text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "hmpbridge from a checkout without git"
    count = len(changed.splitlines())
    return f"hmpbridge at {head}" + (f", {count} files of hmpbridge/ changed since" if count
                                     else "")


def make_password_file(path: str) -> None:
    """Write the bench's users with ``hmpbridge-passwd``."""
    tool = os.path.join(REPO, ".venv", "bin", "hmpbridge-passwd")
    for user, (role, password) in USERS.items():
        subprocess.run([tool, "--role", role, path, user], input=password + "\n", text=True,
                       check=True, capture_output=True, env=bridge_env(), cwd=REPO)


# -- the probe process ------------------------------------------------------------------------

class Probe:
    """Starts the probe process (``python -m bench.abuse``) and collects its result."""

    def __init__(self, rig: AbuseRig, grace: float) -> None:
        config = {"port": rig.port, "user": "op", "password": USERS["op"][1],
                  "pid": rig.bridge.pid if rig.bridge is not None else 0, "grace": grace}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.abuse"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=bridge_env(), cwd=REPO,
                                     preexec_fn=_die_with_parent)
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(config) + "\n").encode())
        self.proc.stdin.flush()
        self.ready = self._line(20.0)

    def _line(self, timeout: float) -> Optional[Dict[str, Any]]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def stop(self) -> ProbeResult:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        data = self._line(30.0)
        _stop(self.proc)
        if data is None:
            return ProbeResult(error="the probe process gave no result")
        return ProbeResult.from_json(data)


def _bridge_sample(pid: int) -> Optional[Tuple[int, int]]:
    """(VmRSS in bytes, open descriptors) of ``pid``, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


async def _probe(config: Dict[str, Any]) -> Dict[str, Any]:
    """Log in, say ready, then probe and sample the bridge until told to stop."""
    loop = asyncio.get_running_loop()
    result: Dict[str, Any] = {"latencies_ns": [], "sent": 0, "failed": 0, "failed_examples": [],
                              "unanswered": 0, "notices": 0, "lost": None}
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", config["port"]), 10)
    for prompt, answer in ((b"login: ", config["user"]), (b"Password: ", config["password"])):
        await asyncio.wait_for(reader.readuntil(prompt), 10)
        writer.write(answer.encode() + b"\n")
    await asyncio.wait_for(reader.readuntil(PROMPT), 10)

    pid = config["pid"]
    first = _bridge_sample(pid) or (0, 0)
    samples = {"rss_start": first[0], "rss_peak": first[0], "rss_end": first[0],
               "fds_start": first[1], "fds_peak": first[1], "fds_end": first[1],
               "bridge_gone": False}
    stopping = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stopping.set)
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
                    result["failed_examples"].append(f"unasked: {answer[:100]!r}")
                    continue
                result["latencies_ns"].append(now - sent_at.popleft())
                if kind == "failed":
                    result["failed"] += 1
                    if len(result["failed_examples"]) < 3:
                        result["failed_examples"].append(repr(answer[:100]))

    print(json.dumps({"ready": True}), flush=True)
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


def _probe_main() -> None:
    config = json.loads(sys.stdin.readline())
    try:
        result = asyncio.run(_probe(config))
    except Exception as err:  # reported, not raised: the benchmark prints it as a MISS
        result = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps({"ready": False}), flush=True)
    print(json.dumps(result), flush=True)


# -- the attacks -------------------------------------------------------------------------------

@dataclass
class Report:
    """What an attack did and got back; ``checks``: targets of its own (besides the five)."""

    notes: List[str]
    checks: List[Target] = field(default_factory=list)


def _dlp(typename: str) -> bytes:
    return json.dumps({"execute": "device-list-properties",
                       "arguments": {"typename": typename}}).encode() + b"\n"


def attack_gl_devices(rig: AbuseRig, seconds: float) -> Report:
    """1: a read-only QMP client asks for the options of the GL display devices."""
    deadline = time.monotonic() + seconds
    requests = [
        ("device-list-properties virtio-gpu-gl-pci", _dlp("virtio-gpu-gl-pci")),
        ("device-list-properties virtio-vga-gl", _dlp("virtio-vga-gl")),
        ("human-monitor-command 'device_add virtio-gpu-gl-pci,help'",
         b'{"execute": "human-monitor-command", '
         b'"arguments": {"command-line": "device_add virtio-gpu-gl-pci,help"}}\n'),
    ]
    notes = []
    client: Optional[Client] = None
    for what, request in requests:
        step = min(deadline, time.monotonic() + 3)
        try:
            if client is None or client.closed:
                client = qmp_open(rig.ro_qmp, step)
            reply = qmp_call(client, request, step)
            notes.append(f"{what}: {describe_reply(reply)}")
        except (OSError, ConnectionError, TimeoutError) as err:
            notes.append(f"{what}: {err}")
            if client is not None:
                client.close()
            client = None
    if client is not None:
        client.close()
    _sleep_until(deadline)
    return Report(notes)


def attack_invalid_utf8_hmp(rig: AbuseRig, seconds: float) -> Report:
    """2a: 8 read-only HMP sessions send ``qom-get /machine`` and invalid UTF-8, in a loop."""
    deadline = time.monotonic() + seconds
    line = b"qom-get /machine \xc3\x28\n"
    counts = {"sent": 0, "answered": 0}
    answers: Dict[bytes, int] = {}
    problems: List[str] = []
    lock = threading.Lock()

    def session() -> None:
        try:
            client = hmp_login(rig.ro_port, "ro", deadline + 2)
        except (OSError, ConnectionError, TimeoutError) as err:
            with lock:
                problems.append(f"login: {err}")
            return
        try:
            while time.monotonic() < deadline:
                client.send(line, deadline)
                with lock:
                    counts["sent"] += 1
                answer = client.read_until(PROMPT, deadline + 1)
                if answer is None:
                    with lock:
                        problems.append("a line was not answered within 1 s of the end")
                    return
                with lock:
                    counts["answered"] += 1
                    key = answer[:-len(PROMPT)].strip()[:100]
                    answers[key] = answers.get(key, 0) + 1
        except (OSError, ConnectionError) as err:
            with lock:
                problems.append(str(err))
        finally:
            client.close()

    hung = run_threads([session] * 8, deadline + 3)
    notes = [f"8 sessions sent {counts['sent']:,} lines, {counts['answered']:,} answered"]
    notes += [f"answer x{n:,}: {text!r}" for text, n in sorted(answers.items())][:4]
    notes += _problems(problems, hung)
    return Report(notes)


def attack_bad_json_values(rig: AbuseRig, seconds: float) -> Report:
    """2b: a read-only QMP client sends a lone surrogate escape and 1e400 as arguments and ids."""
    deadline = time.monotonic() + seconds
    requests = [
        ('argument "\\udc80"',
         b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": "\\udc80"}}\n'),
        ("argument 1e400",
         b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": 1e400}}\n'),
        ('id "\\udc80"', b'{"execute": "query-status", "id": "\\udc80"}\n'),
        ("id 1e400", b'{"execute": "query-status", "id": 1e400}\n'),
    ]
    replies: Dict[str, Dict[str, int]] = {what: {} for what, _ in requests}
    drops = 0
    client: Optional[Client] = None
    first_pass = True
    while first_pass or time.monotonic() < deadline:
        first_pass = False
        for what, request in requests:  # each at least once, however short the attack
            step = time.monotonic() + 1
            try:
                if client is None or client.closed:
                    client = qmp_open(rig.ro_qmp, step)
                reply = qmp_call(client, request, step)
                text = describe_reply(reply)
                if reply is None:  # its reply may still come: start afresh
                    text = "no reply within 1 s"
                    client.close()
                    client = None
            except (OSError, ConnectionError, TimeoutError) as err:
                text = f"connection: {err}"
                drops += 1
                if client is not None:
                    client.close()
                client = None
            replies[what][text] = replies[what].get(text, 0) + 1
    if client is not None:
        client.close()
    notes = []
    for what, seen in replies.items():
        for text, n in seen.items():
            notes.append(f"{what}: x{n:,} {text}")
    for what, request in requests:  # for comparison: QEMU's own answer, once
        try:
            direct = rig.direct_call(request)
        except (OSError, ConnectionError, TimeoutError) as err:
            direct = f"{err}"
        notes.append(f"QEMU itself, {what}: {direct}")
    if drops:
        notes.append(f"the QMP connection failed {drops:,} times (each time reconnected)")
    return Report(notes)


def attack_fd_dump_race(rig: AbuseRig, seconds: float, rounds: int = 30) -> Report:
    """3: two QMP clients pass a descriptor named 'dump' and dump guest memory into it at once.

    Each round both clients open their own file, pass it with ``getfd`` at the
    same moment, then both ask ``dump-guest-memory`` into ``fd:dump`` at the
    same moment; A dumps 64 KiB, B 128 KiB, so each file's size tells whose
    dump it holds.  A round is crossed when either client got an error or its
    file holds the other's dump (or none).
    """
    deadline = time.monotonic() + max(seconds, 8.0)
    lengths = {"A": 64 * 1024, "B": 128 * 1024}
    files = {name: os.path.join(rig.dir, f"dump-{name}.elf") for name in lengths}
    barrier = threading.Barrier(2, timeout=5)
    #: per client, per round: (error text or "", whose dump its file holds)
    outcome: Dict[str, List[Tuple[str, Optional[str]]]] = {name: [] for name in lengths}
    problems: List[str] = []
    getfd = b'{"execute": "getfd", "arguments": {"fdname": "dump"}}\n'

    def client(name: str) -> None:
        dump = json.dumps({"execute": "dump-guest-memory", "arguments": {
            "paging": False, "protocol": "fd:dump", "begin": 0,
            "length": lengths[name]}}).encode() + b"\n"
        conn: Optional[Client] = None
        try:
            conn = qmp_open(rig.mux_qmp, time.monotonic() + 5)
            for _ in range(rounds):
                barrier.wait()  # both have checked the last round's files
                if time.monotonic() >= deadline:
                    break
                fd = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                step = time.monotonic() + 3
                try:
                    barrier.wait()
                    first = qmp_call(conn, getfd, step, fds=[fd])
                finally:
                    os.close(fd)
                barrier.wait()
                second = qmp_call(conn, dump, step)
                barrier.wait()  # both dumps are done
                errors = [describe_reply(r) for r in (first, second)
                          if r is None or "return" not in r]
                owner = classify_dump(os.path.getsize(files[name]), lengths)
                outcome[name].append(("; ".join(errors), owner))
        except threading.BrokenBarrierError:
            problems.append(f"{name}: the other client stopped")
        except (OSError, ConnectionError, TimeoutError) as err:
            problems.append(f"{name}: {err}")
            barrier.abort()
        finally:
            if conn is not None:
                conn.close()

    hung = run_threads([lambda: client("A"), lambda: client("B")], deadline + 6)
    done = min(len(outcome["A"]), len(outcome["B"]))
    crossed = errors = 0
    examples: List[str] = []
    for i in range(done):
        bad = []
        for name in lengths:
            error, owner = outcome[name][i]
            if error:
                bad.append(f"{name} got {error}")
            if owner != name:
                bad.append(f"{name}'s file holds " + (f"{owner}'s dump" if owner else "no dump"))
        errors += any(outcome[name][i][0] for name in lengths)
        if bad:
            crossed += 1
            if len(examples) < 2:
                examples.append(f"e.g. round {i + 1}: " + "; ".join(bad))
    notes = [f"{done} rounds (both clients name their descriptor 'dump'; A dumps "
             f"{lengths['A'] // 1024} KiB, B {lengths['B'] // 1024} KiB)",
             f"rounds in which a client's file got the other's dump or an error: {crossed} "
             f"of {done} ({errors} with an error)"]
    notes += examples
    notes += _problems(problems, hung)
    check = Target("attack 3: no round crossed", done == rounds and crossed == 0,
                   f"{crossed} of {done} rounds crossed or failed"
                   + ("" if done == rounds else f", {rounds - done} rounds not run"))
    return Report(notes, [check])


def _problems(problems: List[str], hung: int) -> List[str]:
    notes = []
    distinct: Dict[str, int] = {}
    for p in problems:
        distinct[p] = distinct.get(p, 0) + 1
    notes += [f"client problem x{n}: {p}" for p, n in list(distinct.items())[:4]]
    if hung:
        notes.append(f"{hung} client thread(s) still blocked at the end (left behind)")
    return notes


def attack_schema_no_read(rig: AbuseRig, seconds: float) -> Report:
    """4: a read-only QMP client asks query-qmp-schema in a loop and never reads."""
    deadline = time.monotonic() + seconds
    client = qmp_open(rig.ro_qmp, time.monotonic() + 5)
    request = b'{"execute": "query-qmp-schema"}\n'
    sent, _, reason, ran = pump(client.sock, request, deadline)
    client.close()
    return Report([f"sent {sent // len(request):,} requests in {ran:.1f} s, read nothing; "
                   + (f"{reason} after {ran:.1f} s" if reason else "still connected at the end")])


def attack_fd_flood(rig: AbuseRig, seconds: float, total: int = 20000) -> Report:
    """5: a read-only QMP client that never negotiates passes 20,000 descriptors."""
    deadline = time.monotonic() + seconds
    client = Client.unix(rig.ro_qmp, deadline)
    null = os.open(os.devnull, os.O_RDONLY)
    passed = 0
    reason = None
    t0 = time.monotonic()
    try:
        while passed < total and time.monotonic() < deadline:
            batch = min(250, total - passed)  # SCM_MAX_FD is 253
            if not client.send(b" ", deadline, fds=[null] * batch):
                reason = "the bridge stopped reading"
                break
            passed += batch
    except ConnectionError as err:
        reason = str(err)
    finally:
        os.close(null)
    took = time.monotonic() - t0
    notes = [f"passed {passed:,} descriptors in {took:.2f} s"
             + (f"; then {reason}" if reason else "")]
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    ok, detail = _fresh_hmp(rig.port)
    notes.append(f"a fresh HMP client while the descriptors are held: {detail}")
    ok, detail = _fresh_qmp(rig.mux_qmp)
    notes.append(f"a fresh QMP client while the descriptors are held: {detail}")
    _sleep_until(deadline)
    client.close()
    return Report(notes)


def attack_telnet_options(rig: AbuseRig, seconds: float) -> Report:
    """6a: a read-only HMP client asks IAC DO for every option, over and over, never reading."""
    deadline = time.monotonic() + seconds
    client = hmp_login(rig.ro_port, "ro", time.monotonic() + 5)
    chunk = b"".join(bytes((IAC, DO, opt)) for opt in range(256))
    sent, _, reason, ran = pump(client.sock, chunk, deadline, rate=2e6)
    client.close()
    return Report([f"sent {sent // 3:,} IAC DO requests ({sent / 1e6:.1f} MB) in {ran:.1f} s, "
                   f"read nothing; " + (reason or "still connected at the end")])


def attack_iac_stream(rig: AbuseRig, seconds: float) -> Report:
    """6b: a read-only HMP client streams 0xFF bytes at about 2 MB/s."""
    deadline = time.monotonic() + seconds
    client = hmp_login(rig.ro_port, "ro", time.monotonic() + 5)
    sent, received, reason, ran = pump(client.sock, b"\xff" * 20000, deadline, rate=2e6,
                                       drain=True)
    client.close()
    rate = sent / 1e6 / max(ran, 1e-3)
    return Report([f"sent {sent / 1e6:.1f} MB of 0xFF in {ran:.1f} s ({rate:.1f} MB/s), read "
                   f"{received:,} bytes; " + (reason or "still connected at the end")])


def attack_login_stream(rig: AbuseRig, seconds: float) -> Report:
    """8: four clients fail a login, then stream lines during the failure delay."""
    deadline = time.monotonic() + seconds
    results: List[str] = []
    lock = threading.Lock()
    chunk = b"nobody\n" * 9362  # 64 KiB of user names and passwords
    rate = 32 * _MIB

    def connection() -> None:
        try:
            client = Client.tcp(rig.port, deadline)
            step = min(deadline, time.monotonic() + 3)
            for prompt, answer in ((b"login: ", b"op\n"), (b"Password: ", b"wrong\n")):
                if client.read_until(prompt, step) is None:
                    raise TimeoutError(f"no {prompt!r}")
                client.send(answer, step)
            sent, received, reason, ran = pump(client.sock, chunk, deadline, rate=rate,
                                               drain=True)
            client.close()
            text = (f"sent {sent / _MIB:,.1f} MiB, read {received:,} bytes; "
                    + (f"{reason} after {ran:.1f} s" if reason else "still connected at the end"))
        except (OSError, ConnectionError, TimeoutError) as err:
            text = f"failed: {err}"
        with lock:
            results.append(text)

    hung = run_threads([connection] * 4, deadline + 3)
    return Report([f"connection {i + 1}: {text}" for i, text in enumerate(results)]
                  + _problems([], hung) + [f"each streams at most {rate / _MIB:.0f} MiB/s"])


def attack_huge_xp(rig: AbuseRig, seconds: float) -> Report:
    """9a: a read-only HMP session asks for 3,000,000 quad words of guest memory, and reads."""
    deadline = time.monotonic() + max(seconds, 8.0)
    client = hmp_login(rig.ro_port, "ro", time.monotonic() + 5)
    t0 = time.monotonic()
    received = 0
    head = tail = b""
    note = "answer still incomplete at the end"
    try:
        client.send(b"xp /3000000xg 0\n", deadline)
        while time.monotonic() < deadline:
            if not client.fill(deadline):
                continue
            received += len(client.buf)
            head = (head + client.buf)[:100] if len(head) < 100 else head
            tail = (tail + client.buf)[-len(PROMPT):]
            client.buf = b""
            if tail == PROMPT:
                note = f"answered in {time.monotonic() - t0:.1f} s"
                break
    except ConnectionError as err:
        note = f"{err} after {time.monotonic() - t0:.1f} s"
    client.close()
    return Report([f"read {received:,} bytes of output; {note}", f"output began {head[:70]!r}"])


def attack_huge_qmp(rig: AbuseRig, seconds: float, size: int = 16_000_000) -> Report:
    """9b: a QMP client sends one 16 MB message (a qom-get of a 16 MB property name)."""
    deadline = time.monotonic() + max(seconds, 6.0)
    client = qmp_open(rig.mux_qmp, time.monotonic() + 5)
    head = b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": "'
    tail = b'"}}\n'
    message = head + b"a" * (size - len(head) - len(tail)) + tail
    t0 = time.monotonic()
    try:
        if not client.send(message, deadline):
            note = "the bridge did not take the whole message before the end"
        else:
            sent = time.monotonic() - t0
            reply = qmp_reply(client, deadline)
            size_text = f" ({len(json.dumps(reply)):,} bytes)" if reply is not None else ""
            note = (f"sent in {sent:.2f} s; reply after {time.monotonic() - t0:.2f} s: "
                    f"{describe_reply(reply)[:80]}{size_text}")
    except ConnectionError as err:
        note = f"{err} after {time.monotonic() - t0:.1f} s"
    client.close()
    return Report([f"one message of {size:,} bytes; {note}"])


@dataclass(frozen=True)
class Attack:
    """One misbehaving client: its key (``--only``), what it does, and how."""

    key: str
    title: str
    run: Callable[[AbuseRig, float], "Report"]


ATTACKS = (
    Attack("1", "read-only QMP: device-list-properties of the GL devices, device_add ...,help",
           attack_gl_devices),
    Attack("2a", "8 read-only HMP sessions: qom-get /machine with invalid UTF-8 (\\xc3\\x28)",
           attack_invalid_utf8_hmp),
    Attack("2b", "read-only QMP: arguments and ids \"\\udc80\" and 1e400", attack_bad_json_values),
    Attack("3", "two QMP clients: getfd 'dump' + dump-guest-memory fd:dump at the same moment",
           attack_fd_dump_race),
    Attack("4", "read-only QMP: query-qmp-schema in a loop, never reading",
           attack_schema_no_read),
    Attack("5", "read-only QMP, never negotiating: 20,000 descriptors (SCM_RIGHTS)",
           attack_fd_flood),
    Attack("6a", "read-only HMP, never reading: IAC DO for every option, over and over, "
           "at about 2 MB/s",
           attack_telnet_options),
    Attack("6b", "read-only HMP: 0xFF bytes at about 2 MB/s", attack_iac_stream),
    Attack("8", "4 connections to the password listener: a failed login, then a stream "
           "during the failure delay", attack_login_stream),
    Attack("9a", "read-only HMP: xp /3000000xg 0", attack_huge_xp),
    Attack("9b", "QMP: one 16 MB message", attack_huge_qmp),
)


def select_attacks(only: Optional[str]) -> List[Attack]:
    """The attacks ``--only`` names (``6`` means 6a and 6b), all when None."""
    if not only:
        return list(ATTACKS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [a for a in ATTACKS if a.key in wanted or a.key.rstrip("ab") in wanted]
    unknown = [w for w in wanted if not any(a.key == w or a.key.rstrip("ab") == w
                                            for a in ATTACKS)]
    if unknown:
        raise ValueError(f"unknown attack(s): {', '.join(unknown)}")
    return chosen


# -- the run ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench abuse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4.0,
                   help="how long each attack runs (default 4; some need longer: 3 and 9a "
                        "run at least 8 s, 9b 6 s)")
    p.add_argument("--quick", action="store_true",
                   help="shorter attacks: 1.5 s each (the probe's grace 1 s instead of 2)")
    p.add_argument("--only", metavar="N[,N...]",
                   help="run only these attacks (1, 2, 2a, 2b, 3, 4, 5, 6, 6a, 6b, 8, 9, 9a, 9b)")
    return p


def run_attack(rig: AbuseRig, attack: Attack, seconds: float,
               grace: float) -> Tuple[List[Target], List[Target], ProbeResult]:
    """Run one attack under the probe; print what happened and its targets.

    The probe keeps going for ``seconds`` at least, also when the attack ended
    sooner, to see what it left behind.  Returns the five targets, the
    attack's own checks, and what the probe saw.
    """
    print(f"\n== attack {attack.key}: {attack.title}", flush=True)
    log_mark = rig.log_size()
    probe = Probe(rig, grace)
    if not probe.ready or not probe.ready.get("ready"):
        result = probe.stop()
        print(f"   the probe could not start: {result.error}")
        report = Report([])
    else:
        t0 = time.monotonic()
        try:
            report = attack.run(rig, seconds)
        except (OSError, ConnectionError, TimeoutError) as err:
            report = Report([f"the attacking client failed: {type(err).__name__}: {err}"])
        report.notes.append(f"(attack took {time.monotonic() - t0:.1f} s)")
        _sleep_until(t0 + seconds)
        result = probe.stop()
    health = rig.health()
    for note in report.notes:
        print(f"   {note}")
    summary = latency_summary(result.latencies_ns)
    print(f"   bridge RSS {fmt_mib(result.rss_start)} -> peak {fmt_mib(result.rss_peak)} "
          f"(+{fmt_mib(result.rss_peak - result.rss_start)}), {fmt_mib(result.rss_end)} at the "
          f"end; descriptors {result.fds_start} -> peak {result.fds_peak}, "
          f"{result.fds_end} at the end")
    print(f"   probe: {result.sent} info status sent, p50 {summary['p50']:.1f} ms, "
          f"p99 {summary['p99']:.1f} ms, max {summary['max']:.1f} ms; {result.failed} failed, "
          f"{result.unanswered} unanswered" + (f"; {result.notices} notices" if result.notices
                                               else "")
          + (f"; connection lost: {result.lost}" if result.lost else ""))
    for example in result.failed_examples:
        print(f"   probe failure: {example}")
    print(f"   QEMU: {health.qemu_detail}; fresh HMP client: {health.hmp_detail}; "
          f"fresh QMP client: {health.qmp_detail}")
    log = rig.log_since(log_mark)
    tracebacks = log.count("Traceback")
    if tracebacks:
        print(f"   hmpbridge logged {tracebacks} traceback(s)")
    targets = judge(attack.key, result, health)
    for target in targets + report.checks:
        print(f"   {target.line()}")
    if rig.fresh is None:
        rig.fresh = (result.rss_start, result.fds_start)
    return targets, report.checks, result


def restart_reason(fresh: Optional[Tuple[int, int]], targets: Sequence[Target],
                   result: ProbeResult) -> str:
    """Why the next attack needs a fresh QEMU and bridge ('' when it does not).

    Missed targets, and memory or descriptors the attack left behind since
    ``fresh`` (the bridge's RSS and descriptors before its first attack):
    CPython keeps freed memory for reuse, so it would count against the next.
    """
    missed = [t.name.split(": ", 1)[1] for t in targets if not t.ok]
    if missed:
        return ", ".join(missed) + " missed"
    rss, fds = fresh or (result.rss_start, result.fds_start)
    if result.rss_end > rss + LEFT_BEHIND_RSS:
        return f"the bridge's RSS stays {fmt_mib(result.rss_end - rss)} above its start"
    if result.fds_end > fds + LEFT_BEHIND_FDS:
        return f"the bridge keeps {result.fds_end - fds} more descriptors than at its start"
    return ""


def main(argv: Optional[List[str]] = None) -> int:
    """Run the attacks asked for; exit status 0 when every target passed."""
    args = build_parser().parse_args(argv)
    try:
        attacks = select_attacks(args.only)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    seconds = 1.5 if args.quick and args.seconds == 4.0 else args.seconds
    grace = 1.0 if args.quick else 2.0
    soft, hard = raise_nofile()
    print(f"hmpbridge abuse benchmark: {qemu_version()}; Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; open files "
          f"{soft}/{hard}; {seconds:g} s per attack")
    print(checkout_state())
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="hmpabuse")
    targets: List[Target] = []
    rig: Optional[AbuseRig] = None
    try:
        password_file = os.path.join(base, "passwords")
        make_password_file(password_file)
        for attack in attacks:
            if rig is None:
                rig = AbuseRig(base, password_file)
            own, checks, result = run_attack(rig, attack, seconds, grace)
            targets += own + checks
            reason = restart_reason(rig.fresh, own, result)
            if reason and attack is not attacks[-1]:
                print(f"   (QEMU and hmpbridge are started afresh: {reason})")
                rig.close()
                rig = None
    finally:
        if rig is not None:
            rig.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n== targets (whole run {time.monotonic() - started:.0f} s; "
          f"load average now {os.getloadavg()[0]:.2f})")
    for target in targets:
        print(target.line())
    missed_count = sum(not t.ok for t in targets)
    print(f"{len(targets) - missed_count} PASS, {missed_count} MISS")
    return 0 if missed_count == 0 else 1


if __name__ == "__main__":
    _probe_main()
