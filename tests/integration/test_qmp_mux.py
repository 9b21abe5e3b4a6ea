"""QMP clients share hmpbridge's one QMP connection with HMP operators.

The clients are real ones nobody here wrote: the ``qemu.qmp`` library and its
``qmp-shell``.  What QEMU itself answers is the reference for every error.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from typing import Dict, List

import pexpect
import pytest
from qemu.qmp import EventListener, QMPClient

from tests.integration.conftest import Bridge, Twin

CLIENTS = 10
ROUNDS = 200


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """VM A behind a bridge with two QMP endpoints; twin B answers QMP itself."""
    a, b = Twin(), Twin()
    mux_path = os.path.join(a.dir, "mux.sock")
    bridge = Bridge(f"unix:path={a.bridge_socket}", "--qmp-listen", f"unix:{mux_path}")
    yield a, b, bridge, mux_path
    bridge.close()
    a.close()
    b.close()


def raw_exchange(path: str, data: bytes, replies: int) -> List[bytes]:
    """Send ``data`` on a fresh QMP connection; return the greeting and ``replies`` lines."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        f = s.makefile("rb")
        lines = [f.readline()]
        s.sendall(data)
        lines += [f.readline() for _ in range(replies)]
    return lines


BAD_MESSAGES = [
    (b'[1,2]\n', 1),
    (b'{"execute":"query-status","id":1}\n', 1),
    (b'{"execute":"qmp_capabilities","arguments":{"enable":["bogus"]},"id":2}\n', 1),
    (b'{"execute":"qmp_capabilities","arguments":{"enable":"oob"},"id":3}\n', 1),
    (b'{"execute":"qmp_capabilities","arguments":{"x":1},"id":4}\n', 1),
    (b'{"execute":"qmp_capabilities","id":"neg"}\n', 1),
    (b'{"execute":"qmp_capabilities","id":5}\n', 1),
    (b'"str"\n123\n', 2),
    (b'{"bad json\n', 1),
    (b'}\n', 1),
    (b'{"execute":1}\n', 1),
    (b'{"id":6}\n', 1),
    (b'{"execute":"query-status","foo":1,"id":7}\n', 1),
    (b'{"execute":"query-status","arguments":[],"id":8}\n', 1),
    (b'{"execute":"nosuch","id":{"a":[1,{"b":null}]}}\n', 1),
    (b'{"execute":"query-status"}\n', 1),
    (b'{"exec-oob":"query-status","id":9}\n', 1),
    (b'{"execute":"query-status","exec-oob":"x","id":10}\n', 1),
    (b'{"execute":"query-name","id":11}{"execute":"query-kvm","id":12}', 2),
    (b'{"execute":"query-name",\n "id":\n 13}\n', 1),
    (b'{"execute":"query-status","id":null}\n', 1),
    (b'{"execute":"query-status","id":1.5}\n', 1),
    (b'{"execute":"query-status","id":"\xc3\xa9"}\n', 1),
    (b'{"execute":"query-status","id":14,"arguments":{"x":1}}\n', 1),
    (b'{"execute":"query-status","id":' + b'[' * 1000 + b']' * 1000 + b'}\n', 1),
    (b'[' * 1030 + b'\n', 1),
]


def test_error_replies_and_ids_are_qemus(rig):
    _, b, _, mux_path = rig
    # one connection each, the messages in order, so negotiation state carries over
    data = b"".join(message for message, _ in BAD_MESSAGES)
    count = sum(n for _, n in BAD_MESSAGES)
    got = raw_exchange(mux_path, data, count)
    want = raw_exchange(b.bridge_socket, data, count)
    assert got == want


def test_the_schema_is_qemus_byte_for_byte(rig):
    """query-qmp-schema, answered from the copy the bridge read when it connected, in
    every form QEMU takes it, gives QEMU's bytes."""
    _, b, _, mux_path = rig
    data = (b'{"execute":"qmp_capabilities"}\n'
            b'{"execute":"query-qmp-schema","id":"s1"}\n'
            b'{"execute":"query-qmp-schema"}\n'
            b'{"execute":"query-qmp-schema","arguments":{},"id":[1]}\n'
            b'{"execute":"query-qmp-schema","arguments":{"x":1},"id":2}\n')
    got = raw_exchange(mux_path, data, 5)
    assert got == raw_exchange(b.bridge_socket, data, 5)
    assert len(got[2]) > 100000


