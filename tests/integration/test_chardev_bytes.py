"""Each HMP listener is, byte for byte, one of QEMU's own monitor chardevs.

The same scripted client talks to QEMU's ``-monitor telnet:...,server=on``
and to the bridge's telnet listener (``--listen telnet:tcp:...``), to QEMU's
``-monitor tcp:`` and the bridge's ``--listen plain:tcp:...``, to QEMU's
``-monitor unix:`` and the bridge's ``--listen plain:unix:...``, and must
receive the same bytes: telnet option bytes, the banner naming the real QEMU,
readline's echo with its redraw sequences, ``\\r\\n`` line ends, completion
lists, answers and prompts.

Per release (the system's QEMU, then 10.0.2 and 11.1.3 where unpacked) there
are twin VMs with the same command line: *B* serves the expected bytes from
its own monitors; *A* is behind the bridge, and has the same monitors too, so
the same script against A's and B's monitors (``target`` ``qemu``) checks the
harness itself: two QEMUs give identical bytes.

A script is sent after the banner's prompt, in the segments it lists (all at
once: QEMU reads one byte at a time and answers each line before reading the
next, so typed-ahead keys are echoed after the answer), then a sentinel line
``print 0x5e1``; once its answer came, the client half-closes and reads until
the server closes (``monitor_exchange`` in ``conftest.py``).  Whole streams are
compared: only their concatenation counts, never how the reads split them.

Clients: raw sockets (one byte per send with ``TCP_NODELAY`` for the split
scripts), ``nc``, ``socat`` with and without ``crlf``, and ``telnet`` driven by
pexpect; a Hypothesis test types random keys (``HMPBRIDGE_FUZZ=deep`` for
many more, and to shrink a failure).

The system's QEMU runs everything.  The newer releases differ from it in their
readline (keys, history, completion), not in the chardevs' framing, so there
the scripts run on the telnet kind only, the programs are telnet and nc, and
QEMU is not checked against its twin.  ``HMPBRIDGE_CHARDEV_FULL=1`` runs every
script on every release and kind, the self-check included, and the 4 KB line
(2 to 7 s of QEMU per run: it echoes 33 MB) too; without it those cases are
deselected (:func:`left_out`), not skipped.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pexpect
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.golden.vm import BASE_ARGS, VM
from tests.integration.conftest import (PROMPT, SENTINEL, TELNET_NEGOTIATION, Address, Bridge,
                                        QemuRelease, connect, free_port, monitor_exchange,
                                        qemu_releases, read_into, release_params, same_bytes)

#: Listener kinds compared: QEMU's chardev option and the bridge's listener.
KINDS = ("telnet", "tcp", "unix")
#: How long a server may take to answer a script's sentinel line.
ANSWER_TIMEOUT = 10.0
FULL = os.environ.get("HMPBRIDGE_CHARDEV_FULL") == "1"
DEEP = os.environ.get("HMPBRIDGE_FUZZ") == "deep"

#: Scripts that meet a difference of the bridge's own (not of its framing).
KNOWN: Dict[str, str] = {}


@dataclass(frozen=True)
class Script:
    """Keys a client sends after the banner, and where they may run.

    :ivar segments: sent one after the other (each one ``send``).
    :ivar pause: seconds between segments (0: back to back).
    :ivar kinds: the listener kinds it runs on.
    :ivar everywhere: run on every release, kind and as a self-check (else the
        system's QEMU and the first of ``kinds`` only, unless ``HMPBRIDGE_CHARDEV_FULL``).
    :ivar timeout: how long the sentinel's answer may take.
    """

    name: str
    segments: Tuple[bytes, ...]
    pause: float = 0.0
    kinds: Tuple[str, ...] = KINDS
    everywhere: bool = True
    timeout: float = ANSWER_TIMEOUT


def _bytewise(data: bytes) -> Tuple[bytes, ...]:
    return tuple(bytes([b]) for b in data)


#: ``print 0`` and 2044 more terms, 4096 bytes: QEMU keeps 4095 (``+1``, not ``+11``).
LONG_LINE = b"print 0" + b"+0" * 2043 + b"+11"
assert len(LONG_LINE) == 4096

SCRIPTS = [
    Script("lines", (b"info name\rinfo status\rprint 1+2\rinfo nosuch\r",)),
    Script("empty-lines", (b"\r", b"\r\rinfo name\r", b" \r")),
    Script("crlf", (b"info name\r\ninfo status\r\n",)),
    Script("crnul", (b"info name\r\0info status\r\0",)),
    Script("lf", (b"info name\ninfo status\n",)),
    Script("cr-then-lf-later", (b"info name\r", b"\ninfo status\r", b"\n"), pause=0.1),
    Script("tab", (b"info st\t", b"us\r", b"info bal\t\r", b"\t", b"\r", b"print 1\t+2\r")),
    Script("arrows-history", (b"info name\r", b"info sttus\x1b[D\x1b[D\x1b[Da\x1b[C\x1b[C\x1b[C\r",
                              b"\x1b[A\x1b[A\r", b"\x1b[A\x1b[B\x1b[B\r",
                              b"xinfo name\x01\x1b[3~\x05\x1bOH\x1bOF\x1b[1~\x1b[4~\r",
                              b"print 1 junk\x17\x7f\x08\r", b"\x1b[A\x1b[A\x1b[A\r")),
    Script("ctrl-keys", (b"info st\x03atus\r", b"\x03\r", b"garbage\x15info name\r",
                         b"\x10\r", b"\x0e\r", b"info na\x0bme\x04\r", b"\x0c\r")),
    Script("split-bytes", _bytewise(b"info status\r\x1b[A\rprint 1+2\r\n"), pause=0.002),
    Script("telnet-commands", (b"\xff\xfd\x18\xff\xfb\x1f\xff\xfd\x01info name\r",
                               b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0xinfo status\r",
                               b"\xff\xf3\xff\xf1print 1\xff\xff\r", b"\xff\xfb", b"\x18\r")),
    Script("telnet-commands-split", _bytewise(b"\xff\xfd\x18info\xff\xfb\x1f name\r"),
           pause=0.002),
    Script("info-blank", (b"info \r", b"info  \r"), kinds=("tcp",)),
    Script("4k-line", (LONG_LINE + b"\r",), kinds=("tcp", "telnet", "unix"), everywhere=False,
           timeout=120),
]
SCRIPT_BY_NAME = {script.name: script for script in SCRIPTS}


def monitor_args(prefix: str, d: str) -> Tuple[List[str], Dict[str, Address]]:
    """QEMU arguments for one monitor of each kind (and a second tcp one for the long
    line, so it does not hold up the others), and their addresses."""
    telnet, tcp, long_tcp = free_port(), free_port(), free_port()
    unix = os.path.join(d, f"{prefix}.sock")
    args = ["-monitor", f"telnet:127.0.0.1:{telnet},server=on,wait=off",
            "-monitor", f"tcp:127.0.0.1:{tcp},server=on,wait=off",
            "-monitor", f"unix:{unix},server=on,wait=off",
            "-monitor", f"tcp:127.0.0.1:{long_tcp},server=on,wait=off"]
    return args, {"telnet": ("127.0.0.1", telnet), "tcp": ("127.0.0.1", tcp), "unix": unix,
                  "long": ("127.0.0.1", long_tcp)}


class Monitors:
    """A VM with QEMU's own monitors of each kind (and, for A, the bridge's QMP socket)."""

    def __init__(self, release: QemuRelease, bridge_qmp: bool) -> None:
        self.addresses: Dict[str, Address] = {}

        def devices(d: str) -> List[str]:
            args, self.addresses = monitor_args("hmp", d)
            if bridge_qmp:
                args += ["-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off"]
            return args

        assert release.program is not None
        self.vm = VM(devices=devices, base=[release.program, *BASE_ARGS[1:]])
        _wait(lambda: os.path.exists(str(self.addresses["unix"])), "QEMU's unix monitor")

    def close(self) -> None:
        self.vm.close()


class Rig:
    """Twin VMs of one release and the bridge in front of A (started when first asked for)."""

    def __init__(self, release: QemuRelease) -> None:
        self.release = release
        self.b = Monitors(release, bridge_qmp=False)
        self.a = Monitors(release, bridge_qmp=True)
        self._bridge: Optional[Bridge] = None
        self._bridge_error: Optional[str] = None
        self.bridge_addresses: Dict[str, Address] = {}
        self._expected: Dict[Tuple[str, str], bytes] = {}
        self._long: Optional[threading.Thread] = None
        if release.name == qemu_releases()[0].name:  # the 4 KB line's reference, meanwhile
            self._long = threading.Thread(target=self.expected, args=("long", "4k-line"),
                                          daemon=True)
            self._long.start()

    def bridge(self) -> Dict[str, Address]:
        """The bridge's listener of each kind (and its listeners without a kind prefix)."""
        if self._bridge is None and self._bridge_error is None:
            d = self.a.vm.dir
            plain_tcp, default_tcp, events_tcp = free_port(), free_port(), free_port()
            unix, default_unix, read_only_unix = (os.path.join(d, name) for name in
                                                  ("b.sock", "bd.sock", "bro.sock"))
            try:
                self._bridge = Bridge(
                    f"unix:path={self.a.vm.path('bridge.sock')}",
                    "--listen", f"plain:tcp:{plain_tcp}:interface=127.0.0.1",
                    "--listen", f"plain:unix:{unix}",
                    "--listen", f"tcp:{default_tcp}:interface=127.0.0.1",
                    "--listen", f"unix:{default_unix}",
                    "--events-listen", f"tcp:{events_tcp}:interface=127.0.0.1",
                    "--read-only-listen", f"unix:{read_only_unix}",
                    listen="telnet:tcp:{port}:interface=127.0.0.1")
            except RuntimeError as err:
                self._bridge_error = str(err)
            else:
                self.bridge_addresses = {
                    "telnet": ("127.0.0.1", self._bridge.port), "tcp": ("127.0.0.1", plain_tcp),
                    "unix": unix, "long": ("127.0.0.1", plain_tcp),
                    "default-tcp": ("127.0.0.1", default_tcp), "default-unix": default_unix,
                    "events-tcp": ("127.0.0.1", events_tcp), "read-only-unix": read_only_unix}
        if self._bridge_error is not None:
            pytest.fail(f"the bridge did not start: {self._bridge_error[-2000:]}")
        return self.bridge_addresses

    def expected(self, kind: str, script: str) -> bytes:
        """What QEMU B's own monitor of ``kind`` sends for ``script`` (recorded once)."""
        if (kind, script) not in self._expected:
            if script == "4k-line" and kind in ("tcp", "long") and self._long is not None \
                    and threading.current_thread() is not self._long:
                self._long.join()
                kind = "long"
            if (kind, script) not in self._expected:
                self._expected[(kind, script)] = run_script(self.b.addresses[kind],
                                                            SCRIPT_BY_NAME[script])
        return self._expected[(kind, script)]

    def close(self) -> None:
        if self._long is not None:
            self._long.join()
        if self._bridge is not None:
            self._bridge.close()
        self.a.close()
        self.b.close()


