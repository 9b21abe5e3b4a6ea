"""Text of assorted ``info`` commands, laid out as QEMU 7.2's HMP prints them.

Covers the display servers (``info vnc``, ``info spice``), the TPM, memory
devices and sizes, hot-pluggable CPU slots, the rocker switch tables, SEV,
SGX, record/replay, trace events, ``info stats`` and the QOM composition
tree.  Every function takes the QMP ``return`` value and gives the
``"\\n"``-terminated text.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "render_vnc", "render_spice", "render_tpm", "render_memory_devices",
    "render_hotpluggable_cpus", "render_memory_size_summary", "render_sev",
    "render_sgx", "render_replay", "render_trace_events", "render_rocker",
    "render_rocker_ports", "render_rocker_flows", "render_rocker_groups",
    "render_stats", "render_qom_tree", "SEV_NOT_ENABLED", "TPM_NOT_SUPPORTED",
    "render_cryptodev", "render_firmware_log", "render_xen_events", "g_strescape",
]

SEV_NOT_ENABLED = "SEV is not enabled\n"
TPM_NOT_SUPPORTED = "TPM device not supported\n"


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _u32(value: int) -> int:
    return int(value) & 0xFFFFFFFF


def _i32(value: int) -> int:
    """``value`` as C's ``int`` holds it after truncation."""
    value = _u32(value)
    return value - (1 << 32) if value & 0x80000000 else value


# --- display servers -------------------------------------------------------

def _vnc_basic(label: str, info: Mapping[str, Any]) -> str:
    websocket = " (Websocket)" if info.get("websocket") else ""
    return (f"  {label}: {info.get('host')}:{info.get('service')} "
            f"({info.get('family')}{websocket})\n")


def _vnc_auth(indent: str, auth: Any, vencrypt: Optional[str]) -> str:
    return f"{indent}Auth: {auth} (Sub: {vencrypt if vencrypt is not None else 'none'})\n"


def render_vnc(displays: Sequence[Mapping[str, Any]]) -> str:
    """``info vnc`` from ``query-vnc-servers``: ``None`` when there is no display."""
    if not displays:
        return "None\n"
    out: List[str] = []
    for info in displays:
        out.append(f"{info.get('id')}:\n")
        servers = info.get("server") or []
        for server in servers:
            out.append(_vnc_basic("Server", server))
            out.append(_vnc_auth("    ", server.get("auth"), server.get("vencrypt")))
        for client in info.get("clients") or []:
            out.append(_vnc_basic("Client", client))
            out.append(f"    x509_dname: {client.get('x509_dname', 'none')}\n")
            out.append(f"    sasl_username: {client.get('sasl_username', 'none')}\n")
        if not servers:
            # a reverse connection has no server entry to carry the auth
            out.append(_vnc_auth("  ", info.get("auth"), info.get("vencrypt")))
        if "display" in info:
            out.append(f"  Display: {info['display']}\n")
    return "".join(out)


_SPICE_CHANNELS = {1: "main", 2: "display", 3: "inputs", 4: "cursor", 5: "playback",
                   6: "record", 7: "tunnel", 8: "smartcard", 9: "usbredir", 10: "port"}


def render_spice(info: Mapping[str, Any]) -> str:
    """``info spice`` from ``query-spice``."""
    if not info.get("enabled"):
        return "Server: disabled\n"
    out = ["Server:\n"]
    if "port" in info:
        out.append(f"     address: {info.get('host')}:{info['port']}\n")
    if "tls-port" in info:
        out.append(f"     address: {info.get('host')}:{info['tls-port']} [tls]\n")
    out.append(f"    migrated: {_bool(info.get('migrated'))}\n")
    out.append(f"        auth: {info.get('auth')}\n")
    out.append(f"    compiled: {info.get('compiled-version')}\n")
    out.append(f"  mouse-mode: {info.get('mouse-mode')}\n")
    channels = info.get("channels") or []
    if not channels:
        out.append("Channels: none\n")
    for chan in channels:
        tls = " [tls]" if chan.get("tls") else ""
        kind = chan.get("channel-type")
        out.append("Channel:\n")
        out.append(f"     address: {chan.get('host')}:{chan.get('port')}{tls}\n")
        out.append(f"     session: {chan.get('connection-id')}\n")
        out.append(f"     channel: {kind}:{chan.get('channel-id')}\n")
        out.append(f"     channel name: {_SPICE_CHANNELS.get(kind, 'unknown')}\n")
    return "".join(out)


