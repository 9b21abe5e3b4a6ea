"""``migrate_set_parameter`` and ``migrate_set_capability``.

HMP reads a parameter's value as text with a per-parameter conversion (QEMU
7.2's ``hmp_migrate_set_parameter``); the conversion errors are printed here
with QEMU's wording, and the typed value goes to ``migrate-set-parameters``,
whose own checks QEMU words the same for both monitors.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from hmpbridge.errors import QMPCommandError

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qemu_opts import (
    INT64_MAX,
    OptsError,
    bool_parse,
    parse_option_size,
    strtosz,
    strtou64,
)

__all__ = ["MIGRATION_PARAMETERS", "MIGRATION_CAPABILITIES", "convert_parameter",
           "migrate_set_parameter", "migrate_set_capability"]

#: MigrationParameter in QEMU 7.2 -> how HMP converts the text.
MIGRATION_PARAMETERS: Dict[str, str] = {
    "announce-initial": "size",
    "announce-max": "size",
    "announce-rounds": "size",
    "announce-step": "size",
    "compress-level": "uint8",
    "compress-threads": "uint8",
    "compress-wait-thread": "bool",
    "decompress-threads": "uint8",
    "throttle-trigger-threshold": "uint8",
    "cpu-throttle-initial": "uint8",
    "cpu-throttle-increment": "uint8",
    "cpu-throttle-tailslow": "bool",
    "tls-creds": "str",
    "tls-hostname": "str",
    "tls-authz": "str",
    "max-bandwidth": "size-mib",
    "downtime-limit": "size",
    "x-checkpoint-delay": "uint32",
    "block-incremental": "bool",
    "multifd-channels": "uint8",
    "xbzrle-cache-size": "size-int64",
    "max-postcopy-bandwidth": "size",
    "max-cpu-throttle": "uint8",
    "multifd-compression": "enum",
    "multifd-zlib-level": "uint8",
    "multifd-zstd-level": "uint8",
    "block-bitmap-mapping": "qmp-only",
}

#: MigrationCapability in QEMU 7.2 (``info migrate_capabilities`` order).
MIGRATION_CAPABILITIES = (
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
    "postcopy-ram", "x-colo", "release-ram", "block", "return-path",
    "pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime",
    "late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
    "zero-copy-send", "postcopy-preempt",
)

_UINT_LIMITS = {"uint8": (0xFF, "uint8_t"), "uint32": (0xFFFFFFFF, "uint32_t")}


def convert_parameter(name: str, text: str, warnings: Optional[List[str]] = None) -> Any:
    """The typed value HMP makes of ``text`` for parameter ``name``.

    :param warnings: where QEMU's warnings go (a hex size with a suffix).
    :raises OptsError: with the lines QEMU prints (without ``Error: ``).
    """
    kind = MIGRATION_PARAMETERS.get(name)
    if kind is None:
        raise OptsError(f"invalid parameter value: {name}")
    if kind in _UINT_LIMITS:
        try:
            value = strtou64(text, 0)
        except OptsError:
            raise OptsError(f"Parameter '{name}' expects uint64") from None
        limit, ctype = _UINT_LIMITS[kind]
        if value > limit:
            raise OptsError(f"Parameter '{name}' expects {ctype}")
        return value
    if kind == "bool":
        return bool_parse(name, text)
    if kind == "size-mib":
        try:
            value = strtosz(text, "M", warnings)
        except OptsError:
            raise OptsError(f"Invalid size {text}") from None
        if value > INT64_MAX:
            raise OptsError(f"Invalid size {text}")
        return value
    if kind in ("size", "size-int64"):
        value = parse_option_size(name, text, warnings)
        if kind == "size-int64" and value > INT64_MAX:
            raise OptsError(f"Invalid size {text}")
        return value
    if kind == "qmp-only":
        raise OptsError("The block-bitmap-mapping parameter can only be set through QMP")
    return text  # str, enum: QEMU itself checks the enum, with HMP's wording


@handler("migrate_set_parameter")
def migrate_set_parameter(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_set_parameter name value`` -> ``migrate-set-parameters {name: value}``."""
    name = inv.args["parameter"]
    warnings: List[str] = []
    try:
        value = convert_parameter(name, inv.args["value"], warnings)
    except OptsError as err:
        return _lines(warnings) + err.text()
    try:
        yield QMPCommand("migrate-set-parameters", {name: value})
    except QMPCommandError as err:
        return _lines(warnings) + f"Error: {err.desc}\n"
    return _lines(warnings)


def _lines(lines: List[str]) -> str:
    return "".join(line + "\n" for line in lines)


@handler("migrate_set_capability")
def migrate_set_capability(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_set_capability cap on|off``; the name is checked first, as HMP does."""
    cap = inv.args["capability"]
    if cap not in MIGRATION_CAPABILITIES:
        return f"Error: invalid parameter value: {cap}\n"
    yield QMPCommand("migrate-set-capabilities",
                     {"capabilities": [{"capability": cap, "state": bool(inv.args["state"])}]})
    return ""
