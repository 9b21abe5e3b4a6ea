"""``object_add TYPE,id=ID[,prop=value...]`` translated to a typed QMP ``object-add``.

QEMU 7.2's HMP handler (``user_creatable_add_from_str``) reads the line with
``keyval_parse()`` (the first item is ``qom-type``), then lets the keyval
input visitor turn the strings into the ``ObjectOptions`` union, and creates
the object exactly as QMP ``object-add`` does.  This module does the parsing
and the conversion (:mod:`hmpbridge.keyval`) against the served QEMU's
``ObjectOptions`` (:func:`object_options`): its object types and members, in
its order and required as it says, from the live schema; the integer widths
and sizes that ``query-qmp-schema`` reports only as ``int`` (and
``qom-list-properties`` gives as QOM types, ``int`` for a size; it also
crashes QEMU 7.2 for ``colo-compare``) from :data:`OBJECT_OPTIONS`, QEMU
7.2's table, and :data:`LATER_MEMBERS`, the QAPI types of the members added
since.  So ``size=64M`` becomes 67108864, ``share=on`` true,
``host-nodes.0=0`` a list, with QEMU's texts for the first value refused
(``Parameter 'size' expects size``, ``... expects uint32_t``, ``Parameter 'id'
is missing``, ``Parameter 'qom-type' does not accept value 'x'``) and its
deprecation warning for a hex size with a suffix.

Members a type does not have are left in the arguments: QEMU then reports
the one its own hash order finds first (``Parameter 'bogus' is unexpected``).
What QEMU checks when it creates the object (a duplicate id, a malformed id,
a property setter's range) comes back from ``object-add`` in the same words;
the identifier hint HMP adds to a malformed id is added here.

Left to QEMU's own monitor: ``object_add help`` and any line asking for
``help`` or ``?``.  The type list depends on which QOM modules QEMU has
loaded (``qom-list-types`` loads them all, so asking it would change QEMU's
answer), and a type's option list comes from its class properties, which no
QMP command lists (``qom-list-properties`` instantiates the object).  Where
QEMU's monitor cannot be used (``--no-passthrough``, qemu-storage-daemon),
``object_add help`` lists ``qom-list-types`` all the same: QEMU's own list
once its modules are loaded.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple
from weakref import WeakKeyDictionary

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler, help_form
from hmpbridge.handlers.passthrough import can_pass_through, passthrough
from hmpbridge.keyval import (Enum, KeyvalError, ListOf, Struct, TypeSpec, is_help_option,
                              keyval_parse, spec_from_schema, visit)
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qapi_schema import Schema
from hmpbridge.qemu_opts import ID_HINT, hex_suffix_taken
from hmpbridge.render.options_help import object_types_help

__all__ = ["OBJECT_OPTIONS", "LATER_MEMBERS", "OBJECT_TYPES_SINCE", "MEMBERS_SINCE",
           "object_options", "object_add"]

Members = Tuple[Tuple[str, TypeSpec, bool], ...]


def _optional(*members: Tuple[str, TypeSpec]) -> Members:
    return tuple((name, spec, False) for name, spec in members)


_NETFILTER: Members = (("netdev", "str", True),) + _optional(
    ("queue", Enum(("all", "rx", "tx"))), ("status", "str"), ("position", "str"),
    ("insert", Enum(("before", "behind"))))
_MEMORY_BACKEND: Members = _optional(
    ("dump", "bool"), ("host-nodes", ListOf("uint16")), ("merge", "bool"),
    ("policy", Enum(("default", "preferred", "bind", "interleave"))), ("prealloc", "bool"),
    ("prealloc-threads", "uint32"), ("prealloc-context", "str"), ("share", "bool"),
    ("reserve", "bool")) + (("size", "size", True),) + _optional(
    ("x-use-canonical-path-for-ramblock-id", "bool"))
_EVENT_LOOP: Members = _optional(("aio-max-batch", "int"), ("thread-pool-min", "int"),
                                 ("thread-pool-max", "int"))
_SECRET_COMMON: Members = _optional(("loaded", "bool"), ("format", Enum(("raw", "base64"))),
                                    ("keyid", "str"), ("iv", "str"))
_TLS_CREDS: Members = _optional(("verify-peer", "bool"), ("dir", "str"),
                                ("endpoint", Enum(("client", "server"))), ("priority", "str"))
_THROTTLE_KEYS = tuple(f"{kind}-{way}{suffix}" for kind in ("iops", "bps")
                       for way in ("total", "read", "write")
                       for suffix in ("", "-max", "-max-length")) + ("iops-size",)
_THROTTLE_LIMITS = Struct(_optional(*((name, "int") for name in _THROTTLE_KEYS)))
_SOCKET_ADDRESS = Struct(
    (("type", Enum(("inet", "unix", "vsock", "fd")), True),), tag="type", variants={
        "inet": Struct((("host", "str", True), ("port", "str", True)) + _optional(
            ("numeric", "bool"), ("to", "uint16"), ("ipv4", "bool"), ("ipv6", "bool"),
            ("keep-alive", "bool"), ("mptcp", "bool"))),
        "unix": Struct((("path", "str", True),) + _optional(("abstract", "bool"),
                                                             ("tight", "bool"))),
        "vsock": Struct((("cid", "str", True), ("port", "str", True))),
        "fd": Struct((("str", "str", True),)),
    })
_AUTHZ_RULE = Struct((("match", "str", True), ("policy", Enum(("deny", "allow")), True),
                      ("format", Enum(("exact", "glob")), False)))
_RNG: Members = _optional(("opened", "bool"))
_CRYPTODEV: Members = _optional(("queues", "uint32"))

#: Members each ``qom-type`` adds to ``qom-type`` and ``id`` (QEMU 7.2, schema order).
_VARIANTS: Dict[str, Members] = {
    "authz-list": _optional(("policy", Enum(("deny", "allow"))), ("rules", ListOf(_AUTHZ_RULE))),
    "authz-listfile": (("filename", "str", True),) + _optional(("refresh", "bool")),
    "authz-pam": (("service", "str", True),),
    "authz-simple": (("identity", "str", True),),
    "can-bus": (),
    "can-host-socketcan": (("if", "str", True), ("canbus", "str", True)),
    "colo-compare": tuple((name, "str", True) for name in
                          ("primary_in", "secondary_in", "outdev", "iothread")) + _optional(
        ("notify_dev", "str"), ("compare_timeout", "uint64"), ("expired_scan_cycle", "uint32"),
        ("max_queue_size", "uint32"), ("vnet_hdr_support", "bool")),
    "cryptodev-backend": _CRYPTODEV,
    "cryptodev-backend-builtin": _CRYPTODEV,
    "cryptodev-backend-lkcf": _CRYPTODEV,
    "cryptodev-vhost-user": _CRYPTODEV + (("chardev", "str", True),),
    "dbus-vmstate": (("addr", "str", True),) + _optional(("id-list", "str")),
    "filter-buffer": _NETFILTER + (("interval", "uint32", True),),
    "filter-dump": _NETFILTER + (("file", "str", True),) + _optional(("maxlen", "uint32")),
    "filter-mirror": _NETFILTER + (("outdev", "str", True),) + _optional(
        ("vnet_hdr_support", "bool")),
    "filter-redirector": _NETFILTER + _optional(("indev", "str"), ("outdev", "str"),
                                                ("vnet_hdr_support", "bool")),
    "filter-replay": _NETFILTER,
    "filter-rewriter": _NETFILTER + _optional(("vnet_hdr_support", "bool")),
    "input-barrier": (("name", "str", True),) + _optional(
        *((name, "str") for name in ("server", "port", "x-origin", "y-origin", "width",
                                     "height"))),
    "input-linux": (("evdev", "str", True),) + _optional(
        ("grab_all", "bool"), ("repeat", "bool"),
        ("grab-toggle", Enum(("ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta",
                              "scrolllock", "ctrl-scrolllock")))),
    "iothread": _EVENT_LOOP + _optional(("poll-max-ns", "int"), ("poll-grow", "int"),
                                        ("poll-shrink", "int")),
    "main-loop": _EVENT_LOOP,
    "memory-backend-epc": _MEMORY_BACKEND,
    "memory-backend-file": _MEMORY_BACKEND + _optional(("align", "size"),
                                                       ("discard-data", "bool")) + (
        ("mem-path", "str", True),) + _optional(("pmem", "bool"), ("readonly", "bool")),
    "memory-backend-memfd": _MEMORY_BACKEND + _optional(("hugetlb", "bool"),
                                                        ("hugetlbsize", "size"), ("seal", "bool")),
    "memory-backend-ram": _MEMORY_BACKEND,
    "pef-guest": (),
    "pr-manager-helper": (("path", "str", True),),
    "qtest": (("chardev", "str", True),) + _optional(("log", "str")),
    "rng-builtin": _RNG,
    "rng-egd": _RNG + (("chardev", "str", True),),
    "rng-random": _RNG + _optional(("filename", "str")),
    "secret": _SECRET_COMMON + _optional(("data", "str"), ("file", "str")),
    "secret_keyring": _SECRET_COMMON + (("serial", "int32", True),),
    "sev-guest": _optional(("sev-device", "str"), ("dh-cert-file", "str"),
                           ("session-file", "str"), ("policy", "uint32"), ("handle", "uint32"),
                           ("cbitpos", "uint32")) + (("reduced-phys-bits", "uint32", True),) +
    _optional(("kernel-hashes", "bool")),
    "thread-context": _optional(("cpu-affinity", ListOf("uint16")),
                                ("node-affinity", ListOf("uint16"))),
    "s390-pv-guest": (),
    "throttle-group": _optional(("limits", _THROTTLE_LIMITS),
                                *((f"x-{name}", "int") for name in _THROTTLE_KEYS)),
    "tls-creds-anon": _TLS_CREDS + _optional(("loaded", "bool")),
    "tls-creds-psk": _TLS_CREDS + _optional(("loaded", "bool"), ("username", "str")),
    "tls-creds-x509": _TLS_CREDS + _optional(("loaded", "bool"), ("sanity-check", "bool"),
                                             ("passwordid", "str")),
    "tls-cipher-suites": _TLS_CREDS,
    "x-remote-object": (("fd", "str", True), ("devid", "str", True)),
    "x-vfio-user-server": (("socket", _SOCKET_ADDRESS, True), ("device", "str", True)),
}

#: QMP ``object-add``'s argument type, the flat union ``ObjectOptions``.
OBJECT_OPTIONS = Struct(
    (("qom-type", Enum(tuple(_VARIANTS)), True), ("id", "str", True)),
    tag="qom-type", variants={name: Struct(members) for name, members in _VARIANTS.items()})

_SOCKET_KEEP_ALIVE: Dict[str, TypeSpec] = {
    name: "uint32" for name in ("keep-alive-count", "keep-alive-idle", "keep-alive-interval")}
_CRYPTODEV_THROTTLE: Dict[str, TypeSpec] = {"throttle-bps": "uint64", "throttle-ops": "uint64"}

#: The QAPI types of integer members added since QEMU 7.2 (introspection
#: says only ``int``), by ``qom-type`` and member path (a variant's case left
#: out), as QEMU's ``qapi/qom.json`` and ``qapi/sockets.json`` declare them at
#: each release (a member's type does not change); ``poll-weight`` as QEMU
#: 11.1.3 reads it (an int64: 2**63 is refused as an integer, -1 reaches the
#: property's own range check).  Members of a type that shares 7.2's
#: definitions (``memory-backend-shm``, ``sev-snp-guest``) take 7.2's.
LATER_MEMBERS: Dict[str, Dict[str, TypeSpec]] = {
    # 8.0: cryptodev throttling
    **{kind: _CRYPTODEV_THROTTLE for kind in (
        "cryptodev-backend", "cryptodev-backend-builtin", "cryptodev-backend-lkcf",
        "cryptodev-vhost-user")},
    # 8.1: offset (a size); 8.2: rom (OnOffAuto, read from the schema)
    "memory-backend-file": {"offset": "size"},
    # 9.0 and 9.2
    "acpi-generic-initiator": {"node": "uint32"},
    "acpi-generic-port": {"node": "uint32"},
    # 9.1: MemoryBackendShmProperties is MemoryBackendProperties
    "memory-backend-shm": {name: spec for name, spec, _ in _MEMORY_BACKEND},
    # 9.1: SevCommonProperties, and its own policy
    "sev-snp-guest": {"cbitpos": "uint32", "reduced-phys-bits": "uint32", "policy": "uint64"},
    # 10.1: InetSocketAddress's keep-alive tuning; TDX
    "x-vfio-user-server": {f"socket.{name}": spec for name, spec in _SOCKET_KEEP_ALIVE.items()},
    "tdx-guest": {"attributes": "uint64", **{f"quote-generation-socket.{name}": spec
                                             for name, spec in _SOCKET_KEEP_ALIVE.items()}},
    # 11.1
    "iothread": {"poll-weight": "int"},
}

#: Object types added since QEMU 7.2 -> the release that added them (the
#: ``ObjectType`` enumeration of ``qapi/qom.json`` at each release; none was
#: removed).  ``monitor-hmp`` and ``monitor-qmp`` are not in 11.0's sources
#: as of February 2026 (11.0's command table comes from the same tree).
OBJECT_TYPES_SINCE: Dict[str, Tuple[int, int]] = {
    "acpi-generic-initiator": (9, 0), "iommufd": (9, 0),
    "memory-backend-shm": (9, 1), "sev-snp-guest": (9, 1),
    "acpi-generic-port": (9, 2),
    "tdx-guest": (10, 1), "igvm-cfg": (10, 1),
    "monitor-hmp": (11, 1), "monitor-qmp": (11, 1),
}

#: Members added since QEMU 7.2 -> the release that added them, by
#: ``qom-type`` and member path (``qapi/qom.json`` and ``qapi/sockets.json``
#: at each release; ``poll-weight`` is not in 11.0's sources of February 2026).
MEMBERS_SINCE: Dict[Tuple[str, str], Tuple[int, int]] = {
    **{(kind, name): (8, 0) for kind in (
        "cryptodev-backend", "cryptodev-backend-builtin", "cryptodev-backend-lkcf",
        "cryptodev-vhost-user") for name in ("throttle-bps", "throttle-ops")},
    ("memory-backend-file", "offset"): (8, 1),
    ("memory-backend-file", "rom"): (8, 2),
    ("sev-guest", "legacy-vm-type"): (9, 1),
    **{("x-vfio-user-server", f"socket.{name}"): (10, 1) for name in _SOCKET_KEEP_ALIVE},
    ("iothread", "poll-weight"): (11, 1),
}

#: Object types whose members QEMU reordered -> the release that did:
#: before it, they are visited in QEMU 7.2's order (9.1 put ``sev-guest``'s
#: members shared with ``sev-snp-guest`` first).
_REORDERED: Dict[str, Tuple[int, int]] = {"sev-guest": (9, 1)}

#: :func:`object_options` of each schema seen, by release whose text is
#: printed (None: the schema's own); it lives as long as its schema.
_BUILT: "WeakKeyDictionary[Schema, Dict[Optional[Tuple[int, int]], Struct]]" = \
    WeakKeyDictionary()


def object_options(schema: Optional[Schema],
                   release: Optional[Tuple[int, int]] = None) -> Struct:
    """``ObjectOptions`` of the QEMU whose live schema is ``schema``.

    Object types (the ``qom-type`` enumeration) and each type's members, in
    schema order and required or not, are the schema's; each integer's
    width (or size) is :data:`LATER_MEMBERS`' or, for a member QEMU 7.2 had,
    :data:`OBJECT_OPTIONS`'.  With ``release`` (an older release's text),
    only the object types and members that release had
    (:data:`OBJECT_TYPES_SINCE`, :data:`MEMBERS_SINCE`), in its order.
    Without a schema (or one without ``object-add``), QEMU 7.2's table.
    Worked out once per schema and release.
    """
    if schema is None:
        return OBJECT_OPTIONS
    built = _BUILT.setdefault(schema, {})
    if None not in built:
        union = schema.arguments("object-add")
        built[None] = _from_schema(schema, union) if union.get("members") else OBJECT_OPTIONS
    if release not in built:
        built[release] = _as_of(built[None], release) if release is not None else built[None]
    return built[release]


def _as_of(options: Struct, release: Tuple[int, int]) -> Struct:
    """``options`` with only the object types and members ``release`` had."""
    def had(kind: str) -> bool:
        return release >= OBJECT_TYPES_SINCE.get(kind, (0, 0))

    tag, types, required = options.members[0]
    assert isinstance(types, Enum)
    kept = Enum(tuple(kind for kind in types.values if had(kind)))
    variants = {}
    for kind, spec in options.variants.items():
        if not had(kind):
            continue
        for (owner, path), since in MEMBERS_SINCE.items():
            if owner == kind and release < since:
                spec = _without(spec, path.split("."))
        if release < _REORDERED.get(kind, (0, 0)):
            order = [name for name, _, _ in OBJECT_OPTIONS.variants[kind].members]
            spec = Struct(tuple(sorted(spec.members, key=lambda m: (
                order.index(m[0]) if m[0] in order else len(order)))))
        variants[kind] = spec
    return Struct(((tag, kept, required),) + options.members[1:], tag=options.tag,
                  variants=variants)


def _without(spec: Struct, path: List[str]) -> Struct:
    """``spec`` without the member at ``path`` (looked for in its variants too)."""
    members = []
    for name, member, required in spec.members:
        if name == path[0] and len(path) == 1:
            continue
        if name == path[0] and isinstance(member, Struct):
            member = _without(member, path[1:])
        members.append((name, member, required))
    return Struct(tuple(members), tag=spec.tag, variants={
        case: _without(variant, path) for case, variant in spec.variants.items()})


def _from_schema(schema: Schema, union: Mapping[str, Any]) -> Struct:
    base = spec_from_schema(schema, {"meta-type": "object", "members": union.get("members", ())},
                            Struct(OBJECT_OPTIONS.members))
    assert isinstance(base, Struct)
    variants = {}
    for variant in union.get("variants", ()):
        case = str(variant.get("case"))
        spec = spec_from_schema(schema, schema.entity(variant.get("type")),
                                OBJECT_OPTIONS.variants.get(case), LATER_MEMBERS.get(case))
        assert isinstance(spec, Struct)
        variants[case] = spec
    return Struct(base.members, tag=str(union.get("tag", "qom-type")), variants=variants)


_LIST_INDEX = re.compile(r"\[(\d+)\]")


def _creation_error(err: QMPCommandError) -> str:
    """``object-add``'s error as HMP prints it: keyval's ``.N`` for list
    elements, and the identifier hint after a malformed id."""
    desc = _LIST_INDEX.sub(r".\1", err.desc) if "' is unexpected" in err.desc else err.desc
    text = f"Error: {desc}\n"
    if desc == "Parameter 'id' expects an identifier":
        text += ID_HINT + "\n"
    return text


@help_form("object_add")
def _asks_for_help(inv: Invocation) -> bool:
    text = str(inv.args["object"])
    if is_help_option(text):
        return True
    try:
        return keyval_parse(text, "qom-type")[1]
    except KeyvalError:
        return False


@handler("object_add")
def object_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``object_add [qom-type=]TYPE,id=ID[,k=v...]`` -> ``object-add`` with typed members."""
    text = str(inv.args["object"])
    if is_help_option(text):
        if can_pass_through(ctx):
            return (yield from passthrough(inv, ctx))
        return object_types_help((yield QMPCommand(
            "qom-list-types", {"implements": "user-creatable", "abstract": False})))
    try:
        options, wants_help = keyval_parse(text, "qom-type")
    except KeyvalError as err:
        return err.text()
    if wants_help:
        return (yield from passthrough(inv, ctx))
    warnings: List[str] = []
    try:
        visit(object_options(ctx.profile.schema, ctx.profile.release), options, warnings,
              hex_suffix_taken(ctx.profile.release),
              exact=ctx.profile.release < ctx.profile.qemu[:2])
    except KeyvalError as err:
        return "".join(f"{line}\n" for line in warnings) + err.text()
    printed = "".join(f"{line}\n" for line in warnings)
    try:
        yield QMPCommand("object-add", options)
    except QMPCommandError as err:
        return printed + _creation_error(err)
    return printed
