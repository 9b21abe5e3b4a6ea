"""The floor: the least a Twisted HMP-to-QMP relay can cost, for comparison.

``python -m bench.floor QMP_PATH PORT`` serves a banner and answers every line
with ``query-status`` sent over one shared QMP connection (ids, up to 8 in
flight, like hmpbridge) and a fixed rendering of the reply.  It parses
nothing, has no command table, no telnet framing and no error handling: the
difference between it and hmpbridge is what hmpbridge's own code costs; the
difference between it and direct QMP is what two extra socket hops and the
Python event loop cost.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from typing import Deque, Dict, Tuple

from twisted.internet import reactor
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import LineOnlyReceiver

_IN_FLIGHT = 8


class QMP(LineOnlyReceiver):
    """One QMP connection: negotiate, then send commands with ids, route replies."""

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024 * 1024

    def __init__(self) -> None:
        self.waiting: Dict[int, "Session"] = {}
        self.queue: Deque["Session"] = deque()
        self.next_id = 0
        self.ready = False

    def lineReceived(self, line: bytes) -> None:
        message = json.loads(line)
        if "QMP" in message:
            self.transport.write(b'{"execute": "qmp_capabilities", '
                                 b'"arguments": {"enable": ["oob"]}}\n')
        elif not self.ready:
            self.ready = True
            self.pump()
        elif "id" in message:
            session = self.waiting.pop(message["id"])
            session.answer(message["return"])
            self.pump()

    def ask(self, session: "Session") -> None:
        self.queue.append(session)
        self.pump()

    def pump(self) -> None:
        while self.ready and self.queue and len(self.waiting) < _IN_FLIGHT:
            self.next_id += 1
            self.waiting[self.next_id] = self.queue.popleft()
            self.transport.write(json.dumps({"execute": "query-status",
                                             "id": self.next_id}).encode() + b"\n")


class Session(Protocol):
    """An HMP client: every complete line is answered with the VM status."""

    def __init__(self, qmp: QMP) -> None:
        self.qmp = qmp
        self.buf = b""

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        self.transport.write(b"QEMU 7.2 monitor - type 'help' for more information\r\n(qemu) ")

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            _line, self.buf = self.buf.split(b"\n", 1)
            self.qmp.ask(self)

    def answer(self, value: Dict[str, object]) -> None:
        state = "running" if value["running"] else f"paused ({value['status']})"
        self.transport.write(f"VM status: {state}\r\n(qemu) ".encode())


def main(argv: Tuple[str, ...]) -> None:
    """Connect to QMP at argv[0], then serve HMP on 127.0.0.1:argv[1]."""
    path, port = argv[0], int(argv[1])
    qmp = QMP()

    def listen(_: object) -> None:
        factory = Factory.forProtocol(lambda: Session(qmp))
        reactor.listenTCP(port, factory, interface="127.0.0.1", backlog=1024)

    connectProtocol(UNIXClientEndpoint(reactor, path), qmp).addCallback(listen)
    reactor.run()


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
