"""Property-based fuzzing of the framing protocols: HMP sessions, the QMP endpoint, the QMP client.

* HMP sessions (telnet framing, built by ``HMPServerFactory``): lines with
  every line end, telnet commands and escapes anywhere between them, invalid
  UTF-8, NUL bytes and over-long lines, cut into random chunks and
  half-closed at random points, are answered exactly as the same lines sent
  plainly, each once and followed by the prompt; random bytes never raise;
  the session's buffers stay bounded.
* The QMP endpoint (``QMPServerFactory`` on a multiplexer connected to an
  in-memory QEMU): each malformed message gets QEMU's error reply, in
  request order, and another client on the same multiplexer is unaffected.
* The QMP client (``QMPClientProtocol``) against a hostile server: it never
  raises out of ``dataReceived``, routes replies by id, drops unknown ids,
  and fails every pending command cleanly once garbage drops the link.

Everything runs in memory: ``StringTransport``, ``FakeExecutor``,
``FakeQMPEndpoint`` and a ``Clock``; no sockets, no sleeps.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Tuple

from hypothesis import assume, given, strategies as st
from twisted.conch.telnet import TelnetTransport
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from hmpbridge.errors import QMPCommandError, QMPDisconnected, QMPProtocolError
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.qmp_protocol import MAX_IN_FLIGHT, QMPClientProtocol
from hmpbridge.qmp_server import QMPServerFactory, QMPServerProtocol
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.limits import MAX_LINE
from hmpbridge.session import PROMPT, HMPSession
from hmpbridge.telnet import HMPTelnetTransport
from hmpbridge.testing import FakeExecutor, FakeQMPEndpoint, qmp_greeting

IAC, SB, SE = b"\xff", b"\xfa", b"\xf0"
PROMPT_BYTES = PROMPT.encode()

# -- HMP sessions ---------------------------------------------------------------------------------


def open_session() -> Tuple[HMPTelnetTransport, StringTransport]:
    """A session as the listener builds it, on an in-memory transport."""
    factory = HMPServerFactory(CommandRunner(FakeExecutor(), clock=Clock()), telnet_mode="never")
    telnet = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4444))
    tcp = StringTransport()
    telnet.makeConnection(tcp)
    return telnet, tcp


def session_of(telnet: HMPTelnetTransport) -> HMPSession:
    session = telnet.protocol
    assert isinstance(session, HMPSession)
    return session


_NEGOTIATION = re.compile(rb"\xff\xff|\xff[\xfb-\xfe][\s\S]")


def without_negotiation(data: bytes) -> bytes:
    """The bytes a client sees, minus the bridge's answers to telnet option offers."""
    return _NEGOTIATION.sub(lambda m: m.group(0) if m.group(0) == b"\xff\xff" else b"", data)


def feed(telnet: HMPTelnetTransport, data: bytes, cuts: List[int]) -> None:
    """Deliver ``data`` in chunks cut at the given offsets."""
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        telnet.dataReceived(data[start:cut])
        start = cut


#: Lines whose answers differ from one another (no ``/fmt``: its default is global).
SESSION_LINES = [b"info status", b"", b"   ", b"frob", b"stop", b"info version", b"help eject",
                 b"eject", b"info history", b"print 1+2", b"info status extra",
                 "\u00e9t\u00e9 \u00fc".encode(), b"print 'a'", b"cont x"]

#: Line content: known lines, random bytes (invalid UTF-8, NUL, 0xff), now and
#: then an over-long line.
line_content = st.one_of(
    st.sampled_from(SESSION_LINES * 4 + [b"info status " + b"x" * 5000, b"y" * (MAX_LINE + 1),
                                         b"z" * MAX_LINE]),
    st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)

#: Telnet commands a client may send between data bytes: option offers and
#: requests, no-ops, sub-negotiations, and stray bytes after IAC.
telnet_command = st.one_of(
    st.tuples(st.sampled_from([b"\xfb", b"\xfc", b"\xfd", b"\xfe"]),
              st.integers(0, 254)).map(lambda t: IAC + t[0] + bytes([t[1]])),
    st.sampled_from([IAC + b"\xf1", IAC + b"\xf9", IAC + b"\xf3", IAC + b"\xf4", IAC + b"\x01",
                     IAC + b"\x00", IAC + b"A"]),
    # (an empty IAC SB IAC SE is a known failure: see test_bad_input.py)
    st.binary(min_size=1, max_size=20).map(
        lambda b: IAC + SB + (b.replace(IAC, b"") or b"\x18") + IAC + SE),
)

