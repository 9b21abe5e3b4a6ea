"""``hmpbridge``: serve QEMU's human monitor over one shared QMP connection."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, List, NoReturn, Optional, Sequence, Tuple, Union

from twisted.internet.defer import Deferred, DeferredSemaphore, maybeDeferred
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.internet.task import deferLater, react
from twisted.logger import (FilteringLogObserver, LogLevel, LogLevelFilterPredicate, Logger,
                            globalLogBeginner, textFileLogObserver)
from twisted.python.failure import Failure

from hmpbridge import __version__, throttle, tls
from hmpbridge.profile import hmp_release
from hmpbridge.access import MAX_DUMP, READ_ONLY, READ_ONLY_MAX_DUMP, Policy
from hmpbridge.audit import AuditLog
from hmpbridge.commands import TIMEOUT_CLASSES
from hmpbridge.endpoints import HMPListener, exposure, hmp_listener, with_backlog
from hmpbridge.endpoints import kind as endpoint_kind
from hmpbridge.events import EventHub
from hmpbridge.fleet import Fleet, FleetVM, watch_for
from hmpbridge.fleet_names import (DEFAULT_GLOB, check_glob, check_template, render,
                                   taken_for_vms)
from hmpbridge.history import FileHistoryStore
from hmpbridge.inherited import where_bound
from hmpbridge.interfaces import LineService
from hmpbridge.launcher import LaunchError, QEMULauncher
from hmpbridge.limits import MAX_QMP_MESSAGE, MAX_QMP_MESSAGE_READ_ONLY, ClientCount, Limits
from hmpbridge.mux import SCHEMA_QUERIES, QMPMultiplexer
from hmpbridge.qapi_schema import SchemaStore
from hmpbridge.qmp_protocol import MAX_REPLY
from hmpbridge.qmp_server import QMPServerFactory
from hmpbridge.qmp_wire import MAX_NESTING
from hmpbridge.runner import CommandRunner
from hmpbridge.password_checks import PasswordChecks
from hmpbridge.passwords import PasswordFile, PasswordFileError
from hmpbridge.server import HMPServerFactory, ListenerAccess
from hmpbridge.switchboard import NO_VM, NoVM, VMDirectory, VMTarget, gateway_banner
from hmpbridge.board import CommandBoard

if TYPE_CHECKING:
    from hmpbridge.interfaces import IReactor

__all__ = ["main", "build_parser", "qmp_endpoint_string", "policy_of", "check_exposure",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_QMP_UNREACHABLE", "EXIT_LISTEN_FAILED"]

EXIT_OK = 0
EXIT_FAILURE = 1  #: QEMU could not be started, or an unexpected error
EXIT_USAGE = 2  #: bad command line (as argparse exits)
EXIT_QMP_UNREACHABLE = 3  #: the QMP endpoint could not be reached or negotiated
EXIT_LISTEN_FAILED = 4  #: a listen endpoint could not be bound

DEFAULT_LISTEN = "telnet:tcp:4444:interface=127.0.0.1"
#: The QEMU started when no ``--qmp`` is given.
DEFAULT_QEMU = "qemu-system-x86_64"
#: ``--telnet-mode`` values, accepted and ignored (every listener is a QEMU chardev kind).
TELNET_MODES = ("auto", "always", "never")

#: Descriptors wanted beyond the clients' with ``--qmp-dir`` (as far as the hard limit
#: allows): each VM holds its QMP connection and one per listener.
FLEET_DESCRIPTORS = 65536

#: The least ``--max-reply``: QEMU's largest ordinary reply, the QMP schema
#: (207 kB on QEMU 7.2), must fit, or the bridge cannot connect.
MIN_REPLY = 256 * 1024

_log = Logger(namespace="hmpbridge")

EPILOG = f"""\
endpoints are Twisted endpoint strings, e.g. unix:path=/run/vm1.qmp,
tcp:host=127.0.0.1:port=4445 (client) or tcp:4444:interface=127.0.0.1,
unix:/run/vm1.hmp (listen).

an HMP listener (--listen, --events-listen, --read-only-listen) is one of
QEMU's monitor chardevs, byte for byte, named by a prefix before its endpoint:
  telnet:ENDPOINT  as -monitor telnet:...,server=on: telnet negotiation at
                   connect (IAC WILL ECHO, WILL SUPPRESS-GO-AHEAD, WILL and DO
                   BINARY), telnet commands taken out of the input, none answered
  plain:ENDPOINT   as -monitor tcp:/unix:...,server=on: bytes as they are
