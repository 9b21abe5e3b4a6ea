"""Migration lines as each QEMU release prints them, from that release's own replies.

The fixtures (``tests/fixtures/releases/<X.Y>/migration*.json``, recorded by
``tests/tools/capture_migration.py``) hold, for QEMU 7.2.22, 10.0.2 and
11.1.3, the replies of ``query-migrate-parameters``,
``query-migrate-capabilities`` and ``query-migrate`` and what that QEMU's
monitor printed from them at the same moment; the live schema of each is
``schema.json`` beside them.  ``--hmp-version 7.2`` over 11.1.3 is compared
with what QEMU 7.2.22 prints, less what QEMU 11.1 no longer has.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

from hmpbridge.handlers import Context, _load_all
from hmpbridge.model import QMPCommand
from hmpbridge.profile import QemuProfile, profile_for
from hmpbridge.testing import CannedReplies, qmp_greeting, run_key

_load_all()

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
VERSIONS = {"7.2": (7, 2, 22), "10.0": (10, 0, 2), "11.1": (11, 1, 3)}

#: Lines QEMU 7.2 prints that QEMU 11.1 has no data for (``--hmp-version 7.2`` leaves them out).
GONE_IN_11 = ("compress-level:", "compress-threads:", "compress-wait-thread:",
              "decompress-threads:", "block-incremental:", "compress:", "block:",
              "zero-blocks:", "decompress-error-check:")


@lru_cache(maxsize=None)
def schema(release: str) -> List[Dict[str, Any]]:
    with open(os.path.join(FIXTURES, release, "schema.json")) as f:
        return json.load(f)  # type: ignore[no-any-return]


def fixture(release: str, name: str = "migration.json") -> Dict[str, Any]:
    with open(os.path.join(FIXTURES, release, name)) as f:
        return json.load(f)  # type: ignore[no-any-return]


def profile(release: str, hmp_version: Optional[Tuple[int, int]] = None) -> QemuProfile:
    return profile_for(qmp_greeting(VERSIONS[release]), schema(release), hmp_version)


def ctx_for(release: str, hmp_version: Optional[Tuple[int, int]] = None) -> Context:
    return Context(profile=profile(release, hmp_version))


def run_info(line: str, replies: Mapping[str, Any], ctx: Context) -> str:
    key, _, flag = line.partition(" -")
    args = {"all": True} if flag == "a" else {}
    return run_key(key, args, CannedReplies(dict(replies)), ctx=ctx, line=line)


CASES = [(release, state, line)
         for release in VERSIONS
         for state in ("started", "set", "migrated")
         for line in fixture(release)["states"][state]["hmp"]]


@pytest.mark.parametrize("release, state, line", CASES)
def test_each_release_prints_its_own_text(release: str, state: str, line: str) -> None:
    """What the bridge prints from a release's replies is what that release printed."""
    snap = fixture(release)["states"][state]
    assert run_info(line, snap["replies"], ctx_for(release)) == snap["hmp"][line]


def _without_gone(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if not line.startswith(GONE_IN_11))


@pytest.mark.parametrize("line", ["info migrate_parameters", "info migrate_capabilities",
                                  "info migrate"])
def test_hmp_version_7_2_over_11_1_prints_7_2s_text(line: str) -> None:
    """QEMU 11.1.3 with machine pc-i440fx-7.2 rendered as 7.2: 7.2's text less what 11.1 lacks."""
    newer = fixture("11.1", "migration-pc-i440fx-7.2.json")["states"]["started"]
    older = fixture("7.2")["states"]["started"]["hmp"][line]
    got = run_info(line, newer["replies"], ctx_for("11.1", (7, 2)))
    assert got == _without_gone(older)
    assert got != older or line == "info migrate_capabilities"


def test_hmp_version_7_2_over_10_0_keeps_the_7_2_order_and_units() -> None:
    """10.0's data in 7.2's layout: max-postcopy-bandwidth has no unit, tls-authz is last."""
    snap = fixture("10.0")["states"]["set"]
    got = run_info("info migrate_parameters", snap["replies"], ctx_for("10.0", (7, 2)))
    lines = got.splitlines()
    assert lines[-1] == "tls-authz: 'authz0'"
    assert "max-postcopy-bandwidth: 1024" in lines
    assert not any(name in got for name in ("avail-switchover", "zero-page", "mode:",
                                            "direct-io", "vcpu-dirty-limit"))