def _wait(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_script(address: Address, script: Script) -> bytes:
    """Every byte a fresh connection to ``address`` receives for ``script``."""
    return monitor_exchange(address, script.segments, pause=script.pause,
                            timeout=script.timeout)


@pytest.fixture(scope="module", params=release_params())
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    release: QemuRelease = request.param
    rig = Rig(release)
    try:
        yield rig
    finally:
        rig.close()


def _cases() -> List[object]:
    """(script, kind, target) for every comparison; a :data:`KNOWN` difference is a strict
    xfail."""
    cases = []
    for script in SCRIPTS:
        for kind in script.kinds if (script.everywhere or FULL) else script.kinds[:1]:
            for target in ("qemu", "bridge"):
                if target == "qemu" and not (script.everywhere or FULL):
                    continue
                marks = []
                if target == "bridge" and script.name in KNOWN:
                    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[script.name])]
                cases.append(pytest.param(script.name, kind, target,
                                          id=f"{kind}-{script.name}-{target}", marks=marks))
    return cases


def left_out(test: str, params: Dict[str, Any]) -> bool:
    """The cases left to ``HMPBRIDGE_CHARDEV_FULL=1`` (see the module's docstring), deselected
    to keep the suite's time: on the newer releases, QEMU against its twin, client programs
    other than telnet and nc (and none on unix), scripts on kinds other than telnet, and the
    4 KB line."""
    release = params.get("rig")
    if FULL or release is None or release.name == qemu_releases()[0].name:
        return False
    target, kind = params.get("target"), params.get("kind")
    if target == "qemu" or params.get("script") == "4k-line":
        return True
    client = params.get("client")
    if client is not None:
        return client not in ("telnet", "nc") or kind == "unix"
    return target is not None and kind != "telnet"


