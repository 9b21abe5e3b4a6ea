"""Relays of a QMP socket, to see what one more hop costs in C and in Python.

Each relay listens on a TCP port of 127.0.0.1 and, for every client, opens
its own connection to one QMP unix socket of the benchmark's QEMU and copies
bytes both ways as they come (``TCP_NODELAY`` on the client's socket).  A
client speaks QMP through it (greeting, ``qmp_capabilities``,
``query-status``), so each relay is timed exactly as direct QMP is, with one
hop more:

* ``socat``: ``/usr/bin/socat TCP-LISTEN:PORT,...,nodelay UNIX-CONNECT:QMP``;
* ``asyncio``: the standard library's event loop (``python -m bench.relays
  asyncio QMP PORT``);
* ``uvloop``: the same code on uvloop's event loop (a ``bench`` extra; when it
  is not installed the benchmark says so and leaves this relay out);
* ``twisted``: the same in Twisted, on the reactor hmpbridge uses.

The floor relay (:mod:`bench.floor`) is the other kind of comparison: it
speaks HMP to its client and QMP to QEMU, as hmpbridge does, doing nothing
else.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["RELAYS", "Relay", "RelaySet", "SOCAT", "uvloop_missing", "relay_command",
           "listening_ports"]

SOCAT = "/usr/bin/socat"

#: Every relay, in the order the benchmark prints them.
RELAYS = ("socat", "asyncio", "uvloop", "twisted")


def uvloop_missing() -> Optional[str]:
    """Why the uvloop relay cannot run here, or None when it can."""
    if importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed (pip install -e '.[bench]')"
    return None


def relay_command(kind: str, qmp_path: str, port: int) -> List[str]:
    """The command line of relay ``kind`` from TCP ``port`` to the QMP socket ``qmp_path``."""
    if kind == "socat":
        return [SOCAT, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
                f"UNIX-CONNECT:{qmp_path}"]
    if kind in ("asyncio", "uvloop", "twisted"):
        return [sys.executable, "-m", "bench.relays", kind, qmp_path, str(port)]
    raise ValueError(f"unknown relay {kind!r}")


def listening_ports(table: str = "/proc/net/tcp") -> List[int]:
    """The local TCP ports in the LISTEN state (from ``/proc/net/tcp``)."""
    ports = []
    with open(table) as f:
        next(f)
        for row in f:
            fields = row.split()
            if fields[3] == "0A":
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@dataclass
class Relay:
    """One relay process: what it is, its port, its process."""

    kind: str
    port: int
    proc: subprocess.Popen


@dataclass
class RelaySet:
    """The relays a benchmark run started, and those it could not start (with why)."""

    relays: Dict[str, Relay] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, sockets: Sequence[str], kinds: Sequence[str] = RELAYS,
              log: Optional[str] = None, env: Optional[Dict[str, str]] = None,
              cwd: Optional[str] = None) -> "RelaySet":
        """Start one relay per kind, each on its own QMP socket of ``sockets``."""
        from bench.procs import child_setup, free_port

        made = cls()
        free = list(sockets)
        for kind in kinds:
            why = (uvloop_missing() if kind == "uvloop" else
                   None if kind != "socat" or os.access(SOCAT, os.X_OK) else f"no {SOCAT}")
            if why is None and not free:
                why = "no QMP socket left for it"
            if why is not None:
                made.skipped[kind] = why
                continue
            port = free_port()
            out = open(log, "ab") if log else subprocess.DEVNULL
            try:
                proc = subprocess.Popen(relay_command(kind, free.pop(0), port), stdout=out,
                                        stderr=out, env=env, cwd=cwd, preexec_fn=child_setup)
            finally:
                if log:
                    out.close()  # type: ignore[union-attr]
            made.relays[kind] = Relay(kind, port, proc)
        try:
            for relay in made.relays.values():
                _wait_listening(relay)
        except BaseException:
            made.stop()
            raise
        return made

    def stop(self) -> None:
        """Stop every relay (SIGTERM, then SIGKILL after 5 s)."""
        for relay in self.relays.values():
            if relay.proc.poll() is None:
                relay.proc.send_signal(signal.SIGTERM)
                try:
                    relay.proc.wait(5)
                except subprocess.TimeoutExpired:
                    relay.proc.kill()
                    relay.proc.wait()


def _wait_listening(relay: Relay, timeout: float = 20.0) -> None:
    # a probing connection would take the relay's one QMP connection: look instead
    deadline = time.monotonic() + timeout
    while relay.port not in listening_ports():
        if relay.proc.poll() is not None:
            raise RuntimeError(f"{relay.kind} relay exited with status {relay.proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{relay.kind} relay not listening on {relay.port}")
        time.sleep(0.01)


# -- the Python relays ---------------------------------------------------------------------------


class _AsyncioHop(asyncio.Protocol):
    """One side of a relayed connection: what it receives goes to the other side."""

    def __init__(self, peer: Optional["_AsyncioHop"] = None) -> None:
        self.transport: Optional[asyncio.Transport] = None
        # QEMU's side knows the client's from the start: its greeting may come
        # before the connecting coroutine resumes
        self.peer = peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)  # type: ignore[union-attr]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _AsyncioClient(_AsyncioHop):
    """The client's side: reads nothing until QMP is connected."""

    def __init__(self, qmp_path: str) -> None:
        super().__init__()
        self.qmp_path = qmp_path

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.pause_reading()  # type: ignore[attr-defined]
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, upstream = await loop.create_unix_connection(lambda: _AsyncioHop(self),
                                                        self.qmp_path)
        self.peer = upstream
        self.transport.resume_reading()  # type: ignore[union-attr]


async def _serve_asyncio(qmp_path: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _AsyncioClient(qmp_path), "127.0.0.1", port,
                                      backlog=1024)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop
    server.close()


def _serve_twisted(qmp_path: str, port: int) -> None:
    from twisted.internet import reactor
    from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
    from twisted.internet.protocol import Factory, Protocol

    class Hop(Protocol):
        peer: Optional["Hop"] = None

        def dataReceived(self, data: bytes) -> None:
            self.peer.transport.write(data)  # type: ignore[union-attr]

        def connectionLost(self, reason: object = None) -> None:
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.loseConnection()

    class Client(Hop):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)
            self.transport.pauseProducing()
            upstream = Hop()
            upstream.peer = self  # QEMU's greeting may come before _connected
            d = connectProtocol(UNIXClientEndpoint(reactor, qmp_path), upstream)
            d.addCallback(self._connected)

        def _connected(self, upstream: Hop) -> None:
            self.peer = upstream
            self.transport.resumeProducing()

    reactor.listenTCP(port, Factory.forProtocol(Client), interface="127.0.0.1", backlog=1024)
    reactor.run()


def main(argv: Tuple[str, ...]) -> None:
    """``python -m bench.relays asyncio|uvloop|twisted QMP_PATH PORT``."""
    kind, qmp_path, port = argv[0], argv[1], int(argv[2])
    if kind == "asyncio":
        asyncio.run(_serve_asyncio(qmp_path, port))
    elif kind == "uvloop":
        import uvloop

        uvloop.run(_serve_asyncio(qmp_path, port))
    elif kind == "twisted":
        _serve_twisted(qmp_path, port)
    else:
        raise SystemExit(f"unknown relay {kind!r}")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
