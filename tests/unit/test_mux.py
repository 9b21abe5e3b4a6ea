"""QMPMultiplexer: connecting, negotiating, reconnecting with back-off, running commands."""

from __future__ import annotations

import gc
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from hmpbridge.errors import (CommandTimeout, QMPCommandError, QMPDisconnected,
                              QMPNotConnected, QMPProtocolError)
from hmpbridge.model import QMPCommand
from hmpbridge.mux import NEGOTIATION_TIMEOUT, RETRY_INITIAL, RETRY_MAX, QMPMultiplexer
from hmpbridge.qapi_schema import Schema
from hmpbridge.testing import FakeQEMU, FakeQMPEndpoint, failure_of, result_of

STATUS = QMPCommand("query-status")


def start(endpoint: Optional[FakeQMPEndpoint] = None,
          **kwargs: Any) -> Tuple[QMPMultiplexer, FakeQMPEndpoint, Clock]:
    clock = Clock()
    endpoint = endpoint if endpoint is not None else FakeQMPEndpoint()
    mux = QMPMultiplexer(endpoint, clock, **kwargs)
    mux.startService()
    return mux, endpoint, clock


def connected(endpoint: Optional[FakeQMPEndpoint] = None,
              **kwargs: Any) -> Tuple[QMPMultiplexer, FakeQMPEndpoint, Clock]:
    mux, endpoint, clock = start(endpoint, **kwargs)
    endpoint.flush()
    assert mux.connected
    return mux, endpoint, clock


@pytest.fixture
def logged_failures() -> Iterator[List[Mapping[str, Any]]]:
    """Log events carrying a failure (unhandled errors in Deferreds among them)."""
    events: List[Mapping[str, Any]] = []

    def observer(event: Mapping[str, Any]) -> None:
        if "log_failure" in event:
            events.append(event)

    globalLogPublisher.addObserver(observer)
    try:
        yield events
    finally:
        gc.collect()
        globalLogPublisher.removeObserver(observer)


# -- connecting ---------------------------------------------------------------------


def test_when_ready_fires_after_negotiation_and_schema() -> None:
    """when_ready fires once qmp_capabilities and query-qmp-schema are done, not before."""
    mux, endpoint, _ = start()
    ready = mux.when_ready()
    assert endpoint.attempts == 1
    assert not ready.called and not mux.connected
    endpoint.flush()
    assert result_of(ready) is None
    assert mux.connected
    assert endpoint.qemu.commands == ["qmp_capabilities", "query-qmp-schema"]


def test_when_ready_on_a_connected_multiplexer_fires_at_once() -> None:
    """Asking again once connected needs no new connection."""
    mux, endpoint, _ = connected()
    assert result_of(mux.when_ready()) is None
    assert endpoint.attempts == 1


def test_greeting_and_schema_commands_come_from_the_connected_qemu() -> None:
    """greeting is the greeting's QMP member; schema_commands lists only command entities."""
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(
        {"frob": lambda args: {}}, version=(9, 0, 1)))
    mux, _, _ = connected(endpoint)
    assert mux.greeting is not None
    assert mux.greeting["version"]["qemu"] == {"major": 9, "minor": 0, "micro": 1}
    assert mux.schema_commands == frozenset(
        {"frob", "query-status", "query-version", "qmp_capabilities", "query-qmp-schema"})


def test_chardevs_at_connect_come_from_query_chardev() -> None:
    """Where QEMU has query-chardev, its labels at connect time are kept."""
    chardevs = [{"label": "ser0", "filename": "null", "frontend-open": False},
                {"label": "compat_monitor0", "filename": "unix:/x", "frontend-open": True}]
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(
        {"query-chardev": lambda args: chardevs}))
    mux, endpoint, _ = connected(endpoint)
    assert mux.chardevs_at_connect == frozenset({"ser0", "compat_monitor0"})
    assert endpoint.qemu.commands == ["qmp_capabilities", "query-qmp-schema", "query-chardev"]


def test_chardevs_at_connect_unknown_when_query_chardev_fails() -> None:
    """An error reply to query-chardev leaves the chardevs unknown, and the connection up."""
    def refuse(args: Mapping[str, Any]) -> Any:
        raise QMPCommandError("GenericError", "no")

    endpoint = FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU({"query-chardev": refuse}))
    mux, _, _ = connected(endpoint)
    assert mux.chardevs_at_connect is None


def test_nothing_is_known_before_connecting() -> None:
    """A multiplexer that never connected has no greeting and an unknown schema."""
    mux = QMPMultiplexer(FakeQMPEndpoint(), Clock())
    assert mux.greeting is None and mux.schema_commands is None
    assert not mux.connected