def _run_on(rig: Rig, target: str, kind: str, script: Script) -> bytes:
    address = (rig.a.addresses if target == "qemu" else rig.bridge())[kind]
    return run_script(address, script)


def connect_bytes(address: Address) -> bytes:
    """What a client that sends nothing receives up to the first prompt."""
    sock = connect(address)
    data = bytearray()
    try:
        read_into(sock, data, PROMPT, 0, ANSWER_TIMEOUT)
        return bytes(data)
    finally:
        sock.close()


@pytest.mark.parametrize("kind", KINDS)
def test_qemu_banner_names_the_release(rig: Rig, kind: str) -> None:
    """QEMU's own monitors: the telnet kind negotiates first, then the same banner everywhere."""
    banner = (f"QEMU {rig.release.name} monitor - type 'help' for more information\r\n"
              ).encode() + PROMPT
    want = (TELNET_NEGOTIATION if kind == "telnet" else b"") + banner
    assert connect_bytes(rig.b.addresses[kind]) == want


@pytest.mark.parametrize("kind", KINDS)
def test_bridge_connect_bytes_are_qemus(rig: Rig, kind: str) -> None:
    """The bridge's banner names the real QEMU; the telnet listener negotiates as QEMU does."""
    same_bytes(connect_bytes(rig.bridge()[kind]), connect_bytes(rig.b.addresses[kind]),
               f"{kind} connect")


