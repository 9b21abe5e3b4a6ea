"""Guest memory to files: ``memsave``, ``pmemsave`` and ``dumpdtb``.

``memsave`` reads virtual addresses through the session's current CPU
(``cpu N``), which it passes as ``cpu-index``; ``pmemsave`` reads physical
memory.  ``size`` is a 32-bit unsigned value in HMP.  ``dumpdtb`` writes
the machine's flattened device tree; QEMU says ``info: dtb dumped to FILE``
when it worked (9.1: ``dtb dumped to FILE`` with no line end; 10.0: ``DTB
dumped to 'FILE'``) and machines without one (x86 ``pc``) give an error,
followed from 10.0 by the hint QEMU's HMP prints (QMP leaves hints out).
"""

from __future__ import annotations

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["memsave", "pmemsave", "dumpdtb", "gva2gpa"]


@handler("memsave")
def memsave(inv: Invocation, ctx: Context) -> HandlerResult:
    """``memsave addr size file`` -> ``memsave`` on the current CPU."""
    yield QMPCommand("memsave", {"val": inv.args["val"],
                                 "size": inv.args["size"] & 0xFFFFFFFF,
                                 "filename": inv.args["filename"],
                                 "cpu-index": ctx.state.cpu_index})
    return ""


@handler("pmemsave")
def pmemsave(inv: Invocation, ctx: Context) -> HandlerResult:
    """``pmemsave addr size file`` -> ``pmemsave``."""
    yield QMPCommand("pmemsave", {"val": inv.args["val"],
                                  "size": inv.args["size"] & 0xFFFFFFFF,
                                  "filename": inv.args["filename"]})
    return ""


@handler("dumpdtb")
def dumpdtb(inv: Invocation, ctx: Context) -> HandlerResult:
    """``dumpdtb file`` -> ``dumpdtb``; success prints the release's line."""
    filename = inv.args["filename"]
    try:
        yield QMPCommand("dumpdtb", {"filename": filename})
    except QMPCommandError as err:
        if err.desc != NO_FDT:
            return f"Error: {err.desc}\n"
        if ctx.profile.since(10, 0):
            return f"Error: {NO_FDT}\n{NO_FDT_HINT}"
        return f"Error: {NO_FDT_BEFORE_10}\n"
    if ctx.profile.since(10, 0):
        return f"DTB dumped to '{filename}'\n"
    if ctx.profile.since(9, 1):
        return f"dtb dumped to {filename}"
    return f"info: dtb dumped to {filename}\n"


#: QEMU's error for a machine without a device tree, and the hint 10.0 adds;
#: until 9.2 the error said "a FDT".
NO_FDT = "This machine doesn't have an FDT"
NO_FDT_BEFORE_10 = "This machine doesn't have a FDT"
NO_FDT_HINT = ("(Perhaps it doesn't support FDT at all, or perhaps you need to provide "
               "an FDT with the -fdt option?)\n")


@handler("gva2gpa")
def gva2gpa(inv: Invocation, ctx: Context) -> HandlerResult:
    """``gva2gpa addr``: QEMU's own monitor (no QMP command translates addresses).

    QEMU 11.0 prints ``gpa: 0x%x`` where earlier releases printed ``%#x``;
    they differ for address 0 only (``0x0`` against ``0``), which an older
    release's text keeps.
    """
    text = yield from passthrough(inv, ctx)
    if text == "gpa: 0x0\n" and not ctx.profile.since(11, 0) and ctx.profile.qemu[:2] >= (11, 0):
        return "gpa: 0\n"
    return text
