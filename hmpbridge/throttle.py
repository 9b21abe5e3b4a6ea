"""Password guessing across connections: failures counted per user and per peer.

One :class:`LoginThrottle` is shared by every HMP listener.  Each failed
login is counted against the user name tried and against the peer it came
from (a TCP client's host, whatever its port; a unix-socket client's uid).
Once a user, or a peer, has :attr:`LoginThrottle.max_user_failures` (or
:attr:`~LoginThrottle.max_peer_failures`) failures within the last
:attr:`~LoginThrottle.window` seconds, further attempts are refused whatever
the password; the login exchange still checks it (so a refusal takes as long
as a wrong password) and answers them exactly like a wrong password.  Refused attempts are not counted, so a user or peer is free again
``window`` seconds after its last checked failure.  A successful login clears
the user's failures (not the peer's), and from then on that user's failures
no longer hold back that peer: someone guessing from elsewhere cannot lock
an operator out of the host (or uid) they log in from.

The clock is injected; memory is bounded: at most ``max_*_failures`` times
per key, and at most :data:`MAX_KEYS` keys of each kind (the ones whose
latest failure is oldest are forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Deque, Tuple

from twisted.internet.interfaces import IReactorTime

__all__ = ["LoginThrottle", "USER_FAILURES", "PEER_FAILURES", "FAILURE_WINDOW", "MAX_KEYS"]

#: Failed logins for one user name, within the window, before its attempts are refused.
USER_FAILURES = 10
#: Failed logins from one peer (host or uid), within the window, before its attempts are refused.
PEER_FAILURES = 20
#: Seconds a failure counts for.
FAILURE_WINDOW = 900.0
#: User names (and peers) remembered at once.
MAX_KEYS = 4096


class _Failures:
    """The recent failure times of one kind of key (user names, or peers)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: "OrderedDict[str, Deque[float]]" = OrderedDict()

    def blocked(self, key: str, now: float) -> bool:
        times = self._times.get(key)
        if times is None:
            return False
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._times[key]
            return False
        return len(times) >= self.limit

    def failed(self, key: str, now: float) -> None:
        times = self._times.pop(key, None)
        if times is None:
            times = deque(maxlen=max(self.limit, 1))
        times.append(now)
        self._times[key] = times  # newest last
        while len(self._times) > MAX_KEYS:
            self._times.popitem(last=False)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)


class LoginThrottle:
    """Refuses logins for users and peers with too many recent failures.

    :param clock: where the time comes from (the reactor, or a test's Clock).
    :param max_user_failures: failures of one user name within ``window``
        before its attempts are refused (0: no limit per user).
    :param max_peer_failures: the same per peer (0: no limit per peer).
    :param window: seconds a failure counts for.
    """

    def __init__(self, clock: IReactorTime, max_user_failures: int = USER_FAILURES,
                 max_peer_failures: int = PEER_FAILURES,
                 window: float = FAILURE_WINDOW) -> None:
        self.clock = clock
        self.max_user_failures = max_user_failures
        self.max_peer_failures = max_peer_failures
        self.window = window
        self._users = _Failures(max_user_failures, window)
        self._peers = _Failures(max_peer_failures, window)
        #: (user, peer) pairs that logged in, oldest first
        self._known: "OrderedDict[Tuple[str, str], None]" = OrderedDict()

    def refuses(self, user: str, peer: str) -> bool:
        """Whether an attempt for ``user`` from ``peer`` is refused whatever the password.

        A user's failures do not hold back a peer that user has logged in
        from before: guessing from elsewhere cannot lock the operator out of
        their own host (or uid).  The peer's own failures still count.
        """
        now = self.clock.seconds()
        by_user = self.max_user_failures > 0 and self._users.blocked(user, now) \
            and (user, peer) not in self._known
        by_peer = self.max_peer_failures > 0 and self._peers.blocked(peer, now)
        return by_user or by_peer

    def failed(self, user: str, peer: str) -> None:
        """A checked password was wrong (or the user unknown)."""
        now = self.clock.seconds()
        if self.max_user_failures > 0:
            self._users.failed(user, now)
        if self.max_peer_failures > 0:
            self._peers.failed(peer, now)

    def succeeded(self, user: str, peer: str) -> None:
        """``user`` logged in from ``peer``: its failures are forgiven (the peer's are
        not), and the peer is one the user's failures no longer hold back."""
        self._users.clear(user)
        self._known.pop((user, peer), None)
        self._known[(user, peer)] = None  # newest last
        while len(self._known) > MAX_KEYS:
            self._known.popitem(last=False)

    @property
    def remembered(self) -> int:
        """How many user names and peers have failures on record."""
        return len(self._users) + len(self._peers)