ENDINGS = [b"\r\n", b"\n", b"\r\0", b"\r"]


@st.composite
def framed_lines(draw: Callable) -> Tuple[List[bytes], List[List[bytes]]]:
    """Lines, and per line the byte atoms that carry it over telnet (ending included).

    A content byte 0xff travels as IAC IAC; telnet commands may precede any
    content byte or the line end.  A bare ``\\r`` ending is used only where the
    next byte cannot be read as the second half of a ``\\r\\n``/``\\r\\0`` pair.
    """
    contents = draw(st.lists(line_content, min_size=1, max_size=8))
    lines: List[List[bytes]] = []
    for content in contents:
        atoms = [b"\xff\xff" if byte == 0xFF else bytes([byte]) for byte in content]
        for where, command in draw(st.lists(st.tuples(st.integers(0, 10 ** 6), telnet_command),
                                            max_size=3)):
            atoms.insert(where % (len(atoms) + 1), command)
        atoms.append(draw(st.sampled_from(ENDINGS)))
        lines.append(atoms)
    for index in range(len(lines) - 1):
        if lines[index][-1] == b"\r" and lines[index + 1][0][:1] in (b"\r", b"\n", b"\0"):
            lines[index][-1] = b"\r\n"
    return contents, lines


def plain_stream(contents: List[bytes]) -> bytes:
    """The same lines sent plainly: each ended by ``\\n``, 0xff escaped, no telnet commands."""
    return b"".join(content.replace(IAC, IAC + IAC) + b"\n" for content in contents)


def plain_output(data: bytes, half_close: bool = False) -> Tuple[bytes, bool]:
    telnet, tcp = open_session()
    telnet.dataReceived(data)
    if half_close:
        telnet.readConnectionLost()
    return without_negotiation(tcp.value()), tcp.disconnecting


cut_points = st.lists(st.integers(0, 20000), max_size=12)


@given(framed_lines(), cut_points)
def test_framed_lines_are_answered_as_plain_lines(framed: Tuple[List[bytes], List[List[bytes]]],
                                                  cuts: List[int]) -> None:
    """Any line ends, telnet commands and escapes, cut anywhere: answers equal plain lines'."""
    contents, lines = framed
    data = b"".join(b"".join(atoms) for atoms in lines)
    telnet, tcp = open_session()
    feed(telnet, data, [c % (len(data) + 1) for c in cuts])
    expected, _ = plain_output(plain_stream(contents))
    assert without_negotiation(tcp.value()) == expected


@given(st.lists(st.sampled_from(SESSION_LINES), min_size=1, max_size=10),
       st.lists(st.sampled_from(ENDINGS[:3]), min_size=10, max_size=10), cut_points)
def test_each_line_is_answered_once_then_the_prompt(lines: List[bytes], endings: List[bytes],
                                                    cuts: List[int]) -> None:
    """Every complete line gets exactly its own answer and one prompt, in order."""
    data = b"".join(line + ending for line, ending in zip(lines, endings))
    telnet, tcp = open_session()
    feed(telnet, data, [c % (len(data) + 1) for c in cuts])
    runner = CommandRunner(FakeExecutor(), clock=Clock())
    state = session_of(telnet).state.__class__()
    banner = runner.banner() + PROMPT
    answers = []
    for line in lines:
        text = runner.run(line.decode(), state).result  # FakeExecutor answers at once
        answers.append(text + PROMPT)
    expected = (banner + "".join(answers)).replace("\n", "\r\n").encode()
    assert without_negotiation(tcp.value()) == expected