# --- devices and memory ----------------------------------------------------

def render_tpm(tpms: Sequence[Mapping[str, Any]]) -> str:
    """``info tpm`` from ``query-tpm``: nothing at all when there is no TPM."""
    if not tpms:
        return ""
    out = ["TPM device:\n"]
    for number, tpm in enumerate(tpms):
        options = tpm.get("options") or {}
        kind = options.get("type")
        data = options.get("data") or {}
        out.append(f" tpm{number}: model={tpm.get('model')}\n")
        line = f"  \\ {tpm.get('id')}: type={kind}"
        if kind == "passthrough":
            if "path" in data:
                line += f",path={data['path']}"
            if "cancel-path" in data:
                line += f",cancel-path={data['cancel-path']}"
        elif kind == "emulator":
            line += f",chardev={data.get('chardev')}"
        out.append(line + "\n")
    return "".join(out)


def _hex(value: Any) -> str:
    return "0x%x" % (int(value) & 0xFFFFFFFFFFFFFFFF)


def _memory_device(kind: str, data: Mapping[str, Any]) -> List[str]:
    out = [f"Memory device [{kind}]: \"{data.get('id') or ''}\"\n"]
    if kind in ("dimm", "nvdimm"):
        out += [f"  addr: {_hex(data.get('addr', 0))}\n",
                f"  slot: {data.get('slot')}\n",
                f"  node: {data.get('node')}\n",
                f"  size: {data.get('size')}\n",
                f"  memdev: {data.get('memdev')}\n",
                f"  hotplugged: {_bool(data.get('hotplugged'))}\n",
                f"  hotpluggable: {_bool(data.get('hotpluggable'))}\n"]
    elif kind == "virtio-pmem":
        out += [f"  memaddr: {_hex(data.get('memaddr', 0))}\n",
                f"  size: {data.get('size')}\n",
                f"  memdev: {data.get('memdev')}\n"]
    elif kind == "virtio-mem":
        out += [f"  memaddr: {_hex(data.get('memaddr', 0))}\n",
                f"  node: {data.get('node')}\n",
                f"  requested-size: {data.get('requested-size')}\n",
                f"  size: {data.get('size')}\n",
                f"  max-size: {data.get('max-size')}\n",
                f"  block-size: {data.get('block-size')}\n",
                f"  memdev: {data.get('memdev')}\n"]
    elif kind == "sgx-epc":
        out += [f"  memaddr: {_hex(data.get('memaddr', 0))}\n",
                f"  size: {data.get('size')}\n",
                f"  node: {data.get('node')}\n",
                f"  memdev: {data.get('memdev')}\n"]
    elif kind == "hv-balloon":  # 8.2: address and backend only once there are
        if "memaddr" in data:
            out.append(f"  memaddr: {_hex(data['memaddr'])}\n")
        out.append(f"  max-size: {data.get('max-size')}\n")
        if data.get("memdev") is not None:
            out.append(f"  memdev: {data['memdev']}\n")
    return out


def render_memory_devices(devices: Sequence[Mapping[str, Any]]) -> str:
    """``info memory-devices`` from ``query-memory-devices``."""
    out: List[str] = []
    for dev in devices or []:
        out += _memory_device(str(dev.get("type")), dev.get("data") or {})
    return "".join(out)


#: The CPU slot properties HMP prints, in its order.
_CPU_PROPS = ("node-id", "drawer-id", "book-id", "socket-id", "die-id", "cluster-id",
              "module-id", "core-id", "thread-id")


#: CPU topology ids ``info hotpluggable-cpus`` prints from a release on:
#: ``drawer-id`` and ``book-id`` from 8.2, ``module-id`` from 9.1.
CPU_PROPS_SINCE = {"drawer-id": (8, 2), "book-id": (8, 2), "module-id": (9, 1)}