def test_info_migrate_all_is_10_1s_flag() -> None:
    """``info migrate`` on 11.1 idle prints nothing; ``-a`` adds the Globals block."""
    snap = fixture("11.1")["states"]["started"]
    assert run_info("info migrate", snap["replies"], ctx_for("11.1")) == ""
    assert run_info("info migrate -a", snap["replies"], ctx_for("11.1")).startswith("Globals:\n")


# -- migrate_set_parameter / migrate_set_capability per schema ---------------------------------


def set_param(release: str, name: str, value: str,
              replies: Optional[Mapping[str, Any]] = None,
              hmp_version: Optional[Tuple[int, int]] = None) -> Tuple[str, List[QMPCommand]]:
    script = CannedReplies(dict(replies or {}))
    out = run_key("migrate_set_parameter", {"parameter": name, "value": value}, script,
                  ctx=ctx_for(release, hmp_version))
    return out, script.sent


@pytest.mark.parametrize("release, name", [
    ("10.0", "compress-level"), ("10.0", "block-incremental"), ("11.1", "decompress-threads"),
    ("7.2", "avail-switchover-bandwidth"), ("7.2", "mode"), ("10.0", "x-rdma-chunk-size"),
    ("10.0", "cpr-exec-command"),
])
def test_a_parameter_the_schema_lacks_is_refused_in_qemus_words(release: str, name: str) -> None:
    """Captured from each QEMU: ``Error: invalid parameter value: NAME``; nothing is sent."""
    assert set_param(release, name, "1") == (f"Error: invalid parameter value: {name}\n", [])


@pytest.mark.parametrize("release, name, text, value", [
    ("10.0", "avail-switchover-bandwidth", "1000", 1048576000),
    ("11.1", "avail-switchover-bandwidth", "1.5", 1572864),
    ("10.0", "vcpu-dirty-limit", "5", 5),
    ("10.0", "x-vcpu-dirty-limit-period", "500", 500),
    ("10.0", "mode", "cpr-reboot", "cpr-reboot"),
    ("10.0", "zero-page-detection", "legacy", "legacy"),
    ("10.0", "direct-io", "on", True),
    ("10.0", "multifd-qatzip-level", "9", 9),
    ("11.1", "x-rdma-chunk-size", "2M", 2097152),
    ("11.1", "tls-creds", "a  b  ", "a  b  "),
    ("11.1", "cpr-exec-command", "a\"b c\"d 'e'\\f \"\\$x\\y\"", ["ab cd", "ef", "$x\\y"]),
    ("11.1", "cpr-exec-command", "''", [""]),
    ("11.1", "cpr-exec-command", "a #b c", ["a"]),
])
def test_newer_parameters_convert_as_that_qemu_does(release: str, name: str, text: str,
                                                    value: Any) -> None:
    """The values were read back with query-migrate-parameters after QEMU's own HMP set them."""
    assert set_param(release, name, text) == ("", [QMPCommand("migrate-set-parameters",
                                                               {name: value})])


@pytest.mark.parametrize("name, text, message", [
    ("multifd-qatzip-level", "300", "Error: Parameter 'multifd-qatzip-level' expects uint8_t\n"),
    ("direct-io", "maybe", "Error: Parameter 'direct-io' expects 'on' or 'off'\n"),
    ("x-rdma-chunk-size", "abc",
     "Error: Parameter 'x-rdma-chunk-size' expects a non-negative number below 2^64\n"
     "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
     "and exabytes, respectively.\n"),
    ("max-bandwidth", "1 2", "Error: Invalid size 1 2\n"),
    ("cpr-exec-command", "'unterminated",
     "Error: Text ended before matching quote was found for '. "
     "(The text was \u201c'unterminated\u201d)\n"),
    ("cpr-exec-command", "\"a",
     "Error: Text ended before matching quote was found for \". (The text was \u201c\"a\u201d)\n"),
    ("cpr-exec-command", "a\\",
     "Error: Text ended just after a \u201c\\\u201d character. (The text was \u201ca\\\u201d)\n"),
    ("cpr-exec-command", "#x", "Error: Text was empty (or contained only whitespace)\n"),
])
def test_conversion_errors_of_11_1(name: str, text: str, message: str) -> None:
    """Captured from QEMU 11.1.3's own monitor; nothing reaches QEMU."""
    assert set_param("11.1", name, text) == (message, [])


