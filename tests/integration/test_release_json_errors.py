"""Malformed JSON on each live release: the bridge answers in that QEMU's own words.

On one VM, QEMU's own QMP socket and the bridge's QMP endpoint get the same
battery of malformed input (tests/tools/capture_json_errors.py: every error
kind, positions after several lines, tabs, multi-byte characters, chunks split
mid-token); the replies must be the same bytes.  ``qom-set -j`` with the same
bad values prints what QEMU's HMP prints, and behind ``--hmp-version 10.0`` on
QEMU 11.1 what QEMU 10.0 printed (its recorded fixture).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import pytest

from tests.integration.conftest import Bridge, Twin, release_params
from tests.tools.capture_json_errors import HMP_VALUES, QMP_CHUNKS, RELEASES, qmp_exchange


@pytest.fixture(scope="module", params=release_params())
def rig(request):
    release = request.param
    twin = Twin(["-qmp", "unix:{dir}/probe.sock,server=on,wait=off"], qemu=release.program)
    mux_path = os.path.join(twin.dir, "mux.sock")
    bridge = Bridge(f"unix:path={twin.bridge_socket}", "--qmp-listen", f"unix:{mux_path}")
    yield release, twin, bridge, mux_path
    bridge.close()
    twin.close()


def test_qmp_endpoint_answers_bad_json_as_qemu_does(rig) -> None:
    release, twin, bridge, mux_path = rig
    qemu = qmp_exchange(os.path.join(twin.dir, "probe.sock"), QMP_CHUNKS)
    ours = qmp_exchange(mux_path, QMP_CHUNKS)
    assert any("JSON parse error" in line for line in qemu)
    assert ours == qemu


def test_qom_set_json_errors_as_qemu_prints_them(rig) -> None:
    release, twin, bridge, mux_path = rig
    session = bridge.session()
    try:
        for value in HMP_VALUES:
            if "\t" in value or not value.isascii():  # a tab completes; the echo is bytes
                continue
            line = "qom-set -j /machine foo " + value
            assert session.cmd(line) == twin.hmp(line), value
    finally:
        session.close()


def left_out(test: str, params: Dict[str, Any]) -> bool:
    """``--hmp-version 10.0`` is an older text only from QEMU 11.1 on: deselected before."""
    release = params.get("rig")
    return test == "test_hmp_version_10_0_on_11_1_prints_10_0s_words" and \
        release is not None and release.release < (11, 1)


def test_hmp_version_10_0_on_11_1_prints_10_0s_words(rig) -> None:
    release, twin, bridge, mux_path = rig
    with open(os.path.join(RELEASES, "10.0", "json-errors.json"), encoding="utf-8") as f:
        want = {case["value"]: case["output"] for case in json.load(f)["hmp"]}
    older = Bridge(f"unix:path={os.path.join(twin.dir, 'probe.sock')}", "--hmp-version", "10.0")
    session = older.session()
    try:
        for value in ("{", "[1:]", '{"a" 1}', "{{", "}"):
            assert session.cmd("qom-set -j /machine foo " + value) == want[value], value
    finally:
        session.close()
        older.close()
