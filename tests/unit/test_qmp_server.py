"""The QMP endpoint's protocol, against an in-memory multiplexer."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, List, Mapping, Sequence, Tuple

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport

from hmpbridge.profile import profile_for
from hmpbridge.errors import QMPDisconnected
from hmpbridge.qmp_server import CLIENT_WINDOW, MAX_BACKLOG, QMPServerFactory

GREETING = {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""},
            "capabilities": ["oob"]}


class FakeMux:
    """Holds every forwarded command until the test answers it."""

    def __init__(self) -> None:
        self.greeting = GREETING
        self.profile = profile_for(GREETING)
        self.connected = True
        self.oob = True
        self.forwarded: List[Tuple[dict, Tuple[int, ...], Deferred]] = []
        self.events: List[Callable[[Mapping[str, Any]], None]] = []
        self.states: List[Callable[[bool], None]] = []

    def forward(self, message: Mapping[str, Any], fds: Sequence[int] = ()) -> Deferred:
        d: Deferred = Deferred()
        self.forwarded.append((dict(message), tuple(fds), d))
        return d

    def answer(self, index: int, value: Any = None) -> None:
        message, _, d = self.forwarded[index]
        d.callback({"return": value if value is not None else {}, "id": f"hmpbridge#{index}"})

    def add_event_observer(self, callback):
        self.events.append(callback)
        return lambda: self.events.remove(callback)

    def add_state_observer(self, callback):
        self.states.append(callback)
        return lambda: self.states.remove(callback)


def connect(mux: FakeMux):
    factory = QMPServerFactory(mux)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return factory, protocol, transport


def lines(transport: StringTransport) -> List[Any]:
    out = [json.loads(line) for line in transport.value().split(b"\r\n") if line]
    transport.clear()
    return out


def negotiated(mux: FakeMux):
    factory, protocol, transport = connect(mux)
    protocol.dataReceived(b'{"execute": "qmp_capabilities"}\n')
    assert lines(transport) == [{"QMP": GREETING}, {"return": {}}]
    return factory, protocol, transport


def test_greeting_is_qemus_and_commands_wait_for_negotiation():
    mux = FakeMux()
    _, protocol, transport = connect(mux)
    protocol.dataReceived(b'{"execute": "query-status", "id": 1}\n')
    assert lines(transport) == [{"QMP": GREETING}, {"id": 1, "error": {
        "class": "CommandNotFound",
        "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}]
    assert mux.forwarded == []


def test_client_ids_of_any_type_come_back_and_bridge_ids_stay_inside():
    mux = FakeMux()
    _, protocol, transport = negotiated(mux)
    protocol.dataReceived(b'{"execute": "a", "id": {"x": [1]}}{"execute": "b"}')
    assert [m for m, _, _ in mux.forwarded] == [{"execute": "a"}, {"execute": "b"}]
    mux.answer(0)
    mux.answer(1)
    assert lines(transport) == [{"return": {}, "id": {"x": [1]}}, {"return": {}}]


def test_replies_keep_request_order():
    mux = FakeMux()
    _, protocol, transport = negotiated(mux)
    protocol.dataReceived(b'{"execute": "slow", "id": 1}[1]{"execute": "fast", "id": 2}')
    mux.answer(1)
    assert lines(transport) == []  # the error for [1] and reply 2 wait for reply 1
    mux.answer(0)
    assert [r.get("id") for r in lines(transport)] == [1, None, 2]


def test_window_and_backpressure():
    mux = FakeMux()
    _, protocol, transport = negotiated(mux)
    protocol.dataReceived(b"".join(b'{"execute": "c", "id": %d}' % n
                                   for n in range(MAX_BACKLOG + 10)))
    assert len(mux.forwarded) == CLIENT_WINDOW
    assert transport.producerState == "paused"
    for n in range(MAX_BACKLOG + 10):
        mux.answer(n)
    assert transport.producerState == "producing"
    assert [r["id"] for r in lines(transport)] == list(range(MAX_BACKLOG + 10))


def test_events_reach_negotiated_clients_only():
    mux = FakeMux()
    _, waiting, waiting_transport = connect(mux)
    _, ready, ready_transport = negotiated(mux)
    lines(waiting_transport)
    for observer in list(mux.events):
        observer({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"})
    assert lines(ready_transport) == [{"timestamp": {"seconds": 1, "microseconds": 2},
                                       "event": "STOP"}]
    assert lines(waiting_transport) == []


def test_a_late_reply_after_the_client_left_goes_nowhere():
    mux = FakeMux()
    _, protocol, transport = negotiated(mux)
    protocol.dataReceived(b'{"execute": "c", "id": 1}')
    protocol.connectionLost(None)
    mux.answer(0)
    assert transport.value() == b""
    assert mux.events == []


def test_lost_upstream_drops_clients():
    mux = FakeMux()
    factory, protocol, transport = negotiated(mux)
    protocol.dataReceived(b'{"execute": "c", "id": 1}')
    mux.forwarded[0][2].errback(QMPDisconnected("gone"))
    assert transport.disconnecting
    for observer in mux.states:
        observer(False)


def test_refused_while_qemu_is_away():
    mux = FakeMux()
    mux.connected = False
    _, _, transport = connect(mux)
    assert transport.disconnecting and transport.value() == b""


def test_oob_only_when_negotiated():
    mux = FakeMux()
    _, protocol, transport = connect(mux)
    protocol.dataReceived(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
    lines(transport)
    protocol.dataReceived(b'{"exec-oob": "migrate-pause", "id": "o"}')
    assert mux.forwarded[0][0] == {"exec-oob": "migrate-pause"}


def test_passed_descriptors_go_with_getfd():
    mux = FakeMux()
    _, protocol, transport = negotiated(mux)
    read, write = os.pipe()
    os.close(write)
    protocol.fileDescriptorReceived(read)
    protocol.dataReceived(b'{"execute": "query-status"}{"execute": "getfd", '
                          b'"arguments": {"fdname": "f"}}')
    assert [fds for _, fds, _ in mux.forwarded] == [(), (read,)]
    os.close(read)
