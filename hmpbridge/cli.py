"""``hmpbridge``: serve QEMU's human monitor over one shared QMP connection."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, NoReturn, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.task import deferLater, react
from twisted.logger import (FilteringLogObserver, LogLevel, LogLevelFilterPredicate, Logger,
                            globalLogBeginner, textFileLogObserver)

from hmpbridge import __version__
from hmpbridge.events import EventHub
from hmpbridge.launcher import LaunchError, QEMULauncher
from hmpbridge.mux import QMPMultiplexer
from hmpbridge.qmp_server import QMPServerFactory
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory

__all__ = ["main", "build_parser", "qmp_endpoint_string",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_QMP_UNREACHABLE", "EXIT_LISTEN_FAILED"]

EXIT_OK = 0
EXIT_FAILURE = 1  #: QEMU could not be started, or an unexpected error
EXIT_USAGE = 2  #: bad command line (as argparse exits)
EXIT_QMP_UNREACHABLE = 3  #: the QMP endpoint could not be reached or negotiated
EXIT_LISTEN_FAILED = 4  #: a listen endpoint could not be bound

DEFAULT_LISTEN = "tcp:4444:interface=127.0.0.1"

_log = Logger(namespace="hmpbridge")

EPILOG = f"""\
endpoints are Twisted endpoint strings, e.g. unix:path=/run/vm1.qmp,
tcp:host=127.0.0.1:port=4445 (client) or tcp:4444:interface=127.0.0.1,
unix:/run/vm1.hmp (listen).

