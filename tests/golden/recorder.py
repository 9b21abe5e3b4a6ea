"""Record one golden case: hmpbridge's QMP exchange and QEMU's own HMP text.

:func:`record` runs a handler against a live QEMU, keeping every QMP command
it sends with the reply it got, and asks the same QEMU (or an identically
started twin) for its own text through ``human-monitor-command``.  The
fixture holds both, so a replay test can feed the recorded replies back to
the handler and compare its output with the text QEMU printed at the same
moment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, _load_all, drive, handler_for
from hmpbridge.model import Invocation, QMPCommand, SessionState
from hmpbridge.profile import QemuProfile, profile_for
from hmpbridge.render.errors import render_error
from tests.golden.measured import reasons

__all__ = ["HMPMonitor", "QMPClient", "record", "run_handler", "write_fixture", "set_timezone",
           "fixture_profile"]

_load_all()


class HMPMonitor(Protocol):
    """Where QEMU's own HMP text comes from: a QMP client, or QEMU's human monitor itself."""

    def hmp(self, line: str, cpu_index: Optional[int] = None) -> str:
        """QEMU's text for ``line``, ``\\r\\n`` turned into ``\\n``."""


class QMPClient:
    """A blocking QMP client over a unix socket; events are skipped."""

    def __init__(self, path: str, timeout: float = 60) -> None:
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._file = self._sock.makefile("rwb")
        self.greeting = json.loads(self._file.readline())
        self.events: List[Dict[str, Any]] = []
        self.command("qmp_capabilities")

    def send(self, msg: Mapping[str, Any]) -> Dict[str, Any]:
        """Send one command dict; return the whole reply (``return`` or ``error``)."""
        self._file.write(json.dumps(msg).encode() + b"\n")
        self._file.flush()
        while True:
            line = self._file.readline()
            if not line:
                raise ConnectionError("QMP connection closed")
            reply: Dict[str, Any] = json.loads(line)
            if "event" in reply:
                self.events.append(reply)
                continue
            return reply

    def command(self, name: str, arguments: Optional[Mapping[str, Any]] = None) -> Any:
        """Run a command and return its ``return`` value; raise on an error reply."""
        msg: Dict[str, Any] = {"execute": name}
        if arguments is not None:
            msg["arguments"] = dict(arguments)
        reply = self.send(msg)
        if "error" in reply:
            err = reply["error"]
            raise QMPCommandError(err.get("class", ""), err.get("desc", ""), name, reply)
        return reply["return"]

    def hmp(self, line: str, cpu_index: Optional[int] = None) -> str:
        """QEMU's own HMP text for ``line``, ``\\r\\n`` turned into ``\\n``."""
        args: Dict[str, Any] = {"command-line": line}
        if cpu_index is not None:
            args["cpu-index"] = cpu_index
        return str(self.command("human-monitor-command", args)).replace("\r\n", "\n")

    def wait_event(self, name: str, timeout: float = 30,
                   match: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Wait for an event (already received or still to come)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                data = ev.get("data", {})
                if ev["event"] == name and all(data.get(k) == v for k, v in (match or {}).items()):
                    self.events.remove(ev)
                    return ev
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} event")
            self.command("query-status")  # any reply also drains pending events
            time.sleep(0.05)

    def close(self) -> None:
        """Close the connection (the file made from the socket holds it open too)."""
        self._file.close()
        self._sock.close()


def set_timezone(tz: Optional[str]) -> None:
    """Make this process's local time ``tz`` (as QEMU's process has it)."""
    if tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = tz
    time.tzset()


def fixture_profile(fixture: Mapping[str, Any]) -> QemuProfile:
    """The profile of the QEMU a fixture was recorded from (its ``qemu``, else its ``release``)."""
    text = str(fixture.get("qemu") or fixture.get("release") or "7.2")
    parts = [int(part) for part in text.split(".")] + [0, 0]
    version = {"major": parts[0], "minor": parts[1], "micro": parts[2]}
    return profile_for({"version": {"qemu": version}})


