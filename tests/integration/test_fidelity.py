"""Every core command, through hmpbridge and through QEMU itself, on twin VMs.

Each corpus line runs on VM A through hmpbridge (translation only:
``--no-passthrough``) and on its twin B through QEMU's own
``human-monitor-command``.  The outputs must be equal, and so must the two
VMs' state afterwards.
"""

from __future__ import annotations

import os
import re
import time

import pytest

CORPUS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "corpus", "core.hmp")

#: Read on both VMs (through QEMU's own HMP) after each line.
STATE_PROBES = ["info status", "info block", "info chardev", "info pci", "info balloon",
                "qom-list /machine/peripheral", "info migrate_parameters",
                "info migrate_capabilities"]


def corpus_lines():
    with open(CORPUS) as f:
        return [line.rstrip("\n") for line in f
                if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("media") / "media.iso"
    path.write_bytes(b"\0" * 1024 * 1024)
    return str(path)


@pytest.fixture(scope="module")
def session(bridge):
    client = bridge.session()
    yield client
    client.close()


#: What legitimately differs between two twins: host thread ids, automatic
#: node names, and the test rig's own monitor wiring.
TWIN_DIFFERENCES = [
    (re.compile(r"(thread_id=|thread-id: )\d+"), r"\1N"),
    (re.compile(r"#block\d+"), "#blockN"),
    (re.compile(r"^compat_monitor\d+: .*\n", re.M), ""),
]


def normalize(text: str, vm_dir: str) -> str:
    text = text.replace(vm_dir, "<vmdir>")
    for pattern, replacement in TWIN_DIFFERENCES:
        text = pattern.sub(replacement, text)
    return text


#: What a running guest's firmware changes on its own schedule (it programs
#: PCI BARs, and resets when it finds nothing to boot).
GUEST_DRIVEN = {"info pci"}


def state(vm) -> dict:
    running = "running" in vm.hmp("info status")
    return {probe: normalize(vm.hmp(probe), vm.dir) for probe in STATE_PROBES
            if not (running and probe in GUEST_DRIVEN)}


LINES = corpus_lines()


@pytest.mark.parametrize("line", LINES, ids=[f"{n:03d} {line}" for n, line in enumerate(LINES)])
def test_line_matches_qemu(line, twins, session, media):
    a, b = twins
    line = line.format(media=media)
    want = normalize(b.hmp(line), b.dir)
    got = normalize(session.cmd(line), a.dir)
    assert got == want
    # a running guest (after cont) may need a moment to reach the same point on both twins
    deadline = time.monotonic() + 10
    while state(a) != state(b) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state(a) == state(b)