without a prefix, unix: and stdio are plain and every other endpoint telnet.
Both run QEMU's line editor from the first key (echo, history, Tab completion),
as QEMU's monitor does on every chardev.

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
        help="where to serve HMP: [telnet:|plain:]ENDPOINT (see below); may be given "
             f"several times (default: {DEFAULT_LISTEN})")
    parser.add_argument(
        "--events-listen", metavar="ENDPOINT", action="append", default=[],
        help="serve HMP here with QMP events shown as they happen (as after '.events on'): "
             "[telnet:|plain:]ENDPOINT; repeatable")
    parser.add_argument(
        "--telnet-mode", choices=TELNET_MODES, default=None,
        help="deprecated and ignored: each listener is a telnet: or plain: chardev, and "
             "both edit lines as QEMU's monitor does")
    parser.add_argument(
        "--hmp-version", metavar="X.Y", type=hmp_release,
        help="print the HMP text of QEMU release X.Y (7.2 or later) when QEMU is newer, so "
             "scripts written for it keep matching: its command names, help and layouts, "
             "from the newer QEMU's data (default: the connected QEMU's own release)")
    parser.add_argument(
        "--state-dir", metavar="DIR",
        help="keep each logged-in user's command history (password or client certificate) "
             "in DIR across sessions, at most 64 lines per user; made mode 0700 (default: "
             "none, history lasts as long as the connection)")
    parser.add_argument(
        "--qmp-listen", metavar="ENDPOINT", action="append", default=[],
        help="also serve QMP here, multiplexed onto the one QEMU connection; repeatable")
    fleet = parser.add_argument_group(
        "many VMs", "serve every QMP socket of a directory, each as a VM named after its "
                    "file, with listeners of its own made from templates naming it {vm}")
    fleet.add_argument(
        "--qmp-dir", metavar="DIR",
        help="serve each QMP socket in DIR that matches --qmp-glob as a VM named after its "
             "file without the extension (vm1.qmp is vm1), from when it appears until it "
             "goes; instead of --qmp; needs --listen-each, --qmp-listen-each, or a shared "
             "--listen whose sessions choose a VM with '.vm NAME'")
    fleet.add_argument(
        "--qmp-glob", metavar="PATTERN", default=DEFAULT_GLOB,
        help="which sockets of --qmp-dir are VMs (default: %(default)s)")
    fleet.add_argument(
        "--listen-each", metavar="TEMPLATE", action="append", default=[],
        help="serve each VM's HMP on its own listener: [telnet:|plain:]ENDPOINT with {vm} "
             "for the VM's name, e.g. plain:unix:/run/hmpbridge/{vm}.hmp; made when the VM "
             "appears, closed (its socket removed) when it goes; repeatable")
    fleet.add_argument(
        "--qmp-listen-each", metavar="TEMPLATE", action="append", default=[],
        help="serve each VM's QMP on its own listener, multiplexed onto that VM's "
             "connection: ENDPOINT with {vm}; repeatable")
    access = parser.add_argument_group(
        "access", "who may connect and what they may do (see docs/security.md)")
    access.add_argument(
        "--read-only-listen", metavar="ENDPOINT", action="append", default=[],
        help="serve HMP here to read-only users: only commands that read state run: "
             "[telnet:|plain:]ENDPOINT; repeatable")
    access.add_argument(
        "--qmp-read-only-listen", metavar="ENDPOINT", action="append", default=[],
        help="serve QMP here to read-only clients (query-* and other reading commands); "
             "repeatable")
    access.add_argument(
        "--password-file", metavar="FILE",
        help="HMP clients log in with a user name and password from FILE (made with "
             "hmpbridge-passwd); each user's role applies")
    access.add_argument(
        "--allow-remote", action="store_true",
        help="allow listening on a non-loopback address without TLS (tls:/ssl:) or "
             "--password-file; a warning is logged")
    access.add_argument(
        "--read-only-secrets", action="store_true",
        help="let read-only users read secrets (the 'data' property of secret objects, "
             "by qom-get over HMP or QMP; qom-list-get) and host addresses (gpa2hva, "
             "gpa2hpa); refused to them by default")
    access.add_argument(
        "--login-user-failures", metavar="N", type=_not_negative(int),
        default=throttle.USER_FAILURES,
        help="failed logins for one user name, from any client, within "
             "--login-failure-window before that name's logins are refused unchecked; "
             "0 for no limit (default: %(default)s)")
    access.add_argument(
        "--login-peer-failures", metavar="N", type=_not_negative(int),
        default=throttle.PEER_FAILURES,
        help="the same for one peer (a TCP client's host, a unix-socket client's uid), "
             "whatever user names it tries (default: %(default)s)")
    access.add_argument(
        "--login-failure-window", metavar="SECONDS", type=_positive(float),
        default=throttle.FAILURE_WINDOW,
        help="how long a failed login counts (default: %(default)s)")
    access.add_argument(
        "--audit-log", metavar="FILE",
        help="append one JSON line per command (who, what, the QMP sent, outcome, latency)")
    access.add_argument(
        "--audit-max-bytes", metavar="BYTES", type=int, default=10 * 1024 * 1024,
        help="rotate the audit log beyond this size, keeping 5 old files (default: 10 MiB)")
    access.add_argument(
        "--audit-fsync", action="store_true",
        help="fsync the audit log after every line (survives a host crash)")
    limits = parser.add_argument_group("limits", "protection against clients that misbehave")
    limits.add_argument(
        "--max-clients", metavar="N", type=_positive(int), default=Limits.max_clients,
        help="clients connected at once, all listeners together; more are told so and "
             "disconnected (default: %(default)s)")
    limits.add_argument(
        "--stall-timeout", metavar="SECONDS", type=_positive(float),
        default=Limits.stall_timeout,
        help="drop a client that leaves its output unread this long (default: %(default)s)")
    limits.add_argument(
        "--max-unread", metavar="BYTES", type=_positive(int), default=Limits.max_unread,
        help="drop a client once this much output waits for it (default: %(default)s)")
    limits.add_argument(
        "--max-dump", metavar="BYTES", type=_positive(int), default=MAX_DUMP,
        help="memory one x or xp line may dump for an operator, over HMP or inside "
             "human-monitor-command; a count without a size letter counts 8 bytes a unit, "
             "an instruction (/i) 16; up to 9.4 characters of text a byte, so keep it "
             "under a tenth of --max-unread (default: %(default)s)")
    limits.add_argument(
        "--read-only-max-dump", metavar="BYTES", type=_positive(int),
        default=READ_ONLY_MAX_DUMP,
        help="the same for read-only users (default: %(default)s)")
    limits.add_argument(
        "--max-save", metavar="BYTES", type=_not_negative(int), default=0,
        help="memory one memsave or pmemsave may write to a file (QEMU is busy meanwhile); "
             "0 for no limit (default: %(default)s)")
    limits.add_argument(
        "--max-reply", metavar="BYTES", type=_at_least(int, MIN_REPLY), default=MAX_REPLY,
        help="longest reply kept from QEMU; a longer one fails the command it answers "
             "(the connection and everyone else's commands carry on); at least "
             f"{MIN_REPLY}, room for QEMU's QMP schema (default: %(default)s)")
    limits.add_argument(
        "--qmp-max-message", metavar="BYTES", type=_positive(int), default=MAX_QMP_MESSAGE,
        help="largest message a client of a --qmp-listen endpoint may send "
             "(default: %(default)s)")
    limits.add_argument(
        "--qmp-read-only-max-message", metavar="BYTES", type=_positive(int),
        default=MAX_QMP_MESSAGE_READ_ONLY,
        help="the same for --qmp-read-only-listen endpoints (default: %(default)s)")
    parser.add_argument(
        "--timeout", metavar="CLASS=SECONDS", action="append", default=[],
        type=_timeout_option,
        help="how long a command may take before it prints an error, by class: query "
             "(reads, default 30), command (changes, default 60), long (migrate, savevm, "
             "dumps..., default 0 = no limit); repeatable")
    parser.add_argument(
        "--no-passthrough", action="store_true",
        help="never send human-monitor-command: commands QMP cannot express print an error")
    parser.add_argument(
        "--connect-timeout", metavar="SECONDS", type=float, default=10.0,
        help="seconds to reach and negotiate the QMP endpoint at start-up (default: 10)")
    parser.add_argument(
        "--qemu", metavar="PROGRAM", default=None,
        help=f"the QEMU to start when no --qmp is given (default: {DEFAULT_QEMU})")
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


