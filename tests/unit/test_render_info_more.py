"""Layouts of the assorted info commands for replies the test machine cannot produce.

The golden fixtures cover what a TCG VM without SPICE clients, TPM, SEV, SGX
or a booted guest gives; these cases cover the other branches of QEMU 7.2's
printing code (enabled SPICE, TPM back-ends, SEV, SGX sections, rocker
flows and groups, stats schemas, vhost devices, ring elements).
"""

from __future__ import annotations

from hmpbridge.render import info_more as r
from hmpbridge.render import virtio


def test_vnc_reverse_connection_prints_the_display_auth_and_display() -> None:
    """Without a server entry the display's own auth line is printed, then Display:."""
    text = r.render_vnc([{"id": "default", "server": [], "clients": [
        {"host": "10.0.0.1", "service": "5500", "family": "ipv4", "websocket": False,
         "x509_dname": "CN=x", "sasl_username": "bob"}],
        "auth": "vencrypt", "vencrypt": "x509-plain", "display": "vga0"}])
    assert text == ("default:\n"
                    "  Client: 10.0.0.1:5500 (ipv4)\n"
                    "    x509_dname: CN=x\n"
                    "    sasl_username: bob\n"
                    "  Auth: vencrypt (Sub: x509-plain)\n"
                    "  Display: vga0\n")


def test_vnc_without_displays_prints_none() -> None:
    """An empty query-vnc-servers reply prints None."""
    assert r.render_vnc([]) == "None\n"


def test_spice_enabled_with_channels() -> None:
    """An enabled server prints its addresses and one block per channel, names from the type."""
    text = r.render_spice({
        "enabled": True, "host": "0.0.0.0", "port": 5930, "tls-port": 5931,
        "migrated": False, "auth": "spice", "compiled-version": "0.15.1",
        "mouse-mode": "server",
        "channels": [{"host": "127.0.0.1", "port": "40000", "tls": True,
                      "connection-id": 7, "channel-type": 2, "channel-id": 0},
                     {"host": "127.0.0.1", "port": "40001", "tls": False,
                      "connection-id": 7, "channel-type": 11, "channel-id": 1}]})
    assert text == ("Server:\n"
                    "     address: 0.0.0.0:5930\n"
                    "     address: 0.0.0.0:5931 [tls]\n"
                    "    migrated: false\n"
                    "        auth: spice\n"
                    "    compiled: 0.15.1\n"
                    "  mouse-mode: server\n"
                    "Channel:\n"
                    "     address: 127.0.0.1:40000 [tls]\n"
                    "     session: 7\n"
                    "     channel: 2:0\n"
                    "     channel name: display\n"
                    "Channel:\n"
                    "     address: 127.0.0.1:40001\n"
                    "     session: 7\n"
                    "     channel: 11:1\n"
                    "     channel name: unknown\n")


def test_spice_enabled_without_channels_says_none() -> None:
    """No channels prints Channels: none after the server block."""
    text = r.render_spice({"enabled": True, "migrated": True, "auth": "none",
                           "compiled-version": "0.15", "mouse-mode": "client"})
    assert text.endswith("  mouse-mode: client\nChannels: none\n")
    assert "address" not in text


def test_tpm_passthrough_and_emulator_lines() -> None:
    """Each TPM is numbered; the back-end line lists only the options it has."""
    text = r.render_tpm([
        {"id": "tpm0", "model": "tpm-tis",
         "options": {"type": "passthrough", "data": {"path": "/dev/tpm0"}}},
        {"id": "tpm1", "model": "tpm-crb",
         "options": {"type": "emulator", "data": {"chardev": "chrtpm"}}}])
    assert text == ("TPM device:\n"
                    " tpm0: model=tpm-tis\n"
                    "  \\ tpm0: type=passthrough,path=/dev/tpm0\n"
                    " tpm1: model=tpm-crb\n"
                    "  \\ tpm1: type=emulator,chardev=chrtpm\n")


