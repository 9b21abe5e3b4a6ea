"""Run one HMP line: parse it, carry it out over QMP, return the text to print.

:class:`CommandRunner` is shared by every session.  It knows nothing of bytes
or transports; sessions hand it a line and their :class:`SessionState`, and get
back a Deferred that always fires with text (errors are already rendered in
QEMU's wording), never with a failure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from hmpbridge import handlers
from hmpbridge.access import DEFAULT_POLICY, OPERATOR, Policy, hmp_allowed, hmp_denial, line_limit
from hmpbridge.audit import AuditLog
from hmpbridge.audit import record as audit_record
from hmpbridge.commands import NATIVE, XQUERY, timeout_class
from hmpbridge.errors import (
    CommandTimeout,
    HMPBridgeError,
    ParseError,
    QMPCommandError,
    QMPDisconnected,
    QMPError,
    QMPNotConnected,
)
from hmpbridge.handlers import Context, HandlerResult
from hmpbridge.handlers.passthrough import HMC, passthrough
from hmpbridge.handlers.session_cmds import resolve_format
from hmpbridge.history import remember
from hmpbridge.hmp_parser import parser_for
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.model import Delay, Invocation, PrintDefaults, SessionState
from hmpbridge.render.errors import render_error

if TYPE_CHECKING:
    from hmpbridge.access import Identity

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
    """The bookkeeping of one line while it runs."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.sent: List[Mapping[str, Any]] = []
        self.outcome = "ok"
        self.current = ""
        self.abandoned = False


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
        self._executor = executor
        self.policy = policy or DEFAULT_POLICY
        self._passthrough = passthrough
        if clock is None:
            from twisted.internet import reactor
            clock = reactor
        self._clock: IReactorTime = clock
        self.timeouts: Dict[str, float] = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._audit = audit
        #: QEMU keeps one default ``/fmt`` for all its monitors; every ``/fmt`` updates it.
        self.print_defaults = PrintDefaults()
        self._running: Set["Deferred[str]"] = set()
        self._idle: List["Deferred[None]"] = []

    def banner(self) -> str:
        """The banner a new session is greeted with."""
        return banner_text(self._executor.greeting)

    def qemu_name(self) -> str:
        """``QEMU 7.2.22``: the QEMU commands go to."""
        return qemu_name(self._executor.greeting)

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
        """Run one line for a session; fires with the text to print (maybe "")."""
        remember(state, line)
        job = _Run(self._clock.seconds())
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
        profile = self._executor.profile
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
        ctx = Context(state=state, schema_commands=self._executor.schema_commands,
                      passthrough=self._passthrough,
                      chardevs_at_connect=self._executor.chardevs_at_connect,
                      profile=profile, print_defaults=self.print_defaults)
        result: "Deferred[str]" = Deferred()
        limit = self.timeouts.get(timeout_class(inv.spec), 0.0)
        timer = self._clock.callLater(limit, self._expire, result, limit, inv, job) \
            if limit > 0 else None

        def finish(text: str) -> None:
            if timer is not None and timer.active():
                timer.cancel()
            if not result.called:
                result.callback(text)

        _Stepper(self._executor, self._clock, self._audit is not None, inv, job,
                 finish).start(self.handler_for(inv), ctx)
        return result

    def _expire(self, result: "Deferred[str]", limit: float, inv: Invocation,
                job: _Run) -> None:
        """The line's time is up: answer with the timeout; later replies are dropped."""
        job.abandoned = True
        job.outcome = "timeout"
        self._log.warn("{line!r} timed out after {seconds} s waiting for {command}",
                       line=inv.line, seconds=limit, command=job.current or inv.spec.key)
        result.callback(render_error(CommandTimeout(job.current or inv.spec.key, limit)))

    def _record(self, line: str, state: SessionState, job: _Run) -> None:
        if job.outcome == "empty":
            return
        self.audit(state.identity, {"hmp": line}, job.outcome, sent=job.sent,
                   latency=self._clock.seconds() - job.started)

    def audit(self, identity: Optional["Identity"], received: Mapping[str, Any], outcome: str,
              sent: Sequence[Mapping[str, Any]] = (), latency: float = 0.0) -> None:
        """Write one audit record, when auditing: for what :meth:`run` does not see.

        Sessions record their own ``.`` commands here and the login exchange
        each attempt (``{"login": name}``: the name tried, never the password).
        """
        if self._audit is None:
            return
        try:
            self._audit.write(audit_record(identity=identity, received=received,
                                           sent=list(sent), outcome=outcome, latency=latency))
        except OSError as err:
            self._log.error("Cannot write the audit log: {error}", error=err)

    def handler_for(self, inv: Invocation) -> Runnable:
        """The handler that carries out ``inv`` under its command's strategy."""
        if inv.needs_registers:
            return passthrough
        # a passthrough command may still have a handler of its own, which
        # adapts the line for the QEMU served (singlestep over 8.1 and later)
        handler = handlers.handler_for(inv.spec)
        if handler is None:
            return passthrough
        if inv.spec.strategy in (NATIVE, XQUERY) and not _schema_has(inv, self._executor):
            removed = handlers.removed_handler_for(inv.spec, self._executor.profile.qemu)
            if removed is not None:
                return removed
            # this QEMU lacks the QMP command: its own monitor may still know the line
            schema = self._executor.schema_commands or frozenset()
            return passthrough if HMC in schema and self._passthrough else unavailable
        return handler