def test_schema_commands_ignore_other_entities() -> None:
    """Only entities with meta-type command count; malformed entries are skipped."""
    schema = [{"name": "stop", "meta-type": "command"},
              {"name": "0", "meta-type": "object"},
              {"name": "SHUTDOWN", "meta-type": "event"},
              "junk",
              {"name": "cont", "meta-type": "command"}]
    assert Schema(schema).commands == frozenset({"stop", "cont"})  # type: ignore[arg-type]


def test_when_ready_waits_through_refused_attempts() -> None:
    """Without fail_after_failures, when_ready keeps waiting while connections are refused."""
    mux, endpoint, clock = start(FakeQMPEndpoint(refuse=True))
    ready = mux.when_ready()
    for _ in range(5):
        clock.advance(RETRY_MAX)
    assert endpoint.attempts > 5
    assert not ready.called
    endpoint.refuse = False
    clock.advance(RETRY_MAX)
    endpoint.flush()
    assert result_of(ready) is None


def test_when_ready_fails_after_the_given_number_of_failures() -> None:
    """fail_after_failures=N fails after the N-th failed attempt in a row, with its reason."""
    mux, endpoint, clock = start(FakeQMPEndpoint(refuse=True))
    patient = mux.when_ready()
    impatient = mux.when_ready(fail_after_failures=3)
    assert endpoint.attempts == 1
    clock.advance(RETRY_INITIAL)
    assert endpoint.attempts == 2 and not impatient.called
    clock.advance(2 * RETRY_INITIAL)
    assert endpoint.attempts == 3
    failure_of(impatient, ConnectionRefusedError)
    assert not patient.called


def test_fail_after_one_failure_fails_on_the_first_refusal() -> None:
    """The start-up check (fail_after_failures=1) fails as soon as one attempt fails."""
    mux = QMPMultiplexer(FakeQMPEndpoint(refuse=True), Clock())
    ready = mux.when_ready(fail_after_failures=1)
    mux.startService()
    failure_of(ready, ConnectionRefusedError)


def test_reconnection_backs_off_doubling_up_to_the_ceiling() -> None:
    """Delays between refused attempts: 0.2, 0.4, 0.8, 1.6, 3.2, then 5 s at most."""
    mux, endpoint, clock = start(FakeQMPEndpoint(refuse=True))
    delays = []
    for _ in range(8):
        (call,) = clock.getDelayedCalls()
        delays.append(round(call.getTime() - clock.seconds(), 6))
        attempts = endpoint.attempts
        clock.advance(call.getTime() - clock.seconds() - 0.001)
        assert endpoint.attempts == attempts
        clock.advance(call.getTime() - clock.seconds())
        assert endpoint.attempts == attempts + 1
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert not mux.connected


def test_success_resets_the_back_off() -> None:
    """After a successful connection, the next loss retries after the initial delay again."""
    mux, endpoint, clock = start(FakeQMPEndpoint(refuse=True))
    for _ in range(4):
        clock.advance(RETRY_MAX)
    endpoint.refuse = False
    clock.advance(RETRY_MAX)
    endpoint.flush()
    assert mux.connected
    endpoint.qemu.drop()
    endpoint.flush()
    (call,) = clock.getDelayedCalls()
    assert call.getTime() - clock.seconds() == pytest.approx(RETRY_INITIAL)


# -- losing the connection and getting it back ------------------------------------------


def test_reconnects_after_the_connection_drops() -> None:
    """A lost connection is retried after the back-off and comes back negotiated."""
    states: List[bool] = []
    mux, endpoint, clock = start()
    mux.add_state_observer(states.append)
    endpoint.flush()
    endpoint.qemu.drop()
    endpoint.flush()
    assert states == [True, False]
    assert not mux.connected
    failure_of(mux.execute(STATUS), QMPNotConnected)
    clock.advance(RETRY_INITIAL)
    assert endpoint.attempts == 2
    endpoint.flush()
    assert states == [True, False, True]
    d = mux.execute(STATUS)
    endpoint.flush()
    assert result_of(d)["running"] is True
    assert endpoint.qemu.commands == ["qmp_capabilities", "query-qmp-schema", "query-status"]


def test_greeting_is_kept_while_disconnected() -> None:
    """The last greeting stays available (for banners) while the connection is down."""
    mux, endpoint, _ = connected()
    endpoint.qemu.drop()
    endpoint.flush()
    assert not mux.connected
    assert mux.greeting is not None
    assert mux.greeting["version"]["qemu"]["major"] == 7


