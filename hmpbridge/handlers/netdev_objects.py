"""Host network backends and QOM objects: ``netdev_add``/``netdev_del``,
``object_add``/``object_del`` and ``set_link``.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["netdev_del", "object_del", "set_link"]


@handler("netdev_del")
def netdev_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``netdev_del id`` -> ``netdev_del``."""
    yield QMPCommand("netdev_del", {"id": inv.args["id"]})
    return ""


@handler("object_del")
def object_del(inv: Invocation, ctx: Context) -> HandlerResult:
    """``object_del id`` -> ``object-del``."""
    yield QMPCommand("object-del", {"id": inv.args["id"]})
    return ""


@handler("set_link")
def set_link(inv: Invocation, ctx: Context) -> HandlerResult:
    """``set_link name on|off`` -> ``set_link``."""
    yield QMPCommand("set_link", {"name": inv.args["name"], "up": inv.args["up"]})
    return ""
