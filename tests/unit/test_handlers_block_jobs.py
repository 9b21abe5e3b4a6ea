"""Block jobs, image snapshots and I/O throttling: the QMP commands HMP builds."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.testing import CannedReplies, run_line

_load_all()

# Captured from QEMU 7.2.22 via human-monitor-command.
NO_JOB = "Block job 'nosuch' not found"
NO_DEVICE = "Cannot find device='nosuch' nor node-name='nosuch'"

QUERY_BLOCK = [
    {"device": "cd0", "qdev": "ide1-cd0", "removable": True, "locked": False},
    {"device": "disk0", "qdev": "/machine/peripheral/vblk0/virtio-backend",
     "removable": False, "locked": False, "inserted": {"file": "disk0.qcow2"}},
    {"device": "", "qdev": "vanon1", "removable": False, "locked": False,
     "inserted": {"file": "anon.qcow2"}},
]


Script = CannedReplies


def run(line: str, script: Script) -> str:
    """Parse ``line`` with the grammar and drive its handler."""
    return run_line(line, script)


def sent(line: str, replies: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The commands ``line`` sends (as dicts), checking it prints nothing."""
    script = Script(replies)
    assert run(line, script) == ""
    return [cmd.to_dict() for cmd in script.sent]


def error(cls: str, desc: str, name: str) -> QMPCommandError:
    return QMPCommandError(cls, desc, name, {"error": {"class": cls, "desc": desc}})


def test_block_stream_job_id_is_the_device() -> None:
    """block_stream with only a device sends the device as job id, on-error report."""
    assert sent("block_stream disk0") == [{"execute": "block-stream", "arguments": {
        "job-id": "disk0", "device": "disk0", "on-error": "report"}}]


def test_block_stream_speed_in_mib_and_base() -> None:
    """block_stream's speed defaults to MiB/s; the base file is passed on."""
    assert sent("block_stream disk0 2 base.qcow2")[0]["arguments"] == {
        "job-id": "disk0", "device": "disk0", "speed": 2 * 1024 * 1024,
        "base": "base.qcow2", "on-error": "report"}


def test_block_stream_speed_with_byte_suffix() -> None:
    """A speed with a b suffix is in bytes per second."""
    assert sent("block_stream disk0 1b")[0]["arguments"]["speed"] == 1


def test_block_stream_error_prints_error_line() -> None:
    """A failed block-stream prints QEMU's Error: line."""
    script = Script({"block-stream": error("GenericError", NO_DEVICE, "block-stream")})
    assert run("block_stream nosuch", script) == f"Error: {NO_DEVICE}\n"


def test_block_job_set_speed() -> None:
    """block_job_set_speed sends the job id and the speed in bytes per second."""
    assert sent("block_job_set_speed disk0 1") == [{"execute": "block-job-set-speed",
                                                    "arguments": {"device": "disk0",
                                                                  "speed": 1048576}}]


def test_block_job_cancel_always_sends_force() -> None:
    """block_job_cancel sends force false without -f and true with it."""
    assert sent("block_job_cancel disk0")[0]["arguments"] == {"device": "disk0", "force": False}
    assert sent("block_job_cancel -f disk0")[0]["arguments"] == {"device": "disk0",
                                                                "force": True}


def test_job_verbs_name_the_job() -> None:
    """complete, pause and resume send just the job id."""
    for verb in ("complete", "pause", "resume"):
        assert sent(f"block_job_{verb} job0") == [{"execute": f"block-job-{verb}",
                                                   "arguments": {"device": "job0"}}]


def test_job_not_found_error() -> None:
    """A job that does not exist prints QEMU's error for it."""
    script = Script({"block-job-pause": error("DeviceNotActive", NO_JOB, "block-job-pause")})
    assert run("block_job_pause nosuch", script) == f"Error: {NO_JOB}\n"


def test_drive_mirror_defaults() -> None:
    """drive_mirror without flags mirrors the top image into a new file."""
    assert sent("drive_mirror disk0 m.qcow2") == [{"execute": "drive-mirror", "arguments": {
        "device": "disk0", "target": "m.qcow2", "sync": "top", "mode": "absolute-paths"}}]


def test_drive_mirror_flags_and_format() -> None:
    """-n reuses the target (mode existing), -f copies the whole chain (sync full)."""
    assert sent("drive_mirror -n -f disk0 m.raw raw")[0]["arguments"] == {
        "device": "disk0", "target": "m.raw", "format": "raw", "sync": "full",
        "mode": "existing"}


