"""The audit log: one line per record, a run of repeats counted, rotation by size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from hmpbridge.audit import AuditLog, record
from hmpbridge.model import Identity

ALICE = Identity("alice", listener="unix:/q.sock", peer="pid=1,uid=1000,gid=1000")
BOB = Identity("bob", listener="unix:/q.sock", peer="pid=2,uid=1001,gid=1001")


def junk(who: Identity, at: float) -> Dict[str, Any]:
    return record(identity=who, received={"qmp": None, "error": "JSON parse error"}, sent=[],
                  outcome="parse-error", latency=0.0, now=lambda: at)


def lines(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_flood_of_one_record_is_two_lines(tmp_path: Path) -> None:
    """The first record, then (when something else happens) one with the count of repeats."""
    log = AuditLog(str(tmp_path / "audit.log"))
    for n in range(10000):
        log.write(junk(ALICE, 1000.0 + n))
    assert len(lines(tmp_path / "audit.log")) == 1  # the repeats are being counted
    log.write(junk(BOB, 20000.0))
    written = lines(tmp_path / "audit.log")
    assert [(r["user"], r.get("repeated")) for r in written] == [
        ("alice", None), ("alice", 9999), ("bob", None)]
    assert written[1]["time"] == record(identity=ALICE, received={}, sent=[], outcome="",
                                        latency=0, now=lambda: 10999.0)["time"]
    log.close()


def test_repeats_are_written_on_close(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.log"))
    for n in range(3):
        log.write(junk(ALICE, float(n)))
    log.close()
    assert [r.get("repeated") for r in lines(tmp_path / "audit.log")] == [None, 2]


def test_interleaved_clients_are_each_written(tmp_path: Path) -> None:
    """Records that differ (another client, another outcome) are written one by one."""
    log = AuditLog(str(tmp_path / "audit.log"))
    for n in range(4):
        log.write(junk(ALICE if n % 2 else BOB, float(n)))
    log.close()
    assert [r["user"] for r in lines(tmp_path / "audit.log")] == ["bob", "alice", "bob", "alice"]


def test_a_flood_cannot_rotate_older_records_away(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(str(path), max_bytes=4096, keep=1)
    log.write(record(identity=BOB, received={"hmp": "stop"}, sent=[{"execute": "stop"}],
                     outcome="ok", latency=0.001, now=lambda: 1.0))
    for n in range(100000):
        log.write(junk(ALICE, 2.0 + n))
    log.close()
    assert not (tmp_path / "audit.log.1").exists()
    assert [r.get("hmp") for r in lines(path)][0] == "stop"
