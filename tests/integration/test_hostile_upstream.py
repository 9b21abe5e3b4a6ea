"""The bridge's own QMP connection to a real QEMU 7.2 under hostile clients.

* Text QEMU's JSON parser refuses (a session's undecodable bytes, a QMP
  client's lone surrogate escapes, numbers beyond the double range) never
  hangs the bridge: QMP clients get QEMU's own answer, HMP sessions a one-line
  error, and the other clients carry on.
* Descriptors passed by several clients at once each reach their own command.
* A reply longer than the bridge keeps fails that command only.

VM A is served by the bridge (HMP on TCP and on a unix socket, QMP clients on
a unix socket); a third QMP socket on A is the oracle for QEMU's own answers.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.integration.conftest import PROMPT, Bridge, HMPClient, Twin

SYNC = b'{"execute":"query-status","id":"sync"}\n'


@pytest.fixture(scope="module")
def rig() -> Iterator[Tuple[Twin, Bridge, str, str, str]]:
    a = Twin(extra=["-qmp", "unix:{dir}/oracle.sock,server=on,wait=off",
                    "-qmp", "unix:{dir}/small.sock,server=on,wait=off"])
    mux = os.path.join(a.dir, "mux.sock")
    hmp = os.path.join(a.dir, "hmp.sock")
    bridge = Bridge(f"unix:path={a.bridge_socket}", "--qmp-listen", f"unix:{mux}",
                    "--listen", f"unix:{hmp}")
    try:
        yield a, bridge, mux, hmp, os.path.join(a.dir, "oracle.sock")
    finally:
        bridge.close()
        a.close()


class RawQMP:
    """A negotiated QMP connection that sends bytes as they are."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(15)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.sock.sendall(b'{"execute":"qmp_capabilities"}\n')
        assert self.file.readline() == b'{"return": {}}\r\n'

    def replies_until_sync(self, data: bytes) -> List[bytes]:
        """Send ``data`` then a marked command; every reply before the mark's (no events)."""
        self.sock.sendall(data + b"\n" + SYNC)
        out = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError(f"closed after {out!r}")
            if b'"sync"' in line:
                return out
            if not line.startswith(b'{"timestamp"') and b'"event"' not in line:
                out.append(line)

    def command(self, data: bytes, fds: Tuple[int, ...] = ()) -> bytes:
        """Send ``data`` (with ``fds``); the next reply that is not an event."""
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            if b'"event"' not in line:
                return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def qom_get(prop: bytes, extra: bytes = b"") -> bytes:
    return (b'{"execute":"qom-get","arguments":{"path":"/machine","property":"' + prop + b'"'
            + extra + b'}}')


