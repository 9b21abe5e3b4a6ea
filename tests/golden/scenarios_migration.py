"""Golden scenarios for migration: ``info migrate`` in each state, dirty-rate info.

The states whose statistics move while time passes (an active migration)
are recorded when the handler's query and QEMU's own text fall in the same
millisecond: a case is tried a few times until the two agree.  The figures
that move are named in the fixture (``measured``), and the replay leaves
them out of its comparison: QEMU's own text always comes from a second
query, after the handler's, so the two need not agree: the total time of a
migration held before switchover was the same in both texts in 3 of 20
tries on QEMU 7.2.22 and in none of 20 on 10.0.2 and 11.1.3 (QEMU's mostly
1 ms later).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Sequence

from tests.golden.recorder import QMPClient
from tests.golden.scenarios import Make, Recorder
from tests.golden.vm import VM, default_devices, qemu_img

__all__ = ["SCENARIOS"]


def _wait_status(qmp: QMPClient, wanted: str, timeout: float = 60) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        info: Dict[str, Any] = qmp.command("query-migrate")
        if info.get("status") == wanted:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration never reached {wanted}: {info}")
        time.sleep(0.05)


def _case_until_equal(cap: Recorder, name: str, line: str, tries: int = 20,
                      measured: Sequence[str] = ()) -> None:
    """Record a case whose text moves with time, retrying until both texts agree.

    :param measured: the figures that move (:data:`tests.golden.measured.FIGURES`),
        named in the fixture whether or not the texts came to agree: the replay
        leaves them out of its comparison.
    """
    for _ in range(tries):
        before = len(cap.results)
        fixture = cap.case(name, line, measured=measured)
        if fixture["got"] == fixture["expected"]:
            return
        del cap.results[before:]
    cap.case(name, line, measured=measured)


def idle(make: Make) -> List[str]:
    """No migration yet; a finished dirty-rate measurement; a failed migration."""
    with VM() as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        cap.case("info-migrate-none", "info migrate")
        cap.case("dirty-rate-unstarted", "info dirty_rate")
        cap.case("vcpu-dirty-limit-off", "info vcpu_dirty_limit")
        q.command("cont")
        q.command("calc-dirty-rate", {"calc-time": 1, "sample-pages": 256})
        deadline = time.monotonic() + 30
        while q.command("query-dirty-rate")["status"] != "measured":
            if time.monotonic() > deadline:
                raise TimeoutError("dirty rate never measured")
            time.sleep(0.1)
        cap.case("dirty-rate-measured", "info dirty_rate")
        q.command("stop")
        q.command("migrate", {"uri": "exec:false"})
        _wait_status(q, "failed")
        cap.case("info-migrate-failed", "info migrate")
        return cap.results


def completed(make: Make) -> List[str]:
    """A finished migration with XBZRLE and compression on, then one cancelled at setup."""
    with VM() as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        q.command("migrate-set-capabilities", {"capabilities": [
            {"capability": "xbzrle", "state": True},
            {"capability": "compress", "state": True}]})
        q.command("cont")
        time.sleep(1)
        q.command("migrate", {"uri": "exec:cat > " + vm.path("mig")})
        _wait_status(q, "completed")
        cap.case("info-migrate-xbzrle-compress", "info migrate")
        cap.case("status-postmigrate", "info status")
        return cap.results


def presw(make: Make) -> List[str]:
    """A migration held before switchover (statistics frozen), then cancelled."""
    with VM() as vm:
        q = vm.qmp
        cap = make(q, vm.tz)
        q.command("migrate-set-capabilities", {"capabilities": [
            {"capability": "pause-before-switchover", "state": True}]})
        q.command("migrate", {"uri": "exec:cat > " + vm.path("mig")})
        _wait_status(q, "pre-switchover")
        # the statistics are frozen before switchover, but not the total time
        _case_until_equal(cap, "info-migrate-pre-switchover", "info migrate",
                          measured=("migrate-total-time",))
        q.command("migrate_cancel")
        _wait_status(q, "cancelled")
        cap.case("info-migrate-cancelled", "info migrate")
        return cap.results


def incoming(make: Make) -> List[str]:
    """A destination listening on loopback (socket address), then a completed postcopy pair."""
    def dest_devices(d: str) -> List[str]:
        return default_devices(d) + ["-incoming", "defer"]

    with VM(dest_devices) as dst, VM() as src:
        cap = make(dst.qmp, dst.tz)
        for qmp in (src.qmp, dst.qmp):
            qmp.command("migrate-set-capabilities", {"capabilities": [
                {"capability": "postcopy-ram", "state": True},
                {"capability": "postcopy-blocktime", "state": True}]})
        dst.qmp.command("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        _case_until_equal(cap, "info-migrate-listening", "info migrate")
        port = dst.qmp.command("query-migrate")["socket-address"][0]["port"]
        src.qmp.command("migrate-set-parameters", {"max-bandwidth": 4 << 20})
        src.qmp.command("cont")
        src.qmp.command("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        _wait_status(src.qmp, "active")
        src.qmp.command("migrate-start-postcopy")
        _wait_status(src.qmp, "completed")
        _wait_status(dst.qmp, "completed")
        cap.case("info-migrate-postcopy-destination", "info migrate")
        src_cap = make(src.qmp, src.tz)
        src_cap.case("info-migrate-postcopy-source", "info migrate")
        return cap.results + src_cap.results


def blocked(make: Make) -> List[str]:
    """An unmigratable device (NVMe) lists itself as a blocker."""
    def devices(d: str) -> List[str]:
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "nv.raw"), "1M")
        return default_devices(d) + [
            "-drive", f"if=none,id=nv0,file={os.path.join(d, 'nv.raw')},format=raw",
            "-device", "nvme,drive=nv0,serial=nv0serial"]

    with VM(devices) as vm, VM(devices) as twin:
        cap = make(vm.qmp, vm.tz, twin.qmp)
        cap.case("info-migrate-blocked", "info migrate")
        cap.case("migrate-blocked", "migrate -d exec:true")
        return cap.results


SCENARIOS: Dict[str, Callable[[Make], List[str]]] = {
    "migration-idle": idle,
    "migration-completed": completed,
    "migration-presw": presw,
    "migration-incoming": incoming,
    "migration-blocked": blocked,
}