def set_cap(release: str, cap: str, state: bool,
            replies: Optional[Mapping[str, Any]] = None,
            hmp_version: Optional[Tuple[int, int]] = None) -> Tuple[str, List[QMPCommand]]:
    script = CannedReplies(dict(replies or {}))
    out = run_key("migrate_set_capability", {"capability": cap, "state": state}, script,
                  ctx=ctx_for(release, hmp_version))
    return out, script.sent


@pytest.mark.parametrize("release, cap", [("10.0", "compress"), ("10.0", "block"),
                                          ("11.1", "zero-blocks"), ("7.2", "mapped-ram")])
def test_a_capability_the_schema_lacks_is_refused(release: str, cap: str) -> None:
    assert set_cap(release, cap, True) == (f"Error: invalid parameter value: {cap}\n", [])


def test_zero_blocks_warns_on_10_0_while_it_is_on() -> None:
    """QEMU 9.2 to 10.2 warn whenever the new capability set has zero-blocks on."""
    caps = fixture("10.0")["states"]["started"]["replies"]["query-migrate-capabilities"]
    out, sent = set_cap("10.0", "zero-blocks", True, {"query-migrate-capabilities": caps})
    assert out == "warning: zero-blocks capability is deprecated\n"
    assert sent[-1] == QMPCommand("migrate-set-capabilities", {
        "capabilities": [{"capability": "zero-blocks", "state": True}]})
    on = [dict(c, state=c["capability"] == "zero-blocks") for c in caps]
    assert set_cap("10.0", "events", True, {"query-migrate-capabilities": on})[0] == (
        "warning: zero-blocks capability is deprecated\n")
    assert set_cap("10.0", "events", True, {"query-migrate-capabilities": caps})[0] == ""
    assert set_cap("10.0", "zero-blocks", False, {"query-migrate-capabilities": on})[0] == ""


def test_newer_capabilities_are_accepted() -> None:
    """11.1 does not warn, so it asks nothing first; 10.0 reads whether zero-blocks is on."""
    sent = [QMPCommand("migrate-set-capabilities", {"capabilities": [{"capability": "mapped-ram",
                                                                      "state": True}]})]
    assert set_cap("11.1", "mapped-ram", True) == ("", sent)
    assert set_cap("10.0", "mapped-ram", True) == (
        "", [QMPCommand("query-migrate-capabilities")] + sent)


# -- migrate -----------------------------------------------------------------------------------


def migrate(release: str, args: Mapping[str, Any], replies: Mapping[str, Any],
            hmp_version: Optional[Tuple[int, int]] = None) -> Tuple[str, List[QMPCommand]]:
    script = CannedReplies(dict(replies))
    out = run_key("migrate", dict(args), script, ctx=ctx_for(release, hmp_version))
    return out, script.sent


DONE = {"status": "completed"}
WITH_DISK = {"status": "active", "disk": {"transferred": 50, "remaining": 50, "total": 100}}


@pytest.mark.parametrize("release", ["10.0", "11.1"])
def test_migrate_sends_what_the_schema_has(release: str) -> None:
    out, sent = migrate(release, {"uri": "exec:cat", "detach": True}, {"query-migrate": DONE})
    assert out == ""
    assert sent == [QMPCommand("migrate", {"uri": "exec:cat", "resume": False})]


