"""The bridge's line editor is the served release's readline, against each real QEMU.

One VM per release (the system's QEMU 7.2, then 10.0.2 and 11.1.3 where
unpacked) has one ``-monitor tcp:`` per script, so each script meets a fresh
readline history as a fresh bridge session does, and a QMP socket for the
bridge, which listens with ``--listen plain:tcp:...`` (QEMU's ``-monitor
tcp:`` kind).  The same scripted raw-socket client (``monitor_exchange``)
must receive the same bytes from both: what differs between releases (^P, ^N
and ^U bound from 9.1 on), history recall of a blank line, keys typed ahead
of a running command and of a completion, a Tab as the very first key.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.golden.vm import BASE_ARGS, VM
from tests.integration.conftest import (Bridge, QemuRelease, free_port, monitor_exchange,
                                        release_params, same_bytes)

#: name -> segments sent one after the other on a fresh connection
SCRIPTS: Dict[str, Tuple[bytes, ...]] = {
    "release-keys": (b"info name\r", b"frob\r", b"\x10\x10\r", b"abc def\x1b[D\x1b[D\x15\r",
                     b"\x10\x0e\x10\r"),
    "blank-line-history": (b"info name\r", b"  \r", b"\x1b[A\x1b[A\r", b"\x1b[A\r"),
    "typed-ahead": (b"info name\rinfo ver\tx\x1b[A\x7f\r\x1b[A\x1b[A\r",),
    "tab-first": (b"info ver\t\r",),
}


class Rig:
    """A VM of one release with a monitor per script, and the bridge on its QMP socket."""

    def __init__(self, release: QemuRelease) -> None:
        self.ports = {name: free_port() for name in SCRIPTS}

        def devices(d: str) -> List[str]:
            args = ["-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off"]
            for port in self.ports.values():
                args += ["-monitor", f"tcp:127.0.0.1:{port},server=on,wait=off"]
            return args

        assert release.program is not None
        self.vm = VM(devices=devices, base=[release.program, *BASE_ARGS[1:]])
        try:
            self.bridge = Bridge(f"unix:path={self.vm.path('bridge.sock')}",
                                 listen="plain:tcp:{port}:interface=127.0.0.1")
        except BaseException:
            self.vm.close()
            raise

    def close(self) -> None:
        self.bridge.close()
        self.vm.close()


@pytest.fixture(scope="module", params=release_params())
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    rig = Rig(request.param)
    try:
        yield rig
    finally:
        rig.close()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_keys_as_the_served_release(rig: Rig, script: str) -> None:
    """A fresh bridge session answers the script's keys with the bytes QEMU's monitor sends."""
    want = monitor_exchange(("127.0.0.1", rig.ports[script]), SCRIPTS[script])
    got = monitor_exchange(("127.0.0.1", rig.bridge.port), SCRIPTS[script])
    same_bytes(got, want, script)