def test_memory_devices_of_every_kind() -> None:
    """nvdimm, virtio-pmem and sgx-epc entries print their own field lists."""
    text = r.render_memory_devices([
        {"type": "nvdimm", "data": {"addr": 4294967296, "slot": 1, "node": 0,
                                    "size": 1024, "memdev": "/objects/nv", "hotplugged": False,
                                    "hotpluggable": True}},
        {"type": "virtio-pmem", "data": {"id": "pm0", "memaddr": 255, "size": 2,
                                         "memdev": "/objects/pm"}},
        {"type": "sgx-epc", "data": {"memaddr": 16, "size": 4096, "node": 1,
                                     "memdev": "/objects/epc"}}])
    assert text == ("Memory device [nvdimm]: \"\"\n"
                    "  addr: 0x100000000\n  slot: 1\n  node: 0\n  size: 1024\n"
                    "  memdev: /objects/nv\n  hotplugged: false\n  hotpluggable: true\n"
                    "Memory device [virtio-pmem]: \"pm0\"\n"
                    "  memaddr: 0xff\n  size: 2\n  memdev: /objects/pm\n"
                    "Memory device [sgx-epc]: \"\"\n"
                    "  memaddr: 0x10\n  size: 4096\n  node: 1\n  memdev: /objects/epc\n")


def test_sev_enabled_decodes_the_policy_bits() -> None:
    """Policy bit 0 (no debug) prints debug: off; bit 1 (no key sharing) key-sharing: off."""
    text = r.render_sev({"enabled": True, "handle": 3, "state": "running", "build-id": 12,
                         "api-major": 0, "api-minor": 24, "policy": 1})
    assert text == ("handle: 3\nstate: running\nbuild: 12\napi version: 0.24\n"
                    "debug: off\nkey-sharing: on\n")
    assert r.render_sev({"enabled": False}) == "SEV is not enabled\n"


def test_sgx_prints_the_section_size_and_each_numa_section() -> None:
    """QEMU 7.2 still prints the deprecated section-size, then one line per section."""
    text = r.render_sgx({"sgx": True, "sgx1": True, "sgx2": False, "flc": True,
                         "section-size": 96468992,
                         "sections": [{"node": 0, "size": 67108864},
                                      {"node": 1, "size": 29360128}]})
    assert text == ("SGX support: enabled\nSGX1 support: enabled\nSGX2 support: disabled\n"
                    "FLC support: enabled\nsize: 96468992\n"
                    "NUMA node #0: size=67108864\nNUMA node #1: size=29360128\n")


def test_replay_modes() -> None:
    """Replay mode names the file and the instruction count like record mode."""
    assert r.render_replay({"mode": "play", "filename": "/r.bin", "icount": 42}) == \
        "Replaying execution '/r.bin': instruction count = 42\n"
    assert r.render_replay({"mode": "none", "icount": 0}) == "Record/replay is not active\n"


def test_rocker_flow_lines() -> None:
    """Flows print key fields with masks, shortcuts for MAC wildcards and the actions."""
    flows = [
        {"cookie": 1, "hits": 12, "key": {"priority": 1, "tbl-id": 10, "in-pport": 1,
                                           "vlan-id": 0x1064, "eth-type": 0x0800,
                                           "eth-dst": "01:00:00:00:00:00", "ip-proto": 6,
                                           "ip-dst": "10.0.0.1/32"},
         "mask": {"in-pport": 0xffff, "eth-dst": "01:00:00:00:00:00"},
         "action": {"goto-tbl": 20, "new-vlan-id": 0x0100}},
        {"cookie": 2, "hits": 0, "key": {"priority": 3, "tbl-id": 60, "eth-type": 0x1234,
                                          "eth-src": "52:54:00:00:00:01"},
         "mask": {"eth-src": "ff:ff:ff:ff:ff:ff"}, "action": {"group-id": 0x20001}},
        {"cookie": 3, "hits": 0, "key": {"priority": 0, "tbl-id": 0}, "mask": {},
         "action": {}},
    ]
    assert r.render_rocker_flows(flows) == (
        "prio tbl hits key(mask) --> actions\n"
        "1    10  12   pport 1(0xffff) vlan 100 IP dst <any mcast/bcast> proto 6 "
        "dst 10.0.0.1/32 --> apply new vlan 1 goto tbl 20\n"
        "3    60       eth type 0x1234 src 52:54:00:00:00:01(ff:ff:ff:ff:ff:ff) --> "
        "write group 0x00020001\n"
        "0    0       \n")


