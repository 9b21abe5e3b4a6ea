"""--qmp-dir: the fleet of VMs in a directory, driven by a fake watch and a Clock."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher

from hmpbridge.commands import table_for
from hmpbridge.fleet import (POLL_INTERVAL, SETTLE, Fleet, FleetVM, InotifyWatch, PollWatch,
                             sockets_in, watch_for)
from hmpbridge.hmp_parser import parser_for
from hmpbridge.mux import QMPMultiplexer, RETRY_MAX
from hmpbridge.testing import FakeQEMU, FakeQMPEndpoint


class FakeWatch:
    """A directory watch the test fires by hand."""

    def __init__(self) -> None:
        self.changed: Optional[Callable[[], None]] = None
        self.stopped = False

    def start(self, changed: Callable[[], None]) -> None:
        self.changed = changed

    def stop(self) -> None:
        self.stopped = True

    def fire(self) -> None:
        assert self.changed is not None
        self.changed()


class FakeVM:
    """A VM service that records its life; its stop fires when the test says so."""

    def __init__(self, name: str, path: str, hold_stop: bool = False) -> None:
        self.name, self.path = name, path
        self.started = False
        self.stopping: Optional[Deferred[None]] = None
        self.hold_stop = hold_stop

    def start(self) -> None:
        self.started = True

    def stop(self) -> "Deferred[None]":
        self.stopping = Deferred() if self.hold_stop else succeed(None)
        return self.stopping


class Directory:
    """A fleet over a fake directory listing."""

    def __init__(self, pattern: str = "*.qmp", hold_stop: bool = False) -> None:
        self.entries: List[str] = []
        self.clock = Clock()
        self.watch = FakeWatch()
        self.made: List[FakeVM] = []
        self.hold_stop = hold_stop
        self.fleet = Fleet("/run/vms", self.make, self.watch, self.clock, pattern=pattern,
                           list_sockets=self.listing)

    def listing(self, directory: str) -> List[str]:
        assert directory == "/run/vms"
        return list(self.entries)

    def make(self, name: str, path: str) -> FakeVM:
        vm = FakeVM(name, path, self.hold_stop)
        self.made.append(vm)
        return vm

    def change(self, *entries: str) -> None:
        """The directory now holds ``entries``; the watch tells, the turn ends."""
        self.entries = list(entries)
        self.watch.fire()
        self.clock.advance(SETTLE)

    def serving(self) -> Dict[str, str]:
        return {name: vm.path for name, vm in self.fleet.vms.items()}  # type: ignore[attr-defined]


@pytest.fixture
def logged() -> Iterator[List[Mapping[str, Any]]]:
    events: List[Mapping[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


def _texts(events: List[Mapping[str, Any]], namespace: str = "hmpbridge.fleet") -> List[str]:
    from twisted.logger import formatEvent
    return [formatEvent(e) for e in events if e.get("log_namespace") == namespace]


def test_sockets_present_at_start_are_served() -> None:
    d = Directory()
    d.entries = ["vm1.qmp", "vm2.qmp"]
    d.fleet.startService()
    assert d.serving() == {"vm1": "/run/vms/vm1.qmp", "vm2": "/run/vms/vm2.qmp"}
    assert all(vm.started for vm in d.made)


def test_appear_disappear_reappear() -> None:
    """A socket that appears is served, one that goes is stopped, one that comes back is
    served anew."""
    d = Directory()
    d.fleet.startService()
    assert d.serving() == {}
    d.change("vm1.qmp")
    assert list(d.serving()) == ["vm1"]
    first = d.made[0]
    d.change()
    assert d.serving() == {} and first.stopping is not None
    d.change("vm1.qmp")
    assert list(d.serving()) == ["vm1"] and d.made[-1] is not first and d.made[-1].started


def test_a_burst_of_changes_lists_the_directory_once() -> None:
    d = Directory()
    calls: List[str] = []
    original = d.listing
    d.fleet._list_sockets = lambda directory: calls.append(directory) or original(directory)
    d.fleet.startService()
    d.entries = ["a.qmp", "b.qmp"]
    for _ in range(5):
        d.watch.fire()
        d.clock.advance(SETTLE / 10)
    assert len(calls) == 1
    d.clock.advance(SETTLE)
    assert len(calls) == 2  # at start, and once for the burst
    assert sorted(d.serving()) == ["a", "b"]


def test_a_vm_back_while_its_old_self_stops_starts_once_that_is_done() -> None:
    """Its listeners would clash with the old ones still open."""
    d = Directory(hold_stop=True)
    d.entries = ["vm1.qmp"]
    d.fleet.startService()
    old = d.made[0]
    d.change()
    d.change("vm1.qmp")
    assert d.serving() == {} and len(d.made) == 1
    assert old.stopping is not None
    old.stopping.callback(None)
    d.clock.advance(SETTLE)
    assert list(d.serving()) == ["vm1"] and len(d.made) == 2


def test_only_sockets_matching_the_glob_are_vms() -> None:
    d = Directory(pattern="*.sock")
    d.entries = ["a.sock", "b.qmp", "c.sock"]
    d.fleet.startService()
    assert sorted(d.serving()) == ["a", "c"]


def test_a_bad_name_is_reported_once_and_not_served(logged: List[Mapping[str, Any]]) -> None:
    d = Directory()
    d.entries = [".hidden.qmp", "vm1.qmp"]
    d.fleet.startService()
    d.change(".hidden.qmp", "vm1.qmp", "vm2.qmp")
    assert sorted(d.serving()) == ["vm1", "vm2"]
    refused = [t for t in _texts(logged) if ".hidden.qmp" in t]
    assert refused == ["Not serving .hidden.qmp in /run/vms: a name starting with '.'"]


def test_a_vm_that_cannot_be_made_leaves_the_others_served(
        logged: List[Mapping[str, Any]]) -> None:
    d = Directory()
    made = d.make

    def make(name: str, path: str) -> FakeVM:
        if name == "bad":
            raise ValueError("no endpoint for it")
        return made(name, path)
    d.fleet._make_vm = make
    d.entries = ["bad.qmp", "good.qmp"]
    d.fleet.startService()
    assert list(d.serving()) == ["good"]
    assert "VM bad: cannot serve it: no endpoint for it" in _texts(logged)


def test_stopping_the_fleet_stops_every_vm_and_the_watch() -> None:
    d = Directory()
    d.entries = ["vm1.qmp", "vm2.qmp"]
    d.fleet.startService()
    stopped = d.fleet.stopService()
    assert stopped.called and d.watch.stopped
    assert all(vm.stopping is not None for vm in d.made) and d.serving() == {}
    d.change("vm3.qmp")  # a late change after stopping serves nothing
    assert len(d.made) == 2


@given(st.lists(st.sets(st.sampled_from(["a.qmp", "b.qmp", "c.qmp", "d.txt", ".e.qmp"])),
                max_size=12))
def test_served_vms_follow_the_directory(states: List[set]) -> None:
    """Whatever the sequence of listings, the VMs served are the matching sockets, each
    VM service stopped once at most, and at most one alive per name."""
    d = Directory()
    d.fleet.startService()
    for entries in states:
        d.change(*sorted(entries))
        want = {e[:-4] for e in entries if e.endswith(".qmp") and not e.startswith(".")}
        assert set(d.serving()) == want
    alive: Dict[str, int] = {}
    for vm in d.made:
        if vm.stopping is None:
            alive[vm.name] = alive.get(vm.name, 0) + 1
    assert all(count == 1 for count in alive.values())
    assert set(alive) == set(d.serving())


def test_poll_watch_lists_at_most_every_half_second() -> None:
    clock = Clock()
    seen: List[float] = []
    watch = PollWatch(clock)
    watch.start(lambda: seen.append(clock.seconds()))
    clock.pump([0.25] * 8)
    assert seen == [0.5, 1.0, 1.5, 2.0]
    watch.stop()
    clock.advance(5)
    assert len(seen) == 4
    with pytest.raises(ValueError):
        PollWatch(clock, POLL_INTERVAL * 2)


def test_inotify_tells_of_a_new_entry(tmp_path: Any) -> None:
    """The kernel's event for a file made in the directory reaches the callback."""
    reactor = MemoryReactorClock()
    seen: List[int] = []
    watch = watch_for(str(tmp_path), reactor)
    assert isinstance(watch, InotifyWatch)
    watch.start(lambda: seen.append(1))
    (tmp_path / "vm1.qmp").write_text("")
    watch._notifier.doRead()  # what the reactor does when the descriptor is readable
    assert seen
    watch.stop()


