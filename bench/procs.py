"""The processes a benchmark run measures: one paused QEMU and one hmpbridge.

QEMU serves one client per monitor socket, so it gets three QMP sockets: one
for the bridge, one for direct measurements, one for start-up trials of
further bridges; and one more for each relay of :mod:`bench.relays`.  Its own
HMP monitor listens on TCP with ``nodelay=on``.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional, Tuple

__all__ = ["Rig", "read_prompt", "stop", "raise_nofile", "free_port", "rss_bytes", "cpu_seconds", "REPO",
           "VENV_BIN", "bridge_command", "wait_for_banner", "qemu_version", "machine_busy_seconds",
           "child_setup"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
#: Extra QMP sockets of the QEMU, one per relay of :mod:`bench.relays`.
RELAY_SOCKETS = 4
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_nofile() -> Tuple[int, int]:
    """Raise this process's open-file limit to its hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (from /proc/PID/statm)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / _CLK_TCK


def qemu_version() -> str:
    """The first line of ``qemu-system-x86_64 --version``."""
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def bridge_command(qmp_path: str, port: int) -> List[str]:
    """The hmpbridge command line serving HMP on ``port`` for the QMP socket ``qmp_path``."""
    return [os.path.join(VENV_BIN, "hmpbridge"), "--qmp", f"unix:path={qmp_path}",
            "--listen", f"tcp:{port}:interface=127.0.0.1", "--log-level", "warn"]


def bridge_env() -> dict:
    """The bridge's environment: the checkout's modules before the installed ones."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def child_setup() -> None:
    """In a child process before it runs: the open-file limit raised, death with the bench."""
    raise_nofile()
    # the child dies with the benchmark (PR_SET_PDEATHSIG)
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def start_bridge(qmp_path: str, port: int, log: str) -> subprocess.Popen:
    """Start hmpbridge as a subprocess with the open-file limit at its hard limit."""
    with open(log, "ab") as logf:
        return subprocess.Popen(bridge_command(qmp_path, port), stdout=logf, stderr=logf,
                                env=bridge_env(), cwd=REPO, preexec_fn=child_setup)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 5 s; waits for the process to end."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_prompt(sock: socket.socket) -> bytes:
    """Everything up to the next ``(qemu) `` prompt (nothing is read past it)."""
    data = b""
    while not data.endswith(b"(qemu) "):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the prompt")
        data += chunk
    return data


def wait_for_banner(port: int, timeout: float = 20.0, poll: float = 0.002,
                    proc: Optional[subprocess.Popen] = None) -> bytes:
    """Connect to ``port`` until it answers, and read up to the first ``(qemu) `` prompt."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                return read_prompt(s)
        except (ConnectionRefusedError, ConnectionResetError):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise
            time.sleep(poll)


def _wait_path(path: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"QEMU did not create {path}")
        time.sleep(0.01)


class Rig:
    """One QEMU and one hmpbridge in a private directory; :meth:`close` stops both."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpbench")
        self.bridge_qmp = os.path.join(self.dir, "bridge.qmp")
        self.direct_qmp = os.path.join(self.dir, "direct.qmp")
        self.spare_qmp = os.path.join(self.dir, "spare.qmp")
        # one per relay of bench.relays (QEMU serves one client per socket)
        self.relay_qmp = [os.path.join(self.dir, f"relay{i}.qmp") for i in range(RELAY_SOCKETS)]
        self.hmp_port = free_port()
        self.bridge_port = free_port()
        self.log = os.path.join(self.dir, "log.txt")
        args = [QEMU, "-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"]
        for path in (self.bridge_qmp, self.direct_qmp, self.spare_qmp, *self.relay_qmp):
            args += ["-qmp", f"unix:{path},server=on,wait=off"]
        args += ["-monitor", f"tcp:127.0.0.1:{self.hmp_port},server=on,wait=off,nodelay=on"]
        with open(self.log, "ab") as logf:
            self.qemu = subprocess.Popen(args, stdout=logf, stderr=logf, cwd=self.dir,
                                         preexec_fn=child_setup)
        self.bridge: Optional[subprocess.Popen] = None
        self.floor: Optional[subprocess.Popen] = None
        self.floor_port = 0
        try:
            for path in (self.bridge_qmp, self.direct_qmp, self.spare_qmp, *self.relay_qmp):
                _wait_path(path, self.qemu)
            self.bridge = start_bridge(self.bridge_qmp, self.bridge_port, self.log)
            wait_for_banner(self.bridge_port, proc=self.bridge)
        except BaseException:
            self.close()
            raise

    def start_floor(self) -> None:
        """Start the floor relay (:mod:`bench.floor`) on the spare QMP socket."""
        import sys

        self.floor_port = free_port()
        with open(self.log, "ab") as logf:
            self.floor = subprocess.Popen(
                [sys.executable, "-m", "bench.floor", self.spare_qmp, str(self.floor_port)],
                stdout=logf, stderr=logf, env=bridge_env(), cwd=REPO, preexec_fn=child_setup)
        wait_for_banner(self.floor_port, proc=self.floor)

    def stop_floor(self) -> None:
        """Stop the floor relay, freeing the spare QMP socket."""
        if self.floor is not None and self.floor.poll() is None:
            self.floor.send_signal(signal.SIGTERM)
            self.floor.wait()
        self.floor = None
        time.sleep(0.1)  # QEMU takes the next client on that socket

    def close(self) -> None:
        """Stop the bridge and QEMU and remove the directory."""
        self.stop_floor()
        for proc in (self.bridge, self.qemu):
            if proc is not None and proc.poll() is None:
                stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        """What QEMU and the bridge wrote to stderr."""
        with open(self.log, errors="replace") as f:
            return f.read()
