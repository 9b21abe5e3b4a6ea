"""Texts a newer QEMU words otherwise, printed in an older release's words.

Each case: the newer QEMU's reply (captured from QEMU 11.1.3), printed as
the older release did when ``--hmp-version`` asks for a release before the
change, and left as it is for the QEMU's own release.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context
from hmpbridge.profile import profile_for
from hmpbridge.render.options_help import PCI_DEVFN_DESCRIPTION
from hmpbridge.testing import CannedReplies, qmp_greeting, run_key

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "fixtures"


def ctx(qemu: Tuple[int, int, int], release: Optional[Tuple[int, int]] = None) -> Context:
    return Context(profile=profile_for(qmp_greeting(qemu), None, release))


def error(desc: str) -> QMPCommandError:
    return QMPCommandError("GenericError", desc)


# virtio-rng max-bytes: QEMU 9.1 says 'must be positive' (it also refuses 0)

RNG_NEW = "'max-bytes' parameter must be positive, and less than 2^63"
RNG_OLD = "'max-bytes' parameter must be non-negative, and less than 2^63"
RNG_ADD = {"device": {"driver": "virtio-rng-pci", "id": "r3", "max-bytes": "-1"}}


@pytest.mark.parametrize("qemu,release,words", [
    ((11, 1, 3), (7, 2), RNG_OLD),
    ((11, 1, 3), (9, 0), RNG_OLD),
    ((11, 1, 3), (9, 1), RNG_NEW),
    ((11, 1, 3), None, RNG_NEW),
    ((10, 0, 2), (7, 2), RNG_OLD),
])
def test_rng_max_bytes_in_older_words(qemu: Tuple[int, int, int],
                                      release: Optional[Tuple[int, int]], words: str) -> None:
    script = CannedReplies({"device_add": error(RNG_NEW)})
    assert run_key("device_add", RNG_ADD, script, ctx(qemu, release)) == f"Error: {words}\n"


def test_rng_max_bytes_old_words_pass_through() -> None:
    """QEMU 7.2's own words are printed as they are."""
    script = CannedReplies({"device_add": error(RNG_OLD)})
    assert run_key("device_add", RNG_ADD, script, ctx((7, 2, 22))) == f"Error: {RNG_OLD}\n"


# PCI addr: QEMU 10.0 types qdev_prop_pci_devfn 'str', earlier releases 'int32'

def e1000_props(addr_type: str) -> List[Dict[str, Any]]:
    return [{"name": "mac", "type": "str", "description": "Ethernet 6-byte MAC Address, "
             "example: 52:54:00:12:34:56"},
            {"name": "addr", "type": addr_type, "description": PCI_DEVFN_DESCRIPTION,
             "default-value": -1},
            {"name": "romfile", "type": "str"}]


def e1000_help(qemu: Tuple[int, int, int], release: Optional[Tuple[int, int]],
               addr_type: str) -> str:
    script = CannedReplies({"device-list-properties": e1000_props(addr_type)})
    return run_key("device_add", {"device": {"driver": "e1000", "help": "on"}}, script,
                   ctx(qemu, release))


@pytest.mark.parametrize("release,printed", [
    ((7, 2), "int32"), ((9, 2), "int32"), ((10, 0), "str"), (None, "str")])
def test_pci_addr_type_in_older_words(release: Optional[Tuple[int, int]],
                                      printed: str) -> None:
    text = e1000_help((11, 1, 3), release, "str")
    assert f"  addr=<{printed}>" in text
    assert "  mac=<str>" in text and "  romfile=<str>\n" in text


def test_pci_addr_of_qemu_7_2_unchanged() -> None:
    assert "  addr=<int32>  " in e1000_help((7, 2, 22), None, "int32")


# dump-guest-memory -w: QEMU 11.1.3 says 'no vmcoreinfo note from the guest'