def test_a_directory_removed_and_made_again_is_watched_again(tmp_path: Any) -> None:
    """Removed, it is listed every POLL_INTERVAL; made again, inotify watches it again."""
    reactor = MemoryReactorClock()
    seen: List[float] = []
    directory = tmp_path / "vms"
    directory.mkdir()
    watch = watch_for(str(directory), reactor)
    assert isinstance(watch, InotifyWatch)
    watch.start(lambda: seen.append(reactor.seconds()))
    first = watch._notifier
    directory.rmdir()
    first.doRead()
    assert seen == [0] and watch._notifier is None
    reactor.advance(POLL_INTERVAL)
    assert seen == [0, POLL_INTERVAL]
    directory.mkdir()
    reactor.advance(POLL_INTERVAL)
    assert seen == [0, POLL_INTERVAL, 2 * POLL_INTERVAL]
    again = watch._notifier
    assert again is not None and again is not first
    reactor.advance(POLL_INTERVAL * 4)
    assert len(seen) == 3  # no more listing: inotify tells again
    (directory / "vm1.qmp").write_text("")
    again.doRead()
    assert len(seen) == 4
    watch.stop()


def test_a_directory_inotify_cannot_watch_is_listed_instead(tmp_path: Any) -> None:
    reactor = MemoryReactorClock()
    seen: List[float] = []
    watch = InotifyWatch(str(tmp_path / "missing"), reactor)
    watch.start(lambda: seen.append(reactor.seconds()))
    reactor.advance(POLL_INTERVAL)
    reactor.advance(POLL_INTERVAL)
    assert seen == [POLL_INTERVAL, 2 * POLL_INTERVAL]
    watch.stop()