def cpu_props_of(release: Tuple[int, int]) -> Tuple[str, ...]:
    """The topology ids release ``release`` prints, in its order."""
    return tuple(name for name in _CPU_PROPS if release >= CPU_PROPS_SINCE.get(name, (0, 0)))


def render_hotpluggable_cpus(slots: Sequence[Mapping[str, Any]],
                             props_shown: Tuple[str, ...] = _CPU_PROPS) -> str:
    """``info hotpluggable-cpus`` from ``query-hotpluggable-cpus``.

    :param props_shown: the topology ids the release prints (:func:`cpu_props_of`).
    """
    out = ["Hotpluggable CPUs:\n"]
    for slot in slots:
        out.append(f"  type: \"{slot.get('type')}\"\n")
        out.append(f"  vcpus_count: \"{slot.get('vcpus-count')}\"\n")
        if "qom-path" in slot:
            out.append(f"  qom_path: \"{slot['qom-path']}\"\n")
        out.append("  CPUInstance Properties:\n")
        props = slot.get("props") or {}
        for name in props_shown:
            if name in props:
                out.append(f"    {name}: \"{props[name]}\"\n")
    return "".join(out)


def render_memory_size_summary(info: Mapping[str, Any]) -> str:
    """``info memory_size_summary`` from ``query-memory-size-summary``."""
    out = f"base memory: {info.get('base-memory')}\n"
    if "plugged-memory" in info:
        out += f"plugged memory: {info['plugged-memory']}\n"
    return out


# --- confidential computing, replay, tracing -------------------------------

def render_sev(info: Mapping[str, Any]) -> str:
    """``info sev`` from ``query-sev`` (policy bit 0 forbids debug, bit 1 key sharing)."""
    if not info.get("enabled"):
        return SEV_NOT_ENABLED
    policy = int(info.get("policy", 0))
    return (f"handle: {_i32(info.get('handle', 0))}\n"
            f"state: {info.get('state')}\n"
            f"build: {_i32(info.get('build-id', 0))}\n"
            f"api version: {_i32(info.get('api-major', 0))}.{_i32(info.get('api-minor', 0))}\n"
            f"debug: {'off' if policy & 1 else 'on'}\n"
            f"key-sharing: {'off' if policy & 2 else 'on'}\n")


def render_sgx(info: Mapping[str, Any]) -> str:
    """``info sgx`` from ``query-sgx``."""
    def state(key: str) -> str:
        return "enabled" if info.get(key) else "disabled"

    out = [f"SGX support: {state('sgx')}\n", f"SGX1 support: {state('sgx1')}\n",
           f"SGX2 support: {state('sgx2')}\n", f"FLC support: {state('flc')}\n",
           f"size: {info.get('section-size')}\n"]
    for section in info.get("sections") or []:
        out.append(f"NUMA node #{section.get('node')}: size={section.get('size')}\n")
    return "".join(out)


def render_replay(info: Mapping[str, Any]) -> str:
    """``info replay`` from ``query-replay``."""
    mode = info.get("mode")
    if mode == "none":
        return "Record/replay is not active\n"
    verb = "Recording" if mode == "record" else "Replaying"
    return (f"{verb} execution '{info.get('filename', '(null)')}': "
            f"instruction count = {info.get('icount')}\n")


def render_trace_events(events: Iterable[Mapping[str, Any]]) -> str:
    """``info trace-events`` from ``trace-event-get-state``: 1 for enabled, else 0."""
    return "".join([f"{e.get('name')} : state {'1' if e.get('state') == 'enabled' else '0'}\n"
                    for e in events])


# --- rocker ----------------------------------------------------------------

def render_rocker(switch: Mapping[str, Any]) -> str:
    """``info rocker NAME`` from ``query-rocker``."""
    return (f"name: {switch.get('name')}\n"
            f"id: 0x{int(switch.get('id', 0)) & 0xFFFFFFFFFFFFFFFF:x}\n"
            f"ports: {_i32(switch.get('ports', 0))}\n")


