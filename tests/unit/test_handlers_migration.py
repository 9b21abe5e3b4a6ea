"""Migration commands, dirty-rate tools, dump-guest-memory and their info renderers."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

import pytest

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.testing import CannedReplies, InTurn, run_line
from hmpbridge.render.migration_status import (
    MigrationGlobals,
    blocktime_list,
    render_dirty_rate,
    render_info_migrate,
    render_vcpu_dirty_limit,
    socket_address,
)

_load_all()

Reply = Union[Any, Exception, Callable[[QMPCommand], Any]]


class Script(CannedReplies):
    """Canned replies, and the pauses the handler asked for."""

    def __init__(self, replies: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(replies)
        self.sleeps: List[float] = []


def run(line: str, script: Script) -> str:
    return run_line(line, script, sleep=script.sleeps.append)


def err(desc: str) -> QMPCommandError:
    return QMPCommandError("GenericError", desc)


GLOBALS = ("globals:\nstore-global-state: on\nonly-migratable: off\nsend-configuration: on\n"
           "send-section-footer: on\ndecompress-error-check: on\nclear-bitmap-shift: 18\n")


def test_migrate_detached_sends_resume_and_prints_nothing() -> None:
    """`migrate -d` sends uri and resume only (blk/inc absent when unset) and returns at once."""
    script = Script()
    assert run('migrate -d "exec:cat > f"', script) == ""
    assert script.sent == [QMPCommand("migrate", {"uri": "exec:cat > f", "resume": False})]


def test_migrate_waits_polling_every_second_until_the_status_leaves_active() -> None:
    """Without -d, query-migrate is polled at once and then each second until completed."""
    script = Script({"query-migrate": InTurn({"status": "setup"}, {"status": "active"},
                                             {"status": "completed"})})
    assert run("migrate -r tcp:h:1", script) == ""
    assert [c.execute for c in script.sent] == ["migrate"] + ["query-migrate"] * 3
    assert script.sent[0].arguments == {"uri": "tcp:h:1", "resume": True}
    assert script.sleeps == [1.0, 1.0]


def test_block_migration_prints_progress_with_carriage_returns_then_a_newline() -> None:
    """With -b each poll that has disk statistics prints `Completed N %` and CR; the end adds LF."""
    script = Script({"query-migrate": InTurn(
        {"status": "active", "disk": {"transferred": 25, "remaining": 75, "total": 100}},
        {"status": "active", "disk": {"transferred": 100, "remaining": 0, "total": 100}},
        {"status": "completed"})})
    assert run("migrate -b -i exec:x", script) == "Completed 25 %\rCompleted 100 %\r\n"
    assert script.sent[0].arguments == {"uri": "exec:x", "blk": True, "inc": True,
                                        "resume": False}


def test_failed_migration_prints_nothing_on_the_monitor() -> None:
    """A failure's error-desc goes to QEMU's stderr, so the monitor shows nothing."""
    script = Script({"query-migrate": {"status": "failed", "error-desc": "Broken pipe"}})
    assert run("migrate exec:false", script) == ""


def test_migrate_start_error_is_printed() -> None:
    """An error from the migrate command itself prints as `Error: <desc>` without polling."""
    script = Script({"migrate": err("Can't migrate the vm that was paused due to "
                                    "previous migration")})
    assert run("migrate exec:x", script) == ("Error: Can't migrate the vm that was paused due "
                                             "to previous migration\n")
    assert len(script.sent) == 1


def test_migrate_cancel_discards_errors() -> None:
    """`migrate_cancel` prints nothing even when QEMU refuses."""
    assert run("migrate_cancel", Script({"migrate_cancel": err("no")})) == ""


def test_migrate_continue_checks_the_state_name_first() -> None:
    """An unknown state is refused with QEMU's enum message before anything is sent."""
    script = Script()
    assert run("migrate_continue bogus", script) == "Error: invalid parameter value: bogus\n"
    assert script.sent == []
    assert run("migrate_continue pre-switchover", script) == ""
    assert script.sent == [QMPCommand("migrate-continue", {"state": "pre-switchover"})]


