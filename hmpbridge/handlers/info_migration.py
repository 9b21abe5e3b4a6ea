"""Native ``info migrate_parameters`` and ``info migrate_capabilities``."""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.migration import render_migrate_capabilities, render_migrate_parameters

__all__ = ["info_migrate_parameters", "info_migrate_capabilities"]


@handler("info migrate_parameters")
def info_migrate_parameters(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info migrate_parameters``: QEMU's fixed order and units."""
    return render_migrate_parameters((yield QMPCommand("query-migrate-parameters")))


@handler("info migrate_capabilities")
def info_migrate_capabilities(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info migrate_capabilities``: one ``name: on|off`` line per capability."""
    return render_migrate_capabilities((yield QMPCommand("query-migrate-capabilities")))