async def serve(reactor: IReactor, options: argparse.Namespace) -> None:
    """Connect to (or start) QEMU, listen, and serve until stopped."""
    usage = fleet_usage(options)
    if usage:
        raise Fatal(EXIT_USAGE, usage)
    for warning in check_exposure(options, where_bound(reactor)):
        _log.warn("{warning}", warning=warning)
    if options.telnet_mode is not None:
        _log.warn("--telnet-mode is deprecated and ignored: each listener is a telnet: or "
                  "plain: chardev (see --help)")
    shared = _shared(reactor, options)
    shutdown = _Shutdown(reactor)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown.run)
    if options.qmp_dir is not None:
        directory = VMDirectory()
        fleet = _fleet(reactor, options, shared, directory)
        shutdown.ports = await _shared_listeners(reactor, options, shared, directory)
        fleet.startService()
        shutdown.fleet = fleet
        await Deferred()  # until the reactor stops (SIGINT/SIGTERM)
        return
    launcher: Optional[QEMULauncher] = None
    if options.qmp is None:
        launcher = QEMULauncher(reactor, options.qemu or DEFAULT_QEMU, options.qemu_arg)
        shutdown.launcher = launcher
        try:
            qmp = "unix:path=" + await launcher.start()
        except LaunchError as err:
            raise Fatal(EXIT_FAILURE, f"cannot start QEMU: {err}")
    else:
        qmp = qmp_endpoint_string(options.qmp)
    mux = _multiplexer(reactor, options, shared, qmp, "--qmp")
    mux.startService()
    try:
        await mux.when_ready(fail_after_failures=1)
    except Exception as err:  # noqa: BLE001 - any reason is reported the same way
        await deferLater(reactor, 0, mux.stopService)
        raise Fatal(EXIT_QMP_UNREACHABLE, f"cannot connect to QMP at {qmp}: {_reason(err)}")
    shutdown.mux = mux

    hmp_listeners = _hmp_specs(options, shared.users)
    qmp_listeners = [(d, "operator", options.qmp_max_message) for d in options.qmp_listen]
    qmp_listeners += [(d, READ_ONLY, options.qmp_read_only_max_message)
                      for d in options.qmp_read_only_listen]
    served = await serve_vm(reactor, options, shared, mux, hmp_listeners, qmp_listeners)
    shutdown.runner = served.runner
    shutdown.ports = served.ports

    if launcher is not None:
        status = await launcher.ended
        _log.info("QEMU exited with status {status}", status=status)
        await mux.stopService()
        return
    await Deferred()  # until the reactor stops (SIGINT/SIGTERM)


