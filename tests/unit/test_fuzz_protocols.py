"""Property-based fuzzing of the framing protocols: HMP sessions, the QMP endpoint, the QMP client.

* HMP sessions (telnet and plain channels, built by ``HMPServerFactory``):
  lines with every line end, telnet commands and escapes anywhere between
  them, invalid UTF-8, NUL bytes and over-long lines get on a telnet listener
  the bytes a plain listener gives for the data QEMU's telnet rule keeps of
  them; cut into random chunks, the session is handed that data; a half-close
  answers every line, then closes; random bytes never raise; the session's
  queues stay bounded and nothing answers a telnet command.
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
from typing import Any, Callable, Dict, List, Tuple

from hypothesis import given, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from hmpbridge.channel import ChardevChannel
from hmpbridge.telnet import TELNET_INIT, strip_telnet_bytewise
from hmpbridge.errors import QMPCommandError, QMPDisconnected, QMPProtocolError
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.qmp_protocol import MAX_IN_FLIGHT, QMPClientProtocol
from hmpbridge.qmp_server import QMPServerFactory, QMPServerProtocol
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.session import PROMPT, HMPMonitor
from hmpbridge.testing import FakeExecutor, FakeQMPEndpoint, qmp_greeting

IAC, SB, SE = b"\xff", b"\xfa", b"\xf0"
PROMPT_BYTES = PROMPT.encode()

# -- HMP sessions ---------------------------------------------------------------------------------


def open_session(chardev: str = "plain") -> Tuple[ChardevChannel, StringTransport]:
    """A session as the listener builds it, on an in-memory transport; its banner read."""
    factory = HMPServerFactory(CommandRunner(FakeExecutor(), clock=Clock()), chardev=chardev,
                               clock=Clock())
    channel = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4444))
    tcp = StringTransport()
    channel.makeConnection(tcp)
    return channel, tcp


def session_of(channel: ChardevChannel) -> HMPMonitor:
    (monitor,) = channel.factory.sessions
    assert isinstance(monitor, HMPMonitor)
    return monitor


def feed_channel(channel: ChardevChannel, data: bytes, cuts: List[int]) -> None:
    """Deliver ``data`` in chunks cut at the given offsets, each read handed on in full."""
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        channel.dataReceived(data[start:cut])
        channel.factory.clock.advance(0)
        start = cut


def feed(protocol: Any, data: bytes, cuts: List[int]) -> None:
    """Deliver ``data`` to any protocol in chunks cut at the given offsets."""
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        protocol.dataReceived(data[start:cut])
        start = cut


#: Lines whose answers differ from one another (no ``/fmt``: its default is global).
SESSION_LINES = [b"info status", b"", b"   ", b"frob", b"stop", b"info version", b"help eject",
                 b"eject", b"info history", b"print 1+2", b"info status extra",
                 "\u00e9t\u00e9 \u00fc".encode(), b"print 'a'", b"cont x"]

#: Line content: known lines, random bytes (invalid UTF-8, NUL, 0xff).  (A long
#: line costs its length squared in echo, as in QEMU: see test_bad_input.py.)
line_content = st.one_of(
    st.sampled_from(SESSION_LINES),
    st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)

#: Telnet commands a client may send between data bytes: option offers and
#: requests, no-ops, BREAK, sub-negotiations, and stray bytes after IAC.
telnet_command = st.one_of(
    st.tuples(st.sampled_from([b"\xfb", b"\xfc", b"\xfd", b"\xfe"]),
              st.integers(0, 255)).map(lambda t: IAC + t[0] + bytes([t[1]])),
    st.sampled_from([IAC + b"\xf1x", IAC + b"\xf9y", IAC + b"\xf3", IAC + b"\xf4z",
                     IAC + b"\x01\x02", IAC + b"A" + IAC]),
)

ENDINGS = [b"\r\n", b"\n", b"\r\0", b"\r"]


@st.composite
def telnet_stream(draw: Callable) -> bytes:
    """Lines as a telnet client sends them: 0xff as IAC IAC, telnet commands anywhere."""
    contents = draw(st.lists(line_content, min_size=1, max_size=6))
    out = []
    for content in contents:
        atoms = [b"\xff\xff" if byte == 0xFF else bytes([byte]) for byte in content]
        for where, command in draw(st.lists(st.tuples(st.integers(0, 10 ** 6), telnet_command),
                                            max_size=3)):
            atoms.insert(where % (len(atoms) + 1), command)
        atoms.append(draw(st.sampled_from(ENDINGS)))
        out.append(b"".join(atoms))
    return b"".join(out)


cut_points = st.lists(st.integers(0, 20000), max_size=12)


@given(telnet_stream())
def test_a_telnet_listener_answers_as_a_plain_one_given_qemus_data(data: bytes) -> None:
    """A telnet client's stream (commands, escapes, every line end) gets, after the negotiation,
    the very bytes a plain client gets for the data QEMU's telnet rule keeps of it."""
    telnet, telnet_tcp = open_session("telnet")
    feed_channel(telnet, data, [])
    plain, plain_tcp = open_session("plain")
    feed_channel(plain, strip_telnet_bytewise(data)[0], [])
    assert telnet_tcp.value() == TELNET_INIT + plain_tcp.value()


