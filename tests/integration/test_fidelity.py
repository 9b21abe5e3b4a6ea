"""Every corpus line, through hmpbridge and through QEMU itself, on twin VMs.

Each file in ``tests/corpus/*.hmp`` gets a fresh pair of twin VMs.  Every
line runs on VM A through hmpbridge (translation only: ``--no-passthrough``)
and on its twin B through QEMU's own ``human-monitor-command``.  The outputs
must be equal, and so must the two VMs' state afterwards.

Corpus syntax: one HMP line per line; ``#`` starts a comment; ``#!qemu ARGS``
adds QEMU arguments to both twins.  In lines and arguments, ``{dir}`` is the
VM's own directory (so the twins never share a file they write) and
``{media}`` a small raw image both may open.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import time
from typing import Dict, List, Tuple

import pytest

from tests.integration.conftest import Bridge, Twin

CORPUS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "corpus")
CORPORA = sorted(glob.glob(os.path.join(CORPUS_DIR, "*.hmp")))

#: Read on both VMs (through QEMU's own HMP) after each line.
STATE_PROBES = ["info status", "info block", "info chardev", "info pci", "info balloon",
                "qom-list /machine/peripheral", "info migrate_parameters",
                "info migrate_capabilities"]

#: What a guest's firmware changes on its own schedule once it has run: it
#: programs PCI BARs, negotiates virtio features (the cache mode shown), works
#: the CD-ROM tray, and resets when it finds nothing to boot.
GUEST_DRIVEN = {"info pci", "info block"}

#: What legitimately differs between two twins: host thread ids, automatic
#: node names, and the test rig's own monitor wiring.
TWIN_DIFFERENCES = [
    (re.compile(r"(thread_id=|thread-id: )\d+"), r"\1N"),
    (re.compile(r"#block\d+"), "#blockN"),
    (re.compile(r"^compat_monitor\d+: .*\n", re.M), ""),
]


def read_corpus(path: str) -> Tuple[List[str], List[str]]:
    """The corpus's QEMU arguments and its lines."""
    qemu_args: List[str] = []
    lines: List[str] = []
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#!qemu "):
                qemu_args += shlex.split(line[len("#!qemu "):])
            elif line.strip() and not line.lstrip().startswith("#"):
                lines.append(line)
    return qemu_args, lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus" not in metafunc.fixturenames:
        return
    cases, ids = [], []
    for path in CORPORA:
        name = os.path.basename(path)[:-len(".hmp")]
        for number, line in enumerate(read_corpus(path)[1]):
            # (number, line): values must be unique, or pytest's grouping of
            # module-scoped parameters would run a repeated line out of order
            cases.append((path, (number, line)))
            ids.append(f"{name}:{number:03d} {line}")
    metafunc.parametrize(["corpus", "line"], cases, ids=ids, indirect=["corpus"],
                         scope="module")


class CorpusRig:
    """Twin VMs and a bridge in front of VM A, for one corpus file."""

    def __init__(self, path: str, media: str) -> None:
        qemu_args, _ = read_corpus(path)
        self.media = media
        self.a, self.b = Twin(qemu_args), Twin(qemu_args)
        self.bridge = Bridge(f"unix:path={self.a.bridge_socket}", "--no-passthrough")
        self.session = self.bridge.session()

    def close(self) -> None:
        self.session.close()
        self.bridge.close()
        self.a.close()
        self.b.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("media") / "media.iso"
    path.write_bytes(b"\0" * 1024 * 1024)
    return str(path)


@pytest.fixture(scope="module")
def corpus(request, media):
    rig = CorpusRig(request.param, media)
    yield rig
    rig.close()


def normalize(text: str, vm_dir: str) -> str:
    text = text.replace(vm_dir, "<vmdir>")
    for pattern, replacement in TWIN_DIFFERENCES:
        text = pattern.sub(replacement, text)
    return text


def state(twin: Twin) -> Dict[str, str]:
    """The twin's state by the probes; once its guest has run, not what the guest drives.

    Firmware programs PCI BARs and works the CD-ROM tray at its own pace, so
    after a ``cont`` the two twins may stop at different points of it.
    """
    if "running" in twin.hmp("info status"):
        twin.guest_ran = True
    ran = getattr(twin, "guest_ran", False)
    return {probe: normalize(twin.hmp(probe), twin.dir) for probe in STATE_PROBES
            if not (ran and probe in GUEST_DRIVEN)}


#: query-migrate statuses from which a migration moves on by itself.
MIGRATION_MOVING = {"setup", "active", "cancelling", "device", "pre-switchover",
                    "postcopy-active", "wait-unplug"}


def migrating(twin: Twin) -> bool:
    """Whether the twin has a migration that has yet to end on its own."""
    return twin.qmp.command("query-migrate").get("status") in MIGRATION_MOVING


def test_line_matches_qemu(corpus: CorpusRig, line: Tuple[int, str]) -> None:
    _, line = line  # type: ignore[assignment]
    a, b = corpus.a, corpus.b
    want = normalize(b.hmp(line.format(media=corpus.media, dir=b.dir)), b.dir)
    got = normalize(corpus.session.cmd(line.format(media=corpus.media, dir=a.dir)), a.dir)
    assert got == want
    # a running guest (after cont) may need a moment to reach the same point
    # on both twins, and a migration started with -d a moment to finish
    deadline = time.monotonic() + 30
    while True:
        settled = not (migrating(a) or migrating(b))
        state_a, state_b = state(a), state(b)
        if (settled and state_a == state_b) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state_a == state_b
