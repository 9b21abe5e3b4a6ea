"""Command handlers: pure generators from an :class:`Invocation` to HMP text.

A handler is a generator function ``handler(inv, ctx)``.  It *yields*
:class:`~hmpbridge.model.QMPCommand` objects and receives each command's
``return`` value back from the ``yield``; when QEMU answers with an error, the
:class:`~hmpbridge.errors.QMPCommandError` is raised at the ``yield`` so the
handler may catch it (``stop`` ignores errors, as HMP does).  An uncaught
error is printed by the runner as ``Error: <desc>``.  The generator *returns*
the text to print, ``"\\n"``-terminated lines (``""`` for nothing).  A handler
that must wait (polling a job it started) yields a :class:`~hmpbridge.model.Delay`
instead of a command; ``None`` comes back after the pause.

Handlers never touch the reactor: :func:`drive` runs one synchronously against
canned replies, and :mod:`hmpbridge.runner` drives them over QMP with
:mod:`hmpbridge.driver`; both step them with :class:`hmpbridge.stepping.Stepper`.
Importing this package registers every handler module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Generator, Optional, Tuple, Union

from hmpbridge.commands import CommandSpec
from hmpbridge.errors import QMPCommandError
from hmpbridge.model import Delay, Invocation, PrintDefaults, QMPCommand, SessionState
from hmpbridge.profile import DEFAULT_PROFILE, QemuProfile
from hmpbridge.stepping import run_sync

__all__ = ["Context", "HandlerResult", "Handler", "HANDLERS", "handler", "handler_for",
           "strategy_handler", "when_removed", "removed_handler_for", "HELP_FORMS",
           "help_form", "asks_for_help", "drive", "send", "send_quietly", "send_bare"]

HandlerResult = Generator[Union[QMPCommand, Delay], Any, str]


@dataclass
class Context:
    """What a handler may know besides its arguments.

    :ivar state: the session's state (current CPU, history, ...).
    :ivar schema_commands: QMP commands this QEMU offers, or None if unknown.
    :ivar passthrough: whether ``human-monitor-command`` may be used.
    :ivar chardevs_at_connect: the chardev labels QEMU had when the bridge
        connected, or None if unknown.
    :ivar print_defaults: the default ``/fmt`` QEMU keeps for all its monitors.
    :ivar profile: the QEMU served: its release, the release whose text to
        print, its live schema and command table.
    """

    state: SessionState = field(default_factory=SessionState)
    schema_commands: Optional[FrozenSet[str]] = None
    passthrough: bool = True
    chardevs_at_connect: Optional[FrozenSet[str]] = None
    profile: QemuProfile = DEFAULT_PROFILE
    print_defaults: PrintDefaults = field(default_factory=PrintDefaults)

    def has_qmp(self, name: str) -> bool:
        """True unless the schema is known and lacks ``name``."""
        return self.schema_commands is None or name in self.schema_commands


Handler = Callable[[Invocation, Context], HandlerResult]

HANDLERS: Dict[str, Handler] = {}


def handler(*keys: str) -> Callable[[Handler], Handler]:
    """Register a handler for the command table keys given (``"cont"``, ``"info block"``)."""

    def register(func: Handler) -> Handler:
        for key in keys:
            if key in HANDLERS:
                raise ValueError(f"two handlers for {key!r}")
            HANDLERS[key] = func
        return func

    return register


#: Strategy -> the handler of every command of that strategy without its own
#: (``xquery``: print the text of the command's ``x-query-*``).
STRATEGY_HANDLERS: Dict[str, Handler] = {}


def strategy_handler(strategy: str) -> Callable[[Handler], Handler]:
    """Register the handler of the commands of ``strategy`` that have none of their own."""

    def register(func: Handler) -> Handler:
        STRATEGY_HANDLERS[strategy] = func
        return func

    return register


def handler_for(spec: CommandSpec) -> Optional[Handler]:
    """The handler that carries out ``spec``: its own, else its strategy's, else None."""
    if not HANDLERS:
        _load_all()
    return HANDLERS.get(spec.key) or STRATEGY_HANDLERS.get(spec.strategy)


