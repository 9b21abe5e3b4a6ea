"""``chardev-add`` and ``chardev-remove``.

HMP's ``chardev-add`` takes ``-chardev`` options (``socket,id=s0,path=/x``)
and builds the backend with each backend's ``qemu_chr_parse_*`` function;
:func:`chardev_backend` does the same and gives QMP's
``{"type": ..., "data": ...}``.  QEMU's parsing messages (warnings, bad
options) are reproduced; QMP's ``Failed to add chardev 'ID': `` prefix, which
HMP does not print, is taken off.  ``chardev-add help`` lists the backends
from ``query-chardev-backends``.

The options follow the release whose text the session prints
(:func:`chardev_options`): ``reconnect-ms`` and ``input-path`` came in 9.2,
``chardevs.0`` to ``.3`` (the ``hub`` backend) in 10.0, ``reconnect`` went in
10.2, ``logtimestamp`` came in 11.0; the backends are the live schema's.  The socket backend's QMP
members are read from the live schema: where QEMU no longer has
``reconnect`` (10.2), an older release's ``reconnect=N`` is sent as
``reconnect-ms`` (N * 1000), as 9.2's QEMU itself read it.
"""

from __future__ import annotations

import re
from typing import AbstractSet, Any, Dict, FrozenSet, Generator, List, Optional, Set, Tuple

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler, help_form
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import QemuProfile
from hmpbridge.qapi_schema import Schema
from hmpbridge.qemu_opts import OptsError, ParsedOpts, is_help_option, parse_opts
from hmpbridge.render.options_help import chardev_types_help

__all__ = ["CHARDEV_OPTIONS", "BACKENDS", "ChardevError", "chardev_backend", "chardev_add",
           "chardev_remove", "PARSE_FAILED", "reset_alias_warnings", "chardev_options",
           "socket_members", "fit_socket", "backend_kinds"]

#: The ``-chardev`` options of QEMU 7.2 (``query-command-line-options``).
CHARDEV_OPTIONS: Dict[str, str] = {
    "backend": "string", "path": "string", "host": "string", "port": "string",
    "fd": "string", "localaddr": "string", "localport": "string", "to": "number",
    "ipv4": "bool", "ipv6": "bool", "wait": "bool", "server": "bool", "delay": "bool",
    "nodelay": "bool", "reconnect": "number", "telnet": "bool", "tn3270": "bool",
    "tls-creds": "string", "tls-authz": "string", "websocket": "bool", "width": "number",
    "height": "number", "cols": "number", "rows": "number", "mux": "bool",
    "signal": "bool", "name": "string", "debug": "number", "size": "size",
    "chardev": "string", "append": "bool", "logfile": "string", "logappend": "bool",
    "mouse": "bool", "clipboard": "bool", "tight": "bool", "abstract": "bool",
}

#: Options added to ``-chardev`` after 7.2: release, name, type, the option it follows.
_ADDED_OPTIONS = (((9, 2), "reconnect-ms", "number", "reconnect"),
                  ((9, 2), "input-path", "string", "path"),
                  ((10, 0), "chardevs.0", "string", "chardev"),
                  ((10, 0), "chardevs.1", "string", "chardevs.0"),
                  ((10, 0), "chardevs.2", "string", "chardevs.1"),
                  ((10, 0), "chardevs.3", "string", "chardevs.2"),
                  ((11, 0), "logtimestamp", "bool", "logappend"))
#: Options removed: release, name.
_REMOVED_OPTIONS = (((10, 2), "reconnect"),)


def chardev_options(release: Tuple[int, int]) -> Dict[str, str]:
    """The ``-chardev`` options of QEMU ``release`` (name -> QemuOpts type), in order."""
    options = dict(CHARDEV_OPTIONS)
    for since, name, kind, after in _ADDED_OPTIONS:
        if release >= since:
            items = list(options.items())
            at = next((i + 1 for i, (key, _) in enumerate(items) if key == after), len(items))
            items.insert(at, (name, kind))
            options = dict(items)
    for since, name in _REMOVED_OPTIONS:
        if release >= since:
            options.pop(name, None)
    return options


