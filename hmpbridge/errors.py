"""The exception tree of hmpbridge.

::

    HMPBridgeError
     +-- ParseError              a line QEMU's HMP parser would refuse; ``str()`` is
     |                           the exact text QEMU prints (one or more lines)
     +-- QMPError
          +-- QMPCommandError    QEMU answered a command with an error reply
          +-- QMPDisconnected    the connection went away with the command in flight
          +-- QMPNotConnected    no QMP connection is ready to take the command
          +-- QMPProtocolError   QEMU (or what claims to be it) broke the protocol
          +-- QMPUnsendable      a command QMP cannot carry (text that is not Unicode, NaN)
          +-- QMPReplyTooLarge   QEMU's reply to a command was longer than the bridge keeps
          +-- CommandTimeout     no reply within the command's time limit

Every exception carries structured fields besides its readable text, so
callers match on meaning rather than on strings.  ``hmpbridge.render.errors``
is the one place that turns these into HMP text.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = [
    "HMPBridgeError",
    "ParseError",
    "QMPError",
    "QMPCommandError",
    "QMPDisconnected",
    "QMPNotConnected",
    "QMPProtocolError",
    "QMPUnsendable",
    "QMPReplyTooLarge",
    "CommandTimeout",
]


class HMPBridgeError(Exception):
    """Root of every error hmpbridge raises."""


class ParseError(HMPBridgeError):
    """A line that QEMU's HMP parser refuses.

    :param text: the exact text QEMU prints, newline-terminated lines.
    :param column: 0-based column in the raw line where parsing failed, if known.
    :param command: the command table name involved, if any.
    :param fmt: a ``/fmt`` item QEMU had already read (and applied to its
        shared default format) before it refused the line.
    """

    def __init__(self, text: str, column: Optional[int] = None,
                 command: Optional[str] = None,
                 fmt: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(text)
        self.text = text
        self.column = column
        self.command = command
        self.fmt = fmt

    def __str__(self) -> str:
        return self.text


class QMPError(HMPBridgeError):
    """Root of the errors that come from talking QMP."""


class QMPCommandError(QMPError):
    """QEMU replied ``{"error": {"class": ..., "desc": ...}}``.

    :param error_class: the QMP error class, e.g. ``DeviceNotFound``.
    :param desc: the human description, printed by HMP as ``Error: <desc>``.
    :param command: the QMP command name that failed.
    """

    def __init__(self, error_class: str, desc: str, command: Optional[str] = None,
                 reply: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(f"{error_class}: {desc}")
        self.error_class = error_class
        self.desc = desc
        self.command = command
        self.reply = reply


class QMPDisconnected(QMPError):
    """The QMP connection was lost while the command was in flight.

    :param reason: the underlying failure or reason text, kept for logs.
    """

    def __init__(self, reason: object = None) -> None:
        super().__init__(f"QMP connection lost: {reason}")
        self.reason = reason


class QMPNotConnected(QMPError):
    """No QMP connection is ready; the command was not sent."""


class QMPProtocolError(QMPError):
    """The peer broke the QMP protocol (bad greeting, unparseable JSON, ...)."""


class QMPUnsendable(QMPError):
    """A command that QMP cannot carry to QEMU; it was not sent.

    :param command: the QMP command name.
    :param reason: what it holds that QMP cannot carry, e.g.
        ``text that is not valid UTF-8 (byte \\xc3)``.
    """

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"cannot send {command} to QEMU: its arguments hold {reason}")
        self.command = command
        self.reason = reason


class QMPReplyTooLarge(QMPError):
    """QEMU's reply to a command was longer than the bridge keeps; it was discarded.

    :param command: the QMP command name.
    :param limit: the largest reply kept, in bytes.
    """

    def __init__(self, command: str, limit: int) -> None:
        super().__init__(f"QEMU's reply to {command} is larger than {limit} bytes")
        self.command = command
        self.limit = limit


class CommandTimeout(QMPError):
    """A command got no reply within its time limit; a late reply is dropped.

    :param command: the QMP command name.
    :param seconds: the limit that expired.
    """

    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(f"{command}: no reply within {seconds:g} s")
        self.command = command
        self.seconds = seconds