@given(telnet_stream(), cut_points)
def test_any_cut_hands_the_session_qemus_data(data: bytes, cuts: List[int]) -> None:
    """However the stream is cut into reads, the session is handed QEMU's data, in order."""
    channel, tcp = open_session("telnet")
    handed: List[bytes] = []
    session = session_of(channel)
    received = session.received
    session.received = lambda chunk: (handed.append(chunk), received(chunk))[1]
    feed_channel(channel, data, [c % (len(data) + 1) for c in cuts])
    assert b"".join(handed) == strip_telnet_bytewise(data)[0]


@given(st.lists(st.sampled_from(SESSION_LINES), min_size=1, max_size=6), st.booleans())
def test_half_close_answers_every_line_then_closes(lines: List[bytes], telnet: bool) -> None:
    """A client that sends its lines and half-closes gets every answer, then the connection closes."""
    channel, tcp = open_session("telnet" if telnet else "plain")
    data = b"".join(line + b"\r" for line in lines)
    feed_channel(channel, data, [])
    channel.readConnectionLost()
    channel.factory.clock.advance(0)
    runner = CommandRunner(FakeExecutor(), clock=Clock())
    state = session_of(channel).state.__class__()
    out = tcp.value()
    at = 0
    for line in lines:
        text = runner.run(line.decode(), state).result  # FakeExecutor answers at once
        answer = (text + PROMPT).replace("\n", "\r\n").encode()
        found = out.find(answer, at)
        assert found >= 0, (line, answer, out[at:])
        at = found + len(answer)
    assert tcp.disconnecting


@given(st.binary(max_size=3000), cut_points, st.booleans(), st.booleans())
def test_random_bytes_never_break_a_session(data: bytes, cuts: List[int], half_close: bool,
                                            telnet: bool) -> None:
    """Random bytes in random chunks never raise; the banner comes first."""
    channel, tcp = open_session("telnet" if telnet else "plain")
    feed_channel(channel, data, [c % (len(data) + 1) for c in cuts])
    if half_close:
        channel.readConnectionLost()
        channel.factory.clock.advance(0)
    out = tcp.value()
    assert out.startswith((TELNET_INIT if telnet else b"") + b"QEMU ")


@given(st.lists(st.tuples(st.sampled_from(["sb", "line", "options", "data"]),
                          st.integers(1, 9000)), min_size=1, max_size=4),
       st.integers(64, 4096))
def test_buffers_stay_bounded_under_floods(floods: List[Tuple[str, int]], chunk: int) -> None:
    """Sub-negotiation floods without IAC SE, endless lines and option storms: no telnet answer,
    and reading pauses while the session has keys it has not read (its queue is bounded)."""
    channel, tcp = open_session("telnet")
    session = session_of(channel)
    for kind, size in floods:
        if kind == "sb":
            data = IAC + SB + bytes(range(256)).replace(IAC, b"") * (size // 1024 + 1)
        elif kind == "line":
            data = b"x" * (size // 16)  # each key echoes the line again (QEMU's redraw)
        elif kind == "options":
            data = b"".join(IAC + bytes([0xFB + n % 4, n % 255]) for n in range(size // 3 + 1))
        else:
            data = b"info status\n" * (size // 12 + 1)
        for start in range(0, len(data), chunk):
            channel.dataReceived(data[start:start + chunk])
            channel.factory.clock.advance(0)
            assert IAC not in tcp.value()[len(TELNET_INIT):]


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