def socket_members(schema: Optional[Schema]) -> Optional[FrozenSet[str]]:
    """The members of the live schema's ChardevSocket, or None when unknown."""
    if schema is None:
        return None
    backend = schema.member_type(schema.arguments("chardev-add"), "backend")
    variant = next((v for v in backend.get("variants", ()) if v.get("case") == "socket"), None)
    if variant is None:
        return None
    wrapper = schema.entity(variant.get("type"))
    return frozenset(schema.member_names(schema.member_type(wrapper, "data")))


#: Backends added after 7.2, and the release that added them.
_BACKENDS_SINCE = {"hub": (10, 0)}


def backend_kinds(schema: Optional[Schema],
                  release: Tuple[int, int] = (7, 2)) -> Optional[FrozenSet[str]]:
    """The backend names of the live schema's ChardevBackend, or None when unknown.

    Those added after ``release`` (``hub``, 10.0) are left out: that release's
    monitor did not know them.
    """
    if schema is None:
        return None
    backend = schema.member_type(schema.arguments("chardev-add"), "backend")
    kinds = frozenset(name for name in schema.enum_values(schema.member_type(backend, "type"))
                      if release >= _BACKENDS_SINCE.get(name, (0, 0)))
    return kinds or None


def fit_socket(data: Dict[str, Any], members: Optional[FrozenSet[str]]) -> Optional[str]:
    """Make a socket backend's ``reconnect`` what this QEMU takes; an error to print, or None.

    QEMU 10.2 and later have only ``reconnect-ms``: ``reconnect`` (seconds)
    is sent as milliseconds, and both at once get 9.2's refusal.
    """
    if "reconnect" not in data or members is None or "reconnect" in members:
        return None
    if "reconnect-ms" not in members:
        return None
    if "reconnect-ms" in data:
        return "Error: 'reconnect' and 'reconnect-ms' are mutually exclusive\n"
    data["reconnect-ms"] = (int(data.pop("reconnect")) * 1000) & ((1 << 64) - 1)
    return None


#: Backend names QEMU 7.2 (Debian) knows (``chardev-add help``).
BACKENDS = ("stdio", "ringbuf", "spicevmc", "mux", "pipe", "qemu-vdagent", "null",
            "msmouse", "socket", "braille", "spiceport", "vc", "parallel", "dbus", "udp",
            "memory", "file", "serial", "wctablet", "pty", "testdev")

def help_order(backends: List[Any], profile: QemuProfile) -> Optional[List[str]]:
    """The order ``chardev-add help`` prints for an older release's text, or None.

    None (QEMU's own order) unless the text printed is of a release older
    than the QEMU asked: QEMU 7.2's order is :data:`BACKENDS` (its class
    table's); before 10.0 there was no ``hub`` backend.
    """
    if tuple(profile.qemu[:2]) <= profile.release:
        return None
    if profile.release == (7, 2):
        return list(BACKENDS)
    if not profile.since(10, 0):
        return [str(b["name"]) for b in reversed(backends) if b["name"] != "hub"]
    return None


#: Deprecated alias -> backend; QEMU warns once per process for each.
_ALIASES = {"tty": "serial", "parport": "parallel"}
_alias_warned: Set[str] = set()

PARSE_FAILED = "Error: Parsing chardev args failed\n"


def reset_alias_warnings() -> None:
    """Forget which alias warnings were printed (QEMU prints each once)."""
    _alias_warned.clear()


class ChardevError(Exception):
    """A backend's options are refused; ``str()`` is QEMU's message."""


def _common(opts: ParsedOpts) -> Dict[str, Any]:
    data: Dict[str, Any] = {}
    if opts.has("logfile"):
        data["logfile"] = opts.get("logfile")
    data["logappend"] = opts.get("logappend", False)
    _flag(opts, data, "logtimestamp")
    return data


def _flag(opts: ParsedOpts, data: Dict[str, Any], name: str) -> None:
    if opts.has(name):
        data[name] = opts.get(name)


def _inet(opts: ParsedOpts, host: str, port: str, to: bool) -> Dict[str, Any]:
    inet: Dict[str, Any] = {"host": host, "port": port}
    if to and opts.has("to"):
        inet["to"] = opts.get("to")
    _flag(opts, inet, "ipv4")
    _flag(opts, inet, "ipv6")
    return {"type": "inet", "data": inet}