class _Stepper:
    """Steps one handler's generator, executing each QMP command it yields.

    Each answer resumes the generator from the executor's callback, with no
    coroutine or extra Deferred per line; an answer that is already there
    (a synchronous executor) is taken in the same loop, so a handler that
    sends many commands does not recurse.  ``finish`` gets the text exactly
    once, unless the line was abandoned (timed out) first.
    """

    _log = Logger(namespace="hmpbridge.runner.CommandRunner")

    def __init__(self, executor: CommandExecutor, clock: IReactorTime, audited: bool,
                 inv: Invocation, job: _Run, finish: Callable[[str], None]) -> None:
        self._executor = executor
        self._clock = clock
        self._audited = audited
        self._inv = inv
        self._job = job
        self._finish = finish
        self._gen: Optional[HandlerResult] = None
        self._stepping = False
        self._ready: Optional[Tuple[Any, Optional[BaseException]]] = None

    def start(self, handler: Runnable, ctx: Context) -> None:
        """Call the handler and run it up to its first pending answer."""
        try:
            gen = handler(self._inv, ctx)
        except Exception as err:  # noqa: BLE001 - a session must never see a traceback
            self._failed(err)
            return
        if isinstance(gen, str):  # a handler that needs no QMP may return text
            self._finish(gen)
            return
        self._gen = gen
        self._step(None, None)

    def _step(self, value: Any, error: Optional[BaseException]) -> None:
        assert self._gen is not None
        job = self._job
        self._stepping = True
        try:
            while True:
                if job.abandoned:  # timed out: the answer is no longer wanted
                    self._gen.close()
                    return
                try:
                    command = self._gen.throw(error) if error is not None \
                        else self._gen.send(value)
                except StopIteration as stop:
                    self._finish(str(stop.value or ""))
                    return
                except Exception as err:  # noqa: BLE001 - rendered, never raised
                    self._failed(err)
                    return
                if isinstance(command, Delay):
                    d: "Deferred[Any]" = deferLater(self._clock, command.seconds)
                else:
                    if self._audited:
                        job.sent.append(command.to_dict())
                    job.current = command.execute
                    try:
                        d = self._executor.execute(command)
                    except Exception as err:  # noqa: BLE001 - an answer like any other
                        d = fail(err)
                d.addCallbacks(self._answered, self._refused)
                if self._ready is None:
                    return  # resumed by the callback when the answer comes
                (value, error), self._ready = self._ready, None
        finally:
            self._stepping = False

    def _resume(self, value: Any, error: Optional[BaseException]) -> None:
        if self._stepping:
            self._ready = (value, error)
        else:
            self._step(value, error)

    def _answered(self, value: Any) -> None:
        self._resume(value, None)

    def _refused(self, failure: Failure) -> None:
        if isinstance(failure.value, QMPError):
            self._resume(None, failure.value)
        elif self._job.abandoned:
            assert self._gen is not None
            self._gen.close()
        else:
            assert self._gen is not None and failure.value is not None
            self._gen.close()
            self._failed(failure.value, failure)

    def _failed(self, err: BaseException, failure: Optional[Failure] = None) -> None:
        """End the line with ``err`` rendered; log it unless it is one of ours.

        Without ``failure``, this is called while ``err`` is being handled.
        """
        if isinstance(err, HMPBridgeError):
            self._job.outcome = _outcome(err)
        else:
            self._job.outcome = "internal-error"
            self._log.failure("Handler for {line!r} failed", failure=failure,
                                      line=self._inv.line)
        self._finish(render_error(err))


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

