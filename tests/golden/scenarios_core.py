"""Golden scenarios of the "core" area: run control, removable media, devices,
QOM, chardevs, migration settings and companions, dumps, dirty-rate tools,
VM snapshots, file descriptors, ``quit``, ``exit_preconfig`` and the info
commands QEMU answers through ``x-query-*``.

Lines that may change a VM (refusals included) run through hmpbridge on VM A
while QEMU's own text comes from twin B, started identically and driven to
the same state; only lines that read (``reads_only`` commands, help) run on
A alone.  Files are named relative to
QEMU's working directory (each VM's own directory), so the twins never share
one and the fixtures hold no temporary paths.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Callable, Dict, List, Optional

from tests.golden.recorder import QMPClient
from tests.golden.scenarios import Make, Recorder, _bare_base
from tests.golden.vm import VM, default_devices, qemu_img

__all__ = ["SCENARIOS"]


def _devices(d: str) -> List[str]:
    """The default devices, plus a raw image to insert in the CD-ROM drive."""
    qemu_img("create", "-q", "-f", "raw", os.path.join(d, "media.raw"), "1M")
    return default_devices(d)


def _no_balloon(d: str) -> List[str]:
    devices = default_devices(d)
    i = devices.index("virtio-balloon-pci,id=balloon0")
    del devices[i - 1:i + 1]
    return devices


#: Lines that fail, or change nothing visible, on a paused VM (on twins all the same:
#: QEMU may accept one).
ERRORS = [
    ("block-resize-nosuch", "block_resize nosuch 1M"),
    ("block-resize-no-medium", "block_resize cd0 1M"),
    ("eject-nosuch", "eject nosuch"),
    ("eject-not-removable", "eject disk0"),
    ("eject-empty", "eject cd0"),
    ("eject-f-empty", "eject -f cd0"),
    ("change-nosuch", "change nosuch ./media.raw"),
    ("change-not-removable", "change disk0 ./media.raw"),
    ("change-no-file", "change cd0 ./nosuch.raw"),
    ("change-bad-format", "change cd0 ./media.raw nosuchfmt"),
    ("change-bad-mode", "change cd0 ./media.raw raw bogus"),
    ("change-vnc-password", "change vnc password secret"),
    ("change-vnc-no-password", "change vnc password"),
    ("change-vnc-passwd", "change vnc passwd secret"),
    ("change-vnc-not-password", "change vnc display"),
    ("change-vnc-mode", "change vnc password secret read-only"),
    ("device-add-nosuch", "device_add nosuch"),
    ("device-add-no-driver", "device_add id=x"),
    ("device-add-no-driver-help", "device_add id=x,help"),
    ("device-add-bad-property", "device_add virtio-rng-pci,bogus=1"),
    ("device-add-duplicate-id", "device_add virtio-rng-pci,id=nic0"),
    ("device-add-no-drive", "device_add virtio-blk-pci,drive=nosuch"),
    ("device-add-bad-value", "device_add virtio-rng-pci,max-bytes=x"),
    ("device-add-abstract", "device_add pci-device"),
    ("device-del-nosuch", "device_del nosuch"),
    ("device-del-not-hotpluggable", "device_del serial0"),
    ("balloon-zero", "balloon 0"),
    ("getfd-no-descriptor", "getfd fd0"),
    ("closefd-nosuch", "closefd fd0"),
    ("chardev-add-no-id", "chardev-add null"),
    ("chardev-add-bad-backend", "chardev-add bogus,id=x"),
    ("chardev-add-file-no-path", "chardev-add file,id=f1"),
    ("chardev-add-bad-option", "chardev-add null,id=c9,bogus=1"),
    ("chardev-add-ringbuf-size", "chardev-add ringbuf,id=r1,size=1000"),
    ("chardev-add-socket-no-address", "chardev-add socket,id=s1"),
    ("chardev-remove-nosuch", "chardev-remove nosuch"),
    ("chardev-remove-busy", "chardev-remove ser0"),
    ("qom-list-root-default", "qom-list"),
    ("qom-list-root", "qom-list /"),
    ("qom-list-peripheral", "qom-list /machine/peripheral"),
    ("qom-list-nosuch", "qom-list /nosuch"),
    ("qom-list-partial", "qom-list balloon0"),
    ("qom-get-string", "qom-get /machine/peripheral/nic0 mac"),
    ("qom-get-empty-string", "qom-get /machine/peripheral/vblk0 serial"),
    ("qom-get-int", "qom-get /machine/peripheral/balloon0 guest-stats-polling-interval"),
    ("qom-get-negative", "qom-get /machine/unattached/device[0] node-id"),
    ("qom-get-uint", "qom-get /machine/unattached/device[0] min-xlevel"),
    ("qom-get-bool", "qom-get /machine/peripheral/nic0 realized"),
    ("qom-get-object", "qom-get /machine/peripheral/balloon0 guest-stats"),
    ("qom-get-array", "qom-get /machine/unattached/device[0] feature-words"),
    ("qom-get-string-array", "qom-get /machine/unattached/device[0] unavailable-features"),
    ("qom-get-link", "qom-get /machine/peripheral/vblk0 parent_bus"),
    ("qom-get-nosuch-property", "qom-get /machine/peripheral/nic0 nosuch"),
    ("qom-get-nosuch-path", "qom-get /nosuch mac"),
    ("qom-get-partial-path", "qom-get nic0 mac"),
    ("qom-set-bad-int", "qom-set /machine/peripheral/balloon0 guest-stats-polling-interval x"),
    ("qom-set-nosuch-path", "qom-set /nosuch a 1"),
    ("qom-set-nosuch-property", "qom-set /machine/peripheral/nic0 nosuch 1"),
    ("qom-set-realized", "qom-set /machine/peripheral/nic0 mac 52:54:00:00:00:01"),
    ("qom-set-read-only", "qom-set /machine/peripheral/nic0 type x"),
    ("qom-set-json-bad", "qom-set -j /machine/peripheral/balloon0 guest-stats-polling-interval {"),
    ("qom-set-json-type",
     'qom-set -j /machine/peripheral/balloon0 guest-stats-polling-interval "x"'),
    ("qom-set-negative-interval",
     "qom-set /machine/peripheral/balloon0 guest-stats-polling-interval -1"),
    ("set-param-nosuch", "migrate_set_parameter nosuch 1"),
    ("set-param-uint8-range", "migrate_set_parameter compress-level 300"),
    ("set-param-uint8-text", "migrate_set_parameter compress-level x"),
    ("set-param-uint8-qmp-range", "migrate_set_parameter compress-level 10"),
    ("set-param-bool-bad", "migrate_set_parameter block-incremental maybe"),
    ("set-param-size-bad", "migrate_set_parameter downtime-limit xyz"),
    ("set-param-size-qmp-range", "migrate_set_parameter downtime-limit 3000000"),
    ("set-param-size-mib-bad", "migrate_set_parameter max-bandwidth x"),
    ("set-param-uint32-range", "migrate_set_parameter x-checkpoint-delay 5000000000"),
    ("set-param-int64-range", "migrate_set_parameter xbzrle-cache-size 16E"),
    ("set-param-xbzrle-small", "migrate_set_parameter xbzrle-cache-size 1000"),
    ("set-param-enum-bad", "migrate_set_parameter multifd-compression bogus"),
    ("set-param-qmp-only", "migrate_set_parameter block-bitmap-mapping x"),
    ("set-capability-nosuch", "migrate_set_capability nosuch on"),
    ("set-capability-needs-postcopy", "migrate_set_capability postcopy-preempt on"),
    ("set-capability-zero-copy", "migrate_set_capability zero-copy-send on"),
    ("migrate-cancel-idle", "migrate_cancel"),
    ("migrate-continue-bad-state", "migrate_continue bogus"),
    ("migrate-continue-wrong-state", "migrate_continue pre-switchover"),
    ("migrate-incoming-not-deferred", "migrate_incoming tcp:127.0.0.1:0"),
    ("migrate-recover-not-paused", "migrate_recover tcp:127.0.0.1:0"),
    ("migrate-pause-idle", "migrate_pause"),
    ("migrate-start-postcopy-off", "migrate_start_postcopy"),
    ("colo-lost-heartbeat", "x_colo_lost_heartbeat"),
    ("exit-preconfig-too-late", "exit_preconfig"),
    ("client-migrate-info-no-spice", "client_migrate_info spice localhost"),
    ("client-migrate-info-all", "client_migrate_info spice localhost 5900 5901 CN=x"),
    ("client-migrate-info-vnc", "client_migrate_info vnc localhost"),
    ("dump-two-formats", "dump-guest-memory -z -l ./d"),
    ("dump-no-dir", "dump-guest-memory nodir/d"),
    ("dump-windmp", "dump-guest-memory -w ./d"),
    ("dump-paging-format", "dump-guest-memory -p -z ./d"),
    ("calc-dirty-rate-zero", "calc_dirty_rate 0"),
    ("calc-dirty-rate-two-modes", "calc_dirty_rate -r -b 1"),
    ("calc-dirty-rate-pages", "calc_dirty_rate 1 5"),
    ("calc-dirty-rate-long", "calc_dirty_rate 100"),
    ("set-dirty-limit", "set_vcpu_dirty_limit 100"),
    ("set-dirty-limit-cpu", "set_vcpu_dirty_limit 100 1"),
    ("cancel-dirty-limit", "cancel_vcpu_dirty_limit"),
    ("cancel-dirty-limit-cpu", "cancel_vcpu_dirty_limit 5"),
]

#: The help forms of the ``*_add`` commands.
HELPS = [
    ("netdev-add-help", "netdev_add help"),
    ("netdev-add-qmark", "netdev_add ?"),
    ("chardev-add-help", "chardev-add help"),
    ("device-add-driver-help", "device_add e1000,help"),
    ("device-add-driver-qmark", "device_add usb-tablet,?"),
    ("device-add-driver-help-value", "device_add isa-serial,id=s9,help=1"),
    ("device-add-alias-help", "device_add virtio-net,help"),
    ("device-add-alias-help-ahci", "device_add ahci,help"),
    ("device-add-nosuch-help", "device_add nosuch,help"),
    ("device-add-abstract-help", "device_add pci-device,help"),
    ("device-add-not-device-help", "device_add memory-backend-ram,help"),
    ("device-add-alias-not-built-help", "device_add virtio-crypto,help"),
]

#: Lines that change the VM: hmpbridge on A, QEMU on twin B, in this order.
#: A line named with a ``!`` prefix fails (or changes nothing) and runs on A alone.
ACTIONS = [
    ("cont", "cont"),
    ("stop", "stop"),
    ("stop-again", "stop"),
    ("system-reset", "system_reset"),
    ("system-powerdown", "system_powerdown"),
    ("change", "change cd0 ./media.raw"),
    ("change-format-read-only", "change cd0 ./media.raw raw read-only"),
    ("change-f-retain", "change cd0 -f ./media.raw raw retain"),
    ("change-read-write", "change cd0 ./media.raw raw read-write"),
    ("eject", "eject cd0"),
    ("change-again", "change cd0 ./media.raw raw"),
    ("eject-f", "eject -f cd0"),
    ("block-resize", "block_resize disk0 96M"),
    ("block-resize-shrink", "block_resize disk0 1"),
    ("balloon", "balloon 100"),
    ("device-add", "device_add virtio-rng-pci,id=rng0"),
    ("!device-add-duplicate", "device_add virtio-rng-pci,id=rng0"),
    ("device-add-no-id", "device_add virtio-rng-pci"),
    ("device-del", "device_del rng0"),
    ("!device-del-again", "device_del rng0"),
    ("chardev-add", "chardev-add null,id=c1"),
    ("!chardev-add-again", "chardev-add null,id=c1"),
    ("chardev-add-ringbuf", "chardev-add ringbuf,id=c2,size=1024"),
    ("chardev-add-mux", "chardev-add null,id=c3,mux=on"),
    ("chardev-add-file", "chardev-add file,id=c4,path=./c4.log"),
    ("chardev-remove", "chardev-remove c1"),
    ("chardev-remove-mux", "chardev-remove c3"),
    ("qom-set-int", "qom-set /machine/peripheral/balloon0 guest-stats-polling-interval 2"),
    ("qom-set-json", "qom-set -j /machine/peripheral/balloon0 guest-stats-polling-interval 3"),
    ("qom-get-after-set", "qom-get /machine/peripheral/balloon0 guest-stats-polling-interval"),
    ("set-param-size", "migrate_set_parameter downtime-limit 400"),
    ("set-param-size-hex-suffix", "migrate_set_parameter downtime-limit 0x10k"),
    ("set-param-announce", "migrate_set_parameter announce-rounds 7"),
    ("set-param-announce-zero", "migrate_set_parameter announce-initial 0"),
    ("set-param-postcopy-bandwidth", "migrate_set_parameter max-postcopy-bandwidth 1k"),
    ("set-param-uint8", "migrate_set_parameter compress-level 5"),
    ("set-param-bool", "migrate_set_parameter block-incremental on"),
    ("set-param-str", "migrate_set_parameter tls-hostname peer.example"),
    ("set-param-str-empty", 'migrate_set_parameter tls-creds ""'),
    ("set-param-size-mib", "migrate_set_parameter max-bandwidth 100"),
    ("set-param-size-mib-suffix", "migrate_set_parameter max-bandwidth 1G"),
    ("set-param-uint32", "migrate_set_parameter x-checkpoint-delay 200"),
    ("set-param-int64", "migrate_set_parameter xbzrle-cache-size 1M"),
    ("set-param-enum", "migrate_set_parameter multifd-compression zlib"),
    ("set-capability", "migrate_set_capability xbzrle on"),
    ("set-capability-off", "migrate_set_capability xbzrle off"),
    ("set-capability-postcopy", "migrate_set_capability postcopy-ram on"),
    ("!start-postcopy-not-started", "migrate_start_postcopy"),
    ("announce-self", "announce_self"),
    ("announce-self-interfaces", "announce_self nic0"),
    ("announce-self-id", "announce_self nic0,nosuch myid"),
    ("announce-self-trailing-comma", "announce_self nic0, id2"),
    ("dump", "dump-guest-memory ./dump1"),
    ("dump-paging", "dump-guest-memory -p ./dump2"),
    ("dump-zlib", "dump-guest-memory -z ./dump3"),
    ("dump-range", "dump-guest-memory ./dump4 0 4096"),
    ("dump-length-beyond", "dump-guest-memory ./dump6 0 0x100000000000"),
    ("dump-snappy-range", "dump-guest-memory -s ./dump5 0x100000 0x1000"),
    ("calc-dirty-rate", "calc_dirty_rate 1"),
    ("!calc-dirty-rate-busy", "calc_dirty_rate 1"),
]


def _actions(cap: Recorder, actions: List[tuple]) -> None:
    for name, line in actions:
        cap.case(name.lstrip("!"), line)


def errors(make: Make) -> List[str]:
    """Every command's refusals (and lines with no visible effect) on a paused VM."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in ERRORS:
            cap.case(name, line)
        return cap.results