def test_rocker_group_lines() -> None:
    """Groups decode their type and list the set/pop/out actions and member groups."""
    groups = [
        {"id": 0x10001, "type": 1, "vlan-id": 5, "index": 2, "set-vlan-id": 0x1007,
         "set-eth-dst": "52:54:00:00:00:02", "ttl-check": True, "group-id": 0x1,
         "pop-vlan": True, "out-pport": 3, "group-ids": [1, 2]},
        {"id": 2, "type": 12, "set-eth-src": "52:54:00:00:00:03",
         "set-eth-dst": "52:54:00:00:00:04"},
    ]
    assert r.render_rocker_groups(groups) == (
        "id (decode) --> buckets\n"
        "0x00010001 (type L2 rewrite vlan 5 index 2) --> set vlan 7 dst 52:54:00:00:00:02 "
        "check TTL group id 0x00000001 pop vlan out pport 3 groups [0x00000001,0x00000002]\n"
        "0x00000002 (type unknown) --> set src 52:54:00:00:00:03 dst 52:54:00:00:00:04\n")


def test_stats_with_units_exponents_and_histograms() -> None:
    """Each statistic is described from its schema entry: SI/IEC prefixes, units, buckets."""
    schemas = [{"provider": "kvm", "target": "vm", "stats": [
        {"name": "a", "type": "cumulative", "unit": "seconds", "base": 10, "exponent": -9},
        {"name": "b", "type": "instant", "unit": "bytes", "base": 2, "exponent": 20},
        {"name": "c", "type": "peak", "base": 10, "exponent": 2},
        {"name": "d", "type": "instant", "unit": "boolean", "base": 10, "exponent": 0},
        {"name": "e", "type": "linear-histogram", "base": 10, "exponent": 0,
         "bucket-size": 32},
        {"name": "f", "type": "cumulative", "unit": "cycles", "base": 2, "exponent": 3},
    ]}]
    results = [{"provider": "kvm", "stats": [
        {"name": "a", "value": 5}, {"name": "b", "value": 7}, {"name": "c", "value": 1},
        {"name": "d", "value": True}, {"name": "e", "value": [3, 0, 4]},
        {"name": "f", "value": 9}]}]
    assert r.render_stats(results, "vm", True, schemas) == (
        "provider: kvm\n"
        "    a (cumulative, ns): 5\n"
        "    b (instant, MiB): 7\n"
        "    c (peak, * 10^2): 1\n"
        "    d (instant, boolean): yes\n"
        "    e (linear-histogram, bucket size=32): [1]=3 [2]=0 [3]=4 \n"
        "    f (cumulative, * 2^3 cycles): 9\n")


def test_stats_without_schema_or_entry() -> None:
    """A provider without schema, or a statistic missing from it, prints QEMU's complaint."""
    assert r.render_stats([{"provider": "kvm", "stats": []}], "vcpu", False, []) == \
        "failed to find schema list for kvm\n"
    schemas = [{"provider": "kvm", "target": "vcpu", "stats": [
        {"name": "x", "type": "instant", "base": 10, "exponent": 0}]}]
    results = [{"provider": "kvm", "stats": [{"name": "y", "value": 1}]}]
    assert r.render_stats(results, "vcpu", False, schemas) == \
        "failed to find schema entry for y\n"


def test_qom_children_sorted_bytewise() -> None:
    """Only child<T> properties are children, sorted as strcmp sorts (uppercase first)."""
    props = [{"name": "b", "type": "child<x>"}, {"name": "B", "type": "child<y>"},
             {"name": "a[10]", "type": "child<z>"}, {"name": "a[1]", "type": "child<z>"},
             {"name": "link", "type": "link<x>"}, {"name": "type", "type": "string"}]
    assert r.child_entries(props) == [("B", "y"), ("a[10]", "z"), ("a[1]", "z"), ("b", "x")]


def _features(transports: list, dev: list, unknown: int = -1) -> dict:
    out = {"transports": transports, "dev-features": dev}
    if unknown >= 0:
        out["unknown-dev-features"] = unknown
    return out


