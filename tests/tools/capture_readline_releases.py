"""Record what each QEMU release's monitor sends back for typed keys (its readline).

    python -m tests.tools.capture_readline_releases [7.2 10.0 11.1]

For each release found (the system's ``qemu-system-x86_64`` is 7.2; 10.0.2
and 11.1.3 come from ``.qemu/``, see ``scripts/qemu-releases.sh``) it starts
one QEMU with one ``-monitor tcp:`` per case (each monitor has its own line
editor and history), types each case's chunks into a fresh connection, one
chunk at a time, and keeps every byte QEMU sends back, banner included.
The result is ``tests/fixtures/readline/<release>.json``: ``{"qemu": version,
"banner": ..., "cases": {name: [{"keys": ..., "qemu": ...}, ...]}}``, raw bytes
as latin-1 strings.  Outputs over 64 KiB (a 4 KB line's echo) are kept as
their length and SHA-256 instead (``"qemu_len"``, ``"qemu_sha256"``).

Only commands whose answer needs no guest are run (``info name`` on a VM
without ``-name`` prints nothing; unknown commands), so a unit test with a
fake QEMU can expect the same bytes from the whole session.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

from tests.tools.capture_readline import drain

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(HERE, "..", "fixtures", "readline")
BINARIES = {
    "7.2": "qemu-system-x86_64",
    "10.0": os.path.join(ROOT, ".qemu", "10.0.2", "qemu-system-x86_64"),
    "11.1": os.path.join(ROOT, ".qemu", "11.1.3", "qemu-system-x86_64"),
}
BIG = 65536
LONG = "a" * 4094 + "bcdef"

#: case name -> chunks typed one after the other (each answered before the next)
CASES: Dict[str, List[str]] = {
    "typing": ["i", "n", "info st"],
    "typing-at-once": ["info name"],
    "enter-cr": ["info name\r"],
    "enter-lf": ["info name\n"],
    "enter-crlf": ["info name\r\n"],
    "enter-crnul": ["info name\r\0"],
    "empty-line": ["\r"],
    "two-lines-one-read": ["info name\rinfo name\r"],
    "keys-after-enter": ["frob\rab"],
    "unknown-command": ["frob\r"],
    "left-right": ["abcd", "\x1b[D", "\x1b[D\x1b[D", "\x1b[C", "\x1b[C\x1b[C\x1b[C"],
    "home-end": ["abcd", "\x1b[1~", "\x1b[4~", "\x1bOH", "\x1bOF", "\x01", "\x05"],
    "csi-h-f-e": ["abcd", "\x1b[H", "\x1b[F", "\x1b[E"],
    "insert-middle": ["acd", "\x1b[D\x1b[D", "b"],
    "backspace": ["abcd", "\x7f", "\x08", "\x1b[D", "\x7f"],
    "backspace-at-start": ["ab", "\x01", "\x7f"],
    "delete": ["abcd", "\x01", "\x1b[3~", "\x04", "\x05", "\x04"],
    "ctrl-w": ["info  block  ", "\x17", "\x17", "\x17"],
    "ctrl-w-middle": ["one two three", "\x1b[D\x1b[D\x1b[D", "\x17"],
    "ctrl-l": ["abc", "\x1b[D", "\x0c"],
    "ctrl-c": ["abc", "\x03", "\r"],
    "ctrl-d": ["abc", "\x01", "\x04"],
    "ctrl-u": ["abc def", "\x1b[D\x1b[D", "\x15"],
    "ctrl-k": ["abc def", "\x01", "\x0b"],
    "ctrl-p-n": ["info name\r", "frob\r", "\x10", "\x10", "\x10", "\x0e", "\x0e", "\x0e"],
    "controls": ["ab", "\x02\x06\x07\x0e\x10\x11\x12\x13\x14\x16\x18\x19\x1a\x1c\x1d\x1e\x1f"],
    "nul": ["ab\0c"],
    "high-bytes": ["a\xe9\xff\x80b"],
    "unknown-escapes": ["ab", "\x1bx", "\x1b[5~", "\x1b[Z", "\x1bOQ", "c"],
    "escape-split": ["ab", "\x1b", "[", "D", "\x1b[", "1", "~"],
    "escape-param-letter": ["abcd", "\x1b[12D"],
    "csi-8bit": ["ab", "\x9bD"],
    "history-empty": ["x", "\x1b[A", "\x1b[B"],
    "history": ["info name\r", "frob\r", "\x1b[A", "\x1b[A", "\x1b[A", "\x1b[B", "\x1b[B",
                "\x1b[B"],
    "history-edit": ["info name\r", "\x1b[A", "\x7f\x7f\x7f\x7f", "\r", "\x1b[A", "\x1b[A",
                     "\x1b[B"],
    "history-dup": ["info name\r", "frob\r", "info name\r", "\x1b[A", "\x1b[A", "\x1b[A"],
    "history-empty-line": ["info name\r", "frob\r", "\x1b[A", "\x7f\x7f\x7f\x7f", "\r",
                           "\x1b[A"],
    "history-blank-line": ["info name\r", "  \r", "\x1b[A", "\x1b[A"],
    "history-over-typed": ["info name\r", "x", "\x1b[A", "\x1b[B"],
    "tab-one": ["info ver", "\t"],
    "tab-many": ["info st", "\t"],
    "tab-many-cursor-mid": ["info stxyz", "\x1b[D\x1b[D\x1b[D", "\t"],
    "tab-none": ["info zz", "\t"],
    "tab-command": ["ej", "\t"],
    "tab-sendkey": ["sendkey ctrl-al", "\t"],
    "tab-then-keys": ["info ver\tx"],
    "long-line": [LONG + "\r"],
    "long-line-insert": [LONG, "\x01", "X", "\x05", "Y", "\r"],
}


def _kept(raw: bytes) -> Dict[str, object]:
    if len(raw) <= BIG:
        return {"qemu": raw.decode("latin-1")}
    return {"qemu_len": len(raw), "qemu_sha256": hashlib.sha256(raw).hexdigest(),
            "qemu_head": raw[:200].decode("latin-1"), "qemu_tail": raw[-400:].decode("latin-1")}


def _free_ports(count: int) -> List[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def capture(release: str, binary: str) -> Optional[Dict[str, object]]:
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 check=True).stdout.split("\n")[0]
    except (OSError, subprocess.CalledProcessError):
        print("missing", release, binary)
        return None
    names = list(CASES)
    ports = _free_ports(len(names))
    argv = [binary, "-M", "pc", "-nodefaults", "-display", "none", "-S"]
    for port in ports:
        argv += ["-monitor", f"tcp:127.0.0.1:{port},server=on,wait=off"]
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        cases = {}
        banner = ""
        for name, port in zip(names, ports):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                banner = drain(sock, 0.3).decode("latin-1")
                steps = []
                for chunk in CASES[name]:
                    sock.sendall(chunk.encode("latin-1"))
                    raw = drain(sock, 1.5 if len(chunk) > 1000 else 0.25)
                    steps.append({"keys": chunk, **_kept(raw)})
                cases[name] = steps
            print(release, "ok", name)
        return {"qemu": version, "banner": banner, "cases": cases}
    finally:
        qemu.kill()
        qemu.wait()


def main(argv: List[str]) -> None:
    os.makedirs(OUT, exist_ok=True)
    for release in argv or list(BINARIES):
        result = capture(release, BINARIES[release])
        if result is None:
            continue
        with open(os.path.join(OUT, f"{release}.json"), "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