@pytest.mark.parametrize("listener,kind", [("default-tcp", "telnet"), ("default-unix", "unix"),
                                           ("events-tcp", "telnet"),
                                           ("read-only-unix", "unix")])
def test_listeners_without_a_kind(rig: Rig, listener: str, kind: str) -> None:
    """Without a kind, a network endpoint is telnet and a unix socket plain, as people
    use QEMU's own monitors (``--listen``, ``--events-listen``, ``--read-only-listen``)."""
    same_bytes(connect_bytes(rig.bridge()[listener]), connect_bytes(rig.b.addresses[kind]),
               f"{listener} connect")


@pytest.mark.parametrize("script,kind,target", _cases())
def test_script_bytes(rig: Rig, script: str, kind: str, target: str) -> None:
    """The whole byte stream of a scripted client equals what QEMU's own monitor sends."""
    got = _run_on(rig, target, "long" if script == "4k-line" and kind == "tcp" else kind,
                  SCRIPT_BY_NAME[script])
    same_bytes(got, rig.expected(kind, script), f"{target} {kind} {script}")


# --- real client programs -------------------------------------------------------------------

#: What the programs send on their standard input: lines as a shell script writes them.
PIPELINE = b"info name\ninfo status\n\nprint 1+2\ninfo st\tus\n\xff\xfd\x18info name\n"


def _program(client: str, address: Address) -> Optional[List[str]]:
    """The command line of ``client`` connecting to ``address`` (None: not installed)."""
    tool = {"nc": "nc", "socat": "socat", "socat-crlf": "socat"}[client]
    if shutil.which(tool) is None:
        return None
    if tool == "nc":
        return ["nc", "-N", address[0], str(address[1])] if isinstance(address, tuple) \
            else ["nc", "-N", "-U", address]
    target = (f"TCP:{address[0]}:{address[1]}" if isinstance(address, tuple)
              else f"UNIX-CONNECT:{address}") + (",crlf" if client == "socat-crlf" else "")
    return ["socat", "-t", "5", "-", target]


def run_program(client: str, address: Address) -> bytes:
    command = _program(client, address)
    if command is None:
        pytest.skip(f"{client} is not installed")
    return subprocess.run(command, input=PIPELINE, capture_output=True, timeout=30).stdout


def telnet_transcript(address: Address) -> bytes:
    """What ``telnet`` shows its user for a short session (typed keys, then ``^]`` quit)."""
    assert isinstance(address, tuple)
    log = io.BytesIO()
    child = pexpect.spawn("telnet", [address[0], str(address[1])], timeout=ANSWER_TIMEOUT,
                          env={"TERM": "xterm", "PATH": os.environ.get("PATH", "")})
    child.logfile_read = log
    try:
        child.expect_exact(PROMPT)
        for keys in (b"info st\t", b"us\r", b"info name\r", b"\x1b[A\r"):
            child.send(keys)
        child.send(SENTINEL)
        child.expect_exact(b"0x5e1")
        child.expect_exact(PROMPT)
        child.sendcontrol("]")
        child.expect_exact(b"telnet> ")
        child.send(b"quit\r")
        child.expect(pexpect.EOF)
    except pexpect.TIMEOUT:
        log.write(b"<timeout>")
    finally:
        child.close(force=True)
    return log.getvalue()


