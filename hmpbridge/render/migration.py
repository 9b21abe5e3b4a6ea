"""``info migrate_parameters`` and ``info migrate_capabilities``, release by release.

QEMU's ``hmp_info_migrate_parameters`` prints a fixed list of lines, each in
its own format; the list grows and shrinks between releases (read in
``migration/migration-hmp-cmds.c`` at each release and checked against
QEMU 7.2.22, 10.0.2 and 11.1.3):

- 8.1 adds ``x-vcpu-dirty-limit-period`` and ``vcpu-dirty-limit``;
- 8.2 adds ``avail-switchover-bandwidth`` and ``mode``;
- 9.0 adds ``zero-page-detection``;
- 9.1 drops ``compress-*``, ``decompress-threads`` and ``block-incremental``,
  and adds ``direct-io`` (only when QEMU reports it);
- 10.2 moves ``tls-authz`` after ``tls-hostname`` and ``max-postcopy-bandwidth``
  after ``avail-switchover-bandwidth`` (now in ``bytes/second``), and adds
  ``cpr-exec-command``;
- 11.1 adds ``x-rdma-chunk-size``.

A line is printed when the release whose text is asked for has it and the
QEMU served has the parameter (its live schema says so): an older release's
text from a newer QEMU leaves out what that QEMU no longer has, rather than
invent a value.  ``info migrate_capabilities`` prints the capabilities in
QEMU's enumeration order, as ``query-migrate-capabilities`` lists them,
less those the printed release did not have yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple

from hmpbridge.render.common import c_str, on_off

__all__ = ["ParameterLine", "PARAMETER_LINES", "CAPABILITIES_7_2", "CAPABILITY_SINCE",
           "parameter_lines", "render_migrate_parameters", "render_migrate_capabilities",
           "capability_known", "Release"]

Obj = Mapping[str, Any]
Release = Tuple[int, int]


def _num(unit: str = "") -> Callable[[Any], str]:
    return lambda v: "%d%s" % (v or 0, unit)


def _quoted(value: Any) -> str:
    return "'%s'" % c_str(value)


def _argv(value: Any) -> str:
    """``cpr-exec-command``: each word after a space (``monitor_print_cpr_exec_command``)."""
    return "".join(" " + str(word) for word in value or ())


@dataclass(frozen=True)
class ParameterLine:
    """One line of ``info migrate_parameters``.

    :ivar name: the parameter.
    :ivar fmt: the value as QEMU writes it (after ``name:``).
    :ivar since: the first release that prints the line here.
    :ivar until: the first release that no longer prints it here.
    :ivar optional: QEMU prints it only when the reply has the member.
    """

    name: str
    fmt: Callable[[Any], str]
    since: Release = (7, 2)
    until: Optional[Release] = None
    optional: bool = False

    def printed_in(self, release: Release) -> bool:
        return self.since <= release and (self.until is None or release < self.until)

    def render(self, value: Any) -> str:
        if self.name == "cpr-exec-command":
            return f"{self.name}:{_argv(value)}\n"
        return f"{self.name}: {self.fmt(value)}\n"


_BITMAPS = "block-bitmap-mapping"

#: Every line any release prints, in print order (a line that moved appears twice).
PARAMETER_LINES: Tuple[ParameterLine, ...] = (
    ParameterLine("announce-initial", _num(" ms")),
    ParameterLine("announce-max", _num(" ms")),
    ParameterLine("announce-rounds", _num()),
    ParameterLine("announce-step", _num(" ms")),
    ParameterLine("compress-level", _num(), until=(9, 1)),
    ParameterLine("compress-threads", _num(), until=(9, 1)),
    ParameterLine("compress-wait-thread", on_off, until=(9, 1)),
    ParameterLine("decompress-threads", _num(), until=(9, 1)),
    ParameterLine("throttle-trigger-threshold", _num()),
    ParameterLine("cpu-throttle-initial", _num()),
    ParameterLine("cpu-throttle-increment", _num()),
    ParameterLine("cpu-throttle-tailslow", on_off),
    ParameterLine("max-cpu-throttle", _num()),
    ParameterLine("tls-creds", _quoted),
    ParameterLine("tls-hostname", _quoted),
    ParameterLine("tls-authz", _quoted, since=(10, 2)),
    ParameterLine("max-bandwidth", _num(" bytes/second")),
    ParameterLine("avail-switchover-bandwidth", _num(" bytes/second"), since=(8, 2)),
    ParameterLine("max-postcopy-bandwidth", _num(" bytes/second"), since=(10, 2)),
    ParameterLine("downtime-limit", _num(" ms")),
    ParameterLine("x-checkpoint-delay", _num(" ms")),
    ParameterLine("block-incremental", on_off, until=(9, 1)),
    ParameterLine("multifd-channels", _num()),
    ParameterLine("multifd-compression", c_str),
    ParameterLine("zero-page-detection", c_str, since=(9, 0)),
    ParameterLine("xbzrle-cache-size", _num(" bytes")),
    ParameterLine("max-postcopy-bandwidth", _num(), until=(10, 2)),
    ParameterLine("tls-authz", _quoted, until=(10, 2)),
    ParameterLine(_BITMAPS, c_str, optional=True),
    ParameterLine("x-vcpu-dirty-limit-period", _num(" ms"), since=(8, 1)),
    ParameterLine("vcpu-dirty-limit", _num(" MB/s"), since=(8, 1)),
    ParameterLine("mode", c_str, since=(8, 2)),
    ParameterLine("direct-io", on_off, since=(9, 1), optional=True),
    ParameterLine("x-rdma-chunk-size", _num(" bytes"), since=(11, 1)),
    ParameterLine("cpr-exec-command", _argv, since=(10, 2)),
)


def parameter_lines(release: Release) -> List[ParameterLine]:
    """The lines ``release`` prints, in its order."""
    return [line for line in PARAMETER_LINES if line.printed_in(release)]


def _bitmap_mapping(nodes: Sequence[Obj]) -> str:
    out = [f"{_BITMAPS}:\n"]
    for node in nodes:
        out.append("  '%s' -> '%s'\n" % (node["node-name"], node["alias"]))
        for bitmap in node.get("bitmaps", []):
            out.append("    '%s' -> '%s'\n" % (bitmap["name"], bitmap["alias"]))
    return "".join(out)


def render_migrate_parameters(params: Obj, release: Release = (7, 2),
                              members: Optional[Collection[str]] = None) -> str:
    """``info migrate_parameters`` of ``release`` from ``query-migrate-parameters``.

    :param members: the parameters the QEMU served has (its schema), or None
        when unknown: then every line of ``release`` is printed.
    """
    out: List[str] = []
    for line in parameter_lines(release):
        if members is not None and line.name not in members:
            continue
        if line.optional and line.name not in params:
            continue
        if line.name == _BITMAPS:
            out.append(_bitmap_mapping(params[_BITMAPS]))
            continue
        out.append(line.render(params.get(line.name)))
    return "".join(out)


#: MigrationCapability in QEMU 7.2, in its order.
CAPABILITIES_7_2 = (
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
    "postcopy-ram", "x-colo", "release-ram", "block", "return-path",
    "pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime",
    "late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
    "zero-copy-send", "postcopy-preempt",
)

#: Capabilities added after 7.2 -> the release that added them.
CAPABILITY_SINCE: Dict[str, Release] = {
    "switchover-ack": (8, 1), "dirty-limit": (8, 1), "mapped-ram": (9, 0),
}


def capability_known(name: str, release: Release, own: Release) -> bool:
    """Whether QEMU ``release`` had capability ``name`` (``own``: the served QEMU's release).

    A capability neither 7.2 nor :data:`CAPABILITY_SINCE` knows is taken to
    be new in the served QEMU.
    """
    if name in CAPABILITIES_7_2:
        return True
    return CAPABILITY_SINCE.get(name, own) <= release


def render_migrate_capabilities(caps: Sequence[Obj], release: Release = (7, 2),
                                own: Optional[Release] = None) -> str:
    """``info migrate_capabilities`` from ``query-migrate-capabilities``.

    :param own: the served QEMU's release (default: ``release``).
    """
    own = release if own is None else own
    return "".join(f"{c['capability']}: {on_off(c.get('state'))}\n" for c in caps
                   if capability_known(str(c.get("capability")), release, own))
