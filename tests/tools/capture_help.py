"""Record a QEMU release's own ``help`` and ``info`` listings.

    python -m tests.tools.capture_help                      # the system's QEMU (7.2)
    python -m tests.tools.capture_help --qemu .qemu/10.0.2/qemu-system-x86_64
    python -m tests.tools.capture_help --qemu .qemu/11.1.3/qemu-system-x86_64

starts ``QEMU -machine none -accel tcg -nodefaults -display none -qmp unix:...``
(the machine is ready at once, so ``help`` lists every command, not only the
preconfig ones), sends ``help`` and ``info`` through ``human-monitor-command``
and writes, for release X.Y of the QEMU that answered:

- ``tests/fixtures/releases/X.Y/help.txt`` and ``info.txt``: QEMU's bytes as
  ``human-monitor-command`` returns them (the monitor's ``\\r\\n`` line ends,
  as in ``tests/fixtures/help.txt``);
- ``preconfig-help.txt`` and ``preconfig-info.txt``: the same two lines sent
  to the HMP monitor of the same QEMU started with ``--preconfig`` (before
  the machine is initialised QEMU lists only the commands flagged ``p``);
- ``tests/fixtures/releases/X.Y/qemu.json``: which QEMU printed them
  (``query-version``'s numbers and package string) and how it was started.

``tests/unit/test_tables.py`` checks these listings against the command
tables generated from the same release's ``hmp-commands*.hx``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Sequence

from tests.tools.qmp_sync import FIXTURES, QMPSync

#: Options given to every QEMU (before ``-qmp``).
ARGS = ["-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none"]


class _Monitor:
    """QEMU's own HMP monitor on a unix socket: what a line prints, its echo left out."""

    def __init__(self, path: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(30)
            try:
                self.sock.connect(path)
                break
            except ConnectionRefusedError:  # bound, not listening yet
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._until_prompt()  # the banner

    def _until_prompt(self) -> bytes:
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QEMU's monitor closed")
            buf += chunk
        return buf[:-len(b"(qemu) ")]

    def cmd(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        echoed, _, out = self._until_prompt().partition(b"\r\n")  # readline echoes the line
        return out.decode()

    def close(self) -> None:
        self.sock.close()


def _wait_for(path: str, proc: "subprocess.Popen[bytes]", qemu: List[str]) -> None:
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(qemu)} did not start")
        time.sleep(0.05)


def capture(qemu: List[str], lines: Sequence[str] = (), preconfig: bool = False
            ) -> Dict[str, Any]:
    """Start ``qemu``; return its ``query-version``, ``help``, ``info`` and, under
    ``"lines"``, what it prints for each of ``lines``.

    With ``preconfig``, QEMU waits in ``--preconfig`` and the lines go to an HMP
    monitor socket (``human-monitor-command`` is refused in that state).
    """
    tmp = tempfile.mkdtemp(prefix="hmpbridge-help-")
    sock = os.path.join(tmp, "qmp.sock")
    mon = os.path.join(tmp, "hmp.sock")
    extra = ["--preconfig", "-monitor", f"unix:{mon},server=on,wait=off"] if preconfig else []
    proc = subprocess.Popen(qemu + ARGS + extra + ["-qmp", f"unix:{sock},server=on,wait=off"],
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(sock, proc, qemu)
        qmp = QMPSync(sock)
        monitor = None
        try:
            version = qmp.execute("query-version")["return"]
            out: Dict[str, Any] = {"version": version, "lines": {}}
            if preconfig:
                _wait_for(mon, proc, qemu)
                monitor = _Monitor(mon)
            for line in ("help", "info", *lines):
                if monitor is not None:
                    text = monitor.cmd(line)
                else:
                    text = qmp.execute("human-monitor-command",
                                       {"command-line": line})["return"]
                out["lines"][line] = text
                if line in ("help", "info"):
                    out[line] = text
            return out
        finally:
            if monitor is not None:
                monitor.close()
            qmp.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qemu", default="qemu-system-x86_64",
                        help="the QEMU program (may be a command with arguments)")
    parser.add_argument("--out", default=os.path.join(FIXTURES, "releases"),
                        help="where the X.Y folders go")
    opts = parser.parse_args()
    qemu = shlex.split(opts.qemu)
    if os.sep in qemu[0]:
        qemu[0] = os.path.abspath(qemu[0])  # QEMU runs in a scratch directory
    got = capture(qemu)
    early = capture(qemu, preconfig=True)
    q = got["version"]["qemu"]
    release = f"{q['major']}.{q['minor']}"
    folder = os.path.join(opts.out, release)
    os.makedirs(folder, exist_ok=True)
    for name in ("help", "info"):
        with open(os.path.join(folder, f"{name}.txt"), "w", newline="") as f:
            f.write(got[name])
        with open(os.path.join(folder, f"preconfig-{name}.txt"), "w", newline="") as f:
            f.write(early[name])
    real = f"{q['major']}.{q['minor']}.{q['micro']}"
    sidecar = {
        "release": release,
        "qemu": f"{real} ({got['version']['package'].strip()})",
        "version": q,
        "package": got["version"]["package"],
        "program": os.path.basename(qemu[-1]),
        "args": ARGS,
        "preconfig_args": ARGS + ["--preconfig", "-monitor", "unix:PATH,server=on,wait=off"],
        "commands": ["help", "info"],
    }
    with open(os.path.join(folder, "qemu.json"), "w") as f:
        json.dump(sidecar, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{folder}: QEMU {sidecar['qemu']}, "
          f"{got['help'].count(chr(10))} help lines, {got['info'].count(chr(10))} info lines")


if __name__ == "__main__":
    main()
