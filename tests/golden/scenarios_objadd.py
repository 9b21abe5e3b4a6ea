"""Golden scenarios of the "objadd" area: ``object_add``'s keyval parsing, the
conversion of each value to its ``ObjectOptions`` type, and QEMU's errors.

Every object_add line (refusals included) runs through hmpbridge on VM A
while QEMU's own text comes from twin B, started identically and driven to
the same state.
"""

from __future__ import annotations

from typing import Any, Callable, List

from tests.golden.vm import VM

__all__ = ["SCENARIOS"]

_LONG = "a" * 128

#: Lines that create nothing (on twins all the same: QEMU may accept one).
ERRORS = [
    ("bad-type", "object_add bogus,id=x"),
    ("qom-list-type-name", "object_add authz-list-file,id=x,filename=/x"),
    ("no-id", "object_add iothread"),
    ("no-type", "object_add id=x"),
    ("implied-key-with-value", "object_add iothread=5,id=x"),
    ("duplicate-id", "object_add iothread,id=io0"),
    ("bad-id", "object_add iothread,id=1bad"),
    ("empty-id", "object_add iothread,id=,"),
    ("trailing-blanks-in-id", "object_add iothread,id=x  "),
    ("quoted-string", 'object_add "iothread,id=y"'),
    ("help-after-syntax-error", "object_add iothread,help,,x"),
    ("unknown-prop", "object_add iothread,id=io1,bogus=1"),
    ("unknown-props-order", "object_add memory-backend-ram,id=m1,size=1M,bogus=1,zz=2,aa=3"),
    ("unknown-before-bad-value", "object_add iothread,id=io1,bogus=1,poll-max-ns=x"),
    ("int-bad", "object_add iothread,id=io1,poll-max-ns=abc"),
    ("int-suffix", "object_add iothread,id=io1,poll-max-ns=1k"),
    ("int-empty", "object_add iothread,id=io1,poll-max-ns="),
    ("int-overflow", "object_add iothread,id=io1,poll-max-ns=9223372036854775808"),
    ("int-setter-range", "object_add iothread,id=io1,poll-max-ns=-1"),
    ("int-escaped-comma", "object_add iothread,id=io1,poll-max-ns=1,,2"),
    ("size-bad-suffix", "object_add memory-backend-ram,id=m1,size=64Q"),
    ("size-negative", "object_add memory-backend-ram,id=m1,size=-1"),
    ("size-overflow", "object_add memory-backend-ram,id=m1,size=16E"),
    ("size-zero", "object_add memory-backend-ram,id=m1,size=0"),
    ("size-missing", "object_add memory-backend-ram,id=m1"),
    ("size-hex-suffix-unknown", "object_add memory-backend-ram,id=m1,size=0x10M,bogus=1"),
    ("bool-bad", "object_add memory-backend-ram,id=m1,size=64M,share=maybe"),
    ("bool-dict", "object_add memory-backend-ram,id=m1,size=1M,share.x=on"),
    ("enum-bad", "object_add memory-backend-ram,id=m1,size=64M,policy=bogus"),
    ("enum-before-size", "object_add memory-backend-ram,id=m1,policy=bogus"),
    ("enum-dict", "object_add memory-backend-ram,id=m1,size=1M,policy.x=on"),
    ("uint32-negative", "object_add memory-backend-ram,id=m1,size=1M,prealloc-threads=-1"),
    ("uint32-large", "object_add memory-backend-ram,id=m1,size=1M,prealloc-threads=0x100000000"),
    ("int32-large", "object_add secret_keyring,id=k1,serial=0x100000000"),
    ("int32-negative", "object_add secret_keyring,id=k1,serial=-0x80000001"),
    ("uint64-wraps", "object_add colo-compare,id=c1,primary_in=a,secondary_in=b,outdev=c,"
                     "iothread=io0,compare_timeout=-1,expired_scan_cycle=-1"),
    ("uint64-max", "object_add colo-compare,id=c1,primary_in=a,secondary_in=b,outdev=c,"
                   "iothread=io0,compare_timeout=18446744073709551615,max_queue_size=x"),
    ("uint16-port", "object_add x-vfio-user-server,id=v1,socket.type=inet,socket.host=h,"
                    "socket.port=1,socket.to=70000,device=d"),
    ("union-bad-tag", "object_add x-vfio-user-server,id=v1,socket.type=tcp,device=d"),
    ("union-unknown", "object_add x-vfio-user-server,id=v1,socket.type=unix,socket.path=/x,"
                      "socket.port=1,device=d"),
    ("list-element-width", "object_add memory-backend-ram,id=m1,size=1M,host-nodes.0=70000"),
    ("list-element-bad", "object_add memory-backend-ram,id=m1,size=1M,host-nodes.0=x"),
    ("list-gap", "object_add memory-backend-ram,id=m1,size=1M,host-nodes.1=0"),
    ("list-not-array", "object_add memory-backend-ram,id=m1,size=1M,host-nodes=0"),
    ("list-inconsistent", "object_add memory-backend-ram,id=m1,size=1M,host-nodes.0=0,"
                          "host-nodes.x=1"),
    ("list-element-dict", "object_add memory-backend-ram,id=m1,size=1M,host-nodes.0.a=0"),
    ("str-dict", "object_add secret,id=s9,data.x=1"),
    ("int-list", "object_add iothread,id=io1,poll-max-ns.0=1"),
    ("nested-unknown", "object_add throttle-group,id=t1,limits.bogus=1,x-iops-total=x"),
    ("nested-not-object", "object_add throttle-group,id=t1,limits=5"),
    ("nested-int-suffix", "object_add throttle-group,id=t1,limits.iops-total=1k"),
    ("nested-int-overflow",
     "object_add throttle-group,id=t1,limits.iops-total=18446744073709551615"),
    ("x-int-bad", "object_add throttle-group,id=t1,x-iops-total=abc"),
    ("rule-enum", "object_add authz-list,id=al,rules.0.match=x,rules.0.policy=bogus"),
    ("rule-missing", "object_add authz-list,id=al,rules.0.policy=allow"),
    ("rule-unknown", "object_add authz-list,id=al,rules.0.match=x,rules.0.policy=allow,"
                     "rules.0.bogus=1,policy=deny"),
    ("secret-format", "object_add secret,id=s1,data=abc,format=bogus"),
    ("secret-bad-base64", "object_add secret,id=s1,data=%%%,format=base64"),
    ("file-no-dir", "object_add memory-backend-file,id=m1,size=1M,mem-path=/nonexistent/x"),
    ("rng-no-file", "object_add rng-random,id=r1,filename=/nonexistent/rng"),
    ("type-twice", "object_add qom-type=iothread,id=i12,qom-type=memory-backend-ram"),
    ("syntax-empty-key", "object_add iothread,,id=x"),
    ("syntax-no-equals", "object_add iothread,id=io1,poll-max-ns"),
    ("syntax-digit-key", "object_add iothread,id=io1,1a=1"),
    ("syntax-bad-fragment", "object_add iothread,id=io1,a.1b=1"),
    ("syntax-double-dot", "object_add iothread,id=io1,a..b=1"),
    ("syntax-value-then-dict", "object_add iothread,id=io1,a=1,a.b=1"),
    ("syntax-dict-then-value", "object_add iothread,id=io1,a.b=1,a=1"),
    ("syntax-inconsistent-first", "object_add iothread,id=x,m.0=1,m.x=2,d.0=1,d.x=2"),
    ("syntax-inconsistent-first-2", "object_add iothread,id=x,a.0=1,a.x=2,c.0=1,c.x=2"),
    ("list-gap-first", "object_add iothread,id=x,foo.1=1,bar.1=2"),
    ("list-same-index", "object_add authz-list,id=al,rules.0.match=x,rules.0.policy=b1,"
                        "rules.00.match=x,rules.00.policy=b2"),
    ("list-same-index-2", "object_add authz-list,id=al,rules.00.match=x,rules.00.policy=b1,"
                          "rules.0.match=x,rules.0.policy=b2"),
    ("syntax-space-key", "object_add iothread,id=io1, poll-max-ns=3"),
    ("syntax-too-long", f"object_add iothread,id=io1,{_LONG}=1"),
    ("syntax-fragment-too-long", f"object_add iothread,id=io1,b.{_LONG}=1"),
]

