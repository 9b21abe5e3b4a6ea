"""Write each QEMU release's HMP command tables as data: ``hmpbridge/tables/X.Y.json``.

    python -m hmpbridge.tablegen --release 10.0 --git /path/to/qemu.git --commit 7c949c53e9
    python -m hmpbridge.tablegen --release 10.0 --dir /path/to/qemu-10.0.2
    python -m hmpbridge.tablegen --release 11.1 --program /path/to/qemu-system-x86_64
    python -m hmpbridge.tablegen --release 11.1 --deb qemu-system-x86_1%3a11.1.3+ds-1_amd64.deb
    python -m hmpbridge.tablegen --all [--git MIRROR] [--program PATH | --deb PATH]

From sources, ``hmp-commands.hx`` and ``hmp-commands-info.hx`` are read by
:mod:`hmpbridge.hx` for Debian's ``qemu-system-x86_64`` configuration of that
release; from a program (or the Debian package that holds it), the tables it
was compiled with are read by :mod:`hmpbridge.hmp_elf`.  ``--all`` makes
every release of :data:`RELEASES` from its recorded source.

The JSON is stable: ``release``, ``source``, ``build``, ``target``,
``config`` (the symbols the ``#if`` lines were evaluated with, or null for a
program), ``commands`` and ``info``, each a list in table order of entries
with sorted keys ``args_type``, ``cmd``, ``cmd_info_hrt``, ``completion``,
``coroutine``, ``flags``, ``help``, ``name``, ``params``, ``sub_table``,
``targets`` (empty: every target; see :attr:`hmpbridge.hx.HxEntry.targets`).
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from hmpbridge import hmp_elf, hx

__all__ = ["RELEASES", "ReleaseSource", "render", "from_hx", "from_program", "main"]

#: What ``build`` says in every table.
BUILD = "Debian x86_64 qemu-system-x86_64"

#: The target of that build (``SysEmuTarget``), for entries kept for several targets.
TARGET = "x86_64"

#: Where the tables go.
TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tables")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The full-history mirror of qemu.git the release commits come from.
DEFAULT_MIRROR = "/work/.mirror/pbo-linaro+qemu-ci/repo"

_PROGRAM_IN_DEB = "./usr/bin/qemu-system-x86_64"


@dataclass(frozen=True)
class ReleaseSource:
    """Where one release's table comes from.

    :ivar release: ``"X.Y"``.
    :ivar commit: the qemu.git commit whose ``.hx`` files are read, or
    :ivar debian: the Debian version of ``qemu-system-x86`` whose program is read.
    :ivar source: what the JSON's ``source`` says.
    """

    release: str
    source: str
    commit: Optional[str] = None
    debian: Optional[str] = None


def _tag(release: str, commit: str) -> ReleaseSource:
    return ReleaseSource(release, f"qemu.git v{release}.0 ({commit[:10]})", commit=commit)


#: Every release with a table, and its source.
RELEASES: Tuple[ReleaseSource, ...] = (
    _tag("7.2", "b67b00e6b4c7831a3f5bc684bc0df7a9bfd1bd56"),
    _tag("8.0", "c1eb2ddf0f8075faddc5f7c3d39feae3e8e9d6b4"),
    _tag("8.1", "7e5a8bb22368b3555644cb2debd3df24592f3a21"),
    _tag("8.2", "1600b9f46b1bd08b00fe86c46ef6dbb48cbe10d6"),
    _tag("9.0", "c25df57ae8f9fe1c72eee2dab37d76d904ac382e"),
    _tag("9.1", "fd1952d814da738ed107e05583b3e02ac11e88ff"),
    _tag("9.2", "ae35f033b874c627d81d51070187fbf55f0bf1a7"),
    _tag("10.0", "7c949c53e936aa3a658d84ab53bae5cadaa5d59c"),
    _tag("10.1", "f8b2f64e2336a28bf0d50b6ef8a7d8c013e9bcf3"),
    _tag("10.2", "698104725efad4b29079d857dfdebbd804e34c99"),
    ReleaseSource(
        "11.0",
        "qemu.git master of 2026-02-13 (ece408818d, VERSION 10.2.50): 11.0 in development, "
        "two months before its release; no 11.0 release source could be had",
        commit="ece408818d27f745ef1b05fb3cc99a1e7a5bf580",
    ),
    ReleaseSource(
        "11.1",
        "Debian binary package qemu-system-x86 1:11.1.3+ds-1 (amd64): the tables compiled "
        "into its qemu-system-x86_64; the source package could not be had",
        debian="1:11.1.3+ds-1",
    ),
)


def release_tuple(text: str) -> Tuple[int, int]:
    """``"10.0"`` -> ``(10, 0)``."""
    major, _, minor = text.partition(".")
    return int(major), int(minor)


def _entry_json(e: hx.HxEntry) -> Dict[str, object]:
    return {
        "args_type": e.args_type,
        "cmd": e.cmd,
        "cmd_info_hrt": e.cmd_info_hrt,
        "completion": e.command_completion,
        "coroutine": e.coroutine,
        "flags": e.flags,
        "help": e.help,
        "name": e.name,
        "params": e.params,
        "sub_table": e.sub_table,
        "targets": list(e.targets),
    }


def render(release: str, source: str, config: Optional[Sequence[str]],
           commands: Sequence[hx.HxEntry], info: Sequence[hx.HxEntry]) -> str:
    """The JSON text of one release's tables."""
    doc = {
        "release": release,
        "source": source,
        "build": BUILD,
        "target": TARGET,
        "config": None if config is None else sorted(config),
        "commands": [_entry_json(e) for e in commands],
        "info": [_entry_json(e) for e in info],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def from_hx(release: str, source: str, top_hx: str, info_hx: str) -> str:
    """The JSON of a release read from its two ``.hx`` texts."""
    symbols = hx.debian_x86_64(release_tuple(release))
    return render(release, source, sorted(symbols),
                  hx.read_hx(top_hx, symbols), hx.read_hx(info_hx, symbols))


def from_program(release: str, source: str, program: bytes) -> str:
    """The JSON of a release read from its ``qemu-system-x86_64`` program."""
    tables = hmp_elf.read_program(program)
    return render(release, source, None, tables.commands, tables.info)


def git_show(git_dir: str, commit: str, path: str) -> str:
    """One file of one commit of a (bare) git repository."""
    if not os.path.isdir(git_dir):
        raise FileNotFoundError(f"no git repository at {git_dir}")
    done = subprocess.run(["git", "-C", git_dir, "show", f"{commit}:{path}"],
                          capture_output=True)
    if done.returncode:
        raise LookupError(f"git -C {git_dir} show {commit}:{path}: "
                          f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode("utf-8")


def program_from_deb(deb: bytes) -> bytes:
    """``/usr/bin/qemu-system-x86_64`` out of a ``qemu-system-x86`` package's bytes."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = deb[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".xz"):
            body = lzma.decompress(body)
        elif name != "data.tar":
            raise ValueError(f"unsupported member {name}")
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            member = tar.extractfile(_PROGRAM_IN_DEB)
            if member is None:
                raise ValueError(f"{_PROGRAM_IN_DEB} is not a file in the package")
            return member.read()
    raise ValueError("the package has no data.tar member")


def default_program_paths() -> List[str]:
    """Where ``--all`` looks for 11.1's program: unpacked, then as its package."""
    releases = os.environ.get("HMPBRIDGE_QEMU_RELEASES", os.path.join(_ROOT, ".qemu"))
    debs = os.environ.get("HMPBRIDGE_QEMU_DEBS",
                          os.path.join(_ROOT, "..", "shared", "qemu-debs"))
    return [os.path.join(releases, "11.1.3", "root", "usr", "bin", "qemu-system-x86_64"),
            os.path.join(debs, "sid-11.1.3", "qemu-system-x86_1%3a11.1.3+ds-1_amd64.deb")]


def generate(rs: ReleaseSource, git_dir: str, program: Optional[str] = None) -> str:
    """The JSON of one release of :data:`RELEASES` from its recorded source."""
    if rs.commit is not None:
        return from_hx(rs.release, rs.source,
                       git_show(git_dir, rs.commit, "hmp-commands.hx"),
                       git_show(git_dir, rs.commit, "hmp-commands-info.hx"))
    candidates = [program] if program else default_program_paths()
    for path in candidates:
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            if path.endswith(".deb"):
                data = program_from_deb(data)
            return from_program(rs.release, rs.source, data)
    raise FileNotFoundError(f"no program for {rs.release}: looked at {', '.join(candidates)}")


def _write(out_dir: str, release: str, text: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{release}.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hmpbridge.tablegen",
        description="Write a QEMU release's HMP command tables as hmpbridge/tables/X.Y.json.")
    parser.add_argument("--release", help="X.Y: the release the table is for")
    parser.add_argument("--all", action="store_true",
                        help="every release of the built-in list, from its recorded source")
    parser.add_argument("--git", metavar="GIT_DIR", help=f"a qemu.git (default {DEFAULT_MIRROR})")
    parser.add_argument("--commit", help="with --git: the commit to read")
    parser.add_argument("--dir", metavar="QEMU_SOURCE", help="a QEMU source tree")
    parser.add_argument("--program", help="a qemu-system-x86_64 program to read the tables of")
    parser.add_argument("--deb", help="a qemu-system-x86 package to read the program of")
    parser.add_argument("--source", help="what the JSON's source says (default: from the input)")
    parser.add_argument("--out", default=TABLES, help="the folder to write to")
    opts = parser.parse_args(argv)
    try:
        return _run(parser, opts)
    except (OSError, LookupError, ValueError) as exc:  # hx.HxError and ElfError are ValueErrors
        print(f"tablegen: {exc}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, opts: argparse.Namespace) -> int:
    git_dir = opts.git or DEFAULT_MIRROR

    if opts.all:
        for rs in RELEASES:
            text = generate(rs, git_dir, opts.program or opts.deb)
            print(_write(opts.out, rs.release, text))
        return 0
    if not opts.release:
        parser.error("--release X.Y or --all")
    release_tuple(opts.release)
    if opts.dir:
        texts: List[str] = []
        for name in ("hmp-commands.hx", "hmp-commands-info.hx"):
            with open(os.path.join(opts.dir, name), encoding="utf-8") as f:
                texts.append(f.read())
        source = opts.source or f"QEMU source tree {os.path.basename(os.path.abspath(opts.dir))}"
        out = from_hx(opts.release, source, texts[0], texts[1])
    elif opts.commit:
        recorded = [rs.source for rs in RELEASES
                    if rs.release == opts.release and rs.commit
                    and rs.commit.startswith(opts.commit.lower())]
        source = opts.source or (recorded[0] if recorded else f"qemu.git {opts.commit[:10]}")
        out = from_hx(opts.release, source, git_show(git_dir, opts.commit, "hmp-commands.hx"),
                      git_show(git_dir, opts.commit, "hmp-commands-info.hx"))
    elif opts.program or opts.deb:
        path = opts.program or opts.deb
        with open(path, "rb") as f:
            data = f.read()
        if opts.deb:
            data = program_from_deb(data)
        source = opts.source or f"the program {os.path.basename(path)}"
        out = from_program(opts.release, source, data)
    else:
        known = {rs.release: rs for rs in RELEASES}
        if opts.release not in known:
            parser.error(f"no recorded source for {opts.release}: give --git/--commit, "
                         "--dir, --program or --deb")
        out = generate(known[opts.release], git_dir)
    print(_write(opts.out, opts.release, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
