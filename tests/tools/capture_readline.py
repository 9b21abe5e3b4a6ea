"""Record what QEMU 7.2's monitor echoes for key sequences (its readline editor).

    python -m tests.tools.capture_readline

writes tests/fixtures/readline.json: one entry per case, each a list of
``{"keys": ..., "qemu": ...}`` steps (latin-1 strings of raw bytes), typed
on a fresh connection to QEMU's own HMP monitor on a plain TCP socket.
tests/unit/test_line_editor.py feeds the same keys to hmpbridge's line
editor and expects the same bytes.  A step that ends a line also holds the
command's output; the editor's part is the echo up to its ``\\r\\n``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Dict, List

from tests.golden.vm import VM, default_devices
from tests.integration.conftest import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "fixtures", "readline.json")

#: case name -> the chunks sent one after the other (each answered before the next)
CASES: Dict[str, List[str]] = {
    # QEMU keeps one history per monitor, shared by every connection: this
    # case must come before any case that runs a line
    "history-empty": ["x", "\x1b[A", "\x1b[B"],
    "typing": ["i", "n", "info st"],
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
    "ignored-controls": ["ab", "\x02\x03\x06\x07\x0e\x10\x11\x12\x13\x14\x16\x18\x19\x1a"],
    "unknown-escapes": ["ab", "\x1bx", "\x1b[5~", "\x1b[Z", "\x1bOQ", "c"],
    "csi-8bit": ["ab", "\x9bD"],
    "enter": ["info name", "\r"],
    "history": ["info name", "\r", "info version", "\r", "\x1b[A", "\x1b[A", "\x1b[A",
                "\x1b[B", "\x1b[B", "\x1b[B"],
    "history-edit": ["info name", "\r", "\x1b[A", "\x7f\x7f\x7f\x7f", "\r", "\x1b[A",
                     "\x1b[A", "\x1b[B"],
    "tab-one": ["info ver", "\t"],
    "tab-many": ["info st", "\t"],
    "tab-many-cursor-mid": ["info stxyz", "\x1b[D\x1b[D\x1b[D", "\t"],
    "tab-none-left": ["info zz", "\t"],
    "tab-all-info": ["info ", "\t"],
    "tab-command": ["ej", "\t"],
    "tab-empty-line": ["\t"],
    "tab-sendkey": ["sendkey ctrl-al", "\t"],
}


def drain(sock: socket.socket, quiet: float = 0.4) -> bytes:
    """What the monitor sends until it is quiet for ``quiet`` seconds or closes."""
    sock.settimeout(quiet)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return out
        if not chunk:
            return out
        out += chunk


def main() -> None:
    port = free_port()
    vm = VM(devices=lambda d: default_devices(d) + [
        "-monitor", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    try:
        time.sleep(0.3)
        result = {}
        for name, chunks in CASES.items():
            with socket.create_connection(("127.0.0.1", port)) as sock:
                drain(sock)
                steps = []
                for chunk in chunks:
                    sock.sendall(chunk.encode("latin-1"))
                    steps.append({"keys": chunk, "qemu": drain(sock).decode("latin-1")})
                result[name] = steps
            print("ok", name)
    finally:
        vm.close()
    with open(FIXTURE, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
