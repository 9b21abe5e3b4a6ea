"""The parser's memory of recent lines changes nothing callers can see."""

from __future__ import annotations

import pytest

from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import CACHE_SIZE, parse


def test_repeated_line_gets_its_own_arguments() -> None:
    """Changing the arguments of one parse does not change those of the next parse of the line."""
    first = parse("device_add e1000,id=nic7")
    assert first is not None
    first.args["device"]["id"] = "changed"  # type: ignore[index]
    second = parse("device_add e1000,id=nic7")
    assert second is not None
    assert second.args == {"device": {"driver": "e1000", "id": "nic7"}}


def test_repeated_refused_line_raises_the_same_text_each_time() -> None:
    """A line QEMU refuses is refused with the same text and /fmt on every repetition."""
    texts = []
    for _ in range(3):
        with pytest.raises(ParseError) as info:
            parse("x /2q 0")
        texts.append((info.value.text, info.value.fmt))
    assert texts[0] == texts[1] == texts[2]
    assert texts[0][0].startswith("invalid char in format: 'q'")


def test_argument_less_command_with_trailing_text_is_still_refused() -> None:
    """Only blanks may follow a command without arguments; anything else is QEMU's error."""
    assert parse("stop  \t") is not None
    with pytest.raises(ParseError) as info:
        parse("stop now")
    assert info.value.text == ('stop|s: extraneous characters at the end of line\n'
                               'Try "help stop" for more information\n')


def test_many_distinct_lines_keep_being_parsed() -> None:
    """Past the number of lines remembered, old lines are forgotten and parse again the same."""
    lines = [f"print {n}" for n in range(CACHE_SIZE + 10)]
    first = [parse(line).args for line in lines]  # type: ignore[union-attr]
    again = [parse(line).args for line in lines]  # type: ignore[union-attr]
    assert first == again
    assert first[5] == {"val": 5}
