"""Several HMP sessions at once over hmpbridge's one QMP connection."""

from __future__ import annotations

import threading
from typing import Dict, List

from tests.integration.conftest import QEMUMonitorSession

#: Each session alternates two commands whose answers no other session asks for.
SESSION_LINES = {
    "one": ["info uuid", "info kvm"],
    "two": ["qom-get /machine/peripheral/nic0 mac", "info name"],
    "three": ["info version", "qom-get /machine/peripheral/balloon0 type"],
}
ROUNDS = 60


def test_three_sessions_interleave_without_crossing(bridge, twins):
    _, b = twins
    want = {name: {line: b.hmp(line) for line in lines} for name, lines in SESSION_LINES.items()}
    clients = {name: bridge.session() for name in SESSION_LINES}
    results: Dict[str, List[str]] = {}
    errors: List[BaseException] = []
    start = threading.Barrier(len(clients))

    def drive(name: str) -> None:
        try:
            client = clients[name]
            lines = SESSION_LINES[name] * ROUNDS
            start.wait()
            # pipeline everything at once, so the sessions' lines interleave at QEMU
            client.sock.sendall("".join(line + "\n" for line in lines).encode())
            results[name] = [client.read_answer(line) for line in lines]
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=drive, args=(name,)) for name in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for client in clients.values():
        client.close()
    assert not errors
    for name, lines in SESSION_LINES.items():
        assert results[name] == [want[name][line] for line in lines * ROUNDS], name


def test_session_history_is_its_own(bridge, twins):
    _, b = twins
    qemu = QEMUMonitorSession(b.hmp_port)
    first, second = bridge.session(), bridge.session()
    try:
        qemu.cmd("info name")
        first.cmd("info name")
        second.cmd("info uuid")
        assert first.cmd("info history") == qemu.cmd("info history")
        # QEMU shares one history among all its monitor's clients; the bridge does not
        history = second.cmd("info history")
        assert "info name" not in history and "'info uuid'" in history
    finally:
        qemu.close()
        first.close()
        second.close()


def test_events_shown_to_who_asked_and_replayed_to_late_joiners(bridge, twins):
    a, _ = twins
    watcher, operator = bridge.session(), bridge.session()
    try:
        assert watcher.cmd(".events on") == ""
        operator.cmd("cont")
        operator.cmd("stop")
        shown = []
        while len(shown) < 2:
            shown.append(watcher.read_until_prompt().decode())
        assert "] RESUME\r\n" in shown[0] and "] STOP\r\n" in shown[1]
        # the operator did not ask: its answers are QEMU's text alone
        assert operator.cmd("info status") == a.hmp("info status")
        late = bridge.session()
        replay = late.cmd(".events replay")
        assert replay.splitlines()[-2:][0].endswith("] RESUME")
        assert replay.splitlines()[-1].endswith("] STOP")
        late.close()
    finally:
        watcher.close()
        operator.close()