def _shared_listens(options: argparse.Namespace) -> List[str]:
    """The ``--listen`` endpoints: the default one when serving one VM and none is given."""
    if options.listen:
        return list(options.listen)
    return [] if options.qmp_dir is not None else [DEFAULT_LISTEN]


def fleet_usage(options: argparse.Namespace) -> str:
    """What is wrong with the options of ``--qmp-dir`` and its ``*-each`` listeners, or ``""``."""
    each = options.listen_each + options.qmp_listen_each
    if options.qmp_dir is None:
        if each:
            return "--listen-each and --qmp-listen-each serve the VMs of --qmp-dir; " \
                   "without it, use --listen and --qmp-listen"
        return ""
    if options.qmp is not None:
        return "--qmp and --qmp-dir exclude each other: --qmp serves one VM, --qmp-dir " \
               "every VM of a directory"
    shared = options.listen or options.events_listen or options.read_only_listen
    if not each and not shared:
        return "--qmp-dir needs a listener: --listen-each TEMPLATE or --qmp-listen-each " \
               "TEMPLATE, with {vm} for the VM's name " \
               "(e.g. --listen-each 'plain:unix:/run/hmpbridge/{vm}.hmp'), or a shared " \
               "--listen whose sessions choose a VM with '.vm NAME'"
    one_vm = [option for option, given in [
        ("--qmp-listen", options.qmp_listen),
        ("--qmp-read-only-listen", options.qmp_read_only_listen)] if given]
    if one_vm:
        return f"{one_vm[0]} serves one VM; with --qmp-dir, give each VM its own QMP " \
               "listener with --qmp-listen-each"
    if options.qemu is not None or options.qemu_arg:
        option = "--qemu" if options.qemu is not None else "--qemu-arg"
        return f"{option} starts a QEMU of hmpbridge's own, which --qmp-dir does not: " \
               "it serves the QEMUs whose sockets are in the directory"
    why = check_glob(options.qmp_glob)
    if why:
        return f"invalid --qmp-glob {options.qmp_glob!r}: {why}"
    directory = os.path.abspath(os.path.expanduser(options.qmp_dir))
    for option, templates in [("--listen-each", options.listen_each),
                              ("--qmp-listen-each", options.qmp_listen_each)]:
        for template in templates:
            why = check_template(template)
            if why:
                return f"invalid {option} {template!r}: {why}"
            endpoint = _hmp_listener(template).endpoint if option == "--listen-each" \
                else template
            if taken_for_vms(endpoint, directory, options.qmp_glob):
                return f"invalid {option} {template!r}: its sockets would be in --qmp-dir " \
                       "and match --qmp-glob, and be taken for VMs"
    return ""


