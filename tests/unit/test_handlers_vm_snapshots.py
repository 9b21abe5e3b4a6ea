"""savevm, loadvm and delvm: the nodes they choose, the jobs they run, what they print."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.handlers.vm_snapshots import default_snapshot_name
from hmpbridge.hmp_parser import parse
from hmpbridge.model import QMPCommand
from hmpbridge.render.errors import render_error

_load_all()

QCOW2 = {"device": "disk0", "inserted": {"node-name": "fmt0", "ro": False,
                                         "image": {"format": "qcow2"}}}
RAW = {"device": "raw0", "inserted": {"node-name": "raw0n", "ro": False,
                                      "image": {"format": "raw"}}}
RO = {"device": "ro0", "inserted": {"node-name": "ron", "ro": True, "image": {"format": "raw"}}}
EMPTY_CD = {"device": "cd0"}


class Jobs:
    """A fake QEMU for snapshot jobs: each job runs one poll and ends with a scripted error."""

    def __init__(self, blocks: List[Dict[str, Any]], errors: Optional[Dict[str, List[str]]] = None,
                 start_error: Optional[str] = None) -> None:
        self.blocks = blocks
        self.errors = {k: list(v) for k, v in (errors or {}).items()}
        self.start_error = start_error
        self.sent: List[QMPCommand] = []
        self.jobs: Dict[str, Dict[str, Any]] = {}
        self.sleeps: List[float] = []

    def __call__(self, cmd: QMPCommand) -> Any:
        self.sent.append(cmd)
        args = dict(cmd.arguments or {})
        if cmd.execute == "query-block":
            return self.blocks
        if cmd.execute == "x-debug-query-block-graph":
            raise QMPCommandError("CommandNotFound", "no graph here")
        if cmd.execute.startswith("snapshot-"):
            if self.start_error:
                raise QMPCommandError("GenericError", self.start_error)
            job: Dict[str, Any] = {"id": args["job-id"], "type": cmd.execute,
                                   "status": "running", "polls": 0}
            pending = self.errors.get(cmd.execute) or []
            if pending:
                job["error"] = pending.pop(0)
            self.jobs[args["job-id"]] = job
            return {}
        if cmd.execute == "query-jobs":
            out = []
            for job in self.jobs.values():
                job["polls"] += 1
                if job["polls"] > 1:
                    job["status"] = "concluded"
                out.append({k: v for k, v in job.items()
                            if k != "polls" and (k != "error" or job["status"] == "concluded")})
            return out
        if cmd.execute == "job-dismiss":
            del self.jobs[args["id"]]
            return {}
        raise AssertionError(f"unexpected {cmd.execute}")

    def names(self) -> List[str]:
        return [c.execute for c in self.sent]

    def job_args(self, name: str) -> List[Dict[str, Any]]:
        return [dict(c.arguments or {}) for c in self.sent if c.execute == name]


def run(line: str, fake: Jobs) -> str:
    inv = parse(line)
    try:
        return drive(HANDLERS[inv.spec.key](inv, Context()), fake, sleep=fake.sleeps.append)
    except QMPCommandError as err:
        return render_error(err)


def test_savevm_saves_on_writable_nodes_and_dismisses_the_job() -> None:
    """savevm sends snapshot-save for the writable inserted nodes, waits, dismisses, prints nothing."""
    fake = Jobs([EMPTY_CD, QCOW2, RO])
    assert run("savevm s1", fake) == ""
    (save,) = fake.job_args("snapshot-save")
    assert save["tag"] == "s1" and save["vmstate"] == "fmt0" and save["devices"] == ["fmt0"]
    assert fake.names()[-3:] == ["query-jobs", "query-jobs", "job-dismiss"]
    assert fake.job_args("job-dismiss") == [{"id": save["job-id"]}]
    assert fake.sleeps and fake.jobs == {}


def test_savevm_overwrites_an_existing_snapshot() -> None:
    """When the tag exists, the snapshot is deleted on the same nodes and saved again."""
    fake = Jobs([QCOW2], {"snapshot-save": ["Snapshot 's1' already exists in one or more "
                                            "devices"]})
    assert run("savevm s1", fake) == ""
    assert [n for n in fake.names() if n.startswith("snapshot-")] == [
        "snapshot-save", "snapshot-delete", "snapshot-save"]
    first, second = fake.job_args("snapshot-save")
    assert first["job-id"] != second["job-id"]


def test_savevm_job_error_is_printed() -> None:
    """A job that fails prints its error with QEMU's `Error: ` prefix."""
    fake = Jobs([QCOW2, RAW], {"snapshot-save": ["Device 'raw0' is writable but does not "
                                                 "support snapshots"]})
    assert run("savevm s1", fake) == ("Error: Device 'raw0' is writable but does not support "
                                      "snapshots\n")
    (save,) = fake.job_args("snapshot-save")
    assert save["devices"] == ["fmt0", "raw0n"] and save["vmstate"] == "fmt0"


