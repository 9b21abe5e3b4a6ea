"""Run one HMP line: parse it, carry it out over QMP, return the text to print.

:class:`CommandRunner` is shared by every session.  It knows nothing of bytes
or transports; sessions hand it a line and their :class:`SessionState`, and get
back a Deferred that always fires with text (errors are already rendered in
QEMU's wording), never with a failure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from hmpbridge import handlers
from hmpbridge.commands import NATIVE, PASSTHROUGH, XQUERY
from hmpbridge.errors import HMPBridgeError, ParseError, QMPError
from hmpbridge.handlers import HANDLERS, Context, Handler, HandlerResult
from hmpbridge.handlers.passthrough import HMC, passthrough
from hmpbridge.handlers.session_cmds import PRINT_DEFAULTS, resolve_format
from hmpbridge.hmp_parser import parse
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.model import Delay, Invocation, SessionState
from hmpbridge.render.errors import render_error

__all__ = ["CommandRunner", "HISTORY_SIZE", "banner_text"]

#: QEMU's readline keeps 64 lines of history per monitor.
HISTORY_SIZE = 64

handlers._load_all()


def banner_text(greeting: Optional[Any]) -> str:
    """QEMU's monitor banner for the QEMU that sent ``greeting`` (its ``QMP`` member)."""
    version = "unknown"
    if greeting:
        qemu = greeting.get("version", {}).get("qemu", {})
        version = f"{qemu.get('major', 0)}.{qemu.get('minor', 0)}.{qemu.get('micro', 0)}"
    return f"QEMU {version} monitor - type 'help' for more information\n"


def remember(state: SessionState, line: str) -> None:
    """Add ``line`` to the session's history the way QEMU's readline does.

    Blank lines are not kept, a repeated line moves to the end, and only the
    last :data:`HISTORY_SIZE` lines are kept.
    """
    if not line.strip():
        return
    if line in state.history:
        state.history.remove(line)
    state.history.append(line)
    del state.history[:-HISTORY_SIZE]


class CommandRunner:
    """Parses and runs HMP lines against one :class:`CommandExecutor`.

    :param executor: where QMP commands go (the multiplexer).
    :param passthrough: whether ``human-monitor-command`` may be used for
        the commands QMP cannot express.
    :param clock: what a handler's :class:`~hmpbridge.model.Delay` waits on
        (the reactor when None).
    """

    _log = Logger()

    def __init__(self, executor: CommandExecutor, passthrough: bool = True,
                 clock: Optional[IReactorTime] = None) -> None:
        self._executor = executor
        self._passthrough = passthrough
        if clock is None:
            from twisted.internet import reactor as clock  # type: ignore[assignment]
        self._clock: IReactorTime = clock  # type: ignore[assignment]

    def banner(self) -> str:
        """The banner a new session is greeted with."""
        return banner_text(self._executor.greeting)

    def run(self, line: str, state: SessionState) -> "Deferred[str]":
        """Run one line for a session; fires with the text to print (maybe "")."""
        remember(state, line)
        try:
            inv = parse(line)
        except ParseError as err:
            if err.fmt is not None:
                resolve_format(err.fmt, PRINT_DEFAULTS)
            return Deferred.fromCoroutine(_const(err.text))
        if inv is None:
            return Deferred.fromCoroutine(_const(""))
        if any(item.type == "/" for item in inv.spec.items):
            # QEMU keeps one default /fmt for all monitors; every /fmt updates it.
            inv = replace(inv, args={**inv.args, "format": resolve_format(
                inv.args.get("fmt"), PRINT_DEFAULTS)})
        ctx = Context(state=state, schema_commands=self._executor.schema_commands,
                      passthrough=self._passthrough)
        return Deferred.fromCoroutine(self._drive(self.handler_for(inv), inv, ctx))

    def handler_for(self, inv: Invocation) -> Handler:
        """The handler that carries out ``inv`` under its command's strategy."""
        if inv.needs_registers:
            return passthrough
        handler = HANDLERS.get(inv.spec.key)
        if handler is None or inv.spec.strategy == PASSTHROUGH:
            return passthrough
        if inv.spec.strategy in (NATIVE, XQUERY) and not _schema_has(inv, self._executor):
            # this QEMU lacks the QMP command: its own monitor may still know the line
            schema = self._executor.schema_commands or frozenset()
            return passthrough if HMC in schema and self._passthrough else unavailable
        return handler

    async def _drive(self, handler: Handler, inv: Invocation, ctx: Context) -> str:
        """Step the handler's generator, executing each QMP command it yields."""
        try:
            gen: HandlerResult = handler(inv, ctx)
            if isinstance(gen, str):  # a handler that needs no QMP may return text
                return gen
            value: Any = None
            error: Optional[BaseException] = None
            while True:
                try:
                    command = gen.throw(error) if error is not None else gen.send(value)
                except StopIteration as stop:
                    return str(stop.value or "")
                if isinstance(command, Delay):
                    await deferLater(self._clock, command.seconds)
                    value, error = None, None
                    continue
                try:
                    value, error = await self._executor.execute(command), None
                except QMPError as err:
                    value, error = None, err
        except HMPBridgeError as err:
            return render_error(err)
        except Exception as err:  # noqa: BLE001 - a session must never see a traceback
            self._log.failure("Handler for {line!r} failed", line=inv.line)
            return render_error(err)


def _schema_has(inv: Invocation, executor: CommandExecutor) -> bool:
    schema = executor.schema_commands
    return schema is None or not inv.spec.qmp or inv.spec.qmp[0] in schema


def unavailable(inv: Invocation, ctx: Context) -> str:
    """What a command prints when the connected QEMU cannot carry it out."""
    return (f"Error: '{inv.spec.key}' is not available: this QEMU has no QMP command "
            f"'{inv.spec.qmp[0]}'\n")


async def _const(text: str) -> str:
    return text
