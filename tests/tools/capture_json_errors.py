"""Record how each QEMU release answers malformed JSON (its JSON parser's errors).

    python -m tests.tools.capture_json_errors [QEMU ...]

For each ``qemu-system-x86_64`` given (default: the system's and those under
``.qemu/``), writes ``tests/fixtures/releases/<X.Y>/json-errors.json``:

- ``qmp``: the :data:`QMP_CHUNKS` sent one after the other on one QMP
  connection (after ``qmp_capabilities``), each chunk a latin-1 string, and
  every line QEMU answered, until the reply to :data:`SENTINEL`;
- ``hmp``: for each of :data:`HMP_VALUES`, what ``qom-set -j /machine foo
  VALUE`` prints through ``human-monitor-command``.

tests/unit/test_qjson_release_errors.py replays them through the bridge's
JSON readers; tests/integration/test_release_json_errors.py sends the same
chunks to a twin QEMU and to the bridge's QMP endpoint.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASES = os.path.join(HERE, "..", "fixtures", "releases")

#: Sent in order on one connection: every error kind of the JSON readers, positions
#: after several lines, tabs, multi-byte characters, a token after a number or a lexer
#: error, messages split across packets, a bad message after a good one.
QMP_CHUNKS: List[List[bytes]] = [
    [b"}\n"],
    [b"\n\n  }\n"],
    [b'{"execute" "x"}\n'],
    [b'{"execute":"x" "y"}\n'],
    [b"[1 2]\n"],
    [b'{"a":}\n'],
    [b"{1:2}\n"],
    [b'"\\x"\n'],
    [b'"\\ud800"\n'],
    [b'"\xff"\n'],
    [b'"\xc3\x28"\n'],
    [b"NaN\n"],
    [b"+}\n"],
    [b"+ }\n"],
    [b"abc}\n"],
    [b'{"execute":"query-status"}  }\n'],
    [b"\t\t}\n"],
    [b'"\xc3\xa9\xc3\xa9" \t }\n'],
    [b'{"a":1,}\n'],
    [b"[1,]\n"],
    [b'{"a"', b" 1}\n"],
    [b"1.\n"],
    [b'{"execute":"query-status", "id": 01}\n'],
    [b"\r}\n"],
    [b"[1:]\n"],
    [b"[true}\n"],
    [b"[1.5}\n"],
    [b'["a\x01b"]\n'],
    [b'{"a":1"b"}\n'],
    [b'{"a\\u00"}\n'],
    [b"[1,\t\t+]\n"],
    [b'{"execute":"query-status"}{"execute":"query-status"}]\n'],
    [b'{"a":1,"b"]\n'],
    [b"[1,2:\n]\n"],
    [b"[[}]]\n"],
    [b'{"a":{"b":[1]]}\n'],
    [b'{"execute":"qu', b'ery-status", "x":', b" ]}\n"],
    [b"[", b"1", b":", b"]", b"\n"],
    [b'{"a":1}x\n'],
    [b"\xff}\n"],
    [b'{"execute":"query-status","execute":"query-name"}\n'],
    [b'{"execute":"query-status","arguments":{"a":1,"a":2}}\n'],
    [b'{"execute":"query-status","id":["a","a",{"a":"a"}]}\n'],
]
#: Ends the exchange: its reply is the last line read.
SENTINEL = b'{"execute":"query-version","id":"end"}\n'
#: Values for ``qom-set -j`` (the JSON text is the rest of the line).
HMP_VALUES: List[str] = [
    "{", "[1", "[true", '{"a":', '{"a"', '{"a":1,', '"abc', "}", "1 2", "1 }", "} 1",
    '{"a" 1}', "[1,2:]", "[1:]", "abc", "+1", '"\\x"', '"\\ud800"', '{"a":[}', "[1}]",
    "{{", "[" * 1025, "1.", "[1,\t:]", '"\u00e9" :', "[1] [2]", "x [1]", "[1,2",
    '{"a":1,"a":2}', '{"a":1 "b"}', "[1,]", "{,}", "+}", "abc}"]
#: Between two chunks, so each reaches QEMU as a read of its own.
PAUSE = 0.02


def qmp_exchange(path: str, chunks: Sequence[Sequence[bytes]], timeout: float = 20) -> List[str]:
    """Every line (without its ``\\r\\n``, latin-1) answered to ``chunks`` on a new QMP
    connection to ``path``, up to the sentinel's reply (left out)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    sock.connect(path)
    reader = sock.makefile("rb")
    try:
        reader.readline()  # the greeting
        sock.sendall(b'{"execute":"qmp_capabilities"}\n')
        reader.readline()
        for case in chunks:
            for chunk in case:
                sock.sendall(chunk)
                time.sleep(PAUSE)
        sock.sendall(SENTINEL)
        lines: List[str] = []
        while True:
            line = reader.readline()
            if not line:
                raise RuntimeError("the connection closed before the sentinel's reply")
            if b'"id": "end"' in line:
                return lines
            lines.append(line.rstrip(b"\r\n").decode("latin-1"))
    finally:
        reader.close()
        sock.close()


def hmp_outputs(path: str) -> List[Dict[str, str]]:
    """What ``qom-set -j /machine foo VALUE`` prints, for each of :data:`HMP_VALUES`."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(20)
    sock.connect(path)
    stream = sock.makefile("rwb")
    try:
        stream.readline()
        stream.write(b'{"execute":"qmp_capabilities"}\n')
        stream.flush()
        stream.readline()
        out = []
        for value in HMP_VALUES:
            request = {"execute": "human-monitor-command",
                       "arguments": {"command-line": "qom-set -j /machine foo " + value}}
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            reply = json.loads(stream.readline())
            out.append({"value": value, "output": reply["return"].replace("\r\n", "\n")})
        return out
    finally:
        stream.close()
        sock.close()


def capture(qemu: str) -> Dict[str, Any]:
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                             check=True).stdout
    found = re.search(r"version (\d+)\.(\d+)\.(\d+)", version)
    assert found is not None, version
    with tempfile.TemporaryDirectory(prefix="hmpbridge-json-") as tmp:
        path = os.path.join(tmp, "qmp.sock")
        proc = subprocess.Popen([qemu, "-M", "none", "-nodefaults", "-display", "none", "-S",
                                 "-qmp", f"unix:{path},server=on,wait=off"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while not os.path.exists(path):
                if time.time() > deadline:
                    raise RuntimeError(f"{qemu} did not create its QMP socket")
                time.sleep(0.05)
            return {"qemu": ".".join(found.groups()),
                    "qmp": {"chunks": [[c.decode("latin-1") for c in case]
                                       for case in QMP_CHUNKS],
                            "replies": qmp_exchange(path, QMP_CHUNKS)},
                    "hmp": hmp_outputs(path)}
        finally:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str]) -> None:
    root = os.path.join(HERE, "..", "..", ".qemu")
    programs = list(argv) or ["qemu-system-x86_64"] + sorted(
        os.path.join(root, name, "qemu-system-x86_64") for name in os.listdir(root)
        if os.path.exists(os.path.join(root, name, "qemu-system-x86_64")))
    for program in programs:
        record = capture(program)
        release = ".".join(record["qemu"].split(".")[:2])
        target = os.path.join(RELEASES, release, "json-errors.json")
        with open(target, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=1, ensure_ascii=False)
            out.write("\n")
        print(f"{target}: QEMU {record['qemu']}")


if __name__ == "__main__":
    main(sys.argv[1:])
