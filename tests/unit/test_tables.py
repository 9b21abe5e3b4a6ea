"""The generated HMP command tables (``hmpbridge/tables/X.Y.json``) and their loader.

* ``help`` and ``info`` rendered from the tables of 7.2, 10.0 and 11.1 are,
  byte for byte, what QEMU 7.2.22, 10.0.2 and 11.1.3 print
  (``tests/fixtures/releases/X.Y``, recorded by ``tests/tools/capture_help.py``);
* 7.2's table has the names, ``args_type``, params and help of the table
  that was written by hand before (``hmpbridge/commands.py`` of 07ef98a);
* every release from 7.2 to 11.1 has a table; ``nearest`` picks a QEMU's;
* regenerating each table from its recorded source gives the checked-in
  file (skipped where the source is not on this machine).
"""

from __future__ import annotations

import json
import os
from typing import Iterable

import pytest

from hmpbridge import tablegen, tables
from hmpbridge.hx import HxEntry

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
CAPTURED = ["7.2", "10.0", "11.1"]
ALL = ["7.2", "8.0", "8.1", "8.2", "9.0", "9.1", "9.2", "10.0", "10.1", "10.2", "11.0", "11.1"]


def listing(entries: Iterable[HxEntry], prefix: str = "") -> str:
    """What QEMU's ``help`` prints for a table: the x86_64 entries sorted by name
    (strcmp), one ``"%s%s %s -- %s\\n"`` each; the monitor turns every ``\\n``
    into ``\\r\\n``."""
    ordered = sorted((e for e in entries if not e.targets or "x86_64" in e.targets),
                     key=lambda e: e.name.encode())
    return "".join(prefix + e.help_line for e in ordered).replace("\n", "\r\n")


def fixture(release: str, name: str) -> str:
    with open(os.path.join(FIXTURES, release, name), encoding="utf-8", newline="") as f:
        return f.read()


@pytest.mark.parametrize("release", CAPTURED)
def test_help_is_what_that_qemu_prints(release: str) -> None:
    expected = fixture(release, "help.txt")
    assert listing(tables.load(release).commands) == expected
    assert tables.load(release).help_listing().replace("\n", "\r\n") == expected


@pytest.mark.parametrize("release", CAPTURED)
def test_info_is_what_that_qemu_prints(release: str) -> None:
    expected = fixture(release, "info.txt")
    assert listing(tables.load(release).info, "info ") == expected
    assert tables.load(release).help_listing(info=True).replace("\n", "\r\n") == expected


@pytest.mark.parametrize("release", CAPTURED)
@pytest.mark.parametrize("info", [False, True], ids=["help", "info"])
def test_before_machine_init_only_the_preconfig_commands_are_listed(release: str,
                                                                    info: bool) -> None:
    expected = fixture(release, "preconfig-info.txt" if info else "preconfig-help.txt")
    got = tables.load(release).help_listing(info=info, preconfig=True)
    assert got.replace("\n", "\r\n") == expected


@pytest.mark.parametrize("release", CAPTURED)
def test_the_fixture_names_the_qemu_that_printed_it(release: str) -> None:
    with open(os.path.join(FIXTURES, release, "qemu.json")) as f:
        qemu = json.load(f)
    assert qemu["release"] == release
    assert f"{qemu['version']['major']}.{qemu['version']['minor']}" == release
    assert qemu["package"].strip().startswith("Debian 1:")


def test_7_2_is_the_table_written_by_hand_before() -> None:
    with open(os.path.join(FIXTURES, "7.2", "commands-py.json")) as f:
        before = [tuple(row) for row in json.load(f)["commands"]]
    t = tables.load((7, 2))
    generated = [(e.name, e.args_type, e.params, e.help) for e in t.commands]
    generated += [("info " + e.name, e.args_type, e.params, e.help) for e in t.info]
    assert generated == before


def test_every_release_has_a_table() -> None:
    assert tables.releases() == tuple(tablegen.release_tuple(r) for r in ALL)
    assert [rs.release for rs in tablegen.RELEASES] == ALL
    for release in ALL:
        t = tables.load(release)
        assert t.release == tablegen.release_tuple(release)
        assert t.build == "Debian x86_64 qemu-system-x86_64"
        assert t.source
        assert t.commands[0].name == "help|?"
        (info,) = [e for e in t.commands if e.sub_table]
        assert info.name == "info" and info.sub_table == "hmp_info_cmds"
        assert len({e.name for e in t.commands}) == len(t.commands)
        assert len({e.name for e in t.info}) == len(t.info)


def test_sources_say_where_each_table_came_from() -> None:
    assert tables.load("10.0").source == "qemu.git v10.0.0 (7c949c53e9)"
    assert "master of 2026-02-13" in tables.load("11.0").source
    assert "qemu-system-x86 1:11.1.3+ds-1" in tables.load("11.1").source
    assert "CONFIG_SLIRP" in tables.load("7.2").config
    assert tables.load("11.1").config == ()


def test_load_is_cached_and_takes_either_form() -> None:
    assert tables.load((10, 0)) is tables.load("10.0")


def test_load_refuses_a_release_without_a_table() -> None:
    with pytest.raises(LookupError, match="no HMP command table for QEMU 6.2"):
        tables.load((6, 2))
    with pytest.raises(ValueError):
        tables.load("10")


