"""Measure which type names make a QEMU release die when their properties are listed.

Starts ``QEMU -M pc -accel tcg -nodefaults -display none -S`` (as the golden
VMs do), lists every type (``qom-list-types``, abstract ones included), and
sends ``device-list-properties`` and ``qom-list-properties`` for each; when
QEMU dies on one, that is recorded (with how it died) and a fresh QEMU takes
over.  Every type whose property list kills QEMU is then tried with
``device_add`` too (only those: ``device_add`` of any other type would
just add a device).

The result is JSON in the shape of :data:`hmpbridge.hazards.ABORTS`::

    {"release": "7.2", "qemu": "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
     "aborts": {"device-list-properties": ["virtio-gpu-gl-pci", ...], ...},
     "how": {"device-list-properties virtio-gpu-gl-pci": "SIGABRT: ...", ...}}

Each run takes about 2 s (753 to 894 types).  The fixtures in
``tests/fixtures/aborts/`` were made so, QEMU 10.0 and 11.1 unpacked from
``../shared/qemu-debs`` with ``dpkg-deb -x`` into prefixes ``$P10`` and
``$P11``, each with a ``qemu-bundle`` link to its prefix beside the program
that runs (``$P10/usr/bin``, ``$P11/usr/lib/x86_64-linux-gnu``)::

    python -m tests.tools.measure_aborts > tests/fixtures/aborts/qemu-7.2.json
    python -m tests.tools.measure_aborts --qemu $P10/usr/bin/qemu-system-x86_64 \\
        --qemu-arg=-L --qemu-arg=$P10/usr/share/qemu --qemu-arg=-L \\
        --qemu-arg=$P10/usr/share/seabios --qemu-arg=-L --qemu-arg=/usr/lib/ipxe/qemu \\
        > tests/fixtures/aborts/qemu-10.0.json
    L=$P11/usr/lib/x86_64-linux-gnu
    python -m tests.tools.measure_aborts \\
        --qemu "$L/ld-linux-x86-64.so.2 --library-path $L:$P11/lib/x86_64-linux-gnu \\
                $P11/usr/bin/qemu-system-x86_64" \\
        --qemu-arg=-L --qemu-arg=$P11/usr/share/qemu --qemu-arg=-L \\
        --qemu-arg=$P11/usr/share/seabios > tests/fixtures/aborts/qemu-11.1.json

Then copy each ``aborts`` member into :data:`hmpbridge.hazards.ABORTS` (a unit
test checks that they agree).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["measure", "main", "PROBED"]

#: The commands tried on every type, each with its argument name.
PROBED: Tuple[str, ...] = ("device-list-properties", "qom-list-properties")

_MACHINE = ["-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S", "-m", "128"]


class Died(Exception):
    """QEMU went away while answering."""


class _QEMU:
    """One throwaway QEMU with a blocking QMP connection."""

    def __init__(self, command: Sequence[str], extra: Sequence[str]) -> None:
        import socket

        self.dir = tempfile.mkdtemp(prefix="hmpbridge-aborts-")
        path = os.path.join(self.dir, "qmp.sock")
        self.log = os.path.join(self.dir, "qemu.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*command, *_MACHINE, *extra, "-qmp", f"unix:{path},server=on,wait=off"],
                cwd=self.dir, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("QEMU did not start: " + self.stderr())
            time.sleep(0.02)
        while True:  # the socket file appears just before QEMU listens on it
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(60)
            try:
                self.sock.connect(path)
                break
            except ConnectionRefusedError:
                self.sock.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("QEMU did not listen: " + self.stderr())
                time.sleep(0.02)
        self.file = self.sock.makefile("rwb")
        self.greeting = json.loads(self.file.readline())["QMP"]
        self.execute("qmp_capabilities")

    def execute(self, name: str, arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        message: Dict[str, Any] = {"execute": name}
        if arguments is not None:
            message["arguments"] = arguments
        try:
            self.file.write(json.dumps(message).encode() + b"\n")
            self.file.flush()
            while True:
                line = self.file.readline()
                if not line:
                    raise Died(self.death())
                reply: Dict[str, Any] = json.loads(line)
                if "event" not in reply:
                    return reply
        except (OSError, ValueError) as err:
            if isinstance(err, Died):
                raise
            raise Died(self.death())

    def stderr(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read().strip()
        except OSError:
            return ""

    def death(self) -> str:
        """How QEMU died: its signal or status, and its last line on stderr."""
        try:
            status = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            return "hung"
        how = f"SIGNAL {signal.Signals(-status).name}" if status < 0 else f"exit {status}"
        lines = self.stderr().splitlines()
        return f"{how}: {lines[-1]}" if lines else how

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(command: Sequence[str], extra: Sequence[str] = (),
            progress: Any = None) -> Dict[str, Any]:
    """Probe every type; the result in the shape of ``hmpbridge.hazards.ABORTS`` (see above)."""
    qemu = _QEMU(command, extra)
    version = qemu.greeting["version"]["qemu"]
    package = qemu.greeting["version"].get("package", "").strip()
    types = sorted(t["name"] for t in qemu.execute(
        "qom-list-types", {"abstract": True})["return"])
    aborts: Dict[str, List[str]] = {name: [] for name in (*PROBED, "device_add")}
    how: Dict[str, str] = {}

    def probe(name: str, arguments: Dict[str, Any], typename: str) -> None:
        nonlocal qemu
        try:
            qemu.execute(name, arguments)
        except Died as died:
            aborts[name].append(typename)
            how[f"{name} {typename}"] = str(died)
            if progress is not None:
                progress(f"{name} {typename}: {died}")
            qemu.close()
            qemu = _QEMU(command, extra)
    try:
        for typename in types:
            for name in PROBED:
                probe(name, {"typename": typename}, typename)
        for typename in sorted(set(aborts["device-list-properties"])):
            probe("device_add", {"driver": typename, "id": "probe0"}, typename)
    finally:
        qemu.close()
    return {
        "release": f"{version['major']}.{version['minor']}",
        "qemu": f"{version['major']}.{version['minor']}.{version['micro']}"
                + (f" ({package})" if package else ""),
        "types": len(types),
        "aborts": {name: sorted(found) for name, found in aborts.items()},
        "how": how,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qemu", default="qemu-system-x86_64",
                        help="the QEMU command (split like a shell line)")
    parser.add_argument("--qemu-arg", action="append", default=[],
                        help="an extra QEMU argument; repeatable")
    options = parser.parse_args(argv)
    started = time.monotonic()
    result = measure(shlex.split(options.qemu), options.qemu_arg,
                     progress=lambda text: print(text, file=sys.stderr, flush=True))
    result["seconds"] = round(time.monotonic() - started, 1)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
