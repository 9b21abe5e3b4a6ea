"""Migration commands: ``migrate`` and its companions, dirty-rate tools, ``info migrate``.

QEMU 7.2's HMP handlers (``monitor/hmp-cmds.c``, ``migration/dirtyrate.c``,
``softmmu/dirtylimit.c``) call the QMP functions directly; most print only
``Error: <desc>``.  The notable ones:

* ``migrate`` without ``-d`` holds the prompt: QEMU polls ``query-migrate``
  at once and then every second while the status is missing, ``setup`` or
  ``active``; up to 9.0 it prints ``Completed N %`` and a bare carriage
  return on each poll that has disk statistics, and a block migration
  (``-b``/``-i``, gone in 9.1) ends with a newline.  A failure's
  ``error-desc`` goes to QEMU's stderr, not to the monitor, so nothing else
  is printed.  ``blk`` and ``inc`` are sent only to a QEMU whose schema has
  them, ``detach`` never (QMP ignored it, and 11.0 removed it).
* ``info migrate`` has two forms: the flat one up to 10.0
  (:mod:`hmpbridge.render.migration_status`) and 10.1's rewrite with its
  ``-a`` flag (:mod:`hmpbridge.render.migration_info`).
* ``migrate_cancel`` and ``announce_self`` discard QMP errors.
* ``migrate_continue`` checks the state name against MigrationStatus first.
* ``calc_dirty_rate``, ``set_vcpu_dirty_limit`` and ``cancel_vcpu_dirty_limit``
  print a hint on success; ``-1`` for an optional number means "not given".
"""

from __future__ import annotations

from typing import Any, Dict, Generator, List, Optional, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler, send, send_quietly
from hmpbridge.model import Delay, Invocation, QMPCommand
from hmpbridge.profile import QemuProfile
from hmpbridge.render.migration_info import render_info_migrate_101
from hmpbridge.render.migration_status import (
    DIRTY_LIMIT_HINT,
    MigrationGlobals,
    globals_for,
    render_dirty_rate,
    render_info_migrate,
    render_vcpu_dirty_limit,
)

__all__ = ["MIGRATION_STATUSES", "POLL_SECONDS", "migrate_progress", "strlist_from_commas"]

#: MigrationStatus in QEMU 7.2 (what ``migrate_continue`` accepts).
MIGRATION_STATUSES = (
    "none", "setup", "cancelling", "cancelled", "active", "postcopy-active",
    "postcopy-paused", "postcopy-recover", "completed", "failed", "colo",
    "pre-switchover", "device", "wait-unplug",
)

#: How often QEMU's ``migrate`` looks at the migration while it holds the prompt.
POLL_SECONDS = 1.0

_U64 = (1 << 64) - 1


def migrate_progress(info: Dict[str, Any]) -> str:
    """The ``Completed N %`` line (with a bare CR) for one poll, or "" without disk stats."""
    disk = info.get("disk")
    if disk is None:
        return ""
    if disk.get("remaining"):
        total = disk.get("total") or 0
        progress = disk.get("transferred", 0) * 100 // total if total else 0
    else:
        progress = 100
    return "Completed %d %%\r" % _int32(progress)