@pytest.mark.parametrize("asked, got", [
    ((7, 2), (7, 2)), ((10, 0), (10, 0)), ((11, 1), (11, 1)),
    ((10, 3), (10, 2)), ((9, 3), (9, 2)), ((11, 2), (11, 1)), ((12, 0), (11, 1)),
    ((7, 1), (7, 2)), ((6, 2), (7, 2)), ((0, 0), (7, 2)),
])
def test_nearest(asked, got) -> None:
    assert tables.nearest(*asked) == got


def test_lookup_by_alias() -> None:
    t = tables.load("10.0")
    assert t.command("c") is t.command("cont")
    assert t.command("c") is not None and t.command("c").name == "cont|c"
    assert t.info_command("status") is not None
    assert t.command("frob") is None and t.info_command("frob") is None


def test_11_1_keeps_the_commands_of_other_targets_unlisted() -> None:
    t = tables.load("11.1")
    assert t.target == "x86_64"
    skeys = t.info_command("skeys")
    assert skeys is not None and skeys.targets == ("s390x",)
    assert not skeys.available_on(t.target)
    lapic = t.info_command("lapic")
    assert lapic is not None and lapic.targets == ("i386", "x86_64")
    assert lapic.available_on(t.target)
    assert "info skeys" not in t.help_listing(info=True)
    assert "info lapic" in t.help_listing(info=True)
    assert "dump-skeys" not in t.help_listing()
    for release in ALL[:-1]:  # the others were built for x86_64 alone
        earlier = tables.load(release)
        assert all(not e.targets for e in earlier.commands + earlier.info)
        assert earlier.info_command("skeys") is None


def test_known_drift_between_releases() -> None:
    """A few of the changes the tables carry (each checked against QEMU's git history)."""
    def names(release: str):
        t = tables.load(release)
        return ({a for e in t.commands for a in e.name.split("|")},
                {e.name for e in t.info})
    top72, info72 = names("7.2")
    top100, info100 = names("10.0")
    top111, info111 = names("11.1")
    assert "singlestep" in top72 and "singlestep" not in top100
    assert "one-insn-per-tb" in top100
    assert {"profile", "rdma"} <= info72 and not {"profile", "rdma"} & info100
    assert "cryptodev" in info100
    assert "clear" in top111 and "clear" not in top100


# -- regeneration -----------------------------------------------------------------------------

def _checked_in(release: str) -> str:
    with open(os.path.join(tablegen.TABLES, f"{release}.json"), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("rs", tablegen.RELEASES, ids=lambda rs: rs.release)
def test_regenerating_gives_the_checked_in_table(rs: tablegen.ReleaseSource) -> None:
    if rs.commit is not None:
        if not os.path.isdir(tablegen.DEFAULT_MIRROR):
            pytest.skip(f"the qemu.git mirror {tablegen.DEFAULT_MIRROR} is not on this machine")
    elif not any(os.path.exists(p) for p in tablegen.default_program_paths()):
        pytest.skip(f"QEMU {rs.release}'s program is neither unpacked nor packaged here "
                    f"({', '.join(tablegen.default_program_paths())})")
    assert tablegen.generate(rs, tablegen.DEFAULT_MIRROR) == _checked_in(rs.release)


def test_tablegen_cli_writes_one_release(tmp_path) -> None:
    if not os.path.isdir(tablegen.DEFAULT_MIRROR):
        pytest.skip(f"the qemu.git mirror {tablegen.DEFAULT_MIRROR} is not on this machine")
    assert tablegen.main(["--release", "10.0", "--git", tablegen.DEFAULT_MIRROR,
                          "--commit", "7c949c53e9", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "10.0.json").read_text(encoding="utf-8") == _checked_in("10.0")


def test_tablegen_reads_a_source_tree(tmp_path) -> None:
    """``--dir``: the two ``.hx`` files of a source tree (here, 10.0's, taken from the mirror)."""
    if not os.path.isdir(tablegen.DEFAULT_MIRROR):
        pytest.skip(f"the qemu.git mirror {tablegen.DEFAULT_MIRROR} is not on this machine")
    src = tmp_path / "qemu-10.0.0"
    src.mkdir()
    for name in ("hmp-commands.hx", "hmp-commands-info.hx"):
        (src / name).write_text(tablegen.git_show(tablegen.DEFAULT_MIRROR, "7c949c53e9", name),
                                encoding="utf-8")
    out = tmp_path / "out"
    assert tablegen.main(["--release", "10.0", "--dir", str(src), "--out", str(out),
                          "--source", "qemu.git v10.0.0 (7c949c53e9)"]) == 0
    assert (out / "10.0.json").read_text(encoding="utf-8") == _checked_in("10.0")


def test_tablegen_says_what_is_missing_in_one_line(tmp_path, capsys) -> None:
    assert tablegen.main(["--release", "10.0", "--git", str(tmp_path / "none"),
                          "--commit", "7c949c53e9", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"tablegen: no git repository at {tmp_path / 'none'}\n"
    not_elf = tmp_path / "qemu-system-x86_64"
    not_elf.write_bytes(b"#!/bin/sh\n")
    assert tablegen.main(["--release", "11.1", "--program", str(not_elf),
                          "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "tablegen: not a 64-bit little-endian ELF file\n"
    assert not list(tmp_path.glob("*.json"))


def test_the_tables_are_package_data() -> None:
    """An installed hmpbridge has its tables: setup.cfg ships the package and its JSON."""
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(os.path.dirname(tablegen.TABLES), "..", "setup.cfg"))
    assert "hmpbridge.tables" in cfg["options"]["packages"].split()
    assert cfg["options.package_data"]["hmpbridge.tables"].strip() == "*.json"