def render_rocker_ports(ports: Sequence[Mapping[str, Any]]) -> str:
    """``info rocker-ports NAME`` from ``query-rocker-ports``."""
    out = ["            ena/    speed/ auto\n", "      port  link    duplex neg?\n"]
    for port in ports:
        link = ("up" if port.get("link-up") else "down") if port.get("enabled") else "!ena"
        speed = "10G" if port.get("speed") == 10000 else "??"
        # enums in QMP; HMP tests their C values (half=0/full=1, off=0/on=1)
        duplex = "FD" if port.get("duplex") == "full" else "HD"
        autoneg = "Yes" if port.get("autoneg") == "on" else "No"
        out.append("%10s  %-4s   %-3s  %2s  %s\n"
                   % (port.get("name"), link, speed, duplex, autoneg))
    return "".join(out)


_ETH_TYPES = {0x0806: "ARP", 0x0800: "IP", 0x86DD: "IPv6", 0x8809: "LACP", 0x88CC: "LLDP"}
_MCAST = "01:00:00:00:00:00"
_UCAST = "00:00:00:00:00:00"


def _masked_num(label: str, key: Mapping[str, Any], mask: Mapping[str, Any], name: str,
                transform: Any = None) -> str:
    if name not in key:
        return ""
    value = key[name] if transform is None else transform(key[name])
    text = f" {label} {_i32(value)}"
    if name in mask:
        text += f"(0x{_u32(mask[name]):x})"
    return text


def _mac(label: str, key: Mapping[str, Any], mask: Mapping[str, Any], name: str) -> str:
    if name not in key:
        return ""
    value = key[name]
    if value == _MCAST and mask.get(name) == _MCAST:
        return f" {label} <any mcast/bcast>"
    if value == _UCAST and mask.get(name) == _MCAST:
        return f" {label} <any ucast>"
    text = f" {label} {value}"
    if name in mask:
        text += f"({mask[name]})"
    return text


def _flow_line(flow: Mapping[str, Any]) -> str:
    key = flow.get("key") or {}
    mask = flow.get("mask") or {}
    action = flow.get("action") or {}
    prio, tbl = _i32(key.get("priority", 0)), _i32(key.get("tbl-id", 0))
    hits = int(flow.get("hits", 0))
    line = ("%-4d %-3d %-4d" % (prio, tbl, hits)) if hits else ("%-4d %-3d     " % (prio, tbl))
    line += _masked_num("pport", key, mask, "in-pport")
    line += _masked_num("vlan", key, mask, "vlan-id", lambda v: int(v) & 0x0FFF)
    line += _masked_num("tunnel", key, mask, "tunnel-id")
    if "eth-type" in key:
        eth = int(key["eth-type"])
        line += " " + _ETH_TYPES.get(eth, "eth type 0x%04x" % eth)
    line += _mac("src", key, mask, "eth-src")
    line += _mac("dst", key, mask, "eth-dst")
    line += _masked_num("proto", key, mask, "ip-proto")
    line += _masked_num("TOS", key, mask, "ip-tos")
    if "ip-dst" in key:
        line += f" dst {key['ip-dst']}"
    if any(k in action for k in ("goto-tbl", "group-id", "new-vlan-id")):
        line += " -->"
    if "new-vlan-id" in action:
        vlan = int(action["new-vlan-id"]) & 0xFFFF
        line += f" apply new vlan {((vlan & 0xFF) << 8) | (vlan >> 8)}"  # ntohs
    if "group-id" in action:
        line += " write group 0x%08x" % _u32(action["group-id"])
    if "goto-tbl" in action:
        line += f" goto tbl {_i32(action['goto-tbl'])}"
    return line + "\n"


def render_rocker_flows(flows: Sequence[Mapping[str, Any]]) -> str:
    """``info rocker-of-dpa-flows NAME [TBL]`` from ``query-rocker-of-dpa-flows``."""
    return "prio tbl hits key(mask) --> actions\n" + "".join(_flow_line(f) for f in flows)


_GROUP_TYPES = ("L2 interface", "L2 rewrite", "L3 unicast", "L2 multicast", "L2 flood",
                "L3 interface", "L3 multicast", "L3 ECMP", "L2 overlay")


