"""Every corpus line QEMU 7.2 runs, through ``--hmp-version 7.2`` over QEMU 11.1, against QEMU 7.2.

VM A is QEMU 11.1.3 with machine ``pc-i440fx-7.2``, served by hmpbridge with
``--hmp-version 7.2 --no-passthrough``; its twin B is the system's QEMU 7.2
with the same machine type and arguments (each twin with the ``#!qemu``
options of its own release).  Each corpus file (``tests/corpus/*.hmp``)
gets a fresh pair.  Every line whose release markers admit 7.2 (and 11.1:
a line the corpus keeps off 11.1 is one QEMU 11.1 lacks or dies of) runs on
A through the bridge and on B through QEMU 7.2's own
``human-monitor-command``; the outputs must be equal.  After a line that may change the VM, the two
VMs' state is compared in 7.2's words: A's read *through the bridge* (a
second session, so the bridge's 7.2 text of the state probes is checked
too) and B's through its own HMP.

``tests/corpus/known-differences-compat.txt`` (``11.1-as-7.2 corpus:NNN
reason``) lists the lines that cannot match, because QEMU 11.1 has no such
data or behaves differently in a way QMP cannot hide: strict xfails, so a
fix shows as XPASS (a failure) until its line is taken off the list.

``tests/corpus/compat/*.hmp`` holds lines for this pairing alone (what 7.2
refuses or words otherwise where 11.1 would not); they run whatever their
markers.  ``HMPBRIDGE_COMPAT_CORPORA=core,misc`` runs only those corpora.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.integration.conftest import Bridge, HMPClient, QemuRelease, Twin, qemu_releases
from tests.integration.corpus import CORPUS_DIR, Corpus, CorpusLine, read_corpus, \
    read_known_differences
from tests.integration.test_fidelity import (CORPORA, GUEST_DRIVEN, STATE_PROBES, changes_nothing,
                                             migrating, normalize)

KNOWN_DIFFERENCES = os.path.join(CORPUS_DIR, "known-differences-compat.txt")
#: The list's first word for this pairing.
LABEL = "11.1-as-7.2"
#: The release whose text the bridge prints, and the machine type both twins run.
PRINTED = (7, 2)
MACHINE = "pc-i440fx-7.2"


@dataclass(frozen=True)
class Pair:
    """The served QEMU (behind the bridge) and the oracle QEMU, or why one is missing."""

    served: Optional[QemuRelease]
    oracle: Optional[QemuRelease]

    @property
    def missing(self) -> str:
        if self.oracle is None or self.oracle.program is None:
            return "QEMU 7.2 (the system's qemu-system-x86_64) is not installed"
        if self.served is None or self.served.program is None:
            return self.served.missing if self.served else "QEMU 11.1 is not known here"
        return ""

    def lines(self, corpus: Corpus) -> List[CorpusLine]:
        """The lines whose release markers admit 7.2, the release printed, and the served
        QEMU's release too: a line kept off 11.1 is one QEMU 11.1 lacks or dies of."""
        assert self.served is not None
        if corpus.path in COMPAT_CORPORA:
            return list(corpus.lines)
        served = {line.number for line in corpus.lines_for(self.served.release)}
        return [line for line in corpus.lines_for(PRINTED) if line.number in served]


def pair() -> Pair:
    releases = qemu_releases()
    served = [r for r in releases if r.release[0] == 11 and r.release >= (11, 1)]
    oracle = [r for r in releases if r.release == PRINTED]
    return Pair(served[-1] if served else None, oracle[0] if oracle else None)


#: Corpora of this pairing alone (``tests/corpus/compat/*.hmp``): lines QEMU 7.2
#: refuses or words otherwise where 11.1 would not, which the shared corpora,
#: run on every release, cannot hold.  Their lines run whatever their markers.
COMPAT_CORPORA = sorted(glob.glob(os.path.join(CORPUS_DIR, "compat", "*.hmp")))


