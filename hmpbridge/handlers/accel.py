"""Accelerator commands whose name or text changed after 7.2.

``singlestep`` became ``one-insn-per-tb``; ``info jit`` begins with
"Accelerator settings:" from 8.1 and leaves out empty hash statistics and
the profiler line from 10.1.

QEMU 8.1 added ``one-insn-per-tb [on|off]`` and 9.0 removed ``singlestep``;
both set the TCG accelerator's ``one-insn-per-tb`` property, which no QMP
command reaches, so they go through QEMU's own monitor.  A session printing
an older release's text (``--hmp-version 7.2``) keeps ``singlestep``: over a
QEMU of 8.1 or later the line is sent as its successor.  Both print
``unexpected option X`` for anything but ``on`` and ``off``; the successor
also says ``This accelerator does not support setting one-insn-per-tb``
where the accelerator is not TCG (7.2's ``singlestep`` said nothing).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["singlestep", "successor_line", "hmp_quoted", "info_jit", "one_insn_per_tb",
           "ACCEL_SETTINGS", "jit_text_before_10_1"]

#: The first QEMU release with ``one-insn-per-tb``.
ONE_INSN_PER_TB_SINCE = (8, 1)

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def hmp_quoted(text: str) -> str:
    """``text`` as one HMP string argument: bare when it can be, else double-quoted."""
    if text and not any(ch.isspace() or ch in "\"'\\" for ch in text):
        return text
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def successor_line(inv: Invocation) -> str:
    """The ``one-insn-per-tb`` line that does what ``inv`` (a ``singlestep``) asks."""
    option = inv.args.get("option")
    return "one-insn-per-tb" if option is None else f"one-insn-per-tb {hmp_quoted(str(option))}"


@handler("singlestep")
def singlestep(inv: Invocation, ctx: Context) -> HandlerResult:
    """``singlestep [on|off]``: QEMU's own command, or its successor on 8.1 and later."""
    if ctx.profile.qemu[:2] >= ONE_INSN_PER_TB_SINCE:
        inv = replace(inv, line=successor_line(inv))
    return (yield from passthrough(inv, ctx))


#: What ``x-query-jit`` puts before the translation buffer state from 8.1.
ACCEL_SETTINGS = re.compile(r"\AAccelerator settings:\none-insn-per-tb: (on|off)\n\n")


def one_insn_per_tb(jit_text: str) -> Optional[bool]:
    """The ``one-insn-per-tb`` setting ``x-query-jit``'s text shows (8.1+), or None."""
    found = ACCEL_SETTINGS.match(jit_text)
    return None if found is None else found.group(1) == "on"


@handler("info jit")
def info_jit(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info jit``: ``x-query-jit``'s text; before 8.1 without the accelerator settings."""
    reply = yield QMPCommand("x-query-jit")
    text = str(reply["human-readable-text"]).replace("\r\n", "\n")
    if not ctx.profile.since(10, 1) and ctx.profile.qemu[:2] >= (10, 1):
        text = jit_text_before_10_1(text)
    if not ctx.profile.since(8, 1):
        text = ACCEL_SETTINGS.sub("", text, count=1)
    return text


#: Lines QEMU 10.1 leaves out of ``x-query-jit`` that earlier releases print:
#: the hash statistics of an empty distribution, and the profiler line.
_EMPTY_OCCUPANCY = "TB hash occupancy   nan% avg chain occ. Histogram: (empty)"
_EMPTY_CHAIN = "TB hash avg chain   nan buckets. Histogram: (empty)"
_NO_PROFILER = "[TCG profiler not compiled]"


def jit_text_before_10_1(text: str) -> str:
    """``x-query-jit``'s text of 10.1 or later as 10.0 and earlier printed it.

    10.1 (``accel/tcg/tcg-stats.c``) skips a hash statistic whose average is
    not a number, where earlier releases printed ``nan`` and ``(empty)``,
    and no longer ends the execution statistics with the profiler line.
    """
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        out.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("TB hash buckets ") and not following.startswith("TB hash occ"):
            out.append(_EMPTY_OCCUPANCY)
            line = _EMPTY_OCCUPANCY
        if line.startswith("TB hash occupancy ") and not following.startswith("TB hash avg"):
            out.append(_EMPTY_CHAIN)
        if line.startswith("TLB elided flushes ") and following != _NO_PROFILER:
            out.append(_NO_PROFILER)
    return "\n".join(out)
