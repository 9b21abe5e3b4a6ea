"""The processes :mod:`bench.abuse` attacks: one paused QEMU 7.2 and one hmpbridge.

QEMU has 16 MiB of guest memory and two QMP sockets: one for the bridge, one
for direct checks.  The bridge serves HMP (``--listen``) and read-only HMP
(``--read-only-listen``) on loopback TCP, QMP (``--qmp-listen``) and read-only
QMP (``--qmp-read-only-listen``) on unix sockets, with a password file and an
audit log, and otherwise its default limits.  hmpbridge asks every HMP client
to log in once it has a password file: user ``op`` is an operator, ``ro`` is
read-only (:data:`USERS`).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, Optional, Tuple

from bench.abuse_clients import (PROMPT, Client, describe_reply, hmp_login, qmp_call,
                                 qmp_open)
from bench.abuse_probe import ProbeResult, classify_answer
from bench.procs import QEMU, REPO, bridge_env, cpu_seconds, free_port, raise_nofile

__all__ = ["AbuseRig", "Health", "Probe", "USERS", "make_password_file", "checkout_state"]

#: Role and password of each user of the benchmark's password file.
USERS = {"op": ("operator", "op-secret-1"), "ro": ("read-only", "ro-secret-1")}


@dataclass
class Health:
    """The state after an attack."""

    qemu_alive: bool
    qemu_detail: str
    hmp_ok: bool
    hmp_detail: str
    qmp_ok: bool
    qmp_detail: str


def _die_with_parent() -> None:
    raise_nofile()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait(condition: Callable[[], bool], what: str, proc: "subprocess.Popen[bytes]",
          timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.01)


def _stop(proc: Optional["subprocess.Popen[bytes]"]) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class AbuseRig:
    """One paused QEMU and one hmpbridge with every listener, in a new directory in ``base``."""

    def __init__(self, base: str, password_file: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="rig", dir=base)
        self.bridge_qmp, self.direct_qmp = self._path("bridge.qmp"), self._path("direct.qmp")
        self.mux_qmp, self.ro_qmp = self._path("mux.qmp"), self._path("ro.qmp")
        self.audit, self.log = self._path("audit.jsonl"), self._path("log.txt")
        self.qemu_log = self._path("qemu.txt")
        #: the bridge's RSS and descriptors when the first attack began
        self.fresh: Optional[Tuple[int, int]] = None
        self.port, self.ro_port = free_port(), free_port()
        self.qemu: Optional["subprocess.Popen[bytes]"] = None
        self.bridge: Optional["subprocess.Popen[bytes]"] = None
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
                    _wait(partial(os.path.exists, sock), f"QEMU's socket {sock}", self.qemu)
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
                _wait(partial(os.path.exists, sock), f"hmpbridge's socket {sock}",
                      self.bridge)
            _wait(self._login_prompt, "hmpbridge's login prompt", self.bridge)
            self.direct = qmp_open(self.direct_qmp, time.monotonic() + 10)
            self._warm_up()
        except RuntimeError as err:
            self.close()
            with open(self.qemu_log, errors="replace") as f:
                said = f.read()[-300:]
            raise RuntimeError(f"{err}; log: {self.log_since(0)[-600:]} {said}") from None
        except BaseException:
            self.close()
            raise

    def _warm_up(self) -> None:
        """Parse one line with arguments: the bridge builds its parser on first use.

        That first parse stalls every client for a few hundred milliseconds
        once; the attack that happens to come first should not be charged for it.
        """
        deadline = time.monotonic() + 10
        client = self.hmp("op", deadline)
        try:
            client.send(b"qom-get /machine type\n", deadline)
            if client.read_until(PROMPT, deadline) is None:
                raise RuntimeError("the warm-up line was not answered within 10 s")
        finally:
            client.close()

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

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
        hmp_ok, hmp_detail = self.fresh_hmp()
        qmp_ok, qmp_detail = self.fresh_qmp()
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

    def cpu(self) -> Tuple[Optional[float], Optional[float]]:
        """CPU seconds the bridge and QEMU have used so far (None for one that is gone)."""
        return _cpu(self.bridge), _cpu(self.qemu)

    def hmp(self, user: str, deadline: float) -> Client:
        """An HMP session of ``user`` (``ro`` on the read-only listener), logged in."""
        port = self.ro_port if user == "ro" else self.port
        return hmp_login(port, user, USERS[user][1], deadline)

    def fresh_hmp(self) -> Tuple[bool, str]:
        """Does a fresh operator session get ``info status`` answered?"""
        return _fresh_hmp(self.port)

    def fresh_qmp(self) -> Tuple[bool, str]:
        """Does a fresh QMP client get ``query-status`` answered?"""
        return _fresh_qmp(self.mux_qmp)

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


def _cpu(proc: "Optional[subprocess.Popen[bytes]]") -> Optional[float]:
    if proc is None:
        return None
    try:
        return cpu_seconds(proc.pid)
    except (OSError, ValueError, IndexError):
        return None


def _fresh_hmp(port: int, timeout: float = 3.0) -> Tuple[bool, str]:
    """Does an operator logging in on ``port`` get ``info status`` answered?"""
    deadline = time.monotonic() + timeout
    try:
        client = hmp_login(port, "op", USERS["op"][1], deadline)
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
    """Does a QMP client of ``path`` get ``query-status`` answered?"""
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


class Probe:
    """Starts the probe process (:mod:`bench.abuse_probe`) and collects its result."""

    def __init__(self, rig: AbuseRig, grace: float) -> None:
        config = {"port": rig.port, "user": "op", "password": USERS["op"][1],
                  "pid": rig.bridge.pid if rig.bridge is not None else 0, "grace": grace}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.abuse_probe"],
                                     stdin=subprocess.PIPE,
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
