"""The audit log: one JSON line per command, written before the answer goes out.

Each record holds the time, the operator's identity, the listener (and,
when hmpbridge serves several VMs, the ``vm`` the session talks to), what was
received (an HMP line, the bridge's own ``.`` commands included, or a QMP
command), the QMP actually sent, the outcome (``ok``, ``denied``,
``parse-error``, ``timeout``, ``disconnected``, ``error:<QMP error class>``,
``dropped`` for a line the client left before it ran, or ``no-vm`` for a line
on a shared listener with no VM chosen)
and the latency in milliseconds.  Each login attempt is a record too:
``{"login": name}`` with the name tried (never the password) and the outcome
``login-ok``, ``login-failed``, ``login-throttled`` or ``login-denied`` (a user
limited to other VMs, on a VM's own listener).  A unix-socket client
is named after the user its process runs as, its peer
``pid=...,uid=...,gid=...`` (``SO_PEERCRED``).  A run of identical records
(but for their times) is written as its first record and one record with
``"repeated": N``, so a flood cannot rotate older records away.  Every line is
written with one ``write(2)`` as soon as the command ends, so a crash of
hmpbridge loses nothing already answered; ``fsync=True`` also survives a crash
of the host.  The file is rotated by size (``FILE.1`` ... ``FILE.N``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from twisted.logger import Logger

from hmpbridge.model import Identity

__all__ = ["AuditLog", "AuditRecord", "record", "audit_to"]

_log = Logger(namespace="hmpbridge.audit")

AuditRecord = Dict[str, Any]

#: Fields that differ between two records of the same thing.
_VOLATILE = frozenset({"time", "latency_ms"})


def record(*, identity: Optional[Identity], received: Mapping[str, Any],
           sent: List[Mapping[str, Any]], outcome: str, latency: float,
           now: Optional[Callable[[], float]] = None) -> AuditRecord:
    """One audit record (a JSON-ready dict).

    :param received: ``{"hmp": line}``, ``{"qmp": message}`` or ``{"login": name}``.
    :param latency: seconds from receipt to answer.
    """
    stamp = datetime.fromtimestamp((now or time.time)(), timezone.utc)
    who = identity or Identity("unknown")
    rec: AuditRecord = {
        "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "user": who.name, "auth": who.method, "role": who.role,
        "listener": who.listener, "peer": who.peer,
    }
    if who.vm:
        rec["vm"] = who.vm
    rec.update(received)
    rec["sent"] = list(sent)
    rec["outcome"] = outcome
    rec["latency_ms"] = round(latency * 1000, 3)
    return rec


class AuditLog:
    """Appends audit records to a file, rotating it by size.

    :param path: the log file (created 0600 if missing).
    :param max_bytes: rotate once the file is bigger than this (0: never).
    :param keep: how many rotated files to keep.
    :param fsync: ``fsync(2)`` after every line.
    """

    def __init__(self, path: str, max_bytes: int = 10 * 1024 * 1024, keep: int = 5,
                 fsync: bool = False) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self.fsync = fsync
        self._size = 0
        self._fd = self._open()
        self._run_key: Optional[str] = None  # the last record written, less its times
        self._run_last: Optional[Mapping[str, Any]] = None  # its latest repeat
        self._run_count = 0  # repeats not yet written

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(fd).st_size  # once per file, then counted as written
        return fd

    def write(self, rec: Mapping[str, Any]) -> None:
        """Append one record as one line; a repeat of the last one is counted instead.

        A record equal to the one before it but for its time and latency (the
        same client sending the same thing with the same outcome, such as a
        flood of malformed messages) is not written: the run's repeats are
        written as one record with ``"repeated": N`` (the last repeat's time
        and latency) when a different record comes or the log is closed.  So
        a flood costs the log two lines, and cannot rotate older records away.
        """
        key = json.dumps({k: v for k, v in rec.items() if k not in _VOLATILE},
                         sort_keys=True, default=str)
        if key == self._run_key:
            self._run_count += 1
            self._run_last = rec
            return
        self.flush()
        self._run_key = key
        self._append(rec)

    def flush(self) -> None:
        """Write the count of the repeats of the last record, if any."""
        if self._run_count and self._run_last is not None:
            summary = dict(self._run_last)
            summary["repeated"] = self._run_count
            self._run_count = 0
            self._run_last = None
            self._append(summary)

    def _append(self, rec: Mapping[str, Any]) -> None:
        data = (json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        self._size += os.write(self._fd, data)
        if self.fsync:
            os.fsync(self._fd)
        if self.max_bytes and self._size > self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        for n in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{self.path}.{n}"):
                os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
        if self.keep > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._fd = self._open()

    def close(self) -> None:
        """Write what a run of repeats left unwritten, and close the file."""
        self.flush()
        os.close(self._fd)


def audit_to(log: Optional[AuditLog], identity: Optional[Identity],
             received: Mapping[str, Any], outcome: str,
             sent: Sequence[Mapping[str, Any]] = (), latency: float = 0.0) -> None:
    """Write one record to ``log`` (nothing when not auditing); a write that fails
    is said in the log, never raised into the command it records."""
    if log is None:
        return
    try:
        log.write(record(identity=identity, received=received, sent=list(sent),
                         outcome=outcome, latency=latency))
    except OSError as err:
        _log.error("Cannot write the audit log: {error}", error=err)
