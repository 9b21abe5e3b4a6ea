"""Property-based tests of the machine renderers' release forms.

* ``info pci``: 9.2's form is 7.2's with every unmapped BAR as ``(not
  mapped)`` and no final ``.`` on the others, for any ``query-pci`` reply.
* ``info cpus``: 10.1's form is 7.2's with `` model=<cpu>`` appended, the
  model being the CPU type less its ``-<arch>-cpu`` suffix.
* ``g_strescape``: the text is printable ASCII apart from the exceptions, and
  reading the C escapes back gives the bytes up to the first NUL.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from hypothesis import given, strategies as st

from hmpbridge.render.info_more import g_strescape, render_xen_events
from hmpbridge.render.machine import cpu_model, render_cpus
from hmpbridge.render.pci import PCI_BAR_UNMAPPED, render_pci

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)

regions = st.fixed_dictionaries({
    "bar": st.integers(min_value=0, max_value=6),
    "type": st.sampled_from(["io", "memory"]),
    "address": st.one_of(st.just(PCI_BAR_UNMAPPED), U64),
    "size": st.integers(min_value=1, max_value=1 << 40),
    "prefetch": st.booleans(),
    "mem_type_64": st.booleans(),
})

devices = st.fixed_dictionaries({
    "bus": st.integers(min_value=0, max_value=255),
    "slot": st.integers(min_value=0, max_value=31),
    "function": st.integers(min_value=0, max_value=7),
    "class_info": st.fixed_dictionaries({"class": st.integers(min_value=0, max_value=0xFFFF)}),
    "id": st.fixed_dictionaries({"vendor": st.integers(min_value=0, max_value=0xFFFF),
                                 "device": st.integers(min_value=0, max_value=0xFFFF)}),
    "regions": st.lists(regions, max_size=4),
    "qdev_id": st.text(alphabet="abc0", max_size=4),
})

OLD_UNMAPPED = re.compile(r"^(      BAR\d+: (?:I/O|\d+ bit(?: prefetchable)? memory)) "
                          r"at 0xffffffffffffffff \[0x[0-9a-f]+\]\.$")


@given(st.lists(devices, max_size=4))
def test_pci_9_2_form_is_7_2_form_rewritten(devs: List[Dict[str, Any]]) -> None:
    buses = [{"bus": 0, "devices": devs}]
    old = render_pci(buses).splitlines()
    new = render_pci(buses, not_mapped=True).splitlines()
    assert len(old) == len(new)
    for before, after in zip(old, new):
        unmapped = OLD_UNMAPPED.match(before)
        if unmapped:
            assert after == unmapped.group(1) + " (not mapped)"
        elif before.startswith("      BAR"):
            assert before.endswith(".") and after == before[:-1]
        else:
            assert after == before


cpus = st.lists(st.fixed_dictionaries({
    "cpu-index": st.integers(min_value=0, max_value=255),
    "thread-id": st.integers(min_value=0, max_value=1 << 31),
    "qom-type": st.builds(lambda m, a: f"{m}-{a}-cpu",
                          st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True),
                          st.sampled_from(["x86_64", "i386", "arm", "riscv", "s390x"])),
}), max_size=4)


@given(cpus, st.integers(min_value=0, max_value=255))
def test_cpus_10_1_form_is_7_2_form_with_model(infos: List[Dict[str, Any]], current: int) -> None:
    old = render_cpus(infos, current).splitlines()
    new = render_cpus(infos, current, model=True).splitlines()
    for before, after, cpu in zip(old, new, infos):
        model = cpu["qom-type"].rsplit("-", 2)[0]
        assert cpu_model(cpu["qom-type"]) == model
        assert after == f"{before} model={model}"


_C_ESCAPES = {"b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1] in _C_ESCAPES:
                out.append(_C_ESCAPES[text[i + 1]])
                i += 2
            else:
                out.append(int(text[i + 1:i + 4], 8))
                i += 4
        else:
            out.append(ord(text[i]))
            i += 1
    return bytes(out)


@given(st.binary(max_size=64))
def test_g_strescape_round_trips(data: bytes) -> None:
    text = g_strescape(data, b"\r\n")
    assert all(32 <= ord(ch) < 127 or ch in "\r\n" for ch in text)
    assert _unescape(text) == data.split(b"\0", 1)[0]


@given(st.lists(st.fixed_dictionaries({
    "port": st.integers(min_value=0, max_value=0xFFFF),
    "vcpu": st.integers(min_value=0, max_value=0xFFFFFFFF),
    "type": st.sampled_from(["closed", "unbound", "interdomain", "pirq", "virq", "ipi"]),
    "remote-domain": st.text(alphabet="qemu", max_size=4),
    "target": st.integers(min_value=0, max_value=0xFFFF),
    "pending": st.booleans(), "masked": st.booleans()}), max_size=5))
def test_xen_event_list_one_line_per_port(ports: List[Dict[str, Any]]) -> None:
    lines = render_xen_events(ports).splitlines()
    assert len(lines) == len(ports)
    for line, port in zip(lines, ports):
        assert line.startswith("port %4d: vcpu: " % port["port"])
        assert ("(" in line) == (port["type"] != "ipi")
        assert line.endswith(" MASKED") == port["masked"]