def helps(make: Make) -> List[str]:
    """The help texts of ``netdev_add``, ``chardev-add`` and ``device_add``."""
    with VM(_devices) as vm:
        cap = make(vm.qmp, vm.tz)
        for name, line in HELPS:
            cap.case(name, line)
        # QEMU's own device_add help loads every QOM module, and the chardev
        # classes of the modules take their places among the others
        vm.qmp.hmp("device_add help")
        cap.case("chardev-add-help-modules", "chardev-add help")
        # once the modules are loaded, qom-list-types lists what QEMU's own help lists
        cap.case("object-add-help-modules", "object_add help")
        return cap.results


def actions(make: Make) -> List[str]:
    """State-changing lines, each checked against a twin VM."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        _actions(cap, ACTIONS)
        return cap.results


def noballoon(make: Make) -> List[str]:
    """No balloon device: ``balloon`` says so."""
    with VM(_no_balloon) as vm, VM(_no_balloon) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("balloon", "balloon 100")
        return cap.results


def _wait_dump(qmp: QMPClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while qmp.command("query-dump")["status"] != "completed":
        if time.monotonic() > deadline:
            raise TimeoutError("dump did not complete")
        time.sleep(0.05)


def detached(make: Make) -> List[str]:
    """A detached dump; a second one while the first may still run is refused or runs."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("dump-detached", "dump-guest-memory -d ./dump")
        for qmp in (vm.qmp, twin.qmp):
            _wait_dump(qmp)
        cap.case("dump-detached-lzo", "dump-guest-memory -d -l ./dump-lzo")
        for qmp in (vm.qmp, twin.qmp):
            _wait_dump(qmp)
        return cap.results