@dataclass(frozen=True)
class _Shared:
    """What the listeners of every VM share: users, audit, history, limits, login guards."""

    users: Optional[PasswordFile]
    audit: Optional[AuditLog]
    history: Optional[FileHistoryStore]
    policy: Policy
    limits: Limits
    clients: ClientCount
    checks: Optional[PasswordChecks]
    guessing: throttle.LoginThrottle
    #: the schemas of the QEMU builds served, each decoded once for every VM of it
    schemas: SchemaStore = field(default_factory=SchemaStore)
    #: the turns at ``query-qmp-schema`` of the VMs connecting at once
    schema_turns: DeferredSemaphore = field(
        default_factory=lambda: DeferredSemaphore(SCHEMA_QUERIES))


def _shared(reactor: IReactor, options: argparse.Namespace) -> _Shared:
    users: Optional[PasswordFile] = None
    if options.password_file is not None:
        try:
            users = PasswordFile.load(options.password_file)
        except PasswordFileError as err:
            raise Fatal(EXIT_USAGE, str(err))
    audit: Optional[AuditLog] = None
    if options.audit_log is not None:
        try:
            audit = AuditLog(options.audit_log, max_bytes=options.audit_max_bytes,
                             fsync=options.audit_fsync)
            reactor.addSystemEventTrigger("after", "shutdown", audit.close)
        except OSError as err:
            raise Fatal(EXIT_USAGE, f"cannot open audit log {options.audit_log}: "
                                    f"{err.strerror}")
    history: Optional[FileHistoryStore] = None
    if options.state_dir is not None:
        try:
            history = FileHistoryStore(options.state_dir)
        except OSError as err:
            raise Fatal(EXIT_USAGE, f"cannot use state directory {options.state_dir}: "
                                    f"{err.strerror or err}")
    limits = Limits(max_clients=options.max_clients, stall_timeout=options.stall_timeout,
                    max_unread=options.max_unread)
    checks: Optional[PasswordChecks] = None
    if users is not None:
        checks = PasswordChecks(users, reactor)
        checks.start()
        reactor.addSystemEventTrigger("during", "shutdown", checks.stop)
    guessing = throttle.LoginThrottle(reactor, max_user_failures=options.login_user_failures,
                                      max_peer_failures=options.login_peer_failures,
                                      window=options.login_failure_window)
    return _Shared(users=users, audit=audit, history=history, policy=policy_of(options),
                   limits=limits, clients=ClientCount(limits.max_clients), checks=checks,
                   guessing=guessing)


def _multiplexer(reactor: IReactor, options: argparse.Namespace, shared: _Shared, qmp: str,
                 option: str, vm: str = "") -> QMPMultiplexer:
    """The QMP connection to ``qmp`` (not started)."""
    try:
        endpoint = clientFromString(reactor, qmp)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, KeyError) as err:
        raise Fatal(EXIT_USAGE, f"invalid {option} endpoint {qmp!r}: {err}")
    return QMPMultiplexer(endpoint, reactor, negotiation_timeout=options.connect_timeout,
                          max_reply=options.max_reply, hmp_version=options.hmp_version,
                          schemas=shared.schemas, schema_turns=shared.schema_turns, vm=vm)


#: An HMP listener to open: its description, whether events are on, who may use it.
HMPListenerSpec = Tuple[str, bool, ListenerAccess]
#: A QMP listener to open: its description, the role, the largest message.
QMPListenerSpec = Tuple[str, str, int]


@dataclass
class ServedVM:
    """What serves one VM: its runner, events and board, and its listening ports.

    :ivar directory: where the VM is listed for shared listeners (``--qmp-dir``).
    :ivar target: its entry there.
    """

    runner: CommandRunner
    hub: EventHub
    board: CommandBoard
    clock: IReactorTime
    ports: List[IListeningPort] = field(default_factory=list)
    directory: Optional[VMDirectory] = None
    target: Optional[VMTarget] = None

    def close(self) -> "Deferred[None]":
        """Leave the shared listeners' list, let the lines in flight finish (for
        :data:`DRAIN_TIMEOUT` seconds at most), then stop listening (Twisted
        removes the socket file of a unix listener)."""
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        if self.directory is not None and self.target is not None:
            self.directory.remove(self.target.name, self.target)
        await drain(self.runner, self.clock)
        ports, self.ports = self.ports, []
        for port in ports:
            await maybeDeferred(port.stopListening)


