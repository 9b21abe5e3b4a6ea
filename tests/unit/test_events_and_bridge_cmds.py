"""Events for operators, and the bridge's own dot commands."""

from __future__ import annotations

from typing import Any, List, Mapping

from hmpbridge.bridge_cmds import is_bridge_command, run_bridge_command
from hmpbridge.events import EventHub
from hmpbridge.oneshot import looks_failed
from hmpbridge.render.events import format_event

STOP = {"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "STOP"}
TRAY = {"timestamp": {"seconds": 1700000001, "microseconds": 0}, "event": "DEVICE_TRAY_MOVED",
        "data": {"device": "ide1-cd0", "tray-open": True, "id": "/machine/x"}}


class Source:
    def __init__(self) -> None:
        self.observers: List[Any] = []

    def add_event_observer(self, callback):
        self.observers.append(callback)
        return lambda: None

    def emit(self, event: Mapping[str, Any]) -> None:
        for observer in self.observers:
            observer(event)


class Session:
    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        self.events_on = False

    def set_events(self, on: bool) -> None:
        self.events_on = on

    def recent_events(self):
        return list(self.hub.recent)


def test_format_event_one_line_with_its_data():
    assert format_event(STOP, utc=True) == "[22:13:20.123] STOP"
    assert format_event(TRAY, utc=True) == (
        "[22:13:21.000] DEVICE_TRAY_MOVED device=ide1-cd0 tray-open=on id=/machine/x")


def test_hub_fans_out_and_keeps_recent_events():
    source = Source()
    hub = EventHub(source, replay_size=2)
    seen: List[str] = []
    unsubscribe = hub.subscribe(lambda e: seen.append(e["event"]))
    source.emit(STOP)
    unsubscribe()
    source.emit(TRAY)
    source.emit(STOP)
    assert seen == ["STOP"]
    assert [e["event"] for e in hub.recent] == ["DEVICE_TRAY_MOVED", "STOP"]


def test_dot_commands():
    hub = EventHub(Source())
    session = Session(hub)
    assert is_bridge_command("  .events on") and not is_bridge_command("info status")
    assert run_bridge_command(".events", session) == "Event display is off\n"
    assert run_bridge_command(".events on", session) == "" and session.events_on
    assert run_bridge_command(".events maybe", session) == "Expected 'on', 'off' or 'replay'\n"
    assert run_bridge_command(".events on now", session).endswith(
        "extraneous characters at the end of line\n")
    assert run_bridge_command(".frob", session) == "unknown command: '.frob'\n"
    hub.recent.append(STOP)
    assert run_bridge_command(".events replay", session) == format_event(STOP) + "\n"


def test_failure_wordings():
    assert looks_failed("Error: Device 'x' not found\n")
    assert looks_failed("unknown command: 'frob'\n")
    assert looks_failed('eject: block device name expected\nTry "help eject" for more '
                        "information\n")
    assert not looks_failed("VM status: running\n")
    assert not looks_failed("")
