"""Native ``info`` commands about the machine: run state, CPUs, devices, memory.

Text layout follows the release the session prints (``ctx.profile.release``):
``info status`` loses `` (single step mode)`` in 8.1, ``info pci`` prints
``(not mapped)`` from 9.2, ``info cpus`` adds `` model=`` in 10.1 and
``info iothreads`` ``poll-weight`` when QEMU 11 sends it.  What QMP offers is
read from the live schema: ``info kvm`` asks ``query-accelerators`` where
``query-kvm`` is deprecated or gone.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.accel import one_insn_per_tb
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render import machine
from hmpbridge.render.pci import PCI_NOT_SUPPORTED, render_pci

__all__ = [
    "info_status", "info_version", "info_name", "info_uuid", "info_kvm", "info_cpus",
    "info_mice", "info_balloon", "info_iothreads", "info_memdev", "info_dump",
    "info_chardev", "info_pci", "info_accelerators", "kvm_info",
]


@handler("info status")
def info_status(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info status``: the run state.

    A session printing 8.0's text or older shows `` (single step mode)``;
    over QEMU 9.0 and later, whose ``query-status`` no longer says, the
    setting is read from ``x-query-jit`` (TCG only; no suffix otherwise).
    """
    status = yield QMPCommand("query-status")
    if ctx.profile.since(8, 1):
        return machine.render_status(status, single_step_suffix=False)
    if "singlestep" not in status and ctx.profile.qemu[:2] >= (8, 1) \
            and ctx.profile.has_qmp("x-query-jit"):
        # 9.0 dropped the member; the TCG setting it showed is in x-query-jit's text
        try:
            jit = yield QMPCommand("x-query-jit")
        except QMPCommandError:
            jit = {}
        step = one_insn_per_tb(str(jit.get("human-readable-text", "")))
        status = {**status, "singlestep": bool(step)}
    return machine.render_status(status)


@handler("info version")
def info_version(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info version``: QEMU's version and package."""
    return machine.render_version((yield QMPCommand("query-version")))


@handler("info name")
def info_name(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info name``: the VM name, or nothing."""
    return machine.render_name((yield QMPCommand("query-name")))


@handler("info uuid")
def info_uuid(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info uuid``: the VM UUID."""
    return machine.render_uuid((yield QMPCommand("query-uuid")))


def _kvm_from_accelerators(ctx: Context) -> bool:
    """Whether ``query-kvm`` is deprecated (11.1) or gone and ``query-accelerators`` is there."""
    schema = ctx.profile.schema
    if schema is None or "query-accelerators" not in schema.commands:
        return False
    kvm = schema.entity("query-kvm")
    return not kvm or "deprecated" in kvm.get("features", ())


def kvm_info(accelerators: Mapping[str, Any]) -> Dict[str, bool]:
    """``query-kvm``'s reply worked out from ``query-accelerators``'s."""
    return {"present": "kvm" in accelerators.get("present", ()),
            "enabled": accelerators.get("enabled") == "kvm"}


@handler("info kvm")
def info_kvm(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info kvm``: KVM support."""
    if _kvm_from_accelerators(ctx):
        return machine.render_kvm(kvm_info((yield QMPCommand("query-accelerators"))))
    return machine.render_kvm((yield QMPCommand("query-kvm")))


@handler("info accelerators")
def info_accelerators(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info accelerators`` (10.2): the accelerators built in, the one in use bracketed."""
    return machine.render_accelerators((yield QMPCommand("query-accelerators")))


@handler("info cpus")
def info_cpus(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info cpus``: the session's current CPU is marked with ``*``."""
    cpus = yield QMPCommand("query-cpus-fast")
    return machine.render_cpus(cpus, ctx.state.cpu_index, model=ctx.profile.since(10, 1))


@handler("info mice")
def info_mice(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info mice``: the mouse devices."""
    return machine.render_mice((yield QMPCommand("query-mice")))


@handler("info balloon")
def info_balloon(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info balloon``: the balloon size; errors print as ``Error: <desc>``."""
    return machine.render_balloon((yield QMPCommand("query-balloon")))


@handler("info iothreads")
def info_iothreads(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info iothreads``: every iothread object."""
    return machine.render_iothreads((yield QMPCommand("query-iothreads")),
                                    poll_weight=ctx.profile.since(11, 0))


@handler("info memdev")
def info_memdev(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info memdev``: memory backends; QEMU prints an error after the empty line."""
    try:
        backends = yield QMPCommand("query-memdev")
    except QMPCommandError as err:
        return machine.render_memdev([]) + f"Error: {err.desc}\n"
    return machine.render_memdev(backends)


@handler("info dump")
def info_dump(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info dump``: the state of the last dump-guest-memory."""
    return machine.render_dump((yield QMPCommand("query-dump")))


@handler("info chardev")
def info_chardev(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info chardev``: every character device."""
    return machine.render_chardev((yield QMPCommand("query-chardev")))


@handler("info pci")
def info_pci(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info pci``: every PCI device; an error prints QEMU's fixed message."""
    try:
        buses = yield QMPCommand("query-pci")
    except QMPCommandError:
        return PCI_NOT_SUPPORTED
    return render_pci(buses, not_mapped=ctx.profile.since(9, 2))