def run_handler(handler_key: str, args: Mapping[str, Any], line: str,
                respond: Any, cpu_index: int = 0,
                profile: Optional[QemuProfile] = None,
                sleep: Optional[Callable[[float], None]] = time.sleep) -> str:
    """Drive the registered handler with ``respond``; errors become HMP text.

    :param profile: the QEMU served (default: a 7.2 whose schema is unknown).
    :param sleep: waits out a handler's :class:`hmpbridge.handlers.Delay`
        (None: no wait, when replaying recorded replies).
    """
    spec = profile.table.by_key(handler_key) if profile is not None else by_key(handler_key)
    inv = Invocation(spec, dict(args), line)
    ctx = Context(state=SessionState(cpu_index=cpu_index), schema_commands=None,
                  passthrough=False)
    if profile is not None:
        ctx = dataclasses.replace(ctx, profile=profile)
    try:
        handler = handler_for(inv.spec)
        assert handler is not None, f"{handler_key} has no handler"
        return drive(handler(inv, ctx), respond, sleep=sleep)
    except QMPCommandError as err:
        return render_error(err)


def record(qmp: QMPClient, line: str, args: Mapping[str, Any], handler_key: str, *,
           cpu_index: int = 0, twin: Optional[HMPMonitor] = None,
           tz: Optional[str] = None, note: str = "",
           measured: Sequence[str] = ()) -> Dict[str, Any]:
    """Run ``line`` through the handler and through QEMU's HMP; return the fixture.

    :param qmp: the VM the handler's queries go to.
    :param args: the parsed arguments (flags absent -> False, optional args absent).
    :param handler_key: the command table key (``"info block"``).
    :param cpu_index: the session's current CPU (HMP gets it as ``cpu-index``).
    :param twin: a VM started identically, asked for HMP text instead of ``qmp``.
    :param tz: the time zone of the QEMU process, for local-time dates.
    :param measured: the run-time figures (:data:`tests.golden.measured.FIGURES`)
        of this case, which the replay leaves out of its comparison; the fixture
        lists them with the reason.
    :returns: the fixture dict; ``fixture["got"]`` is hmpbridge's text (not stored).
        It names the QEMU it came from: ``release`` (``"10.0"``) and ``qemu``
        (``"10.0.2"``), from ``qmp``'s greeting.
    """
    exchanges: List[List[Dict[str, Any]]] = []

    def respond(cmd: QMPCommand) -> Any:
        msg = cmd.to_dict()
        reply = qmp.send(msg)
        if "error" in reply:
            err = {"class": reply["error"].get("class"), "desc": reply["error"].get("desc")}
            exchanges.append([msg, {"error": err}])
            raise QMPCommandError(err["class"] or "", err["desc"] or "", cmd.execute, reply)
        exchanges.append([msg, {"return": reply["return"]}])
        return reply["return"]

    set_timezone(tz)
    profile = profile_for(qmp.greeting.get("QMP"))
    got = run_handler(handler_key, args, line, respond, cpu_index, profile)
    expected = (twin or qmp).hmp(line, cpu_index if cpu_index else None)
    major, minor, micro = profile.qemu
    fixture: Dict[str, Any] = {"release": f"{major}.{minor}", "qemu": f"{major}.{minor}.{micro}",
                               "line": line, "handler": handler_key, "args": dict(args)}
    if cpu_index:
        fixture["cpu_index"] = cpu_index
    if tz is not None:
        fixture["tz"] = tz
    if note:
        fixture["note"] = note
    if measured:
        fixture["measured"] = reasons(measured)
    fixture["exchanges"] = exchanges
    fixture["expected"] = expected
    fixture["got"] = got
    return fixture


def write_fixture(path: str, fixture: Mapping[str, Any]) -> None:
    """Write a fixture as JSON (without the transient ``got``)."""
    data = {k: v for k, v in fixture.items() if k != "got"}
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
