"""Password checks off the reactor thread, a few at a time, for every listener.

scrypt is slow and memory-hard on purpose: one check of a
``hmpbridge-passwd`` hash takes about 16 MiB while it runs.  Run in the
reactor's shared thread pool, ten clients failing a login at once would take
160 MiB, and each pool thread's allocator arena keeps its share afterwards.
:class:`PasswordChecks` runs every check of the process in a pool of its
own, :data:`CHECK_THREADS` threads wide: further checks wait their turn (the
login exchange has paused reading from their clients meanwhile), and the
memory scrypt can hold stays ``CHECK_THREADS`` × 16 MiB.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from hmpbridge.passwords import PasswordEntry, PasswordFile

__all__ = ["PasswordChecks", "CHECK_THREADS"]

#: Password checks running at once, all listeners together.
CHECK_THREADS = 2


class PasswordChecks:
    """Checks user names and passwords against a password file in a pool of its own.

    :param users: the password file.
    :param reactor: where answers are delivered (``callFromThread``).
    :param pool: the threads checks run in; a pool of :data:`CHECK_THREADS`
        threads when None.  :meth:`start` and :meth:`stop` start and stop it.
    """

    def __init__(self, users: PasswordFile, reactor: Any,
                 pool: Optional[ThreadPool] = None) -> None:
        self.users = users
        self._reactor = reactor
        self.pool = pool if pool is not None else ThreadPool(
            minthreads=0, maxthreads=CHECK_THREADS, name="hmpbridge-password-checks")

    def start(self) -> None:
        """Start the pool's threads (as they are needed)."""
        self.pool.start()

    def stop(self) -> None:
        """Stop the pool; checks not yet started are dropped."""
        self.pool.stop()

    def authenticate(self, name: str, password: str) -> "Deferred[Optional[PasswordEntry]]":
        """Fire with the user's entry when ``password`` is right, else None."""
        return deferToThreadPool(self._reactor, self.pool, self.users.authenticate,
                                 name, password)
