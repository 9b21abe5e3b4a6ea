"""``hmpbridge.hmp_elf``: the HMP tables compiled into a QEMU program, read back.

Small ELF programs are built here with both known ``HMPCommand`` layouts
(7.2 to 11.0, and 11.1's with a target mask); the real programs of QEMU
7.2 and 10.0, where this machine has them, give exactly the tables read
from the same releases' ``.hx`` files.  Corrupted programs raise
:class:`ElfError` and nothing else (a Hypothesis property).
"""

from __future__ import annotations

import io
import lzma
import os
import struct
import tarfile
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, strategies as st

from hmpbridge import hmp_elf, tablegen, tables
from hmpbridge.hx import HxEntry

TARGETS = ["aarch64", "i386", "s390x", "x86_64"]


class _Image:
    """A position-independent x86_64 ELF program, laid out at address == file offset."""

    def __init__(self) -> None:
        self.data = bytearray(0x100)
        self.relocs: List[Tuple[int, int, int, int]] = []  # (slot, type, symbol, addend)
        self.symbols: List[Tuple[str, int, int]] = [("", 0, 0)]  # (name, info, value)
        self.strings: Dict[str, int] = {}

    def put(self, blob: bytes, align: int = 16) -> int:
        self.data += b"\0" * (-len(self.data) % align)
        addr = len(self.data)
        self.data += blob
        return addr

    def string(self, text: str) -> int:
        if text not in self.strings:
            self.strings[text] = self.put(b"\0" + text.encode() + b"\0", 1) + 1
        return self.strings[text]

    def function(self, name: str) -> int:
        for sym, _, value in self.symbols:
            if sym == name:
                return value
        addr = self.put(b"\xc3" * 16)  # ret
        self.symbols.append((name, 0x12, addr))  # GLOBAL FUNC
        return addr

    def pointer(self, slot: int, target: int) -> None:
        self.relocs.append((slot, 8, 0, target))  # R_X86_64_RELATIVE

    def symbol_pointer(self, slot: int, name: str) -> None:
        self.function(name)
        index = [s[0] for s in self.symbols].index(name)
        self.relocs.append((slot, 1, index, 0))  # R_X86_64_64

    def build(self) -> bytes:
        dynstr = b"\0"
        names = {}
        for name, _, _ in self.symbols[1:]:
            names[name] = len(dynstr)
            dynstr += name.encode() + b"\0"
        dynsym = b"".join(struct.pack("<IBBHQQ", names.get(n, 0), info, 0, 1 if v else 0, v, 0)
                          for n, info, v in self.symbols)
        rela = b"".join(struct.pack("<QQq", slot, sym << 32 | rtype, addend)
                        for slot, rtype, sym, addend in self.relocs)
        sym_off = self.put(dynsym, 8)
        str_off = self.put(dynstr, 1)
        rela_off = self.put(rela, 8)
        shoff = self.put(b"", 8)
        sections = [
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            (0, 11, 2, sym_off, sym_off, len(dynsym), 2, 1, 8, 24),
            (0, 3, 2, str_off, str_off, len(dynstr), 0, 0, 1, 0),
            (0, 4, 2, rela_off, rela_off, len(rela), 1, 0, 8, 24),
        ]
        self.data += b"".join(struct.pack("<IIQQQQIIQQ", *s) for s in sections)
        size = len(self.data)
        header = (b"\x7fELF\x02\x01\x01" + b"\0" * 9
                  + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, shoff, 0, 64, 56, 1, 64,
                                len(sections), 0))
        phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
        self.data[0:64 + 56] = header + phdr
        return bytes(self.data)


