"""Machine commands as each QEMU release prints them, from that release's own replies.

``tests/fixtures/machine_releases/X.Y.json`` holds what QEMU 7.2.22, 10.0.2
and 11.1.3 answered to the QMP queries behind ``info status``, ``cpus``,
``pci``, ``iothreads``, ``kvm``, ``accelerators`` and ``cryptodev``, and the
text their own monitors printed (``tests/tools/capture_machine_releases.py``).
Each handler, given a profile of that release, must print the same text; with
``--hmp-version 7.2`` over 11.1's replies (machine ``pc-i440fx-7.2``) it must
print 7.2's text.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, Mapping, Optional, Tuple

import pytest

from hmpbridge.commands import CommandSpec
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, drive
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import QemuProfile, profile_for
from hmpbridge.testing import qmp_greeting

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures",
                        "machine_releases")
RELEASES = ("7.2", "10.0", "11.1", "11.1-pc-i440fx-7.2")
#: QEMU 11.1 running 7.2's machine type, whose devices match 7.2's ``pc``.
OLD_MACHINE = "11.1-pc-i440fx-7.2"


def fixture(release: str) -> Dict[str, Any]:
    with open(os.path.join(FIXTURES, f"{release}.json")) as f:
        return json.load(f)


def version(record: Mapping[str, Any]) -> Tuple[int, int, int]:
    qemu = record["qemu"]["qemu"]
    return qemu["major"], qemu["minor"], qemu["micro"]


def profile(record: Mapping[str, Any], hmp_version: Optional[Tuple[int, int]] = None,
            schema: bool = True) -> QemuProfile:
    return profile_for(qmp_greeting(version(record)), record["schema"] if schema else None,
                       hmp_version)


def spec(key: str, args: str = "") -> CommandSpec:
    """A table entry for ``key`` (the tables of later releases are generated elsewhere)."""
    return CommandSpec(name=key, args=args, params="", help="", strategy="native")


def run(key: str, replies: Mapping[str, Any], prof: QemuProfile,
        args: Optional[Dict[str, Any]] = None, pci_key: str = "query-pci") -> Tuple[str, list]:
    """What the handler of ``key`` prints, and the QMP commands it sent."""
    sent = []

    def respond(cmd: QMPCommand) -> Any:
        sent.append(cmd)
        name = pci_key if cmd.execute == "query-pci" else cmd.execute
        reply = replies[name]
        if "error" in reply:
            raise QMPCommandError(reply["error"]["class"], reply["error"]["desc"])
        return reply["return"]

    inv = Invocation(spec(key), dict(args or {}), key)
    return drive(HANDLERS[key](inv, Context(profile=prof)), respond), sent


LINES = ["info status", "info cpus", "info pci", "info iothreads", "info kvm",
         "info accelerators", "info cryptodev"]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("line", LINES)
def test_each_release_prints_its_own_text(release: str, line: str) -> None:
    record = fixture(release)
    if line == "info accelerators" and "error" in record["replies"]["query-accelerators"]:
        pytest.skip(f"QEMU {release} has no query-accelerators (10.2)")
    if line == "info cryptodev" and release == "7.2":
        pytest.skip("info cryptodev is new in 8.0")
    text, _ = run(line, record["replies"], profile(record))
    assert text == record["hmp"][line]


@pytest.mark.parametrize("release", RELEASES)
def test_info_pci_with_mapped_bars(release: str) -> None:
    record = fixture(release)
    text, _ = run("info pci", record["replies"], profile(record),
                  pci_key="query-pci after firmware")
    assert text == record["hmp"]["info pci after firmware"]


def test_info_kvm_asks_query_accelerators_where_query_kvm_is_deprecated() -> None:
    record = fixture("11.1")
    text, sent = run("info kvm", record["replies"], profile(record))
    assert [cmd.execute for cmd in sent] == ["query-accelerators"]
    assert text == "kvm support: disabled\n"
    _, sent = run("info kvm", fixture("10.0")["replies"], profile(fixture("10.0")))
    assert [cmd.execute for cmd in sent] == ["query-kvm"]


def test_info_kvm_without_a_schema_asks_query_kvm() -> None:
    record = fixture("11.1")
    _, sent = run("info kvm", record["replies"], profile(record, schema=False))
    assert [cmd.execute for cmd in sent] == ["query-kvm"]


THREAD_IDS = re.compile(r"thread_id=\d+")


@pytest.mark.parametrize("line,pci_key", [("info pci", "query-pci"),
                                          ("info pci", "query-pci after firmware"),
                                          ("info cpus", ""), ("info status", "")])
def test_hmp_version_7_2_over_11_1_prints_7_2s_text(line: str, pci_key: str) -> None:
    new, old = fixture(OLD_MACHINE), fixture("7.2")
    text, _ = run(line, new["replies"], profile(new, hmp_version=(7, 2)),
                  pci_key=pci_key or "query-pci")
    want = old["hmp"][f"{line} after firmware" if pci_key.endswith("firmware") else line]
    assert THREAD_IDS.sub("thread_id=N", text) == THREAD_IDS.sub("thread_id=N", want)


def test_hmp_version_7_2_leaves_out_poll_weight() -> None:
    new = fixture("11.1")
    text, _ = run("info iothreads", new["replies"], profile(new, hmp_version=(7, 2)))
    assert "poll-weight" not in text
    assert text.splitlines()[-1] == "  aio-max-batch=0"


def test_single_step_suffix_only_before_8_1() -> None:
    replies = {"query-status": {"return": {"status": "running", "running": True,
                                           "singlestep": True}}}
    old = profile_for(qmp_greeting((7, 2, 22)))
    new = profile_for(qmp_greeting((8, 1, 0)))
    assert run("info status", replies, old)[0] == "VM status: running (single step mode)\n"
    assert run("info status", replies, new)[0] == "VM status: running\n"
