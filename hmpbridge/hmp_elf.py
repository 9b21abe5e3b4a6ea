"""The HMP command tables compiled into a QEMU x86_64 program, read from its ELF bytes.

Where a release's sources cannot be had, its build still holds the tables
that ``hmp-commands.hx`` and ``hmp-commands-info.hx`` became: the
``static HMPCommand hmp_cmds[]`` and ``hmp_info_cmds[]`` arrays, in source
order (QEMU sorts them in memory when the monitor starts), with the build's
own ``#if`` choices already made.  :func:`read_program` finds them in a
position-independent x86_64 executable and returns them as
:class:`~hmpbridge.hx.HxEntry` tuples:

- the top-level array is the one whose first ``.name`` points at ``"help|?"``
  and that holds an entry with a ``.sub_table`` (``info``), which points at
  the info array;
- each pointer is the addend of its ``R_X86_64_RELATIVE`` relocation (or the
  value of the symbol of an ``R_X86_64_64`` one); a slot with neither is
  ``NULL``;
- ``.command_completion`` is named by the dynamic symbol at its address
  (QEMU exports its symbols for its loadable modules).

Two layouts of QEMU's ``HMPCommand`` (LP64, 80 bytes) are known, and the one
whose pointers make sense is taken:

- 7.2 to 11.0: ``name``, ``args_type``, ``params``, ``help``, ``flags``,
  ``cmd``, ``cmd_info_hrt``, ``coroutine``, ``sub_table``,
  ``command_completion``;
- 11.1 (one program for several targets): ``cmd``, ``cmd_info_hrt``,
  ``sub_table``, ``command_completion``, then a 32-bit mask of the targets
  the command is for (bit *n* is ``SysEmuTarget`` value *n*; 0: every
  target) and ``coroutine``.  What the ``#if defined(TARGET_...)`` of older
  releases chose at build time is chosen when QEMU runs: each entry keeps
  the names of its targets (:attr:`HxEntry.targets`, read from the program's
  own ``SysEmuTarget_lookup``), and :meth:`HxEntry.available_on` tells
  whether a target has it.

Pure: bytes in, entries out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from hmpbridge.hx import HxEntry

__all__ = ["ElfError", "HMPTables", "read_program"]

_ENTRY_SIZE = 80


@dataclass(frozen=True)
class _Layout:
    """Where each field of ``HMPCommand`` sits (byte offsets); ``targets`` may be absent."""

    name: str
    cmd: int
    cmd_info_hrt: int
    coroutine: int
    sub_table: int
    command_completion: int
    targets: Optional[int]


_LAYOUTS = (
    _Layout("7.2", cmd=40, cmd_info_hrt=48, coroutine=56, sub_table=64,
            command_completion=72, targets=None),
    _Layout("11.1", cmd=40, cmd_info_hrt=48, sub_table=56, command_completion=64,
            targets=72, coroutine=76),
)

_PT_LOAD = 1
_SHT_RELA = 4
_SHT_DYNSYM = 11
_R_X86_64_64 = 1
_R_X86_64_RELATIVE = 8
_STT_FUNC = 2


class ElfError(ValueError):
    """The bytes are not an x86_64 ELF program with HMP tables this reader finds."""


@dataclass(frozen=True)
class HMPTables:
    """The two arrays: top-level commands and ``info`` subcommands, in source order."""

    commands: Tuple[HxEntry, ...]
    info: Tuple[HxEntry, ...]


class _Program:
    def __init__(self, data: bytes) -> None:
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ElfError("not a 64-bit little-endian ELF file")
        (e_machine,) = struct.unpack_from("<H", data, 18)
        if e_machine != 62:
            raise ElfError(f"not an x86_64 program (e_machine {e_machine})")
        self.data = data
        e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
        e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 54)
        self.segments: List[Tuple[int, int, int]] = []  # (vaddr, offset, filesz)
        for i in range(e_phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", data, e_phoff + i * e_phentsize)
            if p_type == _PT_LOAD:
                self.segments.append((p_vaddr, p_offset, p_filesz))
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
                    for i in range(e_shnum)]
        self.relocs: Dict[int, Tuple[int, int, int]] = {}  # slot -> (type, symbol, addend)
        self.symbols: Dict[int, str] = {}
        symtab: List[Tuple[str, int]] = []
        for sh in sections:
            if sh[1] == _SHT_DYNSYM:
                strtab = sections[sh[6]]
                for j in range(sh[5] // 24):
                    st_name, st_info, _, _, st_value, _ = struct.unpack_from(
                        "<IBBHQQ", data, sh[4] + j * 24)
                    name = self._cstring_at(strtab[4] + st_name)
                    symtab.append((name, st_value))
                    if st_info & 0xF == _STT_FUNC and st_value:
                        # several names for one address: keep the first in name order
                        old = self.symbols.get(st_value)
                        if old is None or name < old:
                            self.symbols[st_value] = name
        for sh in sections:
            if sh[1] == _SHT_RELA:
                for r_offset, r_info, r_addend in struct.iter_unpack(
                        "<QQq", data[sh[4]:sh[4] + sh[5]]):
                    self.relocs[r_offset] = (r_info & 0xFFFFFFFF, r_info >> 32, r_addend)
        self.symtab = symtab

    def offset(self, vaddr: int) -> int:
        for seg_vaddr, seg_offset, filesz in self.segments:
            if seg_vaddr <= vaddr < seg_vaddr + filesz:
                return seg_offset + vaddr - seg_vaddr
        raise ElfError(f"address {vaddr:#x} is in no loaded part of the file")

    def vaddr(self, offset: int) -> Optional[int]:
        for seg_vaddr, seg_offset, filesz in self.segments:
            if seg_offset <= offset < seg_offset + filesz:
                return seg_vaddr + offset - seg_offset
        return None

    def _cstring_at(self, offset: int) -> str:
        end = self.data.index(b"\0", offset)
        return self.data[offset:end].decode("utf-8")

    def pointer(self, slot: int) -> int:
        """The value the dynamic loader puts in the 8 bytes at address ``slot``."""
        reloc = self.relocs.get(slot)
        if reloc is None:
            (value,) = struct.unpack_from("<Q", self.data, self.offset(slot))
            return int(value)
        rtype, sym, addend = reloc
        if rtype == _R_X86_64_RELATIVE:
            return addend
        if rtype == _R_X86_64_64:
            return self.symtab[sym][1] + addend
        raise ElfError(f"unexpected relocation type {rtype} at {slot:#x}")

    def string(self, vaddr: int) -> str:
        return self._cstring_at(self.offset(vaddr))

    def table(self, start: int, layout: _Layout, target_names: Sequence[str]
              ) -> Tuple[List[HxEntry], List[int]]:
        """The entries of the array at ``start`` up to its ``NULL`` name, and their sub tables.

        ``target_names``: the names of the bits of the layout's target masks.
        """
        entries: List[HxEntry] = []
        subs: List[int] = []
        base = start
        while True:
            name = self.pointer(base)
            if not name:
                return entries, subs
            strings = [self.pointer(base + o) for o in (8, 16, 24)]
            if not all(strings):
                raise ElfError(f"entry at {base:#x} has no .args_type, .params or .help")
            flags = self.pointer(base + 32)
            sub = self.pointer(base + layout.sub_table)
            completion = self.pointer(base + layout.command_completion)
            if sub and sub in self.symbols:
                raise ElfError(f"entry at {base:#x}: .sub_table is a function")
            if completion and completion not in self.symbols:
                raise ElfError(f"entry at {base:#x}: .command_completion is no function")
            mask = 0
            if layout.targets is not None:
                (mask,) = struct.unpack_from("<I", self.data, self.offset(base + layout.targets))
            if mask >> len(target_names):
                raise ElfError(f"entry at {base:#x}: target mask {mask:#x} names no target")
            args_type, params, help_ = (self.string(v) for v in strings)
            if sub:
                subs.append(sub)
            entries.append(HxEntry(
                name=self.string(name),
                args_type=args_type,
                params=params,
                help=help_,
                flags=self.string(flags) if flags else "",
                cmd=bool(self.pointer(base + layout.cmd)),
                cmd_info_hrt=bool(self.pointer(base + layout.cmd_info_hrt)),
                coroutine=self.data[self.offset(base + layout.coroutine)] != 0,
                command_completion=self.symbols[completion] if completion else None,
                sub_table="hmp_info_cmds" if sub else None,
                targets=tuple(t for bit, t in enumerate(target_names) if mask >> bit & 1),
            ))
            base += _ENTRY_SIZE

    def target_names(self) -> List[str]:
        """The program's ``SysEmuTarget_lookup``: target *n* is bit *n* of a target mask."""
        lookup = [value for name, value in self.symtab if name == "SysEmuTarget_lookup"]
        if not lookup:
            raise ElfError("the program has no SysEmuTarget_lookup")
        array = self.pointer(lookup[0])
        (size,) = struct.unpack_from("<i", self.data, self.offset(lookup[0] + 16))
        if not 0 < size <= 32:
            raise ElfError(f"SysEmuTarget_lookup has {size} targets")
        return [self.string(self.pointer(array + 8 * i)) for i in range(size)]