def test_savevm_without_any_node_prints_qemus_vmstate_error() -> None:
    """With no writable node at all, QEMU's message is printed and no job is started."""
    fake = Jobs([EMPTY_CD, RO])
    assert run("savevm", fake) == "Error: no block device can store vmstate for snapshot\n"
    assert "snapshot-save" not in fake.names()


def test_savevm_without_a_tag_names_the_snapshot_by_date() -> None:
    """savevm without a tag uses vm-YYYYMMDDHHMMSS."""
    fake = Jobs([QCOW2])
    run("savevm", fake)
    (save,) = fake.job_args("snapshot-save")
    assert re.fullmatch(r"vm-\d{14}", save["tag"])
    assert default_snapshot_name(0).startswith("vm-19")


def test_loadvm_runs_the_load_job_and_prints_its_error() -> None:
    """loadvm sends snapshot-load with the same node choice and prints the job's error."""
    fake = Jobs([QCOW2], {"snapshot-load": ["Snapshot 'x' does not exist in one or more "
                                            "devices"]})
    assert run("loadvm x", fake) == ("Error: Snapshot 'x' does not exist in one or more "
                                     "devices\n")
    (load,) = fake.job_args("snapshot-load")
    assert load["tag"] == "x" and load["vmstate"] == "fmt0" and load["devices"] == ["fmt0"]


def test_delvm_deletes_on_all_nodes_and_is_silent_without_any() -> None:
    """delvm runs snapshot-delete over the nodes; with none it does nothing, as QEMU."""
    fake = Jobs([QCOW2, RAW])
    assert run("delvm s1", fake) == ""
    assert fake.job_args("snapshot-delete")[0]["devices"] == ["fmt0", "raw0n"]
    fake = Jobs([EMPTY_CD])
    assert run("delvm s1", fake) == ""
    assert "snapshot-delete" not in fake.names()


def test_a_job_that_cannot_start_prints_the_error() -> None:
    """An error starting the job prints as `Error: <desc>`."""
    fake = Jobs([QCOW2], start_error="Job ID 'x' already in use")
    assert run("delvm s1", fake) == "Error: Job ID 'x' already in use\n"


def test_job_ids_depend_only_on_the_command_and_tag() -> None:
    """The same line gives the same job ids every time (recorded exchanges replay); tags differ."""
    first, again, other = Jobs([QCOW2]), Jobs([QCOW2]), Jobs([QCOW2])
    run("savevm s1", first)
    run("savevm s1", again)
    run("savevm s2", other)
    (saved,) = first.job_args("snapshot-save")
    assert [saved] == again.job_args("snapshot-save")
    assert saved["job-id"] != other.job_args("snapshot-save")[0]["job-id"]
    load, delete = Jobs([QCOW2]), Jobs([QCOW2])
    run("loadvm s1", load)
    run("delvm s1", delete)
    ids = {saved["job-id"], load.job_args("snapshot-load")[0]["job-id"],
           delete.job_args("snapshot-delete")[0]["job-id"]}
    assert len(ids) == 3