def test_drive_backup_compress_only_with_c() -> None:
    """drive_backup sends compress only when -c is given."""
    assert sent("drive_backup disk0 b.qcow2")[0]["arguments"] == {
        "device": "disk0", "target": "b.qcow2", "sync": "top", "mode": "absolute-paths"}
    assert sent("drive_backup -n -f -c disk0 b.qcow2 qcow2")[0]["arguments"] == {
        "device": "disk0", "target": "b.qcow2", "format": "qcow2", "sync": "full",
        "mode": "existing", "compress": True}


def test_snapshot_blkdev_needs_a_file() -> None:
    """snapshot_blkdev without a file prints HMP's own error and sends nothing."""
    script = Script()
    assert run("snapshot_blkdev -n disk0", script) == (
        "Error: Parameter 'snapshot-file' is missing\n")
    assert script.sent == []


def test_snapshot_blkdev_modes() -> None:
    """snapshot_blkdev creates the overlay (absolute-paths) unless -n reuses it."""
    assert sent("snapshot_blkdev disk0 s.qcow2") == [{
        "execute": "blockdev-snapshot-sync", "arguments": {
            "device": "disk0", "snapshot-file": "s.qcow2", "mode": "absolute-paths"}}]
    assert sent("snapshot_blkdev -n disk0 s.qcow2 qcow2")[0]["arguments"] == {
        "device": "disk0", "snapshot-file": "s.qcow2", "format": "qcow2", "mode": "existing"}


def test_internal_snapshots() -> None:
    """Internal snapshots: create with a name; delete with a name and maybe an id."""
    assert sent("snapshot_blkdev_internal disk0 s1") == [{
        "execute": "blockdev-snapshot-internal-sync",
        "arguments": {"device": "disk0", "name": "s1"}}]
    assert sent("snapshot_delete_blkdev_internal disk0 s1")[0]["arguments"] == {
        "device": "disk0", "name": "s1"}
    assert sent("snapshot_delete_blkdev_internal disk0 s1 3",
                {"blockdev-snapshot-delete-internal-sync": {"id": "3", "name": "s1"}}
                )[0]["arguments"] == {"device": "disk0", "name": "s1", "id": "3"}


def test_io_throttle_drive_name_goes_to_device() -> None:
    """A name that is a drive is sent as device, with the six limits."""
    commands = sent("block_set_io_throttle disk0 1000 0 0 100 0 0",
                    {"query-block": QUERY_BLOCK})
    assert commands == [{"execute": "query-block"}, {
        "execute": "block_set_io_throttle", "arguments": {
            "device": "disk0", "bps": 1000, "bps_rd": 0, "bps_wr": 0, "iops": 100,
            "iops_rd": 0, "iops_wr": 0}}]


def test_io_throttle_other_names_go_to_id() -> None:
    """A name that is no drive (a qdev id, or unknown) is sent as id."""
    for name in ("ide1-cd0", "nosuch", "vanon1"):
        commands = sent(f"block_set_io_throttle {name} 1 2 3 4 5 6",
                        {"query-block": QUERY_BLOCK})
        assert commands[1]["arguments"] == {"id": name, "bps": 1, "bps_rd": 2, "bps_wr": 3,
                                            "iops": 4, "iops_rd": 5, "iops_wr": 6}


def test_io_throttle_error() -> None:
    """QEMU's refusal of the limits prints as an Error: line."""
    desc = "bps/iops/max total values and read/write values cannot be used at the same time"
    script = Script({"query-block": QUERY_BLOCK,
                     "block_set_io_throttle": error("GenericError", desc,
                                                    "block_set_io_throttle")})
    assert run("block_set_io_throttle disk0 1 2 3 4 5 6", script) == f"Error: {desc}\n"


def test_locked_image_gets_hint() -> None:
    """A target locked by another user prints QEMU's hint naming the file."""
    desc = 'Failed to get "write" lock'
    for line, command in (("snapshot_blkdev -n disk0 snap.qcow2 qcow2", "blockdev-snapshot-sync"),
                          ("drive_mirror -n disk0 snap.qcow2", "drive-mirror"),
                          ("drive_backup -n disk0 snap.qcow2", "drive-backup")):
        script = Script({command: error("GenericError", desc, command)})
        assert run(line, script) == (
            f"Error: {desc}\nIs another process using the image [snap.qcow2]?\n")