def test_sockets_in_lists_only_sockets(tmp_path: Any) -> None:
    (tmp_path / "plain.qmp").write_text("")
    assert sockets_in(str(tmp_path)) == []
    assert sockets_in(str(tmp_path / "missing")) == []


# -- one VM: its QMP connection, then its listeners ------------------------------------


class FakeServed:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> "Deferred[None]":
        self.closed = True
        return succeed(None)


def _vm(endpoint: FakeQMPEndpoint, clock: Clock, timeout: float = 2.0):
    mux = QMPMultiplexer(endpoint, clock, negotiation_timeout=timeout)
    served: List[FakeServed] = []

    def serve() -> "Deferred[FakeServed]":
        served.append(FakeServed())
        return succeed(served[-1])
    return FleetVM("vm1", "/run/vms/vm1.qmp", mux, serve), mux, served


def test_a_vm_is_served_once_its_qmp_connection_is_up() -> None:
    clock = Clock()
    endpoint = FakeQMPEndpoint()
    vm, mux, served = _vm(endpoint, clock)
    vm.start()
    assert served == []
    endpoint.flush()
    assert len(served) == 1 and mux.connected
    stopped = vm.stop()
    endpoint.flush()
    assert stopped.called and served[0].closed and not mux.running


def test_a_held_socket_is_reported_once_and_retried(logged: List[Mapping[str, Any]]) -> None:
    """QEMU greets nobody while another client holds its monitor: the connect timeout
    expires, the log says so once, the connection retries with back-off; once the socket
    is free the VM is served."""
    clock = Clock()
    endpoint = FakeQMPEndpoint(greet=False)
    vm, mux, served = _vm(endpoint, clock)
    vm.start()
    endpoint.flush()
    for _ in range(4):
        clock.advance(2.0)
        endpoint.flush()
        clock.advance(RETRY_MAX)
        endpoint.flush()
    assert endpoint.attempts >= 4 and served == []
    held = [t for t in _texts(logged) if "held by another client" in t]
    assert held == ["VM vm1: QMP socket /run/vms/vm1.qmp is held by another client (it does "
                    "not greet); retrying with back-off"]
    endpoint.qemu_factory = FakeQEMU
    for step in (2.0, RETRY_MAX):  # the attempt under way times out; the next one greets
        clock.advance(step)
        endpoint.flush()
    assert len(served) == 1 and mux.connected