def test_commands_in_flight_fail_when_the_connection_drops() -> None:
    """Commands outstanding at QEMU fail with QMPDisconnected when it goes away."""
    mux, endpoint, _ = connected()
    endpoint.qemu.hold()
    ds = [mux.execute(STATUS) for _ in range(3)]
    endpoint.flush()
    endpoint.qemu.drop()
    endpoint.flush()
    for d in ds:
        failure_of(d, QMPDisconnected)


def test_connection_lost_during_schema_query_is_retried() -> None:
    """If the link drops after negotiation but before the schema, the attempt counts as failed."""
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: _holding("query-qmp-schema"))
    mux, endpoint, clock = start(endpoint)
    ready = mux.when_ready(fail_after_failures=1)
    endpoint.flush()
    assert endpoint.qemu.commands == ["qmp_capabilities", "query-qmp-schema"]
    endpoint.qemu.drop()
    endpoint.flush()
    failure_of(ready, QMPDisconnected)
    assert not mux.connected
    assert len(clock.getDelayedCalls()) == 1


def _holding(*commands: str) -> FakeQEMU:
    qemu = FakeQEMU()
    qemu.hold(*commands)
    return qemu


# -- negotiation timeout ------------------------------------------------------------


def test_peer_that_never_greets_is_given_up_on() -> None:
    """A peer that accepts but never greets is dropped after the negotiation timeout."""
    mux, endpoint, clock = start(FakeQMPEndpoint(greet=False))
    ready = mux.when_ready(fail_after_failures=1)
    endpoint.flush()
    clock.advance(NEGOTIATION_TIMEOUT - 0.1)
    assert not ready.called and endpoint.qemu.connected
    clock.advance(0.1)
    endpoint.flush()
    err = failure_of(ready, QMPProtocolError).value
    assert "no QMP greeting within 10 s" in str(err)
    assert "another client" in str(err)
    assert not endpoint.qemu.connected
    assert not mux.connected


def test_peer_that_never_negotiates_is_given_up_on() -> None:
    """A peer that greets but never answers qmp_capabilities times out as well."""
    endpoint = FakeQMPEndpoint(qemu_factory=lambda: _holding("qmp_capabilities"))
    mux, endpoint, clock = start(endpoint, negotiation_timeout=3)
    ready = mux.when_ready(fail_after_failures=1)
    endpoint.flush()
    clock.advance(3)
    endpoint.flush()
    err = failure_of(ready, QMPProtocolError).value
    assert "no QMP negotiation within 3 s" in str(err)


def test_after_a_negotiation_timeout_the_next_attempt_can_succeed() -> None:
    """A timed-out attempt is retried; a peer that greets the next time is used."""
    fakes = iter([FakeQEMU(greet=False), FakeQEMU()])
    mux, endpoint, clock = start(FakeQMPEndpoint(qemu_factory=lambda: next(fakes)))
    ready = mux.when_ready()
    endpoint.flush()
    clock.advance(NEGOTIATION_TIMEOUT)
    endpoint.flush()
    assert not ready.called
    clock.advance(RETRY_INITIAL)
    endpoint.flush()
    assert result_of(ready) is None
    assert endpoint.attempts == 2


def test_negotiation_timer_is_cancelled_once_connected() -> None:
    """Nothing stays scheduled on the clock once connected."""
    mux, _, clock = connected()
    assert clock.getDelayedCalls() == []
    clock.advance(NEGOTIATION_TIMEOUT * 2)
    assert mux.connected


# -- executing ------------------------------------------------------------------


def test_execute_while_disconnected_fails_with_not_connected() -> None:
    """Before a connection is up, commands fail at once with QMPNotConnected."""
    mux, _, _ = start(FakeQMPEndpoint(refuse=True))
    failure_of(mux.execute(STATUS), QMPNotConnected)
    failure_of(mux.execute(STATUS, timeout=1), QMPNotConnected)


def test_execute_returns_the_reply() -> None:
    """A command runs on the shared connection and fires with its return value."""
    mux, endpoint, _ = connected(FakeQMPEndpoint({"echo": lambda args: args}))
    d = mux.execute(QMPCommand("echo", {"x": 1}))
    endpoint.flush()
    assert result_of(d) == {"x": 1}
    assert endpoint.qemu.received[-1]["arguments"] == {"x": 1}


def test_execute_error_reply_fails_with_command_error() -> None:
    """An unknown command fails with QEMU's CommandNotFound error."""
    mux, endpoint, _ = connected()
    d = mux.execute(QMPCommand("frob"))
    endpoint.flush()
    err = failure_of(d, QMPCommandError).value
    assert err.error_class == "CommandNotFound"
    assert err.desc == "The command frob has not been found"


