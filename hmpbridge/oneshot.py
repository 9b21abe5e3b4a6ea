"""``hmpbridge-cmd``: run HMP lines from a shell script, print their output.

    hmpbridge-cmd 'info status' 'stop'                   # a bridge on localhost:4444
    hmpbridge-cmd --connect unix:path=/run/vm1.hmp 'info block'
    hmpbridge-cmd --qmp /run/vm1.qmp 'info status'       # straight to QEMU, no bridge

Each line's output is printed as the monitor prints it.  The exit status is
0 when every line succeeded, 1 when one printed an error (``Error: ...``,
``unknown command: ...``, a parse error), 3 when the monitor could not be
reached, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, List, NoReturn, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import react
from twisted.python.failure import Failure

from hmpbridge.profile import Release, hmp_release
from hmpbridge.cli import qmp_endpoint_string
from hmpbridge.interfaces import connected
from hmpbridge.model import SessionState
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.runner import CommandRunner

if TYPE_CHECKING:
    from hmpbridge.interfaces import IReactor

__all__ = ["main", "looks_failed", "HMPLineClient"]

EXIT_OK, EXIT_COMMAND_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_CONNECT = "tcp:host=127.0.0.1:port=4444"
PROMPT = b"(qemu) "

_FAILED = re.compile(r'^(Error: |unknown command: |Try "help |.*: (extraneous characters|'
                     r'block device name expected|string expected|filename expected)|'
                     r"invalid size$|Expected 'on' or 'off'$)", re.M)


def looks_failed(text: str) -> bool:
    """Whether a command's output reports a failure, in QEMU's usual wordings."""
    return bool(_FAILED.search(text))


#: What a telnet monitor sends of its own: option commands (three bytes), as
#: QEMU's telnet chardev sends them at connect.
_TELNET_COMMAND = re.compile(rb"\xff[\xfb-\xfe][\x00-\xff]")


class HMPLineClient(Protocol):
    """Speaks to an HMP monitor: waits for each prompt, collects each answer.

    A monitor (QEMU's or hmpbridge's, on every chardev kind) echoes each line
    through its line editor up to the Enter key's ``\r\n``; the answer is
    what follows it, up to the next prompt.  Telnet option commands in the
    banner are dropped.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._waiting: List["Deferred[str]"] = []
        self.banner: "Deferred[str]" = Deferred()
        self.closed: "Deferred[None]" = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while PROMPT in self._buffer:
            chunk, _, self._buffer = self._buffer.partition(PROMPT)
            if not self.banner.called:
                self.banner.callback(_text(_TELNET_COMMAND.sub(b"", chunk)))
            elif self._waiting:
                _echo, _, answer = chunk.partition(b"\r\n")
                self._waiting.pop(0).callback(_text(answer))

    def command(self, line: str) -> "Deferred[str]":
        """Send ``line``; fire with its output.

        A tab would ask the monitor's line editor to complete, so it goes out
        as the blank it stands for in a command line.
        """
        d: "Deferred[str]" = Deferred()
        self._waiting.append(d)
        connected(self).write(line.replace("\t", " ").encode("utf-8") + b"\n")
        return d

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        for d in self._waiting:
            d.errback(ConnectionError("the monitor closed the connection"))
        self._waiting.clear()
        if not self.banner.called:
            self.banner.errback(ConnectionError("the monitor closed before its prompt"))
        self.closed.callback(None)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\r\n", "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hmpbridge-cmd",
        description="Run HMP lines against hmpbridge (or straight against a QMP socket) and "
                    "print their output.",
        epilog="exit status: 0 every line succeeded, 1 a line printed an error, "
               "2 bad command line, 3 the monitor could not be reached")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--connect", metavar="ENDPOINT", default=None,
                       help=f"a running hmpbridge's HMP endpoint (default: {DEFAULT_CONNECT}); "
                            "a bare path means a unix socket")
    where.add_argument("--qmp", metavar="ENDPOINT",
                       help="run the lines in-process against this QMP socket instead")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="give up on an unresponsive monitor after this long (default: 30)")
    parser.add_argument("--hmp-version", metavar="X.Y", type=hmp_release,
                        help="with --qmp: print QEMU release X.Y's HMP text (see hmpbridge "
                             "--help)")
    parser.add_argument("lines", nargs="+", metavar="LINE", help="HMP lines, run in order")
    return parser


async def _via_bridge(reactor: IReactor, endpoint: str, lines: Sequence[str],
                      timeout: float) -> int:
    client = HMPLineClient()
    try:
        # clientFromString and connectProtocol are unannotated in Twisted
        monitor = clientFromString(reactor, endpoint)  # type: ignore[no-untyped-call]
        connecting = connectProtocol(monitor, client)  # type: ignore[no-untyped-call]
        connecting.addTimeout(timeout, reactor)
        await connecting
        banner = client.banner
        banner.addTimeout(timeout, reactor)
        await banner
    except Exception as err:  # noqa: BLE001 - reported as one line
        sys.stderr.write(f"hmpbridge-cmd: cannot reach the monitor at {endpoint}: {err}\n")
        return EXIT_UNREACHABLE
    status = EXIT_OK
    try:
        for line in lines:
            answer = client.command(line)
            answer.addTimeout(timeout, reactor)
            text = await answer
            sys.stdout.write(text)
            if looks_failed(text):
                status = EXIT_COMMAND_FAILED
    except Exception as err:  # noqa: BLE001
        sys.stderr.write(f"hmpbridge-cmd: {err}\n")
        return EXIT_UNREACHABLE
    finally:
        connected(client).loseConnection()
    return status


async def _via_qmp(reactor: IReactor, endpoint: str, lines: Sequence[str],
                   timeout: float, hmp_version: Optional[Release] = None) -> int:
    qmp = clientFromString(reactor, endpoint)  # type: ignore[no-untyped-call]
    mux = QMPMultiplexer(qmp, reactor, negotiation_timeout=timeout, hmp_version=hmp_version)
    mux.startService()
    try:
        await mux.when_ready(fail_after_failures=1)
    except Exception as err:  # noqa: BLE001
        sys.stderr.write(f"hmpbridge-cmd: cannot connect to QMP at {endpoint}: {err}\n")
        return EXIT_UNREACHABLE
    runner, state, status = CommandRunner(mux), SessionState(), EXIT_OK
    try:
        for line in lines:
            text = await runner.run(line, state)
            sys.stdout.write(text)
            if looks_failed(text):
                status = EXIT_COMMAND_FAILED
    finally:
        await mux.stopService()
    return status


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of ``hmpbridge-cmd``."""
    options = build_parser().parse_args(argv)

    async def run(reactor: IReactor) -> None:
        try:
            if options.qmp is not None:
                code = await _via_qmp(reactor, qmp_endpoint_string(options.qmp), options.lines,
                                      options.timeout, options.hmp_version)
            else:
                endpoint = qmp_endpoint_string(options.connect or DEFAULT_CONNECT)
                code = await _via_bridge(reactor, endpoint, options.lines, options.timeout)
        except ValueError as err:
            sys.stderr.write(f"hmpbridge-cmd: {err}\n")
            code = EXIT_USAGE
        raise SystemExit(code)

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