def _socket(opts: ParsedOpts) -> Dict[str, Any]:
    path, host, port, fd = (opts.get(k) for k in ("path", "host", "port", "fd"))
    if sum(x is not None for x in (path, host, fd)) > 1:
        raise ChardevError("None or one of 'path', 'fd' or 'host' option required.")
    if host is not None and port is None:
        raise ChardevError("chardev: socket: no port given")
    data = _common(opts)
    if opts.has("delay") and opts.has("nodelay"):
        raise ChardevError("'delay' and 'nodelay' are mutually exclusive")
    if opts.has("delay") or opts.has("nodelay"):
        data["nodelay"] = not opts.get("delay", True) or opts.get("nodelay", False)
    data["server"] = opts.get("server", False)  # QMP's default is the other way
    for name in ("telnet", "tn3270", "websocket"):
        _flag(opts, data, name)
    if opts.has("wait") or data["server"]:
        data["wait"] = opts.get("wait", True)
    _flag(opts, data, "reconnect")
    _flag(opts, data, "reconnect-ms")
    _flag(opts, data, "tls-creds")
    _flag(opts, data, "tls-authz")
    if path is not None:
        data["addr"] = {"type": "unix", "data": {
            "path": path, "tight": opts.get("tight", True),
            "abstract": opts.get("abstract", False)}}
    elif host is not None:
        data["addr"] = _inet(opts, host, port, to=True)
    else:
        data["addr"] = {"type": "fd", "data": {"str": fd or ""}}
    return data


def _udp(opts: ParsedOpts) -> Dict[str, Any]:
    host = opts.get("host") or "localhost"
    port = opts.get("port")
    if not port:
        raise ChardevError("chardev: udp: remote port not specified")
    localport, localaddr = opts.get("localport"), opts.get("localaddr")
    data = _common(opts)
    data["remote"] = _inet(opts, host, port, to=False)
    if localport or localaddr:
        data["local"] = {"type": "inet", "data": {"host": localaddr or "",
                                                  "port": localport or "0"}}
    return data


def _needs(opts: ParsedOpts, name: str, message: str) -> str:
    value = opts.get(name)
    if value is None:
        raise ChardevError(message)
    return str(value)


def _backend_data(backend: str, opts: ParsedOpts) -> Dict[str, Any]:
    """``qemu_chr_parse_<backend>()``: the QMP ``data`` of the backend."""
    if backend == "socket":
        return _socket(opts)
    if backend == "udp":
        return _udp(opts)
    if backend == "file":
        path = _needs(opts, "path", "chardev: file: no filename given")
        data = {**_common(opts), "out": path}
        if opts.has("input-path"):  # 9.2
            data["in"] = opts.get("input-path")
        data["append"] = opts.get("append", False)
        return data
    if backend == "hub":  # 10.0: chardevs.0 .. chardevs.3, up to the first missing
        chardevs = []
        for index in range(4):
            if not opts.has(f"chardevs.{index}"):
                break
            chardevs.append(opts.get(f"chardevs.{index}"))
        return {**_common(opts), "chardevs": chardevs}
    if backend in ("pipe", "serial", "parallel"):
        label = {"pipe": "pipe", "serial": "serial/tty", "parallel": "parallel"}[backend]
        path = _needs(opts, "path", f"chardev: {label}: no device path given")
        return {**_common(opts), "device": path}
    if backend == "stdio":
        return {**_common(opts), "signal": opts.get("signal", True)}
    if backend in ("ringbuf", "memory"):
        size = opts.get("size", 0) & 0xFFFFFFFF  # QEMU keeps it in a C int
        size = size - (1 << 32) if size & 0x80000000 else size
        return {**_common(opts), **({"size": size} if size else {})}
    if backend == "mux":
        return {**_common(opts), "chardev": _needs(opts, "chardev",
                                                    "chardev: mux: no chardev given")}
    if backend == "spicevmc":
        name = _needs(opts, "name", "chardev: spice channel: no name given")
        return {**_common(opts), "type": name}
    if backend == "spiceport":
        name = _needs(opts, "name", "chardev: spice port: no name given")
        return {**_common(opts), "fqdn": name}
    if backend == "dbus":
        return {**_common(opts), "name": _needs(opts, "name", "chardev: dbus: no name given")}
    if backend == "vc":
        data = _common(opts)
        for name in ("width", "height", "cols", "rows"):
            _flag(opts, data, name)
        return data
    if backend == "qemu-vdagent":
        data = _common(opts)
        _flag(opts, data, "mouse")
        _flag(opts, data, "clipboard")
        return data
    return _common(opts)  # null, pty, msmouse, braille, testdev, wctablet


