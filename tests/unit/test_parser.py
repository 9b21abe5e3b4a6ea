"""The HMP parser against QEMU 7.2's own verdicts.

tests/fixtures/parse_lines.json holds QEMU's output for each line of
parse_lines.hmp, captured with ``python -m tests.tools.capture_parse``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import pytest

from hmpbridge.errors import ParseError
from hmpbridge.commands import table_for
from hmpbridge.grammar_gen import generate
from hmpbridge.hmp_parser import parse, parser_for

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
CAPTURED: List[Dict[str, str]] = json.load(open(os.path.join(FIXTURES, "parse_lines.json")))


def _qemu_refused(text: str) -> bool:
    return "for more information\n" in text or text.startswith("unknown command:")


def _handled_by_help(line: str) -> bool:
    return line.split()[0] in ("help", "?")


@pytest.mark.parametrize("case", CAPTURED, ids=[c["line"] for c in CAPTURED])
def test_parse_matches_qemu(case: Dict[str, str]) -> None:
    """When QEMU refuses a line, the parser refuses it with QEMU's exact text; else it accepts it."""
    line, qemu = case["line"], case["qemu"]
    if _handled_by_help(line):
        parse(line)  # help reports unknown names itself, after parsing
        return
    if _qemu_refused(qemu):
        with pytest.raises(ParseError) as info:
            parse(line)
        assert info.value.text == qemu
    else:
        parse(line)


def test_generated_rules_name_every_command() -> None:
    """The generated rules hold one rule per entry, in table order."""
    table = table_for((7, 2))
    text = generate(table)
    heads = [line.split(":", 1)[0].lstrip("?") for line in text.splitlines()
             if line.startswith(("cmd_", "?cmd_"))]
    assert heads == [spec.rule for spec in table]


def test_every_command_has_a_grammar_rule() -> None:
    """Every command table entry is a start symbol of the grammar."""
    table = table_for((7, 2))
    rules = {str(r.origin.name) for r in parser_for(table).lark.rules}
    missing = [spec.key for spec in table if spec.rule not in rules]
    assert missing == []


VALUES: List[Any] = [
    ("info block -v -n", {"nodes": False, "verbose": True, "device": "-n"}),
    ("eject -f cd0", {"force": True, "device": "cd0"}),
    ('eject "-odd"', {"force": False, "device": "-odd"}),
    ('eject "a\\"b\\\\c\\n"', {"force": False, "device": 'a"b\\c\n'}),
    ("block_resize disk0 1.5G", {"device": "disk0", "size": 1610612736}),
    ("block_resize disk0 128", {"device": "disk0", "size": 134217728}),
    ("block_resize disk0 65536b", {"device": "disk0", "size": 65536}),
    ("block_resize disk0 0x10", {"device": "disk0", "size": 16 << 20}),
    ("balloon 64", {"value": 64 << 20}),
    ("print 0x10 + 010", {"val": 0x18}),
    ("print 1 + 2 & 3", {"val": 3}),
    ("print 6 & 3 | 8 ^ 1", {"val": 0xB}),
    ("print -1", {"val": (1 << 64) - 1}),
    ("print -7 / 2", {"val": (1 << 64) - 3}),
    ("print -7 % 2", {"val": (1 << 64) - 1}),
    ("print 'a'", {"val": 97}),
    ("x/4xw 0x100", {"fmt": {"count": 4, "format": "x", "size": 4}, "addr": 0x100}),
    ("i /b 0x70 .0x0a", {"fmt": {"count": 1, "format": None, "size": 1}, "addr": 0x70,
                         "index": 10}),
    ("device_add e1000,id=nic9,netdev=n0,,x,bare",
     {"device": {"driver": "e1000", "id": "nic9", "netdev": "n0,x", "bare": "on"}}),
    ("netdev_add user,id=u1", {"netdev": {"type": "user", "id": "u1"}}),
    ("qom-set -j /p prop  {\"a\": 1} ", {"json": True, "path": "/p", "property": "prop",
                                         "value": '{"a": 1} '}),
    ("screendump f.ppm -f png dev0 1", {"filename": "f.ppm", "format": "png",
                                         "device": "dev0", "head": 1}),
    ("migrate_set_capability xbzrle on", {"capability": "xbzrle", "state": True}),
    ("dump-guest-memory -p -z f", {"paging": True, "detach": False, "windmp": False,
                                    "zlib": True, "lzo": False, "snappy": False,
                                    "filename": "f"}),
]


@pytest.mark.parametrize("line,args", VALUES, ids=[v[0] for v in VALUES])
def test_argument_values(line: str, args: Dict[str, Any]) -> None:
    """Arguments are converted as QEMU's monitor converts them."""
    inv = parse(line)
    assert inv is not None
    assert dict(inv.args) == args


@pytest.mark.parametrize("line", ["", "   ", "\t "])
def test_silent_lines(line: str) -> None:
    """Blank lines are ignored as QEMU ignores them."""
    assert parse(line) is None


@pytest.mark.parametrize("line", ["info", "info ", " info \t "])
def test_info_followed_by_blanks_is_info(line: str) -> None:
    """``info`` with only blanks after it lists the info commands, as ``info`` does
    (QEMU 7.2.22, 10.0.2 and 11.1.3 alike)."""
    inv = parse(line)
    assert inv is not None and inv.spec.key == "info"


def test_register_expressions_are_marked() -> None:
    """An expression reading a CPU register marks the line for QEMU's own monitor."""
    inv = parse("print $pc + 4")
    assert inv is not None and inv.needs_registers