@pytest.mark.parametrize("line,cmd", [
    ("migrate_incoming tcp:0:4444", QMPCommand("migrate-incoming", {"uri": "tcp:0:4444"})),
    ("migrate_recover tcp:0:4444", QMPCommand("migrate-recover", {"uri": "tcp:0:4444"})),
    ("migrate_pause", QMPCommand("migrate-pause")),
    ("migrate_start_postcopy", QMPCommand("migrate-start-postcopy")),
    ("x_colo_lost_heartbeat", QMPCommand("x-colo-lost-heartbeat")),
    ("exit_preconfig", QMPCommand("x-exit-preconfig")),
    ("client_migrate_info spice h 5900 5901 cn",
     QMPCommand("client_migrate_info", {"protocol": "spice", "hostname": "h", "port": 5900,
                                        "tls-port": 5901, "cert-subject": "cn"})),
    ("client_migrate_info vnc h", QMPCommand("client_migrate_info",
                                             {"protocol": "vnc", "hostname": "h"})),
])
def test_plain_commands_send_their_qmp_and_print_errors(line: str, cmd: QMPCommand) -> None:
    """Each simple command sends one QMP command; an error prints as `Error: <desc>`."""
    script = Script()
    assert run(line, script) == ""
    assert script.sent == [cmd]
    assert run(line, Script({cmd.execute: err("nope")})) == "Error: nope\n"


def test_announce_self_copies_the_announce_parameters() -> None:
    """announce_self sends the current announce-* values, the split interfaces and the id."""
    params = {"announce-initial": 50, "announce-max": 550, "announce-rounds": 5,
              "announce-step": 100}
    script = Script({"query-migrate-parameters": params, "announce-self": err("ignored")})
    assert run("announce_self e0,e1, id7", script) == ""
    assert script.sent[1] == QMPCommand("announce-self", {
        "initial": 50, "max": 550, "rounds": 5, "step": 100, "interfaces": ["e0", "e1"],
        "id": "id7"})
    script = Script({"query-migrate-parameters": params})
    run("announce_self", script)
    assert script.sent[1].arguments == {"initial": 50, "max": 550, "rounds": 5, "step": 100}


def test_calc_dirty_rate_checks_then_sends_the_mode() -> None:
    """calc_dirty_rate refuses 0 s and -r with -b itself; otherwise it sends mode always."""
    script = Script()
    assert run("calc_dirty_rate 0", script) == "Incorrect period length specified!\n"
    assert run("calc_dirty_rate -r -b 1", script) == ("Either dirty ring or dirty bitmap can "
                                                      "be specified!\n")
    assert script.sent == []
    script = Script({"query-kvm": {"enabled": True, "present": True}})
    assert run("calc_dirty_rate -b 2 64", script) == (
        "Starting dirty rate measurement with period 2 seconds\n"
        "[Please use 'info dirty_rate' to check results]\n")
    assert script.sent == [QMPCommand("query-kvm"),
                           QMPCommand("calc-dirty-rate", {"calc-time": 2, "sample-pages": 64,
                                                          "mode": "dirty-bitmap"})]


def test_calc_dirty_rate_sampling_asks_nothing_first() -> None:
    """Page sampling goes straight to QMP, with or without KVM."""
    script = Script()
    run("calc_dirty_rate 1", script)
    assert script.sent == [QMPCommand("calc-dirty-rate", {"calc-time": 1,
                                                          "mode": "page-sampling"})]


# QEMU 7.2 aborts on calc-dirty-rate in the dirty-ring or dirty-bitmap mode when it runs
# without KVM, after the checks below.  The texts of those checks were captured from
# QEMU 7.2.22 through human-monitor-command (they come before the abort); the dirty-ring
# one is QEMU's own for a dirty ring that is off.
TCG = {"query-kvm": {"enabled": False, "present": True},
       "query-dirty-rate": {"status": "measured"}}


@pytest.mark.parametrize("line, text", [
    ("calc_dirty_rate -r 1", "Error: mode dirty-ring is not enabled, use other method "
                             "instead.\n"),
    ("calc_dirty_rate -b 1", "hmpbridge: not measuring with the dirty bitmap: QEMU 7.2 "
                             "aborts on it without KVM\n"),
    ("calc_dirty_rate -b 1 256", "hmpbridge: not measuring with the dirty bitmap: QEMU 7.2 "
                                 "aborts on it without KVM\n"),
    ("calc_dirty_rate -r 100", "Error: calc-time is out of range[1, 60].\n"),
    ("calc_dirty_rate -b 61", "Error: calc-time is out of range[1, 60].\n"),
    ("calc_dirty_rate -r 1 64", "Error: either sample-pages or dirty-ring can be "
                                "specified.\n"),
    ("calc_dirty_rate -b 1 64", "Error: sample-pages is out of range[128, 16384].\n"),
])
def test_calc_dirty_rate_without_kvm_never_sends_what_aborts_qemu(line: str, text: str) -> None:
    """Without KVM, -r and -b get QEMU's checks and errors, and calc-dirty-rate is not sent."""
    script = Script(dict(TCG))
    assert run(line, script) == text
    assert all(cmd.execute != "calc-dirty-rate" for cmd in script.sent)


