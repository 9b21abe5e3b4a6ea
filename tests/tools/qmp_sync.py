"""A minimal blocking QMP client and a throwaway QEMU, for capture tools.

Capture tools record what QEMU 7.2 itself prints, so that tests compare
against QEMU's own output rather than hand-written text.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional

__all__ = ["QMPSync", "ScratchQEMU", "capture_lines", "FIXTURES"]

#: Where capture tools write their fixtures.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


class QMPSync:
    """Blocking QMP over a unix socket; events are kept aside."""

    def __init__(self, path: str, timeout: float = 30) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self.greeting = json.loads(self.file.readline())
        self.events: List[Dict[str, Any]] = []
        self.execute("qmp_capabilities")

    def execute(self, name: str, arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Send one command; return the whole reply (``return`` or ``error``)."""
        msg: Dict[str, Any] = {"execute": name}
        if arguments is not None:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" in reply:
                self.events.append(reply)
            else:
                return reply

    def hmp(self, line: str) -> str:
        """QEMU's own HMP output for ``line``, with ``\\n`` line ends."""
        reply = self.execute("human-monitor-command", {"command-line": line})
        return str(reply["return"]).replace("\r\n", "\n")

    def close(self) -> None:
        self.sock.close()


class ScratchQEMU:
    """A paused ``qemu-system-x86_64`` in a temporary directory, killed on exit."""

    def __init__(self, extra: Optional[List[str]] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="hmpbridge-capture-")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        disk = os.path.join(self.dir, "disk0.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        args = ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-nodefaults",
                "-display", "none", "-S", "-m", "128",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-drive", "if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
                "-drive", f"if=none,id=disk0,file={disk},format=qcow2",
                "-device", "virtio-blk-pci,drive=disk0,id=vblk0",
                "-netdev", "user,id=n0", "-device", "e1000,netdev=n0,id=nic0"]
        self.proc = subprocess.Popen(args + (extra or []), cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("QEMU did not start")
            time.sleep(0.05)
        self.qmp = QMPSync(self.qmp_path)

    def __enter__(self) -> "ScratchQEMU":
        return self

    def __exit__(self, *exc: object) -> None:
        self.qmp.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def capture_lines(lines: List[str], fixture: str) -> None:
    """Run ``lines`` on a scratch QEMU; write ``[{"line", "qemu"}, ...]`` to ``fixture``."""
    out = []
    with ScratchQEMU() as qemu:
        for line in lines:
            out.append({"line": line, "qemu": qemu.qmp.hmp(line)})
    with open(os.path.join(FIXTURES, fixture), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
