"""Removable media and image size: ``eject``, ``change``, ``block_resize``.

Every ``device`` here is a BlockBackend (drive) name, as in QEMU 7.2's HMP.
``change vnc password X`` is the VNC case of ``change``: it becomes
``change-vnc-password``.
"""

from __future__ import annotations

import re
from typing import Any, Dict

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["eject", "change", "block_resize", "lock_hint", "READ_ONLY_MODES",
           "VNC_NO_PASSWORD_AUTH", "NO_PASSWORD_PROMPT"]

#: BlockdevChangeReadOnlyMode, in QEMU 7.2.
READ_ONLY_MODES = ("retain", "read-only", "read-write")

#: What QEMU prints (before the error) when VNC runs without password auth.
VNC_NO_PASSWORD_AUTH = ("If you want use passwords please enable password auth using "
                        "'-vnc ${dpy},password'.\n")

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
        return (yield from _change_vnc(target, arg, read_only))
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


def _change_vnc(target: str, password: Any, read_only: Any) -> HandlerResult:
    """``change vnc password [X]``, with HMP's own messages."""
    if read_only is not None:
        return "Parameter 'read-only-mode' is invalid for VNC\n"
    if target not in ("passwd", "password"):
        return "Expected 'password' after 'vnc'\n"
    if password is None:
        return NO_PASSWORD_PROMPT
    try:
        yield QMPCommand("change-vnc-password", {"password": password})
    except QMPCommandError as err:
        text = f"Error: {err.desc}\n"
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