def test_block_migration_needs_a_schema_with_blk() -> None:
    """7.2's ``-b`` over a QEMU that removed block migration is refused, not dropped."""
    out, sent = migrate("11.1", {"uri": "exec:cat", "blk": True}, {"query-migrate": DONE},
                        hmp_version=(7, 2))
    assert sent == []
    assert out.startswith("Error: ") and out.count("\n") == 1
    out, sent = migrate("7.2", {"uri": "exec:cat", "blk": True, "detach": True},
                        {"query-migrate": DONE})
    assert sent[0].arguments == {"uri": "exec:cat", "blk": True, "resume": False}


def test_progress_line_only_where_the_release_printed_it() -> None:
    from hmpbridge.testing import InTurn
    replies = {"query-migrate": InTurn(WITH_DISK, DONE)}
    assert migrate("7.2", {"uri": "exec:cat"}, replies)[0] == "Completed 50 %\r"
    replies = {"query-migrate": InTurn(WITH_DISK, DONE)}
    assert migrate("10.0", {"uri": "exec:cat"}, replies)[0] == ""


# -- calc_dirty_rate ---------------------------------------------------------------------------


def test_calc_dirty_rate_asks_qemu_itself_since_9_1() -> None:
    """QEMU 9.1 and later check without aborting when there is no KVM: their words are had
    from ``calc-dirty-rate`` itself (captured: 10.0.2 and 11.1.3 print this)."""
    from hmpbridge.testing import generic_error
    desc = "sample-pages is used only in page-sampling mode"
    script = CannedReplies({"calc-dirty-rate": generic_error(desc)})
    out = run_key("calc_dirty_rate", {"second": 1, "dirty_ring": True, "sample_pages_per_GB": 64},
                  script, ctx=ctx_for("11.1"))
    assert out == f"Error: {desc}\n"
    assert script.sent == [QMPCommand("calc-dirty-rate", {"calc-time": 1, "sample-pages": 64,
                                                          "mode": "dirty-ring"})]


def test_calc_dirty_rate_before_9_1_keeps_its_own_checks() -> None:
    script = CannedReplies({"query-kvm": {"enabled": False, "present": False}})
    out = run_key("calc_dirty_rate", {"second": 1, "dirty_ring": True, "sample_pages_per_GB": 64},
                  script, ctx=ctx_for("7.2"))
    assert out == "Error: either sample-pages or dirty-ring can be specified.\n"
    assert "calc-dirty-rate" not in [c.execute for c in script.sent]


@pytest.mark.parametrize("args, want", [
    ({"second": 1, "dirty_bitmap": True, "sample_pages_per_GB": 64},
     "Error: sample-pages is out of range[128, 16384].\n"),
    ({"second": 1, "dirty_ring": True, "sample_pages_per_GB": 64},
     "Error: either sample-pages or dirty-ring can be specified.\n"),
    ({"second": 100, "dirty_ring": True}, "Error: calc-time is out of range[1, 60].\n"),
    ({"second": 61, "dirty_bitmap": True}, "Error: calc-time is out of range[1, 60].\n"),
    ({"second": 1, "sample_pages_per_GB": 99999},
     "Error: sample-pages is out of range[128, 16384].\n"),
])
def test_calc_dirty_rate_with_7_2_text_over_11_1_checks_as_7_2(args, want) -> None:
    """QEMU 7.2's checks, order and words (migration/dirtyrate.c), with its text over 11.1,
    whose own checks and words differ (8.0 and 8.2 changed them); nothing is measured."""
    script = CannedReplies({"query-dirty-rate": {"status": "measured"}})
    assert run_key("calc_dirty_rate", args, script, ctx=ctx_for("11.1", (7, 2))) == want
    assert "calc-dirty-rate" not in [c.execute for c in script.sent]


def test_calc_dirty_rate_with_7_2_text_over_11_1_when_measuring() -> None:
    """QEMU 7.2 says first that a measurement runs."""
    script = CannedReplies({"query-dirty-rate": {"status": "measuring"}})
    out = run_key("calc_dirty_rate", {"second": 100}, script, ctx=ctx_for("11.1", (7, 2)))
    assert out == "Error: the dirty rate is already being measured.\n"


