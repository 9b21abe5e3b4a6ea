"""The ``info virtio*`` texts, laid out as QEMU 7.2's HMP prints them.

QEMU fills these from its ``x-query-virtio*`` QMP commands, which return
structured data (not human-readable text); the layouts here are its
fixed-width field lists.  Lists of feature or status names are printed one per
line, tab-indented, separated by ``,`` at line ends.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence

from hmpbridge.render.common import c_str

__all__ = ["render_virtio_list", "render_virtio_status", "render_virtio_queue_status",
           "render_vhost_queue_status", "render_virtio_queue_element"]


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _hex16(value: Any) -> str:
    return "0x%016x" % (int(value) & 0xFFFFFFFFFFFFFFFF)


def _names(values: Sequence[str]) -> str:
    """Tab-indented names joined by ``,\\n``, with the final line end."""
    return ",\n".join(f"\t{v}" for v in values) + "\n"


def _null_str(value: Any) -> str:
    """A string QEMU may hold as NULL: QMP sends NULL as ``""``, glibc prints ``(null)``."""
    return "(null)" if value in (None, "") else str(value)


def render_virtio_list(devices: Sequence[Mapping[str, Any]]) -> str:
    """``info virtio`` from ``x-query-virtio``."""
    if not devices:
        return "No VirtIO devices\n"
    return "".join(f"{d.get('path')} [{d.get('name')}]\n" for d in devices)


def _features(features: Mapping[str, Any]) -> str:
    out = _names(features.get("transports") or [])
    dev = features.get("dev-features") or []
    if dev:
        out += _names(dev)
    if "unknown-dev-features" in features:
        out += f"  unknown-features({_hex16(features['unknown-dev-features'])})\n"
    return out


def _statuses(status: Mapping[str, Any]) -> str:
    out = _names(status.get("statuses") or [])
    if "unknown-statuses" in status:
        out += f"  unknown-statuses({_hex16(status['unknown-statuses'])})\n"
    return out


def _protocols(protocols: Mapping[str, Any]) -> str:
    out = _names(protocols.get("protocols") or [])
    if "unknown-protocols" in protocols:
        out += f"  unknown-protocols({_hex16(protocols['unknown-protocols'])})\n"
    return out


def render_virtio_status(path: str, s: Mapping[str, Any]) -> str:
    """``info virtio-status PATH`` from ``x-query-virtio-status``."""
    vhost = s.get("vhost-dev")
    out: List[str] = [
        f"{path}:\n",
        f"  device_name:             {c_str(s.get('name'))} {'(vhost)' if vhost else ''}\n",
        f"  device_id:               {s.get('device-id')}\n",
        f"  vhost_started:           {_bool(s.get('vhost-started'))}\n",
        f"  bus_name:                {_null_str(s.get('bus-name'))}\n",
        f"  broken:                  {_bool(s.get('broken'))}\n",
        f"  disabled:                {_bool(s.get('disabled'))}\n",
        f"  disable_legacy_check:    {_bool(s.get('disable-legacy-check'))}\n",
        f"  started:                 {_bool(s.get('started'))}\n",
        f"  use_started:             {_bool(s.get('use-started'))}\n",
        f"  start_on_kick:           {_bool(s.get('start-on-kick'))}\n",
        f"  use_guest_notifier_mask: {_bool(s.get('use-guest-notifier-mask'))}\n",
        f"  vm_running:              {_bool(s.get('vm-running'))}\n",
        f"  num_vqs:                 {s.get('num-vqs')}\n",
        f"  queue_sel:               {s.get('queue-sel')}\n",
        f"  isr:                     {s.get('isr')}\n",
        f"  endianness:              {c_str(s.get('device-endian'))}\n",
        "  status:\n", _statuses(s.get("status") or {}),
        "  Guest features:\n", _features(s.get("guest-features") or {}),
        "  Host features:\n", _features(s.get("host-features") or {}),
        "  Backend features:\n", _features(s.get("backend-features") or {}),
    ]
    if vhost:
        out += [
            "  VHost:\n",
            f"    nvqs:           {vhost.get('nvqs')}\n",
            f"    vq_index:       {vhost.get('vq-index')}\n",
            f"    max_queues:     {vhost.get('max-queues')}\n",
            f"    n_mem_sections: {vhost.get('n-mem-sections')}\n",
            f"    n_tmp_sections: {vhost.get('n-tmp-sections')}\n",
            f"    backend_cap:    {vhost.get('backend-cap')}\n",
            f"    log_enabled:    {_bool(vhost.get('log-enabled'))}\n",
            f"    log_size:       {vhost.get('log-size')}\n",
            "    Features:\n", _features(vhost.get("features") or {}),
            "    Acked features:\n", _features(vhost.get("acked-features") or {}),
            "    Protocol features:\n", _protocols(vhost.get("protocol-features") or {}),
        ]
    return "".join(out)


def render_virtio_queue_status(path: str, s: Mapping[str, Any]) -> str:
    """``info virtio-queue-status PATH QUEUE`` from ``x-query-virtio-queue-status``."""
    out = [
        f"{path}:\n",
        f"  device_name:          {c_str(s.get('name'))}\n",
        f"  queue_index:          {s.get('queue-index')}\n",
        f"  inuse:                {s.get('inuse')}\n",
        f"  used_idx:             {s.get('used-idx')}\n",
        f"  signalled_used:       {s.get('signalled-used')}\n",
        f"  signalled_used_valid: {_bool(s.get('signalled-used-valid'))}\n",
    ]
    if "last-avail-idx" in s:
        out.append(f"  last_avail_idx:       {s['last-avail-idx']}\n")
    if "shadow-avail-idx" in s:
        out.append(f"  shadow_avail_idx:     {s['shadow-avail-idx']}\n")
    out += [
        "  VRing:\n",
        f"    num:          {s.get('vring-num')}\n",
        f"    num_default:  {s.get('vring-num-default')}\n",
        f"    align:        {s.get('vring-align')}\n",
        f"    desc:         {_hex16(s.get('vring-desc', 0))}\n",
        f"    avail:        {_hex16(s.get('vring-avail', 0))}\n",
        f"    used:         {_hex16(s.get('vring-used', 0))}\n",
    ]
    return "".join(out)


def render_vhost_queue_status(path: str, s: Mapping[str, Any]) -> str:
    """``info virtio-vhost-queue-status PATH QUEUE`` from its x-query command."""
    return "".join([
        f"{path}:\n",
        f"  device_name:          {c_str(s.get('name'))} (vhost)\n",
        f"  kick:                 {s.get('kick')}\n",
        f"  call:                 {s.get('call')}\n",
        "  VRing:\n",
        f"    num:         {s.get('num')}\n",
        f"    desc_phys:   {_hex16(s.get('desc-phys', 0))}\n",
        f"    desc_size:   {s.get('desc-size')}\n",
        f"    avail_phys:  {_hex16(s.get('avail-phys', 0))}\n",
        f"    avail_size:  {s.get('avail-size')}\n",
        f"    used_phys:   {_hex16(s.get('used-phys', 0))}\n",
        f"    used_size:   {s.get('used-size')}\n",
    ])


def _desc(desc: Mapping[str, Any]) -> str:
    text = "        addr 0x%x len %d" % (int(desc.get("addr", 0)) & 0xFFFFFFFFFFFFFFFF,
                                         int(desc.get("len", 0)))
    flags = desc.get("flags") or []
    if flags:
        text += " (" + ", ".join(flags) + ")"
    return text


def render_virtio_queue_element(path: str, e: Mapping[str, Any]) -> str:
    """``info virtio-queue-element PATH QUEUE [INDEX]`` from its x-query command."""
    avail = e.get("avail") or {}
    used = e.get("used") or {}
    return "".join([
        f"{path}:\n",
        f"  device_name: {c_str(e.get('name'))}\n",
        f"  index:   {e.get('index')}\n",
        "  desc:\n",
        "    descs:\n",
        ",\n".join(_desc(d) for d in e.get("descs") or []) + "\n",
        "  avail:\n",
        f"    flags: {avail.get('flags')}\n",
        f"    idx:   {avail.get('idx')}\n",
        f"    ring:  {avail.get('ring')}\n",
        "  used:\n",
        f"    flags: {used.get('flags')}\n",
        f"    idx:   {used.get('idx')}\n",
    ])
