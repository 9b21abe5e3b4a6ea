"""help, info, cpu, print and history: the commands hmpbridge answers itself."""

from __future__ import annotations

import json
import os

from twisted.internet.defer import fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from hmpbridge.errors import ParseError, QMPCommandError
from hmpbridge.hmp_parser import parse
from hmpbridge.handlers import session_cmds
from hmpbridge.history import remember
from hmpbridge.model import SessionState
from hmpbridge.model import PrintDefaults
from hmpbridge.profile import DEFAULT_PROFILE
from hmpbridge.runner import CommandRunner

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def _captured(name: str) -> str:
    with open(os.path.join(FIXTURES, name), newline="") as f:
        return f.read().replace("\r\n", "\n")


class _Executor:
    greeting = {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}}}
    schema_commands = None
    chardevs_at_connect = None
    profile = DEFAULT_PROFILE

    def __init__(self) -> None:
        self.executed: list = []

    def execute(self, command):  # type: ignore[no-untyped-def]
        self.executed.append(command)
        if command.execute == "query-cpus-fast":
            return succeed([{"cpu-index": 0}, {"cpu-index": 1}])
        if command.execute == "human-monitor-command":
            return succeed("from QEMU\r\n")
        return fail(QMPCommandError("GenericError", "unexpected"))


class SessionCommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.executor = _Executor()
        self.runner = CommandRunner(self.executor)
        self.state = SessionState()

    def run_line(self, line: str) -> str:
        return self.successResultOf(self.runner.run(line, self.state))

    def test_help_lists_every_command_as_qemu(self) -> None:
        """When help has no argument, the listing is QEMU 7.2's, byte for byte."""
        self.assertEqual(self.run_line("help"), _captured("help.txt"))
        self.assertEqual(self.run_line("?"), _captured("help.txt"))

    def test_info_lists_every_subcommand_as_qemu(self) -> None:
        """When info or help info has no argument, the info table is QEMU 7.2's."""
        self.assertEqual(self.run_line("info"), _captured("info.txt"))
        self.assertEqual(self.run_line("help info"), _captured("info.txt"))

    def test_help_for_one_command(self) -> None:
        """When help names a command or an alias, that command's line is printed."""
        listing = _captured("help.txt").splitlines(keepends=True)
        cont = next(line for line in listing if line.startswith("cont|c "))
        self.assertEqual(self.run_line("help c"), cont)
        self.assertEqual(self.run_line("help nosuch"), "unknown command: 'nosuch'\n")
        self.assertEqual(self.run_line("help info nosuch"), "unknown command: 'info nosuch'\n")

    def test_help_log_is_special(self) -> None:
        """When help names exactly "log", QEMU's log-item table is printed."""
        table = self.run_line("help log")
        self.assertTrue(table.startswith("Log items (comma separated):\nnone "))
        self.assertEqual(self.run_line("help log x"),
                         "log item1[,...] -- activate logging of the specified items\n")

    def test_cpu_is_checked_and_kept(self) -> None:
        """When cpu names an existing CPU it becomes current; otherwise QEMU's error."""
        self.assertEqual(self.run_line("cpu 1"), "")
        self.assertEqual(self.state.cpu_index, 1)
        self.assertEqual(self.run_line("cpu 7"), "invalid CPU index\n")
        self.assertEqual(self.state.cpu_index, 1)

    def test_passthrough_carries_current_cpu(self) -> None:
        """When a line goes to QEMU's monitor, it carries the session's CPU."""
        self.run_line("cpu 1")
        self.assertEqual(self.run_line("info registers"), "from QEMU\n")
        sent = self.executor.executed[-1]
        self.assertEqual(sent.arguments, {"command-line": "info registers", "cpu-index": 1})

    def test_history_is_per_session(self) -> None:
        """When info history runs, it lists this session's lines, itself included."""
        def entered(line: str) -> str:
            remember(self.state, line)  # the session's line runner does so at Enter
            return self.run_line(line)
        entered("help c")
        entered("")
        entered("help c")
        self.assertEqual(entered("info history"), "0: 'help c'\n1: 'info history'\n")
        self.assertEqual(SessionState().history, [])


def test_print_sequence_matches_qemu() -> None:
    """When print lines run in QEMU's order, each prints what QEMU printed (shared /fmt default)."""
    captured = json.load(open(os.path.join(FIXTURES, "parse_lines.json")))
    defaults = PrintDefaults()
    for case in captured:
        line, qemu = case["line"], case["qemu"]
        if line.split("/")[0].split()[0] not in ("print", "p", "x", "xp", "i", "o"):
            continue
        try:
            inv = parse(line)
        except ParseError as err:  # a /fmt read before the failure still counts
            if err.fmt is not None:
                session_cmds.resolve_format(err.fmt, defaults)
            continue
        assert inv is not None
        letter = session_cmds.resolve_format(inv.args.get("fmt"), defaults)
        if inv.spec.key == "print" and not inv.needs_registers:
            assert session_cmds.format_print(inv.args["val"], letter) == qemu, line


def test_help_log_is_that_of_the_served_release() -> None:
    """help log prints the log items of the release served, as captured from it."""
    from hmpbridge.commands import table_for
    from hmpbridge.handlers.session_cmds import help_text

    seven, ten = help_text(table_for((7, 2)), "log"), help_text(table_for((10, 0)), "log")
    assert "op_plugin" not in seven and "op_plugin       show micro ops before plugin" in ten
    assert help_text(table_for((11, 1)), "log") == ten
    assert help_text(table_for((8, 0)), "log") == seven  # no capture of its own: 7.2's
