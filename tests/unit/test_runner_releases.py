"""The runner with the profile of the QEMU served: its release's table and text."""

from __future__ import annotations

from typing import List

from hmpbridge.model import SessionState
from hmpbridge.runner import CommandRunner
from hmpbridge.testing import FakeExecutor


def run(executor: FakeExecutor, line: str) -> str:
    results: List[str] = []
    CommandRunner(executor).run(line, SessionState()).addCallback(results.append)
    return results[0]


def monitor(executor: FakeExecutor) -> List[str]:
    return [cmd.arguments["command-line"] for cmd in executor.commands
            if cmd.execute == "human-monitor-command"]


def test_each_release_knows_its_own_commands() -> None:
    seven = FakeExecutor(version=(7, 2, 22))
    eleven = FakeExecutor(version=(11, 1, 3))
    assert run(seven, "one-insn-per-tb on") == "unknown command: 'one-insn-per-tb'\n"
    assert run(eleven, "singlestep on") == "unknown command: 'singlestep'\n"
    assert run(eleven, "info skeys 0") == (
        "Command 'info skeys' not available until machine initialization has completed.\n")
    assert run(seven, "info skeys 0") == "unknown command: 'info skeys'\n"


def test_an_older_releases_name_runs_as_its_successor() -> None:
    """singlestep, printed as 7.2 prints it, over 11.1 is sent as one-insn-per-tb."""
    answers = {"human-monitor-command": lambda args: ""}
    eleven = FakeExecutor(answers, version=(11, 1, 3), hmp_version=(7, 2))
    assert run(eleven, "singlestep on") == ""
    assert monitor(eleven) == ["one-insn-per-tb on"]
    seven = FakeExecutor(answers, version=(7, 2, 22))
    assert run(seven, "singlestep on") == ""
    assert monitor(seven) == ["singlestep on"]


def test_help_is_the_text_releases() -> None:
    eleven = FakeExecutor(version=(11, 1, 3), hmp_version=(7, 2))
    assert run(eleven, "help singlestep").startswith("singlestep [on|off] -- ")
    assert run(FakeExecutor(version=(11, 1, 3)), "help clear") == \
        "clear  -- clear the monitor screen\n"


def test_info_kvm_runs_where_only_query_accelerators_is_left() -> None:
    """A QEMU without query-kvm (deprecated in 11.1) still answers info kvm."""
    answers = {"query-accelerators": lambda args: {"enabled": "tcg", "present": ["tcg"]}}
    names = ["query-accelerators", "query-status"]
    later = FakeExecutor(answers, version=(11, 1, 3), schema_commands=names,
                         schema=[{"name": name, "meta-type": "command", "arg-type": "0",
                                  "ret-type": "0"} for name in names])
    assert run(later, "info kvm") == "kvm support: not compiled\n"
    none = FakeExecutor(version=(11, 1, 3), schema_commands=["query-status"])
    assert run(none, "info kvm") == (
        "Error: 'info kvm' is not available: this QEMU has no QMP command 'query-kvm'\n")


def test_virtio_status_of_no_device_gets_qemus_error_where_a_device_would_kill_it() -> None:
    """On 11.1 only a path naming no virtio device is answered (QEMU's own words);
    a device's status is never asked (it kills QEMU 11.1.3)."""
    devices = [{"name": "virtio-blk", "path": "/machine/peripheral/vblk0/virtio-backend"}]
    eleven = FakeExecutor({"x-query-virtio": lambda args: devices}, version=(11, 1, 3))
    assert run(eleven, "info virtio-status /nosuch") == (
        "Error: Path /nosuch is not a realized VirtIODevice\n")
    assert [cmd.execute for cmd in eleven.commands] == ["x-query-virtio"]
    older = FakeExecutor({"x-query-virtio": lambda args: devices}, version=(11, 1, 3),
                         hmp_version=(7, 2))
    assert run(older, "info virtio-status /machine/peripheral/vblk0") == (
        "Error: Path /machine/peripheral/vblk0 is not a VirtIODevice\n")


def _without(*removed: str, **kw: object) -> FakeExecutor:
    """A QEMU 11.1.3 whose schema lacks ``removed`` (as the real one does)."""
    names = ["query-status", "query-kvm", "human-monitor-command"]
    answers = {"query-kvm": lambda args: {"enabled": kw.pop("kvm", False), "present": True}}
    return FakeExecutor(answers, version=(11, 1, 3), hmp_version=(7, 2),
                        schema_commands=[n for n in names if n not in removed])


def test_commands_removed_with_their_feature_answer_as_the_older_release_did() -> None:
    """info rdma/opcount/profile over a QEMU that removed RDMA and the profiler:
    7.2's answers of a QEMU without them, never the 11.1 monitor's 'unknown command'."""
    assert run(_without(), "info rdma") == ""
    assert run(_without(), "info opcount") == "[TCG profiler not compiled]\n"
    assert run(_without(kvm=True), "info opcount") == (
        "Error: Opcode count information is only available with accel=tcg\n")
    assert run(_without(), "info profile") == "Error: Internal profiler not compiled\n"
    executor = _without()
    for line in ("info rdma", "info opcount", "info profile"):
        run(executor, line)
    assert [cmd.execute for cmd in executor.commands] == ["query-kvm"]


def test_a_command_missing_from_an_older_qemu_is_still_refused() -> None:
    """Before the release that removed it, a missing QMP command means this QEMU
    (a storage daemon, a build without the feature) cannot answer: refused."""
    older = FakeExecutor(version=(8, 0, 5), schema_commands=["query-status"])
    assert run(older, "info rdma") == (
        "Error: 'info rdma' is not available: this QEMU has no QMP command 'x-query-rdma'\n")
    assert run(older, "info opcount") == (
        "Error: 'info opcount' is not available: this QEMU has no QMP command "
        "'x-query-opcount'\n")