def _int32(value: int) -> int:
    """C's conversion of a 64-bit quotient to ``int``."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _int64(value: int) -> int:
    """An ``l`` argument as the int64 QEMU keeps it (``-1`` stays ``-1``)."""
    value &= _U64
    return value - (1 << 64) if value >> 63 else value


def _still_running(info: Dict[str, Any]) -> bool:
    return info.get("status") in (None, "setup", "active")


#: The URI schemes ``qmp_migrate`` knew before 8.2 (which added file:).
URI_SCHEMES_BEFORE_8_2 = ("tcp:", "unix:", "vsock:", "rdma:", "exec:", "fd:")
#: The migration states in which QEMU refuses to start another migration.
MIGRATION_RUNNING = ("setup", "active", "cancelling", "postcopy-active", "postcopy-paused",
                     "postcopy-recover", "colo", "pre-switchover", "device", "wait-unplug")

#: What ``migrate -b``/``-i`` print when the QEMU served no longer migrates block devices.
NO_BLOCK_MIGRATION = ("Error: this QEMU has no block migration (-b, -i); "
                      "use blockdev-mirror with NBD instead\n")


def _migrate_has(profile: QemuProfile, member: str) -> bool:
    """Whether QMP ``migrate`` takes ``member`` (True when the schema is not known)."""
    schema = profile.schema
    if schema is None or "migrate" not in schema.commands:
        return True
    return schema.has_member(schema.arguments("migrate"), member)


@handler("migrate")
def migrate(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate [-d] [-b] [-i] [-r] uri``; without ``-d``, wait until it ends."""
    args: Dict[str, Any] = {"uri": inv.args["uri"]}
    for flag in ("blk", "inc"):
        if inv.args.get(flag):
            if not _migrate_has(ctx.profile, flag):
                return NO_BLOCK_MIGRATION
            args[flag] = True
    args["resume"] = bool(inv.args.get("resume"))
    if (not ctx.profile.since(8, 2) and ctx.profile.qemu >= (8, 2, 0)
            and not args["uri"].startswith(URI_SCHEMES_BEFORE_8_2)):
        # an older release's text over a QEMU that parses the URI first, and
        # knows file: -- unless a migration runs, whose refusal came first
        if (yield QMPCommand("query-migrate")).get("status") not in MIGRATION_RUNNING:
            return "Error: Parameter 'uri' expects a valid migration protocol\n"
    yield QMPCommand("migrate", args)
    if inv.args.get("detach"):
        return ""
    out: List[str] = []
    while True:
        info = yield QMPCommand("query-migrate")
        if not _still_running(info):
            break
        if not ctx.profile.since(9, 1):
            out.append(migrate_progress(info))
        yield Delay(POLL_SECONDS)
    if inv.args.get("blk") or inv.args.get("inc"):
        out.append("\n")
    return "".join(out)


