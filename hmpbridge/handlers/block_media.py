"""Removable media and image size: ``eject``, ``change``, ``block_resize``.

Every ``device`` here is a BlockBackend (drive) name, as in QEMU 7.2's HMP.
``change vnc password X`` is the VNC case of ``change``: it becomes
``change-vnc-password``.  Its argument errors print bare up to 7.2 and with
``Error: `` from 8.0 (``hmp_change_vnc``).  QEMU's refusals of the password
come with a hint HMP prints and QMP replies drop: up to 11.0 the line
:data:`VNC_NO_PASSWORD_AUTH` before "Could not set password" (when the
display has no password auth); in 11.1 one after the error, without a line
end (:data:`VNC_HINTS`); an older release's text asked for over 11.1 words
them as that release did.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["eject", "change", "block_resize", "lock_hint", "READ_ONLY_MODES",
           "VNC_NO_PASSWORD_AUTH", "NO_PASSWORD_PROMPT", "VNC_HINTS"]

#: BlockdevChangeReadOnlyMode, in QEMU 7.2.
READ_ONLY_MODES = ("retain", "read-only", "read-write")

#: What QEMU prints (before the error) when VNC runs without password auth.
VNC_NO_PASSWORD_AUTH = ("If you want use passwords please enable password auth using "
                        "'-vnc ${dpy},password'.\n")

#: QEMU 11.1's refusal when the display has no password auth.
VNC_AUTH_DISABLED = "VNC password authentication is disabled"
#: What QEMU said for both of 11.1's refusals until 11.0.
COULD_NOT_SET_PASSWORD = "Could not set password"

#: QEMU 11.1's refusals of ``change-vnc-password`` -> the hint HMP prints
#: after them (``error_append_hint`` without a line end).
VNC_HINTS = {
    "No VNC display is present": "To enable it, use '-vnc ...'",
    VNC_AUTH_DISABLED: "To enable it, use '-vnc ...,password-secret=ID'",
}

#: What QEMU prints instead of the ``Password: `` prompt on a monitor that
#: cannot prompt (the one ``human-monitor-command`` uses).
NO_PASSWORD_PROMPT = "terminal does not support password prompting\n"


@handler("eject")
def eject(inv: Invocation, ctx: Context) -> HandlerResult:
    """``eject [-f] device``: ``force`` is always sent."""
    yield QMPCommand("eject", {"device": inv.args["device"],
                               "force": bool(inv.args.get("force", False))})
    return ""


@handler("block_resize")
def block_resize(inv: Invocation, ctx: Context) -> HandlerResult:
    """``block_resize device size``; the size is already in bytes."""
    yield QMPCommand("block_resize", {"device": inv.args["device"], "size": inv.args["size"]})
    return ""


@handler("change")
def change(inv: Invocation, ctx: Context) -> HandlerResult:
    """``change device [-f] target [format [read-only-mode]]``, or its VNC form."""
    device = inv.args["device"]
    target = inv.args["target"]
    arg = inv.args.get("arg")
    read_only = inv.args.get("read-only-mode")
    if device == "vnc":
        return (yield from _change_vnc(target, arg, read_only, ctx.profile.release))
    if read_only is not None and read_only not in READ_ONLY_MODES:
        return f"Error: invalid parameter value: {read_only}\n"
    arguments: Dict[str, Any] = {"device": device, "filename": target}
    if arg is not None:
        arguments["format"] = arg
    arguments["force"] = bool(inv.args.get("force", False))
    if read_only is not None:
        arguments["read-only-mode"] = read_only
    try:
        yield QMPCommand("blockdev-change-medium", arguments)
    except QMPCommandError as err:
        return f"Error: {err.desc}\n" + lock_hint(err.desc, target)
    return ""


_LOCK_RE = re.compile(r'Failed to get (shared )?"[^"]+" lock\Z')


def lock_hint(desc: str, filename: str) -> str:
    """The hint line QEMU adds to an image lock failure (QMP replies drop hints)."""
    if _LOCK_RE.match(desc):
        return f"Is another process using the image [{filename}]?\n"
    return ""


def _change_vnc(target: str, password: Any, read_only: Any,
                release: Tuple[int, int]) -> HandlerResult:
    """``change vnc password [X]``, with HMP's own messages."""
    prefix = "Error: " if release >= (8, 0) else ""
    if read_only is not None:
        return prefix + "Parameter 'read-only-mode' is invalid for VNC\n"
    if target not in ("passwd", "password"):
        return prefix + "Expected 'password' after 'vnc'\n"
    if password is None:
        return NO_PASSWORD_PROMPT
    try:
        yield QMPCommand("change-vnc-password", {"password": password})
    except QMPCommandError as err:
        text = f"Error: {err.desc}\n"
        if err.desc in VNC_HINTS and release < (11, 1):
            # 11.1's refusals, as the release printed worded the same failures
            hint = VNC_NO_PASSWORD_AUTH if err.desc == VNC_AUTH_DISABLED else ""
            return hint + f"Error: {COULD_NOT_SET_PASSWORD}\n"
        if err.desc in VNC_HINTS:
            return text + VNC_HINTS[err.desc]
        # QEMU also prints a hint, to the monitor only, when the first VNC
        # display has no password authentication.
        try:
            vnc = yield QMPCommand("query-vnc")
        except QMPCommandError:
            return text
        if isinstance(vnc, dict) and vnc.get("enabled") and vnc.get("auth") == "none":
            return VNC_NO_PASSWORD_AUTH + text
        return text
    return ""