def test_concurrent_callers_get_their_own_replies() -> None:
    """Replies released out of order still go to the caller that asked."""
    mux, endpoint, _ = connected(FakeQMPEndpoint({"echo": lambda args: args["n"]}))
    endpoint.qemu.hold()
    ds = [mux.execute(QMPCommand("echo", {"n": n})) for n in range(5)]
    endpoint.flush()
    endpoint.qemu.release(4, 2, 0, 3, 1)
    endpoint.flush()
    assert [result_of(d) for d in ds] == [0, 1, 2, 3, 4]


def test_max_in_flight_reaches_the_protocol() -> None:
    """max_in_flight limits what the multiplexer has outstanding at QEMU."""
    mux, endpoint, _ = connected(max_in_flight=2)
    endpoint.qemu.hold()
    for _ in range(5):
        mux.execute(STATUS)
    endpoint.flush()
    assert len(endpoint.qemu.held) == 2


def test_execute_timeout_fails_with_command_timeout(
        logged_failures: List[Mapping[str, Any]]) -> None:
    """No reply within the timeout: CommandTimeout; the late reply is dropped quietly."""
    mux, endpoint, clock = connected()
    endpoint.qemu.hold()
    d = mux.execute(STATUS, timeout=5)
    endpoint.flush()
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.1)
    err = failure_of(d, CommandTimeout).value
    assert (err.command, err.seconds) == ("query-status", 5)
    assert str(err) == "query-status: no reply within 5 s"
    endpoint.qemu.release()
    endpoint.flush()
    assert mux.connected
    assert logged_failures == []


def test_late_error_reply_after_timeout_is_dropped_quietly(
        logged_failures: List[Mapping[str, Any]]) -> None:
    """A late error reply (or a drop) after the timeout logs no unhandled error."""
    mux, endpoint, clock = connected()
    endpoint.qemu.hold()
    timed_out = mux.execute(QMPCommand("frob"), timeout=1)
    lost = mux.execute(STATUS, timeout=1)
    endpoint.flush()
    clock.advance(1)
    failure_of(timed_out, CommandTimeout)
    failure_of(lost, CommandTimeout)
    endpoint.qemu.release(0)
    endpoint.qemu.drop()
    endpoint.flush()
    del timed_out, lost
    gc.collect()
    assert logged_failures == []


def test_reply_within_the_timeout_cancels_the_timer() -> None:
    """A timely reply passes through and leaves nothing on the clock."""
    mux, endpoint, clock = connected()
    d = mux.execute(STATUS, timeout=5)
    endpoint.flush()
    assert result_of(d)["status"] == "running"
    assert clock.getDelayedCalls() == []


def test_error_within_the_timeout_passes_through() -> None:
    """An error reply before the timeout fails the command with that error."""
    mux, endpoint, _ = connected()
    d = mux.execute(QMPCommand("frob"), timeout=5)
    endpoint.flush()
    failure_of(d, QMPCommandError)


def test_descriptors_are_closed_when_not_connected() -> None:
    """A command with descriptors that cannot be sent closes them."""
    mux, _, _ = start(FakeQMPEndpoint(refuse=True))
    read_end, write_end = os.pipe()
    os.close(read_end)
    failure_of(mux.execute(QMPCommand("getfd", {"fdname": "f"}, fds=(write_end,))),
               QMPNotConnected)
    with pytest.raises(OSError):
        os.fstat(write_end)


# -- observers ------------------------------------------------------------------


def test_events_reach_every_observer_until_unsubscribed() -> None:
    """Every observer sees every event; an unsubscribed one sees no more."""
    first: List[str] = []
    second: List[str] = []
    mux, endpoint, _ = connected()
    mux.add_event_observer(lambda e: first.append(e["event"]))
    unsubscribe = mux.add_event_observer(lambda e: second.append(e["event"]))
    endpoint.qemu.emit_event("STOP")
    endpoint.flush()
    unsubscribe()
    unsubscribe()  # twice is harmless
    endpoint.qemu.emit_event("RESUME")
    endpoint.flush()
    assert first == ["STOP", "RESUME"]
    assert second == ["STOP"]


def test_failing_event_observer_does_not_starve_the_others() -> None:
    """An observer that raises is logged and skipped; the next still gets the event."""
    seen: List[Dict[str, Any]] = []

    def broken(event: Mapping[str, Any]) -> None:
        raise RuntimeError("observer bug")

    mux, endpoint, _ = connected()
    mux.add_event_observer(broken)
    mux.add_event_observer(lambda e: seen.append(dict(e)))
    endpoint.qemu.emit_event("SHUTDOWN", {"guest": True})
    endpoint.flush()
    assert [(e["event"], e["data"]) for e in seen] == [("SHUTDOWN", {"guest": True})]
    assert mux.connected


