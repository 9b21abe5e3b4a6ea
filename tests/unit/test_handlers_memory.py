"""memsave, pmemsave and dumpdtb: the QMP they send and what they print."""

from __future__ import annotations

from typing import Optional

from hmpbridge.handlers import Context, _load_all
from hmpbridge.model import QMPCommand, SessionState
from hmpbridge.testing import CannedReplies, generic_error, run_line

_load_all()


def run(line: str, ctx: Optional[Context] = None, error: Optional[str] = None) -> tuple:
    """The text printed for ``line`` and the commands sent."""
    script = CannedReplies(default=None if error is None else generic_error(error))
    return run_line(line, script, ctx), script.sent


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