@given(framed_lines(), st.integers(0, 10 ** 6), cut_points)
def test_half_close_anywhere_answers_what_was_sent_then_closes(
        framed: Tuple[List[bytes], List[List[bytes]]], where: int, cuts: List[int]) -> None:
    """A half-close between any two atoms answers every line sent (and a partial one), then closes."""
    contents, lines = framed
    atoms = [(index, atom) for index, line in enumerate(lines) for atom in line]
    stop = where % (len(atoms) + 1)
    sent = atoms[:stop]
    data = b"".join(atom for _, atom in sent)
    complete = sum(1 for index, atom in sent if atom is lines[index][-1])
    partial = b""
    if complete < len(contents) and sent and sent[-1][1] is not lines[sent[-1][0]][-1]:
        # every data atom carries one content byte (IAC IAC carries 0xff)
        partial = contents[complete][:sum(
            1 for index, atom in sent
            if index == complete and (atom == b"\xff\xff" or not atom.startswith(IAC)))]
    telnet, tcp = open_session()
    feed(telnet, data, [c % (len(data) + 1) for c in cuts])
    telnet.readConnectionLost()
    expected, closed = plain_output(plain_stream(contents[:complete])
                                    + partial.replace(IAC, IAC + IAC), half_close=True)
    assert without_negotiation(tcp.value()) == expected
    assert tcp.disconnecting and closed


@given(st.binary(max_size=3000), cut_points, st.booleans())
def test_random_bytes_never_break_a_session(data: bytes, cuts: List[int], half_close: bool) -> None:
    """Random bytes in random chunks never raise; the session ends on a prompt or closes."""
    telnet, tcp = open_session()
    feed(telnet, data, [c % (len(data) + 1) for c in cuts])
    if half_close:
        telnet.readConnectionLost()
    out = without_negotiation(tcp.value())
    assert out.startswith(b"QEMU ")
    assert out.endswith(PROMPT_BYTES) or tcp.disconnecting
    session = session_of(telnet)
    assert len(session._partial) <= MAX_LINE


@given(st.binary(max_size=400), cut_points)
def test_random_bytes_answer_the_same_whatever_the_chunks(data: bytes, cuts: List[int]) -> None:
    """Random bytes give the same output in one chunk or in many (CR CR is a known exception)."""
    assume(b"\r\r" not in data)
    one, one_tcp = open_session()
    one.dataReceived(data)
    many, many_tcp = open_session()
    feed(many, data, [c % (len(data) + 1) for c in cuts])
    assert without_negotiation(many_tcp.value()) == without_negotiation(one_tcp.value())


@given(st.lists(st.tuples(st.sampled_from(["sb", "line", "options", "data"]),
                          st.integers(1, 9000)), min_size=1, max_size=4),
       st.integers(64, 4096))
