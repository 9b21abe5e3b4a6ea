"""The pure helpers of the abuse benchmark (``bench/abuse*.py``): summaries and verdicts."""

from __future__ import annotations

import math

import pytest

from bench.abuse import (ATTACKS, classify_dump, fmt_mib, judge, restart_reason,
                         select_attacks)
from bench.abuse_probe import ProbeResult, classify_answer, latency_summary, split_answers
from bench.abuse_rig import Health

HEALTHY = Health(True, "query-status: prelaunch", True, "info status answered in 1.0 ms",
                 True, "query-status answered in 1.0 ms")


def _probe(**changes: object) -> ProbeResult:
    base = dict(latencies_ns=[1_000_000, 2_000_000, 3_000_000], sent=3, rss_start=50_000_000,
                rss_peak=60_000_000, rss_end=55_000_000, fds_start=16, fds_peak=18, fds_end=16)
    base.update(changes)
    return ProbeResult(**base)  # type: ignore[arg-type]


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([i * 500_000 for i in range(200, 0, -1)])
    assert summary == {"n": 200.0, "p50": 50.0, "p99": 99.0, "max": 100.0}


def test_latency_summary_of_nothing_is_nan() -> None:
    summary = latency_summary([])
    assert summary["n"] == 0.0
    assert all(math.isnan(summary[k]) for k in ("p50", "p99", "max"))


def test_split_answers_keeps_the_incomplete_rest() -> None:
    answers, rest = split_answers(b"VM status: paused\r\n(qemu) Error: x\r\n(qemu) VM st")
    assert answers == [b"VM status: paused\r\n", b"Error: x\r\n"]
    assert rest == b"VM st"


@pytest.mark.parametrize("answer, kind", [
    (b"VM status: paused (prelaunch)\r\n", "ok"),
    (b"hmpbridge: lost the connection to QEMU's monitor; reconnecting\r\n"
     b"VM status: running\r\n", "ok"),
    (b"\r\nhmpbridge: connected to QEMU 7.2.22 again\r\n", "notice"),
    (b"Error: QEMU monitor connection lost\r\n", "failed"),
    (b"", "failed"),
])
def test_classify_answer(answer: bytes, kind: str) -> None:
    assert classify_answer(answer) == kind


def test_classify_dump_by_size() -> None:
    lengths = {"A": 65536, "B": 131072}
    assert classify_dump(66475, lengths) == "A"
    assert classify_dump(132011, lengths) == "B"
    assert classify_dump(0, lengths) is None
    assert classify_dump(65535, lengths) is None


def test_judge_passes_a_quiet_attack() -> None:
    targets = judge("4", _probe(), HEALTHY)
    assert [t.ok for t in targets] == [True] * 5
    assert targets[1].line() == "PASS  attack 4: probe max < 50 ms: max 3.0 ms over 3 answers"


def test_judge_counts_an_unanswered_command_as_a_slow_one() -> None:
    targets = judge("9a", _probe(sent=4, unanswered=1), HEALTHY)
    assert [t.ok for t in targets] == [True, False, False, True, True]
    assert "1 unanswered" in targets[1].detail


def test_judge_misses_memory_qemu_and_a_silent_bridge() -> None:
    sick = Health(False, "QEMU exited with status 1", False, "login failed", True, "ok")
    targets = judge("1", _probe(rss_peak=250_000_000, failed=2), sick)
    assert [t.ok for t in targets] == [False, True, False, False, False]
    assert targets[0].line() == "MISS  attack 1: bridge RSS < 200 MB: peak 238.4 MiB"


def test_judge_misses_everything_probed_when_the_probe_failed() -> None:
    targets = judge("2a", ProbeResult(error="ConnectionRefusedError: refused"), HEALTHY)
    assert [t.ok for t in targets] == [False, False, False, True, True]


def test_probe_result_from_json_ignores_unknown_keys() -> None:
    result = ProbeResult.from_json({"sent": 5, "unanswered": 1, "later": True})
    assert (result.sent, result.unanswered) == (5, 1)


def test_restart_after_a_miss_or_what_was_left_behind() -> None:
    quiet = judge("4", _probe(), HEALTHY)
    assert restart_reason((50_000_000, 16), quiet, _probe()) == ""
    assert restart_reason((50_000_000, 16), quiet, _probe(rss_end=80_000_000)) == \
        "the bridge's RSS stays 28.6 MiB above its start"
    assert restart_reason((50_000_000, 16), quiet, _probe(fds_end=40)) == \
        "the bridge keeps 24 more descriptors than at its start"
    missed = judge("4", _probe(failed=1), HEALTHY)
    assert restart_reason(None, missed, _probe()) == "no probe failure missed"


def test_select_attacks_by_number_or_key() -> None:
    assert [a.key for a in select_attacks("6,9b")] == ["6a", "6b", "9b"]
    assert [a.key for a in select_attacks("0, 8")] == ["0", "8a", "8b"]
    assert [a.key for a in select_attacks(None)] == [a.key for a in ATTACKS]
    with pytest.raises(ValueError, match="7"):
        select_attacks("7")


def test_fmt_mib() -> None:
    assert fmt_mib(1024 * 1024 * 1.25) == "1.2 MiB"