def quit_vm(make: Make) -> List[str]:
    """``quit``: QEMU answers and exits (twin B quits too, and both are discarded)."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("quit", "quit")
        return cap.results


class HMPSocket:
    """QEMU's own human monitor on a unix socket, for states ``human-monitor-command`` refuses.

    It answers :meth:`hmp` as :class:`QMPClient` does, so it can stand in as a twin.
    """

    PROMPT = b"(qemu) "

    def __init__(self, path: str, timeout: float = 30) -> None:
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._read_prompt()  # the banner

    def _read_prompt(self) -> bytes:
        data = b""
        while not data.endswith(self.PROMPT):
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionError("HMP monitor closed")
            data += chunk
        return data[:-len(self.PROMPT)]

    def hmp(self, line: str, cpu_index: Optional[int] = None) -> str:
        """QEMU's text for ``line`` (its echo of the line dropped), ``\r\n`` made ``\n``."""
        if cpu_index is not None:
            raise ValueError("this monitor keeps its own current CPU")
        self._sock.sendall(line.encode() + b"\n")
        echo, _, text = self._read_prompt().partition(b"\r\n")
        return text.decode().replace("\r\n", "\n")

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


def preconfig(make: Make) -> List[str]:
    """``exit_preconfig`` on a VM started with ``--preconfig``, then once too often.

    QMP's ``human-monitor-command`` is refused before machine initialisation,
    so twin B's text comes from its own HMP monitor on a unix socket.
    """
    base = _bare_base() + ["--preconfig"]

    def devices(d: str) -> List[str]:
        return _devices(d) + ["-monitor", f"unix:{os.path.join(d, 'hmp.sock')},server=on,wait=off"]

    with VM(_devices, base=base) as vm, VM(devices, base=base) as twin:
        monitor = HMPSocket(twin.path("hmp.sock"))
        try:
            cap = make(vm.qmp, vm.tz, monitor)
            cap.case("exit-preconfig", "exit_preconfig")
            cap.case("exit-preconfig-again", "exit_preconfig")
            return cap.results
        finally:
            monitor.close()