def test_virtio_status_of_a_vhost_device() -> None:
    """A vhost device marks its name and adds the VHost block with its feature lists."""
    status = {
        "name": "virtio-net", "device-id": 1, "vhost-started": True, "bus-name": "pci.0",
        "broken": False, "disabled": False, "disable-legacy-check": False, "started": True,
        "use-started": True, "start-on-kick": False, "use-guest-notifier-mask": True,
        "vm-running": True, "num-vqs": 3, "queue-sel": 2, "isr": 1, "device-endian": "little",
        "status": {"statuses": ["S_ACKNOWLEDGE: a", "S_DRIVER: b"], "unknown-statuses": 64},
        "guest-features": _features(["T1"], []), "host-features": _features(["T1"], ["D1"], 2),
        "backend-features": _features([], []),
        "vhost-dev": {"nvqs": 2, "vq-index": 0, "max-queues": 1, "n-mem-sections": 4,
                      "n-tmp-sections": 4, "backend-cap": 2, "log-enabled": False,
                      "log-size": 0, "features": _features(["T1"], []),
                      "acked-features": _features([], []),
                      "protocol-features": {"protocols": ["P1", "P2"],
                                            "unknown-protocols": 1}}}
    text = virtio.render_virtio_status("/p", status)
    assert text.startswith("/p:\n  device_name:             virtio-net (vhost)\n")
    assert "  bus_name:                pci.0\n" in text
    assert ("  status:\n\tS_ACKNOWLEDGE: a,\n\tS_DRIVER: b\n"
            "  unknown-statuses(0x0000000000000040)\n") in text
    assert ("  Host features:\n\tT1\n\tD1\n  unknown-features(0x0000000000000002)\n"
            "  Backend features:\n\n") in text
    assert text.endswith(
        "  VHost:\n    nvqs:           2\n    vq_index:       0\n    max_queues:     1\n"
        "    n_mem_sections: 4\n    n_tmp_sections: 4\n    backend_cap:    2\n"
        "    log_enabled:    false\n    log_size:       0\n"
        "    Features:\n\tT1\n    Acked features:\n\n"
        "    Protocol features:\n\tP1,\n\tP2\n  unknown-protocols(0x0000000000000001)\n")


def test_vhost_queue_status_layout() -> None:
    """The vhost queue status prints the kick/call fds and the ring addresses in hex."""
    text = virtio.render_vhost_queue_status("/p", {
        "name": "virtio-net", "kick": 0, "call": 0, "num": 256, "desc-phys": 4096,
        "desc-size": 4096, "avail-phys": 8192, "avail-size": 518, "used-phys": 12288,
        "used-size": 2054})
    assert text == ("/p:\n  device_name:          virtio-net (vhost)\n"
                    "  kick:                 0\n  call:                 0\n  VRing:\n"
                    "    num:         256\n    desc_phys:   0x0000000000001000\n"
                    "    desc_size:   4096\n    avail_phys:  0x0000000000002000\n"
                    "    avail_size:  518\n    used_phys:   0x0000000000003000\n"
                    "    used_size:   2054\n")


def test_queue_element_with_descriptors() -> None:
    """Descriptors are listed with their flags, separated by ',' at line ends."""
    text = virtio.render_virtio_queue_element("/p", {
        "name": "virtio-blk", "index": 3,
        "descs": [{"addr": 0x1000, "len": 16, "flags": ["next"]},
                  {"addr": 0x2000, "len": 512, "flags": ["write", "next"]},
                  {"addr": 0x3000, "len": 1, "flags": []}],
        "avail": {"flags": 0, "idx": 4, "ring": 3}, "used": {"flags": 1, "idx": 3}})
    assert text == ("/p:\n  device_name: virtio-blk\n  index:   3\n  desc:\n    descs:\n"
                    "        addr 0x1000 len 16 (next),\n"
                    "        addr 0x2000 len 512 (write, next),\n"
                    "        addr 0x3000 len 1\n"
                    "  avail:\n    flags: 0\n    idx:   4\n    ring:  3\n"
                    "  used:\n    flags: 1\n    idx:   3\n")


def test_no_virtio_devices() -> None:
    """An empty x-query-virtio reply prints QEMU's sentence."""
    assert virtio.render_virtio_list([]) == "No VirtIO devices\n"
