"""Tab completion for the HMP line: which words may come next, asked of QEMU live.

QEMU's monitor completes the word before the cursor (``monitor/hmp.c``):
the first word against the command names (every alias), the word after
``info`` against the info subcommands, ``help`` against both, and an
argument by its type or the command's completion function: block device
names for ``B`` arguments, file names for ``F``, device ids for
``device_del``, key names for ``sendkey`` (the part after the last ``-``),
and so on.  Here the command table's ``completers`` column names the source
for each argument, and the values come from QMP queries, so they are those
of the QEMU behind the bridge at the moment Tab is pressed.

:func:`complete` is a generator like a command handler: it yields
:class:`~hmpbridge.model.QMPCommand` objects, receives each reply's
``return`` value (a QMP error thrown in at the ``yield`` just means "no
candidates from there"), and returns a :class:`Completion`.  It does no I/O
of its own; file names are listed through the context's ``listdir``.

QAPI enumerations (migration capabilities and parameters, key names, netdev
types, watchdog actions) are read from the live schema, as the served QEMU
completes them from its own.  With an older release's text
(``--hmp-version``) only the values that release had are offered, and only
those the live QEMU still has: a value's first release is in a table here,
and a value no table knows is taken to be the served QEMU's own (new since).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, FrozenSet, Generator, Iterable, List, Mapping,
                    Optional, Sequence, Tuple)

from hmpbridge.commands import ArgItem, CommandSpec, CommandTable, table_for
from hmpbridge.errors import QMPError
from hmpbridge.handlers.migration_set import PARAMETER_KINDS
from hmpbridge.keys import KEY_NAMES, qkeycode_values
from hmpbridge.model import QMPCommand
from hmpbridge.profile import QemuProfile
from hmpbridge.qapi_schema import Schema, argument_names_or_values
from hmpbridge.render.migration import CAPABILITIES_7_2, CAPABILITY_SINCE

__all__ = ["Completion", "CompletionContext", "CompletionResult", "complete", "COMPLETERS",
           "parse_network_clients"]

HMC = "human-monitor-command"


@dataclass(frozen=True)
class Completion:
    """Candidates for the word before the cursor.

    :ivar candidates: whole words, each starting with the typed part.
    :ivar index: bytes of each candidate already typed (what Tab skips).
    """

    candidates: Tuple[str, ...] = ()
    index: int = 0


def _no_files(path: str) -> Iterable[str]:
    return ()


@dataclass
class CompletionContext:
    """What completion may use besides QMP.

    :ivar schema_commands: QMP commands this QEMU offers, or None if unknown.
    :ivar passthrough: whether ``human-monitor-command`` may be used.
    :ivar listdir: names in a directory (file name completion).
    :ivar isdir: whether a path is a directory.
    :ivar table: the command table of the release whose text is printed
        (whose names complete; its ``release`` limits the enumerations).
    :ivar schema: the served QEMU's QMP schema, if known (its enumerations).
    :ivar profile: the QEMU served, if known: its ``release`` (the text
        printed) and ``qemu`` (its own) limit the enumerations.  When not
        known, the printed release is the table's, and a value no release
        table here knows is offered (taken to be new in the served QEMU).
    """

    schema_commands: Optional[FrozenSet[str]] = None
    passthrough: bool = True
    table: CommandTable = field(default_factory=lambda: table_for((7, 2)))
    schema: Optional[Schema] = None
    listdir: Callable[[str], Iterable[str]] = _no_files
    isdir: Callable[[str], bool] = lambda path: False
    profile: Optional[QemuProfile] = None

    def has_qmp(self, name: str) -> bool:
        """True unless the schema is known and lacks ``name``."""
        return self.schema_commands is None or name in self.schema_commands

    def had(self, values: Iterable[str], since: Mapping[str, Tuple[int, int]]) -> List[str]:
        """The ``values`` (the live QEMU's) the printed release had, in their order.

        :param since: value -> the release that added it; a value it lacks is
            the served QEMU's own.
        """
        if self.profile is not None:
            release, own = self.profile.release, self.profile.qemu[:2]
        else:
            release = own = self.table.release
        return [value for value in values if since.get(value, own) <= release]


CompletionResult = Generator[QMPCommand, Any, Completion]
Names = Generator[QMPCommand, Any, List[str]]
#: completer(word, ctx, spec) -> every value it knows (filtered by the caller)
Completer = Callable[[str, CompletionContext, Optional[CommandSpec]], Names]

COMPLETERS: Dict[str, Completer] = {}


def completer(name: str) -> Callable[[Completer], Completer]:
    """Register a completer under the name the command table uses."""
    def register(func: Completer) -> Completer:
        COMPLETERS[name] = func
        return func
    return register


# -- the line ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\s]+")


def _words(text: str) -> List[str]:
    words = _WORD.findall(text)
    if text and text[-1].isspace():
        words.append("")
    return words


def complete(text: str, ctx: Optional[CompletionContext] = None) -> CompletionResult:
    """Complete the last word of ``text`` (the line up to the cursor)."""
    ctx = ctx if ctx is not None else CompletionContext()
    return (yield from _complete_words(_words(text), ctx.table.top, ctx))


def _complete_words(words: List[str], table: Mapping[str, CommandSpec],
                    ctx: CompletionContext) -> CompletionResult:
    top = ctx.table.top
    if len(words) <= 1:
        return _matching(words[0] if words else "", table, ctx.table.target)
    spec = table.get(words[0])
    if spec is None:
        return Completion()
    if table is top and spec.key == "info":
        return (yield from _complete_words(words[1:], ctx.table.info, ctx))
    if table is top and spec.key == "help":
        return (yield from _complete_words(words[1:], top, ctx))
    name: Optional[str] = FIRST_ARGUMENT.get(spec.key) if len(words) == 2 else None
    if name is None:
        item = _item_for(spec, words[1:-1], words[-1])
        if item is None:
            return Completion()
        name = spec.completers.get(item.key) or _BY_TYPE.get(item.type)
    source = COMPLETERS.get(name or "")
    if source is None:
        return Completion()
    word = words[-1]
    if name == "key_name":
        word = word.rsplit("-", 1)[-1]
    try:
        names = yield from source(word, ctx, spec)
    except QMPError:
        names = []
    return Completion(tuple(n for n in names if n.startswith(word)), len(_enc(word)))


def _matching(word: str, table: Mapping[str, CommandSpec], target: str) -> Completion:
    return Completion(tuple(sorted(n for n, spec in table.items() if n.startswith(word)
                                   and spec.available_on(target))), len(_enc(word)))


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_BY_TYPE = {"B": "block_device", "F": "filename", "b": "on_off"}

#: Commands whose first argument QEMU 7.2 completes with a function of its own
#: (``command_completion`` in hmp-commands.hx) though its type says nothing:
#: command key -> completer.  Like QEMU, only the first argument is completed.
FIRST_ARGUMENT: Mapping[str, str] = {
    "object_add": "object_type",
    "device_add": "device_type",
    "chardev-add": "chardev_backend",
    "netdev_add": "netdev_type",
    "trace-event": "trace_event",
    "info trace-events": "trace_event",
}


def _item_for(spec: CommandSpec, before: Sequence[str], word: str) -> Optional[ArgItem]:
    """The argument ``word`` stands for, after the words ``before`` it."""
    items = list(spec.items)
    pos = 0
    skip_value = False
    for typed in before:
        if skip_value:
            skip_value = False
            continue
        flags = _flags_from(items, pos)
        flag = next((f for f in flags if typed == "-" + f.flag_letter), None)
        if flag is not None:
            pos = items.index(flag) + 1
            skip_value = flag.flag_takes_value
            continue
        pos += len(flags)
        if pos >= len(items):
            return None
        if items[pos].type != "S":
            pos += 1
    if skip_value or word.startswith("-"):
        return None
    pos += len(_flags_from(items, pos))
    return items[pos] if pos < len(items) else None


def _flags_from(items: Sequence[ArgItem], pos: int) -> List[ArgItem]:
    flags = []
    while pos < len(items) and items[pos].is_flag:
        flags.append(items[pos])
        pos += 1
    return flags


# -- completers ---------------------------------------------------------------------------


def _ask(command: str, arguments: Optional[Mapping[str, Any]] = None) -> Generator[
        QMPCommand, Any, Any]:
    return (yield QMPCommand(command, arguments))


def _constant(name: str, names: Iterable[str]) -> None:
    """Register a completer whose candidates never change (it asks QEMU nothing)."""
    fixed = list(names)

    def candidates(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
        return list(fixed)
        yield  # a generator that asks nothing

    COMPLETERS[name] = candidates




@completer("command_name")
def _command_names(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    return list(ctx.table.top)
    yield  # a generator that asks nothing


@completer("info_name")
def _info_names(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    return list(ctx.table.info)
    yield  # a generator that asks nothing


_constant("on_off", ["on", "off"])


#: The first release of each value of an enumeration QEMU completes, where it is not 7.2
#: (read in each release's qapi/*.json, v7.2.0 to 11.0 development, and QEMU 11.1.3's schema).
_SEVEN_TWO = (7, 2)
KEY_SINCE: Mapping[str, Tuple[int, int]] = {
    **{name: _SEVEN_TWO for name in KEY_NAMES},
    **{f"f{n}": (8, 0) for n in range(13, 25)}}
CAPABILITY_FIRST: Mapping[str, Tuple[int, int]] = {
    **{name: _SEVEN_TWO for name in CAPABILITIES_7_2}, **CAPABILITY_SINCE}
PARAMETER_SINCE: Mapping[str, Tuple[int, int]] = {
    name: since for name, (_, since, _until) in PARAMETER_KINDS.items()}
#: NetClientDriver (``vmnet-*`` are macOS builds' only).
NETDEV_SINCE: Mapping[str, Tuple[int, int]] = {
    **{name: _SEVEN_TWO for name in (
        "none", "nic", "user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde", "bridge",
        "hubport", "netmap", "vhost-user", "vhost-vdpa", "vmnet-host", "vmnet-shared",
        "vmnet-bridged")},
    "af-xdp": (8, 2), "passt": (10, 1)}
WATCHDOG_SINCE: Mapping[str, Tuple[int, int]] = {
    name: _SEVEN_TWO for name in ("reset", "shutdown", "poweroff", "pause", "debug", "none",
                                  "inject-nmi")}


@completer("key_name")
def _key_names(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """``QKeyCode``: the live schema's values (QEMU 8.0 added f13-f24), else 7.2's."""
    return ctx.had(qkeycode_values(ctx.schema) or KEY_NAMES, KEY_SINCE)
    yield  # a generator that asks nothing


@completer("block_device")
def _block_devices(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Block backends by name (``query-block``), then nodes named by the user."""
    names = [dev["device"] for dev in (yield from _ask("query-block")) if dev.get("device")]
    if ctx.has_qmp("query-named-block-nodes"):
        try:
            nodes = yield from _ask("query-named-block-nodes", {"flat": True})
        except QMPError:
            nodes = []
        names += [node["node-name"] for node in nodes
                  if node.get("node-name") and not node["node-name"].startswith("#")]
    return names


@completer("block_job")
def _block_jobs(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Block devices, as QEMU offers for the ``B`` argument, then the ids of running jobs."""
    names = yield from _block_devices(word, ctx, spec)
    try:
        jobs = yield from _ask("query-block-jobs")
    except QMPError:
        jobs = []
    return names + [job["device"] for job in jobs if job.get("device")]


@completer("snapshot")
def _snapshots(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Names and ids of the snapshots in the block devices' images (as ``loadvm`` takes)."""
    names: List[str] = []
    for dev in (yield from _ask("query-block")):
        for snap in dev.get("inserted", {}).get("image", {}).get("snapshots", []):
            names += [snap.get("name", ""), snap.get("id", "")]
    return [n for n in names if n]


#: What ``query-chardev`` reports as the filename of ring buffer chardevs (``memory`` is one).
_RINGBUF_FILENAMES = frozenset({"ringbuf", "memory"})


@completer("chardev")
def _chardevs(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Character devices; for ``ringbuf_write``/``ringbuf_read`` only ring buffers, as QEMU."""
    devices = yield from _ask("query-chardev")
    if spec is not None and spec.key.startswith("ringbuf_"):
        devices = [dev for dev in devices if dev.get("filename") in _RINGBUF_FILENAMES]
    return [dev["label"] for dev in devices]


@completer("chardev_backend")
def _chardev_backends(word: str, ctx: CompletionContext,
                      spec: Optional[CommandSpec]) -> Names:
    """Backend types ``chardev-add`` takes (``query-chardev-backends``)."""
    return [backend["name"] for backend in (yield from _ask("query-chardev-backends"))]


_OBJECT_LIST = "List of user creatable objects:"
_DEVICE_NAME = re.compile(r'^name "([^"]+)"')


@completer("object_type")
def _object_types(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Object types ``object_add`` can create, as QEMU's completion lists them.

    ``object_add help`` lists the user-creatable types QEMU has loaded, as its
    completion does; without passthrough, ``qom-list-types`` (which also
    loads QEMU's modules, so lists their types too).
    """
    if ctx.passthrough and ctx.has_qmp(HMC):
        text = str((yield from _ask(HMC, {"command-line": "object_add help"})))
        lines = text.splitlines()
        if lines and lines[0].strip() == _OBJECT_LIST:
            return [line.strip() for line in lines[1:] if line.strip()]
    types = yield from _ask("qom-list-types", {"implements": "user-creatable",
                                               "abstract": False})
    return [t["name"] for t in types if t.get("name") != "user-creatable"]


@completer("device_type")
def _device_types(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Device types ``device_add`` can create, read from ``device_add help``.

    QMP cannot tell which device types a user may create, so this asks
    QEMU's monitor, unless passthrough is off.  ``device_add help`` loads
    QEMU's modules first, so their devices are offered too (QEMU's own
    completion offers only the device types it has loaded).
    """
    if not (ctx.passthrough and ctx.has_qmp(HMC)):
        return []
    text = str((yield from _ask(HMC, {"command-line": "device_add help"})))
    found = (_DEVICE_NAME.match(line) for line in text.splitlines())
    return [match.group(1) for match in found if match is not None]


@completer("netdev_type")
def _netdev_types(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Every network backend type of this QEMU (the ``type`` of ``netdev_add``)."""
    return ctx.had((yield from _schema_member_values(ctx, "netdev_add", "type")), NETDEV_SINCE)


@completer("trace_event")
def _trace_events(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Trace events whose name starts with the word, in QEMU's own order.

    ``trace-event-get-state`` lists them last first; QEMU's completion keeps
    the first 256 of its own order, so the order decides which are offered.
    """
    events = yield from _ask("trace-event-get-state", {"name": word + "*"})
    return [event["name"] for event in reversed(events)]


def _children(path: str) -> Names:
    """The ``child<...>`` properties of a QOM object."""
    props = yield from _ask("qom-list", {"path": path})
    return [p["name"] for p in props if str(p.get("type", "")).startswith("child<")]


@completer("object_id")
def _object_ids(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    return (yield from _children("/objects"))


@completer("device_id")
def _device_ids(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Ids of the devices that can be unplugged (their ``hotpluggable`` property is true)."""
    ids = []
    for name in (yield from _children("/machine/peripheral")):
        if not name.startswith(word):
            continue
        try:
            pluggable = yield from _ask("qom-get", {"path": "/machine/peripheral/" + name,
                                                    "property": "hotpluggable"})
        except QMPError:
            continue
        if pluggable is True:
            ids.append(name)
    return ids


@completer("qom_path")
def _qom_paths(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """One level of the QOM tree: the properties of the object the typed path is in.

    Children end in ``/`` (Tab then goes on to the next level without a space).
    """
    if not word.startswith("/"):
        return ["/"] if word == "" else []
    parent, _, leaf = word.rpartition("/")
    props = yield from _ask("qom-list", {"path": parent or "/"})
    found = []
    for prop in props:
        name = str(prop.get("name", ""))
        if name.startswith(leaf):
            child = str(prop.get("type", "")).startswith("child<")
            found.append(f"{parent}/{name}" + ("/" if child else ""))
    return found


@completer("filename")
def _file_names(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Files in the typed directory, directories with a ``/`` (on the bridge's host)."""
    head, slash, leaf = word.rpartition("/")
    directory = (head + slash) if slash else "."
    prefix = head + slash
    found = []
    for name in ctx.listdir(directory):
        if name in (".", "..") or not name.startswith(leaf):
            continue
        path = prefix + name
        found.append(path + ("/" if ctx.isdir(path) else ""))
    return found
    yield


def parse_network_clients(text: str, nics: bool) -> List[str]:
    """Client names in ``info network`` text; NICs only when ``nics``."""
    names = []
    for line in text.splitlines():
        line = line.strip().lstrip("\\").strip()
        name, sep, rest = line.partition(": index=")
        if not sep or " " in name:
            continue
        kind = re.search(r"(?:^|,)type=([^,]*)", rest)
        if nics or (kind is not None and kind.group(1) != "nic"):
            names.append(name)
    return names


@completer("netdev_id")
def _netdevs(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """Network backends (``set_link`` also takes NICs), read from ``info network``.

    QMP has no command that lists them in QEMU 7.2, so this asks QEMU's
    monitor, unless passthrough is off.
    """
    if not (ctx.passthrough and ctx.has_qmp(HMC)):
        return []
    text = yield from _ask(HMC, {"command-line": "info network"})
    return parse_network_clients(str(text), nics=spec is not None and spec.key == "set_link")


@completer("migrate_capability")
def _capabilities(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """``MigrationCapability``, which QEMU completes whole (``query-migrate-capabilities``
    when the schema is not known)."""
    schema = ctx.schema
    if schema is not None and "migrate-set-capabilities" in schema.commands:
        status = schema.member_type(schema.arguments("migrate-set-capabilities"),
                                    "capabilities")
        names = schema.enum_values(schema.member_type(status, "capability"))
    else:
        names = [cap["capability"] for cap in (yield from _ask("query-migrate-capabilities"))]
    return ctx.had(names, CAPABILITY_FIRST)


def _schema_member_values(ctx: CompletionContext, command: str, member: Optional[str]) -> Names:
    """From the schema (asked with ``query-qmp-schema`` when the context lacks it): the
    members of ``command``'s arguments, or the values of the enumeration that its
    argument ``member`` takes."""
    if ctx.schema is not None:
        return ctx.schema.argument_names_or_values(command, member)
    schema = yield from _ask("query-qmp-schema")
    return argument_names_or_values(schema, command, member)


@completer("migrate_parameter")
def _parameters(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    """``MigrationParameter`` (the members of ``migrate-set-parameters``)."""
    return ctx.had((yield from _schema_member_values(ctx, "migrate-set-parameters", None)),
                   PARAMETER_SINCE)


@completer("watchdog_action")
def _watchdog_actions(word: str, ctx: CompletionContext, spec: Optional[CommandSpec]) -> Names:
    return ctx.had((yield from _schema_member_values(ctx, "watchdog-set-action", "action")),
                   WATCHDOG_SINCE)
