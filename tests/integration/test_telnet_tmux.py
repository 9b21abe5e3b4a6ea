"""The real ``telnet`` program in a real terminal (tmux), against the bridge's default
listener and against QEMU's own ``-monitor telnet:``, key for key.

``telnet 127.0.0.1 PORT`` is how people reach QEMU's monitor: QEMU negotiates
at connect, so Tab, the arrows and history work from the very first keystroke.
The same keys go to a telnet in a second tmux window connected to the same
VM's own telnet monitor; after each step both screens (``capture-pane``) must
be the same, apart from the port each telnet names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Callable, Dict, Iterator, List

import pytest

from tests.integration.conftest import Bridge, Twin, free_port

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(shutil.which("telnet") is None, reason="telnet is not installed"),
]


class Tmux:
    """A tmux server of this test alone (its own socket), one window per telnet."""

    def __init__(self) -> None:
        self.socket = f"hmpbridge-test-{os.getpid()}-{free_port()}"
        self.started = False
        #: the port each window's telnet connected to
        self.ports: Dict[str, int] = {}

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=True, timeout=10).stdout

    def telnet(self, name: str, port: int) -> None:
        """A window ``name`` running ``telnet 127.0.0.1 port``."""
        command = f"telnet 127.0.0.1 {port}"
        if not self.started:
            self.run("new-session", "-d", "-s", "t", "-n", name, "-x", "100", "-y", "30",
                     command)
            self.started = True
        else:
            self.run("new-window", "-d", "-t", "t", "-n", name, command)
        self.run("set-option", "-t", f"t:{name}", "remain-on-exit", "on")
        self.ports[name] = port

    def keys(self, name: str, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", f"t:{name}", *(["-l"] if literal else []), *keys)

    def screen(self, name: str) -> List[str]:
        """The window's visible lines, trailing blanks removed."""
        lines = self.run("capture-pane", "-p", "-t", f"t:{name}").rstrip("\n").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        return [line.rstrip() for line in lines]

    def wait(self, name: str, ready: Callable[[List[str]], bool], what: str,
             timeout: float = 10) -> List[str]:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(name)
            if ready(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: no {what} on the screen:\n" + "\n".join(screen))
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


def last_line_is(text: str) -> Callable[[List[str]], bool]:
    return lambda screen: bool(screen) and screen[-1] == text


@pytest.fixture(scope="module")
def screens() -> Iterator[Tmux]:
    """A window with telnet to the bridge's default listener (``bridge``) and one to
    QEMU's own telnet monitor of the VM behind it (``qemu``), both at their first prompt."""
    telnet_port = free_port()
    vm = Twin(["-monitor", f"telnet:127.0.0.1:{telnet_port},server=on,wait=off"])
    bridge = Bridge(f"unix:path={vm.bridge_socket}")  # the default listener kind: telnet
    tmux = Tmux()
    try:
        tmux.telnet("bridge", bridge.port)
        tmux.telnet("qemu", telnet_port)
        for name in ("bridge", "qemu"):
            tmux.wait(name, last_line_is("(qemu)"), "first prompt")
        yield tmux
    finally:
        tmux.kill()
        bridge.close()
        vm.close()


def same_screens(tmux: Tmux, ready: Callable[[List[str]], bool], what: str) -> List[str]:
    """Both windows once each shows ``what``; they must be the same (ports aside)."""
    bridge = tmux.wait("bridge", ready, what)
    qemu = tmux.wait("qemu", ready, what)
    ports = tmux.ports
    assert [line.replace(str(ports["bridge"]), "PORT") for line in bridge] == \
        [line.replace(str(ports["qemu"]), "PORT") for line in qemu]
    return bridge


def both(tmux: Tmux, *keys: str, literal: bool = False) -> None:
    for name in ("bridge", "qemu"):
        tmux.keys(name, *keys, literal=literal)


def test_first_keys_complete(screens: Tmux) -> None:
    """``info bal<Tab>`` as the very first keys completes to ``info balloon``; Enter runs it."""
    both(screens, "info bal", literal=True)
    both(screens, "Tab")
    same_screens(screens, last_line_is("(qemu) info balloon"), "completed line")
    both(screens, "Enter")
    screen = same_screens(screens, lambda s: s[-1] == "(qemu)" and len(s) > 5, "answer")
    assert screen[-2].startswith("balloon: actual=")


def test_arrows_and_history(screens: Tmux) -> None:
    """Up recalls earlier lines, Down a later one; Backspace, Left and End edit it."""
    both(screens, "info status", literal=True)
    both(screens, "Enter")
    same_screens(screens, lambda s: s[-1] == "(qemu)" and "VM status" in s[-2], "status")
    both(screens, "Up", "Up")
    same_screens(screens, last_line_is("(qemu) info balloon"), "recalled line")
    both(screens, "Down")
    same_screens(screens, last_line_is("(qemu) info status"), "next line")
    both(screens, *["BSpace"] * 6)
    both(screens, "nme", literal=True)
    both(screens, "Left", "Left")
    both(screens, "a", literal=True)
    both(screens, "End")
    same_screens(screens, last_line_is("(qemu) info name"), "edited line")
    both(screens, "Enter")
    screen = same_screens(screens, lambda s: s[-1] == "(qemu)" and s[-2] == "labvm", "name")
    assert screen[-3] == "(qemu) info name"


def test_tab_lists_candidates(screens: Tmux) -> None:
    """Tab on an ambiguous word lists the candidates and redraws the line, as QEMU does."""
    both(screens, "info st", literal=True)
    both(screens, "Tab")
    screen = same_screens(screens, last_line_is("(qemu) info stat"), "candidates")
    assert "stats" in screen[-2] and "status" in screen[-2]
    both(screens, "C-a", "C-k")  # 7.2 ignores ^K: the line stays; Enter runs it either way
    both(screens, "Enter")
    same_screens(screens, lambda s: s[-1] == "(qemu)", "prompt")
