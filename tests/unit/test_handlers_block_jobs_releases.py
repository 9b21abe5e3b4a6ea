"""``block_job_{pause,resume,complete}`` where QEMU no longer takes ``block-job-*``.

QEMU's HMP calls the ``block-job-*`` functions in every release (10.1 only
deprecated their QMP commands), so the bridge sends them while QEMU has
them, and falls back to ``job-*`` with HMP's own refusal of an id that is
not a block job.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.model import Invocation, QMPCommand

_load_all()

#: query-block-jobs on QEMU 11.1.3 while a paused mirror job runs (trimmed).
JOBS = [{"auto-finalize": True, "io-status": "ok", "device": "disk0", "auto-dismiss": True,
         "busy": False, "len": 0, "offset": 0, "status": "paused", "paused": True,
         "speed": 0, "ready": False, "type": "mirror", "actively-synced": False}]


def _run(verb: str, job: str, commands: Optional[FrozenSet[str]],
         refuse: Optional[QMPCommandError] = None) -> Tuple[str, List[Tuple[str, Any]]]:
    sent: List[Tuple[str, Any]] = []

    def respond(cmd: QMPCommand) -> object:
        sent.append((cmd.execute, cmd.arguments))
        if cmd.execute.startswith("block-job-") and refuse is not None:
            raise refuse
        return JOBS if cmd.execute == "query-block-jobs" else {}

    key = f"block_job_{verb}"
    ctx = Context(schema_commands=commands)
    inv = Invocation(by_key(key), {"device": job}, f"{key} {job}")
    return drive(HANDLERS[key](inv, ctx), respond), sent


WITH = frozenset({"block-job-pause", "block-job-resume", "block-job-complete",
                  "job-pause", "job-resume", "job-complete", "query-block-jobs"})
WITHOUT = frozenset(c for c in WITH if not c.startswith("block-job-"))


@pytest.mark.parametrize("verb", ["pause", "resume", "complete"])
def test_block_job_commands_while_qemu_has_them(verb: str) -> None:
    """When the schema has block-job-*, it is what goes, as QEMU's HMP calls it."""
    assert _run(verb, "disk0", WITH) == ("", [(f"block-job-{verb}", {"device": "disk0"})])
    assert _run(verb, "disk0", None)[1] == [(f"block-job-{verb}", {"device": "disk0"})]


@pytest.mark.parametrize("verb", ["pause", "resume", "complete"])
def test_job_commands_where_block_job_ones_are_gone(verb: str) -> None:
    """When the schema lacks block-job-*, job-* runs a block job; other ids get HMP's refusal."""
    assert _run(verb, "disk0", WITHOUT) == (
        "", [("query-block-jobs", None), (f"job-{verb}", {"id": "disk0"})])
    assert _run(verb, "snap-job", WITHOUT) == (
        "Error: Block job 'snap-job' not found\n", [("query-block-jobs", None)])


def test_deprecated_input_rejected_by_policy() -> None:
    """When QEMU rejects deprecated commands by policy, job-* does the work."""
    refusal = QMPCommandError("CommandNotFound",
                              "Deprecated command block-job-pause disabled by policy")
    assert _run("pause", "disk0", WITH, refusal) == (
        "", [("block-job-pause", {"device": "disk0"}), ("query-block-jobs", None),
             ("job-pause", {"id": "disk0"})])
    other = QMPCommandError("DeviceNotActive", "Block job 'x' not found")
    with pytest.raises(QMPCommandError):
        _run("pause", "x", WITH, other)
