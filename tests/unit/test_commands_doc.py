"""docs/commands.md is generated from the command table and must be current."""

import os

from hmpbridge.commands_doc import commands_by_key, render

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "commands.md")


def test_commands_md_is_current():
    with open(DOC) as f:
        assert f.read() == render(), "run: python -m hmpbridge.commands_doc > docs/commands.md"


def test_every_command_is_listed_once():
    text = render()
    for spec, _ in [*commands_by_key(False).values(), *commands_by_key(True).values()]:
        assert text.count(f"\n| `{spec.name.replace('|', chr(92) + '|')}` |") == 1, spec.name
