"""Requests that kill one QEMU release and not another, held to the live releases:
QEMU 11.1.3 dies on ``x-query-virtio-status`` (HMP's ``info virtio-status``),
so the bridge refuses it there, to HMP sessions and QMP clients alike, and QEMU
lives; 7.2 and 10.0 answer it as their own monitor does."""

from __future__ import annotations

from typing import Iterator, Tuple

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import VM
from tests.integration.conftest import Bridge, QemuRelease, release_params, served_release

PATH = "/machine/peripheral/vblk0/virtio-backend"


@pytest.fixture(scope="module", params=release_params())
def served(request: pytest.FixtureRequest) -> Iterator[Tuple[QemuRelease, VM, Bridge, str]]:
    qemu: QemuRelease = request.param
    with served_release(qemu, "--qmp-listen", "unix:{mux}") as (vm, bridge, mux):
        yield qemu, vm, bridge, mux


def test_virtio_status_where_it_kills_qemu(served) -> None:
    qemu, vm, bridge, mux = served
    session = bridge.session()
    client = QMPClient(mux)
    try:
        text = session.cmd(f"info virtio-status {PATH}")
        reply = client.send({"execute": "x-query-virtio-status", "arguments": {"path": PATH}})
        carried = client.send({"execute": "human-monitor-command",
                              "arguments": {"command-line": f"info virtio-status {PATH}"}})
        if qemu.release >= (11, 1):
            assert text == ("Error: hmpbridge does not send x-query-virtio-status: "
                            "it makes QEMU 11.1 abort\n")
            assert reply["error"]["desc"] == text[len("Error: "):-1]
            assert "does not send 'info virtio-status'" in carried["error"]["desc"]
        else:
            assert text == vm.qmp.hmp(f"info virtio-status {PATH}")
            assert "return" in reply and "return" in carried
        # QEMU lives, and the bridge still serves it
        assert vm.qmp.command("query-status")["status"] == "prelaunch"
        assert session.cmd("info status") == "VM status: paused (prelaunch)\n"
    finally:
        client.close()
        session.close()
