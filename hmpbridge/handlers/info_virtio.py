"""Native ``info virtio*`` commands over QEMU's ``x-query-virtio*`` QMP commands.

HMP reads the queue number (and element index) into a C ``int`` and QMP
takes them as ``uint16``, so they are sent truncated as QEMU does; an index
of -1 means "not given".  Errors print as ``Error: <desc>`` (QEMU's vhost
message already starts with ``Error:``, so that one shows it twice); QEMU
8.2 says ``is not a realized VirtIODevice`` where earlier releases said
``is not a VirtIODevice``, which an older release's text keeps.
"""

from __future__ import annotations

from typing import Any, Dict, Generator

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.hazards import command_aborts
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render import virtio

__all__ = ["info_virtio", "info_virtio_status", "info_virtio_queue_status",
           "info_vhost_queue_status", "info_virtio_queue_element"]


def _c_int(value: int) -> int:
    value = int(value) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _queue_args(inv: Invocation) -> Dict[str, Any]:
    return {"path": inv.args["path"], "queue": _c_int(inv.args["queue"]) & 0xFFFF}


_NOT_REALIZED = " is not a realized VirtIODevice"


def _query(ctx: Context, name: str, arguments: Dict[str, Any]
           ) -> Generator[QMPCommand, Any, Any]:
    """``name`` with ``arguments``; before 8.2 the "not a VirtIODevice" error in its words."""
    try:
        return (yield QMPCommand(name, arguments))
    except QMPCommandError as err:
        if ctx.profile.since(8, 2) or not err.desc.endswith(_NOT_REALIZED):
            raise
        raise QMPCommandError(err.error_class, err.desc[:-len(_NOT_REALIZED)]
                              + " is not a VirtIODevice", name) from None


@handler("info virtio")
def info_virtio(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info virtio``: ``path [name]`` per virtio device."""
    return virtio.render_virtio_list((yield QMPCommand("x-query-virtio")))


@handler("info virtio-status")
def info_virtio_status(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info virtio-status PATH``: the device's state and feature bits."""
    path = inv.args["path"]
    release = "{}.{}".format(*ctx.profile.qemu[:2])
    if command_aborts("x-query-virtio-status", release):
        # QEMU dies on a device's status (hmpbridge.hazards): only a path that
        # names none is asked, for QEMU's own error; a device's is refused
        devices = yield QMPCommand("x-query-virtio")
        if all(device.get("path") != path for device in devices):
            words = _NOT_REALIZED if ctx.profile.since(8, 2) else " is not a VirtIODevice"
            return f"Error: Path {path}{words}\n"
    status = yield from _query(ctx, "x-query-virtio-status", {"path": path})
    return virtio.render_virtio_status(path, status)


@handler("info virtio-queue-status")
def info_virtio_queue_status(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info virtio-queue-status PATH QUEUE``: one virtqueue's indexes and rings."""
    status = yield from _query(ctx, "x-query-virtio-queue-status", _queue_args(inv))
    return virtio.render_virtio_queue_status(inv.args["path"], status)


@handler("info virtio-vhost-queue-status")
def info_vhost_queue_status(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info virtio-vhost-queue-status PATH QUEUE``: a vhost queue's rings."""
    status = yield from _query(ctx, "x-query-virtio-vhost-queue-status", _queue_args(inv))
    return virtio.render_vhost_queue_status(inv.args["path"], status)


@handler("info virtio-queue-element")
def info_virtio_queue_element(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info virtio-queue-element PATH QUEUE [INDEX]``: one ring element (default: head)."""
    arguments = _queue_args(inv)
    if "index" in inv.args:
        index = _c_int(inv.args["index"])
        if index != -1:
            arguments["index"] = index & 0xFFFF
    element = yield from _query(ctx, "x-query-virtio-queue-element", arguments)
    return virtio.render_virtio_queue_element(inv.args["path"], element)
