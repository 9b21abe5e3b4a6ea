"""``info stats TARGET [NAMES [PROVIDER]]``: statistics from ``query-stats``.

QEMU 7.2 checks the target (``vm`` or ``vcpu``) and the provider (``kvm``)
against its enums first, reads the schemas of every (or the one) provider,
then asks for the statistics.  The ``vcpu`` target is limited to the
monitor's current CPU (by QOM path); names are a comma list (``*`` or none
for all), and a filter is sent per provider when names or a provider are
given.  QMP errors print bare, without ``Error:``.  Under TCG no provider
exists and nothing is printed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.info_more import render_stats

__all__ = ["info_stats", "comma_list", "TARGETS", "PROVIDERS"]

#: QEMU 7.2's StatsTarget and StatsProvider enums, in their order.
TARGETS = ("vm", "vcpu")
PROVIDERS = ("kvm",)


def comma_list(text: str) -> List[str]:
    """Split as QEMU 7.2's ``strList_from_comma_list``: a trailing comma adds nothing."""
    items: List[str] = []
    rest: Optional[str] = text
    while rest:
        head, sep, tail = rest.partition(",")
        items.append(head)
        rest = tail if sep else None
    return items


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
    if target not in TARGETS:
        return f"invalid stats target {target}\n"
    if provider is not None and provider not in PROVIDERS:
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
            for name in PROVIDERS:
                if provider is None or provider == name:
                    entry: Dict[str, Any] = {"provider": name}
                    if names is not None and names != "*":
                        entry["names"] = comma_list(names)
                    providers.insert(0, entry)  # QEMU prepends
            request["providers"] = providers
        results = yield QMPCommand("query-stats", request)
    except QMPCommandError as err:
        return f"{err.desc}\n"
    return render_stats(results, target, provider is None, schemas)
