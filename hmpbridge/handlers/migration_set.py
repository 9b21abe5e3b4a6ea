"""``migrate_set_parameter`` and ``migrate_set_capability``.

HMP reads a parameter's value as text with a per-parameter conversion
(``hmp_migrate_set_parameter``); the conversion errors are printed here with
QEMU's wording, and the typed value goes to ``migrate-set-parameters``, whose
own checks QEMU words the same for both monitors.

Which names exist is the live schema's business: a parameter or capability
is accepted when the QEMU served has it (``migrate-set-parameters``'
arguments, ``migrate-set-capabilities``' enumeration) and the release whose
text is printed had it; anything else gets QEMU's ``invalid parameter value``.
How HMP converts each value is HMP's own (the schema only says "int"), so
:data:`PARAMETER_KINDS` keeps it, with the releases that have each name for
when the schema is not known.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Tuple

from hmpbridge.errors import QMPCommandError

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import QemuProfile
from hmpbridge.qemu_opts import (
    INT64_MAX,
    OptsError,
    bool_parse,
    hex_suffix_taken,
    parse_option_size,
    strtosz,
    strtou64,
)
from hmpbridge.render.migration import capability_known

__all__ = ["PARAMETER_KINDS", "MIGRATION_PARAMETERS", "MIGRATION_CAPABILITIES",
           "convert_parameter", "shell_argv", "parameter_names", "capability_names",
           "migrate_set_parameter", "migrate_set_capability"]

Release = Tuple[int, int]

#: MigrationParameter -> (how HMP converts the text, first release, first release without it).
PARAMETER_KINDS: Dict[str, Tuple[str, Release, Optional[Release]]] = {
    "announce-initial": ("size", (7, 2), None),
    "announce-max": ("size", (7, 2), None),
    "announce-rounds": ("size", (7, 2), None),
    "announce-step": ("size", (7, 2), None),
    "compress-level": ("uint8", (7, 2), (9, 1)),
    "compress-threads": ("uint8", (7, 2), (9, 1)),
    "compress-wait-thread": ("bool", (7, 2), (9, 1)),
    "decompress-threads": ("uint8", (7, 2), (9, 1)),
    "throttle-trigger-threshold": ("uint8", (7, 2), None),
    "cpu-throttle-initial": ("uint8", (7, 2), None),
    "cpu-throttle-increment": ("uint8", (7, 2), None),
    "cpu-throttle-tailslow": ("bool", (7, 2), None),
    "tls-creds": ("str", (7, 2), None),
    "tls-hostname": ("str", (7, 2), None),
    "tls-authz": ("str", (7, 2), None),
    "max-bandwidth": ("size-mib", (7, 2), None),
    "avail-switchover-bandwidth": ("size-mib", (8, 2), None),
    "downtime-limit": ("size", (7, 2), None),
    "x-checkpoint-delay": ("uint32", (7, 2), None),
    "block-incremental": ("bool", (7, 2), (9, 1)),
    "multifd-channels": ("uint8", (7, 2), None),
    "xbzrle-cache-size": ("size-int64", (7, 2), None),
    "max-postcopy-bandwidth": ("size", (7, 2), None),
    "max-cpu-throttle": ("uint8", (7, 2), None),
    "multifd-compression": ("enum", (7, 2), None),
    "multifd-zlib-level": ("uint8", (7, 2), None),
    "multifd-qatzip-level": ("uint8", (9, 2), None),
    "multifd-zstd-level": ("uint8", (7, 2), None),
    "zero-page-detection": ("enum", (9, 0), None),
    "block-bitmap-mapping": ("qmp-only", (7, 2), None),
    "x-vcpu-dirty-limit-period": ("size", (8, 1), None),
    "vcpu-dirty-limit": ("size", (8, 1), None),
    "mode": ("enum", (8, 2), None),
    "direct-io": ("bool", (9, 1), None),
    "cpr-exec-command": ("argv", (10, 2), None),
    "x-rdma-chunk-size": ("size", (11, 1), None),
}


def _in(release: Release, since: Release, until: Optional[Release]) -> bool:
    return since <= release and (until is None or release < until)


#: MigrationParameter in QEMU 7.2 -> how HMP converts the text.
MIGRATION_PARAMETERS: Dict[str, str] = {
    name: kind for name, (kind, since, until) in PARAMETER_KINDS.items()
    if _in((7, 2), since, until)}

#: MigrationCapability in QEMU 7.2 (``info migrate_capabilities`` order).
MIGRATION_CAPABILITIES = (
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
    "postcopy-ram", "x-colo", "release-ram", "block", "return-path",
    "pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime",
    "late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
    "zero-copy-send", "postcopy-preempt",
)


def parameter_names(profile: QemuProfile) -> FrozenSet[str]:
    """The parameter names ``migrate_set_parameter`` accepts for ``profile``.

    Those of ``migrate-set-parameters`` in the live schema that the printed
    release had; without a schema, those the printed release had.
    """
    release = profile.release
    known = {name for name, (_, since, until) in PARAMETER_KINDS.items()
             if _in(release, since, until)}
    schema = profile.schema
    if schema is None or "migrate-set-parameters" not in schema.commands:
        return frozenset(known)
    live = set(schema.member_names(schema.arguments("migrate-set-parameters")))
    if release < profile.qemu[:2]:
        live &= known
    return frozenset(live)


def capability_names(profile: QemuProfile) -> Optional[FrozenSet[str]]:
    """The capabilities the live schema has that the printed release had (None: unknown)."""
    schema = profile.schema
    if schema is None or "migrate-set-capabilities" not in schema.commands:
        return None
    status = schema.member_type(schema.arguments("migrate-set-capabilities"), "capabilities")
    values = schema.enum_values(schema.member_type(status, "capability"))
    own = (profile.qemu[0], profile.qemu[1])
    return frozenset(v for v in values if capability_known(v, profile.release, own))


_UINT_LIMITS = {"uint8": (0xFF, "uint8_t"), "uint32": (0xFFFFFFFF, "uint32_t")}


def convert_parameter(name: str, text: str, warnings: Optional[List[str]] = None,
                      hex_suffix: bool = True) -> Any:
    """The typed value HMP makes of ``text`` for parameter ``name``.

    :param warnings: where QEMU's warnings go (a hex size with a suffix).
    :param hex_suffix: whether a size takes a suffix after hex (QEMU 7.2 only).
    :raises OptsError: with the lines QEMU prints (without ``Error: ``).
    """
    entry = PARAMETER_KINDS.get(name)
    if entry is None:
        raise OptsError(f"invalid parameter value: {name}")
    kind = entry[0]
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
            value = strtosz(text, "M", warnings, hex_suffix)
        except OptsError:
            raise OptsError(f"Invalid size {text}") from None
        if value > INT64_MAX:
            raise OptsError(f"Invalid size {text}")
        return value
    if kind in ("size", "size-int64"):
        value = parse_option_size(name, text, warnings, hex_suffix)
        if kind == "size-int64" and value > INT64_MAX:
            raise OptsError(f"Invalid size {text}")
        return value
    if kind == "qmp-only":
        raise OptsError("The block-bitmap-mapping parameter can only be set through QMP")
    if kind == "argv":
        return shell_argv(text)
    return text  # str, enum: QEMU itself checks the enum, with HMP's wording


_SHELL_BLANKS = " \t\n"


def shell_argv(text: str) -> List[str]:
    """The words GLib's ``g_shell_parse_argv`` makes of ``text`` (``cpr-exec-command``).

    Quotes as a POSIX shell has them (``'...'`` literal; ``"..."`` where a
    backslash escapes only ``$ ` " \\`` and a newline; a bare backslash
    escapes any character); ``#`` after a space or a newline (or first)
    comments out the rest of its line.

    :raises OptsError: with GLib's message.
    """
    words: List[str] = []
    word: Optional[List[str]] = None
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char in _SHELL_BLANKS:
            if word is not None:
                words.append("".join(word))
                word = None
            i += 1
        elif char == "#" and (i == 0 or text[i - 1] in " \n"):
            while i < end and text[i] != "\n":
                i += 1
        elif char == "\\":
            if i + 1 >= end:
                raise OptsError("Text ended just after a \u201c\\\u201d character. "
                                f"(The text was \u201c{text}\u201d)")
            word = word if word is not None else []
            if text[i + 1] != "\n":
                word.append(text[i + 1])
            i += 2
        elif char in "'\"":
            word = word if word is not None else []
            i = _quoted(text, i, word)
        else:
            word = word if word is not None else []
            word.append(char)
            i += 1
    if word is not None:
        words.append("".join(word))
    if not words:
        raise OptsError("Text was empty (or contained only whitespace)")
    return words


def _quoted(text: str, start: int, word: List[str]) -> int:
    """Add the quoted run at ``text[start]`` to ``word``; the index after its closing quote."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return i + 1
        if quote == '"' and char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if following in '$`"\\':
                word.append(following)
                i += 2
                continue
            if following == "\n":
                i += 2
                continue
        word.append(char)
        i += 1
    raise OptsError(f"Text ended before matching quote was found for {quote}. "
                    f"(The text was \u201c{text}\u201d)")


#: QEMU 8.2 and 9.0 warn when these parameters are set (``migrate_params_apply``).
_DEPRECATED_PARAMETERS = {
    **dict.fromkeys(("compress-level", "compress-threads", "compress-wait-thread",
                     "decompress-threads"),
                    "warning: old compression is deprecated; use multifd compression "
                    "methods instead"),
    "block-incremental": "warning: block migration is deprecated; use blockdev-mirror "
                         "with NBD instead",
}

#: Capabilities whose being on in the new set makes ``migrate_caps_check`` warn, by release.
_DEPRECATED_CAPABILITIES: Tuple[Tuple[Release, Release, str, str], ...] = (
    ((8, 2), (9, 1), "block",
     "warning: block migration is deprecated; use blockdev-mirror with NBD instead"),
    ((8, 2), (9, 1), "compress",
     "warning: old compression method is deprecated; use multifd compression methods instead"),
    ((9, 2), (11, 0), "zero-blocks", "warning: zero-blocks capability is deprecated"),
)

#: QERR_MIGRATION_ACTIVE: refused before the capabilities are checked (no warning then).
MIGRATION_ACTIVE = "There's a migration process in progress"


@handler("migrate_set_parameter")
def migrate_set_parameter(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_set_parameter name value`` -> ``migrate-set-parameters {name: value}``."""
    name = inv.args["parameter"]
    if name not in parameter_names(ctx.profile):
        return f"Error: invalid parameter value: {name}\n"
    warnings: List[str] = []
    try:
        value = convert_parameter(name, inv.args["value"], warnings,
                                  hex_suffix_taken(ctx.profile.release))
    except OptsError as err:
        return _lines(warnings) + err.text()
    try:
        yield QMPCommand("migrate-set-parameters", {name: value})
    except QMPCommandError as err:
        return _lines(warnings) + f"Error: {err.desc}\n"
    if (8, 2) <= ctx.profile.release < (9, 1) and name in _DEPRECATED_PARAMETERS:
        warnings.append(_DEPRECATED_PARAMETERS[name])
    return _lines(warnings)


def _lines(lines: List[str]) -> str:
    return "".join(line + "\n" for line in lines)


@handler("migrate_set_capability")
def migrate_set_capability(inv: Invocation, ctx: Context) -> HandlerResult:
    """``migrate_set_capability cap on|off``; the name is checked first, as HMP does.

    QEMU checks the whole new set of capabilities (the current ones with this
    change) and warns of each deprecated one that is on in it, in the
    releases that deprecated it, before its other checks.
    """
    cap = inv.args["capability"]
    state = bool(inv.args["state"])
    names = capability_names(ctx.profile)
    known = MIGRATION_CAPABILITIES if names is None else names
    if cap not in known:
        return f"Error: invalid parameter value: {cap}\n"
    watched = [(name, text) for since, until, name, text in _DEPRECATED_CAPABILITIES
               if since <= ctx.profile.release < until and name in known]
    on: Dict[str, bool] = {}
    if any(name != cap for name, _ in watched):
        caps = yield QMPCommand("query-migrate-capabilities")
        on = {str(c.get("capability")): bool(c.get("state")) for c in caps}
    on[cap] = state
    warning = "".join(text + "\n" for name, text in watched if on.get(name))
    try:
        yield QMPCommand("migrate-set-capabilities",
                         {"capabilities": [{"capability": cap, "state": state}]})
    except QMPCommandError as err:
        if err.desc == MIGRATION_ACTIVE:
            warning = ""
        return warning + f"Error: {err.desc}\n"
    return warning