def test_buffers_stay_bounded_under_floods(floods: List[Tuple[str, int]], chunk: int) -> None:
    """Sub-negotiation floods without IAC SE, endless lines and option storms keep buffers small."""
    telnet, tcp = open_session()
    session = session_of(telnet)
    limit = getattr(TelnetTransport, "_MAX_SUBNEGOTIATION_LENGTH", None)
    for kind, size in floods:
        if kind == "sb":
            data = IAC + SB + bytes(range(256)).replace(IAC, b"") * (size // 255 + 1)
        elif kind == "line":
            data = b"x" * size
        elif kind == "options":
            data = b"".join(IAC + bytes([0xFB + n % 4, n % 255]) for n in range(size // 3 + 1))
        else:
            data = b"info status\n" * (size // 12 + 1)
        for start in range(0, len(data), chunk):
            telnet.dataReceived(data[start:start + chunk])
            assert len(session._partial) <= MAX_LINE
            assert limit is not None and len(getattr(telnet, "commands", ())) <= limit
            assert len(telnet.options) <= 256
            assert len(session._lines) <= 256


# -- the QMP endpoint -------------------------------------------------------------------------------

NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"


class Bridge:
    """A multiplexer on an in-memory QEMU, and the QMP endpoint in front of it."""

    def __init__(self) -> None:
        self.endpoint = FakeQMPEndpoint()
        self.mux = QMPMultiplexer(self.endpoint, Clock())
        self.mux.startService()
        self.endpoint.flush()
        assert self.mux.connected
        self.factory = QMPServerFactory(self.mux)

    def client(self, negotiate: bool) -> Tuple[QMPServerProtocol, StringTransport]:
        protocol = self.factory.buildProtocol(None)
        tcp = StringTransport()
        protocol.makeConnection(tcp)
        assert json.loads(tcp.value())["QMP"]["version"]["qemu"]["major"] == 7
        tcp.clear()
        if negotiate:
            protocol.dataReceived(b'{"execute": "qmp_capabilities"}\r\n')
            assert replies(tcp) == [{"return": {}}]
        return protocol, tcp


def replies(tcp: StringTransport) -> List[Any]:
    """The JSON messages written so far (then cleared); each line is one object."""
    out = [json.loads(line, object_pairs_hook=_ordered) for line in tcp.value().split(b"\r\n")
           if line]
    tcp.clear()
    return out


def _ordered(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    return dict(pairs)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
not_string = json_values.filter(lambda v: not isinstance(v, str))
not_object = json_values.filter(lambda v: not isinstance(v, dict))
command_name = st.sampled_from(["query-status", "query-version", "stop", "no-such-command"])


def _with_id(message: Dict[str, Any], ident: Any) -> Dict[str, Any]:
    return message if ident is _NO_ID else {**message, "id": ident}


_NO_ID = object()
ids = st.one_of(st.just(_NO_ID), json_values)

#: (message, QEMU's complaint about it): each malformed in exactly one way.
malformed = st.one_of(
    st.tuples(not_object, st.just("QMP input must be a JSON object")),
    st.builds(lambda v, i: (_with_id({"execute": v}, i),
                            "QMP input member 'execute' must be a string"), not_string, ids),
    st.builds(lambda n, v, i: (_with_id({"execute": n, "arguments": v}, i),
                               "QMP input member 'arguments' must be an object"),
              command_name, not_object, ids),
    st.builds(lambda n, k, v, i: (_with_id({"execute": n, k: v}, i),
                                  f"QMP input member '{k}' is unexpected"),
              command_name, st.text(max_size=8).filter(
                  lambda k: k not in ("execute", "exec-oob", "arguments", "id")), json_values,
              ids),
    st.builds(lambda a, i: (_with_id({"arguments": a}, i), "QMP input lacks member 'execute'"),
              st.dictionaries(st.text(max_size=4), json_scalars, max_size=2), ids),
    st.builds(lambda n, i: (_with_id({"exec-oob": n}, i),
                            "QMP input member 'exec-oob' is unexpected"), command_name, ids),
)

separators = st.sampled_from([b" ", b"\n", b"\r\n", b"\t", b"  \n"])


def expected_error(message: Any, desc: str, error_class: str = "GenericError") -> Dict[str, Any]:
    reply: Dict[str, Any] = {}
    if isinstance(message, dict) and "id" in message:
        reply["id"] = message["id"]
    reply["error"] = {"class": error_class, "desc": desc}
    return reply


def _roundtrip(value: Any) -> Any:
    """``value`` as it comes back from JSON (floats and big integers included)."""
    return json.loads(json.dumps(value))


@given(st.lists(st.tuples(malformed, separators), min_size=1, max_size=10), cut_points,
       st.booleans())
def test_each_malformed_message_gets_qemus_error_and_others_are_unaffected(
        messages: List[Tuple[Tuple[Any, str], bytes]], cuts: List[int], negotiate: bool) -> None:
    """Malformed messages in any chunks: one QEMU error reply each, in order; B is untouched."""
    bridge = Bridge()
    a, a_tcp = bridge.client(negotiate)
    b, b_tcp = bridge.client(True)
    data = b"".join(json.dumps(message).encode() + sep for (message, _), sep in messages)
    b.dataReceived(b'{"execute": "query-status", "id": "b1"}')
    feed(a, data, [c % (len(data) + 1) for c in cuts])
    b.dataReceived(b'{"execute": "query-status", "id": "b2"}')
    bridge.endpoint.flush()
    expected = [expected_error(_roundtrip(message), desc) for (message, desc), _ in messages]
    got = replies(a_tcp)
    assert got == expected
    assert [list(r)[0] for r in got] == [list(r)[0] for r in expected]  # the id comes first
    status = {"status": "running", "running": True, "singlestep": False}
    assert replies(b_tcp) == [{"return": status, "id": "b1"}, {"return": status, "id": "b2"}]


@given(st.binary(max_size=2000), cut_points, st.booleans())
def test_random_bytes_to_the_endpoint_never_raise_or_reach_other_clients(
        data: bytes, cuts: List[int], negotiate: bool) -> None:
    """Random bytes: no exception, only QEMU-shaped replies, and another client still served."""
    bridge = Bridge()
    a, a_tcp = bridge.client(negotiate)
    b, b_tcp = bridge.client(True)
    feed(a, data, [c % (len(data) + 1) for c in cuts])
    b.dataReceived(b'{"execute": "query-version", "id": 7}\n')
    bridge.endpoint.flush()
    for reply in replies(a_tcp):
        assert isinstance(reply, dict) and ("error" in reply or "return" in reply)
        if "error" in reply:
            assert set(reply["error"]) == {"class", "desc"}
    assert replies(b_tcp) == [{"return": {"qemu": {"major": 7, "minor": 2, "micro": 22},
                                          "package": ""}, "id": 7}]


@given(st.integers(1, 1100), st.sampled_from(["[", '{"a":']), st.sampled_from(
    ["message", "id", "arguments"]), st.booleans())
def test_deep_nesting_gets_one_reply(depth: int, opener: str, where: str, negotiate: bool) -> None:
    """JSON nested to any depth, as a message, an id or arguments, gets exactly one reply."""
    closer = "]" if opener == "[" else "}"
    deep = opener * depth + "1" + closer * depth
    text = {"message": deep,
            "id": '{"execute": "query-status", "id": ' + deep + "}",
            "arguments": '{"execute": "query-status", "arguments": {"x": ' + deep + "}}"}[where]
    bridge = Bridge()
    a, a_tcp = bridge.client(negotiate)
    a.dataReceived(text.encode() + b"\n")
    bridge.endpoint.flush()
    (reply,) = replies(a_tcp)
    assert "error" in reply or "return" in reply


# -- the QMP client ---------------------------------------------------------------------------------


def client_after_greeting(greeting: bytes) -> Tuple[QMPClientProtocol, StringTransport, List[Any]]:
    events: List[Any] = []
    client = QMPClientProtocol(on_event=events.append)
    tcp = StringTransport()
    client.makeConnection(tcp)
    client.dataReceived(greeting)
    return client, tcp, events


GREETING = json.dumps({"QMP": qmp_greeting(capabilities=())}).encode() + b"\r\n"


def negotiated_client() -> Tuple[QMPClientProtocol, StringTransport, List[Any]]:
    client, tcp, events = client_after_greeting(GREETING)
    client.dataReceived(b'{"return": {}, "id": "hmpbridge#1"}\r\n')
    assert client.ready.called
    tcp.clear()
    return client, tcp, events


def outcome(d: Any) -> Tuple[str, Any]:
    """("pending", None), ("ok", value) or ("failed", exception) for a Deferred."""
    box: List[Any] = []
    d.addBoth(box.append)
    if not box:
        return "pending", None
    result = box[0]
    d.addErrback(lambda f: None)
    if isinstance(result, Failure):
        return "failed", result.value
    return "ok", result


#: Messages from a hostile server: replies to pending or unknown ids, foreign
#: ids, events, messages of no known kind, and garbage lines.
server_messages = st.one_of(
    st.builds(lambda k, v: ("return", k, v), st.integers(0, 12), json_values),
    st.builds(lambda k, c, d: ("error", k, {"class": c, "desc": d}), st.integers(0, 12),
              st.text(max_size=10), st.text(max_size=10)),
    st.builds(lambda k, e: ("error", k, e), st.integers(0, 12), not_object),
    st.builds(lambda i: ("foreign", i, None), json_values),
    st.builds(lambda n: ("event", n, None), st.text(max_size=10)),
    st.builds(lambda m: ("other", m, None), st.dictionaries(
        st.text(max_size=5).filter(lambda k: k not in ("return", "error", "event")),
        json_values, max_size=3)),
    st.builds(lambda g: ("garbage", g, None), st.sampled_from(
        [b"{not json}", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"return": ', b"null", b"42",
         b'{"return": {}, "id": "hmpbridge#2"', b"}}}"])),
)


@given(st.integers(0, 12), st.lists(st.tuples(server_messages, st.sampled_from(
    [b"\n", b"\r\n"])), max_size=25), cut_points)
def test_client_routes_replies_and_fails_pending_commands_cleanly_on_garbage(
        commands: int, messages: List[Tuple[Tuple[str, Any, Any], bytes]],
        cuts: List[int]) -> None:
    """Replies reach their own command once, unknown ids and odd messages are dropped,
    events reach the callback, and garbage drops the link: pending commands then fail
    with QMPDisconnected; dataReceived never raises."""
    client, tcp, events = negotiated_client()
    ds = [client.execute({"execute": f"c{n}"}) for n in range(commands)]
    expected: List[Tuple[str, Any]] = [("pending", None)] * commands
    expected_events: List[str] = []
    lines = []
    broken = False
    answered = 0
    for (kind, key, value), end in messages:
        if kind in ("return", "error"):
            # command k has id hmpbridge#(k+2); it is sent once fewer than
            # MAX_IN_FLIGHT commands are waiting at QEMU
            sent = min(commands, answered + MAX_IN_FLIGHT)
            body: Dict[str, Any] = {kind: value, "id": f"hmpbridge#{key + 2}"}
            if not broken and key < sent and expected[key][0] == "pending":
                expected[key] = (("ok", _roundtrip(value)) if kind == "return" else
                                 ("failed", QMPCommandError))
                answered += 1
        elif kind == "foreign":
            body = {"return": {}, "id": key}
        elif kind == "event":
            body = {"event": key, "timestamp": {"seconds": 1, "microseconds": 2}}
            if not broken:
                expected_events.append(key)
        elif kind == "other":
            body = key
        lines.append((json.dumps(body).encode() if kind != "garbage" else key) + end)
        if kind == "garbage":
            broken = True
    data = b"".join(lines)
    feed(client, data, [c % (len(data) + 1) for c in cuts])
    assert tcp.disconnecting == broken
    assert [e["event"] for e in events] == expected_events
    if broken:
        client.connectionLost(Failure(ConnectionDone()))
        expected = [("failed", QMPDisconnected) if e[0] == "pending" else e for e in expected]
    for d, (state, value) in zip(ds, expected):
        got_state, got = outcome(d)
        assert got_state == state
        if state == "ok":
            assert got == value
        elif state == "failed":
            assert isinstance(got, value)


greeting_members = st.dictionaries(
    st.sampled_from(["version", "capabilities", "package", "x"]),
    st.one_of(json_values, st.lists(st.sampled_from(["oob", "x"]), max_size=2)), max_size=4)


@given(st.one_of(
    st.builds(lambda m: {"QMP": {k: v for k, v in m.items()
                                 if k != "capabilities" or not isinstance(v, (int, float))
                                 or not v}}, greeting_members),
    st.builds(lambda v: {"QMP": v}, json_values),
    json_values), cut_points)
def test_bad_greetings_fail_ready_or_negotiate_never_raise(greeting: Any, cuts: List[int]) -> None:
    """Any first message: a QMP object greeting starts negotiation, anything else fails ready."""
    data = json.dumps(greeting).encode() + b"\r\n"
    client = QMPClientProtocol()
    tcp = StringTransport()
    client.makeConnection(tcp)
    feed(client, data, [c % (len(data) + 1) for c in cuts])
    if isinstance(greeting, dict) and isinstance(greeting.get("QMP"), dict):
        assert json.loads(tcp.value())["execute"] == "qmp_capabilities"
        assert not client.ready.called
    else:
        state, error = outcome(client.ready)
        assert state == "failed" and isinstance(error, QMPProtocolError)
        assert tcp.disconnecting


@given(st.integers(1, 1000), st.integers(1, 256))
def test_event_floods_all_reach_the_callback(count: int, chunk: int) -> None:
    """Thousands of events in any chunking each reach the callback once; commands still work."""
    client, tcp, events = negotiated_client()
    d = client.execute({"execute": "query-status"})
    data = b"".join(b'{"event": "E%d", "timestamp": {"seconds": 1, "microseconds": 0}}\r\n' % n
                    for n in range(count)) + b'{"return": 5, "id": "hmpbridge#2"}\r\n'
    feed(client, data, list(range(chunk, len(data), chunk)))
    assert [e["event"] for e in events] == [f"E{n}" for n in range(count)]
    assert outcome(d) == ("ok", 5)
