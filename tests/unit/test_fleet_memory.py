"""What many VMs of one QEMU build share, so that a VM costs little beyond the first.

A ``query-qmp-schema`` reply is about 200 KB of JSON and 1.3 MiB once
decoded; QEMUs of one build send it byte for byte alike (but for the id).
The QMP client recognises a repeated reply by the digest of its bytes and
hands over the :class:`~hmpbridge.qapi_schema.Schema` already made from it,
without decoding it again; the receive buffer that held the reply is let go.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, strategies as st
from twisted.internet.defer import DeferredSemaphore
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge import qmp_protocol
from hmpbridge.errors import QMPCommandError
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.qapi_schema import Schema, SchemaStore
from hmpbridge.qmp_protocol import QMPClientProtocol
from hmpbridge.qmp_wire import OversizedLine, ReplySplitter
from hmpbridge.testing import FakeQEMU, FakeQMPEndpoint, failure_of, qmp_greeting, result_of

#: QEMU 7.2.22's reply, as recorded
RECORDED = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "releases", "7.2",
                        "schema.json")


@pytest.fixture(scope="module")
def recorded_schema() -> List[Dict[str, Any]]:
    with open(RECORDED) as f:
        return list(json.load(f))


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The texts of the QMP messages the client decodes that hold schema entities."""
    texts: List[str] = []
    real = qmp_protocol._decode

    def counting(text: str) -> Any:
        if '"meta-type"' in text:
            texts.append(text)
        return real(text)
    monkeypatch.setattr(qmp_protocol, "_decode", counting)
    return texts


def vm(store: SchemaStore, schema: List[Dict[str, Any]],
       version: Tuple[int, int, int] = (7, 2, 22)) -> QMPMultiplexer:
    """A multiplexer connected to a fake QEMU answering ``schema``."""
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(
        {"query-qmp-schema": lambda args: schema}, version=version))
    mux = QMPMultiplexer(endpoint, Clock(), schemas=store)
    mux.startService()
    endpoint.flush()
    assert mux.connected
    return mux


# -- the schema, decoded once per build ------------------------------------------------------


def test_vms_of_one_build_hold_one_schema_decoded_once(
        recorded_schema: List[Dict[str, Any]], decoded: List[str]) -> None:
    """The second QEMU's reply, byte for byte the first's, is not decoded again: both
    profiles hold the identical Schema, and a QMP client of either gets the same entities."""
    store = SchemaStore()
    first = vm(store, recorded_schema)
    assert len(decoded) == 1
    second = vm(store, recorded_schema)
    third = vm(store, recorded_schema)
    assert len(decoded) == 1
    assert first.profile.schema is second.profile.schema is third.profile.schema
    assert first.profile.schema is not None
    assert first.profile.schema.entities == recorded_schema
    assert "query-status" in second.profile.schema.commands
    replies = [result_of(m.forward({"execute": "query-qmp-schema"})) for m in (first, third)]
    assert replies[0]["return"] is replies[1]["return"]


def test_another_build_has_a_schema_of_its_own(recorded_schema: List[Dict[str, Any]],
                                               decoded: List[str]) -> None:
    """A reply differing in one entity is decoded and held apart; each VM keeps its own."""
    store = SchemaStore()
    other_schema = recorded_schema + [{"name": "x-frob", "meta-type": "command",
                                       "arg-type": "0", "ret-type": "0"}]
    first = vm(store, recorded_schema)
    other = vm(store, other_schema)
    assert len(decoded) == 2
    assert first.profile.schema is not other.profile.schema
    assert other.profile.schema is not None and first.profile.schema is not None
    assert "x-frob" in other.profile.schema.commands
    assert "x-frob" not in first.profile.schema.commands



def holding_schema() -> FakeQEMU:
    qemu = FakeQEMU()
    qemu.hold("query-qmp-schema")
    return qemu


