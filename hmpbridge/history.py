"""Operators' command histories kept on disk, one file per authenticated user.

QEMU's monitor keeps the last 64 lines typed into it (its readline history)
and forgets them when QEMU exits; every monitor has its own.  hmpbridge keeps
the same history per session, and with ``--state-dir DIR`` also gives an
authenticated user (a password login or a TLS client certificate) their
history back in the next session: Up/Down and ``info history`` show it.

:class:`FileHistoryStore` writes one file per user name into ``DIR``:

- the name is hex-encoded (``u-616c696365.history`` for ``alice``; a name
  too long for a file name is hashed, ``h-<sha256>.history``), so any user
  name is a safe file name on any file system;
- the directory is made mode 0700 and every file is written mode 0600;
- a file is replaced atomically (written to a temporary file in the same
  directory, then renamed over the old one), so a reader or a crash never
  sees half a file;
- a file holds at most :data:`HISTORY_SIZE` lines of at
  most :data:`~hmpbridge.limits.MAX_LINE` bytes each (longer ones are cut,
  as QEMU's line buffer cuts them).

Two sessions of one user at the same time each start with what the file held
when they began and each walk only their own lines after that.  Every save
merges the session's history into what the file holds now (:func:`merge`):
lines only the file has (another session's) are kept in their place, the
saving session's own order wins where the two disagree, and the newest
``HISTORY_SIZE`` lines are kept.  So no line is lost to the other session
except by the size bound, and the last session to save decides the order.

Operators known only by their address (no login, no certificate) are not
kept: :meth:`FileHistoryStore.load` and :meth:`FileHistoryStore.save` get
``None`` for them and their history lives as long as the connection.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import stat
import tempfile
from typing import List, Optional, Protocol, Sequence

from twisted.logger import Logger

from hmpbridge.limits import MAX_LINE
from hmpbridge.model import SessionState

__all__ = ["HISTORY_SIZE", "remember", "HistoryStore", "ConnectionHistory", "FileHistoryStore",
           "file_name", "merge", "cap_line", "FILE_SUFFIX"]

#: Lines QEMU's readline keeps in a monitor's history (``READLINE_MAX_CMDS``).
HISTORY_SIZE = 64

FILE_SUFFIX = ".history"


def remember(state: SessionState, line: str) -> None:
    """Add an entered ``line`` to the session's history as QEMU's ``readline_hist_add`` does.

    Every line but the empty one is kept (a line of blanks too), a line
    already there moves to the end, and only the last :data:`HISTORY_SIZE`
    lines are kept.
    """
    if not line:
        return
    history = state.history
    if line in history:
        history.remove(line)
    history.append(line)
    del history[:-HISTORY_SIZE]

#: Longest hex-encoded user name used as a file name as it is (255 is the usual limit).
_MAX_HEX = 200

#: Format version written into every file.
_VERSION = 1


class HistoryStore(Protocol):
    """Where a session's history comes from and goes back to.

    Keyed by who the operator is, so that a store that remembers (per
    authenticated user) can give an operator their history back next time.
    ``who`` is the user name of a password login or client certificate, and
    None for an operator known only by address: such history is never kept
    beyond the connection.  The session saves after each line and at its end.
    """

    def load(self, who: Optional[str]) -> List[str]:
        """The history to start a session with, oldest first."""

    def save(self, who: Optional[str], history: List[str]) -> None:
        """Keep a finished session's history."""


class ConnectionHistory:
    """History that lives as long as the connection: every session starts empty."""

    def load(self, who: Optional[str]) -> List[str]:
        return []

    def save(self, who: Optional[str], history: List[str]) -> None:
        return None


def file_name(who: str) -> str:
    """The file name of ``who``'s history: the hex of its UTF-8 bytes, or their SHA-256."""
    raw = who.encode("utf-8", "surrogateescape")
    if len(raw) * 2 <= _MAX_HEX:
        return "u-" + raw.hex() + FILE_SUFFIX
    return "h-" + hashlib.sha256(raw).hexdigest() + FILE_SUFFIX


def cap_line(line: str, limit: int = MAX_LINE) -> str:
    """``line`` cut to ``limit`` bytes of UTF-8, as the session cuts an over-long line."""
    raw = line.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return line
    return raw[:limit].decode("utf-8", "surrogateescape")