def _group_line(group: Mapping[str, Any]) -> str:
    kind = int(group.get("type", -1))
    line = "0x%08x" % _u32(group.get("id", 0))
    line += f" (type {_GROUP_TYPES[kind] if 0 <= kind < len(_GROUP_TYPES) else 'unknown'}"
    for name, label in (("vlan-id", "vlan"), ("pport", "pport"), ("index", "index")):
        if name in group:
            line += f" {label} {_i32(group[name])}"
    line += ") -->"
    is_set = False
    if group.get("set-vlan-id"):
        is_set = True
        line += f" set vlan {int(group['set-vlan-id']) & 0x0FFF}"
    if "set-eth-src" in group:
        if not is_set:
            is_set = True
            line += " set"
        line += f" src {group['set-eth-src']}"
    if "set-eth-dst" in group:
        if not is_set:
            line += " set"
        line += f" dst {group['set-eth-dst']}"
    if group.get("ttl-check"):
        line += " check TTL"
    if group.get("group-id"):
        line += " group id 0x%08x" % _u32(group["group-id"])
    if group.get("pop-vlan"):
        line += " pop vlan"
    if "out-pport" in group:
        line += f" out pport {_i32(group['out-pport'])}"
    if "group-ids" in group:
        line += " groups [" + ",".join("0x%08x" % _u32(g) for g in group["group-ids"]) + "]"
    return line + "\n"


def render_rocker_groups(groups: Sequence[Mapping[str, Any]]) -> str:
    """``info rocker-of-dpa-groups NAME [TYPE]`` from ``query-rocker-of-dpa-groups``."""
    return "id (decode) --> buckets\n" + "".join(_group_line(g) for g in groups)


# --- info stats ------------------------------------------------------------

_SI = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "u", -3: "m", 0: "", 3: "K", 6: "M",
       9: "G", 12: "T", 15: "P", 18: "E"}
_IEC = {0: "", 10: "Ki", 20: "Mi", 30: "Gi", 40: "Ti", 50: "Pi", 60: "Ei"}


def _schema_value(value: Mapping[str, Any]) -> str:
    """``name (type[, unit])`` as QEMU describes one statistic."""
    has_unit = "unit" in value
    exponent = int(value.get("exponent", 0))
    base = int(value.get("base", 0))
    text = f"    {value.get('name')} ({value.get('type')}"
    if has_unit or exponent:
        text += ", "
    unit: Optional[str] = None
    if has_unit:
        unit = {"seconds": "s", "bytes": "B"}.get(str(value["unit"]))
    if unit and base == 10 and -18 <= exponent <= 18 and exponent % 3 == 0:
        text += _SI[exponent]
    elif unit and base == 2 and 0 <= exponent <= 60 and exponent % 10 == 0:
        text += _IEC[exponent]
    elif exponent:
        text += f"* {base}^{exponent}" + (" " if has_unit else "")
        unit = None
    if has_unit:
        text += unit if unit else str(value["unit"])
    if value.get("type") == "linear-histogram" and "bucket-size" in value:
        text += f", bucket size={_i32(value['bucket-size'])}"
    return text + ")"


def _stat_value(value: Any) -> str:
    if isinstance(value, bool):
        return ": " + ("yes" if value else "no") + "\n"
    if isinstance(value, list):
        return ": " + "".join(f"[{i}]={v} " for i, v in enumerate(value, 1)) + "\n"
    return f": {value}\n"


def _stats_result(result: Mapping[str, Any], target: str, show_provider: bool,
                  schemas: Sequence[Mapping[str, Any]]) -> str:
    provider = result.get("provider")
    schema: Optional[List[Mapping[str, Any]]] = None
    for entry in schemas:
        if entry.get("provider") == provider and entry.get("target") == target:
            schema = list(entry.get("stats") or [])
            break
    if not schema:
        return f"failed to find schema list for {provider}\n"
    out = [f"provider: {provider}\n"] if show_provider else []
    pos = 0
    for stat in result.get("stats") or []:
        if pos >= len(schema):
            break  # QEMU walks off its schema list here; nothing sensible to print
        while schema[pos].get("name") != stat.get("name"):
            if pos + 1 >= len(schema):
                out.append(f"failed to find schema entry for {stat.get('name')}\n")
                return "".join(out)
            pos += 1
        out.append(_schema_value(schema[pos]) + _stat_value(stat.get("value")))
        pos += 1
    return "".join(out)


