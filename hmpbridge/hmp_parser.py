"""Parse one HMP line into an :class:`~hmpbridge.model.Invocation`, as QEMU 7.2 does.

The command name is looked up in the command table first (exact match on an
alias, like QEMU), then the whole line is parsed by the Lark grammar with the
command's own start symbol.  Lark's exceptions never leave this module: they
become :class:`~hmpbridge.errors.ParseError` carrying QEMU's exact text, e.g.::

    eject: block device name expected
    Try "help eject" for more information

Each release's command table has its own parser (:class:`HMPParser`), built
once per process (LALR, contextual lexer, strict) from ``grammar/hmp.lark`` and
the rules generated from the table, and cached by Lark in the system temporary
directory, so later start-ups load it in milliseconds.

Parsing is a pure function of the line, so the verdicts on the most recent
lines are kept (:data:`CACHE_SIZE`): scripts and operators repeat the same
lines (``info status`` every second), and a repeated line costs a dictionary
look-up instead of a parse.  Each caller gets its own copy of the arguments.
A command without arguments skips Lark altogether when nothing follows its
name, which is the only thing its grammar rule accepts.

A line never seen before goes through Lark's parser with its steps
remembered (:mod:`hmpbridge.lark_steps`): the same tokens, reductions and
callbacks as Lark, without Lark's table look-ups once a step is known.  A
refused line is worded from where Lark stops and the terminals it accepts
there, which are kept by Lark's state stack (:data:`ACCEPTED_LIMIT`) once Lark
itself has refused a line at that stack.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import re
from collections import OrderedDict
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple, Union, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from hmpbridge.commands import CommandSpec, CommandTable, table_for
from hmpbridge.errors import HMPBridgeError, ParseError
from hmpbridge.grammar_gen import generate, start_symbols
from hmpbridge.lark_steps import NotRemembered, Refused, SteppedParser
from hmpbridge.model import Invocation
from hmpbridge.qemu_opts import hex_suffix_taken
from hmpbridge.transformer import (
    REGISTER,
    HMPTransformer,
    ItemError,
    convert_items,
    parse_format,
)

__all__ = ["HMPParser", "parser_for", "parse", "parse_carried", "split_command", "ParseError",
           "CACHE_SIZE"]

_SPACE = " \t\n\r\f\v"
#: QEMU's get_command_name: blanks, then a name up to a blank or ``/``.
_NAME = re.compile(r"[ \t\n\r\f\v]*([^ \t\n\r\f\v/]*)")
_BLANK = re.compile(r"[ \t\n\r\f\v]*\Z")

#: How many recent lines keep their verdict.
CACHE_SIZE = 1024


def _command_name(line: str, pos: int) -> Tuple[str, int]:
    """QEMU's get_command_name: skip blanks, read up to a blank or ``/``."""
    match = _NAME.match(line, pos)
    assert match is not None  # both parts of the pattern may be empty
    return match.group(1), match.end()


#: How many parser state stacks keep the terminals acceptable there (for the
#: error messages), per release's parser.
ACCEPTED_LIMIT = 4096

# The terminals acceptable where a parse stopped, by the parser's state stack.
_Accepted = Dict[Tuple[int, ...], FrozenSet[str]]

# What the transformer makes of a command's rule: its name and children.
_RuleValue = Tuple[str, List[Any]]

# A result is (args, needs_registers) for an accepted line, a ParseError for a
# refused one.
_Verdict = Union[Tuple[Dict[str, Any], bool], ParseError]