def merge(saved: Sequence[str], session: Sequence[str], size: int = HISTORY_SIZE) -> List[str]:
    """``session``'s history merged into the ``saved`` one, newest ``size`` lines kept.

    Lines both hold in the same order stay where they are; lines only
    ``saved`` holds (another session's) go before the session's lines that
    follow the same common line; a line the two order differently takes the
    session's place.  Each line appears once.
    """
    mine = set(session)
    out: List[str] = []
    matcher = difflib.SequenceMatcher(a=list(saved), b=list(session), autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(session[b0:b1])
            continue
        out.extend(line for line in saved[a0:a1] if line not in mine)
        out.extend(session[b0:b1])
    unique: List[str] = []
    seen = set()
    for line in reversed(out):
        if line not in seen:
            seen.add(line)
            unique.append(line)
    unique.reverse()
    return unique[-size:] if size > 0 else []


class FileHistoryStore:
    """Histories of authenticated users, kept in a state directory across sessions.

    :param directory: where the files go; made (mode 0700) when missing, and
        its mode narrowed to 0700 when it allows others in.  Raises
        :class:`OSError` when it cannot be made or is not a directory.
    :param size: lines kept per user (QEMU's history size).
    :param line_bytes: longest line kept, in bytes.
    """

    _log = Logger()

    def __init__(self, directory: str, size: int = HISTORY_SIZE,
                 line_bytes: int = MAX_LINE) -> None:
        self.directory = os.path.abspath(directory)
        self.size = size
        self.line_bytes = line_bytes
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        mode = os.stat(self.directory).st_mode
        if not stat.S_ISDIR(mode):
            raise NotADirectoryError(f"{self.directory} is not a directory")
        if stat.S_IMODE(mode) & 0o077:
            os.chmod(self.directory, 0o700)

    def path(self, who: str) -> str:
        """The file holding ``who``'s history."""
        return os.path.join(self.directory, file_name(who))

    def _limit(self) -> int:
        """Most bytes a valid file can have (each byte escaped as ``\\udcxx``)."""
        return self.size * (self.line_bytes * 6 + 4) + 1024

    def load(self, who: Optional[str]) -> List[str]:
        """``who``'s kept history, oldest first; empty for None or when nothing is kept.

        A file that cannot be read or is not a history is logged and taken as empty.
        """
        if who is None:
            return []
        path = self.path(who)
        try:
            with open(path, "rb") as f:
                data = f.read(self._limit() + 1)
        except FileNotFoundError:
            return []
        except OSError as err:
            self._log.warn("Cannot read the history of {user} from {path}: {error}",
                           user=who, path=path, error=err.strerror)
            return []
        lines = self._parse(data)
        if lines is None:
            self._log.warn("Ignoring {path}: not a history file", path=path)
            return []
        return self._bounded(lines)

    def _parse(self, data: bytes) -> Optional[List[str]]:
        if len(data) > self._limit():
            return None
        try:
            document = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
        lines = document.get("lines") if isinstance(document, dict) else None
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            return None
        return lines

    def _bounded(self, lines: Sequence[str]) -> List[str]:
        """The last ``size`` distinct non-empty lines, each cut to ``line_bytes``.

        A line of blanks is kept, as QEMU's ``readline_hist_add`` and a
        session's own history keep it; only the empty line is not.
        """
        kept: List[str] = []
        for line in lines:
            line = cap_line(line, self.line_bytes)
            if not line:
                continue
            if line in kept:
                kept.remove(line)
            kept.append(line)
        return kept[-self.size:] if self.size > 0 else []

    def save(self, who: Optional[str], history: List[str]) -> None:
        """Merge ``history`` into ``who``'s file (see :func:`merge`); nothing for None.

        A failure to write is logged; the session goes on.
        """
        if who is None:
            return
        lines = merge(self.load(who), self._bounded(history), self.size)
        data = json.dumps({"version": _VERSION, "lines": lines}, ensure_ascii=True,
                          indent=0).encode("ascii") + b"\n"
        path = self.path(who)
        try:
            self._replace(path, data)
        except OSError as err:
            self._log.warn("Cannot keep the history of {user} in {path}: {error}",
                           user=who, path=path, error=err.strerror)

    def _replace(self, path: str, data: bytes) -> None:
        """Write ``data`` to a 0600 temporary file beside ``path`` and rename it over.

        No fsync: this runs on the reactor for every line, and a killed bridge
        loses nothing without it (the kernel has the data); only a host crash
        can cost the last lines.
        """
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=FILE_SUFFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