def build_program(commands: Sequence[HxEntry], info: Sequence[HxEntry], layout: str,
                  masks: Optional[Dict[str, int]] = None) -> bytes:
    """A program holding ``commands`` (one of them with ``sub_table``) and ``info``."""
    img = _Image()
    masks = masks or {}
    offsets = ({"cmd": 40, "hrt": 48, "coroutine": 56, "sub": 64, "completion": 72, "mask": None}
               if layout == "7.2" else
               {"cmd": 40, "hrt": 48, "sub": 56, "completion": 64, "mask": 72, "coroutine": 76})

    def table(entries: Sequence[HxEntry], sub_addr: int) -> int:
        start = img.put(b"\0" * 80 * (len(entries) + 1), 32)
        for i, e in enumerate(entries):
            base = start + 80 * i
            for k, text in enumerate((e.name, e.args_type, e.params, e.help)):
                img.pointer(base + 8 * k, img.string(text))
            if e.flags:
                img.pointer(base + 32, img.string(e.flags))
            if e.cmd:
                img.pointer(base + offsets["cmd"], img.function("hmp_" + e.name.split("|")[0]))
            if e.cmd_info_hrt:
                img.pointer(base + offsets["hrt"], img.function("qmp_x_query_" + e.name))
            if e.sub_table:
                img.pointer(base + offsets["sub"], sub_addr)
            if e.command_completion:
                img.symbol_pointer(base + offsets["completion"], e.command_completion)
            img.data[base + offsets["coroutine"]] = int(e.coroutine)
            if offsets["mask"] is not None:
                where = base + offsets["mask"]
                img.data[where:where + 4] = struct.pack("<I", masks.get(e.name, 0))
        return start

    info_addr = table(info, 0)
    table(commands, info_addr)
    if layout == "11.1":
        array = img.put(b"\0" * 8 * len(TARGETS), 8)
        for i, target in enumerate(TARGETS):
            img.pointer(array + 8 * i, img.string(target))
        lookup = img.put(b"\0" * 16 + struct.pack("<i", len(TARGETS)) + b"\0" * 4, 8)
        img.pointer(lookup, array)
        img.symbols.append(("SysEmuTarget_lookup", 0x11, lookup))  # GLOBAL OBJECT
    return img.build()


HELP = HxEntry("help|?", "name:S?", "[cmd]", "show the help", flags="p", cmd=True)
INFO = HxEntry("info", "item:s?", "[subcommand]", "show various information", flags="p",
               cmd=True, sub_table="hmp_info_cmds")
COMMANDS = [
    HELP,
    HxEntry("block_job_cancel", "force:-f,device:B", "[-f] device",
            "stop (use -f\n\t\t\t if you want)", cmd=True,
            command_completion="block_job_completion"),
    HxEntry("screendump", "filename:F", "filename", "save screen", cmd=True, coroutine=True),
    INFO,
    HxEntry("dump-skeys", "filename:F", "", "Save guest storage keys.\n", cmd=True),
    HxEntry("mce", "broadcast:-b,cpu_index:i", "[-b] cpu", "inject a MCE", cmd=True),
]
INFO_COMMANDS = [
    HxEntry("version", "", "", "show the version of QEMU", flags="p", cmd=True),
    HxEntry("irq", "", "", "show the interrupts statistics", cmd_info_hrt=True),
    HxEntry("skeys", "addr:l", "address", "Display the value of a storage key", cmd=True),
    HxEntry("via", "", "", "show guest mos6522 VIA devices", cmd=True),
]
#: 11.1's masks: bit n is the program's n-th target
MASKS = {"dump-skeys": 1 << 2, "skeys": 1 << 2, "mce": 1 << 1 | 1 << 3}


def test_the_7_2_layout_is_read_back() -> None:
    program = build_program(COMMANDS, INFO_COMMANDS, "7.2")
    got = hmp_elf.read_program(program)
    assert got == hmp_elf.HMPTables(tuple(COMMANDS), tuple(INFO_COMMANDS))


def test_the_11_1_layout_names_the_targets_of_each_entry() -> None:
    program = build_program(COMMANDS, INFO_COMMANDS, "11.1", MASKS)
    got = hmp_elf.read_program(program)
    assert [e.name for e in got.commands] == [e.name for e in COMMANDS]
    assert [e.name for e in got.info] == [e.name for e in INFO_COMMANDS]
    targets = {e.name: e.targets for e in got.commands + got.info}
    assert targets == {"help|?": (), "block_job_cancel": (), "screendump": (), "info": (),
                       "dump-skeys": ("s390x",), "mce": ("i386", "x86_64"), "version": (),
                       "irq": (), "skeys": ("s390x",), "via": ()}
    x86 = [e.name for e in got.commands + got.info if e.available_on("x86_64")]
    assert "dump-skeys" not in x86 and "skeys" not in x86 and "mce" in x86 and "via" in x86
    assert [e.name for e in got.commands if e.available_on("s390x")] == [
        "help|?", "block_job_cancel", "screendump", "info", "dump-skeys"]
    assert got.commands[1].command_completion == "block_job_completion"
    assert got.commands[2].coroutine and not got.commands[1].coroutine
    assert got.info[1].cmd_info_hrt and not got.info[1].cmd


