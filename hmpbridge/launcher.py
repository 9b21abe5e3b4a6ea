"""Start a QEMU of our own when no ``--qmp`` endpoint is given.

The VM is small and idle: ``-M pc -accel tcg -nodefaults -display none -S``
with 128 MiB of RAM, an IDE CD-ROM named ``ide1-cd0`` (as ``-cdrom`` names
it) and a 64 MiB qcow2 disk ``ide0-hd0``.  Its QMP socket and disk live in a
private (0700) directory that is removed when QEMU is stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, List, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import Logger
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from hmpbridge.interfaces import IReactor

__all__ = ["QEMULauncher", "LaunchError", "qemu_argv"]

#: Seconds QEMU has to create its QMP socket.
START_TIMEOUT = 30.0
#: Seconds QEMU has to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0


class LaunchError(Exception):
    """QEMU could not be started."""


def qemu_argv(binary: str, qmp_path: str, disk_path: str,
              extra: Sequence[str] = ()) -> List[str]:
    """The command line of the bridge's own QEMU."""
    return [binary, "-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
            "-m", "128",
            "-drive", f"file={disk_path},format=qcow2,if=ide,index=0",
            "-drive", "if=ide,index=2,media=cdrom",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            *extra]


class _QEMUProcess(ProcessProtocol):
    def __init__(self) -> None:
        self.ended: "Deferred[int]" = Deferred()
        self.output = bytearray()

    def outReceived(self, data: bytes) -> None:
        self._keep(data)

    def errReceived(self, data: bytes) -> None:
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        self.output += data
        del self.output[:-8192]

    def processEnded(self, reason: Failure) -> None:
        code = (0 if isinstance(reason.value, ProcessDone)
                else getattr(reason.value, "exitCode", None))
        self.ended.callback(code if code is not None else -1)


class QEMULauncher:
    """Runs one QEMU for the lifetime of the bridge.

    :param reactor: provides process spawning and time.
    :param binary: the ``qemu-system-*`` program.
    :param extra: more QEMU arguments, appended to the defaults.
    """

    _log = Logger()

    def __init__(self, reactor: IReactor, binary: str = "qemu-system-x86_64",
                 extra: Sequence[str] = (), qemu_img: str = "qemu-img") -> None:
        self._reactor = reactor
        self.binary = binary
        self.extra = list(extra)
        self.qemu_img = qemu_img
        self.directory: Optional[str] = None
        self.qmp_path: Optional[str] = None
        self._process: Optional[_QEMUProcess] = None
        self._transport: Optional[IProcessTransport] = None

    @property
    def ended(self) -> "Deferred[int]":
        """Fires with QEMU's exit status when it exits."""
        assert self._process is not None
        return self._process.ended

    async def start(self) -> str:
        """Start QEMU; return the path of its QMP socket once it exists."""
        for program in (self.binary, self.qemu_img):
            if shutil.which(program) is None:
                raise LaunchError(f"{program} not found (install qemu-system-x86 and qemu-utils)")
        self.directory = tempfile.mkdtemp(prefix="hmpbridge-")
        os.chmod(self.directory, 0o700)
        disk = os.path.join(self.directory, "disk0.qcow2")
        self.qmp_path = os.path.join(self.directory, "qmp.sock")
        out, err, code = await getProcessOutputAndValue(  # type: ignore[no-untyped-call]
            shutil.which(self.qemu_img) or self.qemu_img,
            ["create", "-q", "-f", "qcow2", disk, "64M"], env=os.environ, reactor=self._reactor)
        if code != 0:
            raise LaunchError(f"qemu-img create failed: {(out + err).decode(errors='replace').strip()}")
        argv = qemu_argv(shutil.which(self.binary) or self.binary, self.qmp_path, disk, self.extra)
        setpriv = shutil.which("setpriv")
        if setpriv:  # QEMU goes down with us even if we are killed
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        self._log.info("Starting {argv}", argv=" ".join(argv))
        self._process = _QEMUProcess()
        self._transport = self._reactor.spawnProcess(self._process, argv[0], argv, env=os.environ)
        waited = 0.0
        while not os.path.exists(self.qmp_path):
            if self._process.ended.called:
                raise LaunchError("QEMU exited: " + self._process.output.decode(errors="replace").strip())
            if waited >= START_TIMEOUT:
                await self.stop()
                raise LaunchError(f"QEMU did not create its QMP socket within {START_TIMEOUT:g} s")
            await deferLater(self._reactor, 0.02, lambda: None)
            waited += 0.02
        return self.qmp_path

    def stop(self) -> "Deferred[None]":
        """Stop QEMU (SIGTERM, then SIGKILL) and remove its directory."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        process = self._process
        if process is not None and not process.ended.called:
            self._signal("TERM")
            timer = self._reactor.callLater(STOP_TIMEOUT, self._signal, "KILL")
            await process.ended
            if timer.active():
                timer.cancel()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _signal(self, name: str) -> None:
        if self._transport is None:
            return
        try:
            self._transport.signalProcess(name)
        except Exception:  # noqa: BLE001 - already gone
            pass