def incoming(make: Make) -> List[str]:
    """A destination started with ``-incoming defer``: listen, then refuse a second listen."""
    def devices(d: str) -> List[str]:
        return _devices(d) + ["-incoming", "defer"]

    with VM(devices) as vm, VM(devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("snapshots-inmigrate", "info snapshots")
        cap.case("migrate-incoming-bad-uri", "migrate_incoming bogus:x")
        cap.case("migrate-incoming", "migrate_incoming unix:./in.sock")
        cap.case("migrate-incoming-again", "migrate_incoming unix:./in2.sock")
        cap.case("migrate-recover-not-postcopy", "migrate_recover unix:./rec.sock")
        cap.case("cont-inmigrate", "cont")
        return cap.results


def _wait_status(qmp: QMPClient, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while qmp.command("query-migrate").get("status") != wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration never reached {wanted}")
        time.sleep(0.05)


def migrating(make: Make) -> List[str]:
    """A migration held before switchover: postcopy requested, cancelled; another continued."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        both = (vm.qmp, twin.qmp)
        for qmp in both:
            qmp.command("migrate-set-capabilities", {"capabilities": [
                {"capability": "pause-before-switchover", "state": True},
                {"capability": "postcopy-ram", "state": True}]})
            qmp.command("migrate", {"uri": "exec:cat > mig1"})
        for qmp in both:
            _wait_status(qmp, "pre-switchover")
        cap.case("continue-wrong-state", "migrate_continue active")
        cap.case("pause-not-postcopy", "migrate_pause")
        cap.case("set-capability-during", "migrate_set_capability xbzrle on")
        cap.case("start-postcopy", "migrate_start_postcopy")
        cap.case("cancel", "migrate_cancel")
        for qmp in both:
            _wait_status(qmp, "cancelled")
            qmp.command("migrate-set-capabilities", {"capabilities": [
                {"capability": "postcopy-ram", "state": False}]})
            qmp.command("cont")  # a VM paused by a migration cannot migrate again
            qmp.command("stop")
            qmp.command("migrate", {"uri": "exec:cat > mig2"})
        for qmp in both:
            _wait_status(qmp, "pre-switchover")
        cap.case("continue", "migrate_continue pre-switchover")
        for qmp in both:
            _wait_status(qmp, "completed")
        cap.case("cont-postmigrate", "cont")
        return cap.results


def snapshots(make: Make) -> List[str]:
    """savevm, loadvm and delvm on a VM whose qcow2 disk takes the VM state.

    ``savevm`` without a name is recorded only where it fails before naming
    anything (:func:`no_snapshot_disk`): the name it makes is the date of the
    second it runs, which no replay could reproduce.
    """
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("loadvm-nosuch", "loadvm s1")
        cap.case("delvm-nosuch", "delvm s1")
        cap.case("savevm", "savevm s1")
        cap.case("savevm-overwrite", "savevm s1")
        cap.case("savevm-empty-tag", 'savevm ""')
        cap.case("loadvm", "loadvm s1")
        cap.case("delvm", "delvm s1")
        cap.case("loadvm-deleted", "loadvm s1")
        cap.case("delvm-empty-tag", 'delvm ""')
        return cap.results


def no_snapshot_disk(make: Make) -> List[str]:
    """A writable raw disk cannot snapshot; with only a CD-ROM nothing can hold the VM state."""
    def raw(d: str) -> List[str]:
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "w.raw"), "1M")
        return ["-drive", "if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1",
                "-drive", f"if=none,id=raw0,file={os.path.join(d, 'w.raw')},format=raw",
                "-device", "virtio-blk-pci,drive=raw0,id=vraw0"]

    def cdrom_only(d: str) -> List[str]:
        return ["-drive", "if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,id=ide1-cd0,bus=ide.1"]

    results: List[str] = []
    with VM(raw) as vm, VM(raw) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("raw-savevm", "savevm s1")
        cap.case("raw-loadvm", "loadvm s1")
        cap.case("raw-delvm", "delvm s1")
        results += cap.results
    with VM(cdrom_only) as vm, VM(cdrom_only) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("none-savevm", "savevm s1")
        cap.case("none-savevm-unnamed", "savevm")
        cap.case("none-loadvm", "loadvm s1")
        cap.case("none-delvm", "delvm s1")
        results += cap.results
    return results


def displays(make: Make) -> List[str]:
    """SPICE and VNC displays on unix sockets: client_migrate_info and the VNC password.

    The first VM's VNC display asks for a password; the second's does not, so
    QEMU adds a hint when a password is set on it.
    """
    def with_password(d: str) -> List[str]:
        return _devices(d) + [
            "-spice", f"unix=on,addr={os.path.join(d, 'spice.sock')},disable-ticketing=on",
            "-vnc", f"unix:{os.path.join(d, 'vnc.sock')},password=on"]

    def without_password(d: str) -> List[str]:
        return _devices(d) + ["-vnc", f"unix:{os.path.join(d, 'vnc.sock')}"]

    results: List[str] = []
    with VM(with_password) as vm, VM(with_password) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        # only once: a second call has the SPICE library warn "no peer connected"
        # through the monitor, with a pointer value in it, which QMP never shows
        cap.case("client-migrate-info",
                 "client_migrate_info spice peer.example 5900 5901 CN=peer")
        cap.case("change-vnc-password", "change vnc password secret")
        cap.case("change-vnc-passwd", "change vnc passwd other")
        cap.case("change-vnc-too-long", "change vnc password longerthan8")
        results += cap.results
    with VM(without_password) as vm, VM(without_password) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("change-vnc-no-auth", "change vnc password secret")
        results += cap.results
    return results


def xquery(make: Make) -> List[str]:
    """The info commands QEMU answers with ``x-query-*``, on a VM with NUMA nodes and USB."""
    def devices(d: str) -> List[str]:
        return default_devices(d) + [
            "-smp", "2",
            "-object", "memory-backend-ram,id=nm0,size=64M",
            "-object", "memory-backend-ram,id=nm1,size=64M",
            "-numa", "node,cpus=0,memdev=nm0", "-numa", "node,cpus=1,memdev=nm1"]

    with VM(devices) as vm:
        cap = make(vm.qmp, vm.tz)
        for word in ["irq", "rdma", "jit", "opcount", "numa", "usb", "profile", "roms",
                     "ramblock"]:
            cap.case(f"info-{word}", f"info {word}")
        return cap.results


SCENARIOS: Dict[str, Callable[[Make], List[str]]] = {
    "core-errors": errors,
    "core-helps": helps,
    "core-actions": actions,
    "core-noballoon": noballoon,
    "core-detached": detached,
    "core-quit": quit_vm,
    "core-preconfig": preconfig,
    "core-incoming": incoming,
    "core-migrating": migrating,
    "core-snapshots": snapshots,
    "core-nosnapshot": no_snapshot_disk,
    "core-displays": displays,
    "core-xquery": xquery,
}