def test_a_mask_beyond_the_known_targets_finds_no_table() -> None:
    program = build_program(COMMANDS, INFO_COMMANDS, "11.1", {"mce": 1 << len(TARGETS)})
    with pytest.raises(hmp_elf.ElfError, match="found 0 HMP command tables"):
        hmp_elf.read_program(program)


@pytest.mark.parametrize("data, message", [
    (b"", "not a 64-bit little-endian ELF"),
    (b"#!/bin/sh\nexec qemu\n", "not a 64-bit little-endian ELF"),
    (b"\x7fELF\x01\x01\x01" + b"\0" * 60, "not a 64-bit little-endian ELF"),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 11 + b"\x28\x00" + b"\0" * 50, "not an x86_64 program"),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 11 + b"\x3e\x00" + b"\0" * 10, "not a readable ELF"),
])
def test_not_a_program(data: bytes, message: str) -> None:
    with pytest.raises(hmp_elf.ElfError, match=message):
        hmp_elf.read_program(data)


def test_a_program_without_tables() -> None:
    program = build_program([HELP], [], "7.2")  # no info entry: no sub table
    with pytest.raises(hmp_elf.ElfError, match="found 0 HMP command tables"):
        hmp_elf.read_program(program)


@given(st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
                max_size=6),
       st.integers(0, 1 << 20))
def test_a_corrupted_program_reads_or_raises_elf_error(patches, cut) -> None:
    data = bytearray(build_program(COMMANDS, INFO_COMMANDS, "11.1", MASKS))
    for where, blob in patches:
        where %= len(data)
        data[where:where + len(blob)] = blob
    data = data[:max(cut % (len(data) + 1), 0)] if cut % 3 == 0 else data
    try:
        got = hmp_elf.read_program(bytes(data))
    except hmp_elf.ElfError:
        return
    assert all(isinstance(e, HxEntry) for e in got.commands + got.info)


# -- the real programs ------------------------------------------------------------------------

RELEASES_DIR = os.environ.get("HMPBRIDGE_QEMU_RELEASES",
                              os.path.join(os.path.dirname(tablegen.TABLES), "..", ".qemu"))
PROGRAMS = [
    ("7.2", "/usr/bin/qemu-system-x86_64"),
    ("10.0", os.path.join(RELEASES_DIR, "10.0.2", "root", "usr", "bin", "qemu-system-x86_64")),
]


@pytest.mark.parametrize("release, path", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_a_real_program_holds_the_table_of_its_hx_files(release: str, path: str) -> None:
    """The reader agrees with the ``.hx`` files field by field, order and completions included."""
    if not os.path.exists(path):
        pytest.skip(f"QEMU {release}'s program {path} is not on this machine")
    with open(path, "rb") as f:
        got = hmp_elf.read_program(f.read())
    table = tables.load(release)
    assert got.commands == table.commands
    assert got.info == table.info


def _deb(members: Dict[str, bytes]) -> bytes:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    out = b"!<arch>\n"
    for name, body in (("debian-binary", b"2.0\n"), ("control.tar.xz", lzma.compress(b"")),
                       ("data.tar.xz", lzma.compress(tar_bytes.getvalue()))):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) & 1 else b""
    return out


def test_the_program_is_taken_out_of_its_package() -> None:
    deb = _deb({"./usr/share/doc/x": b"doc", "./usr/bin/qemu-system-x86_64": b"\x7fELF..."})
    assert tablegen.program_from_deb(deb) == b"\x7fELF..."
    with pytest.raises(ValueError, match="no ar header"):
        tablegen.program_from_deb(b"PK\x03\x04")
    with pytest.raises(KeyError):
        tablegen.program_from_deb(_deb({"./usr/bin/other": b""}))
