"""Many VMs in one hmpbridge: every QMP socket of a directory served as a VM (``--qmp-dir``).

:class:`Fleet` is a Twisted service that watches one directory through a
:class:`DirectoryWatch` (:class:`InotifyWatch` where the platform has
inotify, else :class:`PollWatch`, a listing of that directory every
:data:`POLL_INTERVAL` seconds at most).  On every change it lists the
directory again: each socket whose name matches the glob is a VM named after
its file (:mod:`hmpbridge.fleet_names`).  A VM that appears gets a
:class:`VMService` from the factory it was given (for the command line, a
:class:`FleetVM`: its own QMP connection, then its listeners); one whose
socket goes away is stopped, its listeners closed (Twisted removes the
socket files of unix listeners it bound).  A VM whose socket comes back
while its old self is still stopping starts again once that is done.

A QMP socket that another client already holds accepts the connection and
never greets; :class:`FleetVM` says so once in the log and lets its
multiplexer retry with its back-off, without holding up the other VMs.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Set

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from hmpbridge.errors import QMPProtocolError
from hmpbridge.fleet_names import DEFAULT_GLOB, vm_files

__all__ = ["Fleet", "FleetVM", "DirectoryWatch", "InotifyWatch", "PollWatch", "watch_for",
           "sockets_in", "VMService", "Upstream", "Served", "POLL_INTERVAL", "REFUSED_PATIENCE",
           "SETTLE"]

#: The longest time between two listings of the directory where there is no inotify.
POLL_INTERVAL = 0.5

#: Seconds from a change to the listing of the directory: a burst of changes is listed
#: once, and QEMU, which makes its socket a moment before it listens on it, is listening.
SETTLE = 0.02

#: Failed attempts to connect to a VM's QMP socket before the log says so (a socket
#: just made refuses until QEMU listens on it; one held by another client is said at once).
REFUSED_PATIENCE = 3

_log = Logger(namespace="hmpbridge.fleet")


def _held(err: BaseException) -> bool:
    """Whether a connection attempt failed because the peer never greeted (the
    multiplexer's ``--connect-timeout`` expired): QEMU greets only one client per monitor."""
    return isinstance(err, QMPProtocolError) and "greeting" in str(err)


class DirectoryWatch(Protocol):
    """Tells when the entries of one directory may have changed."""

    def start(self, changed: Callable[[], None]) -> None:
        """Call ``changed()`` after entries may have been added or removed."""

    def stop(self) -> None:
        """Stop watching."""


class PollWatch:
    """A :class:`DirectoryWatch` that says "maybe changed" every ``interval`` seconds."""

    def __init__(self, clock: IReactorTime, interval: float = POLL_INTERVAL) -> None:
        if not 0 < interval <= POLL_INTERVAL:
            raise ValueError(f"poll interval must be in (0, {POLL_INTERVAL}] seconds")
        self._clock = clock
        self._interval = interval
        self._call: Optional[LoopingCall] = None

    def start(self, changed: Callable[[], None]) -> None:
        self._call = LoopingCall(changed)
        self._call.clock = self._clock
        self._call.start(self._interval, now=False)

    def stop(self) -> None:
        if self._call is not None and self._call.running:
            self._call.stop()
        self._call = None


class InotifyWatch:
    """A :class:`DirectoryWatch` on Linux's inotify (Twisted's ``twisted.internet.inotify``).

    When the directory cannot be watched (it does not exist, too many
    watches), or once it is removed or renamed, the directory is listed every
    :data:`POLL_INTERVAL` seconds (a :class:`PollWatch`) and inotify is tried
    again at each listing: a directory made again (``rm -r`` and ``mkdir``,
    or a tmpfs mounted anew) is watched again.  The log says when.
    """

    def __init__(self, directory: str, reactor: Any) -> None:
        from twisted.internet import inotify

        self._inotify = inotify
        self._notifier: Optional[Any] = inotify.INotify(reactor)  # type: ignore[no-untyped-call]
        self._directory = directory
        self._reactor = reactor
        self._poll: Optional[PollWatch] = None
        self._changed: Callable[[], None] = lambda: None
        self._said = False  # the fall-back to listing was logged

    def start(self, changed: Callable[[], None]) -> None:
        self._changed = changed
        if not self._arm():
            self._list_until_armed()

    def _arm(self) -> bool:
        """Watch the directory with inotify; False when it cannot be."""
        from twisted.python._inotify import INotifyError
        from twisted.python.filepath import FilePath

        inotify = self._inotify
        if self._notifier is None:
            self._notifier = inotify.INotify(self._reactor)
        mask = inotify.IN_CREATE | inotify.IN_DELETE | inotify.IN_MOVED_FROM | \
            inotify.IN_MOVED_TO | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF
        try:
            self._notifier.watch(FilePath(self._directory), mask=mask, callbacks=[self._event])
        except INotifyError as err:
            if not self._said:
                self._said = True
                _log.warn("Cannot watch {directory} with inotify ({reason}): listing it every "
                          "{interval} s", directory=self._directory, reason=err,
                          interval=POLL_INTERVAL)
            self._notifier.loseConnection()
            self._notifier = None
            return False
        self._notifier.startReading()
        if self._said:
            self._said = False
            _log.info("Watching {directory} with inotify again", directory=self._directory)
        return True

    def _event(self, _watch: Any, _path: Any, mask: int) -> None:
        gone = mask & (self._inotify.IN_DELETE_SELF | self._inotify.IN_MOVE_SELF)
        if gone and self._notifier is not None:
            # Twisted closes its descriptor after a removal; a renamed directory's
            # watch would follow it elsewhere: either way, this one is done
            notifier, self._notifier = self._notifier, None
            if mask & self._inotify.IN_MOVE_SELF:
                self._reactor.callLater(0, notifier.loseConnection)
            self._said = True
            _log.warn("{directory} was removed or renamed: listing it every {interval} s "
                      "until it is back", directory=self._directory, interval=POLL_INTERVAL)
            self._list_until_armed()
        self._changed()

    def _list_until_armed(self) -> None:
        self._poll = PollWatch(self._reactor)
        self._poll.start(self._tick)

    def _tick(self) -> None:
        self._changed()
        if os.path.isdir(self._directory) and self._arm() and self._poll is not None:
            self._poll.stop()
            self._poll = None

    def stop(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        if self._notifier is not None:
            self._notifier.loseConnection()
            self._notifier = None


def watch_for(directory: str, reactor: Any) -> DirectoryWatch:
    """Inotify on ``directory`` where the platform has it, else a :class:`PollWatch`."""
    try:
        return InotifyWatch(directory, reactor)
    except Exception as err:  # noqa: BLE001 - ImportError off Linux, INotifyError, OSError
        _log.info("No inotify ({reason}): listing {directory} every {interval} s",
                  reason=err, directory=directory, interval=POLL_INTERVAL)
        return PollWatch(reactor)


def sockets_in(directory: str) -> List[str]:
    """The names of the sockets in ``directory`` (none when it cannot be read)."""
    names = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if stat.S_ISSOCK(entry.stat(follow_symlinks=True).st_mode):
                        names.append(entry.name)
                except OSError:
                    continue  # gone meanwhile, or a dangling link
    except OSError as err:
        _log.warn("Cannot list {directory}: {reason}", directory=directory,
                  reason=err.strerror or err)
    return names


class VMService(Protocol):
    """One VM of the fleet, as the fleet starts and stops it."""

    def start(self) -> None:
        """Begin serving (connecting may take a while; nothing waits for it)."""

    def stop(self) -> "Deferred[None]":
        """Stop serving: fire once the listeners and the QMP connection are closed."""


#: Makes the service of VM ``name`` whose QMP socket is ``path``.
VMFactory = Callable[[str, str], VMService]


class Fleet(Service):
    """Serves every QMP socket of ``directory`` that matches ``pattern`` as a VM.

    :param directory: where the QMP sockets are.
    :param make_vm: makes the service of a VM, given its name and socket path.
    :param watch: tells when the directory may have changed.
    :param clock: for coalescing a burst of changes into one listing.
    :param pattern: the glob a socket's name matches.
    :param list_sockets: lists the sockets of a directory.

    :ivar vms: the VMs served, by name.
    """

    def __init__(self, directory: str, make_vm: VMFactory, watch: DirectoryWatch,
                 clock: IReactorTime, pattern: str = DEFAULT_GLOB,
                 list_sockets: Callable[[str], List[str]] = sockets_in) -> None:
        self.directory = directory
        self.pattern = pattern
        self.vms: Dict[str, VMService] = {}
        self._make_vm = make_vm
        self._watch = watch
        self._clock = clock
        self._list_sockets = list_sockets
        self._stopping: Dict[str, "Deferred[None]"] = {}
        self._refused: Set[str] = set()  # files already reported as bad names
        self._scan_call: Optional[IDelayedCall] = None

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]  # Service is unannotated
        self._watch.start(self.changed)
        self.scan()

    def stopService(self) -> "Deferred[Any]":
        super().stopService()  # type: ignore[no-untyped-call]
        self._watch.stop()
        if self._scan_call is not None and self._scan_call.active():
            self._scan_call.cancel()
        self._scan_call = None
        for name in list(self.vms):
            self._drop(name, "is no longer served (hmpbridge stops)")
        return DeferredList(list(self._stopping.values()), consumeErrors=True)

    def changed(self) -> None:
        """The directory may have changed: list it :data:`SETTLE` seconds from now."""
        if self._scan_call is None and self.running:
            self._scan_call = self._clock.callLater(SETTLE, self.scan)

    def scan(self) -> None:
        """List the directory; start the VMs that appeared and stop those that went."""
        self._scan_call = None
        if not self.running:
            return
        found, refused = vm_files(self._list_sockets(self.directory), self.pattern)
        for filename, why in refused:
            if filename not in self._refused:
                _log.warn("Not serving {file} in {directory}: {why}", file=filename,
                          directory=self.directory, why=why)
        self._refused = {filename for filename, _ in refused}
        for name in sorted(set(self.vms) - set(found)):
            self._drop(name)
        for name in sorted(set(found) - set(self.vms) - set(self._stopping)):
            self._add(name, os.path.join(self.directory, found[name]))

    def _add(self, name: str, path: str) -> None:
        _log.info("VM {vm} appeared: {path}", vm=name, path=path)
        try:
            vm = self._make_vm(name, path)
        except Exception as err:  # noqa: BLE001 - one VM's trouble is not the others'
            _log.error("VM {vm}: cannot serve it: {reason}", vm=name, reason=err)
            return
        self.vms[name] = vm
        vm.start()

    def _drop(self, name: str, why: str = "went away") -> None:
        vm = self.vms.pop(name)
        _log.info("VM {vm} {why}: stopping its listeners and QMP connection", vm=name, why=why)
        stopped = vm.stop()
        self._stopping[name] = stopped

        def done(result: Any) -> Any:
            self._stopping.pop(name, None)
            self.changed()  # it may have come back meanwhile
            return result
        stopped.addErrback(lambda failure: _log.failure("Stopping VM {vm} failed", failure,
                                                        vm=name))
        stopped.addBoth(done)


class Upstream(Protocol):
    """What :class:`FleetVM` asks of its QMP connection
    (a :class:`~hmpbridge.mux.QMPMultiplexer`)."""

    def startService(self) -> None: ...

    def stopService(self) -> "Deferred[None]": ...

    def when_ready(self, fail_after_failures: Optional[int] = None) -> "Deferred[None]": ...


class Served(Protocol):
    """What serves one VM once it is connected: its runner, events and listeners."""

    def close(self) -> "Deferred[None]":
        """Stop listening (removing the sockets of unix listeners)."""


class FleetVM:
    """One VM of the fleet: its QMP connection, then what serves it (a :class:`VMService`).

    :param name: the VM's name (for the log).
    :param path: its QMP socket (for the log).
    :param upstream: its QMP connection, not yet started.
    :param serve: opens the VM's listeners once the connection is up.
    """

    def __init__(self, name: str, path: str, upstream: Upstream,
                 serve: Callable[[], Awaitable[Served]]) -> None:
        self.name = name
        self.path = path
        self.upstream = upstream
        self.served: Optional[Served] = None
        self._serve = serve
        self._task: Optional["Deferred[None]"] = None

    def start(self) -> None:
        self.upstream.startService()
        self._task = Deferred.fromCoroutine(self._run())
        self._task.addErrback(self._failed)

    async def _run(self) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                await self.upstream.when_ready(fail_after_failures=attempts)
                break
            except CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - said once; the connection keeps retrying
                if _held(err):
                    self._report(err, held=True)
                    await self.upstream.when_ready()
                    break
                if attempts >= REFUSED_PATIENCE:
                    self._report(err, held=False)
                    await self.upstream.when_ready()
                    break
        self.served = await self._serve()
        _log.info("Serving VM {vm}", vm=self.name)

    def _report(self, err: BaseException, held: bool) -> None:
        if held:
            _log.warn("VM {vm}: QMP socket {path} is held by another client (it does not "
                      "greet); retrying with back-off", vm=self.name, path=self.path)
        else:
            _log.warn("VM {vm}: cannot connect to QMP socket {path} ({reason}); retrying "
                      "with back-off", vm=self.name, path=self.path, reason=err)

    def _failed(self, failure: Any) -> None:
        if failure.check(CancelledError):
            return None
        _log.error("VM {vm}: cannot serve it: {reason}", vm=self.name,
                   reason=failure.getErrorMessage())
        self.upstream.stopService()
        return None

    def stop(self) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._task is not None and not self._task.called:
            self._task.cancel()
        served, self.served = self.served, None
        if served is not None:
            await served.close()
        await self.upstream.stopService()