def test_calc_dirty_rate_with_8_0_text_names_page_sampling() -> None:
    """8.0 refused sample-pages in any mode but page-sampling, in its own words."""
    script = CannedReplies({"query-dirty-rate": {"status": "measured"}})
    out = run_key("calc_dirty_rate", {"second": 1, "dirty_bitmap": True,
                                      "sample_pages_per_GB": 64},
                  script, ctx=ctx_for("11.1", (8, 0)))
    assert out == "Error: sample-pages is used only in page-sampling mode\n"


# -- the migration globals ---------------------------------------------------------------------


@pytest.mark.parametrize("qemu, machine, switchover", [
    ((10, 0), "pc-i440fx-10.0-machine", True), ((11, 1), "pc-i440fx-7.2-machine", False),
    ((11, 1), "pc-q35-9.2-machine", False), ((11, 1), "microvm-machine", True),
    ((11, 1), None, True), ((9, 2), "pc-i440fx-9.2-machine", None),
])
def test_send_switchover_start_follows_the_machine_type(qemu, machine, switchover) -> None:
    """hw_compat_9_2 turns it off for machine types before 10.0; QEMU before 10.0 has none."""
    from hmpbridge.render.migration_status import globals_for
    found = globals_for(qemu, machine)
    assert found.send_switchover_start is switchover
    assert (found.decompress_error_check is None) is (qemu >= (9, 1))


def test_info_migrate_all_on_an_old_machine_type() -> None:
    """11.1.3 with -M pc-i440fx-7.2: the machine type, read with qom-get, turns it off."""
    snap = fixture("11.1", "migration-pc-i440fx-7.2.json")["states"]["migrated"]
    replies = dict(snap["replies"], **{"qom-get": "pc-i440fx-7.2-machine"})
    assert run_info("info migrate -a", replies, ctx_for("11.1")) == snap["hmp"]["info migrate -a"]


@pytest.mark.parametrize("uri", ["nosuch:x", "file:/tmp/x,offset=1"])
def test_migrate_with_7_2_text_over_11_1_refuses_what_7_2_did_not_know(uri: str) -> None:
    """QEMU 7.2's words for a scheme it did not have (file: came in 8.2): the value of
    'uri' is refused; 11.1 would parse it, or say 'unknown migration protocol'."""
    out, sent = migrate("11.1", {"uri": uri, "detach": True}, {"query-migrate": {}}, (7, 2))
    assert out == "Error: Parameter 'uri' expects a valid migration protocol\n"
    assert "migrate" not in [c.execute for c in sent]


def test_migrate_with_7_2_text_leaves_a_running_migration_to_qemu() -> None:
    """While a migration runs, QEMU's refusal of a second one comes first, as in 7.2."""
    out, sent = migrate("11.1", {"uri": "nosuch:x", "detach": True},
                        {"query-migrate": {"status": "active"}}, (7, 2))
    assert QMPCommand("migrate", {"uri": "nosuch:x", "resume": False}) in sent


# -- migrate_incoming --------------------------------------------------------------------------


def test_migrate_incoming_names_an_unknown_scheme_first_since_8_2() -> None:
    """Captured from QEMU 10.0.2 and 11.1.3 without -incoming: the URI is judged first."""
    script = CannedReplies()
    out = run_key("migrate_incoming", {"uri": "nosuch:x"}, script, ctx=ctx_for("10.0"))
    assert (out, script.sent) == ("Error: unknown migration protocol: nosuch:x\n", [])
    script = CannedReplies()
    run_key("migrate_incoming", {"uri": "nosuch:x"}, script, ctx=ctx_for("7.2"))
    assert script.sent == [QMPCommand("migrate-incoming", {"uri": "nosuch:x"})]


@pytest.mark.parametrize("release, sent", [
    ("7.2", {"uri": "tcp:127.0.0.1:1"}),
    ("10.0", {"uri": "tcp:127.0.0.1:1", "exit-on-error": False}),
    ("11.1", {"uri": "tcp:127.0.0.1:1", "exit-on-error": False}),
])
def test_migrate_incoming_does_not_exit_on_error_since_9_1(release: str, sent) -> None:
    """HMP passes exit-on-error false where the schema has it; QMP's default is to exit."""
    script = CannedReplies()
    run_key("migrate_incoming", {"uri": "tcp:127.0.0.1:1"}, script, ctx=ctx_for(release))
    assert script.sent == [QMPCommand("migrate-incoming", sent)]


