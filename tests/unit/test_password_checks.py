"""Password checks run in a pool of their own, a few at a time, for every listener."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.password_checks import CHECK_THREADS, PasswordChecks
from hmpbridge.passwords import PasswordEntry, PasswordFile, hash_password, parse_lines
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory, ListenerAccess
from hmpbridge.testing import FakeQEMU

#: Cheap scrypt parameters: these tests are about who runs the check, not its cost.
_FAST = dict(n=2, r=1, p=1)


def _users() -> PasswordFile:
    return PasswordFile(parse_lines([
        f"alice:operator:{hash_password('wonderland', **_FAST)}",
        f"bob:read-only:{hash_password('builder', **_FAST)}",
    ]))


class _QueuedPool:
    """A thread pool that runs each job when the test says so, as a full pool queues them."""

    def __init__(self) -> None:
        self.jobs: List[Tuple[Callable[[bool, Any], None], Callable[..., Any], tuple]] = []
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None],
                                 func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.jobs.append((on_result, func, args))

    def run_next(self) -> None:
        on_result, func, args = self.jobs.pop(0)
        on_result(True, func(*args))


class _Reactor:
    """``callFromThread`` at once: the answer's thread is the test's."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)


def test_checks_answer_with_the_entry_or_none() -> None:
    pool = _QueuedPool()
    checks = PasswordChecks(_users(), _Reactor(), pool)  # type: ignore[arg-type]
    answers: List[Optional[PasswordEntry]] = []
    checks.authenticate("alice", "wonderland").addCallback(answers.append)
    checks.authenticate("bob", "guess").addCallback(answers.append)
    checks.authenticate("mallory", "x").addCallback(answers.append)
    assert answers == [] and len(pool.jobs) == 3  # nothing checked on the reactor thread
    for _ in range(3):
        pool.run_next()
    assert [entry.name if entry else None for entry in answers] == ["alice", None, None]


def test_the_pool_is_its_own_and_narrow() -> None:
    """Every listener shares one pool of CHECK_THREADS threads, not the reactor's pool."""
    checks = PasswordChecks(_users(), _Reactor())
    assert checks.pool.max == CHECK_THREADS == 2
    checks.start()
    try:
        assert checks.pool.started
    finally:
        checks.stop()
    assert not checks.pool.started


def test_a_listener_checks_passwords_where_it_is_told() -> None:
    """HMPServerFactory(password_checks=...) sends every login's check there."""
    users = _users()
    pool = _QueuedPool()
    checks = PasswordChecks(users, _Reactor(), pool)  # type: ignore[arg-type]
    factory = HMPServerFactory(CommandRunner(FakeQEMU()), "tcp:4444",
                               access=ListenerAccess(users), clock=Clock(),
                               password_checks=checks)
    gate = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 4000))
    gate.makeConnection(transport)
    gate.dataReceived(b"alice\r\nwonderland\r\n")
    assert len(pool.jobs) == 1
    pool.run_next()
    assert b"QEMU" in transport.value()  # logged in: the banner follows
