"""QMPClientProtocol: negotiation, ids, routing of replies and events, flow control, failures."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Tuple

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from hmpbridge.errors import QMPCommandError, QMPDisconnected, QMPProtocolError
from hmpbridge.qmp_protocol import ID_PREFIX, MAX_IN_FLIGHT, QMPClientProtocol
from hmpbridge.testing import FakeQEMU, connect_qmp, failure_of, qmp_greeting, result_of

#: a greeting offering no capabilities, so negotiation enables none
GREETING_LINE = json.dumps({"QMP": qmp_greeting(capabilities=())}).encode() + b"\r\n"


def echo(args: Dict[str, Any]) -> Any:
    return {"echo": args.get("value")}


def wire(transport: StringTransport) -> List[Dict[str, Any]]:
    """The JSON messages a client wrote to a StringTransport."""
    return [json.loads(line) for line in transport.value().splitlines() if line]


def negotiated_over_string_transport() -> Tuple[QMPClientProtocol, StringTransport]:
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(GREETING_LINE)
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    result_of(client.ready)
    transport.clear()
    return client, transport


# -- negotiation ------------------------------------------------------------------


def test_greeting_is_answered_with_qmp_capabilities_on_the_wire() -> None:
    """After the greeting, the client's first words are qmp_capabilities with its own id."""
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    assert transport.value() == b""
    client.dataReceived(GREETING_LINE)
    assert transport.value() == b'{"execute":"qmp_capabilities","id":"hmpbridge#1"}\n'
    assert not client.ready.called


def test_ready_fires_with_the_greeting_once_negotiated() -> None:
    """ready fires with the greeting's QMP member after QEMU accepts qmp_capabilities."""
    qemu = FakeQEMU(version=(8, 1, 3), capabilities=["oob"])
    client, qemu, _ = connect_qmp(qemu)
    greeting = result_of(client.ready)
    assert greeting["version"]["qemu"] == {"major": 8, "minor": 1, "micro": 3}
    assert greeting["capabilities"] == ["oob"]
    assert client.greeting == greeting
    assert qemu.negotiated
    assert qemu.commands == ["qmp_capabilities"]
    assert qemu.received[0]["id"] == "hmpbridge#1"


def test_commands_issued_before_negotiation_wait_for_it() -> None:
    """A command executed before negotiation is sent after qmp_capabilities succeeds, not before."""
    client, qemu, pump = connect_qmp(flush=False)
    d = client.execute({"execute": "query-status"})
    assert client.queued == 1 and client.in_flight == 0
    pump.flush()
    assert qemu.commands == ["qmp_capabilities", "query-status"]
    assert result_of(d)["status"] == "running"


def test_fake_refuses_commands_before_negotiation() -> None:
    """The fake insists on negotiation first, with QEMU's own error."""
    transport = StringTransport()
    qemu = FakeQEMU()
    qemu.makeConnection(transport)
    transport.clear()
    qemu.dataReceived(b'{"execute": "query-status", "id": 1}\n')
    reply = json.loads(transport.value())
    assert reply == {"error": {"class": "CommandNotFound",
                               "desc": "Expecting capabilities negotiation with "
                                       "'qmp_capabilities'"},
                     "id": 1}


