"""What one HMP session has typed and not yet run, and the running of its lines.

QEMU's monitor reads its input one byte at a time and stops reading while a
command runs; what a client sends meanwhile waits in the socket.  The bridge
reads it (so the framing can parse it) and keeps it here, in the order it
came, until the session's line editor takes it:

* :class:`KeyQueue` holds the bytes typed and not yet read by the editor.
  It is bounded: past ``limit`` bytes the framing is asked to stop reading
  from the client (``pause``), and to start again (``resume``) once the
  session has read it down to half.  So a client that sends faster than its
  lines run holds at most ``limit`` bytes of the bridge's memory.
* :class:`LineRunner` runs one line at a time for a session: a bridge
  command (``.events``) itself, any other line through the shared
  :class:`~hmpbridge.runner.CommandRunner`.  It keeps the session's history
  (loaded when the session begins, saved as soon as a line changes it) and
  notes every running line on the :class:`~hmpbridge.board.CommandBoard`; for
  a session that asked for events it says, after
  :data:`~hmpbridge.board.WAIT_NOTICE_DELAY` seconds, which other operator's
  command its line waits behind.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from hmpbridge.board import WAIT_NOTICE_DELAY, CommandBoard, waiting_notice
from hmpbridge.bridge_cmds import BridgeSession, is_bridge_command, run_bridge_command
from hmpbridge.history import HistoryStore, remember
from hmpbridge.model import SessionState
from hmpbridge.interfaces import LineService

__all__ = ["KeyQueue", "LineRunner", "MAX_PENDING_KEYS"]

#: Default bytes a client may have sent and the session not yet read before
#: the session stops reading from it (``SessionConfig.max_pending_keys``).
MAX_PENDING_KEYS = 65536


class KeyQueue:
    """Bytes a client sent that the line editor has not read yet, in order.

    :param pause: stop reading from the client.
    :param resume: read from the client again.
    :param limit: bytes held before ``pause`` is called.
    """

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None],
                 limit: int = MAX_PENDING_KEYS) -> None:
        self._pause = pause
        self._resume = resume
        self.limit = limit
        self._data = bytearray()
        self.paused = False

    def __len__(self) -> int:
        return len(self._data)

    def add(self, data: bytes) -> None:
        """Keep what the client sent; past the limit, stop reading from it."""
        self._data += data
        if len(self._data) > self.limit and not self.paused:
            self.paused = True
            self._pause()

    def take(self, limit: Optional[int] = None) -> bytes:
        """The oldest ``limit`` bytes held (all of them when None), taken out of the queue."""
        if limit is None or limit >= len(self._data):
            data = bytes(self._data)
            self._data.clear()
        else:
            data = bytes(self._data[:limit])
            del self._data[:limit]
        return data

    def put_back(self, data: bytes) -> None:
        """Bytes taken and not read: they come first next time."""
        self._data[:0] = data

    def settle(self) -> None:
        """Read from the client again once the session has read down to half the limit."""
        if self.paused and len(self._data) <= self.limit // 2:
            self.paused = False
            self._resume()

    def clear(self) -> bytes:
        """Drop and return everything held (the connection is gone)."""
        return self.take()


class LineRunner:
    """Runs a session's lines one at a time and keeps its history and board entry.

    :param runner: the runner every session shares.
    :param state: the session's state (its history is kept here).
    :param session: what a bridge command (``.events``) changes.
    :param board: who runs what, across every session.
    :param history: where the history comes from and goes back to.
    :param clock: for the waiting notice.
    :param tell: writes a notice to the session (used only when ``wants_notices()``).
    :param wants_notices: whether the session asked to be told (events shown).
    """

    _log = Logger()

    def __init__(self, runner: LineService, state: SessionState, session: BridgeSession,
                 board: CommandBoard, history: HistoryStore, clock: IReactorTime,
                 tell: Callable[[str], None], wants_notices: Callable[[], bool]) -> None:
        self._runner = runner
        self._state = state
        self._session = session
        self._board = board
        self._store = history
        self._clock = clock
        self._tell = tell
        self._wants_notices = wants_notices
        self._ticket: Optional[int] = None
        self._wait_call: Optional[IDelayedCall] = None
        self._saved: List[str] = []
        self.running = False

    # -- history ------------------------------------------------------------------

    def who(self) -> Optional[str]:
        """The authenticated user whose history this is (None: known only by address)."""
        identity = self._state.identity
        if identity is None or identity.method == "peer":
            return None
        return identity.name

    def load_history(self) -> None:
        """Take the kept history of the session's user (the session begins)."""
        self._state.history[:] = self._store.load(self.who())
        self._saved = list(self._state.history)

    def adopt_history(self) -> None:
        """The user became known later (a TLS certificate): take that user's history,
        the lines typed so far staying newest."""
        typed = list(self._state.history)
        self._state.history[:] = self._store.load(self.who())
        for line in typed:
            remember(self._state, line)
        self._saved = list(self._state.history)

    def save_history(self) -> None:
        """Save the history (the session ends)."""
        self._store.save(self.who(), list(self._state.history))

    def _keep_history(self) -> None:
        """Save the history when a line changed it, so a crash loses no line."""
        if self._state.history != self._saved:
            self._saved = list(self._state.history)
            try:
                self._store.save(self.who(), self._saved)
            except Exception:  # noqa: BLE001 - a store that fails must not stop the line
                self._log.failure("Saving the history failed")

    # -- lines ----------------------------------------------------------------------

    def run(self, line: str) -> "Deferred[str]":
        """Run ``line``; fires with the text to print (``\\n`` line ends)."""
        self.running = True
        remember(self._state, line)  # at Enter, as QEMU's readline_hist_add
        if is_bridge_command(line):
            self._keep_history()
            answer = run_bridge_command(line, self._session)
            self._runner.audit(self._state.identity, {"hmp": line}, "ok")
            text = answer if isinstance(answer, Deferred) else succeed(answer)
            return text.addBoth(self._done)
        self._ticket = self._board.start(self._session, line)
        if self._wants_notices():
            self._wait_call = self._clock.callLater(WAIT_NOTICE_DELAY, self._waiting)
        answer = self._runner.run(line, self._state)
        self._keep_history()
        return answer.addBoth(self._done)

    def retarget(self, runner: LineService, board: CommandBoard) -> None:
        """Run the next lines on ``runner``, with ``board`` (the session switched VM)."""
        self._runner = runner
        self._board = board

    def dropped(self, lines: List[str]) -> None:
        """Lines sent and never run (the client left): the audit log still says so."""
        for line in lines:
            if line.strip():
                self._runner.audit(self._state.identity, {"hmp": line}, "dropped")

    def stop(self) -> None:
        """The session is gone: take its line off the board."""
        self._finish()

    def _done(self, result: object) -> object:
        self.running = False
        self._finish()
        return result

    def _waiting(self) -> None:
        """A second has passed: say so if another operator's command is ahead of ours."""
        self._wait_call = None
        if self._ticket is None or not self._wants_notices():
            return
        other = self._board.ahead_of(self._ticket)
        if other is not None:
            self._tell(waiting_notice(other))

    def _finish(self) -> None:
        if self._wait_call is not None and self._wait_call.active():
            self._wait_call.cancel()
        self._wait_call = None
        if self._ticket is not None:
            self._board.finish(self._ticket)
            self._ticket = None
