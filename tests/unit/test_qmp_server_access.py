"""Roles and the audit log on the QMP endpoint."""

from __future__ import annotations

import json

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


def test_human_monitor_lines_are_judged_by_the_command_table() -> None:
    """When a read-only client wraps an HMP line, reading lines pass and others are refused."""
    mux = FakeMux()
    _, protocol, transport = connect(mux, role=READ_ONLY)
    protocol.dataReceived(b'{"execute": "human-monitor-command", '
                          b'"arguments": {"command-line": "info status"}}')
    protocol.dataReceived(b'{"execute": "human-monitor-command", '
                          b'"arguments": {"command-line": "system_reset"}}')
    assert [m["arguments"]["command-line"] for m, _, _ in mux.forwarded] == ["info status"]
    mux.answer(0, "VM status: paused\r\n")
    replies = lines(transport)
    assert replies[1]["error"]["desc"].startswith("permission denied: 'system_reset'")


def test_read_only_client_may_ask_hmp_for_help_but_not_add() -> None:
    """When a read-only client wraps an *_add help line it passes; the adding line does not."""
    mux = FakeMux()
    _, protocol, transport = connect(mux, role=READ_ONLY)
    protocol.dataReceived(b'{"execute": "human-monitor-command", '
                          b'"arguments": {"command-line": "device_add help"}}')
    protocol.dataReceived(b'{"execute": "human-monitor-command", '
                          b'"arguments": {"command-line": "device_add e1000,id=nic9"}}')
    assert [m["arguments"]["command-line"] for m, _, _ in mux.forwarded] == ["device_add help"]
    mux.answer(0, "USB devices:\r\n")
    replies = lines(transport)
    assert replies[1]["error"]["desc"].startswith("permission denied: 'device_add'")


def test_every_command_is_audited_with_the_client_address(tmp_path) -> None:
    """When QMP clients send commands, each gets an audit line with peer, command and outcome."""
    path = tmp_path / "audit.log"
    mux = FakeMux()
    _, protocol, _ = connect(mux, role=READ_ONLY, audit=AuditLog(str(path)))
    protocol.dataReceived(b'{"execute": "query-status", "id": 7}{"execute": "quit"}')
    mux.answer(0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["qmp"]["execute"], r["outcome"]) for r in records] == [
        ("quit", "denied"), ("query-status", "ok")]
    assert records[1]["peer"] == "127.0.0.1:40000" and records[1]["listener"] == "tcp:4445"
    assert records[1]["sent"] == [{"execute": "query-status"}]
