"""Commands whose QMP command a later QEMU removed with the feature they reported on.

An older release's table still lists them (``--hmp-version 7.2`` over QEMU
11.1), and the feature is gone from the QEMU served, so what that release
printed when its QEMU had none of it stays true.  Each answer is QEMU's own,
from the sources named beside it; each is registered from the release whose
QEMU no longer has the QMP command (found with ``git log -S`` on
``qapi/machine.json``).
"""

from __future__ import annotations

from typing import Any, Generator

from hmpbridge.handlers import Context, HandlerResult, when_removed
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["info_rdma", "info_opcount", "info_profile"]


@when_removed("info rdma", since=(9, 1))
def info_rdma(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info rdma``: one paragraph per RDMA device; QEMU 9.1 removed them all.

    QEMU 7.2's ``qmp_x_query_rdma`` (monitor/qmp-cmds.c) walks the RDMA
    providers and prints nothing when there is none.
    """
    return ""
    yield  # pragma: no cover - a generator that sends nothing


def _tcg_enabled(ctx: Context) -> Generator[QMPCommand, Any, bool]:
    if ctx.has_qmp("query-accelerators"):
        return bool((yield QMPCommand("query-accelerators")).get("enabled") == "tcg")
    return not (yield QMPCommand("query-kvm")).get("enabled")


@when_removed("info opcount", since=(10, 1))
def info_opcount(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info opcount``: QEMU 10.1 removed it with the TCG profiler's remains.

    Until then ``qmp_x_query_opcount`` (accel/tcg) refused without TCG and
    otherwise printed ``tcg_dump_op_count``'s line of a build without
    ``CONFIG_PROFILER`` (every Debian build; the option went away in 8.1).
    """
    if not (yield from _tcg_enabled(ctx)):
        return "Error: Opcode count information is only available with accel=tcg\n"
    return "[TCG profiler not compiled]\n"


@when_removed("info profile", since=(8, 1))
def info_profile(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info profile``: QEMU 8.1 removed ``CONFIG_PROFILER`` and ``x-query-profile``.

    Before, a build without the profiler (every Debian build) refused it in
    ``qmp_x_query_profile`` (accel/tcg/cpu-exec.c).
    """
    return "Error: Internal profiler not compiled\n"
    yield  # pragma: no cover - a generator that sends nothing
