"""``info stats`` on each release: the targets and providers of the live schema.

Expected texts are QEMU's own (``human-monitor-command`` on twins of 7.2.22,
10.0.2 and 11.1.3 with ``-object cryptodev-backend-builtin,id=cryptodev0
-device virtio-crypto-pci,cryptodev=cryptodev0``): 8.0 added the
``cryptodev`` target and provider; ``--hmp-version 7.2`` refuses them as
QEMU 7.2 does.  Profiles are built from the schemas in
``tests/fixtures/releases``.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.info_stats import stats_providers, stats_targets
from hmpbridge.profile import QemuProfile, profile_for
from hmpbridge.testing import CannedReplies, qmp_greeting, run_line

_load_all()

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
VERSIONS = {"7.2": (7, 2, 22), "10.0": (10, 0, 2), "11.1": (11, 1, 3)}


@functools.lru_cache(maxsize=None)
def _schema(release: str) -> List[Dict[str, Any]]:
    with open(os.path.join(FIXTURES, release, "schema.json")) as f:
        return json.load(f)


def profile(release: str, hmp_version: Optional[Tuple[int, int]] = None) -> QemuProfile:
    return profile_for(qmp_greeting(VERSIONS[release]), _schema(release), hmp_version)


#: What the builtin cryptodev backend reports (QEMU 10.0.2 and 11.1.3).
CRYPTO_SCHEMAS = [{"provider": "cryptodev", "target": "cryptodev", "stats": [
    {"name": n, "exponent": 0, "type": "cumulative"}
    for n in ("asym-verify-bytes", "asym-sign-bytes", "asym-decrypt-bytes", "asym-encrypt-bytes",
              "asym-verify-ops", "asym-sign-ops", "asym-decrypt-ops", "asym-encrypt-ops",
              "sym-decrypt-bytes", "sym-encrypt-bytes", "sym-decrypt-ops", "sym-encrypt-ops")]}]
CRYPTO_STATS = [{"provider": "cryptodev", "qom-path": "/objects/cryptodev0", "stats": [
    {"name": n, "value": 0}
    for n in ("sym-decrypt-bytes", "sym-encrypt-bytes", "sym-decrypt-ops", "sym-encrypt-ops")]}]
CRYPTO_LINES = ("    sym-decrypt-bytes (cumulative): 0\n    sym-encrypt-bytes (cumulative): 0\n"
                "    sym-decrypt-ops (cumulative): 0\n    sym-encrypt-ops (cumulative): 0\n")


def _script() -> CannedReplies:
    def stats(cmd: Any) -> Any:
        return CRYPTO_STATS if cmd.arguments["target"] == "cryptodev" else []

    return CannedReplies({"query-stats-schemas": CRYPTO_SCHEMAS, "query-stats": stats,
                          "query-cpus-fast": [{"cpu-index": 0, "qom-path": "/machine/cpu0"}]},
                         default=[])


def run(line: str, prof: QemuProfile) -> Tuple[str, CannedReplies]:
    script = _script()
    return run_line(line, script, Context(profile=prof, passthrough=False)), script


def test_enums_follow_the_schema_of_each_release() -> None:
    """7.2 has vm and vcpu and kvm; 10.0 and 11.1 add cryptodev to both, in QEMU's order."""
    assert (stats_targets(profile("7.2")), stats_providers(profile("7.2"))) == (
        ("vm", "vcpu"), ("kvm",))
    for release in ("10.0", "11.1"):
        assert stats_targets(profile(release)) == ("vm", "vcpu", "cryptodev")
        assert stats_providers(profile(release)) == ("kvm", "cryptodev")
    seven_two = profile("11.1", (7, 2))
    assert (stats_targets(seven_two), stats_providers(seven_two)) == (("vm", "vcpu"), ("kvm",))