def corpora() -> List[Corpus]:
    """Every corpus, or those ``HMPBRIDGE_COMPAT_CORPORA`` names."""
    wanted = os.environ.get("HMPBRIDGE_COMPAT_CORPORA", "").replace(",", " ").split()
    found = [read_corpus(path) for path in CORPORA + COMPAT_CORPORA]
    return [c for c in found if not wanted or c.name in wanted]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "compat" not in metafunc.fixturenames:
        return
    twins = pair()
    if twins.missing:
        metafunc.parametrize(["compat", "line"], [pytest.param(
            None, None, id="not-installed", marks=pytest.mark.skip(reason=twins.missing))],
            scope="module")
        return
    known = read_known_differences(KNOWN_DIFFERENCES)
    cases = []
    for corpus in corpora():
        for line in twins.lines(corpus):
            where = f"{corpus.name}:{line.number:03d}"
            reason = known.get((LABEL, where))
            listed = f"{reason} [fixed? take it off {os.path.basename(KNOWN_DIFFERENCES)}]"
            marks = [pytest.mark.xfail(strict=True, reason=listed)] if reason else []
            # (corpus, number, line): unique values keep pytest's grouping of
            # module-scoped parameters in file order
            cases.append(pytest.param(corpus, (corpus.name, line.number, line.text), marks=marks,
                                      id=f"{LABEL}/{where} {line.text}"))
    metafunc.parametrize(["compat", "line"], cases, indirect=["compat"], scope="module")


class CompatRig:
    """Twin A (11.1 behind ``--hmp-version 7.2``) and twin B (7.2), for one corpus file.

    The constructor starts both QEMUs and the bridge's process; :meth:`ready`
    waits for the bridge and opens two sessions: one for the corpus's lines,
    one that reads A's state.
    """

    def __init__(self, twins: Pair, corpus: Corpus) -> None:
        assert twins.served is not None and twins.oracle is not None
        self.a = self.b = None  # type: Optional[Twin]
        self.bridge = None  # type: Optional[Bridge]
        self.session = self.probe = None  # type: Optional[HMPClient]
        try:
            self.a = Twin(corpus.args_for(twins.served.release), twins.served.program, MACHINE)
            self.b = Twin(corpus.args_for(PRINTED), twins.oracle.program, MACHINE)
            self.bridge = Bridge(f"unix:path={self.a.bridge_socket}", "--no-passthrough",
                                 "--hmp-version", "7.2", wait=False)
        except BaseException:
            self.close()
            raise

    def ready(self) -> "CompatRig":
        if self.session is None:
            assert self.bridge is not None
            self.bridge.ready()
            self.session = self.bridge.session()
            self.probe = self.bridge.session()
        return self

    def close(self) -> None:
        for part in (self.probe, self.session, self.bridge, self.a, self.b):
            if part is not None:
                part.close()


class CompatPool:
    """Starts the next corpus's rig while this one's lines run (its QEMUs wait paused)."""

    def __init__(self, order: List[Corpus]) -> None:
        self.order = order
        self.started: Dict[str, CompatRig] = {}
        self.twins = pair()

    def _start(self, corpus: Corpus) -> CompatRig:
        if corpus.path not in self.started:
            self.started[corpus.path] = CompatRig(self.twins, corpus)
        return self.started[corpus.path]

    def take(self, corpus: Corpus) -> CompatRig:
        rig = self._start(corpus)
        del self.started[corpus.path]
        names = [c.path for c in self.order]
        following = self.order[names.index(corpus.path) + 1:] if corpus.path in names else []
        if following:
            try:
                self._start(following[0])
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
def compat_pool(request) -> Iterator[CompatPool]:
    order: List[Corpus] = []
    for item in request.session.items:
        corpus = getattr(getattr(item, "callspec", None), "params", {}).get("compat")
        if isinstance(corpus, Corpus) and corpus not in order:
            order.append(corpus)
    pool = CompatPool(order)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def compat(request, compat_pool: CompatPool, tmp_path_factory) -> Iterator[CompatRig]:
    rig = compat_pool.take(request.param)
    path = tmp_path_factory.mktemp("media") / "media.iso"
    path.write_bytes(b"\0" * 1024 * 1024)
    rig.media = str(path)  # type: ignore[attr-defined]
    yield rig
    rig.close()