@handler("migrate_cancel")
def migrate_cancel(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_cancel``: errors are discarded."""
    return (yield from send_quietly("migrate_cancel"))


@handler("migrate_continue")
def migrate_continue(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_continue state``: the state is a MigrationStatus name (the live schema's)."""
    state = inv.args["state"]
    schema = ctx.profile.schema
    statuses = (schema.argument_names_or_values("migrate-continue", "state")
                if schema is not None else []) or MIGRATION_STATUSES
    if not ctx.profile.since(9, 1):
        # an older release's text: only the statuses it had (9.1 added
        # postcopy-recover-setup, 11.0 postcopy-device)
        statuses = [name for name in statuses if name in MIGRATION_STATUSES]
    if state not in statuses:
        return f"Error: invalid parameter value: {state}\n"
    yield QMPCommand("migrate-continue", {"state": state})
    return ""


#: The URI schemes QEMU's ``migrate_uri_parse`` knows (8.2 and later).
URI_SCHEMES = ("exec:", "rdma:", "tcp:", "unix:", "vsock:", "fd:", "file:")


@handler("migrate_incoming")
def migrate_incoming(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_incoming uri`` (after ``-incoming defer``).

    Since 8.2 HMP parses the URI before QEMU looks at its state, so an
    unknown scheme is named first; since 9.1 it asks QEMU not to exit when
    the incoming migration fails (``exit-on-error`` false), where QMP's
    default is to exit.
    """
    uri = inv.args["uri"]
    if ctx.profile.since(8, 2) and not uri.startswith(URI_SCHEMES):
        return f"Error: unknown migration protocol: {uri}\n"
    args: Dict[str, Any] = {"uri": uri}
    schema = ctx.profile.schema
    if (ctx.profile.since(9, 1) and schema is not None
            and schema.has_member(schema.arguments("migrate-incoming"), "exit-on-error")):
        args["exit-on-error"] = False
    return (yield from send("migrate-incoming", args))


@handler("migrate_recover")
def migrate_recover(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_recover uri``: resume a paused incoming postcopy migration."""
    return (yield from send("migrate-recover", {"uri": inv.args["uri"]}))


#: QEMU's errors whose words changed since 7.2 -> (the release that changed
#: them, the words before).
REWORDED = {
    "migrate-pause is currently only supported during postcopy-active or postcopy-recover state":
        ((8, 2), "migrate-pause is currently only supported during postcopy-active state"),
    "VM is not in COLO mode": ((8, 0), "The feature 'colo' is not enabled"),
}


def _send_in_release_words(name: str, ctx: Context) -> HandlerResult:
    """``name``; an error of :data:`REWORDED` in the words of the release printed."""
    try:
        yield QMPCommand(name)
    except QMPCommandError as err:
        changed = REWORDED.get(err.desc)
        if changed is None or ctx.profile.since(*changed[0]):
            raise
        return f"Error: {changed[1]}\n"
    return ""


@handler("migrate_pause")
def migrate_pause(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_pause`` (postcopy only)."""
    return (yield from _send_in_release_words("migrate-pause", ctx))


@handler("migrate_start_postcopy")
def migrate_start_postcopy(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_start_postcopy``."""
    return (yield from send("migrate-start-postcopy"))


@handler("x_colo_lost_heartbeat")
def x_colo_lost_heartbeat(inv: Invocation, ctx: Context) -> HandlerResult:
    """``x_colo_lost_heartbeat``."""
    return (yield from _send_in_release_words("x-colo-lost-heartbeat", ctx))


@handler("exit_preconfig")
def exit_preconfig(inv: Invocation, ctx: Context) -> HandlerResult:
    """``exit_preconfig``: leave the ``--preconfig`` state."""
    return (yield from send("x-exit-preconfig"))


@handler("client_migrate_info")
def client_migrate_info(inv: Invocation, ctx: Context) -> HandlerResult:
    """``client_migrate_info protocol hostname [port [tls-port [cert-subject]]]``."""
    args: Dict[str, Any] = {"protocol": inv.args["protocol"], "hostname": inv.args["hostname"]}
    for key in ("port", "tls-port", "cert-subject"):
        if key in inv.args:
            args[key] = inv.args[key]
    return (yield from send("client_migrate_info", args))


def strlist_from_commas(text: str) -> List[str]:
    """QEMU 7.2's comma-list split for HMP: ``"a,b,"`` gives ``["a", "b"]``."""
    out: List[str] = []
    rest = text
    while rest:
        value, comma, rest = rest.partition(",")
        out.append(value)
        if not comma:
            break
    return out


@handler("announce_self")
def announce_self(inv: Invocation, ctx: Context) -> HandlerResult:
    """``announce_self [interfaces] [id]`` with the current announce-* parameters."""
    params = yield QMPCommand("query-migrate-parameters")
    args: Dict[str, Any] = {key: params.get(f"announce-{key}", 0)
                            for key in ("initial", "max", "rounds", "step")}
    interfaces = strlist_from_commas(inv.args.get("interfaces") or "")
    if interfaces:
        args["interfaces"] = interfaces
    if "id" in inv.args:
        args["id"] = inv.args["id"]
    try:
        yield QMPCommand("announce-self", args)
    except QMPCommandError:
        pass
    return ""


@handler("calc_dirty_rate")
def calc_dirty_rate(inv: Invocation, ctx: Context) -> HandlerResult:
    """``calc_dirty_rate [-r] [-b] second [sample_pages_per_GB]``."""
    seconds = _int64(inv.args["second"])
    if not seconds:
        return "Incorrect period length specified!\n"
    if inv.args.get("dirty_ring") and inv.args.get("dirty_bitmap"):
        return "Either dirty ring or dirty bitmap can be specified!\n"
    mode = "page-sampling"
    if inv.args.get("dirty_bitmap"):
        mode = "dirty-bitmap"
    elif inv.args.get("dirty_ring"):
        mode = "dirty-ring"
    args: Dict[str, Any] = {"calc-time": seconds}
    pages = _int64(inv.args.get("sample_pages_per_GB", -1))
    if pages != -1:
        args["sample-pages"] = pages
    args["mode"] = mode
    if (mode != "page-sampling" and ctx.profile.qemu < (9, 1, 0)
            and not (yield QMPCommand("query-kvm")).get("enabled")):
        return (yield from _without_kvm(seconds, pages, mode))
    if not ctx.profile.since(8, 2) and ctx.profile.qemu >= (8, 0, 0):
        # an older release's text over a QEMU whose checks and words changed
        refused = _argument_error(seconds, pages, mode, ctx.profile.release)
        if refused:
            if (yield QMPCommand("query-dirty-rate")).get("status") == "measuring":
                return "Error: the dirty rate is already being measured.\n"
            return refused
    yield QMPCommand("calc-dirty-rate", args)
    return ("Starting dirty rate measurement with period %d seconds\n" % seconds
            + "[Please use 'info dirty_rate' to check results]\n")


def _without_kvm(seconds: int, pages: int, mode: str) -> HandlerResult:
    """``calc_dirty_rate -r`` or ``-b`` when a QEMU before 9.1 runs without KVM.

    QEMU 7.2 to 9.0 ask KVM whether its dirty ring is on after checking the
    arguments, and abort when there is no KVM (9.1 checks first, so from
    then on QEMU's own checks and words are had by asking it).  So the checks that come
    first are made here, in QEMU's order and words; then ``-r`` gets the
    error QEMU gives when the dirty ring is off, and ``-b`` a refusal.
    """
    if (yield QMPCommand("query-dirty-rate")).get("status") == "measuring":
        return "Error: the dirty rate is already being measured.\n"
    refused = _argument_error(seconds, pages, mode, (7, 2))
    if refused:
        return refused
    if mode == "dirty-ring":
        return "Error: mode dirty-ring is not enabled, use other method instead.\n"
    return ("hmpbridge: not measuring with the dirty bitmap: "
            "QEMU 7.2 aborts on it without KVM\n")


def _argument_error(seconds: int, pages: int, mode: str, release: Tuple[int, int]) -> str:
    """QEMU's refusal of ``calc-dirty-rate``'s arguments before 8.2, in ``release``'s words
    and order (migration/dirtyrate.c), or "": calc-time in seconds, 1 to 60; sample-pages
    refused with the dirty ring (in any mode but page-sampling from 8.0); 128 to 16384."""
    if not 1 <= seconds <= 60:
        return "Error: calc-time is out of range[1, 60].\n"
    if pages != -1 and release < (8, 0) and mode == "dirty-ring":
        return "Error: either sample-pages or dirty-ring can be specified.\n"
    if pages != -1 and release >= (8, 0) and mode != "page-sampling":
        return "Error: sample-pages is used only in page-sampling mode\n"
    if pages != -1 and not 128 <= pages <= 16384:
        return "Error: sample-pages is out of range[128, 16384].\n"
    return ""


@handler("set_vcpu_dirty_limit")
def set_vcpu_dirty_limit(inv: Invocation, ctx: Context) -> HandlerResult:
    """``set_vcpu_dirty_limit dirty_rate [cpu_index]``.

    Since 8.1 a negative rate is refused before QEMU is asked, and success
    prints nothing.
    """
    args: Dict[str, Any] = {}
    rate = _int64(inv.args["dirty_rate"])
    if ctx.profile.since(8, 1) and rate < 0:
        return "Error: invalid dirty page limit %d\n" % rate
    cpu = _int64(inv.args.get("cpu_index", -1))
    if cpu != -1:
        args["cpu-index"] = cpu
    args["dirty-rate"] = rate & _U64
    yield QMPCommand("set-vcpu-dirty-limit", args)
    return "" if ctx.profile.since(8, 1) else DIRTY_LIMIT_HINT


@handler("cancel_vcpu_dirty_limit")
def cancel_vcpu_dirty_limit(inv: Invocation, ctx: Context) -> HandlerResult:
    """``cancel_vcpu_dirty_limit [cpu_index]``."""
    cpu = _int64(inv.args.get("cpu_index", -1))
    yield QMPCommand("cancel-vcpu-dirty-limit", {"cpu-index": cpu} if cpu != -1 else {})
    return DIRTY_LIMIT_HINT


@handler("info migrate")
def info_migrate(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info migrate [-a]``: ``query-migrate`` in the printed release's form.

    The globals block (always up to 10.0, with ``-a`` since 10.1) holds
    QEMU's defaults for the machine type, which ``qom-get`` tells.
    """
    info = yield QMPCommand("query-migrate")
    profile = ctx.profile
    show_all = bool(inv.args.get("all"))
    if profile.since(10, 1):
        globals_ = (yield from _globals(profile)) if show_all else MigrationGlobals()
        return render_info_migrate_101(info, show_all, globals_, profile.release)
    return render_info_migrate(info, (yield from _globals(profile)), profile.release)


def _globals(profile: QemuProfile) -> Generator[QMPCommand, Any, MigrationGlobals]:
    """The served QEMU's migration globals; the machine type only matters since 10.0."""
    qemu = (profile.qemu[0], profile.qemu[1])
    machine: Optional[str] = None
    if qemu >= (10, 0) and profile.since(10, 0) and profile.has_qmp("qom-get"):
        try:
            machine = yield QMPCommand("qom-get", {"path": "/machine", "property": "type"})
        except QMPCommandError:
            machine = None
    return globals_for(qemu, machine if isinstance(machine, str) else None)


@handler("info dirty_rate")
def info_dirty_rate(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info dirty_rate``: the last measurement."""
    return render_dirty_rate((yield QMPCommand("query-dirty-rate")), ctx.profile.release)


@handler("info vcpu_dirty_limit")
def info_vcpu_dirty_limit(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info vcpu_dirty_limit``: one line per vCPU while the limiter runs."""
    return render_vcpu_dirty_limit((yield QMPCommand("query-vcpu-dirty-limit")))