def chardev_backend(opts: ParsedOpts, warnings: List[str],
                    backends: Optional[AbstractSet[str]] = None) -> Tuple[str, Dict[str, Any]]:
    """(type, data) for parsed ``-chardev`` options, as ``qemu_chr_parse_opts()``.

    :param warnings: QEMU's deprecation warnings are appended to it.
    :param backends: the backend names this QEMU has (:func:`backend_kinds`);
        7.2's :data:`BACKENDS` by default.
    :raises ChardevError: QEMU's message for a missing backend, an unknown
        one, or options the backend refuses.
    """
    name: Optional[str] = opts.get("backend")
    if name in _ALIASES:
        if name not in _alias_warned:
            _alias_warned.add(name)
            warnings.append(f"warning: The alias '{name}' is deprecated, "
                            f"use '{_ALIASES[name]}' instead")
        name = _ALIASES[name]
    if name is None:
        raise ChardevError(f'chardev: "{opts.id}" missing backend')
    if name not in (BACKENDS if backends is None else backends):
        raise ChardevError(f"'{name}' is not a valid char driver name")
    return name, _backend_data(name, opts)


def _desc(err: QMPCommandError, chardev_id: str) -> str:
    """QMP's error without its ``Failed to add chardev 'ID': `` prefix."""
    prefix = f"Failed to add chardev '{chardev_id}': "
    return err.desc[len(prefix):] if err.desc.startswith(prefix) else err.desc


def _taken(desc: str, chardev_id: str) -> bool:
    return desc == f"Chardev with id '{chardev_id}' already exists"


def _redirected(reply: Any, label: str) -> str:
    if isinstance(reply, dict) and "pty" in reply:
        return f"char device redirected to {reply['pty']} (label {label})\n"
    return ""


def _add(chardev_id: str, backend: Dict[str, Any]) -> Generator[QMPCommand, Any, Tuple[bool, str]]:
    """Add one chardev as ``qemu_chardev_new()`` does; (added, text to print).

    QMP refuses a taken id before it opens the backend, HMP after; so on a
    taken id the backend is opened under a scratch id, to report its own
    error first, as HMP would, and removed again.  A mux is not tried that
    way: once made, QEMU never lets it go.
    """
    try:
        reply = yield QMPCommand("chardev-add", {"id": chardev_id, "backend": backend})
    except QMPCommandError as err:
        desc = _desc(err, chardev_id)
        if not _taken(desc, chardev_id):
            return False, f"Error: {desc}\n"
        if backend["type"] == "mux":
            return False, _duplicate(chardev_id)
    else:
        return True, _redirected(reply, chardev_id)
    scratch = f"{chardev_id}.hmpbridge-probe"
    try:
        reply = yield QMPCommand("chardev-add", {"id": scratch, "backend": backend})
    except QMPCommandError as err:
        desc = _desc(err, scratch)
        return False, _duplicate(chardev_id) if _taken(desc, scratch) else f"Error: {desc}\n"
    try:
        yield QMPCommand("chardev-remove", {"id": scratch})
    except QMPCommandError:
        pass
    return False, _redirected(reply, chardev_id) + _duplicate(chardev_id)


def _duplicate(chardev_id: str) -> str:
    return (f"Error: attempt to add duplicate property '{chardev_id}' "
            "to object (type 'container')\n")


#: Labels of the chardevs QEMU makes itself from ``-serial``, ``-parallel``,
#: ``-debugcon``, ``-gdb`` and virtio consoles; it drops their options.
_OPTIONLESS = re.compile(r"(serial|parallel|virtcon)\d+|debugcon|gdb")