@pytest.mark.parametrize("release, known", [("7.2", False), ("10.0", True), ("11.1", True)])
def test_migrate_continue_takes_the_schemas_statuses(release: str, known: bool) -> None:
    """postcopy-recover-setup is a MigrationStatus since 9.1 (10.0's and 11.1's schemas)."""
    script = CannedReplies()
    out = run_key("migrate_continue", {"state": "postcopy-recover-setup"}, script,
                  ctx=ctx_for(release))
    if known:
        assert script.sent == [QMPCommand("migrate-continue", {"state": "postcopy-recover-setup"})]
    else:
        assert (out, script.sent) == ("Error: invalid parameter value: postcopy-recover-setup\n",
                                      [])


def test_migrate_continue_with_7_2_text_over_11_1_takes_7_2_statuses() -> None:
    """A state name QEMU 7.2 did not have is refused in its words, though 11.1 knows it."""
    script = CannedReplies()
    out = run_key("migrate_continue", {"state": "postcopy-recover-setup"}, script,
                  ctx=ctx_for("11.1", (7, 2)))
    assert (out, script.sent) == ("Error: invalid parameter value: postcopy-recover-setup\n", [])


@pytest.mark.parametrize("key, command, now, before", [
    ("migrate_pause", "migrate-pause",
     "migrate-pause is currently only supported during postcopy-active or postcopy-recover state",
     "migrate-pause is currently only supported during postcopy-active state"),
    ("x_colo_lost_heartbeat", "x-colo-lost-heartbeat", "VM is not in COLO mode",
     "The feature 'colo' is not enabled"),
])
def test_errors_reworded_since_7_2_print_7_2_words(key, command, now, before) -> None:
    """QEMU's own errors whose words changed (8.2's migrate-pause, 8.0's COLO), in 7.2's
    words when its text is asked for over 11.1, and as QEMU says them otherwise."""
    from hmpbridge.testing import generic_error
    script = CannedReplies({command: generic_error(now)})
    assert run_key(key, {}, script, ctx=ctx_for("11.1", (7, 2))) == f"Error: {before}\n"
    script = CannedReplies({command: generic_error(now)})
    assert run_key(key, {}, script, ctx=ctx_for("11.1")) == f"Error: {now}\n"


# -- dirty rate and dirty limit ----------------------------------------------------------------

MEASURED = {"status": "measured", "start-time": 1796311313, "calc-time": 1,
            "calc-time-unit": "second", "sample-pages": 512, "mode": "dirty-bitmap",
            "dirty-rate": 0}


def test_info_dirty_rate_names_sample_pages_only_when_sampling_since_8_0() -> None:
    """Captured from QEMU 10.0.2 after ``calc_dirty_rate -b 1``."""
    assert run_info("info dirty_rate", {"query-dirty-rate": MEASURED}, ctx_for("10.0")) == (
        "Status: measured\nStart Time: 1796311313 (ms)\nPeriod: 1 (sec)\n"
        "Mode: dirty-bitmap\nDirty rate: 0 (MB/s)\n")
    assert "Sample Pages: 512 (per GB)\n" in run_info(
        "info dirty_rate", {"query-dirty-rate": MEASURED}, ctx_for("7.2"))


def test_set_vcpu_dirty_limit_since_8_1() -> None:
    """Captured from QEMU 10.0.2: a negative rate is refused; success prints nothing."""
    script = CannedReplies()
    out = run_key("set_vcpu_dirty_limit", {"dirty_rate": -5}, script, ctx=ctx_for("10.0"))
    assert (out, script.sent) == ("Error: invalid dirty page limit -5\n", [])
    script = CannedReplies()
    assert run_key("set_vcpu_dirty_limit", {"dirty_rate": 10}, script, ctx=ctx_for("11.1")) == ""
    assert script.sent == [QMPCommand("set-vcpu-dirty-limit", {"dirty-rate": 10})]


