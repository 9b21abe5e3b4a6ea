"""``dump-guest-memory``: QEMU's ``hmp_dump_guest_memory`` (``dump/dump-hmp-cmds.c``).

HMP refuses more than one format flag, then calls ``dump-guest-memory`` with
``paging``, ``protocol: "file:<name>"``, ``detach`` and ``format`` always
given, and ``begin``/``length`` when written.  Without ``-d`` the QMP command
itself runs the dump to the end before it answers, so nothing needs polling;
with ``-d`` it returns at once and ``info dump`` follows the progress.
QEMU 8.2 added ``-R``: with ``-z``, ``-l`` or ``-s`` it asks for the raw
kdump form (``kdump-raw-zlib`` ...); alone, or with ``-w``, it changes nothing.
"""

from __future__ import annotations

from typing import Any, Dict

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.misc import before_8_2_file_error
from hmpbridge.model import Invocation, QMPCommand

__all__ = ["dump_guest_memory", "dump_format", "ONLY_ONE_FORMAT"]

ONLY_ONE_FORMAT = "Error: only one of '-z|-l|-s|-w' can be set\n"

#: How a dump file QEMU could not create was reported before 8.2.
_DUMP_OPEN = "Could not open '"

#: flag key -> DumpGuestMemoryFormat, in the order HMP applies them.
_FORMATS = (("windmp", "win-dmp"), ("zlib", "kdump-zlib"), ("lzo", "kdump-lzo"),
            ("snappy", "kdump-snappy"))


#: The kdump formats that have a raw form (``-R``, 8.2).
_RAW = {"kdump-zlib": "kdump-raw-zlib", "kdump-lzo": "kdump-raw-lzo",
        "kdump-snappy": "kdump-raw-snappy"}


def dump_format(args: Dict[str, Any]) -> str:
    """The format the flags ask for (``elf`` when none); at most one may be set."""
    chosen = "elf"
    for key, name in _FORMATS:
        if args.get(key):
            chosen = name
    if args.get("raw"):
        chosen = _RAW.get(chosen, chosen)
    return chosen


@handler("dump-guest-memory")
def dump_guest_memory(inv: Invocation, ctx: Context) -> HandlerResult:
    """``dump-guest-memory [-p] [-d] [-z|-l|-s|-w] [-R] filename [begin length]``."""
    args = dict(inv.args)
    if sum(bool(args.get(key)) for key, _ in _FORMATS) > 1:
        return ONLY_ONE_FORMAT
    qmp: Dict[str, Any] = {"paging": bool(args.get("paging")),
                           "protocol": "file:" + args["filename"],
                           "detach": bool(args.get("detach"))}
    for key in ("begin", "length"):
        if key in args:
            qmp[key] = args[key]
    qmp["format"] = dump_format(args)
    try:
        yield QMPCommand("dump-guest-memory", qmp)
    except QMPCommandError as err:
        if err.desc == _NO_VMCOREINFO_11 and not ctx.profile.since(11, 0):
            return f"Error: {_NO_VMCOREINFO_OLD}\n"
        return f"Error: {before_8_2_file_error(err.desc, ctx, _DUMP_OPEN)}\n"
    return ""


#: ``-w`` on a guest that wrote no vmcoreinfo note: QEMU 11.1.3's words (not
#: yet in the sources of 2026-02, so taken as 11.0's); every release up to
#: 10.2 said :data:`_NO_VMCOREINFO_OLD`.
_NO_VMCOREINFO_11 = "win-dump: no vmcoreinfo note from the guest"
_NO_VMCOREINFO_OLD = "win-dump: invalid vmcoreinfo note size"