def test_vms_connecting_at_once_take_turns_at_the_schema() -> None:
    """With one turn, a second VM asks for its schema only once the first has its
    reply (until then it could not stream against it); both come up."""
    turns = DeferredSemaphore(1)
    endpoints = [FakeQMPEndpoint(qemu_factory=holding_schema) for _ in range(2)]
    muxes = [QMPMultiplexer(e, Clock(), schemas=SchemaStore(), schema_turns=turns)
             for e in endpoints]
    for mux, endpoint in zip(muxes, endpoints):
        mux.startService()
        endpoint.flush()
    assert endpoints[0].qemu.commands == ["qmp_capabilities", "query-qmp-schema"]
    assert endpoints[1].qemu.commands == ["qmp_capabilities"]
    endpoints[0].qemu.release()
    endpoints[0].flush()
    endpoints[1].flush()
    assert endpoints[1].qemu.commands == ["qmp_capabilities", "query-qmp-schema"]
    endpoints[1].qemu.release()
    endpoints[1].flush()
    assert all(mux.connected for mux in muxes)
    assert turns.tokens == 1


def test_a_vm_stopped_or_lost_gives_its_turn_back() -> None:
    """A VM stopped while waiting for a turn, or lost while its query is out, leaves
    every turn to the others."""
    turns = DeferredSemaphore(1)
    endpoints = [FakeQMPEndpoint(qemu_factory=holding_schema) for _ in range(2)]
    muxes = [QMPMultiplexer(e, Clock(), schemas=SchemaStore(), schema_turns=turns)
             for e in endpoints]
    for mux, endpoint in zip(muxes, endpoints):
        mux.startService()
        endpoint.flush()
    muxes[1].stopService()
    endpoints[1].flush()
    endpoints[0].qemu.drop()
    endpoints[0].flush()
    assert not any(mux.connected for mux in muxes)
    assert turns.tokens == 1 and not turns.waiting

# -- the QMP client: a reply shared by the digest of its bytes ------------------------------


def negotiated() -> Tuple[QMPClientProtocol, StringTransport]:
    client = QMPClientProtocol()
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(json.dumps({"QMP": qmp_greeting(capabilities=())}).encode() + b"\r\n")
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    result_of(client.ready)
    return client, transport


def reply_line(body: str, msg_id: str, space: str = " ") -> bytes:
    """A return reply as QEMU writes it: the value first, the id last."""
    return f'{{"return": {body},{space}"id": "{msg_id}"}}\r\n'.encode()


def test_the_id_does_not_matter_but_every_other_byte_does(decoded: List[str]) -> None:
    """Two replies that differ only by the id share one schema; a reply differing
    elsewhere (even in white space) is decoded."""
    store = SchemaStore()
    body = json.dumps([{"name": "stop", "meta-type": "command"}])
    seen = []
    for msg_id_count, space in ((0, " "), (5, " "), (0, "  ")):
        client, _ = negotiated()
        for _ in range(msg_id_count):
            client.execute({"execute": "query-status"})
        d = client.execute({"execute": "query-qmp-schema"}, shared=store)
        client.dataReceived(reply_line(body, f"hmpbridge#{msg_id_count + 2}", space))
        seen.append(result_of(d))
    assert all(isinstance(schema, Schema) for schema in seen)
    assert seen[0] is seen[1]
    assert seen[2] is not seen[0] and seen[2].commands == seen[0].commands
    assert len(decoded) == 2


def test_a_schema_goes_when_no_connection_holds_it(decoded: List[str]) -> None:
    """The store keeps a schema only while something holds it; the same reply
    later is decoded afresh."""
    store = SchemaStore()
    body = json.dumps([{"name": "stop", "meta-type": "command"}])
    client, _ = negotiated()
    d = client.execute({"execute": "query-qmp-schema"}, shared=store)
    client.dataReceived(reply_line(body, "hmpbridge#2"))
    schema = result_of(d)
    assert len(store) == 1
    del schema, d
    gc.collect()
    assert len(store) == 0
    again = client.execute({"execute": "query-qmp-schema"}, shared=store)
    client.dataReceived(reply_line(body, "hmpbridge#3"))
    held = result_of(again)
    assert isinstance(held, Schema)
    assert len(store) == 1
    assert len(decoded) == 2


