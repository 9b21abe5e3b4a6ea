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

Where Lark would refuse the line (characters no terminal of the state takes,
a token the state does not take), :class:`Refused` says where and with which
state stack, after the callbacks Lark runs before refusing; the caller words
the error from that as from Lark's exception, or parses the line with Lark
itself.  A line on more than one line, or needing a step when the table of
learned steps is full (:data:`STEP_LIMIT`), raises :class:`NotRemembered`,
and Lark parses it.

Pure translation: no I/O, no reactor.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from lark import Lark, Token
from lark.parse_tree_builder import ExpandSingleChild, apply_visit_wrapper
from lark.visitors import _vargs_inline, _VArgsWrapper  # Lark's own, checked below
from lark.parsers.lalr_analysis import Shift

__all__ = ["SteppedParser", "NotRemembered", "Refused", "STEP_LIMIT"]

#: How many (state stack, token type) steps one parser learns at most; past
#: that, lines needing a step not learned yet are parsed by Lark as before.
STEP_LIMIT = 20000

# A reduction to replay: the rule's callback, how many values it takes, and
# whether it takes them as separate arguments (the transformer's own method,
# which Lark's wrappers for an inline transformer would call so) or as a list.
_Op = Tuple[Callable[..., Any], int, bool]


class NotRemembered(Exception):
    """The line needs Lark itself: it needs a step not learned, or Lark's own error."""


class Refused(NotRemembered):
    """Lark refuses the line here: where, and the parser's state stack then.

    :ivar pos: the index of the character or token Lark stopped at
        (``len(text)`` at the end of the line).
    :ivar at_end: whether Lark stopped at the end of the line.
    :ivar stack: Lark's state stack when it stopped (what it would accept
        there depends on this alone).
    """

    def __init__(self, pos: int, at_end: bool, stack: Tuple[Any, ...]) -> None:
        super().__init__(pos, at_end, stack)
        self.pos = pos
        self.at_end = at_end
        self.stack = stack


class _Stuck(Exception):
    """A step Lark's table has no action for (its reductions up to there done)."""

    def __init__(self, stack: List[Any], ops: List["_Op"]) -> None:
        super().__init__()
        self.stack = tuple(stack)
        self.ops = tuple(ops)


# A learned step: the node after it (None when Lark refuses the token there),
# the reductions before it, and Lark's state stack where it refuses.
_Step = Tuple[Optional["_Node"], Tuple[_Op, ...], Tuple[Any, ...]]


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
        # token type -> the step taken on it
        self.steps: Dict[str, _Step] = {}
        # the step at the end of the line, once learned
        self.end: Optional[_Step] = None


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

        The rule callbacks run as Lark runs them, so an exception one raises
        comes out as from Lark.

        :raises Refused: where Lark raises ``UnexpectedInput`` (after the
            callbacks Lark runs before it).
        :raises NotRemembered: when Lark must parse the line (see the module).
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
                # no terminal of this state matches: Lark's contextual lexer
                # raises there, the parser's stack as it is
                raise Refused(pos, False, node.stack)
            type_ = match.lastgroup
            end = match.end()
            if type_ in node.ignore:
                pos = end
                continue
            token = Token(type_, match.group(0), pos, 1, pos + 1, 1, end + 1, end)
            if type_ in node.retype:
                token = node.retype[type_](token)
            step = node.steps.get(token.type)
            if step is None:
                step = self._learn(node, token.type, None)
            after, ops, refused_at = step
            if ops:
                _replay(ops, values)
            if after is None:
                raise Refused(pos, False, refused_at)
            node = after
            values.append(callbacks[token.type](token) if token.type in callbacks else token)
            pos = end
        step = node.end
        if step is None:
            step = self._learn(node, "$END", self._end_states[start])
        _last, ops, refused_at = step
        _replay(ops, values)
        if refused_at:
            raise Refused(length, True, refused_at)
        return values[-1]

    def _node(self, stack: Tuple[Any, ...]) -> _Node:
        node = self._nodes.get(stack)
        if node is None:
            node = self._nodes[stack] = _Node(stack, self._lexers[stack[-1]])
        return node

    def _learn(self, node: _Node, type_: str, end_state: Any) -> _Step:
        """Lark's ``ParserState.feed_token`` for one token, written down instead of done."""
        if self._learned >= STEP_LIMIT:
            raise NotRemembered()
        step: _Step
        try:
            stack, ops = self._reduce(list(node.stack), type_, end_state)
        except _Stuck as stuck:
            step = (None, stuck.ops, stuck.stack)
        else:
            step = (None if end_state is not None else self._node(tuple(stack)), tuple(ops), ())
        if end_state is None:
            node.steps[type_] = step
        else:
            node.end = step
        self._learned += 1
        return step

    def _reduce(self, stack: List[Any], type_: str, end_state: Any
                ) -> Tuple[List[Any], List[_Op]]:
        """Reduce until ``type_`` is shifted (or, at the end, ``end_state`` reached)."""
        states = self._states
        ops: List[_Op] = []
        while True:
            action, arg = states[stack[-1]].get(type_, (None, None))
            if action is None:
                raise _Stuck(stack, ops)
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
                ops.append(_unwrapped(callback, size))
            _shift, goto = states[stack[-1]][arg.origin.name]
            stack.append(goto)
            if end_state is not None and goto == end_state:
                return stack, ops


def _replay(ops: Tuple[_Op, ...], values: List[Any]) -> None:
    """Lark's reductions: each callback takes its rule's values off the stack."""
    for callback, size, inline in ops:
        if size:
            children = values[-size:]
            del values[-size:]
        else:
            children = []
        values.append(callback(*children) if inline else callback(children))


def _unwrapped(callback: Callable[..., Any], size: int) -> _Op:
    """The reduction, calling the transformer's method itself where Lark would.

    For a method of an inline transformer (``v_args(inline=True)``) Lark's
    callback is ``f(children)`` -> ``_vargs_inline(method, name, children)``
    -> ``method(*children)``; the method is called directly instead.  Any
    other callback is kept as Lark made it.
    """
    wrapped = getattr(callback, "__wrapped__", None)
    if (isinstance(wrapped, _VArgsWrapper) and wrapped.visit_wrapper is _vargs_inline
            and getattr(callback, "__code__", None) is _INLINE_CODE):
        return (wrapped.base_func, size, True)
    return (callback, size, False)


# The code of the function Lark wraps a v_args method in, to know it when seen.
_INLINE_CODE = apply_visit_wrapper(len, "", _vargs_inline).__code__  # type: ignore[no-untyped-call]
