"""The benchmark's relays (``bench/relays.py``) carry QMP to a real QEMU and back.

Each relay (socat, asyncio, asyncio on uvloop where installed, Twisted) gets
a QMP socket of its own on one QEMU 7.2; a client speaking QMP through it gets
QEMU's greeting and the same ``query-status`` answer as on QEMU's own socket.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Dict, Iterator

import pytest

from bench.procs import REPO, bridge_env
from bench.relays import RELAYS, RelaySet, uvloop_missing

from tests.integration.conftest import Twin

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def relays() -> Iterator[tuple]:
    twin = Twin(extra=[arg for i in range(len(RELAYS))
                       for arg in ("-qmp", f"unix:{{dir}}/relay{i}.sock,server=on,wait=off")])
    made = None
    try:
        sockets = [os.path.join(twin.dir, f"relay{i}.sock") for i in range(len(RELAYS))]
        made = RelaySet.start(sockets, RELAYS, env=bridge_env(), cwd=REPO)
        yield twin, made
    finally:
        if made is not None:
            made.stop()
        twin.close()


def _read_message(f: Any) -> Dict[str, Any]:
    while True:
        message = json.loads(f.readline())
        if "event" not in message:
            return message


@pytest.mark.parametrize("kind", RELAYS)
def test_query_status_through_the_relay(relays: tuple, kind: str) -> None:
    """QMP through the relay: QEMU's greeting, capabilities, then query-status as QEMU answers it."""
    twin, made = relays
    if kind == "uvloop" and uvloop_missing():
        assert made.skipped["uvloop"] == uvloop_missing()
        pytest.skip(made.skipped["uvloop"])
    relay = made.relays[kind]
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        f = sock.makefile("rwb")
        greeting = _read_message(f)
        assert greeting["QMP"]["version"]["qemu"]["major"] == 7
        f.write(b'{"execute": "qmp_capabilities"}\n')
        f.flush()
        assert _read_message(f) == {"return": {}}
        for n in range(3):
            f.write(b'{"execute": "query-status", "id": %d}\n' % n)
            f.flush()
            reply = _read_message(f)
            assert reply == {"return": twin.qmp.command("query-status"), "id": n}