#: The lines of QEMU 7.2's state probes that name what QEMU 11.1 no longer has
#: (the compression and block migration parameters and capabilities, removed
#: in 9.1): the bridge leaves them out, having no value to print.  The state
#: comparison drops them from 7.2's side; the corpus lines that print them
#: are known differences.
UNAVAILABLE = {
    "info migrate_parameters": re.compile(
        r"^(compress-level|compress-threads|compress-wait-thread|decompress-threads"
        r"|block-incremental): .*\n", re.M),
    "info migrate_capabilities": re.compile(r"^(zero-blocks|compress|block): .*\n", re.M),
}


def _without_unavailable(found: Dict[str, str]) -> Dict[str, str]:
    return {probe: UNAVAILABLE[probe].sub("", text) if probe in UNAVAILABLE else text
            for probe, text in found.items()}


def _state(read, twin: Twin) -> Dict[str, str]:
    """The state probes' text as ``read`` answers them; once the guest ran, not what it drives."""
    if "running" in read("info status"):
        twin.guest_ran = True
    found = {probe: normalize(read(probe), twin.dir) for probe in STATE_PROBES
             if not (twin.guest_ran and probe in GUEST_DRIVEN)}
    if twin.guest_ran:
        found["info status"] = found["info status"].replace("paused (prelaunch)", "paused")
    return found


def test_line_prints_what_qemu_7_2_prints(compat: CompatRig, line: Tuple[str, int, str]) -> None:
    _, _, text = line
    a, b = compat.a, compat.b
    media = compat.media  # type: ignore[attr-defined]
    want = normalize(b.hmp(text.format(media=media, dir=b.dir)), b.dir)
    got = normalize(compat.session.cmd(text.format(media=media, dir=a.dir)), a.dir)
    assert got == want
    if changes_nothing(text, PRINTED):
        return  # the state was compared after the line before
    # a running guest (after cont) may need a moment to reach the same point
    # on both twins, and a migration started with -d or a block job a moment
    # to finish; otherwise nothing moves, and the first reading is the answer
    deadline = time.monotonic() + 30
    while True:
        moving = migrating(a) or migrating(b)
        state_a, state_b = _state(compat.probe.cmd, a), _without_unavailable(_state(b.hmp, b))
        settling = a.guest_ran or b.guest_ran or jobs_running(a) or jobs_running(b)
        if not moving and (state_a == state_b or not settling):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state_a == state_b


def jobs_running(twin: Twin) -> bool:
    """Whether the twin has a block job that has yet to end on its own."""
    return any(job.get("status") in ("created", "running", "waiting", "pending", "aborting")
               for job in twin.qmp.command("query-block-jobs"))


def test_known_differences_name_lines_that_run() -> None:
    """Every entry of the list is this pairing's and names a line that runs on 7.2."""
    by_name = {corpus.name: corpus for corpus in map(read_corpus, CORPORA + COMPAT_CORPORA)}
    for (label, where), reason in read_known_differences(KNOWN_DIFFERENCES).items():
        assert label == LABEL, f"{where}: only {LABEL} is tested here, not {label}"
        name, number = where.split(":")
        assert name in by_name, f"{where}: no corpus {name}.hmp"
        runs = {entry.number for entry in pair().lines(by_name[name])} if not pair().missing \
            else {entry.number for entry in by_name[name].lines_for(PRINTED)}
        assert int(number) in runs, f"{where} does not run on 7.2"
        assert reason, where
