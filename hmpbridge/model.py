"""Plain values passed between the layers: parsed lines, QMP commands, session state.

Nothing here does I/O or imports the reactor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

if TYPE_CHECKING:
    from hmpbridge.commands import CommandSpec

__all__ = ["QMPCommand", "Delay", "Invocation", "SessionState", "PrintDefaults", "Identity",
           "OPERATOR", "READ_ONLY", "ROLES"]

#: The role that may run every command.
OPERATOR = "operator"
#: The role that may run only the commands that read state (see :mod:`hmpbridge.access`).
READ_ONLY = "read-only"
ROLES = (OPERATOR, READ_ONLY)


@dataclass(frozen=True)
class QMPCommand:
    """One QMP command to execute: ``{"execute": ..., "arguments": ...}``.

    The id is not part of it: ids belong to the connection that sends it.
    """

    execute: str
    arguments: Optional[Mapping[str, Any]] = None
    #: file descriptors to pass with the command (SCM_RIGHTS), e.g. for ``getfd``
    fds: Tuple[int, ...] = field(default=(), compare=False)

    def to_dict(self) -> Dict[str, Any]:
        """The command as a JSON-ready dict, without an id."""
        msg: Dict[str, Any] = {"execute": self.execute}
        if self.arguments is not None:
            msg["arguments"] = dict(self.arguments)
        return msg


@dataclass(frozen=True)
class Delay:
    """A pause a handler asks for between two QMP commands (polling a job).

    The runner waits ``seconds`` on its clock and sends ``None`` back into the
    handler; nothing goes to QEMU.
    """

    seconds: float


@dataclass(frozen=True)
class Invocation:
    """A parsed HMP line: which command, with which arguments.

    :ivar spec: the command table entry.
    :ivar args: argument values keyed by the ``args_type`` keys
        (``{"force": False, "device": "cd0"}`` for ``eject cd0``); optional
        arguments that were not given are absent, flags not given are ``False``.
    :ivar line: the raw line as received (used by passthrough and messages).
    :ivar needs_registers: an expression reads a CPU register (``$pc``), which
        only QEMU's own monitor can evaluate.
    """

    spec: "CommandSpec"
    args: Mapping[str, Any]
    line: str
    needs_registers: bool = False


@dataclass(frozen=True)
class Identity:
    """The operator of one session.

    :ivar name: the user name (password or certificate) or the peer address.
    :ivar role: ``operator`` or ``read-only`` (what it may run: :mod:`hmpbridge.access`).
    :ivar listener: the endpoint description the session came in on.
    :ivar peer: the client's address as text.
    :ivar method: how the name was established: ``password``, ``certificate``
        or ``peer`` (no authentication: the address stands for the name).
    :ivar vms: the VMs the user may reach, as name patterns (``fnmatch``,
        from the password file); empty: every VM.
    :ivar vm: the VM the session talks to ("" when the bridge serves one
        QEMU, or before a session of a shared listener chose one).
    """

    name: str
    role: str = OPERATOR
    listener: str = ""
    peer: str = ""
    method: str = "peer"
    vms: Tuple[str, ...] = ()
    vm: str = ""

    def certified(self, name: str) -> "Identity":
        """This identity once a TLS client certificate has proved ``name``."""
        return replace(self, name=name, method="certificate")

    def may_reach(self, vm: str) -> bool:
        """Whether this user may talk to VM ``vm`` ("": the one QEMU of a bridge
        that serves one, or no VM yet on a shared listener: yes)."""
        return not vm or not self.vms or any(fnmatchcase(vm, pattern) for pattern in self.vms)

    def on(self, vm: str) -> "Identity":
        """This identity talking to VM ``vm``."""
        return replace(self, vm=vm)


@dataclass
class PrintDefaults:
    """QEMU's default ``/fmt`` format and size, shared by every monitor of one QEMU."""

    format: str = "x"
    size: int = 4


@dataclass
class SessionState:
    """What one HMP session remembers between lines.

    :ivar cpu_index: the current CPU set by ``cpu N`` (QEMU's default is the
        first CPU, index 0).
    :ivar history: this session's readline history, oldest first.
    :ivar close_requested: set by a handler (``quit``) to end the session
        once its output is written.
    :ivar mouse_buttons: the button state ``mouse_button`` last set.
    :ivar received_fd: a file descriptor the client passed over a unix
        socket and no ``getfd`` has taken yet (as in QEMU, a newer one
        replaces it).
    :ivar identity: who runs the session (None: nobody authenticated, no
        restriction); its role decides which commands may run.
    """

    cpu_index: int = 0
    history: List[str] = field(default_factory=list)
    close_requested: bool = False
    mouse_buttons: int = 0
    #: the file descriptor the client passed last (SCM_RIGHTS), not yet used
    received_fd: Optional[int] = None
    identity: Optional["Identity"] = None
