"""Native ``info`` commands that map onto one QMP query each.

Display servers, TPM, memory devices and sizes, hot-pluggable CPUs, the VM
generation ID, SEV, SGX, record/replay, the rocker switch tables and trace
event states.  QEMU's HMP calls the same QMP functions; where it prints a
failure differently from ``Error: <desc>`` the handler does the same
(``info tpm``'s fixed message, ``info sev``'s "not enabled", ``info sgx`` and
``info trace-events`` printing the bare message).
"""

from __future__ import annotations

from typing import Any, Dict, Generator, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render import info_more as r

__all__ = [
    "info_vnc", "info_spice", "info_tpm", "info_memory_devices", "info_hotpluggable_cpus",
    "info_vm_generation_id", "info_memory_size_summary", "info_sev", "info_sgx",
    "info_replay", "info_rocker", "info_rocker_ports", "info_rocker_flows",
    "info_rocker_groups", "info_trace_events", "info_cryptodev", "info_firmware_log",
    "takes_vcpu", "vcpu_refusal", "info_ramblock",
]


def _c_int(value: int) -> int:
    """``value`` stored in a C ``int`` (HMP keeps integer arguments so)."""
    value = int(value) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@handler("info vnc")
def info_vnc(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info vnc``: every VNC display with its servers and clients, or ``None``."""
    return r.render_vnc((yield QMPCommand("query-vnc-servers")))


@handler("info spice")
def info_spice(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info spice``: the SPICE server, ``Server: disabled`` when off."""
    return r.render_spice((yield QMPCommand("query-spice")))


@handler("info tpm")
def info_tpm(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info tpm``: the TPM devices; any error prints QEMU's fixed message."""
    try:
        tpms = yield QMPCommand("query-tpm")
    except QMPCommandError:
        return r.TPM_NOT_SUPPORTED
    return r.render_tpm(tpms)


@handler("info memory-devices")
def info_memory_devices(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info memory-devices``: DIMMs, NVDIMMs, virtio-pmem/-mem and SGX EPC sections."""
    return r.render_memory_devices((yield QMPCommand("query-memory-devices")))


@handler("info hotpluggable-cpus")
def info_hotpluggable_cpus(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info hotpluggable-cpus``: every CPU slot, free ones with no QOM path."""
    return r.render_hotpluggable_cpus((yield QMPCommand("query-hotpluggable-cpus")),
                                      r.cpu_props_of(ctx.profile.release))


@handler("info vm-generation-id")
def info_vm_generation_id(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info vm-generation-id``: the GUID of the vmgenid device."""
    info = yield QMPCommand("query-vm-generation-id")
    return f"{info.get('guid')}\n"


@handler("info memory_size_summary")
def info_memory_size_summary(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info memory_size_summary``: base and (when there are slots) plugged memory."""
    return r.render_memory_size_summary((yield QMPCommand("query-memory-size-summary")))


@handler("info sev")
def info_sev(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info sev``: SEV state; disabled or failing prints ``SEV is not enabled``."""
    try:
        info = yield QMPCommand("query-sev")
    except QMPCommandError:
        return r.SEV_NOT_ENABLED
    return r.render_sev(info)


@handler("info sgx")
def info_sgx(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info sgx``: SGX support and EPC sections; errors print without ``Error:``."""
    try:
        info = yield QMPCommand("query-sgx")
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return r.render_sgx(info)


@handler("info replay")
def info_replay(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info replay``: whether execution is being recorded or replayed."""
    return r.render_replay((yield QMPCommand("query-replay")))


@handler("info rocker")
def info_rocker(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info rocker NAME``: the switch's name, id and port count."""
    return r.render_rocker((yield QMPCommand("query-rocker", {"name": inv.args["name"]})))


@handler("info rocker-ports")
def info_rocker_ports(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info rocker-ports NAME``: the port table."""
    ports = yield QMPCommand("query-rocker-ports", {"name": inv.args["name"]})
    return r.render_rocker_ports(ports)


@handler("info rocker-of-dpa-flows")
def info_rocker_flows(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info rocker-of-dpa-flows NAME [TBL]``: HMP keeps the table id in 32 bits,
    and an id of all ones means "every table"."""
    arguments: Dict[str, Any] = {"name": inv.args["name"]}
    if "tbl_id" in inv.args:
        tbl_id = int(inv.args["tbl_id"]) & 0xFFFFFFFF
        if tbl_id != 0xFFFFFFFF:
            arguments["tbl-id"] = tbl_id
    return r.render_rocker_flows((yield QMPCommand("query-rocker-of-dpa-flows", arguments)))


@handler("info rocker-of-dpa-groups")
def info_rocker_groups(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info rocker-of-dpa-groups NAME [TYPE]``: HMP keeps the type in 8 bits, and
    type 9 means "every type"."""
    arguments: Dict[str, Any] = {"name": inv.args["name"]}
    if "type" in inv.args:
        kind = int(inv.args["type"]) & 0xFF
        if kind != 9:
            arguments["type"] = kind
    return r.render_rocker_groups((yield QMPCommand("query-rocker-of-dpa-groups", arguments)))


@handler("info trace-events")
def info_trace_events(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info trace-events [NAME [VCPU]]``: ``name : state 0|1`` per matching event.

    A vCPU number that does not fit a C ``int`` as a positive value is refused
    with QEMU's message (which has no line end); QMP errors print bare.  From
    8.1 HMP takes the vCPU argument and ignores it (QMP dropped it in 9.1).
    """
    arguments: Dict[str, Any] = {"name": inv.args.get("name", "*")}
    if "vcpu" in inv.args and not ctx.profile.since(8, 1):
        vcpu = _c_int(inv.args["vcpu"])
        if vcpu < 0:
            return "argument vcpu must be positive"
        if takes_vcpu(ctx, "trace-event-get-state"):
            arguments["vcpu"] = vcpu
        else:
            refused = yield from vcpu_refusal(arguments["name"], vcpu)
            if refused is not None:
                return refused
            return ""  # a pattern: 7.2 lists only vCPU events, and there are none
    try:
        events = yield QMPCommand("trace-event-get-state", arguments)
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return r.render_trace_events(events)


@handler("info cryptodev")
def info_cryptodev(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info cryptodev`` (8.0): every crypto backend with its services and queues."""
    return r.render_cryptodev((yield QMPCommand("query-cryptodev")))


@handler("info firmware-log")
def info_firmware_log(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info firmware-log [max-size]`` (10.2): the OVMF debug log; errors as ``Error: <desc>``."""
    arguments: Dict[str, Any] = {}
    if inv.args.get("max-size") is not None:
        arguments["max-size"] = inv.args["max-size"]
    return r.render_firmware_log((yield QMPCommand("query-firmware-log", arguments or None)))


def takes_vcpu(ctx: Context, command: str) -> bool:
    """Whether trace ``command`` has a ``vcpu`` argument (until 9.0); True when unknown."""
    schema = ctx.profile.schema
    return schema is None or schema.has_member(schema.arguments(command), "vcpu")


def vcpu_refusal(name: str, vcpu: int) -> Generator[QMPCommand, Any, Optional[str]]:
    """What QEMU 7.2's trace QMP said for ``vcpu``, over a QEMU without vCPU events.

    7.2 refused a vCPU that does not exist (``invalid vCPU index N``), then an
    unknown event, then an event that is not vCPU-specific; QEMU 8.1 and later
    have no vCPU-specific events, so a single event always ends there, and a
    pattern (``*``) matches no event.  None for a pattern that passed.
    """
    cpus = yield QMPCommand("query-cpus-fast")
    if not any(cpu.get("cpu-index") == vcpu for cpu in cpus):
        return "invalid vCPU index %d\n" % (vcpu & 0xFFFFFFFF)
    if "*" in name:
        return None
    try:
        yield QMPCommand("trace-event-get-state", {"name": name})
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return f'event "{name}" is not vCPU-specific\n'


#: What 8.0 appended to every line of ``info ramblock``: `` %18s %3s`` (HVA, RO).
_RAMBLOCK_HVA_RO = 23


@handler("info ramblock")
def info_ramblock(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info ramblock``: ``x-query-ramblock``'s table; before 8.0 without HVA and RO."""
    reply = yield QMPCommand("x-query-ramblock")
    text = str(reply["human-readable-text"]).replace("\r\n", "\n")
    if ctx.profile.since(8, 0) or ctx.profile.qemu[:2] < (8, 0):
        return text
    return "".join(line[:-_RAMBLOCK_HVA_RO] + "\n" if len(line) > _RAMBLOCK_HVA_RO else line + "\n"
                   for line in text.splitlines())