def test_an_error_reply_to_a_shared_query_fails_it(decoded: List[str]) -> None:
    """An error is QEMU's error, whatever was shared before."""
    store = SchemaStore()
    client, _ = negotiated()
    d = client.execute({"execute": "query-qmp-schema"}, shared=store)
    client.dataReceived(b'{"id": "hmpbridge#2", "error": {"class": "GenericError", '
                        b'"desc": "no"}}\r\n')
    assert failure_of(d, QMPCommandError).value.desc == "no"
    assert len(store) == 0


def test_a_reply_that_is_no_list_is_no_schema() -> None:
    """A QEMU answering the schema query with something else has no schema (None)."""
    store = SchemaStore()
    client, _ = negotiated()
    d = client.execute({"execute": "query-qmp-schema"}, shared=store)
    client.dataReceived(reply_line('{"meta-type": 1}', "hmpbridge#2"))
    assert result_of(d) is None
    assert len(store) == 0


def test_only_the_shared_command_is_recognised(decoded: List[str]) -> None:
    """Another command's reply, byte for byte a shared one's, is decoded and returned
    as a plain value of its own (never a Schema, never the shared entities)."""
    store = SchemaStore()
    body = json.dumps([{"name": "stop", "meta-type": "command"}])
    client, _ = negotiated()
    d = client.execute({"execute": "query-qmp-schema"}, shared=store)
    client.dataReceived(reply_line(body, "hmpbridge#2"))
    schema = result_of(d)
    plain = client.execute({"execute": "x-query-something"})
    client.dataReceived(reply_line(body, "hmpbridge#3"))
    value = result_of(plain)
    assert value == schema.entities and value is not schema.entities
    assert len(decoded) == 2


entity = st.fixed_dictionaries({
    "name": st.text(min_size=1, max_size=8),
    "meta-type": st.sampled_from(["command", "event", "object", "enum", "builtin"]),
}, optional={"arg-type": st.text(max_size=3), "values": st.lists(st.text(max_size=4),
                                                                 max_size=3)})


@given(replies=st.lists(st.tuples(st.lists(entity, max_size=6), st.integers(2, 2 + 7),
                                  st.sampled_from([" ", "", "  "])), min_size=1, max_size=6),
       chunk=st.integers(1, 64))
def test_a_shared_schema_is_always_what_that_qemu_sent(
        replies: List[Tuple[List[Dict[str, Any]], int, str]], chunk: int) -> None:
    """Whatever replies several QEMUs send, in whatever chunks, each gets a Schema equal to
    its own reply decoded; equal bytes (but for the id) give the identical Schema."""
    store = SchemaStore()
    got: Dict[bytes, Schema] = {}
    for entities, msg_number, space in replies:
        client, _ = negotiated()
        for _ in range(msg_number - 2):
            client.execute({"execute": "query-status"})
        d = client.execute({"execute": "query-qmp-schema"}, shared=store)
        body = json.dumps(entities)
        line = reply_line(body, f"hmpbridge#{msg_number}", space)
        for start in range(0, len(line), chunk):
            client.dataReceived(line[start:start + chunk])
        schema = result_of(d)
        assert isinstance(schema, Schema)
        assert schema.entities == json.loads(body)
        key = (body + space).encode()
        if key in got:
            assert got[key] is schema
        got[key] = schema


# -- buffers let go --------------------------------------------------------------------------


def test_the_receive_buffer_is_let_go_after_a_large_reply() -> None:
    """A 300 KB line fed in 64 KiB chunks leaves no 300 KB buffer behind it."""
    splitter = ReplySplitter(16 * 1024 * 1024)
    line = b"[" + b"1," * 150_000 + b"1]"
    data = line + b"\r\n"
    out: List[Any] = []
    for start in range(0, len(data), 65536):
        out += splitter.feed(data[start:start + 65536])
    assert out == [line + b"\r"]
    assert sys.getsizeof(splitter._buf) < 1024


