"""Lark's LALR parser and contextual lexer, with every parser step remembered.

Lark's LALR parser looks up each action in its table for every token and
reduces one rule at a time; on HMP's short lines most of its time goes into
that loop, not into the work the rules do (an integer item climbs seven rules,
``number`` up to ``int64``, five of which only hand their one child on).  The
steps themselves depend only on the parser's state stack and the type of the
next token, so :class:`SteppedParser` works each one out once, with Lark's own
tables, and afterwards replays it: the rule callbacks that do something
(Lark's, with the project's transformer inline) in Lark's order, the ones that
only pass their single child on skipped.  The lexer is Lark's: the state's own
lexer of the contextual lexer, as Lark picks it.

Whatever is not a plain success (characters no terminal takes, a token the
state does not take, a learned-steps table that is full) raises
:class:`NotRemembered`, and the caller parses the line with Lark itself, which
raises the very error it always raised: errors always come from Lark.

Pure translation: no I/O, no reactor.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from lark import Lark, Token
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

__all__ = ["SteppedParser", "NotRemembered", "STEP_LIMIT"]

#: How many (state stack, token type) steps one parser learns at most; past
#: that, lines needing a step not learned yet are parsed by Lark as before.
STEP_LIMIT = 20000

# A reduction to replay: the rule's callback and how many values it takes.
_Op = Tuple[Callable[[List[Any]], Any], int]


class NotRemembered(Exception):
    """The line needs Lark itself: it is refused, or needs a step not learned."""


class _Node:
    """One state stack of the parser: its lexer and the steps learned from it."""

    __slots__ = ("stack", "patterns", "ignore", "retype", "steps", "end")

    def __init__(self, stack: Tuple[int, ...], lexer: Any) -> None:
        self.stack = stack
        # what Lark's BasicLexer for this state matches with (its scanner's
        # alternations, in order), skips, and re-types (a string terminal
        # that a pattern terminal also matches)
        self.patterns = tuple(lexer.scanner._mres)
        self.ignore = lexer.ignore_types
        self.retype = dict(lexer.callback)
        # token type -> (the node after shifting it, the reductions before)
        self.steps: Dict[str, Tuple["_Node", Tuple[_Op, ...]]] = {}
        # the reductions at the end of the line, once learned
        self.end: Optional[Tuple[_Op, ...]] = None


class SteppedParser:
    """Parses like ``lark.parse(text, start=...)`` for a LALR, contextual-lexer Lark.

    :param lark: built with ``parser="lalr"``, ``lexer="contextual"`` and an
        inline transformer (the callbacks are what :meth:`parse` returns).
    """

    def __init__(self, lark: Lark) -> None:
        frontend = lark.parser
        parser = frontend.parser.parser
        table = parser.parse_table
        self._states: Dict[Any, Dict[str, Tuple[Any, Any]]] = table.states
        self._start_states: Dict[str, Any] = table.start_states
        self._end_states: Dict[str, Any] = table.end_states
        self._callbacks: Dict[Any, Callable[..., Any]] = parser.callbacks
        self._lexers: Dict[Any, Any] = frontend.lexer.lexers
        self._nodes: Dict[Tuple[Any, ...], _Node] = {}
        self._starts: Dict[str, _Node] = {}
        self._learned = 0

    @property
    def learned(self) -> int:
        """How many steps have been learned so far."""
        return self._learned

    def parse(self, text: str, start: str) -> Any:
        """What Lark's parser returns for ``text`` from ``start``.

        :raises NotRemembered: when Lark must parse it (see the module).
        """
        node = self._starts.get(start)
        if node is None:
            node = self._starts[start] = self._node((self._start_states[start],))
        if "\n" in text:
            raise NotRemembered()  # tokens on a second line: Lark counts the lines
        callbacks = self._callbacks
        values: List[Any] = []
        pos, length = 0, len(text)
        while pos < length:
            # Lark's BasicLexer.next_token, on one line
            for pattern in node.patterns:
                match = pattern.match(text, pos)
                if match is not None:
                    break
            else:
                raise NotRemembered()
            type_ = match.lastgroup
            end = match.end()
            if type_ in node.ignore:
                pos = end
                continue
            token = Token(type_, match.group(0), pos, 1, pos + 1, 1, end + 1, end)
            pos = end
            if type_ in node.retype:
                token = node.retype[type_](token)
            step = node.steps.get(token.type)
            if step is None:
                step = self._learn(node, token.type, start)
            node, ops = step
            for callback, size in ops:
                if size:
                    children = values[-size:]
                    del values[-size:]
                else:
                    children = []
                values.append(callback(children))
            values.append(callbacks[token.type](token) if token.type in callbacks else token)
        last = node.end
        if last is None:
            last = self._learn_end(node, start)
        for callback, size in last:
            if size:
                children = values[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
        return values[-1]

    def _node(self, stack: Tuple[Any, ...]) -> _Node:
        node = self._nodes.get(stack)
        if node is None:
            node = self._nodes[stack] = _Node(stack, self._lexers[stack[-1]])
        return node

    def _room(self) -> None:
        if self._learned >= STEP_LIMIT:
            raise NotRemembered()

    def _learn(self, node: _Node, type_: str, start: str) -> Tuple[_Node, Tuple[_Op, ...]]:
        """Lark's ``ParserState.feed_token`` for one token, written down instead of done."""
        self._room()
        stack, ops = self._reduce(list(node.stack), type_, None)
        step = (self._node(tuple(stack)), tuple(ops))
        node.steps[type_] = step
        self._learned += 1
        return step

    def _learn_end(self, node: _Node, start: str) -> Tuple[_Op, ...]:
        self._room()
        _stack, ops = self._reduce(list(node.stack), "$END", self._end_states[start])
        node.end = tuple(ops)
        self._learned += 1
        return node.end

    def _reduce(self, stack: List[Any], type_: str, end_state: Any
                ) -> Tuple[List[Any], List[_Op]]:
        """Reduce until ``type_`` is shifted (or, at the end, ``end_state`` reached)."""
        states = self._states
        ops: List[_Op] = []
        while True:
            action, arg = states[stack[-1]].get(type_, (None, None))
            if action is None:
                raise NotRemembered()
            if action is Shift:
                if end_state is not None:  # pragma: no cover - Lark asserts the same
                    raise NotRemembered()
                stack.append(arg)
                return stack, ops
            size = len(arg.expansion)
            if size:
                del stack[-size:]
            callback = self._callbacks[arg]
            # a ?rule handing its one child on changes nothing: not replayed
            if not (size == 1 and type(callback) is ExpandSingleChild):
                ops.append((callback, size))
            _shift, goto = states[stack[-1]][arg.origin.name]
            stack.append(goto)
            if end_state is not None and goto == end_state:
                return stack, ops