def test_calc_dirty_rate_without_kvm_while_measuring() -> None:
    """A measurement under way is reported first, as QEMU reports it."""
    script = Script({**TCG, "query-dirty-rate": {"status": "measuring"}})
    assert run("calc_dirty_rate -r 1", script) == (
        "Error: the dirty rate is already being measured.\n")


def test_dirty_limit_commands_treat_minus_one_as_no_cpu() -> None:
    """set/cancel_vcpu_dirty_limit leave cpu-index out for -1 and print the hint on success."""
    hint = "[Please use 'info vcpu_dirty_limit' to query dirty limit for virtual CPU]\n"
    script = Script()
    assert run("set_vcpu_dirty_limit 10 (-1)", script) == hint
    assert run("cancel_vcpu_dirty_limit 1", script) == hint
    assert script.sent == [QMPCommand("set-vcpu-dirty-limit", {"dirty-rate": 10}),
                           QMPCommand("cancel-vcpu-dirty-limit", {"cpu-index": 1})]
    assert run("cancel_vcpu_dirty_limit", Script({"cancel-vcpu-dirty-limit": err("x")})) == (
        "Error: x\n")


@pytest.mark.parametrize("line,extra", [
    ("dump-guest-memory f", {"paging": False, "detach": False, "format": "elf"}),
    ("dump-guest-memory -p -d -z f 0 4096", {"paging": True, "detach": True, "begin": 0,
                                             "length": 4096, "format": "kdump-zlib"}),
    ("dump-guest-memory -w f", {"paging": False, "detach": False, "format": "win-dmp"}),
    ("dump-guest-memory -s f", {"paging": False, "detach": False, "format": "kdump-snappy"}),
])
def test_dump_guest_memory_arguments(line: str, extra: Dict[str, Any]) -> None:
    """dump-guest-memory always sends paging, file: protocol, detach and format."""
    script = Script()
    assert run(line, script) == ""
    (cmd,) = script.sent
    assert cmd.execute == "dump-guest-memory"
    assert dict(cmd.arguments or {}) == dict(extra, protocol="file:f")


def test_dump_guest_memory_refuses_two_formats() -> None:
    """Two format flags are refused before anything is sent."""
    script = Script()
    assert run("dump-guest-memory -z -l f", script) == (
        "Error: only one of '-z|-l|-s|-w' can be set\n")
    assert script.sent == []


def test_info_migrate_without_migration_is_the_globals_block() -> None:
    """With no migration ever started only the globals block is printed."""
    assert run("info migrate", Script({"query-migrate": {}})) == GLOBALS