def held_chardev_ids(chardevs_at_connect: Optional[FrozenSet[str]]) -> FrozenSet[str]:
    """The ids QEMU keeps ``-chardev`` options for, as far as the bridge can tell.

    QEMU keeps the options of every ``-chardev`` (and ``-monitor``/``-qmp``)
    chardev for good, even after ``chardev-remove``, and HMP refuses a new
    chardev with such an id before anything else; those made by HMP or QMP
    later keep none.  QMP does not show which is which, so the chardevs that
    were there when the bridge connected count as made from options, less
    those QEMU names after ``-serial`` and its kind.
    """
    if not chardevs_at_connect:
        return frozenset()
    return frozenset(label for label in chardevs_at_connect if not _OPTIONLESS.fullmatch(label))


def read_chardev_opts(text: str, held: FrozenSet[str] = frozenset(),
                      options: Optional[Dict[str, str]] = None
                      ) -> Tuple[Optional[ParsedOpts], str]:
    """Parse chardev options as QEMU's ``qemu_chr_parse_opts`` does.

    ``held`` are the ids QEMU already has options for (:func:`held_chardev_ids`);
    ``options`` the release's ``-chardev`` options (7.2's by default).

    :returns: ``(opts, warnings_text)``, or ``(None, text_to_print)`` when
        parsing already ends the command (a syntax error, or ``help``).
    """
    try:
        opts = parse_opts(text, implied="backend",
                          desc=CHARDEV_OPTIONS if options is None else options,
                          held=("chardev", held))
    except OptsError as err:
        return None, "".join(line + "\n" for line in err.lines) + PARSE_FAILED
    out = "".join(line + "\n" for line in opts.warnings)
    if opts.help_wanted:
        return None, out + PARSE_FAILED
    return opts, out


def read_backend(opts: ParsedOpts, backends: Optional[AbstractSet[str]] = None
                 ) -> Tuple[Optional[Tuple[str, Dict[str, Any]]], str]:
    """The ChardevBackend of ``opts`` and the warnings text.

    ``backends``: the backend names this QEMU has (7.2's by default).

    :returns: ``((type, data), warnings_text)``, or ``(None, text_to_print)``
        when QEMU would refuse the options.
    """
    warnings: List[str] = []
    try:
        backend = chardev_backend(opts, warnings, backends)
    except ChardevError as err:
        return None, "".join(w + "\n" for w in warnings) + f"Error: {err}\n"
    return backend, "".join(w + "\n" for w in warnings)


@help_form("chardev-add")
def _asks_for_help(inv: Invocation) -> bool:
    try:
        opts = parse_opts(inv.args["args"], implied="backend", desc=CHARDEV_OPTIONS)
    except OptsError:
        return False
    return opts.help_wanted or is_help_option(str(opts.get("backend")))


@handler("chardev-add")
def chardev_add(inv: Invocation, ctx: Context) -> HandlerResult:
    """``chardev-add backend,id=ID[,...]`` -> QMP ``chardev-add`` (two with ``mux=on``)."""
    opts, out = read_chardev_opts(inv.args["args"], held_chardev_ids(ctx.chardevs_at_connect),
                                  chardev_options(ctx.profile.release))
    if opts is None:
        return out
    if is_help_option(str(opts.get("backend"))):
        backends = yield QMPCommand("query-chardev-backends")
        return out + chardev_types_help(backends, help_order(backends, ctx.profile))
    if opts.id is None:
        return out + "Error: chardev: no id specified\n"
    chosen, text = read_backend(opts, backend_kinds(ctx.profile.schema, ctx.profile.release))
    out += text
    if chosen is None:
        return out
    backend, data = chosen
    if backend == "socket":
        refused = fit_socket(data, socket_members(ctx.profile.schema))
        if refused is not None:
            return out + refused
    base = f"{opts.id}-base" if opts.get("mux", False) else opts.id
    added, text = yield from _add(base, {"type": backend, "data": data})
    out += text
    if added and base != opts.id:
        added, text = yield from _add(opts.id, {"type": "mux", "data": {"chardev": base}})
        out += text
        if not added:
            try:
                yield QMPCommand("chardev-remove", {"id": base})
            except QMPCommandError:
                pass
    return out


@handler("chardev-remove")
def chardev_remove(inv: Invocation, ctx: Context) -> HandlerResult:
    """``chardev-remove id``."""
    yield QMPCommand("chardev-remove", {"id": inv.args["id"]})
    return ""