async def drain(runner: CommandRunner, clock: IReactorTime, vm: str = "") -> None:
    """Wait until ``runner``'s lines in flight are answered, :data:`DRAIN_TIMEOUT` at most."""
    if not runner.in_flight:
        return
    where = f" on VM {vm}" if vm else ""
    _log.info("Waiting for {count} command(s) in flight{where}", count=runner.in_flight,
              where=where)
    drained = runner.drain()
    drained.addTimeout(DRAIN_TIMEOUT, clock)
    try:
        await drained
    except Exception:  # noqa: BLE001 - timed out: stop anyway
        _log.warn("Stopping with {count} command(s) unanswered{where}",
                  count=runner.in_flight, where=where)
        return
    await deferLater(clock, 0.1, lambda: None)  # let the answers go out


async def _open_hmp(reactor: IReactor, shared: _Shared, spec: HMPListenerSpec,
                    runner: LineService, hub: Optional[EventHub], board: CommandBoard,
                    upstream: Optional[QMPMultiplexer] = None,
                    directory: Optional[VMDirectory] = None,
                    where: str = "") -> IListeningPort:
    """Listen on one HMP listener: a VM's (``runner`` a CommandRunner), or a shared
    one whose sessions choose a VM of ``directory``."""
    description, events_on, access = spec
    listener = _hmp_listener(description)
    factory = HMPServerFactory(
        runner, listener.endpoint, hub, events_on=events_on, access=access,
        upstream=upstream, chardev=listener.chardev, board=board,
        history=shared.history, limits=shared.limits, clients=shared.clients,
        throttle=shared.guessing, password_checks=shared.checks, vm_directory=directory)
    port = await _listen(reactor, listener.endpoint, factory)
    _log.info("Serving HMP{where} on {listener} ({chardev}, events {events}, "
              "{role}{login})", where=where, listener=listener.endpoint,
              chardev=listener.chardev, events="on" if events_on else "off",
              role=access.role, login=", login" if shared.users else "")
    return port


async def serve_vm(reactor: IReactor, options: argparse.Namespace, shared: _Shared,
                   mux: QMPMultiplexer, hmp_listeners: Sequence[HMPListenerSpec],
                   qmp_listeners: Sequence[QMPListenerSpec], vm: str = "",
                   directory: Optional[VMDirectory] = None) -> ServedVM:
    """Serve one VM on ``mux``: its runner, event hub and board, and its listeners;
    then list it in ``directory`` for the shared listeners.

    A listener that cannot be bound stops with :class:`Fatal`; the listeners
    already bound are closed first.
    """
    runner = CommandRunner(mux, passthrough=not options.no_passthrough,
                           timeouts=dict(options.timeout), audit=shared.audit,
                           policy=shared.policy)
    served = ServedVM(runner, EventHub(mux), CommandBoard(), reactor)
    where = f" for VM {vm}" if vm else ""
    try:
        for spec in hmp_listeners:
            served.ports.append(await _open_hmp(reactor, shared, spec, runner, served.hub,
                                                served.board, upstream=mux, where=where))
        for description, role, max_message in qmp_listeners:
            served.ports.append(await _listen(reactor, description, QMPServerFactory(
                mux, description, max_message=max_message, role=role, audit=shared.audit,
                clients=shared.clients, limits=shared.limits, policy=shared.policy, vm=vm)))
            _log.info("Serving QMP{where} on {listener} ({role})", where=where,
                      listener=description, role=role)
    except Fatal:
        if vm:
            await served.close()
        raise
    if directory is not None:
        served.directory = directory
        served.target = VMTarget(vm, runner, mux, served.hub, served.board)
        directory.add(served.target)
    return served


async def _shared_listeners(reactor: IReactor, options: argparse.Namespace, shared: _Shared,
                            directory: VMDirectory) -> List[IListeningPort]:
    """The ``--listen`` (``--events-listen``, ``--read-only-listen``) listeners of
    ``--qmp-dir``: each session chooses one of the VMs (``.vm NAME``)."""
    runner = NoVM(NO_VM, banner=lambda: gateway_banner(len(directory.targets)),
                  audit=shared.audit)
    ports: List[IListeningPort] = []
    try:
        for spec in _hmp_specs(options, shared.users):
            ports.append(await _open_hmp(reactor, shared, spec, runner, None, CommandBoard(),
                                         directory=directory, where=" for every VM"))
    except Fatal:
        for port in ports:
            await maybeDeferred(port.stopListening)
        raise
    return ports