#: Messages QEMU's JSON parser refuses, or accepts only as written.
HOSTILE = [
    qom_get(b"\\udc80"),                       # a lone low surrogate
    qom_get(b"\\ud800"),                       # a lone high surrogate
    qom_get(b"\\udc00\\ud800"),                # a pair reversed
    qom_get(b"\\ud800\\u0041"),                # a high surrogate, then no low one
    qom_get(b"\\udbff\\udfff"),                # a pair making a noncharacter
    qom_get(b"\\uFFFF"),
    qom_get(b"\\uFDD0"),
    qom_get(b"\\u12"),                         # too few digits
    qom_get(b"\\x"),                           # no such escape
    qom_get(b"\\'"),
    qom_get(b"a\\u0000b"),                     # accepted
    qom_get(b"\\ud83d\\ude00"),                # a pair: accepted
    qom_get(b"\xc3\x28"),                      # invalid UTF-8 in a string
    qom_get(b"\xc3"),
    qom_get(b"\xc0\x80"),                      # overlong NUL: accepted as U+0000
    qom_get(b"\xc1\xbf"),                      # overlong
    qom_get(b"\xe0\x80\xaf"),
    qom_get(b"\xed\xa0\x80"),                  # an encoded surrogate
    qom_get(b"\xef\xbf\xbf"),                  # an encoded noncharacter
    qom_get(b"\xf4\x90\x80\x80"),              # beyond U+10FFFF
    qom_get(b"\xc3\xa9"),                      # valid
    qom_get(b"\xf0\x9f\x98\x80"),
    qom_get(b"\xfe"),                          # never in UTF-8: the lexer refuses it
    qom_get(b"x", b', "v": 1e400'),            # a number beyond the double range: accepted
    qom_get(b"x", b', "v": -1e400'),
    qom_get(b"x", b', "v": 1e-400'),
    qom_get(b"x", b', "v": 123456789012345678901234567890'),
    qom_get(b"x", b', "v": NaN'),
    qom_get(b"x", b', "v": Infinity'),
    qom_get(b"x", b', "v": -Infinity'),
    qom_get(b"x", b', "v": nan'),
    qom_get(b"x", b', "v": 1.'),
    qom_get(b"x", b', "v": +1'),
    qom_get(b"x", b', "v": 01'),
    b'{"execute":"qom-get","arguments":{"path":"/machine","property":"x"}}\xc3\x28',
    b'\xc3\x28{"execute":"query-name"}',
    b'{"execute":"query-name", "y": "\xc3",, "\\udc80": 1}',
    b'{"execute":"query-name", "\\udc80": 1, "y": "\xc3"}',
    b'{"execute":"query-name", "x": "b\x01c"}',
    b'{"execute":"query-name", "id": 1e400}',  # ids come back as QEMU prints numbers
    b'{"execute":"query-name", "id": -1e400}',
    b'{"execute":"query-name", "id": 0.1}',
    b'{"execute":"query-name", "id": 1.0}',
    b'{"execute":"query-name", "id": 18446744073709551616}',
    b'{"execute":"query-name", "id": -9223372036854775809}',
    b'{"execute":"query-name", "id": 1e-400}',
    b'{"execute":"query-name", "id": 0e5}',
    b'{"execute":"query-name", "id": -0}',
    b'{"execute":"query-name", "id" 1}',      # structure: QEMU's parser's own words
    b'{1: 2}',
    b'{"execute":"query-name" "id":2}',
    b'{"execute":"query-name", "id": [1 2]}',
    b'{"execute":"query-name", "id":}',
    b'{"execute":"query-name", "id": [1,]}',
    b'{"execute":"query-name",}',
    b'{,}',
    b'{"execute":"query-name", "id"}',
    b'{"execute" "\xc3"}',
    b'[[}}',                                   # braces and brackets are counted apart
    b'[}',
    b'[{]}',
    b'{[}]',
    b'{[1]:2}',
    b'{"execute":"query-name","id":[1}]',
    b'{"execute":"query-name","id":1]',
]


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_qmp_client_gets_qemus_own_answer_to_hostile_text(rig, data: bytes) -> None:
    """What a QMP client of the bridge gets for each message is what QEMU answers for the
    same bytes on its own socket; and the bridge keeps answering."""
    _, _, mux, _, oracle = rig
    direct, bridged = RawQMP(oracle), RawQMP(mux)
    try:
        assert bridged.replies_until_sync(data) == direct.replies_until_sync(data)
    finally:
        direct.close()
        bridged.close()


def test_hostile_text_from_many_clients_never_hangs_the_bridge(rig) -> None:
    """The hang that was: 8 commands QEMU could not parse held QEMU's 8 slots for good.
    Eight HMP sessions send undecodable bytes and eight QMP clients lone surrogates and
    1e400; every one is answered, and then an ordinary line still is."""
    a, bridge, mux, _, _ = rig
    sessions = [bridge.session() for _ in range(8)]
    clients = [RawQMP(mux) for _ in range(8)]
    try:
        for session in sessions:
            session.sock.sendall(b"qom-get /machine \xc3\x28\n")
        for n, client in enumerate(clients):
            client.sock.sendall(qom_get(b"\\udc80" if n % 2 else b"x", b', "v": 1e400')
                                + b"\n")
        for session in sessions:
            data = session.read_until_prompt()
            assert data.endswith(b"\r\nError: cannot send qom-get to QEMU: its arguments hold "
                                 b"text that is not valid UTF-8 (byte \\xc3)\r\n" + PROMPT), data
        for client in clients:
            assert b'"error"' in client.file.readline()
        last = bridge.session()
        assert last.cmd("info status") == a.hmp("info status")
        last.close()
    finally:
        for session in sessions:
            session.close()
        for client in clients:
            client.close()


ROUNDS = 100


