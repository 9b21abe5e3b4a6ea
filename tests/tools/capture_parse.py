"""Record QEMU 7.2's own output for every line of tests/fixtures/parse_lines.hmp.

    python -m tests.tools.capture_parse

writes tests/fixtures/parse_lines.json: [{"line": ..., "qemu": ...}, ...].
test_parser.py then checks that hmpbridge's parser refuses exactly the lines
QEMU refuses, with the same text, and accepts the others.
"""

from __future__ import annotations

import json
import os

from tests.tools.qmp_sync import ScratchQEMU

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")


def main() -> None:
    with open(os.path.join(FIXTURES, "parse_lines.hmp")) as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    out = []
    with ScratchQEMU() as qemu:
        for line in lines:
            out.append({"line": line, "qemu": qemu.qmp.hmp(line)})
    with open(os.path.join(FIXTURES, "parse_lines.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
