"""``savevm``, ``loadvm`` and ``delvm`` carried out with QEMU's snapshot jobs.

QEMU 7.2's HMP calls ``save_snapshot``, ``load_snapshot`` and
``delete_snapshot`` (``migration/savevm.c``) on every block node that takes
part in snapshots: the writable, inserted top-level nodes (BlockBackend roots
and parentless monitor-owned nodes), with the VM state going to the first of
them that can snapshot (QEMU 9.0 to 11.0 leave out the parentless nodes
once a drive's root was found: :func:`~hmpbridge.render.snapshots.reaches_owned_after_roots`).
The QMP jobs ``snapshot-save``, ``snapshot-load``
and ``snapshot-delete`` run the same functions on an explicit node list, so
the list is rebuilt here the way ``info snapshots`` finds it; each job is
polled with ``query-jobs`` until it concludes, its error (if any) printed as
``Error: <error>``, and then dismissed.

Differences that QMP cannot avoid: ``savevm`` overwrites a snapshot of the
same name, which ``snapshot-save`` refuses, so an "already exists" failure is
followed by ``snapshot-delete`` and a second ``snapshot-save``; and with no
node at all taking part, ``loadvm`` prints QEMU's error without leaving the
VM stopped.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.info_block import snapshot_nodes
from hmpbridge.model import Delay, Invocation, QMPCommand
from hmpbridge.render.snapshots import NO_VMSTATE

__all__ = ["SnapshotTargets", "snapshot_targets", "run_job", "default_snapshot_name",
           "JOB_POLL_SECONDS"]

#: Pause between two ``query-jobs`` while a snapshot job runs.
JOB_POLL_SECONDS = 0.05


def _job_id(kind: str, tag: str, attempt: int = 1) -> str:
    """The job id of one ``kind`` of job on snapshot ``tag``.

    It depends only on its arguments, so a recorded exchange replays as it
    was; different tags give different ids, so sessions working on different
    snapshots never collide (two on the same tag at once: QEMU refuses the
    second job's id as in use).
    """
    digest = hashlib.sha256(tag.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"hmpbridge-{kind}-{digest}-{attempt}"


@dataclass(frozen=True)
class SnapshotTargets:
    """The nodes a snapshot command works on.

    :ivar devices: node names of the writable top-level nodes, in QEMU's order.
    :ivar vmstate: the node that gets the VM state: the first of them that can
        snapshot, else the first of them (the job then reports the device
        that cannot), else None when no node takes part.
    """

    devices: List[str]
    vmstate: Optional[str]


def snapshot_targets(ctx: Context) -> Any:
    """Generator: query the block layer and return :class:`SnapshotTargets`."""
    included = [t for t in (yield from snapshot_nodes(ctx)) if t.included]
    devices = [str(t.node.get("node-name")) for t in included]
    capable = [str(t.node.get("node-name")) for t in included if t.can_snapshot]
    vmstate = capable[0] if capable else (devices[0] if devices else None)
    return SnapshotTargets(devices, vmstate)


def run_job(command: str, args: Dict[str, Any]) -> Any:
    """Generator: start a job, wait for it to conclude, dismiss it; return its error or None.

    An error starting the job is raised (it prints as ``Error: <desc>``).
    """
    job_id = args["job-id"]
    yield QMPCommand(command, args)
    while True:
        jobs = yield QMPCommand("query-jobs")
        job = next((j for j in jobs if j.get("id") == job_id), None)
        if job is None or job.get("status") == "concluded":
            break
        yield Delay(JOB_POLL_SECONDS)
    if job is None:
        return None
    yield QMPCommand("job-dismiss", {"id": job_id})
    return job.get("error")


def default_snapshot_name(now: Optional[float] = None) -> str:
    """The name ``savevm`` gives a snapshot without a tag: ``vm-YYYYMMDDHHMMSS``, local time."""
    return time.strftime("vm-%Y%m%d%H%M%S", time.localtime(now))


def _error(message: Optional[str]) -> str:
    return f"Error: {message}\n" if message else ""


@handler("savevm")
def savevm(inv: Invocation, ctx: Context) -> HandlerResult:
    """``savevm [tag]``: save the VM on every node that takes part, replacing ``tag``."""
    name = inv.args["name"] if "name" in inv.args else default_snapshot_name()
    targets = yield from snapshot_targets(ctx)
    if targets.vmstate is None:
        return "Error: " + NO_VMSTATE
    args = {"job-id": _job_id("savevm", name), "tag": name, "vmstate": targets.vmstate,
            "devices": targets.devices}
    error = yield from run_job("snapshot-save", args)
    if error == f"Snapshot '{name}' already exists in one or more devices":
        delete_error = yield from run_job("snapshot-delete", {
            "job-id": _job_id("delvm", name), "tag": name, "devices": targets.devices})
        if delete_error:
            return _error(delete_error)
        error = yield from run_job("snapshot-save",
                                   dict(args, **{"job-id": _job_id("savevm", name, 2)}))
    return _error(error)


@handler("loadvm")
def loadvm(inv: Invocation, ctx: Context) -> HandlerResult:
    """``loadvm tag``: the job stops the VM, loads, and restarts it if it was running."""
    targets = yield from snapshot_targets(ctx)
    if targets.vmstate is None:
        return "Error: " + NO_VMSTATE
    name = inv.args["name"]
    error = yield from run_job("snapshot-load", {
        "job-id": _job_id("loadvm", name), "tag": name, "vmstate": targets.vmstate,
        "devices": targets.devices})
    return _error(error)


@handler("delvm")
def delvm(inv: Invocation, ctx: Context) -> HandlerResult:
    """``delvm tag``: delete ``tag`` wherever it exists; nothing to do without nodes."""
    targets = yield from snapshot_targets(ctx)
    if not targets.devices:
        return ""
    error = yield from run_job("snapshot-delete", {
        "job-id": _job_id("delvm", inv.args["name"]), "tag": inv.args["name"],
        "devices": targets.devices})
    return _error(error)
