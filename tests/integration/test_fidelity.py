"""Every corpus line, through hmpbridge and through QEMU itself, on twin VMs of every release.

Each file in ``tests/corpus/*.hmp`` gets a fresh pair of twin VMs per QEMU
release this machine has (the system's 7.2 and the releases
``scripts/qemu-releases.sh`` unpacks; a missing one is one skipped case that
says why).  Every line runs on VM A through hmpbridge (translation only:
``--no-passthrough``) and on its twin B through QEMU's own
``human-monitor-command``.  The outputs must be equal, and so must the two
VMs' state afterwards.  Test ids name the release: ``10.0.2/core:012 info block``.

Corpus syntax: one HMP line per line; ``#`` starts a comment; ``#!qemu ARGS``
adds QEMU arguments to both twins; ``#!releases >=10.0`` runs the whole file
only on releases in that range; a line ending in ``  #@ >=8.1 <11.0`` runs
only on releases in that range (``>=``, ``>``, ``<=``, ``<``, ``==`` with
``X.Y``; every condition must hold).  In lines and arguments, ``{dir}`` is
the VM's own directory (so the twins never share a file they write) and
``{media}`` a small raw image both may open.  A ``#!qemu`` line may end in a
release marker too (an option spelled differently by later releases).  A line's number
(``core:012``) counts every line of its file, whichever releases run it.

``tests/corpus/known-differences.txt`` lists, per release, the lines whose
output still differs from that QEMU's own: they are strict xfails, so a fix
shows up as XPASS (a failure) until its line is taken off the list.

Run one release: ``-k "10.0.2/"``, or ``HMPBRIDGE_FIDELITY_RELEASES=10.0,11.1``.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from hmpbridge.commands import table_for
from hmpbridge.errors import ParseError
from hmpbridge.hmp_parser import parse
from tests.integration.conftest import Bridge, HMPClient, QemuRelease, Twin, qemu_releases
from tests.integration.corpus import (CORPUS_DIR, Corpus, CorpusLine, Release,
                                      label_release, read_corpus, read_known_differences)

CORPORA = sorted(glob.glob(os.path.join(CORPUS_DIR, "*.hmp")))

#: Read on both VMs (through QEMU's own HMP) after each line.
STATE_PROBES = ["info status", "info block", "info chardev", "info pci", "info balloon",
                "qom-list /machine/peripheral", "info migrate_parameters",
                "info migrate_capabilities"]

#: What a guest's firmware changes on its own schedule once it has run: it
#: programs PCI BARs, negotiates virtio features (the cache mode shown), works
#: the CD-ROM tray, and resets when it finds nothing to boot.
GUEST_DRIVEN = {"info pci", "info block"}

#: What legitimately differs between two twins: host thread ids, host
#: addresses of guest RAM (``info ramblock``; where each process mapped it),
#: automatic node names, and the test rig's own monitor wiring.
TWIN_DIFFERENCES = [
    (re.compile(r"(thread_id=|thread-id: )\d+"), r"\1N"),
    (re.compile(r"\b0x00007f[0-9a-f]{10}\b"), "0x00007fHOST"),
    (re.compile(r"#block\d+"), "#blockN"),
    (re.compile(r"^compat_monitor\d+: .*\n", re.M), ""),
]

@dataclass(frozen=True)
class Variant:
    """What the twins run: one QEMU release for both (twin A behind the bridge, oracle B).

    (QEMU 11.1 behind ``--hmp-version 7.2`` against QEMU 7.2 is
    ``test_fidelity_compat.py``'s.)
    """

    served: QemuRelease

    @property
    def oracle(self) -> QemuRelease:
        return self.served

    @property
    def name(self) -> str:
        """Test ids start with it: ``10.0.2``."""
        return self.served.name

    @property
    def label(self) -> str:
        """Its name in ``known-differences.txt``: ``10.0``."""
        major, minor = self.served.release
        return f"{major}.{minor}"

    @property
    def release(self) -> Release:
        """The release whose lines run and whose text is printed."""
        return self.served.release

    @property
    def missing(self) -> str:
        return self.served.missing

    def lines(self, corpus: Corpus) -> List[CorpusLine]:
        """The corpus lines whose release markers hold for its release."""
        return corpus.lines_for(self.release)

    def selected(self) -> bool:
        """Whether ``HMPBRIDGE_FIDELITY_RELEASES`` (``"10.0,11.1"``; all when unset) names it."""
        wanted = os.environ.get("HMPBRIDGE_FIDELITY_RELEASES", "").replace(",", " ").split()
        return not wanted or any(self.name == w or self.name.startswith(w + ".")
                                 for w in wanted)


def variants() -> List[Variant]:
    """Each release this machine has (or knows of and lacks)."""
    return [Variant(release) for release in qemu_releases()]


@dataclass(frozen=True)
class RigKey:
    """What one pair of twins serves: a corpus on a variant."""

    variant: Variant
    corpus: Corpus


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus" not in metafunc.fixturenames:
        return
    known = read_known_differences()
    corpora = [read_corpus(path) for path in CORPORA]
    cases = []
    for variant in variants():
        if not variant.selected():
            continue
        if variant.missing:
            cases.append(pytest.param(None, None, id=f"{variant.name}/not-installed",
                                      marks=pytest.mark.skip(reason=variant.missing)))
            continue
        for corpus in corpora:
            key = RigKey(variant, corpus)
            for line in variant.lines(corpus):
                where = f"{corpus.name}:{line.number:03d}"
                reason = known.get((variant.label, where))
                listed = f"{reason} [fixed? take it off tests/corpus/known-differences.txt]"
                marks = [pytest.mark.xfail(strict=True, reason=listed)] if reason else []
                # (variant, corpus, number, line): values must be unique, or
                # pytest's grouping of module-scoped parameters would run the
                # same line of another corpus or release (or one repeated in a
                # file) next to it, splitting its corpus over two rigs
                cases.append(pytest.param(key, (variant.name, corpus.name, line.number,
                                                line.text),
                                          marks=marks,
                                          id=f"{variant.name}/{where} {line.text}"))
    metafunc.parametrize(["corpus", "line"], cases, indirect=["corpus"], scope="module")


class CorpusRig:
    """Twin VMs of one release and a bridge in front of VM A, for one corpus file.

    Made in two steps: the constructor starts both QEMUs and the bridge's
    process; :meth:`ready` waits for the bridge and opens the HMP session.
    """

    def __init__(self, key: RigKey, media: str) -> None:
        self.key = key
        self.media = media
        variant = key.variant
        args = key.corpus.args_for(variant.release)
        self.a = self.b = None  # type: Optional[Twin]
        self.bridge = None  # type: Optional[Bridge]
        self.session = None  # type: Optional[HMPClient]
        try:
            self.a = Twin(args, variant.served.program)
            self.b = Twin(args, variant.oracle.program)
            self.bridge = Bridge(f"unix:path={self.a.bridge_socket}", "--no-passthrough",
                                 wait=False)
        except BaseException:
            self.close()
            raise

    def ready(self) -> "CorpusRig":
        if self.session is None:
            assert self.bridge is not None
            self.bridge.ready()
            self.session = self.bridge.session()
        return self

    def close(self) -> None:
        for part in (self.session, self.bridge, self.a, self.b):
            if part is not None:
                part.close()


class RigPool:
    """Starts each corpus's rig one ahead of its turn.

    A rig takes a few seconds to start (mostly the bridge's Python starting),
    while its QEMUs wait paused and take no CPU: so when one rig is handed out,
    the next ones in the run's order start, and are ready by the time their
    corpus's lines come (a short corpus runs in less time than a start).
    """

    #: How many rigs start ahead of their turn.
    AHEAD = 2

    def __init__(self, order: List[RigKey], media: str) -> None:
        self.order = order
        self.media = media
        self.started: Dict[RigKey, CorpusRig] = {}

    def _start(self, key: RigKey) -> CorpusRig:
        if key not in self.started:
            self.started[key] = CorpusRig(key, self.media)
        return self.started[key]

    def take(self, key: RigKey) -> CorpusRig:
        """The rig of ``key``, ready; the next one in order is started."""
        rig = self._start(key)
        del self.started[key]
        following = self.order[self.order.index(key) + 1:] if key in self.order else []
        for upcoming in following[:self.AHEAD]:
            try:
                self._start(upcoming)
            except Exception:  # noqa: BLE001 - it fails again, with its error, in its turn
                pass
        try:
            return rig.ready()
        except BaseException:
            rig.close()
            raise

    def close(self) -> None:
        for rig in self.started.values():
            rig.close()
        self.started.clear()


@pytest.fixture(scope="session")
def rig_pool(request, tmp_path_factory) -> Iterator[RigPool]:
    path = tmp_path_factory.mktemp("media") / "media.iso"
    path.write_bytes(b"\0" * 1024 * 1024)
    order: List[RigKey] = []
    for item in request.session.items:
        key = getattr(getattr(item, "callspec", None), "params", {}).get("corpus")
        if isinstance(key, RigKey) and key not in order:
            order.append(key)
    pool = RigPool(order, str(path))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def corpus(request, rig_pool: RigPool) -> Iterator[CorpusRig]:
    rig = rig_pool.take(request.param)
    yield rig
    rig.close()


def normalize(text: str, vm_dir: str) -> str:
    text = text.replace(vm_dir, "<vmdir>")
    for pattern, replacement in TWIN_DIFFERENCES:
        text = pattern.sub(replacement, text)
    return text


def state(twin: Twin, probes: List[str]) -> Dict[str, str]:
    """The twin's state by the probes; once its guest has run, not what the guest drives.

    Firmware programs PCI BARs and works the CD-ROM tray at its own pace, so
    after a ``cont`` the two twins may stop at different points of it.  It
    also resets the machine itself while rebooting (SeaBIOS after a
    ``system_reset``): a ``stop`` that comes while such a reset is pending
    leaves QEMU ``paused (prelaunch)`` instead of ``paused``, as the guest's
    timing has it.
    """
    if "running" in twin.hmp("info status"):
        twin.guest_ran = True
    found = {probe: normalize(twin.hmp(probe), twin.dir) for probe in probes
             if not (twin.guest_ran and probe in GUEST_DRIVEN)}
    if twin.guest_ran:
        found["info status"] = found["info status"].replace("paused (prelaunch)", "paused")
    return found


#: query-migrate statuses from which a migration moves on by itself.
MIGRATION_MOVING = {"setup", "active", "cancelling", "device", "pre-switchover",
                    "postcopy-active", "wait-unplug"}


def migrating(twin: Twin) -> bool:
    """Whether the twin has a migration that has yet to end on its own."""
    return twin.qmp.command("query-migrate").get("status") in MIGRATION_MOVING


def changes_nothing(line: str, release: Tuple[int, int]) -> bool:
    """Whether ``line``, once it printed what QEMU prints, cannot have changed the VM.

    So by that release's command table: a command that only reads, or a line
    that does not parse (the bridge sent nothing; QEMU printed the same parse
    error, so it ran nothing either).
    """
    try:
        inv = parse(line, table_for(release))
    except ParseError:
        return True
    return inv is not None and inv.spec.reads_only


def test_line_matches_qemu(corpus: CorpusRig, line: Tuple[str, str, int, str]) -> None:
    line = line[-1]  # type: ignore[assignment]
    a, b = corpus.a, corpus.b
    want = normalize(b.hmp(line.format(media=corpus.media, dir=b.dir)), b.dir)
    got = normalize(corpus.session.cmd(line.format(media=corpus.media, dir=a.dir)), a.dir)
    assert got == want
    variant = corpus.key.variant
    if changes_nothing(line, variant.release):
        return  # the state was compared after the line before
    # a running guest (after cont) may need a moment to reach the same point
    # on both twins, and a migration started with -d a moment to finish
    deadline = time.monotonic() + 30
    while True:
        settled = not (migrating(a) or migrating(b))
        state_a, state_b = state(a, STATE_PROBES), state(b, STATE_PROBES)
        if (settled and state_a == state_b) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state_a == state_b


def test_known_differences_name_lines_that_run() -> None:
    """Every entry of the list names a variant tested here and a line that runs on it."""
    labels = {variant.label for variant in variants()}
    corpora = {corpus.name: corpus for corpus in map(read_corpus, CORPORA)}
    for (label, where), reason in read_known_differences().items():
        assert label in labels, f"{where}: no {label} is tested"
        name, number = where.split(":")
        assert name in corpora, f"{where}: no corpus {name}.hmp"
        runs = {line.number for line in corpora[name].lines_for(label_release(label))}
        assert int(number) in runs, f"{where} does not run on {label}"
        assert reason, where