exit status:
  {EXIT_OK}  stopped normally (signal, or the bridge's own QEMU quit)
  {EXIT_FAILURE}  QEMU could not be started, or an unexpected error
  {EXIT_USAGE}  bad command line
  {EXIT_QMP_UNREACHABLE}  the QMP endpoint could not be reached or did not negotiate
  {EXIT_LISTEN_FAILED}  a --listen or --qmp-listen endpoint could not be bound (e.g. port in use)
"""


class Fatal(Exception):
    """Stop with a message and an exit status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (its ``--help`` documents every option)."""
    parser = argparse.ArgumentParser(
        prog="hmpbridge",
        description="Serve QEMU's human monitor (HMP) to many telnet clients and scripts, "
                    "translated to QMP over one shared connection.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--qmp", metavar="ENDPOINT",
        help="QEMU's QMP socket: a Twisted client endpoint string or a bare unix socket "
             "path. Without it, hmpbridge starts a QEMU of its own and stops it on exit.")
    parser.add_argument(
        "--listen", metavar="ENDPOINT", action="append",
        help=f"where to serve HMP; may be given several times (default: {DEFAULT_LISTEN})")
    parser.add_argument(
        "--events-listen", metavar="ENDPOINT", action="append", default=[],
        help="serve HMP here with QMP events shown as they happen (as after '.events on'); "
             "repeatable")
    parser.add_argument(
        "--qmp-listen", metavar="ENDPOINT", action="append", default=[],
        help="also serve QMP here, multiplexed onto the one QEMU connection; repeatable")
    parser.add_argument(
        "--no-passthrough", action="store_true",
        help="never send human-monitor-command: commands QMP cannot express print an error")
    parser.add_argument(
        "--connect-timeout", metavar="SECONDS", type=float, default=10.0,
        help="seconds to reach and negotiate the QMP endpoint at start-up (default: 10)")
    parser.add_argument(
        "--qemu", metavar="PROGRAM", default="qemu-system-x86_64",
        help="the QEMU to start when no --qmp is given (default: qemu-system-x86_64)")
    parser.add_argument(
        "--qemu-arg", metavar="ARG", action="append", default=[],
        help="an extra argument for the QEMU started when no --qmp is given; repeatable")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warn", "error"],
        help="log messages at or above this level to stderr (default: info)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def qmp_endpoint_string(value: str) -> str:
    """Turn ``--qmp``'s value into an endpoint string; a bare path means a unix socket."""
    if value.startswith(("/", "./", "../", "~")) or (":" not in value and os.path.exists(value)):
        path = os.path.expanduser(value)
        return "unix:path=" + path.replace("\\", "\\\\").replace(":", "\\:")
    return value


def _start_logging(level: str) -> None:
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


async def serve(reactor, options: argparse.Namespace) -> None:
    """Connect to (or start) QEMU, listen, and serve until stopped."""
    launcher: Optional[QEMULauncher] = None
    if options.qmp is None:
        launcher = QEMULauncher(reactor, options.qemu, options.qemu_arg)
        reactor.addSystemEventTrigger("before", "shutdown", launcher.stop)
        try:
            qmp = "unix:path=" + await launcher.start()
        except LaunchError as err:
            raise Fatal(EXIT_FAILURE, f"cannot start QEMU: {err}")
    else:
        qmp = qmp_endpoint_string(options.qmp)
    try:
        endpoint = clientFromString(reactor, qmp)
    except (ValueError, TypeError, KeyError) as err:
        raise Fatal(EXIT_USAGE, f"invalid --qmp endpoint {qmp!r}: {err}")

    mux = QMPMultiplexer(endpoint, reactor, negotiation_timeout=options.connect_timeout)
    mux.startService()
    try:
        await mux.when_ready(fail_after_failures=1)
    except Exception as err:  # noqa: BLE001 - any reason is reported the same way
        await deferLater(reactor, 0, mux.stopService)
        raise Fatal(EXIT_QMP_UNREACHABLE, f"cannot connect to QMP at {qmp}: {_reason(err)}")
    reactor.addSystemEventTrigger("before", "shutdown", mux.stopService)

    runner = CommandRunner(mux, passthrough=not options.no_passthrough)
    listens: List[str] = options.listen or [DEFAULT_LISTEN]
    ports = []
    hub = EventHub(mux)
    for description in listens:
        ports.append(await _listen(reactor, description,
                                   HMPServerFactory(runner, description, hub)))
        _log.info("Serving HMP on {listener}", listener=description)
    for description in options.events_listen:
        ports.append(await _listen(reactor, description,
                                   HMPServerFactory(runner, description, hub, events_on=True)))
        _log.info("Serving HMP with events on {listener}", listener=description)
    qmp_factory = QMPServerFactory(mux)
    for description in options.qmp_listen:
        ports.append(await _listen(reactor, description, qmp_factory))
        _log.info("Serving QMP on {listener}", listener=description)
    for port in ports:
        reactor.addSystemEventTrigger("before", "shutdown", port.stopListening)

    if launcher is not None:
        status = await launcher.ended
        _log.info("QEMU exited with status {status}", status=status)
        await mux.stopService()
        return
    await Deferred()  # until the reactor stops (SIGINT/SIGTERM)


async def _listen(reactor, description: str, factory):
    """Bind one endpoint, or stop with the reason."""
    try:
        server = serverFromString(reactor, description)
    except (ValueError, TypeError, KeyError) as err:
        raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: {err}")
    try:
        return await server.listen(factory)
    except CannotListenError as err:
        raise Fatal(EXIT_LISTEN_FAILED, f"cannot listen on {description}: {err.socketError or err}")
    except OSError as err:
        raise Fatal(EXIT_LISTEN_FAILED, f"cannot listen on {description}: {err}")


def _reason(err: BaseException) -> str:
    """A one-line reason for a connection failure."""
    text = str(err)
    if ": " in text and text.startswith("An error occurred while connecting"):
        text = text.split(": ", 1)[1]
    return text.strip().rstrip(".") or type(err).__name__


def _run(reactor, options: argparse.Namespace) -> "Deferred[None]":
    d = Deferred.fromCoroutine(serve(reactor, options))

    def fatal(failure):
        if failure.check(Fatal):
            sys.stderr.write(f"hmpbridge: {failure.value.message}\n")
            raise SystemExit(failure.value.status)
        return failure
    return d.addErrback(fatal)


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of the ``hmpbridge`` command."""
    options = build_parser().parse_args(argv)
    _start_logging(options.log_level)
    react(_run, [options])
