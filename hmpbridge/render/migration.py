"""``info migrate_parameters`` and ``info migrate_capabilities``."""

from __future__ import annotations

from typing import Any, Callable, List, Mapping, Sequence, Tuple

from hmpbridge.render.common import c_str, on_off

__all__ = ["render_migrate_parameters", "render_migrate_capabilities", "PARAMETER_LINES"]

Obj = Mapping[str, Any]


def _num(unit: str = "") -> Callable[[Any], str]:
    return lambda v: "%d%s" % (v, unit)


def _quoted(value: Any) -> str:
    return "'%s'" % c_str(value)


#: QEMU 7.2's fixed order of parameters and how each value is written.
PARAMETER_LINES: Tuple[Tuple[str, Callable[[Any], str]], ...] = (
    ("announce-initial", _num(" ms")),
    ("announce-max", _num(" ms")),
    ("announce-rounds", _num()),
    ("announce-step", _num(" ms")),
    ("compress-level", _num()),
    ("compress-threads", _num()),
    ("compress-wait-thread", on_off),
    ("decompress-threads", _num()),
    ("throttle-trigger-threshold", _num()),
    ("cpu-throttle-initial", _num()),
    ("cpu-throttle-increment", _num()),
    ("cpu-throttle-tailslow", on_off),
    ("max-cpu-throttle", _num()),
    ("tls-creds", _quoted),
    ("tls-hostname", _quoted),
    ("max-bandwidth", _num(" bytes/second")),
    ("downtime-limit", _num(" ms")),
    ("x-checkpoint-delay", _num(" ms")),
    ("block-incremental", on_off),
    ("multifd-channels", _num()),
    ("multifd-compression", c_str),
    ("xbzrle-cache-size", _num(" bytes")),
    ("max-postcopy-bandwidth", _num()),
    ("tls-authz", _quoted),
)


def render_migrate_parameters(params: Obj) -> str:
    """``info migrate_parameters`` from ``query-migrate-parameters``.

    ``multifd-zlib-level`` and ``multifd-zstd-level`` are not printed;
    ``block-bitmap-mapping`` follows only when present.
    """
    out: List[str] = []
    for key, fmt in PARAMETER_LINES:
        value = params.get(key)
        if value is None and fmt is not c_str and fmt is not _quoted:
            value = 0
        out.append(f"{key}: {fmt(value)}\n")
    if "block-bitmap-mapping" in params:
        out.append("block-bitmap-mapping:\n")
        for node in params["block-bitmap-mapping"]:
            out.append("  '%s' -> '%s'\n" % (node["node-name"], node["alias"]))
            for bitmap in node.get("bitmaps", []):
                out.append("    '%s' -> '%s'\n" % (bitmap["name"], bitmap["alias"]))
    return "".join(out)


def render_migrate_capabilities(caps: Sequence[Obj]) -> str:
    """``info migrate_capabilities`` from ``query-migrate-capabilities``."""
    return "".join(f"{c['capability']}: {on_off(c.get('state'))}\n" for c in caps)
