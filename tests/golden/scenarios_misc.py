"""Golden scenarios of the "misc" area: input, memory files, ring buffers,
screendump, tracing, watchdog, passwords, chardev changes, netdevs, objects,
record/replay and dumpdtb.

Lines that may change a VM (refusals included) run through hmpbridge on VM A
while QEMU's own text comes from twin B, started identically and driven to
the same state.
"""

from __future__ import annotations

from typing import Any, Callable, List

from tests.golden.vm import VM, default_devices

__all__ = ["SCENARIOS"]


def _devices(d: str) -> List[str]:
    return default_devices(d) + ["-chardev", "ringbuf,id=rb0,size=64", "-vga", "std"]


#: Lines that fail or change nothing visible (on twins all the same: QEMU may accept one).
ERRORS = [
    ("sendkey-bad-name", "sendkey ctrl-foo-alt"),
    ("sendkey-empty-name", "sendkey ctrl-"),
    ("sendkey-bad-hex", "sendkey 0x1g"),
    ("sendkey-upper-hex", "sendkey 0X1e"),
    ("sendkey-bare-0x", "sendkey 0x-1"),
    ("memsave-no-dir", "memsave 0 16 nodir/m"),
    ("memsave-bad-addr", "memsave 0xffffffffffff 16 ./m"),
    ("pmemsave-no-dir", "pmemsave 0 16 nodir/m"),
    ("ringbuf-write-nosuch", "ringbuf_write nosuch hello"),
    ("ringbuf-write-not-ringbuf", "ringbuf_write ser0 hello"),
    ("ringbuf-read-nosuch", "ringbuf_read nosuch 10"),
    ("ringbuf-read-empty", "ringbuf_read rb0 10"),
    ("screendump-no-dir", "screendump nodir/s.ppm"),
    ("screendump-bad-format", "screendump ./s.ppm -f jpg"),
    ("screendump-no-device", "screendump ./s.ppm nosuch 1"),
    ("system-wakeup-not-suspended", "system_wakeup"),
    ("trace-event-unknown", "trace-event nosuch on"),
    ("trace-event-unknown-vcpu", "trace-event nosuch on 0"),
    ("trace-event-negative-vcpu", "trace-event nosuch on 0x80000000"),
    ("watchdog-bad", "watchdog_action Bogus"),
    ("set-password-vnc-off", "set_password vnc pw"),
    ("set-password-spice-off", "set_password spice pw -d d0"),
    ("set-password-bad-protocol", "set_password rdp pw"),
    ("set-password-bad-connected", "set_password rdp pw bogus"),
    ("set-password-vnc-connected", "set_password vnc pw fail"),
    ("expire-password-vnc-off", "expire_password vnc +10 -d d0"),
    ("expire-password-spice-off", "expire_password spice now"),
    ("expire-password-bad-protocol", "expire_password rdp now"),
    ("chardev-send-break-nosuch", "chardev-send-break nosuch"),
    ("chardev-change-nosuch", "chardev-change nosuch null"),
    ("chardev-change-id", "chardev-change ser0 null,id=x"),
    ("chardev-change-bad-backend", "chardev-change ser0 bogus"),
    ("chardev-change-no-file", "chardev-change ser0 file"),
    ("chardev-change-no-backend", "chardev-change ser0 path=x"),
    ("chardev-change-help", "chardev-change ser0 help"),
    ("chardev-change-bad-option", "chardev-change ser0 null,bogus=1"),
    ("chardev-change-short-bool", "chardev-change ser0 socket,nowait"),
    ("netdev-del-nosuch", "netdev_del nosuch"),
    ("netdev-del-nic", "netdev_del nic0"),
    ("object-del-nosuch", "object_del nosuch"),
    ("set-link-nosuch", "set_link nosuch on"),
    ("netdev-add-duplicate", "netdev_add user,id=n0"),
    ("netdev-add-duplicate-bad-type", "netdev_add bogus,id=n0"),
    ("netdev-add-nic-id", "netdev_add user,id=nic0,ipv6=x"),
    ("netdev-add-bad-bool", "netdev_add user,id=u1,ipv6=bogus"),
    ("netdev-add-unknown-param", "netdev_add user,id=u1,bogus=1"),
    ("netdev-add-bad-type", "netdev_add bogus,id=u1"),
    ("netdev-add-no-id", "netdev_add user"),
    ("netdev-add-no-type", "netdev_add id=u1"),
    ("netdev-add-help-param", "netdev_add user,help"),
    ("netdev-add-missing-member", "netdev_add hubport,id=h1"),
    ("netdev-add-int64", "netdev_add hubport,id=h1,hubid=x"),
    ("netdev-add-int32", "netdev_add hubport,id=h1,hubid=99999999999"),
    ("netdev-add-uint64", "netdev_add vde,id=v1,port=-1"),
    ("netdev-add-uint16", "netdev_add vde,id=v1,port=70000"),
    ("netdev-add-size", "netdev_add tap,id=t1,sndbuf=x"),
    ("netdev-add-uint32", "netdev_add tap,id=t1,queues=x"),
    ("netdev-add-ipv6-net-empty", "netdev_add user,id=u1,ipv6-net="),
    ("netdev-add-ipv6-net-bad-len", "netdev_add user,id=u1,ipv6-net=fec0::/x"),
    ("netdev-add-ipv6-net-no-addr", "netdev_add user,id=u1,ipv6-net=/64"),
    ("netdev-add-ipv6-net-negative", "netdev_add user,id=u1,ipv6-net=fec0::/-1"),
    ("netdev-add-bad-hostfwd", "netdev_add user,id=u1,hostfwd=bad"),
    ("netdev-add-nic-type", "netdev_add nic,id=nn"),
    ("netdev-add-l2tpv3-missing", "netdev_add l2tpv3,id=l1"),
    ("netdev-add-vhost-user-no-chardev", "netdev_add vhost-user,id=vu,chardev=nosuch"),
    ("replay-break-off", "replay_break 100"),
    ("replay-delete-break-off", "replay_delete_break"),
    ("replay-seek-off", "replay_seek 100"),
    ("dumpdtb-no-fdt", "dumpdtb ./x.dtb"),
]

