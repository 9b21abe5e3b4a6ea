"""object_add on each release: the object types and members of the served
QEMU's own ``ObjectOptions``, with its words for what it refuses.

Per release (the system's 7.2, 10.0.2 and 11.1.3; a missing one is skipped
with the reason), twin VMs: A is served by the bridge (translation only),
B answers through QEMU's own ``human-monitor-command``.  The lines of
``tests/corpus/objadd_releases.hmp`` that run on that release must print
alike and leave both VMs with the same objects (``qom-list /objects``,
``info memdev``, ``info iothreads``); then lines drawn by Hypothesis from the
release's live schema (its object types and members, values near each
type's limits) must too.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmpbridge.handlers.object_add import object_options
from hmpbridge.keyval import INTEGERS, Enum, ListOf, Struct, TypeSpec
from hmpbridge.qapi_schema import Schema
from tests.integration.conftest import Bridge, HMPClient, QemuRelease, Twin, release_params
from tests.integration.corpus import CORPUS_DIR, read_corpus

CORPUS = read_corpus(os.path.join(CORPUS_DIR, "objadd_releases.hmp"))

#: What the twins differ in by nature: their directories, host thread ids, and
#: the HMP monitor the test rig gives each (a QOM object from 11.1).
_THREAD_ID = re.compile(r"(thread_id=|thread-id: )\d+")
_RIG_MONITOR = re.compile(r"^compat_monitor\d+ .*\n", re.M)

STATE = ["qom-list /objects", "info memdev", "info iothreads"]


@pytest.fixture(scope="module", params=release_params())
def twins(request: pytest.FixtureRequest) -> Iterator[Tuple[QemuRelease, Twin, Twin, HMPClient]]:
    release: QemuRelease = request.param
    parts: list = []
    try:
        a = Twin(qemu=release.program)
        parts.append(a)
        b = Twin(qemu=release.program)
        parts.append(b)
        bridge = Bridge(f"unix:path={a.bridge_socket}", "--no-passthrough")
        parts.append(bridge)
        session = bridge.session()
        parts.append(session)
        yield release, a, b, session
    finally:
        for part in reversed(parts):
            part.close()


def _normal(text: str, twin: Twin) -> str:
    return _RIG_MONITOR.sub("", _THREAD_ID.sub(r"\1N", text.replace(twin.dir, "{dir}")))


def _state(twin: Twin) -> List[str]:
    return [_normal(twin.hmp(probe), twin) for probe in STATE]


def test_corpus_lines_print_as_that_qemu(twins) -> None:
    """Each line prints what the release's own monitor prints, and the VMs end alike."""
    release, a, b, session = twins
    differences = []
    for line in CORPUS.lines_for(release.release):
        got = _normal(session.cmd(line.text.replace("{dir}", a.dir)), a)
        expected = _normal(b.hmp(line.text.replace("{dir}", b.dir)), b)
        if got != expected:
            differences.append((line.text, got, expected))
    assert differences == []
    assert _state(a) == _state(b)


# --- lines drawn from the live schema ---------------------------------------------------------

#: Object types safe to create over and over in a paused VM (no guest memory
#: touched, nothing listening, no host device needed to refuse).
FUZZED_TYPES = ("iothread", "cryptodev-backend-builtin", "acpi-generic-initiator",
                "acpi-generic-port", "memory-backend-file", "memory-backend-shm",
                "sev-guest", "sev-snp-guest", "tdx-guest", "secret", "thread-context")
#: Members whose values would make QEMU allocate or touch what the value says.
UNFUZZED = {"size", "prealloc", "mem-path", "cpu-affinity", "node-affinity"}
#: Members some release has and another lacks: asked of every release.
WANDERING = [("iothread", "poll-weight"), ("memory-backend-file", "rom"),
             ("memory-backend-file", "offset"), ("secret", "loaded"),
             ("sev-guest", "legacy-vm-type")]

_INTEGERS = ["0", "1", "-1", "63", "64", "0x10", "010", " 7", "4k", "x", "", "4294967295",
             "4294967296", "9223372036854775807", "9223372036854775808",
             "18446744073709551615", "18446744073709551616", "-9223372036854775809"]
_SIZES = ["0", "4k", "1M", "0x10", "0x10M", "1.5k", "x", "", "-1", "64Q"]
_BOOLS = ["on", "off", "yes", "n", "maybe", ""]
_STRINGS = ["x", "", "a,,b", "0"]
_FIXED = {"memory-backend-file": "size=1M,mem-path={dir}",
          "memory-backend-shm": "size=1M", "secret": "data=x"}


def _values(spec: TypeSpec) -> st.SearchStrategy[str]:
    if isinstance(spec, Enum):
        return st.sampled_from(list(spec.values) + ["bogus"])
    if spec == "bool":
        return st.sampled_from(_BOOLS)
    if spec == "size":
        return st.sampled_from(_SIZES)
    if isinstance(spec, str) and spec in INTEGERS:
        return st.sampled_from(_INTEGERS)
    return st.sampled_from(_STRINGS)


def _item(name: str, spec: TypeSpec) -> st.SearchStrategy[str]:
    if isinstance(spec, ListOf):
        return _values(spec.element).map(lambda value: f"{name}.0={value}")
    if isinstance(spec, Struct):
        return st.just(f"{name}=x")
    return _values(spec).map(lambda value: f"{name}={value}")


@st.composite
def _line(draw, options: Struct, ids: Iterator[int]) -> str:
    kinds = [kind for kind in FUZZED_TYPES if kind in options.variants]
    kind = draw(st.sampled_from(kinds + ["monitor-hmp", "memory-backend-shm"]))
    members = [(name, spec) for name, spec, _ in options.variants.get(kind, Struct(())).members
               if name not in UNFUZZED]
    members += [(name, "int") for owner, name in WANDERING
                if owner == kind and name not in dict(members)]
    picked = draw(st.lists(st.sampled_from(members), max_size=3, unique_by=lambda m: m[0])
                  if members else st.just([]))
    items = [kind, f"id=fz{next(ids)}"]
    if kind in _FIXED:
        items.append(_FIXED[kind])
    items += [draw(_item(name, spec)) for name, spec in picked]
    return "object_add " + ",".join(items)


def test_schema_drawn_lines_print_as_that_qemu(twins) -> None:
    """Lines of the release's own object types and members, values at their limits."""
    release, a, b, session = twins
    options = object_options(Schema(b.qmp.command("query-qmp-schema")))
    ids = itertools.count()

    @settings(max_examples=int(os.environ.get("HMPBRIDGE_LIVE_EXAMPLES", "40")),
              derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_line(options, ids))
    def check(line: str) -> None:
        got = _normal(session.cmd(line.replace("{dir}", a.dir)), a)
        assert got == _normal(b.hmp(line.replace("{dir}", b.dir)), b), (release.name, line)

    check()
    assert _state(a) == _state(b)
