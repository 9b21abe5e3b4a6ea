"""Tab completion of QAPI enumerations on each release, against QEMU's own readline.

Per release (10.0.2, 11.1.3; the system's 7.2 is compared by
``test_completion_parity`` for the same texts): twin A behind hmpbridge
(``--telnet-mode always``), twin B serving its own monitor on
``-monitor telnet:``; the real ``telnet`` program presses Tab after the same
text in both (``press_tab`` of ``test_completion_parity``).  Migration
capabilities and parameters, key names, netdev types and watchdog actions
are each release's own (QEMU 8.0 added f13-f24, 8.1-9.0 capabilities and
parameters, 9.1 dropped compress and block, 10.1 passt, 11.0 dropped
zero-blocks), so both must print the same table and leave the same line.

With ``--hmp-version 7.2`` over 11.1.3 the bridge offers what QEMU 7.2
offers, less what QEMU 11.1.3 no longer accepts.
"""

from __future__ import annotations

import shutil
from typing import Iterator, List, Tuple

import pytest

from tests.integration.conftest import Bridge, QemuRelease, Twin, free_port, qemu_releases, \
    release_params
from tests.integration.test_completion_parity import Tabbed, candidates, press_tab

pytestmark = pytest.mark.skipif(shutil.which("telnet") is None,
                                reason="telnet is not installed")

TEXTS = ["migrate_set_capability ", "migrate_set_parameter ", "sendkey ctrl-alt-f2",
         "netdev_add ", "watchdog_action "]
#: Enumerations that changed between 7.2 and 11.1.
CHANGED = TEXTS[:4]


class Rig:
    """Twin A behind a bridge, twin B (of ``qemu_b``) serving its monitor over telnet."""

    def __init__(self, qemu_a: str, qemu_b: str, *bridge_args: str,
                 machine: str = "pc") -> None:
        self.port = free_port()
        self.twins: List[Twin] = []
        self.bridge = None
        try:
            self.twins.append(Twin(qemu=qemu_a, machine=machine))
            self.twins.append(Twin(extra=["-monitor",
                                          f"telnet:127.0.0.1:{self.port},server=on,wait=off"],
                                   qemu=qemu_b))
            self.bridge = Bridge(f"unix:path={self.twins[0].bridge_socket}",
                                 "--telnet-mode", "always", *bridge_args)
        except BaseException:
            self.close()
            raise

    def both(self, text: str) -> Tuple[Tabbed, Tabbed]:
        """Tab after ``text`` in QEMU's monitor (first) and in hmpbridge (second)."""
        assert self.bridge is not None
        return press_tab(self.port, text), press_tab(self.bridge.port, text)

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.close()
        for twin in self.twins:
            twin.close()


@pytest.fixture(scope="module", params=release_params(["10.0.2", "11.1.3"]))
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    release: QemuRelease = request.param
    assert release.program is not None
    made = Rig(release.program, release.program)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.parametrize("text", TEXTS, ids=repr)
def test_tab_offers_that_releases_own_values(rig: Rig, text: str) -> None:
    """Same candidate table, same line as that QEMU's own readline."""
    qemu, bridge = rig.both(text)
    assert candidates(bridge.output) == candidates(qemu.output)
    assert bridge.output == qemu.output
    assert bridge.line == qemu.line


def offered(tab: Tabbed, text: str) -> List[str]:
    """The candidate table's words, or the one word Tab completed in the line."""
    if candidates(tab.output):
        return candidates(tab.output)
    line = tab.line.decode()
    if line == text:
        return []
    word = line.rstrip().split(" ")[-1]
    return [word.rsplit("-", 1)[-1] if text.startswith("sendkey ") else word]


def _program(release: Tuple[int, int]) -> str:
    found = next((r for r in qemu_releases() if r.release == release), None)
    if found is None or found.program is None:
        pytest.skip(found.missing if found is not None else f"no QEMU {release} here")
    return found.program


@pytest.fixture(scope="module")
def seven_two() -> Iterator[Tuple[Rig, Twin]]:
    """11.1.3 (pc-i440fx-7.2) behind ``--hmp-version 7.2`` beside a 7.2 twin; and an
    11.1.3 twin whose readline tells what 11.1.3 accepts."""
    newest, oldest = _program((11, 1)), _program((7, 2))
    made = Rig(newest, oldest, "--hmp-version", "7.2", machine="pc-i440fx-7.2")
    port = free_port()
    try:
        own = Twin(extra=["-monitor", f"telnet:127.0.0.1:{port},server=on,wait=off"],
                   qemu=newest)
        own.telnet_port = port  # type: ignore[attr-defined]
    except BaseException:
        made.close()
        raise
    try:
        yield made, own
    finally:
        own.close()
        made.close()


@pytest.mark.parametrize("text", CHANGED, ids=repr)
def test_hmp_version_7_2_offers_7_2s_values_that_11_1_accepts(
        seven_two: Tuple[Rig, Twin], text: str) -> None:
    """QEMU 7.2's candidates, less those QEMU 11.1.3's own completion lacks."""
    made, own = seven_two
    old, bridge = made.both(text)
    new = press_tab(own.telnet_port, text)  # type: ignore[attr-defined]
    want = sorted(set(offered(old, text)) & set(offered(new, text)))
    assert want, "7.2 and 11.1.3 share values here"
    assert offered(bridge, text) == want
    if want == candidates(old.output):
        assert (bridge.output, bridge.line) == (old.output, old.line)
