"""stop, cont, system_reset, system_powerdown and quit: the QMP they send and what they print."""

from __future__ import annotations

from typing import Optional

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError, QMPDisconnected
from hmpbridge.handlers import HANDLERS, Context, _load_all
from hmpbridge.model import Invocation, QMPCommand, SessionState
from hmpbridge.testing import CannedReplies, run_key

_load_all()


Script = CannedReplies


def run(key: str, script: Script, ctx: Optional[Context] = None) -> str:
    return run_key(key, {}, script, ctx)


@pytest.mark.parametrize("key", ["stop", "cont", "system_reset", "system_powerdown"])
def test_sends_the_command_of_the_same_name(key: str) -> None:
    """When a run-control command succeeds, its QMP namesake is sent once and nothing is printed."""
    script = Script()
    assert run(key, script) == ""
    assert script.sent == [QMPCommand(key)]


@pytest.mark.parametrize("key", ["stop", "system_reset", "system_powerdown"])
def test_errors_are_discarded_where_hmp_discards_them(key: str) -> None:
    """When stop, system_reset or system_powerdown fail, nothing is printed, as in HMP."""
    script = Script({key: QMPCommandError("GenericError", "nope", key)})
    assert run(key, script) == ""


def test_cont_prints_its_error() -> None:
    """When cont fails, the error is printed as Error: <desc>."""
    script = Script({"cont": QMPCommandError("GenericError", "Migration is not finalized yet")})
    assert run("cont", script) == "Error: Migration is not finalized yet\n"


def test_aliases_reach_the_same_handlers() -> None:
    """When s or c are typed, the stop and cont handlers serve them."""
    assert by_key("stop").aliases == ("stop", "s")
    assert by_key("cont").aliases == ("cont", "c")


def test_quit_sends_quit_and_closes_the_session() -> None:
    """When quit succeeds, nothing is printed and the session is marked for closing."""
    script = Script()
    ctx = Context(state=SessionState())
    assert run("quit", script, ctx) == ""
    assert script.sent == [QMPCommand("quit")]
    assert ctx.state.close_requested


def test_quit_takes_a_dropped_connection_as_done() -> None:
    """When QEMU drops the connection before answering quit, the session still closes quietly."""
    ctx = Context(state=SessionState())
    gen = HANDLERS["quit"](Invocation(by_key("quit"), {}, "quit"), ctx)
    assert next(gen) == QMPCommand("quit")
    with pytest.raises(StopIteration) as stop:
        gen.throw(QMPDisconnected("EOF"))  # what the runner does with a lost connection
    assert stop.value.value == ""
    assert ctx.state.close_requested