def render_stats(results: Sequence[Mapping[str, Any]], target: str, show_provider: bool,
                 schemas: Sequence[Mapping[str, Any]]) -> str:
    """``info stats`` from ``query-stats`` results and ``query-stats-schemas``."""
    return "".join(_stats_result(r, target, show_provider, schemas) for r in results)


# --- QOM -------------------------------------------------------------------

def render_qom_tree(lines: Iterable[Tuple[int, str, str]]) -> str:
    """``info qom-tree``: one ``/name (type)`` line per object, indented by depth."""
    return "".join(f"{' ' * indent}/{name} ({typ})\n" for indent, name, typ in lines)


def child_entries(props: Iterable[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """The ``child<T>`` properties of a ``qom-list`` reply as (name, T), sorted as QEMU does."""
    children: Dict[str, str] = {}
    for prop in props or []:
        typ = str(prop.get("type", ""))
        if typ.startswith("child<") and typ.endswith(">"):
            children[str(prop.get("name"))] = typ[len("child<"):-1]
    return sorted(children.items(), key=lambda item: item[0].encode())


# --- commands new since 7.2 ------------------------------------------------


Obj = Mapping[str, Any]


def render_cryptodev(devices: Sequence[Obj]) -> str:
    """``info cryptodev`` (8.0) from ``query-cryptodev``.

    ``ID: service=[a|b]`` then one line per queue; a backend with no service
    prints C's ``(null)``, as QEMU's ``%s`` of a NULL string does.
    """
    out: List[str] = []
    for dev in devices:
        services = "|".join(str(name) for name in dev.get("service", [])) or "(null)"
        out.append(f"{dev['id']}: service=[{services}]\n")
        for client in dev.get("client", []):
            out.append("    queue %d: type=%s\n" % (_u32(client["queue"]), client["type"]))
    return "".join(out)


_G_ESCAPES = {0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
              0x0B: "\\v", 0x5C: "\\\\", 0x22: '\\"'}


def g_strescape(data: bytes, exceptions: bytes = b"") -> str:
    """GLib's ``g_strescape()``: C escapes, other control and non-ASCII bytes in octal.

    The text ends at the first NUL byte, as a C string does; the bytes in
    ``exceptions`` are kept as they are.
    """
    data = data.split(b"\0", 1)[0]
    out: List[str] = []
    for byte in data:
        if byte in exceptions:
            out.append(chr(byte))
        elif byte in _G_ESCAPES:
            out.append(_G_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0o177:
            out.append("\\%03o" % byte)
        else:
            out.append(chr(byte))
    return "".join(out)


def render_firmware_log(log: Obj) -> str:
    """``info firmware-log`` (10.2) from ``query-firmware-log``.

    The firmware's version in brackets when it has one, then the log,
    base64-decoded and escaped except for its line ends, and one line end.
    """
    out = ""
    if log.get("version") is not None:
        version = g_strescape(str(log["version"]).encode("utf-8", "surrogateescape"))
        out += f"[ firmware version: {version} ]\n"
    try:
        raw = base64.b64decode(str(log.get("log", "")), validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    return out + g_strescape(raw, b"\r\n") + "\n"


def render_xen_events(ports: Sequence[Obj]) -> str:
    """``xen-event-list`` (8.0) from QMP ``xen-event-list``.

    ``port %4u: vcpu: %d TYPE``, the remote end in brackets for all but IPI
    ports (``remote-domain`` is always printed, followed by ``:``), then
    `` PENDING`` and `` MASKED``.
    """
    out: List[str] = []
    for info in ports:
        line = "port %4d: vcpu: %d %s" % (_u32(info["port"]), _i32(info["vcpu"]), info["type"])
        if info["type"] != "ipi":
            line += "(%s:%d)" % (info.get("remote-domain", ""), _i32(info["target"]))
        if info.get("pending"):
            line += " PENDING"
        if info.get("masked"):
            line += " MASKED"
        out.append(line + "\n")
    return "".join(out)
