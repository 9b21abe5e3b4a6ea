"""The pure helpers of the latency part and its relays (``bench/latency.py``, ``bench/relays.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.latency import BRIDGE, DIRECT, FLOOR, ratios, relay_method
from bench.relays import SOCAT, listening_ports, relay_command


def test_ratios_to_direct_qmp_and_to_the_fastest_hop() -> None:
    """The best hop is the fastest of QMP, relays, floor and bridge; QEMU's HMP paths are not hops."""
    results = {DIRECT: [200, 200, 200], relay_method("socat"): [150, 150, 150],
               BRIDGE: [600] * 3, FLOOR: [450] * 3, "QEMU HMP info status": [100] * 3}
    table = ratios(results)
    assert table[DIRECT][2:] == (1.0, 200 / 150)
    assert table[relay_method("socat")][2:] == (0.75, 1.0)
    assert table[BRIDGE][2:] == (3.0, 4.0)
    assert table["QEMU HMP info status"][3] == 100 / 150


def test_relay_commands() -> None:
    """socat forks a relay per client; the Python relays are this module run by this Python."""
    assert relay_command("socat", "/q.sock", 4000) == [
        SOCAT, "TCP-LISTEN:4000,bind=127.0.0.1,reuseaddr,fork,nodelay", "UNIX-CONNECT:/q.sock"]
    assert relay_command("uvloop", "/q.sock", 4000) == [
        sys.executable, "-m", "bench.relays", "uvloop", "/q.sock", "4000"]
    with pytest.raises(ValueError):
        relay_command("nginx", "/q.sock", 4000)


def test_listening_ports_reads_the_listen_state(tmp_path: Path) -> None:
    """Only sockets in state 0A (LISTEN) count; ports are hexadecimal."""
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0100007F:0FA0 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:0FA1 0100007F:D431 01 00000000:00000000\n")
    assert listening_ports(str(table)) == [4000]
