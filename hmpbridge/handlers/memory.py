"""Guest memory to files: ``memsave``, ``pmemsave`` and ``dumpdtb``.

``memsave`` reads virtual addresses through the session's current CPU
(``cpu N``), which it passes as ``cpu-index``; ``pmemsave`` reads physical
memory.  ``size`` is a 32-bit unsigned value in HMP.  ``dumpdtb`` writes
the machine's flattened device tree; QEMU says ``info: dtb dumped to FILE``
when it worked and machines without one (x86 ``pc``) give an error.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["memsave", "pmemsave", "dumpdtb"]


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
    """``dumpdtb file`` -> ``dumpdtb``; success prints QEMU's info line."""
    filename = inv.args["filename"]
    yield QMPCommand("dumpdtb", {"filename": filename})
    return f"info: dtb dumped to {filename}\n"