def read_program(data: bytes) -> HMPTables:
    """The HMP tables of the QEMU program whose file is ``data``."""
    try:
        prog = _Program(data)
    except (struct.error, IndexError, ValueError, OverflowError) as exc:  # and UnicodeDecodeError
        if isinstance(exc, ElfError):
            raise
        raise ElfError(f"not a readable ELF program: {exc}") from exc
    found: List[HMPTables] = []
    pos = data.find(b"\0help|?\0")
    while pos >= 0:
        name_addr = prog.vaddr(pos + 1)
        pos = data.find(b"\0help|?\0", pos + 1)
        if name_addr is None:
            continue
        for slot, (rtype, _, addend) in prog.relocs.items():
            if rtype != _R_X86_64_RELATIVE or addend != name_addr:
                continue
            for layout in _LAYOUTS:
                try:
                    names = prog.target_names() if layout.targets is not None else []
                    top, subs = prog.table(slot, layout, names)
                    if len(subs) != 1:
                        continue
                    info, info_subs = prog.table(subs[0], layout, names)
                except (struct.error, IndexError, ValueError, OverflowError):
                    continue
                if not info_subs:
                    found.append(HMPTables(tuple(top), tuple(info)))
    if len(found) != 1:
        raise ElfError(f"found {len(found)} HMP command tables, not one")
    return found[0]