def test_a_socket_refusing_at_first_is_not_reported_until_it_keeps_refusing(
        logged: List[Mapping[str, Any]]) -> None:
    """A socket just made refuses until QEMU listens on it: a refusal or two is normal;
    one that keeps refusing (a QEMU killed without removing it) is said once."""
    clock = Clock()
    endpoint = FakeQMPEndpoint(refuse=True)
    vm, mux, served = _vm(endpoint, clock)
    vm.start()
    clock.advance(0.2)
    endpoint.refuse = False
    clock.advance(0.4)
    endpoint.flush()
    assert len(served) == 1
    assert [t for t in _texts(logged) if "cannot connect" in t] == []
    vm2, _, served2 = _vm(FakeQMPEndpoint(refuse=True), clock)
    vm2.start()
    for _ in range(10):
        clock.advance(RETRY_MAX)
    assert served2 == []
    reports = [t for t in _texts(logged) if "cannot connect" in t]
    assert len(reports) == 1 and "Connection was refused" in reports[0]


def test_a_vm_that_goes_while_connecting_stops_cleanly() -> None:
    clock = Clock()
    endpoint = FakeQMPEndpoint(refuse=True)
    vm, mux, served = _vm(endpoint, clock)
    vm.start()
    clock.advance(1)
    stopped = vm.stop()
    assert stopped.called and not mux.running and served == []
    clock.advance(60)
    assert served == [] and endpoint.attempts <= 2


def test_a_vm_whose_listeners_cannot_open_is_said_and_let_go(
        logged: List[Mapping[str, Any]]) -> None:
    """Its QMP connection is closed; the log names the VM and the reason."""
    clock = Clock()
    endpoint = FakeQMPEndpoint()
    mux = QMPMultiplexer(endpoint, clock)

    async def serve() -> FakeServed:
        raise OSError("cannot listen on unix:/nowhere/vm1.hmp: No such file or directory")
    vm = FleetVM("vm1", "/run/vms/vm1.qmp", mux, serve)
    vm.start()
    endpoint.flush()
    assert not mux.running and vm.served is None
    assert [t for t in _texts(logged) if "cannot serve" in t] == [
        "VM vm1: cannot serve it: cannot listen on unix:/nowhere/vm1.hmp: No such file or "
        "directory"]
    assert vm.stop().called


def test_vms_of_one_release_share_the_table_and_parser() -> None:
    """Two VMs of QEMU 10.0 get the very same command table and parser."""
    clock = Clock()
    profiles = []
    for _ in range(2):
        endpoint = FakeQMPEndpoint()
        endpoint.qemu_factory = lambda: FakeQEMU(version=(10, 0, 2))
        vm, mux, _ = _vm(endpoint, clock)
        vm.start()
        endpoint.flush()
        profiles.append(mux.profile)
    assert profiles[0].release == (10, 0)
    assert profiles[0].table is profiles[1].table is table_for((10, 0))
    assert parser_for(profiles[0].table) is parser_for(profiles[1].table)