class HMPParser:
    """The parser of one release's command table.

    Built once per table and shared by every connection to a QEMU of that
    release (:func:`parser_for`).  It keeps the verdicts on the most recent
    lines (:data:`CACHE_SIZE`): line -> (spec, result, nested), where
    ``nested`` says whether an argument is a dict or list (copied deeply).
    """

    def __init__(self, table: CommandTable, remember_steps: bool = True) -> None:
        """:param remember_steps: parse through :mod:`hmpbridge.lark_steps` (and keep
        the terminals acceptable where lines failed); False parses every line
        with Lark alone, as a reference."""
        self.table = table
        self._remember_steps = remember_steps
        self._lark: Optional[Lark] = None
        self._stepped: Optional[SteppedParser] = None
        self._accepted: _Accepted = {}
        # oldest first; an OrderedDict forgets its oldest entry in constant time
        self._recent: "OrderedDict[str, Tuple[CommandSpec, _Verdict, bool]]" = OrderedDict()
        self._hex_suffix = hex_suffix_taken(table.release)

    @property
    def lark(self) -> Lark:
        """The Lark parser for every command of the table (built on first use)."""
        if self._lark is None:
            grammar_dir = importlib.resources.files("hmpbridge.grammar")
            text = (grammar_dir / "hmp.lark").read_text() + generate(self.table)
            self._lark = Lark(
                text,
                parser="lalr",
                lexer="contextual",
                strict=True,
                maybe_placeholders=True,
                start=start_symbols(self.table),
                transformer=HMPTransformer(),
                cache=True,
            )
        return self._lark

    @property
    def stepped(self) -> SteppedParser:
        """The same parser with its steps remembered (:mod:`hmpbridge.lark_steps`)."""
        if self._stepped is None:
            self._stepped = SteppedParser(self.lark)
        return self._stepped

    def lark_parse(self, line: str, start: str) -> Any:
        """What ``self.lark.parse(line, start=start)`` returns, through the remembered
        steps when they cover the line.

        :raises Refused: where Lark refuses the line, when what Lark accepts
            there is known already (see :meth:`_verdict`).
        :raises UnexpectedInput: where Lark refuses it otherwise.
        """
        if self._remember_steps:
            try:
                return self.stepped.parse(line, start)
            except Refused as refused:
                if refused.stack in self._accepted:
                    raise
            except NotRemembered:
                pass
        return self.lark.parse(line, start=start)

    def split_command(self, line: str) -> Tuple[Optional[CommandSpec], int, bool]:
        """Find the table entry a line invokes.

        :returns: ``(spec, end, silent)``: the entry (None if unknown), the
            index just past its name in ``line``, and whether QEMU would ignore
            the line without a word (a blank line).
        :raises ParseError: for an unknown command or info subcommand.
        """
        name, end = _command_name(line, 0)
        if not name:
            return None, end, True
        spec = self.table.top.get(name)
        if spec is None:
            raise ParseError(f"unknown command: '{line[:end]}'\n")
        if spec.key != "info" or end == len(line):
            return spec, end, False
        sub, sub_end = _command_name(line, end)
        if not sub:
            return spec, end, False  # "info " lists the info commands, as "info" does
        info_spec = self.table.info.get(sub)
        if info_spec is None:
            raise ParseError(f"unknown command: '{line[:sub_end]}'\n")
        return info_spec, sub_end, False

    def parse(self, line: str) -> Optional[Invocation]:
        """Parse one HMP line (without its line end).

        :returns: the invocation, or None for a line QEMU ignores silently.
        :raises ParseError: with QEMU's exact text for a line it refuses.
        """
        recent = self._recent
        known = recent.get(line)
        if known is None:
            spec, name_end, silent = self.split_command(line)
            if silent or spec is None:
                return None
            verdict = self._verdict(spec, line, name_end)
            nested = not isinstance(verdict, ParseError) and any(
                isinstance(value, (dict, list)) for value in verdict[0].values())
            if len(recent) >= CACHE_SIZE:
                recent.popitem(last=False)
            recent[line] = known = (spec, verdict, nested)
        spec, verdict, nested = known
        if isinstance(verdict, ParseError):
            raise ParseError(verdict.text, verdict.column, verdict.command,
                             copy.deepcopy(verdict.fmt))
        args, registers = verdict
        # a copy the caller may change without touching the remembered verdict
        return Invocation(spec, _copy_args(args) if nested else dict(args), line,
                          needs_registers=registers)

    def _verdict(self, spec: CommandSpec, line: str, name_end: int) -> _Verdict:
        """Parse ``line`` for ``spec``: its arguments, or the error QEMU prints."""
        items = spec.items
        if not items and _BLANK.match(line, name_end):
            return {}, False  # all the rule of a command without arguments accepts
        try:
            # with an inline transformer, parse() returns what the transformer built for
            # the command's rule (HMPTransformer.__default__), not the Tree lark declares
            _rule, children = cast(_RuleValue, self.lark_parse(line, spec.rule))
            args = convert_items(spec, children, items, self._hex_suffix)
        except ItemError as err:
            return _error(spec, line, name_end, _item_message(spec, err.kind, err.detail))
        except Refused as refused:
            return _error(spec, line, name_end, _message_at(
                spec, line, refused.pos, refused.at_end, self._accepted[refused.stack]))
        except UnexpectedInput as err:
            return _error(spec, line, name_end,
                          _syntax_message(spec, line, err,
                                          self._accepted if self._remember_steps else None))
        return args, any(value is REGISTER for value in args.values())


