"""memsave, pmemsave and dumpdtb: the QMP they send and what they print."""

from __future__ import annotations

from typing import Any, List, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.hmp_parser import parse
from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.render.errors import render_error

_load_all()


def run(line: str, ctx: Optional[Context] = None, error: Optional[str] = None) -> tuple:
    """The text printed for ``line`` and the commands sent."""
    sent: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        if error is not None:
            raise QMPCommandError("GenericError", error, cmd.execute)
        return {}

    inv = parse(line)
    try:
        return drive(HANDLERS[inv.spec.key](inv, ctx or Context()), respond), sent
    except QMPCommandError as err:
        return render_error(err), sent


def test_memsave_uses_the_sessions_cpu() -> None:
    """When the session's current CPU is 1, memsave reads through CPU 1."""
    out, sent = run("memsave 0x1000 16 ./m", Context(state=SessionState(cpu_index=1)))
    assert out == ""
    assert sent == [QMPCommand("memsave", {"val": 0x1000, "size": 16, "filename": "./m",
                                           "cpu-index": 1})]


def test_pmemsave() -> None:
    """pmemsave sends the physical address, size and file name."""
    _, sent = run("pmemsave 0 0xffffffff ./p")
    assert sent == [QMPCommand("pmemsave", {"val": 0, "size": 0xffffffff, "filename": "./p"})]


def test_memsave_error() -> None:
    """When QEMU cannot open the file, its error is printed as Error: <desc>."""
    out, _ = run("memsave 0 16 nodir/m",
                 error="Could not open 'nodir/m': No such file or directory")
    assert out == "Error: Could not open 'nodir/m': No such file or directory\n"


def test_dumpdtb_reports_the_file() -> None:
    """When the FDT is written, QEMU's info line names the file."""
    out, sent = run("dumpdtb ./x.dtb")
    assert out == "info: dtb dumped to ./x.dtb\n"
    assert sent == [QMPCommand("dumpdtb", {"filename": "./x.dtb"})]


def test_dumpdtb_without_fdt() -> None:
    """When the machine has no FDT, only the error is printed."""
    out, _ = run("dumpdtb ./x.dtb", error="This machine doesn't have a FDT")
    assert out == "Error: This machine doesn't have a FDT\n"