def test_qmp_clients_and_hmp_sessions_at_once(rig):
    a, _, bridge, mux_path = rig
    hmp_results: Dict[int, List[str]] = {}
    hmp_errors: List[BaseException] = []

    def hmp_session(n: int) -> None:
        try:
            client = bridge.session()
            line = ["info name", "info uuid", "info kvm"][n]
            hmp_results[n] = [client.cmd(line) for _ in range(ROUNDS)]
            client.close()
        except BaseException as err:  # noqa: BLE001 - reported below
            hmp_errors.append(err)

    expected_hmp = {n: a.hmp(line) for n, line in enumerate(["info name", "info uuid",
                                                               "info kvm"])}
    properties = ["type", "realized", "hotpluggable", "hotplugged"]

    async def qmp_client(n: int) -> List[object]:
        client = QMPClient(f"client{n}")
        await client.connect(mux_path)
        try:
            path = ["/machine/peripheral/nic0", "/machine/peripheral/vblk0",
                    "/machine/peripheral/balloon0"][n % 3]
            got = []
            for i in range(ROUNDS):
                prop = properties[(n + i) % len(properties)]
                got.append((path, prop, await client.execute(
                    "qom-get", {"path": path, "property": prop})))
            return got
        finally:
            await client.disconnect()

    async def all_clients() -> List[List[object]]:
        return await asyncio.gather(*(qmp_client(n) for n in range(CLIENTS)))

    threads = [threading.Thread(target=hmp_session, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    results = asyncio.run(all_clients())
    for thread in threads:
        thread.join(120)
    assert not hmp_errors
    for n, outputs in hmp_results.items():
        assert outputs == [expected_hmp[n]] * ROUNDS
    for got in results:
        for path, prop, value in got:
            want = a.qmp.command("qom-get", {"path": path, "property": prop})
            assert value == want, (path, prop)


def test_every_client_sees_every_event(rig):
    _, _, bridge, mux_path = rig

    async def scenario() -> List[List[str]]:
        clients, listeners = [], []
        for n in range(CLIENTS):
            client = QMPClient(f"watcher{n}")
            await client.connect(mux_path)
            listener = EventListener(("STOP", "RESUME", "DEVICE_TRAY_MOVED"))
            client.register_listener(listener)
            clients.append(client)
            listeners.append(listener)
        operator = bridge.session()
        for line in ["cont", "stop", "eject -f cd0"]:
            await asyncio.get_running_loop().run_in_executor(None, operator.cmd, line)
        seen = []
        for listener in listeners:
            names = []
            for _ in range(3):
                event = await asyncio.wait_for(listener.get(), 10)
                names.append(event["event"])
            seen.append(names)
        operator.close()
        for client in clients:
            await client.disconnect()
        return seen

    for names in asyncio.run(scenario()):
        assert names == ["RESUME", "STOP", "DEVICE_TRAY_MOVED"]


def test_qmp_shell(rig):
    a, _, _, mux_path = rig
    shell = pexpect.spawn(os.path.join(os.path.dirname(os.sys.executable), "qmp-shell"),
                          [mux_path], timeout=20, encoding="utf-8")
    try:
        shell.expect_exact("(QEMU) ")
        shell.sendline("query-name")
        shell.expect_exact(json.dumps({"return": a.qmp.command("query-name")}))
        shell.expect_exact("(QEMU) ")
        shell.sendline("qom-get path=/machine/peripheral/nic0 property=mac")
        mac = a.qmp.command("qom-get", {"path": "/machine/peripheral/nic0", "property": "mac"})
        shell.expect_exact(json.dumps({"return": mac}))
        shell.sendeof()
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)


def test_oob_hmc_and_fd_passing_as_on_qemu(rig, tmp_path):
    """exec-oob, human-monitor-command and getfd behave as on QEMU's own socket."""
    _, b, _, mux_path = rig
    script = (b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}\n'
              b'{"exec-oob":"migrate-pause","id":"oob"}\n'
              b'{"execute":"human-monitor-command","arguments":{"command-line":"info kvm"},'
              b'"id":"hmc"}\n')
    assert raw_exchange(mux_path, script, 3) == raw_exchange(b.bridge_socket, script, 3)

    def with_fd(path: str) -> List[bytes]:
        with socket.socket(socket.AF_UNIX) as s, open(tmp_path / "passed", "wb") as passed:
            s.settimeout(10)
            s.connect(path)
            f = s.makefile("rb")
            f.readline()
            s.sendall(b'{"execute":"qmp_capabilities"}\n')
            replies = [f.readline()]
            socket.send_fds(s, [b'{"execute":"getfd","arguments":{"fdname":"f0"},"id":1}\n'],
                            [passed.fileno()])
            replies.append(f.readline())
            s.sendall(b'{"execute":"closefd","arguments":{"fdname":"f0"},"id":2}\n'
                      b'{"execute":"closefd","arguments":{"fdname":"f0"},"id":3}\n')
            replies += [f.readline(), f.readline()]
            return replies

    assert with_fd(mux_path) == with_fd(b.bridge_socket)