_ATOMS = (str, int, float, bool, type(None))


def _copy_args(value: Any) -> Any:
    """A deep copy of parsed arguments: dicts and lists anew, strings and numbers shared."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_args(item) for key, item in value.items()}
    if kind is list:
        return [_copy_args(item) for item in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


@functools.lru_cache(maxsize=None)
def parser_for(table: CommandTable) -> HMPParser:
    """The parser of ``table``, one per table for the life of the process."""
    return HMPParser(table)


def parse(line: str, table: Optional[CommandTable] = None) -> Optional[Invocation]:
    """Parse one HMP line with ``table`` (QEMU 7.2's when None); see :meth:`HMPParser.parse`."""
    return parser_for(table if table is not None else table_for((7, 2))).parse(line)


def split_command(line: str, table: Optional[CommandTable] = None
                  ) -> Tuple[Optional[CommandSpec], int, bool]:
    """See :meth:`HMPParser.split_command` (QEMU 7.2's table when None)."""
    return parser_for(table if table is not None else table_for((7, 2))).split_command(line)


def parse_carried(message: Mapping[str, Any],
                  table: Optional[CommandTable] = None) -> Optional[Invocation]:
    """The parsed line a QMP ``human-monitor-command`` carries, or None when it
    carries none or the line does not parse."""
    arguments = message.get("arguments")
    line = arguments.get("command-line") if isinstance(arguments, Mapping) else None
    if not isinstance(line, str):
        return None
    try:
        return parse(line, table)
    except HMPBridgeError:
        return None


def _error(spec: CommandSpec, line: str, name_end: int, message: str) -> ParseError:
    head = line[:name_end].rstrip(_SPACE)
    text = (message + "\n" if message else "") + f'Try "help {head}" for more information\n'
    return ParseError(text, command=spec.key, fmt=_leading_format(spec, line, name_end))


def _leading_format(spec: CommandSpec, line: str, name_end: int) -> Optional[Dict[str, Any]]:
    """The ``/fmt`` item of a refused line, if QEMU read it before failing.

    ``/fmt`` is always the first item, so it was read whenever it is valid.
    """
    if not spec.items or spec.items[0].type != "/":
        return None
    rest = line[name_end:].lstrip(_SPACE)
    if not rest.startswith("/"):
        return None
    try:
        return parse_format(rest.split(None, 1)[0])
    except ItemError:
        return None


_WORD_KINDS = {
    "WORD_S": "string", "NDWORD_S": "string", "REST": "string",
    "WORD_F": "filename", "NDWORD_F": "filename",
    "WORD_B": "blockdev", "NDWORD_B": "blockdev",
    "WORD_O": "opts", "BOOLWORD": "onoff", "SIZE": "size", "NUMBER": "expression",
}


def _item_message(spec: CommandSpec, kind: str, detail: str = "") -> str:
    label = spec.label
    messages = {
        "string": f"{label}: string expected",
        "filename": f"{label}: filename expected",
        "blockdev": f"{label}: block device name expected",
        "flagvalue": f"{label}: value expected for -{detail}",
        "option": f"{label}: unsupported option -{detail}",
        "extraneous": f"{label}: extraneous characters at the end of line",
        "int32": f"'{label}' has failed: integer is for 32-bit values",
        "positive": "enter a positive value",
        "size": "invalid size",
        "onoff": "Expected 'on' or 'off'",
        "format": f"invalid char in format: '{detail}'",
        # QEMU 7.2 reports a bad option list on its stderr, not to the monitor
        "opts": "",
        "expression": detail,
    }
    return messages[kind]


def _syntax_message(spec: CommandSpec, line: str, err: UnexpectedInput,
                    accepted: Optional[_Accepted] = None) -> str:
    """Name the item QEMU was reading where Lark stopped, and QEMU's words for it.

    :param accepted: the terminals already found acceptable, by state stack.
    """
    if isinstance(err, UnexpectedToken):
        token: Token = err.token
        at_end = token.type == "$END"
        pos = len(line) if at_end else token.start_pos or 0
    elif isinstance(err, UnexpectedCharacters):
        # lark declares it None on UnexpectedInput; UnexpectedCharacters sets the lexer's position
        pos = cast(int, err.pos_in_stream)
        at_end = False
    else:  # pragma: no cover - LALR raises only the two above
        return _item_message(spec, "extraneous")
    return _message_at(spec, line, pos, at_end,
                       _acceptable(err, {} if accepted is None else accepted))


def _message_at(spec: CommandSpec, line: str, pos: int, at_end: bool,
                expected: FrozenSet[str]) -> str:
    """QEMU's words for a line refused at ``pos``, where Lark accepted ``expected``."""
    char = "" if at_end or pos >= len(line) else line[pos]
    if char == "-" and any(t.startswith("FLAG_") for t in expected):
        return _item_message(spec, "option", line[pos + 1:pos + 2])
    kinds = {_WORD_KINDS[t] for t in expected if t in _WORD_KINDS}
    for t in expected:
        if t.startswith("VALWORD_"):
            letter = t[len("VALWORD_CAP_"):] if "_CAP_" in t else t[-1].lower()
            return _item_message(spec, "flagvalue", letter)
    if "expression" in kinds:
        return _expression_message(line, pos, char)
    if kinds:
        # Several kinds can only mean a string item; QEMU reads one item at a time.
        return _item_message(spec, sorted(kinds)[0])
    if "_RPAR" in expected:
        return "')' expected"
    return _item_message(spec, "extraneous")


def _acceptable(err: UnexpectedInput, accepted: _Accepted) -> FrozenSet[str]:
    """The terminals the parser can really take where it stopped.

    LALR merges the states of the shared expression rules, so the terminals a
    state lists can include ones that only another command accepts; asking
    the interactive parser which tokens it accepts gives the exact set.  That
    set depends on the parser's state stack alone (Lark feeds each terminal to
    a copy, callbacks off), so it is kept in ``accepted`` by stack, up to
    :data:`ACCEPTED_LIMIT` stacks.
    """
    interactive = getattr(err, "interactive_parser", None)
    if interactive is not None:
        stack = tuple(interactive.parser_state.state_stack)
        known = accepted.get(stack)
        if known is not None:
            return known
        try:
            found = frozenset(interactive.accepts())
        except Exception:  # noqa: BLE001 - fall back to the listed set
            pass
        else:
            if len(accepted) < ACCEPTED_LIMIT:
                accepted[stack] = found
            return found
    listed = err.expected if isinstance(err, UnexpectedToken) else getattr(err, "allowed", ())
    return frozenset(listed or ())


def _expression_message(line: str, pos: int, char: str) -> str:
    if not char:
        return "unexpected end of expression"
    if char == "'":
        if pos + 1 >= len(line):
            return "character constant expected"
        return "missing terminating ' character"
    return f"invalid char '{char}' in expression"
