"""Figures QEMU measures at run time, which a golden replay leaves out of its comparison.

A golden fixture holds the QMP replies the handler rendered and the text
QEMU's own HMP printed for the same line.  The two come from two separate
queries: QEMU's monitor runs its own ``query-*`` after the handler's, and
QMP offers no way to have QEMU print the reply the handler got.  Most
figures are the same in both (a paused VM, a migration held before its
switchover), but a few are clocks read at the moment of the query and move
between the two.  Each such figure is named here, with the pattern that finds
it in QEMU's text (of every release the fixtures cover) and why it moves.

A scenario names the figures of a case (``Capture.case(..., measured=...)``);
the fixture lists them with the reason (``"measured": {name: why}``), and the
replay (:func:`compare`) masks exactly those: every other byte QEMU printed is
compared, and the masked figure must be there in both texts, the same number
of times, and QEMU's value may not be below the handler's (QEMU asked later).
There is no mask over digits in general.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, List, Mapping, Tuple

__all__ = ["Figure", "FIGURES", "reasons", "compare", "MaskError"]


@dataclasses.dataclass(frozen=True)
class Figure:
    """One run-time figure: where it is printed (one group: its digits) and why it moves."""

    name: str
    pattern: "re.Pattern[str]"
    why: str


FIGURES: Mapping[str, Figure] = {f.name: f for f in [
    Figure(
        "migrate-total-time",
        # 11.x: "Time (ms): \t\ttotal=217, ..."; 7.2 to 10.x: "total time: 61 ms"
        re.compile(r"^(?:Time \(ms\): \t\ttotal=|total time: )(\d+)", re.M),
        "query-migrate's total-time of a migration not yet ended is the time since it "
        "started, read when the query runs; QEMU's own text comes from a second "
        "query-migrate after the handler's, so it can be a millisecond or more later"),
]}


class MaskError(AssertionError):
    """A declared figure is not where its pattern says, or its values are not in time order."""


def reasons(names: Iterable[str]) -> "dict[str, str]":
    """``{name: why}`` for the fixture, of figures that must all be known."""
    return {name: FIGURES[name].why for name in names}


def _mask(text: str, figure: Figure) -> Tuple[str, List[int]]:
    values: List[int] = []

    def hide(match: "re.Match[str]") -> str:
        values.append(int(match.group(1)))
        start, end = match.span(1)
        whole = match.group(0)
        offset = match.start(0)
        return whole[:start - offset] + f"<{figure.name}>" + whole[end - offset:]

    return figure.pattern.sub(hide, text), values


def compare(expected: str, got: str, measured: Mapping[str, str]) -> Tuple[str, str]:
    """Both texts with the figures ``measured`` names put out of the comparison.

    :returns: ``(expected, got)`` with each such figure replaced by ``<name>``;
        the caller compares them whole.
    :raises MaskError: a figure is unknown, absent from QEMU's text, printed a
        different number of times by the handler, or smaller in QEMU's text.
    """
    for name in measured:
        if name not in FIGURES:
            raise MaskError(f"no run-time figure {name!r} in tests/golden/measured.py")
        figure = FIGURES[name]
        expected, qemu_values = _mask(expected, figure)
        got, bridge_values = _mask(got, figure)
        if not qemu_values:
            raise MaskError(f"{name}: not in QEMU's text (the mask would hide nothing)")
        if len(qemu_values) != len(bridge_values):
            raise MaskError(f"{name}: QEMU printed it {len(qemu_values)} times, "
                            f"the handler {len(bridge_values)}")
        for qemu_value, bridge_value in zip(qemu_values, bridge_values):
            if qemu_value < bridge_value:
                raise MaskError(f"{name}: QEMU's {qemu_value} is earlier than the "
                                f"handler's {bridge_value}, though QEMU was asked after it")
    return expected, got