def _hmp_specs(options: argparse.Namespace, users: Optional[PasswordFile]) -> List[
        HMPListenerSpec]:
    """``--listen``, ``--events-listen`` and ``--read-only-listen``, as listeners to open."""
    specs = [(d, False, ListenerAccess(users)) for d in _shared_listens(options)]
    specs += [(d, True, ListenerAccess(users)) for d in options.events_listen]
    specs += [(d, False, ListenerAccess(users, READ_ONLY)) for d in options.read_only_listen]
    return specs


def _fleet(reactor: IReactor, options: argparse.Namespace, shared: _Shared,
           vms: VMDirectory) -> Fleet:
    """The service that serves every VM of ``--qmp-dir`` (each listed in ``vms``)."""
    directory = os.path.abspath(os.path.expanduser(options.qmp_dir))
    if not os.path.isdir(directory):
        raise Fatal(EXIT_USAGE, f"--qmp-dir {options.qmp_dir}: not a directory")
    users = shared.users

    def make_vm(name: str, path: str) -> FleetVM:
        mux = _multiplexer(reactor, options, shared, qmp_endpoint_string(path), "--qmp-dir",
                           vm=name)
        hmp = [(render(t, name), False, ListenerAccess(users, vm=name))
               for t in options.listen_each]
        qmp = [(render(t, name), "operator", options.qmp_max_message)
               for t in options.qmp_listen_each]
        return FleetVM(name, path, mux,
                       lambda: serve_vm(reactor, options, shared, mux, hmp, qmp, vm=name,
                                        directory=vms))
    return Fleet(directory, make_vm, watch_for(directory, reactor), reactor,
                 pattern=options.qmp_glob)


#: Seconds a shutdown waits for commands in flight to be answered.
DRAIN_TIMEOUT = 5.0


class _Shutdown:
    """Stops the parts in order: answer what is in flight, stop listening, then QEMU.

    Commands in flight get :data:`DRAIN_TIMEOUT` seconds and their answers a
    moment to reach the clients before the QMP connection closes and a QEMU
    of our own is stopped.
    """

    def __init__(self, reactor: IReactor) -> None:
        self.reactor = reactor
        self.runner: Optional[CommandRunner] = None
        self.ports: List[IListeningPort] = []
        self.mux: Optional[QMPMultiplexer] = None
        self.launcher: Optional[QEMULauncher] = None
        self.fleet: Optional[Fleet] = None

    def run(self) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._run())

    async def _run(self) -> None:
        if self.runner is not None:
            await drain(self.runner, self.reactor)
        for port in self.ports:
            await maybeDeferred(port.stopListening)
        if self.fleet is not None:
            await self.fleet.stopService()
        if self.mux is not None:
            await maybeDeferred(self.mux.stopService)
        if self.launcher is not None:
            await maybeDeferred(self.launcher.stop)


def _hmp_listener(description: str) -> HMPListener:
    """An HMP listener's kind and endpoint, or stop with the reason."""
    try:
        return hmp_listener(description)
    except ValueError as err:
        raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: {err}")


async def _listen(reactor: IReactor, description: str,
                  factory: Union[HMPServerFactory, QMPServerFactory]) -> IListeningPort:
    """Bind one endpoint, or stop with the reason."""
    serving: IProtocolFactory = factory
    try:
        if endpoint_kind(description) == tls.PREFIX:
            server = tls.tls_server_endpoint(reactor, description)
            serving = tls.CertificateIdentity(factory, factory.identified)
        else:
            server = serverFromString(  # type: ignore[no-untyped-call]  # unannotated in Twisted
                reactor, with_backlog(description))
    except ImportError as err:
        raise Fatal(EXIT_USAGE, f"{description}: TLS needs pyOpenSSL "
                                f"(pip install 'hmpbridge[tls]'): {err}")
    except OSError as err:
        raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: {err}")
    except (ValueError, TypeError, KeyError) as err:
        raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: {err}")
    try:
        return await server.listen(serving)
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


def _run(reactor: IReactor, options: argparse.Namespace) -> "Deferred[None]":
    d = Deferred.fromCoroutine(serve(reactor, options))

    def fatal(failure: Failure) -> Failure:
        error = failure.value
        if isinstance(error, Fatal):
            sys.stderr.write(f"hmpbridge: {error.message}\n")
            raise SystemExit(error.status)
        return failure
    return d.addErrback(fatal)


