"""Many fake QEMUs in one process: ``python -m bench.fake_qemus [--schema FILE] DIR N``.

Serves ``N`` QMP unix sockets ``DIR/vm0.qmp`` .. ``DIR/vm{N-1}.qmp``, each
with the project's in-memory QEMU fake (:class:`hmpbridge.testing.FakeQEMU`)
behind a real socket (one ``UNIXServerEndpoint`` per VM).  Each VM answers
``query-name`` with its own name.

Control lines on standard input, answered on standard output:

* ``add NAME`` -> ``added NAME T``: ``DIR/NAME.qmp`` is listening; ``T`` is
  ``time.monotonic_ns()`` right after it was bound (the clock is the
  machine's, so the benchmark can time from it).
* ``remove NAME`` -> ``removed NAME``: the socket is closed and its file
  removed, its connections dropped (as when QEMU quits).

At start-up it prints ``ready N`` once every socket listens.  With
``--schema FILE`` every VM answers ``query-qmp-schema`` with the JSON list in
``FILE`` (a real QEMU's, recorded) instead of the fake's few entries.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Set

from twisted.internet import stdio
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

from hmpbridge.testing import FakeQEMU

__all__ = ["VMSockets", "Control", "main"]


class _VMFactory(Factory):
    """Makes one VM's fake QEMU per connection; keeps them to drop them on removal."""

    def __init__(self, name: str, schema: Optional[List[Any]] = None) -> None:
        self.name = name
        self.schema = schema
        self.live: Set[FakeQEMU] = set()

    def buildProtocol(self, addr: Any) -> FakeQEMU:
        name = self.name
        handlers: Dict[str, Any] = {"query-name": lambda args: {"name": name}}
        if self.schema is not None:
            schema = self.schema
            handlers["query-qmp-schema"] = lambda args: schema
        qemu = _Tracked(handlers)
        qemu.factory = self
        return qemu


class _Tracked(FakeQEMU):
    def connectionMade(self) -> None:
        self.factory.live.add(self)
        super().connectionMade()

    def connectionLost(self, reason: Any = None) -> None:
        self.factory.live.discard(self)
        super().connectionLost(reason)


class VMSockets:
    """The listening sockets of the fake VMs in ``directory``, by name."""

    def __init__(self, reactor: Any, directory: str, schema: Optional[List[Any]] = None) -> None:
        self.reactor = reactor
        self.directory = directory
        self.schema = schema
        self.ports: Dict[str, Any] = {}
        self.factories: Dict[str, _VMFactory] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name + ".qmp")

    async def add(self, name: str) -> int:
        """Listen on ``name``'s socket; the monotonic time (ns) right after it was bound."""
        factory = _VMFactory(name, self.schema)
        port = await UNIXServerEndpoint(self.reactor, self.path(name), backlog=50).listen(factory)
        bound = time.monotonic_ns()
        self.ports[name] = port
        self.factories[name] = factory
        return bound

    async def remove(self, name: str) -> None:
        """Stop listening on ``name``'s socket (its file goes) and drop its connections."""
        port = self.ports.pop(name)
        factory = self.factories.pop(name)
        await port.stopListening()
        for qemu in list(factory.live):
            qemu.transport.loseConnection()


class Control(LineReceiver):
    """``add NAME`` / ``remove NAME`` on standard input."""

    delimiter = b"\n"

    def __init__(self, vms: VMSockets) -> None:
        self.vms = vms

    def lineReceived(self, line: bytes) -> None:
        from twisted.internet.defer import Deferred

        words = line.decode().split()
        if len(words) != 2 or words[0] not in ("add", "remove"):
            self.sendLine(b"error " + line)
            return
        verb, name = words
        if verb == "add":
            d = Deferred.fromCoroutine(self.vms.add(name))
            d.addCallback(lambda t: self.sendLine(f"added {name} {t}".encode()))
        else:
            d = Deferred.fromCoroutine(self.vms.remove(name))
            d.addCallback(lambda _: self.sendLine(f"removed {name}".encode()))
        d.addErrback(lambda f: self.sendLine(f"error {name} {f.getErrorMessage()}".encode()))

    def connectionLost(self, reason: Any = None) -> None:
        from twisted.internet import reactor

        if reactor.running:
            reactor.stop()


def main(argv: List[str]) -> int:
    """``[--schema FILE] DIR N``: serve ``N`` fake VMs in the directory ``DIR``."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    schema = None
    if argv[:1] == ["--schema"]:
        with open(argv[1]) as f:
            schema = json.load(f)
        argv = argv[2:]
    directory, count = argv[0], int(argv[1])
    vms = VMSockets(reactor, directory, schema)

    async def start() -> None:
        for index in range(count):
            await vms.add(f"vm{index}")
        stdio.StandardIO(Control(vms))
        sys.stdout.write(f"ready {count}\n")
        sys.stdout.flush()

    def failed(failure: Any) -> None:
        sys.stderr.write(failure.getTraceback())
        reactor.stop()

    reactor.callWhenRunning(
        lambda: Deferred.fromCoroutine(start()).addErrback(failed))
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