def test_state_observers_hear_up_and_down_and_can_unsubscribe() -> None:
    """State observers get True on connection and False on loss; failing ones are skipped."""
    states: List[bool] = []

    def broken(up: bool) -> None:
        raise RuntimeError("observer bug")

    mux, endpoint, clock = start()
    mux.add_state_observer(broken)
    unsubscribe = mux.add_state_observer(states.append)
    endpoint.flush()
    endpoint.qemu.drop()
    endpoint.flush()
    unsubscribe()
    clock.advance(RETRY_INITIAL)
    endpoint.flush()
    assert mux.connected
    assert states == [True, False]


# -- stopping -------------------------------------------------------------------


def test_stop_service_closes_the_connection_and_stops_retrying() -> None:
    """Stopping closes the connection, fires once it is gone and schedules nothing."""
    mux, endpoint, clock = connected()
    stopped = mux.stopService()
    assert not mux.connected
    endpoint.flush()
    assert result_of(stopped) is None
    assert not endpoint.qemu.connected
    assert clock.getDelayedCalls() == []
    clock.advance(60)
    assert endpoint.attempts == 1
    failure_of(mux.execute(STATUS), QMPNotConnected)


def test_stop_service_while_waiting_to_retry_cancels_the_retry() -> None:
    """A retry scheduled after a refusal does not happen once stopped."""
    mux, endpoint, clock = start(FakeQMPEndpoint(refuse=True))
    assert len(clock.getDelayedCalls()) == 1
    result_of(mux.stopService())
    assert clock.getDelayedCalls() == []
    clock.advance(60)
    assert endpoint.attempts == 1


def test_stop_service_while_negotiating_abandons_the_attempt() -> None:
    """Stopping during negotiation drops the half-open link and cancels its timer."""
    mux, endpoint, clock = start(FakeQMPEndpoint(greet=False))
    endpoint.flush()
    result_of(mux.stopService())
    endpoint.flush()
    assert not endpoint.qemu.connected
    assert clock.getDelayedCalls() == []
    assert not mux.connected


def test_not_started_service_does_not_connect() -> None:
    """Building a multiplexer does not touch the endpoint; starting does."""
    endpoint = FakeQMPEndpoint()
    mux = QMPMultiplexer(endpoint, Clock())
    assert endpoint.attempts == 0
    mux.startService()
    assert endpoint.attempts == 1


# -- the schema, answered from the copy read at connect -----------------------------


def test_a_forwarded_schema_query_is_answered_without_qemu() -> None:
    """QEMU's schema is fixed for its life: a client's query-qmp-schema gets the copy read
    when connecting, QEMU's own answer, and costs QEMU (and everyone waiting) nothing."""
    mux, endpoint, _ = connected()
    asked = len(endpoint.qemu.received)
    replies = [result_of(mux.forward({"execute": "query-qmp-schema"})),
               result_of(mux.forward({"execute": "query-qmp-schema", "arguments": {}}))]
    assert len(endpoint.qemu.received) == asked
    schema = endpoint.qemu.schema()
    for reply in replies:
        assert list(reply) == ["return", "id"] and reply["return"] == schema


@pytest.mark.parametrize("message", [
    {"execute": "query-qmp-schema", "arguments": {"x": 1}},
    {"exec-oob": "query-qmp-schema"},
    {"execute": "query-status"},
])
def test_other_messages_still_go_to_qemu(message: Dict[str, Any]) -> None:
    mux, endpoint, _ = connected()
    asked = len(endpoint.qemu.received)
    mux.forward(message)
    endpoint.flush()
    assert len(endpoint.qemu.received) == asked + 1


def test_qemus_of_one_build_share_one_schema() -> None:
    """Two QEMUs sending the same schema hold one copy of it; another schema is its own."""
    first, _, _ = connected(FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(version=(10, 0, 2))))
    second, _, _ = connected(FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(version=(10, 0, 2))))
    other, _, _ = connected(FakeQMPEndpoint(qemu_factory=lambda: FakeQEMU(
        {"frob": lambda args: {}}, version=(10, 0, 2))))
    assert first.profile.schema is not None
    assert first.profile.schema is second.profile.schema
    assert other.profile.schema is not first.profile.schema
    assert "frob" in other.profile.schema.commands  # type: ignore[union-attr]
    assert "frob" not in first.profile.schema.commands