#: Command key -> (the QEMU release that removed its QMP command, the handler
#: that answers it over such a QEMU); see :func:`when_removed`.
REMOVED_HANDLERS: Dict[str, Tuple[Tuple[int, int], Handler]] = {}


def when_removed(key: str, since: Tuple[int, int]) -> Callable[[Handler], Handler]:
    """Register how ``key`` answers over a QEMU of ``since`` or later, which removed its QMP command.

    Only for commands removed together with the feature they reported on
    (``info rdma``, ``info opcount``, ``info profile``): the handler prints
    what the older release printed when its QEMU had none of that feature,
    which stays true over the newer QEMU.  A session asking for that release's
    text (``--hmp-version``) gets this answer instead of a refusal.
    """

    def register(func: Handler) -> Handler:
        if key in REMOVED_HANDLERS:
            raise ValueError(f"two removal handlers for {key!r}")
        REMOVED_HANDLERS[key] = (since, func)
        return func

    return register


def removed_handler_for(spec: CommandSpec, qemu: Tuple[int, ...]) -> Optional[Handler]:
    """The handler answering ``spec`` over ``qemu`` when that QEMU removed its QMP command."""
    if not HANDLERS:
        _load_all()
    found = REMOVED_HANDLERS.get(spec.key)
    if found is None or tuple(qemu[:2]) < found[0]:
        return None
    return found[1]


#: Command key -> whether an invocation of it only asks for help (a list of
#: types or options), which changes nothing even where the command would.
HELP_FORMS: Dict[str, Callable[[Invocation], bool]] = {}


def help_form(key: str) -> Callable[[Callable[[Invocation], bool]], Callable[[Invocation], bool]]:
    """Register the test for ``key``'s help forms (``device_add e1000,help``)."""

    def register(func: Callable[[Invocation], bool]) -> Callable[[Invocation], bool]:
        HELP_FORMS[key] = func
        return func

    return register


def asks_for_help(inv: Invocation) -> bool:
    """Whether ``inv`` only asks for help (see :data:`HELP_FORMS`)."""
    if not HELP_FORMS:
        _load_all()
    test = HELP_FORMS.get(inv.spec.key)
    return test is not None and test(inv)


def send(name: str, arguments: Optional[Dict[str, Any]] = None) -> HandlerResult:
    """One QMP command that prints nothing; an error prints as ``Error: <desc>``."""
    yield QMPCommand(name, arguments)
    return ""


def send_quietly(name: str, arguments: Optional[Dict[str, Any]] = None) -> HandlerResult:
    """One QMP command that prints nothing whatever QEMU answers.

    For the HMP commands that pass QEMU no error pointer (``stop``,
    ``migrate_cancel``, input events ...).
    """
    try:
        yield QMPCommand(name, arguments)
    except QMPCommandError:
        pass
    return ""


def send_bare(name: str, arguments: Optional[Dict[str, Any]] = None) -> HandlerResult:
    """One QMP command whose error prints as its bare description (``error_report``)."""
    try:
        yield QMPCommand(name, arguments)
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return ""


Responder = Callable[[QMPCommand], Any]


def drive(gen: HandlerResult, respond: Responder,
          sleep: Optional[Callable[[float], None]] = None) -> str:
    """Run a handler generator synchronously; ``respond(cmd)`` returns the reply.

    ``respond`` may raise :class:`QMPCommandError` (any
    :class:`~hmpbridge.errors.QMPError`) to simulate an error reply; it is
    thrown into the generator at its ``yield``.  A :class:`Delay` is passed
    to ``sleep`` (skipped when it is None).  Used by tests and by anything
    that already has the replies at hand; the stepping is
    :func:`hmpbridge.stepping.run_sync`, the runner's own.
    """
    text = run_sync(gen, respond, sleep)
    return text if text is not None else ""


def _load_all() -> None:
    """Import every handler module so that it registers itself."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