def test_info_migrate_every_block_in_order() -> None:
    """Blockers, status, RAM (with its non-zero extras), disk, XBZRLE, compression and the rest."""
    info = {
        "blocked-reasons": ["r1", "r2"], "status": "failed", "error-desc": "boom",
        "total-time": 7, "expected-downtime": 3, "downtime": 2, "setup-time": 1,
        "ram": {"transferred": 2048, "mbps": 1.005, "remaining": 1024, "total": 4096,
                "duplicate": 1, "skipped": 0, "normal": 2, "normal-bytes": 8192,
                "dirty-sync-count": 3, "page-size": 4096, "multifd-bytes": 0,
                "pages-per-second": 9, "dirty-pages-rate": 4, "postcopy-requests": 5,
                "precopy-bytes": 1024, "downtime-bytes": 0, "postcopy-bytes": 3072,
                "dirty-sync-missed-zero-copy": 6},
        "disk": {"transferred": 1024, "remaining": 2048, "total": 3072},
        "xbzrle-cache": {"cache-size": 67108864, "bytes": 2048, "pages": 1, "cache-miss": 2,
                         "cache-miss-rate": 0.5, "encoding-rate": 0.0, "overflow": 0},
        "compression": {"pages": 1, "busy": 2, "busy-rate": 0.25, "compressed-size": 4096,
                        "compression-rate": 3.0},
        "cpu-throttle-percentage": 20, "postcopy-blocktime": 11,
        "postcopy-vcpu-blocktime": [0, 1, 2, 5],
        "socket-address": [{"type": "inet", "host": "127.0.0.1", "port": "4444"},
                           {"type": "unix", "path": "/s"}],
        "vfio": {"transferred": 2048},
    }
    assert render_info_migrate(info) == GLOBALS + (
        "Outgoing migration blocked:\n  r1\n  r2\n"
        "Migration status: failed (boom)\ntotal time: 7 ms\nexpected downtime: 3 ms\n"
        "downtime: 2 ms\nsetup: 1 ms\n"
        "transferred ram: 2 kbytes\nthroughput: 1.00 mbps\nremaining ram: 1 kbytes\n"
        "total ram: 4 kbytes\nduplicate: 1 pages\nskipped: 0 pages\nnormal: 2 pages\n"
        "normal bytes: 8 kbytes\ndirty sync count: 3\npage size: 4 kbytes\n"
        "multifd bytes: 0 kbytes\npages-per-second: 9\ndirty pages rate: 4 pages\n"
        "postcopy request count: 5\nprecopy ram: 1 kbytes\npostcopy ram: 3 kbytes\n"
        "Zero-copy-send fallbacks happened: 6 times\n"
        "transferred disk: 1 kbytes\nremaining disk: 2 kbytes\ntotal disk: 3 kbytes\n"
        "cache size: 67108864 bytes\nxbzrle transferred: 2 kbytes\nxbzrle pages: 1 pages\n"
        "xbzrle cache miss: 2 pages\nxbzrle cache miss rate: 0.50\n"
        "xbzrle encoding rate: 0.00\nxbzrle overflow: 0\n"
        "compression pages: 1 pages\ncompression busy: 2\ncompression busy rate: 0.25\n"
        "compressed size: 4 kbytes\ncompression rate: 3.00\n"
        "cpu throttle percentage: 20\npostcopy blocktime: 11\n"
        "postcopy vcpu blocktime: 0-2,5\n"
        "socket address: [\n\ttcp:127.0.0.1:4444\n\tunix:/s\n]\n"
        "vfio device transferred: 2 kbytes\n")


def test_error_desc_shows_only_for_failed() -> None:
    """error-desc is printed in parentheses only when the status is failed."""
    text = render_info_migrate({"status": "cancelled", "error-desc": "x", "total-time": 1})
    assert "Migration status: cancelled\n" in text


def test_globals_follow_the_given_values() -> None:
    """The globals block prints what it is given (e.g. -only-migratable)."""
    assert "only-migratable: on\n" in MigrationGlobals(only_migratable=True).render()


def test_blocktime_list_merges_runs() -> None:
    """The vCPU blocktime list is sorted, deduplicated and written with ranges."""
    assert blocktime_list([3, 1, 2, 7, 7, 9, 10]) == "1-3,7,9-10"
    assert blocktime_list([]) == ""


def test_socket_addresses() -> None:
    """Addresses are written as QEMU 7.2 writes them, vsock with a tcp: prefix."""
    assert socket_address({"type": "fd", "str": "fd0"}) == "fd:fd0"
    assert socket_address({"type": "vsock", "cid": "3", "port": "9"}) == "tcp:3:9"


def test_dirty_rate_ready_and_not() -> None:
    """info dirty_rate ends with the rate and per-vCPU lines, or `(not ready)`."""
    base = {"status": "measured", "start-time": 5, "sample-pages": 512, "calc-time": 1,
            "mode": "dirty-ring"}
    assert render_dirty_rate(dict(base, **{"dirty-rate": 4, "vcpu-dirty-rate": [
        {"id": 0, "dirty-rate": 3}]})) == (
        "Status: measured\nStart Time: 5 (ms)\nSample Pages: 512 (per GB)\nPeriod: 1 (sec)\n"
        "Mode: dirty-ring\nDirty rate: 4 (MB/s)\nvcpu[0], Dirty rate: 3 (MB/s)\n")
    assert render_dirty_rate(base).endswith("Dirty rate: (not ready)\n")


def test_vcpu_dirty_limit_lines_or_not_enabled() -> None:
    """An empty reply means the limiter is off; otherwise one line per vCPU."""
    assert render_vcpu_dirty_limit([]) == "Dirty page limit not enabled!\n"
    assert render_vcpu_dirty_limit([{"cpu-index": 1, "limit-rate": 10, "current-rate": 3}]) == (
        "vcpu[1], limit rate 10 (MB/s), current rate 3 (MB/s)\n")