def _client_cases() -> List[object]:
    cases = []
    for client, kinds in (("nc", KINDS), ("socat", KINDS), ("socat-crlf", ("telnet", "tcp")),
                          ("telnet", ("telnet",))):
        for kind in kinds:
            for target in ("qemu", "bridge"):
                cases.append(pytest.param(client, kind, target, id=f"{client}-{kind}-{target}"))
    return cases


@pytest.mark.parametrize("client,kind,target", _client_cases())
def test_client_program_bytes(rig: Rig, client: str, kind: str, target: str) -> None:
    """nc, socat (with and without crlf) and telnet get from the bridge what they get
    from QEMU's own monitor."""
    if client == "telnet" and shutil.which("telnet") is None:
        pytest.skip("telnet is not installed")
    run = telnet_transcript if client == "telnet" else (lambda a: run_program(client, a))
    want = run(rig.b.addresses[kind])
    got = run((rig.a.addresses if target == "qemu" else rig.bridge())[kind])
    same_bytes(got, want, f"{client} on {target} {kind}")


# --- random keys ----------------------------------------------------------------------------

#: Words and keys a random operator types.  The letters cannot spell a command that
#: changes what the twins would print later (no quit, cont, system_reset, ...).
WORDS = [b"info ", b"status", b"name", b"print ", b"1+2", b"st", b"bal", b" ", b"p", b"\xc3\xa9"]
KEYS = [b"\t", b"\x1b[A", b"\x1b[B", b"\x1b[C", b"\x1b[D", b"\x1b[1~", b"\x1b[3~", b"\x1b[4~",
        b"\x1bOH", b"\x1bOF", b"\x01", b"\x05", b"\x04", b"\x08", b"\x7f", b"\x17", b"\x03",
        b"\x15", b"\x0e", b"\x10", b"\x0b", b"\x00", b"\x1b", b"\x9b", b"\r", b"\n", b"\r\n",
        b"\r\0"]
TELNET = [b"\xff\xff", b"\xff\xfd\x18", b"\xff\xfb\x1f", b"\xff\xf3",
          b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0"]
UP = (b"\x1b[A", b"\x10")
ENDS = (b"\r", b"\n", b"\r\n", b"\r\0")
#: Lines typed first, so a few Up keys stay in this session's own history (QEMU's
#: monitor keeps the history of earlier connections; a session of the bridge does not).
HISTORY = b"print 1\rprint 2\rprint 3\r"


def _keys_within_history(keys: Sequence[bytes]) -> bool:
    ups = 0
    for key in keys:
        if key in ENDS:
            ups = 0
        elif key in UP:
            ups += 1
            if ups > 3:
                return False
    return True


random_keys = st.lists(st.sampled_from(WORDS + KEYS + TELNET), min_size=1, max_size=24) \
    .filter(_keys_within_history)


@pytest.mark.parametrize("kind", ["telnet", "tcp"])
@pytest.mark.parametrize("target", ["qemu", "bridge"])
def test_random_keys(rig: Rig, kind: str, target: str) -> None:
    """Random keys (words, editing keys, line ends, telnet commands, split anywhere)
    give QEMU's bytes; the end NULs close any escape or telnet command left open.
    Each release gets its own examples."""
    release = [r.name for r in qemu_releases()].index(rig.release.name)

    @seed(1500 + release)
    @settings(max_examples=400 if DEEP else 6, deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=list(Phase) if DEEP else [Phase.explicit, Phase.generate])
    @given(keys=random_keys, split=st.integers(min_value=1, max_value=7))
    def check(keys: List[bytes], split: int) -> None:
        data = HISTORY + b"".join(keys) + b"\0\0\0\r"
        segments = tuple(data[i:i + split] for i in range(0, len(data), split))
        script = Script("random", segments)
        want = run_script(rig.b.addresses[kind], script)
        address = (rig.a.addresses if target == "qemu" else rig.bridge())[kind]
        same_bytes(run_script(address, script), want, f"{target} {kind} {data!r}")

    check()
