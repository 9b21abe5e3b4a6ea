"""Record QEMU 7.2's own output for every line of tests/fixtures/parse_lines.hmp.

    python -m tests.tools.capture_parse

writes tests/fixtures/parse_lines.json: [{"line": ..., "qemu": ...}, ...].
test_parser.py then checks that hmpbridge's parser refuses exactly the lines
QEMU refuses, with the same text, and accepts the others.
"""

from __future__ import annotations

import os

from tests.tools.qmp_sync import FIXTURES, capture_lines


def main() -> None:
    with open(os.path.join(FIXTURES, "parse_lines.hmp")) as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    capture_lines(lines, "parse_lines.json")


if __name__ == "__main__":
    main()