def test_descriptors_of_concurrent_clients_never_cross(rig, tmp_path) -> None:
    """The crossing that was: two clients' getfd at once gave one client's name the other's
    descriptor, so one client's dump landed in the other's file.  Two QMP clients (each
    pipelining getfd and dump-guest-memory) and two HMP sessions (getfd, then a dump
    through a QMP connection of their own) run at once; every file holds its own dump."""
    _, _, mux, hmp, _ = rig
    errors: List[BaseException] = []
    sizes: Dict[Tuple[str, int], int] = {}
    lengths = {"q0": 4096, "q1": 8192, "h0": 12288, "h1": 16384}

    def dump(client: RawQMP, name: str) -> bytes:
        return (b'{"execute":"dump-guest-memory","arguments":{"paging":false,'
                b'"protocol":"fd:' + name.encode() + b'","begin":0,"length":'
                + str(lengths[name]).encode() + b'}}\n')

    def qmp_worker(name: str) -> None:
        client = RawQMP(mux)
        try:
            for n in range(ROUNDS):
                path = tmp_path / f"{name}-{n}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    socket.send_fds(client.sock, [
                        b'{"execute":"getfd","arguments":{"fdname":"' + name.encode()
                        + b'"}}\n' + dump(client, name)], [fd])
                finally:
                    os.close(fd)
                replies = [client.command(b"") for _ in range(2)]
                assert replies == [b'{"return": {}}\r\n'] * 2, (name, n, replies)
                sizes[name, n] = os.path.getsize(path)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            client.close()

    def hmp_worker(name: str) -> None:
        session = HMPClient(hmp, timeout=30)
        checker = RawQMP(mux)
        try:
            for n in range(ROUNDS):
                path = tmp_path / f"{name}-{n}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    socket.send_fds(session.sock, [f"getfd {name}\n".encode()], [fd])
                finally:
                    os.close(fd)
                assert session.read_answer(f"getfd {name}") == "", (name, n)
                reply = checker.command(dump(checker, name))
                assert reply == b'{"return": {}}\r\n', (name, n, reply)
                sizes[name, n] = os.path.getsize(path)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            checker.close()
            session.close()

    threads = [threading.Thread(target=qmp_worker, args=(name,)) for name in ("q0", "q1")]
    threads += [threading.Thread(target=hmp_worker, args=(name,)) for name in ("h0", "h1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    headers = {size - lengths[name] for (name, _), size in sizes.items()}
    assert len(sizes) == 4 * ROUNDS
    assert len(headers) == 1 and headers.pop() > 0, sorted(sizes.items())


#: A reply limit above QEMU 7.2's schema (207 kB) and below 64 KiB of xp in
#: bytes (about 500 kB of text).
SMALL_LIMIT = 300000
BIG_DUMP = "xp /65536xb 0"


@pytest.fixture
def small_bridge(rig) -> Iterator[Bridge]:
    """A second bridge on A, keeping replies of at most SMALL_LIMIT bytes."""
    a = rig[0]
    mux = os.path.join(a.dir, "small-mux.sock")
    bridge = Bridge(f"unix:path={a.vm.path('small.sock')}", "--qmp-listen", f"unix:{mux}",
                    "--max-reply", str(SMALL_LIMIT))
    bridge.mux = mux
    try:
        yield bridge
    finally:
        bridge.close()


def test_a_reply_longer_than_the_limit_fails_that_command_only(rig, small_bridge) -> None:
    """The drop that was: a reply longer than the bridge's line limit dropped its QMP
    connection, failing everyone's commands and disconnecting every QMP client.  Now it
    fails that line alone, and the QMP client connected
    meanwhile stays connected."""
    a = rig[0]
    bridge = small_bridge
    client = RawQMP(bridge.mux)
    session, other = bridge.session(), bridge.session()
    try:
        assert session.cmd(BIG_DUMP) == (
            f"Error: QEMU's reply to human-monitor-command is larger than {SMALL_LIMIT} "
            "bytes\n")
        assert other.cmd("info status") == a.hmp("info status")
        assert client.command(
            b'{"execute":"human-monitor-command","arguments":{"command-line":"'
            + BIG_DUMP.encode() + b'"},"id":1}\n') == (
            b'{"id": 1, "error": {"class": "GenericError", "desc": "QEMU\'s reply to '
            b'human-monitor-command is larger than %d bytes"}}\r\n' % SMALL_LIMIT)
        assert client.command(b'{"execute":"query-status","id":2}\n').startswith(
            b'{"return": {"status": ')
        assert session.cmd("xp /2xg 0") == a.hmp("xp /2xg 0")
    finally:
        client.close()
        session.close()
        other.close()
