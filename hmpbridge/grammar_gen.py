"""Generate the command rules of the HMP grammar from a release's command table.

Each command becomes one rule, which is also a start symbol: its name and
aliases, then its ``args_type`` items in order.  Flags, ``/fmt`` and
``.index`` are recognised by their token type; every other item gives one
child, ``None`` when an optional item was left out.

QEMU's rules are encoded as follows:

* an optional item (``s?``) may only be left out at the end of the line, so
  it and every item after it nest: ``[SIZE [(WORD_S | QUOTED)]]``;
* flags (``-f``) and the ``/fmt`` and ``.index`` items are skipped when absent,
  wherever they stand: ``(FLAG_F)?``;
* where a flag could still stand (the flag before was not given), a word may
  not start with ``-``: there ``-x`` is an option (``NDWORD_*``); after a
  given flag it may (``info block -v -n`` names device ``-n``);
* an expression may not start with a sign where a flag could stand, nor right
  after another expression (QEMU's reader is greedy: ``sum 1 -2`` is one
  expression), hence the ``*_next`` rules;
* item terminals appear in the command rules themselves, never behind a
  shared rule, so that LALR keeps every command's states apart and the
  contextual lexer offers only the current command's terminals.



The rules are generated when a release's parser is first built (Lark caches
the parser it builds from them); ``python -m hmpbridge.grammar_gen 10.0``
prints them for reading.
"""

from __future__ import annotations

import sys
from typing import Dict, Iterable, List, Sequence, Tuple

from hmpbridge.commands import ArgItem, CommandSpec, CommandTable, table_for

__all__ = ["flag_terminal", "command_rule", "generate"]

_PLAIN_ITEMS: Dict[str, str] = {
    "S": "REST",
    "O": "(WORD_O | QUOTED)",
    "b": "BOOLWORD",
    "o": "SIZE",
}
_WORD_ITEMS: Dict[str, str] = {"s": "S", "F": "F", "B": "B"}
_EXPRESSIONS: Dict[str, str] = {"i": "int32", "l": "int64", "M": "mebibytes"}
_SKIPPABLE: Dict[str, str] = {"/": "FMT", "i.": "dotindex"}

# What the previous item was, which decides how the next one may start.
_AFTER_NOTHING, _AFTER_SKIPPED_FLAG, _AFTER_FLAG, _AFTER_EXPRESSION = range(4)


def flag_terminal(letter: str) -> str:
    """The terminal name of flag ``-<letter>`` (``-D`` and ``-d`` differ)."""
    return f"FLAG_CAP_{letter}" if letter.isupper() else f"FLAG_{letter.upper()}"


def value_terminal(letter: str) -> str:
    """The terminal name of the value of flag ``-<letter>s``."""
    return f"VALWORD_CAP_{letter}" if letter.isupper() else f"VALWORD_{letter.upper()}"


def _value(item: ArgItem, after: int) -> str:
    """The grammar element of a non-flag item, given what came before it."""
    if item.type in _WORD_ITEMS:
        # Where a flag could still stand, "-x" is an option, not a word.
        prefix = "NDWORD_" if after == _AFTER_SKIPPED_FLAG else "WORD_"
        return f"({prefix}{_WORD_ITEMS[item.type]} | QUOTED)"
    if item.type in _EXPRESSIONS:
        # No leading sign where a flag could stand or another expression ended.
        signless = after in (_AFTER_SKIPPED_FLAG, _AFTER_EXPRESSION)
        return _EXPRESSIONS[item.type] + ("_next" if signless else "")
    if item.type in _PLAIN_ITEMS:
        return _PLAIN_ITEMS[item.type]
    raise ValueError(f"unknown args_type item {item.key}:{item.type}")


def _sequence(items: Sequence[ArgItem], after: int) -> str:
    """Grammar text for ``items``, QEMU's left-to-right walk over args_type."""
    if not items:
        return ""
    item, rest = items[0], items[1:]
    if item.is_flag:
        flag = flag_terminal(item.flag_letter)
        if item.flag_takes_value:
            flag = f"{flag} ({value_terminal(item.flag_letter)} | QUOTED)"
        given = _sequence(rest, _AFTER_FLAG)
        skipped = _sequence(rest, _AFTER_SKIPPED_FLAG)
        if given == skipped:
            return _join(f"({flag})?", given)
        return f"({_join(flag, given)} | {skipped or '()'})".replace("| ())", ")?")
    if item.type in _SKIPPABLE:
        return _join(f"{_SKIPPABLE[item.type]}?", _sequence(rest, after))
    next_after = _AFTER_EXPRESSION if item.type in _EXPRESSIONS else _AFTER_NOTHING
    body = _join(_value(item, after), _sequence(rest, next_after))
    # An optional item may only be left out at the end of the line, and so
    # may everything after it; QemuOpts (O) are likewise left out at the end.
    if item.optional or item.type == "O":
        return f"[{body}]"
    return body


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _name_terminal(spec: CommandSpec) -> str:
    return "_N_" + spec.rule[len("cmd_"):].upper()


def command_rule(spec: CommandSpec) -> Tuple[str, str]:
    """The rule text and the name terminal definition for one command."""
    head = ('"info" ' if spec.is_info else "") + _name_terminal(spec)
    rule = f"{spec.rule}: " + _join(head, _sequence(spec.items, _AFTER_NOTHING))
    # Longest alias first: a regex alternation takes the first that matches.
    aliases = sorted(spec.aliases, key=len, reverse=True)
    name_def = f"{_name_terminal(spec)}: " + " | ".join(f'"{a}"' for a in aliases)
    return rule, name_def


def _flag_terminals(specs: Iterable[CommandSpec]) -> List[str]:
    letters = sorted({i.flag_letter for s in specs for i in s.items if i.is_flag})
    with_value = sorted({i.flag_letter for s in specs for i in s.items if i.flag_takes_value})
    terminals = [f'{flag_terminal(c)}: "-{c}"' for c in letters]
    terminals += [f"{value_terminal(c)}: /[^\\s\"]\\S*/" for c in with_value]
    return terminals


def generate(table: CommandTable) -> str:
    """The command rules of ``table``'s grammar (added to ``grammar/hmp.lark``)."""
    out = [
        f"// The commands of QEMU {table.release[0]}.{table.release[1]}, generated from its"
        " command table.",
        "// One rule per HMP command; each rule is a start symbol of the parser.",
        "",
    ]
    names = []
    for spec in table:
        rule, name_def = command_rule(spec)
        out.append(rule)
        names.append(name_def)
    out += ["", "// Command names and aliases."] + names
    out += ["", "// Flags, and the values of -xs flags."] + _flag_terminals(table)
    return "\n".join(out) + "\n"


def start_symbols(table: CommandTable) -> List[str]:
    """Every command rule name, in table order."""
    return [spec.rule for spec in table]


if __name__ == "__main__":  # pragma: no cover
    from hmpbridge.profile import parse_release
    sys.stdout.write(generate(table_for(parse_release(sys.argv[1] if len(sys.argv) > 1
                                                      else "7.2"))))
