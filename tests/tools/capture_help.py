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
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Sequence

from tests.tools.qmp_sync import FIXTURES, QMPSync

#: Options given to every QEMU (before ``-qmp``).
ARGS = ["-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none"]


def capture(qemu: List[str], lines: Sequence[str] = ()) -> Dict[str, Any]:
    """Start ``qemu``; return its ``query-version``, ``help``, ``info`` and, under
    ``"lines"``, what it prints for each of ``lines``."""
    tmp = tempfile.mkdtemp(prefix="hmpbridge-help-")
    sock = os.path.join(tmp, "qmp.sock")
    proc = subprocess.Popen(qemu + ARGS + ["-qmp", f"unix:{sock},server=on,wait=off"],
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(qemu)} did not start")
            time.sleep(0.05)
        qmp = QMPSync(sock)
        try:
            version = qmp.execute("query-version")["return"]
            out: Dict[str, Any] = {"version": version, "lines": {}}
            for line in ("help", "info", *lines):
                text = qmp.execute("human-monitor-command", {"command-line": line})["return"]
                out["lines"][line] = text
                if line in ("help", "info"):
                    out[line] = text
            return out
        finally:
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
    q = got["version"]["qemu"]
    release = f"{q['major']}.{q['minor']}"
    folder = os.path.join(opts.out, release)
    os.makedirs(folder, exist_ok=True)
    for name in ("help", "info"):
        with open(os.path.join(folder, f"{name}.txt"), "w", newline="") as f:
            f.write(got[name])
    real = f"{q['major']}.{q['minor']}.{q['micro']}"
    sidecar = {
        "release": release,
        "qemu": f"{real} ({got['version']['package'].strip()})",
        "version": q,
        "package": got["version"]["package"],
        "program": os.path.basename(qemu[-1]),
        "args": ARGS,
        "commands": ["help", "info"],
    }
    with open(os.path.join(folder, "qemu.json"), "w") as f:
        json.dump(sidecar, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{folder}: QEMU {sidecar['qemu']}, "
          f"{got['help'].count(chr(10))} help lines, {got['info'].count(chr(10))} info lines")


if __name__ == "__main__":
    main()
