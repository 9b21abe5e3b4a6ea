"""``info stats TARGET [NAMES [PROVIDER]]``: statistics from ``query-stats``.

QEMU checks the target and the provider against its ``StatsTarget`` and
``StatsProvider`` enums first (7.2: ``vm``, ``vcpu``; ``kvm``; QEMU 8.0 added
the ``cryptodev`` target and provider; unchanged up to 11.1).  Their values
are read from the live schema, limited to those the printed release had
(``--hmp-version 7.2`` refuses ``cryptodev`` as 7.2 does).  It then reads
the schemas of every (or the one) provider and asks for the statistics.  The
``vcpu`` target is limited to the monitor's current CPU (by QOM path); names
are a comma list (``*`` or none for all; 8.0 keeps an empty name after a
trailing comma), and a filter is sent per provider the printed release
knows when names or a provider are given.  QMP errors print bare, without
``Error:``.  Under TCG only the cryptodev provider (8.0) has statistics.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import QemuProfile, Release
from hmpbridge.render.info_more import render_stats

__all__ = ["info_stats", "comma_list", "split_at_comma", "stats_targets", "stats_providers",
           "TARGET_SINCE", "PROVIDER_SINCE"]

#: StatsTarget values, in QEMU's order -> the release that added them (qapi/stats.json).
TARGET_SINCE: Mapping[str, Release] = {"vm": (7, 2), "vcpu": (7, 2), "cryptodev": (8, 0)}
#: StatsProvider values, in QEMU's order -> the release that added them.
PROVIDER_SINCE: Mapping[str, Release] = {"kvm": (7, 2), "cryptodev": (8, 0)}


def _enum_of(profile: QemuProfile, since: Mapping[str, Release], command: str,
             member: str) -> Tuple[str, ...]:
    """The values of the enum ``command``'s argument ``member`` takes, as the printed
    release knows them: the live schema's (a value :data:`TARGET_SINCE` or
    :data:`PROVIDER_SINCE` does not know is taken to be new in the served QEMU),
    less those added after the printed release; without a schema, that release's."""
    release = profile.release
    schema = profile.schema
    if schema is None or command not in schema.commands:
        return tuple(name for name, first in since.items() if first <= release)
    values = schema.enum_values(schema.member_type(schema.arguments(command), member))
    own = (profile.qemu[0], profile.qemu[1])
    return tuple(value for value in values if since.get(value, own) <= release)


def stats_targets(profile: QemuProfile) -> Tuple[str, ...]:
    """``StatsTarget`` as the printed release has it (``info stats`` refuses the rest)."""
    return _enum_of(profile, TARGET_SINCE, "query-stats", "target")


def stats_providers(profile: QemuProfile) -> Tuple[str, ...]:
    """``StatsProvider`` as the printed release has it, in QEMU's order."""
    return _enum_of(profile, PROVIDER_SINCE, "query-stats-schemas", "provider")


def comma_list(text: str) -> List[str]:
    """Split as QEMU 7.2's ``strList_from_comma_list``: a trailing comma adds nothing."""
    items: List[str] = []
    rest: Optional[str] = text
    while rest:
        head, sep, tail = rest.partition(",")
        items.append(head)
        rest = tail if sep else None
    return items


def split_at_comma(text: str) -> List[str]:
    """Split as ``hmp_split_at_comma`` (QEMU 8.0 on, ``g_strsplit``): a trailing comma
    adds an empty name, "" gives none."""
    return text.split(",") if text else []


def _current_cpu_path(cpus: Any, cpu_index: int) -> Optional[str]:
    """The QOM path of the session's CPU (the first CPU when it is gone)."""
    for cpu in cpus or []:
        if cpu.get("cpu-index") == cpu_index:
            return str(cpu.get("qom-path"))
    return str(cpus[0].get("qom-path")) if cpus else None


@handler("info stats")
def info_stats(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info stats``: ``provider: X`` (when none was named) and one line per statistic."""
    target = inv.args["target"]
    names = inv.args.get("names")
    provider = inv.args.get("provider")
    if target not in stats_targets(ctx.profile):
        return f"invalid stats target {target}\n"
    providers_known = stats_providers(ctx.profile)
    if provider is not None and provider not in providers_known:
        return f"invalid stats provider {provider}\n"
    try:
        schemas = yield QMPCommand("query-stats-schemas",
                                   {"provider": provider} if provider is not None else None)
        request: Dict[str, Any] = {"target": target}
        if target == "vcpu":
            cpus = yield QMPCommand("query-cpus-fast")
            path = _current_cpu_path(cpus, ctx.state.cpu_index)
            request["vcpus"] = [path] if path is not None else []
        if names is not None or provider is not None:
            providers: List[Dict[str, Any]] = []
            for name in providers_known:
                if provider is None or provider == name:
                    entry: Dict[str, Any] = {"provider": name}
                    if names is not None and names != "*":
                        split = split_at_comma if ctx.profile.since(8, 0) else comma_list
                        entry["names"] = split(names)
                    providers.insert(0, entry)  # QEMU prepends
            request["providers"] = providers
        results = yield QMPCommand("query-stats", request)
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return render_stats(results, target, provider is None, schemas)