#: Lines that change the VM: hmpbridge on A, QEMU on twin B, in this order.
ACTIONS = [
    ("sendkey", "sendkey ctrl-alt-f1"),
    ("sendkey-hold", "sendkey shift-a 50"),
    ("sendkey-less-hex", "sendkey <-0x1e"),
    ("mouse-move", "mouse_move 10 -20"),
    ("mouse-move-wheel", "mouse_move 0x10 junk -3"),
    ("mouse-button", "mouse_button 5"),
    ("mouse-button-same", "mouse_button 5"),
    ("mouse-button-release", "mouse_button 0"),
    ("memsave", "memsave 0 16 ./m"),
    ("pmemsave", "pmemsave 0x100 32 ./p"),
    ("nmi", "nmi"),
    ("ringbuf-write", "ringbuf_write rb0 hello\\back"),
    ("ringbuf-write-quoted", 'ringbuf_write rb0 "tab\\n\\"q\\""'),
    ("ringbuf-write-cr", 'ringbuf_write rb0 "\\r\\n\\\\\xe9"'),
    ("ringbuf-read-part", "ringbuf_read rb0 4"),
    ("ringbuf-read-rest", "ringbuf_read rb0 100"),
    ("screendump", "screendump ./s.ppm"),
    ("screendump-png", "screendump ./s.png -f png"),
    ("trace-event-glob-on", "trace-event qemu_vfree on"),
    ("trace-event-glob-off", "trace-event qemu_vfree off"),
    ("watchdog-upper", "watchdog_action PAUSE"),
    ("watchdog-nmi", "watchdog_action inject-nmi"),
    ("chardev-send-break", "chardev-send-break ser0"),
    ("chardev-change-null", "chardev-change ser0 null"),
    ("chardev-change-ringbuf", "chardev-change ser0 ringbuf,size=128"),
    ("chardev-change-file", "chardev-change ser0 file,path=./ser0.log"),
    ("set-link-off", "set_link n0 off"),
    ("set-link-nic-on", "set_link nic0 on"),
    ("object-del", "object_del io0"),
    ("object-del-again", "object_del io0"),
    ("netdev-del", "netdev_del n0"),
    ("netdev-add-user", "netdev_add user,id=n0,ipv6=off,restrict=on,hostfwd=tcp::5555-:22,"
                        "hostfwd=tcp:127.0.0.1:0-:23,dnssearch=example.com"),
    ("netdev-add-again", "netdev_add user,id=n0"),
    ("netdev-add-ipv6-net", "netdev_add user,id=u6,ipv6-net=fec0::/64"),
    ("netdev-add-hubport", "netdev_add hubport,id=h1,hubid=0x10"),
    ("netdev-add-hubport-negative", "netdev_add hubport,id=h2,hubid=-1"),
    ("netdev-add-socket", "netdev_add socket,id=s1,listen=127.0.0.1:0"),
]


def errors(make: Callable[..., Any]) -> List[str]:
    """Error paths (and lines with no visible effect) on a paused VM."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in ERRORS:
            cap.case(name, line)
        return cap.results


def actions(make: Callable[..., Any]) -> List[str]:
    """State-changing lines, each checked against a twin VM."""
    with VM(_devices) as vm, VM(_devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in ACTIONS:
            cap.case(name, line)
        return cap.results


SCENARIOS = {"misc-errors": errors, "misc-actions": actions}
