"""Block jobs, image snapshots and I/O throttling, as QEMU 7.2's HMP starts them.

QEMU's HMP handlers (``block/monitor/block-hmp-cmds.c``) fill in one QMP
command each and print nothing on success; a QMP error prints as
``Error: <desc>``:

- ``block_stream device [speed [base]]`` is ``block-stream`` with the device
  name as its job id and ``on-error: report``;
- ``block_job_set_speed``, ``block_job_cancel [-f]``, ``block_job_complete``,
  ``block_job_pause`` and ``block_job_resume`` name a job by its id (HMP calls
  it ``device``); ``block_job_cancel`` always sends ``force``.  QEMU's HMP
  calls the ``block-job-*`` functions in every release, though 10.1
  deprecated ``block-job-{pause,resume,complete}`` for ``job-*``; so they are
  sent while QEMU takes them, and only a QEMU whose schema lacks them (or
  that rejects deprecated commands by policy) gets ``job-*`` after a look at
  ``query-block-jobs``, so that a job that is not a block job is refused
  with QEMU's own ``Block job 'ID' not found``;
- ``drive_mirror`` and ``drive_backup`` map ``-n`` to ``mode: existing``
  (else ``absolute-paths``) and ``-f`` to ``sync: full`` (else ``top``);
  ``drive_backup -c`` adds ``compress: true``.  The job id is the device name
  (QEMU's default when none is given).  When the image is locked by another
  user, HMP adds the hint ``Is another process using the image [FILE]?``,
  which QMP error replies leave out;
- ``snapshot_blkdev [-n] device file [format]`` is ``blockdev-snapshot-sync``;
  without a file HMP prints ``Error: Parameter 'snapshot-file' is missing``
  itself;
- ``snapshot_blkdev_internal`` and ``snapshot_delete_blkdev_internal`` are
  the internal snapshot commands (the deleted snapshot's info is not shown);
- ``block_set_io_throttle`` sets the six bps/iops limits; the name is sent as
  ``device`` when a drive (BlockBackend) of that name exists, else as the
  qdev ``id``, so HMP looks the name up first (``query-block`` here).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Set

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.block_media import lock_hint
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["block_stream", "block_job_set_speed", "block_job_cancel", "block_job_complete",
           "block_job_pause", "block_job_resume", "drive_mirror", "drive_backup",
           "snapshot_blkdev", "snapshot_blkdev_internal", "snapshot_delete_blkdev_internal",
           "block_set_io_throttle", "THROTTLE_LIMITS", "MISSING_SNAPSHOT_FILE",
           "image_job_arguments", "drive_names", "BLOCK_JOB_NOT_FOUND"]

#: The limits ``block_set_io_throttle`` takes, in the order HMP reads them.
THROTTLE_LIMITS = ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")

#: QEMU's ``find_block_job_locked`` error (``%`` the job id).
BLOCK_JOB_NOT_FOUND = "Block job '%s' not found"

#: HMP's own message for ``snapshot_blkdev`` without a file (QERR_MISSING_PARAMETER).
MISSING_SNAPSHOT_FILE = "Error: Parameter 'snapshot-file' is missing\n"


def _send(name: str, arguments: Dict[str, Any]) -> HandlerResult:
    """Send one command; print nothing (an error reply prints as ``Error: ...``)."""
    yield QMPCommand(name, arguments)
    return ""


def _open_image(name: str, arguments: Dict[str, Any], filename: str) -> HandlerResult:
    """Send a command that opens ``filename``; a lock failure gets QEMU's hint line."""
    try:
        yield QMPCommand(name, arguments)
    except QMPCommandError as err:
        return f"Error: {err.desc}\n" + lock_hint(err.desc, filename)
    return ""


