"""Run one HMP line: parse it, carry it out over QMP, return the text to print.

:class:`CommandRunner` is shared by every session.  It knows nothing of bytes
or transports; sessions hand it a line and their :class:`SessionState`, and get
back a Deferred that always fires with text (errors are already rendered in
QEMU's wording), never with a failure.  For each line it parses, authorises
(:mod:`hmpbridge.access`), picks the handler, drives it over QMP
(:mod:`hmpbridge.driver`), renders the outcome and writes the audit record;
what a session keeps between lines (its history, its queue, its board entry)
is the session's own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Union

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge import handlers
from hmpbridge.access import DEFAULT_POLICY, OPERATOR, Policy, hmp_allowed, hmp_denial, line_limit
from hmpbridge.audit import AuditLog, audit_to
from hmpbridge.commands import NATIVE, XQUERY, timeout_class
from hmpbridge.errors import (
    CommandTimeout,
    HMPBridgeError,
    ParseError,
    QMPCommandError,
    QMPDisconnected,
    QMPNotConnected,
)
from hmpbridge.handlers import Context, HandlerResult
from hmpbridge.handlers.passthrough import HMC, passthrough
from hmpbridge.handlers.session_cmds import resolve_format
from hmpbridge.hmp_parser import parser_for
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.driver import drive
from hmpbridge.model import Invocation, PrintDefaults, QMPCommand, SessionState
from hmpbridge.render.errors import render_error

if TYPE_CHECKING:
    from hmpbridge.model import Identity

__all__ = ["CommandRunner", "DEFAULT_TIMEOUTS", "banner_text"]

#: What the runner drives: a handler, or a function that answers at once with text
#: (:func:`unavailable`).
Runnable = Callable[[Invocation, Context], Union[HandlerResult, str]]

handlers._load_all()


def qemu_name(greeting: Optional[Any]) -> str:
    """``QEMU 7.2.22``: the QEMU that sent ``greeting`` (its ``QMP`` member)."""
    version = "unknown"
    if greeting:
        qemu = greeting.get("version", {}).get("qemu", {})
        version = f"{qemu.get('major', 0)}.{qemu.get('minor', 0)}.{qemu.get('micro', 0)}"
    return f"QEMU {version}"


def banner_text(greeting: Optional[Any]) -> str:
    """QEMU's monitor banner for the QEMU that sent ``greeting``."""
    return f"{qemu_name(greeting)} monitor - type 'help' for more information\n"


#: Default seconds a whole HMP command may take, by timeout class (0: no limit).
DEFAULT_TIMEOUTS: Mapping[str, float] = {"query": 30.0, "command": 60.0, "long": 0.0}


