"""Roles and the audit log on the QMP endpoint."""

from __future__ import annotations

import json

import pytest

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.access import READ_ONLY
from hmpbridge.audit import AuditLog
from hmpbridge.qmp_server import QMPServerFactory
from tests.unit.test_qmp_server import FakeMux, lines


def connect(mux: FakeMux, **kw):
    factory = QMPServerFactory(mux, "tcp:4445", clock=Clock(), **kw)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b'{"execute": "qmp_capabilities"}')
    lines(transport)
    return factory, protocol, transport


def test_read_only_clients_may_query() -> None:
    """When a read-only client sends query-status, it is forwarded."""
    mux = FakeMux()
    _, protocol, transport = connect(mux, role=READ_ONLY)
    protocol.dataReceived(b'{"execute": "query-status", "id": 1}')
    mux.answer(0, {"status": "paused"})
    assert lines(transport) == [{"return": {"status": "paused"}, "id": 1}]


def test_read_only_clients_may_not_change_state() -> None:
    """When a read-only client sends stop, QEMU never sees it and the client gets an error."""
    mux = FakeMux()
    _, protocol, transport = connect(mux, role=READ_ONLY)
    protocol.dataReceived(b'{"execute": "stop", "id": "a"}')
    assert mux.forwarded == []
    assert lines(transport) == [{"error": {
        "class": "GenericError",
        "desc": "permission denied: 'stop' changes VM state and this client is read-only"},
        "id": "a"}]


@pytest.mark.parametrize("allowed, answer, refused, key", [
    ("info status", "VM status: paused\r\n", "system_reset", "system_reset"),
    ("device_add help", "USB devices:\r\n", "device_add e1000,id=nic9", "device_add"),
], ids=["reading", "asking-for-help"])
def test_human_monitor_lines_are_judged_by_the_command_table(allowed: str, answer: str,
                                                             refused: str, key: str) -> None:
    """When a read-only client wraps an HMP line, reading (or help) lines pass, others not."""
    mux = FakeMux()
    _, protocol, transport = connect(mux, role=READ_ONLY)
    for line in (allowed, refused):
        protocol.dataReceived(json.dumps({"execute": "human-monitor-command",
                                          "arguments": {"command-line": line}}).encode())
    assert [m["arguments"]["command-line"] for m, _, _ in mux.forwarded] == [allowed]
    mux.answer(0, answer)
    replies = lines(transport)
    assert replies[1]["error"]["desc"].startswith(f"permission denied: '{key}'")


def test_every_command_is_audited_with_the_client_address(tmp_path) -> None:
    """When QMP clients send commands, each gets an audit line with peer, command and outcome."""
    path = tmp_path / "audit.log"
    mux = FakeMux()
    _, protocol, _ = connect(mux, role=READ_ONLY, audit=AuditLog(str(path)))
    protocol.dataReceived(b'{"execute": "query-status", "id": 7}{"execute": "quit"}')
    mux.answer(0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["qmp"]["execute"], r["outcome"]) for r in records] == [
        ("qmp_capabilities", "ok"), ("quit", "denied"), ("query-status", "ok")]
    assert records[2]["peer"] == "127.0.0.1:40000" and records[2]["listener"] == "tcp:4445"
    assert records[2]["sent"] == [{"execute": "query-status"}]