def test_fake_refuses_capabilities_it_did_not_offer() -> None:
    """Enabling a capability the greeting did not offer is an error, as in QEMU."""
    transport = StringTransport()
    qemu = FakeQEMU(capabilities=())
    qemu.makeConnection(transport)
    transport.clear()
    qemu.dataReceived(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n')
    assert json.loads(transport.value()) == {
        "error": {"class": "GenericError", "desc": "Capability 'oob' not available"}}
    assert not qemu.negotiated


def test_refused_negotiation_fails_ready_and_closes() -> None:
    """An error reply to qmp_capabilities fails ready with that error and drops the connection."""
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(GREETING_LINE)
    client.dataReceived(b'{"error": {"class": "GenericError", "desc": "no"}, '
                        b'"id": "hmpbridge#1"}\n')
    err = failure_of(client.ready, QMPCommandError).value
    assert (err.error_class, err.desc, err.command) == ("GenericError", "no", "qmp_capabilities")
    assert transport.disconnecting


def test_first_message_that_is_not_a_greeting_is_a_protocol_error() -> None:
    """A peer whose first message has no QMP member is not QEMU: ready fails, link dropped."""
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(b'{"return": {}}\n')
    assert "greeting" in str(failure_of(client.ready, QMPProtocolError).value)
    assert transport.disconnecting
    assert transport.value() == b""


def test_connection_lost_before_greeting_fails_ready() -> None:
    """ready fails with QMPDisconnected when the peer goes away before greeting."""
    client, qemu, pump = connect_qmp(FakeQEMU(greet=False))
    qemu.drop()
    pump.flush()
    failure_of(client.ready, QMPDisconnected)
    assert client.lost.called


# -- ids and routing --------------------------------------------------------------


def test_ids_are_owned_by_the_bridge_and_sequential() -> None:
    """Every command gets "hmpbridge#N", N counting up from the one after qmp_capabilities."""
    client, qemu, pump = connect_qmp()
    for _ in range(3):
        client.execute({"execute": "query-status"})
    pump.flush()
    assert [m["id"] for m in qemu.received] == [f"{ID_PREFIX}{n}" for n in range(1, 5)]


def test_caller_id_is_replaced_and_caller_dict_untouched() -> None:
    """An id in the caller's message is replaced by the bridge's; the caller's dict is kept."""
    client, qemu, pump = connect_qmp()
    message = {"execute": "query-status", "id": "mine"}
    d = client.execute(message)
    pump.flush()
    assert message == {"execute": "query-status", "id": "mine"}
    assert qemu.received[-1]["id"] == "hmpbridge#2"
    assert result_of(d)["running"] is True


def test_arguments_are_sent_as_given() -> None:
    """Arguments reach QEMU unchanged and the reply's return value is the result."""
    client, qemu, pump = connect_qmp(FakeQEMU({"echo": echo}))
    d = client.execute({"execute": "echo", "arguments": {"value": "é ü"}})
    pump.flush()
    assert qemu.received[-1]["arguments"] == {"value": "é ü"}
    assert result_of(d) == {"echo": "é ü"}


def test_commands_are_encoded_as_utf8_json() -> None:
    """Non-ASCII text goes out as UTF-8, which QEMU's parser reads as it is."""
    client, transport = negotiated_over_string_transport()
    client.execute({"execute": "echo", "arguments": {"value": "é"}})
    assert transport.value() == ('{"execute":"echo","arguments":{"value":"é"},'
                                 '"id":"hmpbridge#2"}\n').encode("utf-8")


def test_replies_out_of_order_reach_their_own_deferreds() -> None:
    """Replies released in reverse order still fire the Deferred of the command they answer."""
    client, qemu, pump = connect_qmp(FakeQEMU({"echo": echo}))
    qemu.hold()
    ds = [client.execute({"execute": "echo", "arguments": {"value": n}}) for n in range(4)]
    pump.flush()
    assert len(qemu.held) == 4 and not any(d.called for d in ds)
    qemu.release(3, 1)
    pump.flush()
    assert [d.called for d in ds] == [False, True, False, True]
    qemu.release()
    pump.flush()
    assert [result_of(d) for d in ds] == [{"echo": n} for n in range(4)]


def test_error_reply_fails_with_qmp_command_error() -> None:
    """An error reply becomes QMPCommandError with its class, desc, command and the reply."""
    def not_found(args: Dict[str, Any]) -> Any:
        raise QMPCommandError("DeviceNotFound", f"Device '{args['device']}' not found")

    client, _, pump = connect_qmp(FakeQEMU({"eject": not_found}))
    d = client.execute({"execute": "eject", "arguments": {"device": "cd9"}})
    pump.flush()
    err = failure_of(d, QMPCommandError).value
    assert err.error_class == "DeviceNotFound"
    assert err.desc == "Device 'cd9' not found"
    assert err.command == "eject"
    assert err.reply is not None and err.reply["id"] == "hmpbridge#2"
    assert client.in_flight == 0


def test_malformed_error_member_still_fails_the_command() -> None:
    """An error reply whose error is not an object fails as GenericError, not with a crash."""
    client, transport = negotiated_over_string_transport()
    d = client.execute({"execute": "stop"})
    client.dataReceived(b'{"error": "boom", "id": "hmpbridge#2"}\n')
    err = failure_of(d, QMPCommandError).value
    assert (err.error_class, err.desc) == ("GenericError", "")
    assert not transport.disconnecting


def test_reply_with_unknown_id_is_dropped() -> None:
    """A reply to an id the client never used is ignored; the real reply still arrives."""
    client, qemu, pump = connect_qmp()
    qemu.hold()
    d = client.execute({"execute": "query-status"})
    pump.flush()
    qemu.send({"return": {"status": "bogus"}, "id": "someone-else#2"})
    qemu.send({"return": {}})
    pump.flush()
    assert not d.called and client.in_flight == 1 and qemu.connected
    qemu.release()
    pump.flush()
    assert result_of(d)["status"] == "running"


def test_second_reply_to_the_same_id_is_dropped() -> None:
    """Once an id is answered, another reply with it does not touch later commands."""
    client, transport = negotiated_over_string_transport()
    first = client.execute({"execute": "a"})
    second = client.execute({"execute": "b"})
    client.dataReceived(b'{"return": 1, "id": "hmpbridge#2"}\n'
                        b'{"return": 2, "id": "hmpbridge#2"}\n')
    assert result_of(first) == 1
    assert not second.called
    client.dataReceived(b'{"return": 3, "id": "hmpbridge#3"}\n')
    assert result_of(second) == 3


# -- events -------------------------------------------------------------------------


def test_events_go_to_the_callback_and_never_resolve_commands() -> None:
    """Events between a command and its reply reach on_event and leave the command pending."""
    events: List[Mapping[str, Any]] = []
    client, qemu, pump = connect_qmp(client=QMPClientProtocol(on_event=events.append))
    qemu.hold()
    d = client.execute({"execute": "query-status"})
    pump.flush()
    qemu.emit_event("STOP")
    qemu.emit_event("RESUME", {"reason": "x"})
    pump.flush()
    assert [e["event"] for e in events] == ["STOP", "RESUME"]
    assert events[1]["data"] == {"reason": "x"}
    assert "timestamp" in events[0]
    assert not d.called and client.in_flight == 1
    qemu.release()
    pump.flush()
    assert result_of(d)["status"] == "running"
    assert len(events) == 2


def test_events_without_a_callback_are_ignored() -> None:
    """A client without on_event keeps working when events arrive."""
    client, qemu, pump = connect_qmp()
    qemu.emit_event("SHUTDOWN")
    d = client.execute({"execute": "query-status"})
    pump.flush()
    assert result_of(d)["running"] is True


def test_failing_event_callback_does_not_drop_the_connection() -> None:
    """An exception in on_event is logged; the connection and later events carry on."""
    seen: List[str] = []

    def observer(event: Mapping[str, Any]) -> None:
        seen.append(event["event"])
        raise RuntimeError("observer bug")

    client, qemu, pump = connect_qmp(client=QMPClientProtocol(on_event=observer))
    qemu.emit_event("STOP")
    qemu.emit_event("RESUME")
    d = client.execute({"execute": "query-status"})
    pump.flush()
    assert seen == ["STOP", "RESUME"]
    assert qemu.connected
    assert result_of(d)["running"] is True


def test_unexpected_messages_and_blank_lines_are_ignored() -> None:
    """A message that is neither reply nor event, and empty lines, do not disturb anything."""
    client, transport = negotiated_over_string_transport()
    d = client.execute({"execute": "stop"})
    client.dataReceived(b'\r\n\n{"something": "else"}\r\n  \n{"return": {}, "id": "hmpbridge#2"}\n')
    assert result_of(d) == {}
    assert not transport.disconnecting


def test_a_message_split_across_reads_is_reassembled() -> None:
    """A reply delivered in pieces is parsed once complete."""
    client, _ = negotiated_over_string_transport()
    d = client.execute({"execute": "stop"})
    for piece in (b'{"ret', b'urn": {"a"', b': 1}, "id": "hmpbridge#2"}', b"\r", b"\n"):
        assert not d.called
        client.dataReceived(piece)
    assert result_of(d) == {"a": 1}


# -- flow control -------------------------------------------------------------------


def test_at_most_eight_commands_in_flight_the_rest_queued_in_order() -> None:
    """20 commands at once: QEMU never has more than 8 outstanding; all complete in order."""
    assert MAX_IN_FLIGHT == 8
    client, qemu, pump = connect_qmp(FakeQEMU({"echo": echo}))
    qemu.hold()
    ds = [client.execute({"execute": "echo", "arguments": {"value": n}}) for n in range(20)]
    pump.flush()
    assert len(qemu.held) == 8
    assert (client.in_flight, client.queued) == (8, 12)
    outstanding = []
    while qemu.held:
        qemu.release(0)
        pump.flush()
        outstanding.append(len(qemu.held))
    assert max(outstanding) == 8
    assert [result_of(d) for d in ds] == [{"echo": n} for n in range(20)]
    assert [m["arguments"]["value"] for m in qemu.received[1:]] == list(range(20))
    assert (client.in_flight, client.queued) == (0, 0)


def test_a_reply_frees_a_slot_for_exactly_one_queued_command() -> None:
    """Each reply lets one more queued command go out."""
    client, qemu, pump = connect_qmp(FakeQEMU({"echo": echo}))
    qemu.hold()
    for n in range(10):
        client.execute({"execute": "echo", "arguments": {"value": n}})
    pump.flush()
    assert len(qemu.received) == 1 + 8
    qemu.release(4)
    pump.flush()
    assert len(qemu.received) == 1 + 9
    assert (client.in_flight, client.queued) == (8, 1)


def test_max_in_flight_is_configurable() -> None:
    """A client built with max_in_flight=1 sends one command at a time."""
    client, qemu, pump = connect_qmp(client=QMPClientProtocol(max_in_flight=1))
    qemu.hold()
    client.execute({"execute": "query-status"})
    client.execute({"execute": "query-version"})
    pump.flush()
    assert qemu.commands == ["qmp_capabilities", "query-status"]
    qemu.release()
    pump.flush()
    assert qemu.commands == ["qmp_capabilities", "query-status", "query-version"]


def test_unencodable_command_fails_alone() -> None:
    """A command that cannot be JSON-encoded fails with QMPProtocolError; others go on."""
    client, qemu, pump = connect_qmp()
    bad = client.execute({"execute": "x", "arguments": {"value": object()}})
    good = client.execute({"execute": "query-status"})
    pump.flush()
    failure_of(bad, QMPProtocolError)
    assert result_of(good)["running"] is True
    assert client.in_flight == 0 and qemu.connected


# -- losing the connection ---------------------------------------------------------


def test_disconnection_fails_every_pending_and_queued_command() -> None:
    """When QEMU goes away, all 8 in flight and all queued commands fail with QMPDisconnected."""
    client, qemu, pump = connect_qmp()
    qemu.hold()
    ds = [client.execute({"execute": "query-status"}) for _ in range(11)]
    pump.flush()
    assert (client.in_flight, client.queued) == (8, 3)
    qemu.drop()
    pump.flush()
    for d in ds:
        err = failure_of(d, QMPDisconnected).value
        assert isinstance(err.reason, ConnectionDone)
    assert (client.in_flight, client.queued) == (0, 0)
    assert isinstance(result_of(client.lost), ConnectionDone)


def test_execute_after_disconnection_fails_at_once() -> None:
    """A command on a dead connection fails immediately, without queueing."""
    client, qemu, pump = connect_qmp()
    qemu.drop()
    pump.flush()
    d = client.execute({"execute": "query-status"})
    failure_of(d, QMPDisconnected)
    assert client.queued == 0


def test_execute_before_connection_fails_at_once() -> None:
    """A protocol not yet connected refuses commands."""
    failure_of(QMPClientProtocol().execute({"execute": "stop"}), QMPDisconnected)


def test_lost_fires_with_the_reason() -> None:
    """lost fires with the exception of the connection's end."""
    client = QMPClientProtocol()
    client.makeConnection(StringTransport())
    client.connectionLost(Failure(ConnectionDone("bye")))
    assert isinstance(result_of(client.lost), ConnectionDone)
    failure_of(client.ready, QMPDisconnected)


# -- protocol errors ----------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b"{not json}\n", b"[1, 2]\n", b'"text"\n', b"\xff\xfe\n"])
def test_garbage_from_qemu_drops_the_connection(garbage: bytes) -> None:
    """Unparseable JSON, a non-object or bad UTF-8 is a protocol error: the link is dropped."""
    client, qemu, pump = connect_qmp()
    qemu.hold()
    d = client.execute({"execute": "query-status"})
    pump.flush()
    qemu.send_raw(garbage)
    pump.flush()
    assert not qemu.connected
    failure_of(d, QMPDisconnected)
    assert client.lost.called


def test_garbage_instead_of_greeting_fails_ready_with_protocol_error() -> None:
    """Bad JSON where the greeting belongs fails ready with QMPProtocolError."""
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert "unparseable" in str(failure_of(client.ready, QMPProtocolError).value)
    assert transport.disconnecting


def test_nothing_after_a_protocol_error_is_processed() -> None:
    """Lines after the bad one in the same read are not acted on."""
    client, transport = negotiated_over_string_transport()
    d = client.execute({"execute": "stop"})
    client.dataReceived(b'{bad\n{"return": {}, "id": "hmpbridge#2"}\n')
    assert transport.disconnecting
    assert not d.called


def test_over_long_greeting_drops_the_connection() -> None:
    """A greeting longer than max_reply is a protocol error."""
    client = QMPClientProtocol(max_reply=64)
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(b'{"QMP": "' + b"x" * 100 + b'"}\n')
    assert transport.disconnecting
    assert "longer than 64" in str(failure_of(client.ready, QMPProtocolError).value)


# -- abort ------------------------------------------------------------------------


def test_abort_before_greeting_fails_ready_with_the_reason() -> None:
    """abort(reason) drops the link at once and ready fails with that very reason."""
    client, qemu, pump = connect_qmp(FakeQEMU(greet=False))
    reason = QMPProtocolError("no greeting")
    client.abort(reason)
    pump.flush()
    assert failure_of(client.ready, QMPProtocolError).value is reason
    assert not qemu.connected


def test_abort_during_negotiation_fails_ready_with_the_reason() -> None:
    """With qmp_capabilities unanswered, ready still fails with the abort reason."""
    qemu = FakeQEMU()
    qemu.hold("qmp_capabilities")
    client, qemu, pump = connect_qmp(qemu)
    assert qemu.commands == ["qmp_capabilities"] and not client.ready.called
    reason = QMPProtocolError("no negotiation")
    client.abort(reason)
    pump.flush()
    assert failure_of(client.ready, QMPProtocolError).value is reason


def test_abort_without_transport_only_remembers_the_reason() -> None:
    """Aborting a protocol that never connected does not raise."""
    client = QMPClientProtocol()
    client.abort(QMPProtocolError("x"))
    assert not client.ready.called


# -- file descriptors ---------------------------------------------------------------


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_descriptor_travels_with_its_command_and_is_closed_after_the_reply() -> None:
    """A descriptor passed with a command reaches QEMU with it; the client closes its copy."""
    client, qemu, pump = connect_qmp(FakeQEMU({"getfd": lambda args: {}}))
    read_end, write_end = os.pipe()
    try:
        d = client.execute({"execute": "getfd", "arguments": {"fdname": "f"}}, (write_end,))
        pump.flush()
        assert result_of(d) == {}
        assert not is_open(write_end)
        assert len(qemu.received_fds) == 1
        os.write(qemu.received_fds[0], b"hello")
        assert os.read(read_end, 5) == b"hello"
    finally:
        os.close(read_end)


def test_descriptor_is_closed_when_the_command_fails() -> None:
    """The client's copy is closed whether QEMU accepts the command or not."""
    def refuse(args: Dict[str, Any]) -> Any:
        raise QMPCommandError("GenericError", "no")

    client, _, pump = connect_qmp(FakeQEMU({"getfd": refuse}))
    read_end, write_end = os.pipe()
    os.close(read_end)
    d = client.execute({"execute": "getfd", "arguments": {"fdname": "f"}}, [write_end])
    pump.flush()
    failure_of(d, QMPCommandError)
    assert not is_open(write_end)


def test_descriptors_need_a_unix_socket() -> None:
    """Over a transport that cannot pass descriptors, the command fails at once and
    the descriptor is closed; nothing is sent."""
    client, qemu, pump = connect_qmp(unix=False)
    read_end, write_end = os.pipe()
    os.close(read_end)
    d = client.execute({"execute": "getfd", "arguments": {"fdname": "f"}}, [write_end])
    pump.flush()
    err = failure_of(d, QMPCommandError).value
    assert "unix socket" in err.desc and err.command == "getfd"
    assert not is_open(write_end)
    assert qemu.commands == ["qmp_capabilities"]


class WriteCounting(StringTransport):
    """A StringTransport that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: List[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)


def test_commands_let_go_by_one_read_leave_in_one_write() -> None:
    """Three replies in one read free three slots: the three queued commands (and one a
    reply's callback sends) leave together, in order, once the read is handled."""
    client = QMPClientProtocol(max_in_flight=3)
    transport = WriteCounting()
    client.makeConnection(transport)
    client.dataReceived(GREETING_LINE)
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    first = [client.execute({"execute": "echo", "arguments": {"value": n}}) for n in range(6)]
    first[0].addCallback(lambda _: client.execute({"execute": "echo", "arguments": {"value": 9}}))
    transport.writes.clear()
    transport.clear()
    client.dataReceived(b"".join(b'{"return": %d, "id": "hmpbridge#%d"}\r\n' % (n, n + 2)
                                 for n in range(3)))
    assert len(transport.writes) == 1
    assert [m["arguments"]["value"] for m in wire(transport)] == [3, 4, 5]
    assert client.queued == 1  # the callback's command waits for a slot, in order
    client.dataReceived(b'{"return": 3, "id": "hmpbridge#5"}\r\n')
    assert [m["arguments"]["value"] for m in wire(transport)][-1] == 9


def test_a_command_sent_outside_a_read_leaves_at_once() -> None:
    client, transport = negotiated_over_string_transport()
    client.execute({"execute": "query-status"})
    assert [m["execute"] for m in wire(transport)] == ["query-status"]


def test_a_command_for_a_busy_qemu_waits_for_the_next_turn() -> None:
    """QEMU busy with another command: a second one is written as Twisted writes, in
    the next turn with whatever else comes meanwhile, not sent on its own at once."""
    from twisted.internet.abstract import FileDescriptor
    from twisted.internet.testing import MemoryReactor

    class Socket(FileDescriptor):
        def __init__(self) -> None:
            super().__init__(MemoryReactor())
            self.connected = 1
            self.sent: List[bytes] = []

        def writeSomeData(self, data: bytes) -> int:
            self.sent.append(bytes(data))
            return len(data)

        def getPeer(self) -> Any:
            return None

    client = QMPClientProtocol()
    sock = Socket()
    client.makeConnection(sock)
    client.dataReceived(GREETING_LINE)
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    sock.sent.clear()
    client.execute({"execute": "query-status"})
    assert len(sock.sent) == 1  # QEMU idle: at once
    client.execute({"execute": "query-name"})
    client.execute({"execute": "query-kvm"})
    assert len(sock.sent) == 1
    sock.doWrite()  # the reactor's next turn: both in one send
    assert len(sock.sent) == 2 and sock.sent[1].count(b"\n") == 2