#: Lines that create objects: hmpbridge on A, QEMU on twin B, in this order.
ACTIONS = [
    ("memory-backend-ram", "object_add memory-backend-ram,id=mem1,size=64M,share=on"),
    ("memory-backend-duplicate", "object_add memory-backend-ram,id=mem1,size=1M"),
    ("memory-backend-hex-suffix", "object_add memory-backend-ram,id=mem2,size=0x10M"),
    ("memory-backend-fraction", "object_add memory-backend-ram,id=mem3,size=1.5k,"
                                "prealloc=yes,merge=false,dump=n"),
    ("memory-backend-memfd", "object_add memory-backend-memfd,id=mem4,size=2M,seal=off"),
    ("iothread-poll", "object_add iothread,id=io1,poll-max-ns=0x10,poll-grow=010"),
    ("iothread-qom-type", "object_add qom-type=iothread,id=io2,poll-max-ns= 5"),
    ("iothread-last-id", "object_add iothread,id=io3,id=io4"),
    ("iothread-trailing-comma", "object_add iothread,id=io5,"),
    ("rng-random", "object_add rng-random,id=rng0,filename=/dev/urandom"),
    ("secret", "object_add secret,id=sec0,data=letmein"),
    ("secret-base64", "object_add secret,id=sec1,data=bGV0bWVpbg==,format=base64"),
    ("throttle-group-x", "object_add throttle-group,id=tg0,x-iops-total=100"),
    ("throttle-group-limits", "object_add throttle-group,id=tg1,limits.iops-total=200,"
                              "limits.bps-total=1000"),
    ("authz-simple", "object_add authz-simple,id=authz0,identity=bob"),
    ("authz-list", "object_add authz-list,id=authz1,policy=deny,rules.0.match=bob,"
                   "rules.0.policy=allow,rules.1.match=a*,rules.1.policy=allow,"
                   "rules.1.format=glob"),
    ("thread-context", "object_add thread-context,id=tc0,cpu-affinity.0=0"),
    ("qom-list", "qom-list /objects"),
    ("info-memdev", "info memdev"),
]


def errors(make: Callable[..., Any]) -> List[str]:
    """Refused lines on a paused VM (it already has iothread io0)."""
    with VM() as vm, VM() as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in ERRORS:
            cap.case(name, line)
        return cap.results


def actions(make: Callable[..., Any]) -> List[str]:
    """Objects created, each line checked against a twin VM."""
    with VM() as vm, VM() as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        for name, line in ACTIONS:
            cap.case(name, line)
        return cap.results


SCENARIOS = {"objadd-errors": errors, "objadd-actions": actions}