def policy_of(options: argparse.Namespace) -> Policy:
    """What one line may ask of QEMU, from the command line."""
    return Policy(max_dump=options.max_dump, read_only_max_dump=options.read_only_max_dump,
                  max_save=options.max_save, read_only_secrets=options.read_only_secrets)


def _not_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}")
        if number < 0:
            raise argparse.ArgumentTypeError("may not be negative")
        return number
    return convert


def _at_least(kind: Callable[[str], Any], least: int) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}")
        if number < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}")
        return number
    return convert


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}")
        if number <= 0:
            raise argparse.ArgumentTypeError("must be more than 0")
        return number
    return convert


def _raise_file_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` descriptors, as far as the hard limit allows."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the limit we were given


def _timeout_option(value: str) -> Tuple[str, float]:
    name, sep, seconds = value.partition("=")
    if not sep or name not in TIMEOUT_CLASSES:
        raise argparse.ArgumentTypeError(
            f"expected CLASS=SECONDS with CLASS one of {', '.join(TIMEOUT_CLASSES)}")
    try:
        number = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {seconds!r}")
    if number < 0:
        raise argparse.ArgumentTypeError("seconds may not be negative")
    return name, number


def check_exposure(options: argparse.Namespace,
                   bound_as: Callable[[str], str] = str) -> List[str]:
    """Refuse (Fatal) or warn about listeners reachable from other hosts; the warnings.

    Each endpoint is read as Twisted reads it (:func:`hmpbridge.endpoints.exposure`):
    only a unix socket, standard I/O or a canonical loopback literal is local.
    A remote listener needs a guard: client certificates (``tls:`` with
    ``caCerts``) or, for HMP, a password file; TLS without client
    certificates (``ssl:``, Twisted's ``TLS:``) only encrypts.
    ``--allow-remote`` accepts any remote listener, with a warning.
    ``bound_as`` reads where an endpoint binds (a ``systemd:`` one: where its
    inherited socket is, :func:`hmpbridge.inherited.where_bound`).
    """
    warnings = []
    shared = _shared_listens(options)
    hmp = shared + options.events_listen + options.read_only_listen + options.listen_each
    qmp = options.qmp_listen + options.qmp_read_only_listen + options.qmp_listen_each
    plugins = _server_plugins()
    hmp = [_hmp_listener(description).endpoint for description in hmp]
    for description in hmp + qmp:
        try:
            seen = exposure(bound_as(description), plugins)
        except ValueError as err:
            raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: {err}")
        if seen.kind == "unknown":
            raise Fatal(EXIT_USAGE, f"invalid listen endpoint {description!r}: unknown "
                                    "endpoint type, or a field given twice")
        if seen.local:
            continue
        guarded = seen.client_certificates or (
            options.password_file is not None and description in hmp)
        if not guarded and not options.allow_remote:
            where = f"{seen.kind} on {_interface_text(seen.interface)}"
            raise Fatal(EXIT_USAGE, f"{description} is reachable from other hosts ({where}) "
                                    "without authentication; use a tls: endpoint with "
                                    "caCerts or --password-file, or pass --allow-remote")
        if not seen.encrypted:
            warnings.append(f"{description} is reachable from other hosts and not encrypted")
        elif not guarded:
            warnings.append(f"{description} is reachable from other hosts without "
                            "authentication")
    return warnings


def _server_plugins() -> Tuple[str, ...]:
    """The prefixes of the server endpoint plugins Twisted finds, in lower case."""
    from twisted.internet.interfaces import IStreamServerEndpointStringParser
    from twisted.plugin import getPlugins

    return tuple(str(plugin.prefix).lower()
                 for plugin in getPlugins(IStreamServerEndpointStringParser))


def _interface_text(interface: Optional[str]) -> str:
    if interface is None:
        return "an address it inherits"
    if interface in ("", "0.0.0.0", "::"):
        return "every address"
    return repr(interface)


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of the ``hmpbridge`` command."""
    options = build_parser().parse_args(argv)
    # Room to decode, forward and re-encode QMP messages nested as deep as QEMU allows.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_NESTING))
    _raise_file_limit(options.max_clients + 256 +
                      (FLEET_DESCRIPTORS if options.qmp_dir is not None else 0))
    _start_logging(options.log_level)
    react(_run, [options])
