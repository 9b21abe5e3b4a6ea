"""Native ``info migrate_parameters`` and ``info migrate_capabilities``.

The lines are those of the release whose text is printed
(``ctx.profile.release``), for the parameters the QEMU served has (its live
schema): see :mod:`hmpbridge.render.migration`.
"""

from __future__ import annotations

from typing import FrozenSet, Optional

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import QemuProfile
from hmpbridge.render.migration import render_migrate_capabilities, render_migrate_parameters

__all__ = ["info_migrate_parameters", "info_migrate_capabilities", "parameter_members"]


def parameter_members(profile: QemuProfile) -> Optional[FrozenSet[str]]:
    """The members of ``query-migrate-parameters``' reply in the live schema (None: unknown)."""
    schema = profile.schema
    if schema is None or "query-migrate-parameters" not in schema.commands:
        return None
    return frozenset(schema.member_names(schema.returns("query-migrate-parameters")))


@handler("info migrate_parameters")
def info_migrate_parameters(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info migrate_parameters``: the release's order and units."""
    params = yield QMPCommand("query-migrate-parameters")
    return render_migrate_parameters(params, ctx.profile.release, parameter_members(ctx.profile))


@handler("info migrate_capabilities")
def info_migrate_capabilities(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info migrate_capabilities``: one ``name: on|off`` line per capability."""
    caps = yield QMPCommand("query-migrate-capabilities")
    profile = ctx.profile
    return render_migrate_capabilities(caps, profile.release, (profile.qemu[0], profile.qemu[1]))