class _Run:
    """What the audit record of one line needs, gathered while it runs."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.sent: List[Mapping[str, Any]] = []
        self.outcome = "ok"

    def sending(self, command: QMPCommand) -> None:
        """``command`` goes to QEMU (audited as sent)."""
        self.sent.append(command.to_dict())


class CommandRunner:
    """Parses and runs HMP lines against one :class:`CommandExecutor`.

    :param executor: where QMP commands go (the multiplexer).
    :param passthrough: whether ``human-monitor-command`` may be used for
        the commands QMP cannot express.
    :param clock: what delays and timeouts use (the reactor when None).
    :param timeouts: seconds per timeout class (see
        :func:`hmpbridge.commands.timeout_class`); a command that takes longer
        prints an error and its late replies are dropped.
    :param audit: where each line's audit record goes (None: not audited).
    :param policy: what one line may ask of QEMU (dump sizes, secrets), by role.
    """

    _log = Logger()

    def __init__(self, executor: CommandExecutor, passthrough: bool = True,
                 clock: Optional[IReactorTime] = None,
                 timeouts: Optional[Mapping[str, float]] = None,
                 audit: Optional[AuditLog] = None,
                 policy: Optional[Policy] = None) -> None:
        #: where QMP commands go; also what sessions ask for completion
        self.executor: CommandExecutor = executor
        #: what one line may ask of QEMU, by role
        self.policy: Policy = policy or DEFAULT_POLICY
        #: whether ``human-monitor-command`` may carry what QMP cannot express
        self.passthrough: bool = passthrough
        if clock is None:
            from twisted.internet import reactor
            clock = reactor
        #: what pauses and timeouts wait on
        self.clock: IReactorTime = clock
        #: seconds per timeout class (0: no limit)
        self.timeouts: Dict[str, float] = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._audit = audit
        #: QEMU keeps one default ``/fmt`` for all its monitors; every ``/fmt`` updates it.
        self.print_defaults = PrintDefaults()
        self._running: Set["Deferred[str]"] = set()
        self._idle: List["Deferred[None]"] = []

    def banner(self) -> str:
        """The banner a new session is greeted with."""
        return banner_text(self.executor.greeting)

    def qemu_name(self) -> str:
        """``QEMU 7.2.22``: the QEMU commands go to."""
        return qemu_name(self.executor.greeting)

    @property
    def in_flight(self) -> int:
        """How many lines are running now."""
        return len(self._running)

    def drain(self) -> "Deferred[None]":
        """Fires once no line is running (at once when none is)."""
        d: "Deferred[None]" = Deferred()
        if self._running:
            self._idle.append(d)
        else:
            d.callback(None)
        return d

    def run(self, line: str, state: SessionState) -> "Deferred[str]":
        """Run one line for a session; fires with the text to print (maybe "").

        ``state`` is read and changed by the line's handler (``cpu N``), never
        kept: the session adds the line to its history itself, at Enter.
        """
        job = _Run(self.clock.seconds())
        d = self._start(line, state, job)
        self._running.add(d)

        def finished(text: str) -> str:
            self._running.discard(d)
            self._record(line, state, job)
            if not self._running:
                idle, self._idle = self._idle, []
                for waiter in idle:
                    waiter.callback(None)
            return text
        return d.addCallback(finished)

    def _start(self, line: str, state: SessionState, job: _Run) -> "Deferred[str]":
        profile = self.executor.profile
        try:
            inv = parser_for(profile.table).parse(line)
        except ParseError as err:
            if err.fmt is not None:
                resolve_format(err.fmt, self.print_defaults)
            job.outcome = "parse-error"
            return succeed(err.text)
        if inv is None:
            job.outcome = "empty"
            return succeed("")
        if not inv.spec.available_on(profile.table.target):
            # QEMU finds another target's command and refuses it so
            job.outcome = "unavailable"
            return succeed(f"Command '{inv.spec.name}' not available until machine "
                           "initialization has completed.\n")
        identity = state.identity
        if identity is not None and not hmp_allowed(inv, identity.role):
            job.outcome = "denied"
            self._log.warn("Denied {line!r} to {user} ({role}) on {listener}", line=line,
                           user=identity.name, role=identity.role, listener=identity.listener)
            return succeed(hmp_denial(inv.spec, identity))
        role = identity.role if identity is not None else OPERATOR
        who = f"'{identity.name}' is {role}" if identity is not None else f"this client is {role}"
        limited = line_limit(inv, role, self.policy, who)
        if limited is not None:
            job.outcome = "denied"
            self._log.warn("Refused {line!r} to {user} ({role}): {reason}", line=line,
                           user=identity.name if identity is not None else "-", role=role,
                           reason=limited)
            return succeed(f"Error: {limited}\n")
        if any(item.type == "/" for item in inv.spec.items):
            # QEMU keeps one default /fmt for all monitors; every /fmt updates it.
            inv = replace(inv, args={**inv.args, "format": resolve_format(
                inv.args.get("fmt"), self.print_defaults)})
        ctx = Context(state=state, schema_commands=self.executor.schema_commands,
                      passthrough=self.passthrough,
                      chardevs_at_connect=self.executor.chardevs_at_connect,
                      profile=profile, print_defaults=self.print_defaults)
        try:
            steps = self.handler_for(inv)(inv, ctx)
        except Exception as err:  # noqa: BLE001 - a session must never see a traceback
            return succeed(self._failed(err, None, inv, job))
        if isinstance(steps, str):  # a handler that needs no QMP may return text
            return succeed(steps)
        answer = drive(steps, self.executor.execute, self.clock,
                       timeout=self.timeouts.get(timeout_class(inv.spec), 0.0),
                       label=inv.spec.key,
                       sent=job.sending if self._audit is not None else None)
        return answer.addCallbacks(
            lambda text: str(text or ""),
            lambda failure: self._failed(failure.value or Exception(), failure, inv, job))

    def _failed(self, err: BaseException, failure: Optional[Failure], inv: Invocation,
                job: _Run) -> str:
        """The text of the error that ended ``inv``; logged unless it is one of ours.

        Without ``failure``, this is called while ``err`` is being handled.
        """
        if isinstance(err, CommandTimeout):
            self._log.warn("{line!r} timed out after {seconds} s waiting for {command}",
                           line=inv.line, seconds=err.seconds, command=err.command)
        if isinstance(err, HMPBridgeError):
            job.outcome = _outcome(err)
        else:
            job.outcome = "internal-error"
            self._log.failure("Handler for {line!r} failed", failure=failure, line=inv.line)
        return render_error(err)

    def _record(self, line: str, state: SessionState, job: _Run) -> None:
        if job.outcome == "empty":
            return
        self.audit(state.identity, {"hmp": line}, job.outcome, sent=job.sent,
                   latency=self.clock.seconds() - job.started)

    def audit(self, identity: Optional["Identity"], received: Mapping[str, Any], outcome: str,
              sent: Sequence[Mapping[str, Any]] = (), latency: float = 0.0) -> None:
        """Write one audit record, when auditing: for what :meth:`run` does not see.

        Sessions record their own ``.`` commands here and the login exchange
        each attempt (``{"login": name}``: the name tried, never the password).
        """
        audit_to(self._audit, identity, received, outcome, sent=sent, latency=latency)

    def handler_for(self, inv: Invocation) -> Runnable:
        """The handler that carries out ``inv`` under its command's strategy."""
        if inv.needs_registers:
            return passthrough
        # a passthrough command may still have a handler of its own, which
        # adapts the line for the QEMU served (singlestep over 8.1 and later)
        handler = handlers.handler_for(inv.spec)
        if handler is None:
            return passthrough
        if inv.spec.strategy in (NATIVE, XQUERY) and not _schema_has(inv, self.executor):
            removed = handlers.removed_handler_for(inv.spec, self.executor.profile.qemu)
            if removed is not None:
                return removed
            # this QEMU lacks the QMP command: its own monitor may still know the line
            schema = self.executor.schema_commands or frozenset()
            return passthrough if HMC in schema and self.passthrough else unavailable
        return handler


def _outcome(err: BaseException) -> str:
    """The audit outcome of an error that ended a command."""
    if isinstance(err, QMPCommandError):
        return f"error:{err.error_class}"
    if isinstance(err, QMPDisconnected):
        return "disconnected"
    if isinstance(err, QMPNotConnected):
        return "not-connected"
    if isinstance(err, CommandTimeout):
        return "timeout"
    return "error"


def _schema_has(inv: Invocation, executor: CommandExecutor) -> bool:
    schema = executor.schema_commands
    return schema is None or not inv.spec.qmp or any(
        name in schema for name in inv.spec.qmp[0].split("|"))


def unavailable(inv: Invocation, ctx: Context) -> str:
    """What a command prints when the connected QEMU cannot carry it out."""
    return (f"Error: '{inv.spec.key}' is not available: this QEMU has no QMP command "
            f"'{inv.spec.qmp[0].split('|')[0]}'\n")

