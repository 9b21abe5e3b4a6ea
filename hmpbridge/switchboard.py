"""A shared listener of many VMs: list the VMs, choose one, switch (``.vms``, ``.vm NAME``).

With ``--qmp-dir`` the VMs served are kept in a :class:`VMDirectory` (the
fleet adds each once its QMP connection is up and removes it when its socket
goes).  A session of a shared listener (``--listen`` beside ``--qmp-dir``)
has a :class:`VMChoice`: which VM it talks to, by name.  The prompt stays
``(qemu) ``; the lines go to the VM chosen, through that VM's own runner,
board and events.  Before a VM is chosen, and while the chosen one is away,
every HMP line is answered by a :class:`NoVM` with a one-line reason; when a
VM of the chosen name comes back (QEMU restarted), the session is on it again.

A user the password file limits to some VMs (see :mod:`hmpbridge.passwords`)
sees and may choose only those: another VM's name is answered as an unknown
one, so the list of VMs does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from weakref import WeakSet

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime

from hmpbridge.audit import AuditLog, audit_to
from hmpbridge.board import CommandBoard
from hmpbridge.errors import QMPCommandError, QMPDisconnected, QMPNotConnected
from hmpbridge.events import EventHub
from hmpbridge.interfaces import CommandExecutor
from hmpbridge.model import Identity, QMPCommand, SessionState
from hmpbridge.runner import CommandRunner

__all__ = ["VMDirectory", "VMTarget", "VMChoice", "NoVM", "STATUS_TIMEOUT", "NO_VM",
           "VM_GONE", "UNKNOWN_VM", "gateway_banner", "vm_table", "status_of_failure"]

#: Seconds ``.vms`` waits for one VM's ``query-status``.
STATUS_TIMEOUT = 2.0

#: The answer to an HMP line before a VM is chosen.
NO_VM = "No VM chosen: type '.vm NAME' to choose one ('.vms' lists them)\n"
#: The answer to an HMP line while the chosen VM is away.
VM_GONE = "VM '{vm}' is not served now (its QMP socket went away)\n"
#: The answer to ``.vm NAME`` for a name not served (or not allowed).
UNKNOWN_VM = "unknown VM: '{vm}'\n"


@dataclass(frozen=True)
class VMTarget:
    """What a session talks to when it talks to one VM."""

    name: str
    runner: CommandRunner
    executor: CommandExecutor
    events: EventHub
    board: CommandBoard


class VMDirectory:
    """The VMs served now, by name, and the sessions that chose one.

    :ivar targets: the VMs served, by name.
    """

    def __init__(self) -> None:
        self.targets: Dict[str, VMTarget] = {}
        self._choices: "WeakSet[VMChoice]" = WeakSet()

    def add(self, target: VMTarget) -> None:
        """VM ``target.name`` is served: sessions that chose that name talk to it now."""
        self.targets[target.name] = target
        for choice in list(self._choices):
            if choice.current == target.name:
                choice.retarget(target)

    def remove(self, name: str, target: Optional[VMTarget] = None) -> None:
        """VM ``name`` is no longer served (``target``: only if it is still this one)."""
        if target is not None and self.targets.get(name) is not target:
            return
        if self.targets.pop(name, None) is None:
            return
        for choice in list(self._choices):
            if choice.current == name:
                choice.retarget(None)

    def names(self) -> List[str]:
        """The names of the VMs served, sorted."""
        return sorted(self.targets)

    def watch(self, choice: "VMChoice") -> None:
        """Keep ``choice`` on its VM as the VM comes and goes."""
        self._choices.add(choice)


class NoVM:
    """Answers every HMP line while a session has no VM (none chosen, or it went away).

    A :class:`~hmpbridge.interfaces.LineService`: it asks no QEMU anything.
    """

    passthrough = False

    def __init__(self, reason: str, banner: Callable[[], str] = lambda: "",
                 audit: Optional[AuditLog] = None) -> None:
        self.reason = reason
        self._banner = banner
        self._audit = audit

    def banner(self) -> str:
        return self._banner()

    def saying(self, reason: str) -> "NoVM":
        """One like this one that answers lines with ``reason``."""
        return NoVM(reason, self._banner, self._audit)

    def qemu_name(self) -> str:
        return ""

    def run(self, line: str, state: SessionState) -> "Deferred[str]":
        if not line.strip():
            return succeed("")
        self.audit(state.identity, {"hmp": line}, "no-vm")
        return succeed(self.reason)

    def audit(self, identity: Optional[Identity], received: Mapping[str, Any], outcome: str,
              sent: Sequence[Mapping[str, Any]] = (), latency: float = 0.0) -> None:
        audit_to(self._audit, identity, received, outcome, sent=sent, latency=latency)


def gateway_banner(count: int) -> str:
    """What a session of a shared listener is greeted with, before it chooses a VM."""
    vms = "1 VM" if count == 1 else f"{count} VMs"
    return (f"hmpbridge monitor of {vms} - type '.vms' to list them, "
            "'.vm NAME' to choose one\n")


#: Switches a session onto a VM, or (None) onto a :class:`NoVM` answering with the
#: reason given (which a session with events on is also told at once).
Switch = Callable[[Optional[VMTarget], str], None]


class VMChoice:
    """The VM one session of a shared listener talks to.

    :param directory: the VMs served.
    :param identity: who the session is (its ``vms`` limit which VMs it sees).
    :param switch: puts the session on a VM, or on a :class:`NoVM` with a reason.
    :param clock: for the time ``.vms`` waits for each VM's status.
    """

    def __init__(self, directory: VMDirectory, identity: Callable[[], Optional[Identity]],
                 switch: Switch, clock: IReactorTime) -> None:
        self._directory = directory
        self._identity = identity
        self._switch = switch
        self._clock = clock
        #: the name of the VM chosen (None: none yet); it stays while the VM is away
        self.current: Optional[str] = None
        directory.watch(self)

    def _allowed(self, name: str) -> bool:
        identity = self._identity()
        return identity is None or identity.may_reach(name)

    def names(self) -> List[str]:
        """The VMs served that this session may choose, sorted."""
        return [name for name in self._directory.names() if self._allowed(name)]

    def choose(self, name: str) -> str:
        """Talk to VM ``name`` from the next line; the text to print ("" when done)."""
        target = self._directory.targets.get(name)
        if target is None or not self._allowed(name):
            return UNKNOWN_VM.format(vm=name)
        self.current = name
        self._switch(target, "")
        return ""

    def retarget(self, target: Optional[VMTarget]) -> None:
        """The chosen VM came back (``target``) or went away (None)."""
        if self.current is None:
            return
        self._switch(target, "" if target is not None else VM_GONE.format(vm=self.current))

    def describe(self) -> str:
        """What ``.vm`` with no name prints."""
        if self.current is None:
            return "No VM chosen\n"
        away = "" if self.current in self._directory.targets else " (not served now)"
        return f"VM {self.current}{away}\n"

    def listing(self) -> "Deferred[str]":
        """What ``.vms`` prints: each VM this session may choose, with its status."""
        names = self.names()
        targets = [self._directory.targets[name] for name in names]
        asked = [self._status(target) for target in targets]

        def table(results: List[Tuple[bool, str]]) -> str:
            return vm_table([(name, status, target.runner.qemu_name(), name == self.current)
                             for name, target, (_, status) in zip(names, targets, results)])
        return DeferredList(asked, consumeErrors=True).addCallback(table)

    def _status(self, target: VMTarget) -> "Deferred[str]":
        asked = target.executor.execute(QMPCommand("query-status"))
        asked.addTimeout(STATUS_TIMEOUT, self._clock)
        return asked.addCallbacks(lambda reply: str(reply.get("status", "unknown")),
                                  lambda failure: status_of_failure(failure.value))


def status_of_failure(err: BaseException) -> str:
    """What ``.vms`` says of a VM whose ``query-status`` failed with ``err``."""
    if isinstance(err, (QMPNotConnected, QMPDisconnected)):
        return "not connected"
    if isinstance(err, QMPCommandError):
        return "unknown"
    return "not answering"  # timed out


def vm_table(rows: Sequence[Tuple[str, str, str, bool]]) -> str:
    """``.vms``'s lines: ``*`` marks the session's VM (as ``info cpus`` marks its CPU).

    :param rows: (name, status, QEMU name, chosen) per VM.
    """
    if not rows:
        return "No VMs served\n"
    width = max(len(name) for name, _, _, _ in rows)
    status_width = max(len(status) for _, status, _, _ in rows)
    return "".join(
        f"{'*' if chosen else ' '} {name:<{width}}  {status:<{status_width}}  {qemu}".rstrip()
        + "\n" for name, status, qemu, chosen in rows)