DUMP_NEW = "win-dump: no vmcoreinfo note from the guest"
DUMP_OLD = "win-dump: invalid vmcoreinfo note size"


@pytest.mark.parametrize("release,words", [
    ((7, 2), DUMP_OLD), ((10, 2), DUMP_OLD), ((11, 1), DUMP_NEW), (None, DUMP_NEW)])
def test_no_vmcoreinfo_in_older_words(release: Optional[Tuple[int, int]], words: str) -> None:
    script = CannedReplies({"dump-guest-memory": error(DUMP_NEW)})
    out = run_key("dump-guest-memory", {"windmp": True, "filename": "/tmp/d"}, script,
                  ctx((11, 1, 3), release))
    assert out == f"Error: {words}\n"


# chardev-add help: 7.2's backends in 7.2's order, no hub before 10.0

def golden(path: str) -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((GOLDEN / path).read_text())
    return data


def chardev_help(backends: List[Dict[str, str]], c: Context) -> str:
    script = CannedReplies({"query-chardev-backends": backends})
    return run_key("chardev-add", {"args": "help"}, script, c, line="chardev-add help")


def test_chardev_help_of_11_1_as_7_2_is_7_2s() -> None:
    new = golden("11.1/core-helps-chardev-add-help.json")
    old = golden("core-helps-chardev-add-help.json")
    reply = new["exchanges"][0][1]["return"]
    assert chardev_help(reply, ctx((11, 1, 3), (7, 2))) == old["expected"]
    assert chardev_help(reply, ctx((11, 1, 3))) == new["expected"]


def test_chardev_help_of_qemu_7_2_is_its_own() -> None:
    old = golden("core-helps-chardev-add-help-modules.json")
    reply = old["exchanges"][0][1]["return"]
    assert chardev_help(reply, ctx((7, 2, 22))) == old["expected"]


def test_chardev_help_before_10_0_has_no_hub() -> None:
    new = golden("11.1/core-helps-chardev-add-help.json")
    reply = new["exchanges"][0][1]["return"]
    text = chardev_help(reply, ctx((11, 1, 3), (9, 2)))
    assert text == new["expected"].replace("  hub\n", "")


NAMES = ["stdio", "ringbuf", "mux", "pipe", "null", "socket", "vc", "file", "pty", "hub",
         "serial", "testdev", "udp", "memory"]


@given(st.permutations(NAMES), st.sampled_from([(7, 2), (8, 0), (9, 2), (10, 0), (11, 1)]))
def test_chardev_help_older_text_lists_only_that_releases_backends(
        order: List[str], release: Tuple[int, int]) -> None:
    """Whatever order QEMU 11.1's class table has, an older text lists its backends once each."""
    reply = [{"name": name} for name in order]
    lines = chardev_help(reply, ctx((11, 1, 3), release)).splitlines()[1:]
    names = [line.strip() for line in lines]
    assert len(names) == len(set(names))
    assert ("hub" in names) == (release >= (10, 0))
    assert set(names) == set(NAMES) - ({"hub"} if release < (10, 0) else set())
    if release == (7, 2):
        from hmpbridge.handlers.chardev import BACKENDS
        assert names == [name for name in BACKENDS if name in names]


PROPS = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from(["addr", "mac", "romfile", "x"]),
     "type": st.sampled_from(["str", "int32", "uint32", "bool"])},
    optional={"description": st.sampled_from([PCI_DEVFN_DESCRIPTION, "other", ""])}),
    max_size=6)


@given(PROPS)
def test_pci_addr_as_int32_retypes_only_the_pci_slot(props: List[Dict[str, Any]]) -> None:
    from hmpbridge.render.options_help import pci_addr_as_int32
    out = pci_addr_as_int32(props)
    assert len(out) == len(props)
    for before, after in zip(props, out):
        slot = before["type"] == "str" and before.get("description") == PCI_DEVFN_DESCRIPTION
        assert dict(after) == (dict(before, type="int32") if slot else before)