# -- 8.2 and 9.0 deprecation warnings (from QEMU's sources: migration/options.c) ----------------


def test_8_2_warns_of_old_compression_parameters_once_set() -> None:
    ctx = Context(profile=profile_for(qmp_greeting((8, 2, 2))))
    script = CannedReplies()
    out = run_key("migrate_set_parameter", {"parameter": "compress-threads", "value": "4"},
                  script, ctx=ctx)
    assert out == ("warning: old compression is deprecated; use multifd compression methods "
                   "instead\n")
    assert script.sent == [QMPCommand("migrate-set-parameters", {"compress-threads": 4})]


def test_9_0_warns_of_each_deprecated_capability_on_in_the_new_set() -> None:
    ctx = Context(profile=profile_for(qmp_greeting((9, 0, 0))))
    caps = [{"capability": "compress", "state": True}, {"capability": "block", "state": False}]
    script = CannedReplies({"query-migrate-capabilities": caps})
    out = run_key("migrate_set_capability", {"capability": "block", "state": True}, script,
                  ctx=ctx)
    assert out == ("warning: block migration is deprecated; use blockdev-mirror with NBD "
                   "instead\nwarning: old compression method is deprecated; use multifd "
                   "compression methods instead\n")


def test_no_warning_when_a_migration_runs() -> None:
    """QEMU refuses before it checks (and warns of) the capabilities."""
    from hmpbridge.testing import generic_error
    script = CannedReplies({"migrate-set-capabilities": generic_error(
        "There's a migration process in progress")})
    out = run_key("migrate_set_capability", {"capability": "zero-blocks", "state": True},
                  script, ctx=ctx_for("10.0"))
    assert out == "Error: There's a migration process in progress\n"


def test_hmp_version_7_2_info_migrate_after_a_migration_has_7_2s_lines() -> None:
    """After a migrate, 11.1.3's figures in 7.2's lines: the same labels as QEMU 7.2 printed
    after its own migrate, less ``skipped`` and ``decompress-error-check`` (11.1 has neither)."""
    newer = fixture("11.1", "migration-pc-i440fx-7.2.json")["states"]["migrated"]
    older = fixture("7.2")["states"]["migrated"]["hmp"]["info migrate"]

    def labels(text: str) -> List[str]:
        return [line.split(":", 1)[0] for line in text.splitlines()]

    got = run_info("info migrate", newer["replies"], ctx_for("11.1", (7, 2)))
    assert labels(got) == [label for label in labels(older)
                           if label not in ("skipped", "decompress-error-check")]


def test_hmp_version_10_0_over_11_1_prints_the_flat_form() -> None:
    """11.1.3's figures in 10.0's lines and parameter list (10.0.2's own text, same labels),
    less the zero-blocks capability that 11.0 removed."""
    def labels(text: str) -> List[str]:
        return [line.split(":", 1)[0] for line in text.splitlines()]

    newer = fixture("11.1")["states"]["migrated"]
    older = fixture("10.0")["states"]["migrated"]["hmp"]
    for line in ("info migrate", "info migrate_parameters", "info migrate_capabilities"):
        got = run_info(line, newer["replies"], ctx_for("11.1", (10, 0)))
        assert labels(got) == [label for label in labels(older[line])
                               if label != "zero-blocks"], line


def test_remaining_line_is_11_1s() -> None:
    """QEMU 11.1 prints query-migrate's own ``remaining`` after the times; older text does not."""
    with open(os.path.join(os.path.dirname(__file__), "..", "golden", "fixtures", "11.1",
                           "migration-presw-info-migrate-pre-switchover.json")) as f:
        reply = json.load(f)["exchanges"][0][1]["return"]
    eleven = run_info("info migrate", {"query-migrate": reply}, ctx_for("11.1"))
    assert "Time (ms): \t\ttotal=339, setup=1, exp_down=9223372036854775807\n" \
        "Remaining: \t\t0 B\nRAM info:\n" in eleven
    older = run_info("info migrate", {"query-migrate": reply}, ctx_for("11.1", (10, 2)))
    assert "Remaining:" not in older and older.startswith("Status: \t\tpre-switchover\n")
