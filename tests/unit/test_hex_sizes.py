"""A suffix after a hex size: QEMU 7.2 warns and takes it, 8.0 and later refuse it
(measured on QEMU 10.0.2: ``block_resize d0 0x10M`` and ``object_add ...,size=0x10M``)."""

from __future__ import annotations

import pytest

from hmpbridge.errors import ParseError
from hmpbridge.handlers import Context
from hmpbridge.profile import profile_for
from hmpbridge.qemu_opts import OptsError, strtosz
from hmpbridge.testing import qmp_greeting, run_line

OBJECT = "object_add memory-backend-ram,id=mem2,size=0x10M,prealloc=yes,merge=false"


def context(version) -> Context:
    return Context(profile=profile_for(qmp_greeting(version)))


def test_strtosz_refuses_a_suffix_after_hex_when_asked() -> None:
    warnings: list = []
    assert strtosz("0x10M", "B", warnings) == 16 << 20 and len(warnings) == 1
    with pytest.raises(OptsError):
        strtosz("0x10M", "B", hex_suffix=False)
    assert strtosz("0x10", "B", hex_suffix=False) == 16


def test_object_add_size_by_release() -> None:
    sent: list = []
    seven = run_line(OBJECT, lambda cmd: sent.append(cmd) or {}, context((7, 2, 22)))
    assert seven == "warning: Using a multiplier suffix on hex numbers is deprecated: 0x10M\n"
    assert [cmd.execute for cmd in sent] == ["object-add"]
    sent.clear()
    assert run_line(OBJECT, lambda cmd: sent.append(cmd) or {}, context((10, 0, 2))) == \
        "Error: Parameter 'size' expects size\n"
    assert sent == []


def test_hmp_size_argument_by_release() -> None:
    assert run_line("block_resize d0 0x10M", lambda cmd: {}, context((7, 2, 22))) == ""
    with pytest.raises(ParseError) as info:
        run_line("block_resize d0 0x10M", lambda cmd: {}, context((10, 0, 2)))
    assert info.value.text == 'invalid size\nTry "help block_resize" for more information\n'


def test_passthrough_errors_lose_the_prefix_7_2_did_not_print() -> None:
    """drive_del's error gained 'Error: ' in 10.2; 7.2's text over 11.1 prints it bare."""
    from hmpbridge.profile import profile_for as profile

    def answer(cmd):  # type: ignore[no-untyped-def]
        return "Error: Device 'nosuch' not found\r\n"

    own = Context(profile=profile(qmp_greeting((11, 1, 3))))
    old = Context(profile=profile(qmp_greeting((11, 1, 3)), hmp_version=(7, 2)))
    assert run_line("drive_del nosuch", answer, own) == "Error: Device 'nosuch' not found\n"
    assert run_line("drive_del nosuch", answer, old) == "Device 'nosuch' not found\n"
    assert run_line("info mtree", answer, old) == "Error: Device 'nosuch' not found\n"


def test_migrate_set_parameter_size_by_release() -> None:
    """downtime-limit 0x10k: 7.2 warns and sets it; 8.0 and later refuse it in the
    words QEMU 10.0.2 printed (tests/golden/fixtures/10.0/core-actions-set-param-size-hex-suffix)."""
    line = "migrate_set_parameter downtime-limit 0x10k"
    seven = run_line(line, lambda cmd: {}, context((7, 2, 22)))
    assert seven.startswith("warning: Using a multiplier suffix on hex numbers is deprecated")
    sent: list = []
    ten = run_line(line, lambda cmd: sent.append(cmd) or {}, context((10, 0, 2)))
    assert ten == ("Error: Parameter 'downtime-limit' expects a non-negative number below 2^64\n"
                   "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                   "and exabytes, respectively.\n")
    assert sent == []