@handler("block_stream")
def block_stream(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_stream device [speed [base]]``: the job id is the device name."""
    device = inv.args["device"]
    arguments: Dict[str, Any] = {"job-id": device, "device": device}
    if "base" in inv.args:
        arguments["base"] = inv.args["base"]
    if "speed" in inv.args:
        arguments["speed"] = inv.args["speed"]
    arguments["on-error"] = "report"
    return (yield from _send("block-stream", arguments))


@handler("block_job_set_speed")
def block_job_set_speed(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_job_set_speed device speed`` (bytes per second, MiB by default)."""
    return (yield from _send("block-job-set-speed",
                             {"device": inv.args["device"], "speed": inv.args["speed"]}))


@handler("block_job_cancel")
def block_job_cancel(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_job_cancel [-f] device``: ``force`` is always sent."""
    return (yield from _send("block-job-cancel",
                             {"device": inv.args["device"],
                              "force": bool(inv.args.get("force", False))}))


def _rejected_by_policy(err: QMPCommandError) -> bool:
    """QEMU run with ``-compat deprecated-input=reject`` refused a deprecated command."""
    return err.error_class == "CommandNotFound" and err.desc.endswith("disabled by policy")


def _block_job_verb(verb: str, job: str, ctx: Context) -> HandlerResult:
    """``block-job-<verb>`` on ``job``, or ``job-<verb>`` where QEMU no longer takes it."""
    if ctx.has_qmp(f"block-job-{verb}"):
        try:
            yield QMPCommand(f"block-job-{verb}", {"device": job})
            return ""
        except QMPCommandError as err:
            if not _rejected_by_policy(err):
                raise
    jobs = yield QMPCommand("query-block-jobs")
    if not any(entry.get("device") == job for entry in jobs or []):
        return f"Error: {BLOCK_JOB_NOT_FOUND % job}\n"
    return (yield from _send(f"job-{verb}", {"id": job}))


@handler("block_job_complete")
def block_job_complete(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_job_complete device``."""
    return (yield from _block_job_verb("complete", inv.args["device"], ctx))


@handler("block_job_pause")
def block_job_pause(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_job_pause device``."""
    return (yield from _block_job_verb("pause", inv.args["device"], ctx))


@handler("block_job_resume")
def block_job_resume(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_job_resume device``."""
    return (yield from _block_job_verb("resume", inv.args["device"], ctx))


def image_job_arguments(args: Dict[str, Any], file_key: str) -> Dict[str, Any]:
    """The arguments HMP fills in for a job that writes a new image file.

    ``file_key`` is the QMP name of the image argument (``target``,
    ``snapshot-file``); ``-n`` (``reuse``) opens an existing image instead of
    creating one.
    """
    arguments: Dict[str, Any] = {"device": args["device"], file_key: args[file_key]}
    if "format" in args:
        arguments["format"] = args["format"]
    arguments["mode"] = "existing" if args.get("reuse") else "absolute-paths"
    return arguments


@handler("drive_mirror")
def drive_mirror(inv: Invocation, ctx: Context) -> HandlerResult:
    """``drive_mirror [-n] [-f] device target [format]``."""
    arguments = image_job_arguments(dict(inv.args), "target")
    arguments["sync"] = "full" if inv.args.get("full") else "top"
    return (yield from _open_image("drive-mirror", arguments, inv.args["target"]))


@handler("drive_backup")
def drive_backup(inv: Invocation, ctx: Context) -> HandlerResult:
    """``drive_backup [-n] [-f] [-c] device target [format]``."""
    arguments = image_job_arguments(dict(inv.args), "target")
    arguments["sync"] = "full" if inv.args.get("full") else "top"
    if inv.args.get("compress"):
        arguments["compress"] = True
    return (yield from _open_image("drive-backup", arguments, inv.args["target"]))


@handler("snapshot_blkdev")
def snapshot_blkdev(inv: Invocation, ctx: Context) -> HandlerResult:
    """``snapshot_blkdev [-n] device [file [format]]``; the file is required."""
    if "snapshot-file" not in inv.args:
        return MISSING_SNAPSHOT_FILE
    return (yield from _open_image("blockdev-snapshot-sync",
                                   image_job_arguments(dict(inv.args), "snapshot-file"),
                                   inv.args["snapshot-file"]))


@handler("snapshot_blkdev_internal")
def snapshot_blkdev_internal(inv: Invocation, ctx: Context) -> HandlerResult:
    """``snapshot_blkdev_internal device name``."""
    return (yield from _send("blockdev-snapshot-internal-sync",
                             {"device": inv.args["device"], "name": inv.args["name"]}))


@handler("snapshot_delete_blkdev_internal")
def snapshot_delete_blkdev_internal(inv: Invocation, ctx: Context) -> HandlerResult:
    """``snapshot_delete_blkdev_internal device name [id]``; nothing is printed."""
    arguments: Dict[str, Any] = {"device": inv.args["device"], "name": inv.args["name"]}
    if "id" in inv.args:
        arguments["id"] = inv.args["id"]
    return (yield from _send("blockdev-snapshot-delete-internal-sync", arguments))


def drive_names(block_info: Iterable[Dict[str, Any]]) -> Set[str]:
    """The drive (named BlockBackend) names in a ``query-block`` reply."""
    return {str(entry.get("device")) for entry in block_info if entry.get("device")}


@handler("block_set_io_throttle")
def block_set_io_throttle(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_set_io_throttle device bps bps_rd bps_wr iops iops_rd iops_wr``.

    The name goes to ``device`` when it names a drive, else to ``id``.
    """
    name = inv.args["device"]
    blocks = yield QMPCommand("query-block")
    key = "device" if name in drive_names(blocks or []) else "id"
    arguments: Dict[str, Any] = {key: name}
    for limit in THROTTLE_LIMITS:
        arguments[limit] = inv.args[limit]
    return (yield from _send("block_set_io_throttle", arguments))
