"""Which unknown netdev option QEMU names: GLib's and QEMU's dictionary orders."""

from __future__ import annotations

import json
import os
from typing import Dict

import pytest

from hmpbridge.glib_order import StrHashTable, g_str_hash, qdict_order
from hmpbridge.handlers.netdev_objects import NetdevError, netdev_arguments
from hmpbridge.hmp_parser import parse

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "netdev_invalid_order.json")
with open(FIXTURE) as _f:
    CASES = json.load(_f)


@pytest.mark.parametrize("case", CASES, ids=[f"{n:03d}" for n in range(len(CASES))])
def test_the_option_named_is_the_one_qemu_names(case: Dict[str, str]) -> None:
    """Every line of the fixture, captured from QEMU 7.2, is refused with QEMU's own text."""
    inv = parse(case["line"])
    assert inv is not None
    with pytest.raises(NetdevError) as info:
        netdev_arguments(inv.args["netdev"])
    assert f"Error: {info.value}\n" == case["qemu"]


def test_the_fixture_covers_tables_that_grow_and_shrink() -> None:
    """The captured lines include tables past 8 and past 16 keys, where GLib resizes."""
    sizes = [len(parse(c["line"]).args["netdev"]) for c in CASES]  # type: ignore[union-attr]
    assert min(sizes) < 8 and any(8 <= s < 16 for s in sizes) and max(sizes) >= 16


def test_g_str_hash_is_djb2_over_signed_chars() -> None:
    """g_str_hash: 5381, times 33 plus each byte, the high bytes negative."""
    assert g_str_hash("") == 5381
    assert g_str_hash("a") == 5381 * 33 + 97
    assert g_str_hash("\u00e9") == ((5381 * 33 - 61) * 33 - 87) & 0xFFFFFFFF


def test_qdict_order_keeps_every_key_once() -> None:
    """A QDict iterates each key once, whatever the order they went in."""
    keys = ["type", "id", "net", "hostname", "zz", "id"]
    assert sorted(qdict_order(keys)) == sorted(set(keys))


def test_a_table_iterates_what_is_left_after_removals() -> None:
    """Removed keys are skipped; the rest come once each, through growing and shrinking."""
    table = StrHashTable()
    names = [f"opt{n}" for n in range(40)]
    for name in names:
        table.insert(name)
    assert table.size == 64 and sorted(table) == sorted(names)
    for name in names[:37]:
        table.remove(name)
    assert table.size == 8 and sorted(table) == sorted(names[37:])