def test_an_expected_line_streams_through_ungathered() -> None:
    """A line equal to an expected one is compared as it comes, not gathered, and
    comes out as the expected bytes object itself."""
    expected = b'{"return": [' + b'{"name": "x"},' * 20_000 + b'{}], "id": "hmpbridge#2"}\r'
    splitter = ReplySplitter(16 * 1024 * 1024)
    splitter.expect(lambda: [b"something else", expected])
    data = b'{"event": "STOP"}\r\n' + expected + b"\n"
    out: List[Any] = splitter.feed(data[:65536])
    assert out == [b'{"event": "STOP"}\r']
    assert len(splitter._buf) == 0
    for start in range(65536, len(data), 65536):
        out += splitter.feed(data[start:start + 65536])
    assert out[1] is expected


def test_the_second_vms_schema_reply_is_not_gathered(recorded_schema: List[Dict[str, Any]],
                                                     decoded: List[str]) -> None:
    """A VM receiving the reply another VM of its build got holds none of its bytes on
    the way, and is given the same Schema."""
    store = SchemaStore()
    line = reply_line(json.dumps(recorded_schema), "hmpbridge#2")
    schemas = []
    for _ in range(2):
        client, _ = negotiated()
        d = client.execute({"execute": "query-qmp-schema"}, shared=store)
        client.dataReceived(line[:len(line) // 2])
        gathered = len(client._lines._buf)
        client.dataReceived(line[len(line) // 2:])
        schemas.append(result_of(d))
    assert gathered == 0
    assert schemas[0] is schemas[1]
    assert len(decoded) == 1



def test_vms_receiving_side_by_side_let_go_once_one_has_it(
        recorded_schema: List[Dict[str, Any]], decoded: List[str]) -> None:
    """VMs connecting at once receive their replies side by side: once the first has
    its reply, the others let go of what they gathered of theirs and compare the rest."""
    store = SchemaStore()
    line = reply_line(json.dumps(recorded_schema), "hmpbridge#2")
    third = len(line) // 3
    first, _ = negotiated()
    second, _ = negotiated()
    ds = [c.execute({"execute": "query-qmp-schema"}, shared=store) for c in (first, second)]
    first.dataReceived(line[:third])
    second.dataReceived(line[:third])
    assert len(second._lines._buf) == third
    first.dataReceived(line[third:])
    second.dataReceived(line[third:2 * third])
    assert len(second._lines._buf) == 0
    second.dataReceived(line[2 * third:])
    assert result_of(ds[0]) is result_of(ds[1])
    assert len(decoded) == 1

def _same(a: Any, b: Any) -> bool:
    if isinstance(a, OversizedLine) and isinstance(b, OversizedLine):
        return (a.size, a.head, a.tail) == (b.size, b.head, b.tail)
    return bool(a == b)


@given(expected=st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=3),
       lines=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"ab", b"abc"])),
                      max_size=6),
       cuts=st.lists(st.integers(1, 13), min_size=1, max_size=8),
       limit=st.integers(1, 48), when=st.integers(0, 6))
def test_expecting_lines_never_changes_what_comes_out(
        expected: List[bytes], lines: List[bytes], cuts: List[int], limit: int,
        when: int) -> None:
    """Whatever lines are expected (from any point on), whatever comes, cut anywhere: the
    lines out are those of a splitter that expects nothing, oversized ones included."""
    lines = [line.replace(b"\n", b"") for line in lines]
    lines += [e for e in expected]  # expected ones arrive too, and their prefixes
    lines += [e[:len(e) // 2] for e in expected]
    data = b"".join(line + b"\n" for line in lines) + b"tail"
    plain, hoping = ReplySplitter(limit), ReplySplitter(limit)
    got_plain: List[Any] = []
    got: List[Any] = []
    start, index = 0, 0
    while start < len(data):
        if index == when:
            hoping.expect(lambda: expected)
        step = cuts[index % len(cuts)]
        got_plain += plain.feed(data[start:start + step])
        got += hoping.feed(data[start:start + step])
        start += step
        index += 1
    assert len(got) == len(got_plain) == len(lines)
    assert all(_same(a, b) for a, b in zip(got, got_plain))
