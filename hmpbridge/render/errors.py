"""The one place that turns hmpbridge exceptions into HMP text."""

from __future__ import annotations

from hmpbridge.errors import (
    CommandTimeout,
    ParseError,
    QMPCommandError,
    QMPDisconnected,
    QMPNotConnected,
    QMPReplyTooLarge,
    QMPUnsendable,
)

__all__ = ["render_error", "CONNECTION_LOST", "NOT_CONNECTED"]

CONNECTION_LOST = "Error: QEMU monitor connection lost\n"
NOT_CONNECTED = "Error: QEMU monitor connection is not available\n"


def render_error(error: BaseException) -> str:
    """The text HMP prints for ``error`` (newline-terminated).

    A QMP error reply prints as QEMU's ``hmp_handle_error`` does:
    ``Error: <desc>``.  Parse errors carry their own exact text.
    """
    if isinstance(error, ParseError):
        return error.text
    if isinstance(error, QMPCommandError):
        return f"Error: {error.desc}\n"
    if isinstance(error, QMPDisconnected):
        return CONNECTION_LOST
    if isinstance(error, QMPNotConnected):
        return NOT_CONNECTED
    if isinstance(error, (QMPUnsendable, QMPReplyTooLarge)):
        return f"Error: {error}\n"
    if isinstance(error, CommandTimeout):
        return f"Error: QEMU did not answer {error.command} within {error.seconds:g} s\n"
    return f"Error: internal error in hmpbridge: {type(error).__name__}\n"