@pytest.mark.parametrize("release", ["10.0", "11.1"])
def test_cryptodev_target_prints_the_providers_statistics(release: str) -> None:
    """``info stats cryptodev``: the provider line, then each statistic (QEMU's own text)."""
    text, script = run("info stats cryptodev", profile(release))
    assert text == "provider: cryptodev\n" + CRYPTO_LINES
    assert script.sent[-1].arguments == {"target": "cryptodev"}
    text, script = run("info stats cryptodev , cryptodev", profile(release))
    assert text == CRYPTO_LINES
    assert script.sent[0].arguments == {"provider": "cryptodev"}
    assert script.sent[-1].arguments == {
        "target": "cryptodev", "providers": [{"provider": "cryptodev", "names": ["", ""]}]}


@pytest.mark.parametrize("which, names", [
    ("7.2", ["a", "", "b"]), ("11.1/7.2", ["a", "", "b"]),
    ("10.0", ["a", "", "b", ""]), ("11.1", ["a", "", "b", ""])])
def test_names_split_as_each_release_splits(which: str, names: List[str]) -> None:
    """7.2's ``strList_from_comma_list`` drops a trailing comma; 8.0's ``g_strsplit`` keeps it."""
    release, _, hmp = which.partition("/")
    _, script = run("info stats vm a,,b, kvm", profile(release, (7, 2) if hmp else None))
    assert script.sent[-1].arguments["providers"] == [{"provider": "kvm", "names": names}]


@pytest.mark.parametrize("release", ["10.0", "11.1"])
def test_names_without_provider_filter_every_provider_prepended(release: str) -> None:
    """A filter per provider of the live enum, the last first (QEMU prepends)."""
    _, script = run("info stats vm a,b", profile(release))
    assert script.sent[-1].arguments == {"target": "vm", "providers": [
        {"provider": "cryptodev", "names": ["a", "b"]}, {"provider": "kvm", "names": ["a", "b"]}]}


@pytest.mark.parametrize("line", ["info stats cryptodev", "info stats cryptodev * cryptodev",
                                  "info stats vm * cryptodev"])
def test_7_2_text_refuses_cryptodev_as_7_2_does(line: str) -> None:
    """On 7.2 and with ``--hmp-version 7.2`` over 11.1, 7.2's words and no QMP."""
    want = ("invalid stats target cryptodev\n" if line.split()[2] == "cryptodev"
            else "invalid stats provider cryptodev\n")
    for prof in (profile("7.2"), profile("11.1", (7, 2))):
        text, script = run(line, prof)
        assert (text, script.sent) == (want, [])


def test_7_2_text_filters_only_kvm_over_11_1() -> None:
    """Names without a provider: QEMU 7.2 sends one filter, for kvm."""
    _, script = run("info stats vm a", profile("11.1", (7, 2)))
    assert script.sent[-1].arguments == {"target": "vm",
                                         "providers": [{"provider": "kvm", "names": ["a"]}]}


def test_without_schema_the_printed_releases_values() -> None:
    """Before a schema is known: the values the printed release had."""
    prof = profile_for(qmp_greeting((10, 0, 2)), None)
    assert stats_targets(prof) == ("vm", "vcpu", "cryptodev")
    assert stats_providers(prof) == ("kvm", "cryptodev")


_WORDS = st.sampled_from(["vm", "vcpu", "cryptodev", "kvm", "bogus", "VM", "Cryptodev", "*", ",",
                          "a,b", "sym-encrypt-ops"])


@given(st.sampled_from(["7.2", "10.0", "11.1", "11.1/7.2"]), _WORDS, _WORDS, _WORDS)
def test_refusals_and_filters_follow_the_printed_release(which: str, target: str, names: str,
                                                         provider: str) -> None:
    """Whatever the words: refused with QEMU's words iff the printed release lacks the value,
    else only that release's providers and targets reach QMP."""
    release, _, hmp = which.partition("/")
    prof = profile(release, (7, 2) if hmp else None)
    targets, providers = stats_targets(prof), stats_providers(prof)
    text, script = run(f"info stats {target} {names} {provider}", prof)
    if target not in targets:
        assert (text, script.sent) == (f"invalid stats target {target}\n", [])
    elif provider not in providers:
        assert (text, script.sent) == (f"invalid stats provider {provider}\n", [])
    else:
        request = script.sent[-1].arguments
        assert request["target"] in targets
        assert [p["provider"] for p in request["providers"]] == [provider]
        assert text in ("", CRYPTO_LINES)
