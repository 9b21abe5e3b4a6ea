"""Real QEMU 7.2 for integration tests: twin VMs and an hmpbridge in front of one.

VM *A* is served by an ``hmpbridge`` subprocess; its twin *B* (same command
line) is the oracle, answering the same HMP lines through QEMU's own
``human-monitor-command``.  A second QMP socket on A lets tests read A's
state without going through the bridge.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

from tests.golden.recorder import QMPClient
from tests.golden.vm import BASE_ARGS, VM, _die_with_parent, default_devices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = b"(qemu) "
#: Terminal control sequences of QEMU's readline redraws (``\x1b[K``, ``\x1b[D``).
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
#: What QEMU's ``-monitor telnet:...,server=on`` sends at connect, before the banner:
#: WILL ECHO, WILL SUPPRESS-GO-AHEAD, WILL BINARY, DO BINARY.
TELNET_NEGOTIATION = b"\xff\xfb\x01\xff\xfb\x03\xff\xfb\x00\xff\xfd\x00"
#: The listener kinds that may prefix an endpoint (``telnet:tcp:4444``).
LISTENER_KINDS = ("telnet", "plain")
#: The last line :func:`monitor_exchange` sends, and how its answer ends.
SENTINEL = b"print 0x5e1\r"
SENTINEL_ANSWER = b"0x5e1\r\n" + PROMPT

#: A monitor's address: (host, port) for TCP, a path for a unix socket.
Address = Union[Tuple[str, int], str]

if shutil.which("qemu-system-x86_64") is None:  # ./test.sh installs it; a bare pytest may not
    pytest.skip("qemu-system-x86_64 is not installed", allow_module_level=True)


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Mark integration tests; deselect the cases a module leaves to a fuller run.

    A module may define ``left_out(test, params) -> bool`` (``test``: the test
    function's name; ``params``: the case's parameters by name, a fixture's
    included): a case it names is deselected, not skipped, so a skip always
    means what this machine cannot have.
    """
    kept: List[pytest.Item] = []
    dropped: List[pytest.Item] = []
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        rule = getattr(getattr(item, "module", None), "left_out", None)
        callspec = getattr(item, "callspec", None)
        if rule is not None and callspec is not None and \
                rule(getattr(item, "originalname", item.name), callspec.params):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def strip_telnet(data: bytes) -> bytes:
    """``data`` without telnet commands (``IAC IAC`` is a data 0xff), as a client that
    answers no option reads it."""
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 255 and i + 1 < len(data):
            command = data[i + 1]
            if command == 255:
                out.append(255)
                i += 2
            elif command in (251, 252, 253, 254):  # WILL WONT DO DONT <option>
                i += 3
            elif command == 250:  # SB ... IAC SE
                end = data.find(b"\xff\xf0", i)
                i = len(data) if end < 0 else end + 2
            else:
                i += 2
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def strip_echo(text: str, line: str) -> str:
    """The answer in ``text`` (what a monitor wrote after ``line`` was typed at an empty
    prompt, up to its next prompt), without the line editor's echo of ``line``.

    QEMU's readline echoes every key with its redraws and ends the line with
    ``\r\n``; that echo is everything before the first line end, and once its
    terminal sequences are removed it ends with the line typed.  A monitor
    that does not echo leaves ``text`` as it is.  This is how
    ``../shared/tools/twincheck.py`` reads both QEMU and the bridge.
    """
    first, sep, rest = text.partition("\r\n")
    if sep and ANSI.sub(b"", first.encode()).decode().rstrip().endswith(line.strip()) \
            and (first or not line.strip()):
        return rest
    return text


def listener_path(description: str) -> Optional[str]:
    """The socket path of a unix listener (``unix:/p``, ``plain:unix:path=/p``), else None."""
    head, _, rest = description.partition(":")
    if head in LISTENER_KINDS:
        description = rest
    if not description.startswith("unix:"):
        return None
    return description.split(":", 1)[1].replace("path=", "", 1).split(":")[0]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The checkout whose hmpbridge the tests run (another one, such as an older commit's
#: ``git archive``, to see a test fail before a change).
UNDER_TEST = os.environ.get("HMPBRIDGE_UNDER_TEST", ROOT)


def bridge_command(*args: str) -> List[str]:
    """How to run hmpbridge from this checkout (run in :data:`UNDER_TEST`)."""
    return [sys.executable, "-m", "hmpbridge", *args]


#: Where ``scripts/qemu-releases.sh`` unpacks the newer releases.
RELEASES_DIR = os.environ.get("HMPBRIDGE_QEMU_RELEASES", os.path.join(ROOT, ".qemu"))
#: The releases it unpacks beside the system's QEMU (7.2 on Debian 12).
NEWER_RELEASES = ("10.0.2", "11.1.3")
_VERSION = re.compile(r"version (\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class QemuRelease:
    """One QEMU the integration tests can run, or why it is missing.

    :ivar name: its version as tests name it (``"7.2.22"``, ``"10.0.2"``).
    :ivar program: its ``qemu-system-x86_64`` (a launcher for the newer ones),
        or None when this machine lacks it.
    :ivar storage_daemon: its ``qemu-storage-daemon``, or None.
    :ivar missing: why ``program`` is None.
    """

    name: str
    program: Optional[str]
    storage_daemon: Optional[str]
    missing: str = ""

    @property
    def release(self) -> Tuple[int, int]:
        """``(major, minor)``."""
        major, minor = self.name.split(".")[:2]
        return int(major), int(minor)


def _system_version(program: str) -> str:
    out = subprocess.run([program, "--version"], capture_output=True, text=True,
                         timeout=30).stdout
    found = _VERSION.search(out)
    return ".".join(found.groups()) if found else "system"


@functools.lru_cache(maxsize=None)
def qemu_releases() -> Tuple[QemuRelease, ...]:
    """The system's QEMU, then each of :data:`NEWER_RELEASES`, oldest first."""
    system = shutil.which("qemu-system-x86_64")
    found = [QemuRelease(_system_version(system), system,
                         shutil.which("qemu-storage-daemon"))] if system else []
    for version in NEWER_RELEASES:
        program = os.path.join(RELEASES_DIR, version, "qemu-system-x86_64")
        daemon = os.path.join(RELEASES_DIR, version, "qemu-storage-daemon")
        if os.access(program, os.X_OK):
            found.append(QemuRelease(version, program,
                                     daemon if os.access(daemon, os.X_OK) else None))
        else:
            found.append(QemuRelease(
                version, None, None,
                f"QEMU {version} is not unpacked in {RELEASES_DIR}: ./test.sh runs "
                "scripts/qemu-releases.sh, which needs Debian's archive or the packages "
                "in $HMPBRIDGE_QEMU_DEBS"))
    return tuple(found)


@contextlib.contextmanager
def served_release(qemu: "QemuRelease", *bridge_args: str
                   ) -> Iterator[Tuple[VM, "Bridge", str]]:
    """A VM of ``qemu`` behind a bridge (``--no-passthrough`` and ``bridge_args``; ``{mux}``
    in them stands for the path of a QMP socket the bridge may serve): (vm, bridge, mux)."""
    assert qemu.program is not None
    vm = VM(base=[qemu.program, *BASE_ARGS[1:]], devices=lambda d: default_devices(d) + [
        "-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off"])
    mux = vm.path("mux.sock")
    bridge = Bridge(f"unix:path={vm.path('bridge.sock')}", "--no-passthrough",
                    *(arg.replace("{mux}", mux) for arg in bridge_args))
    try:
        yield vm, bridge, mux
    finally:
        bridge.close()
        vm.close()


def release_params(names: Optional[Sequence[str]] = None) -> List[Any]:
    """pytest params of :func:`qemu_releases` (those named, or all), each skipped
    with the reason when this machine lacks it."""
    return [pytest.param(release, id=release.name,
                         marks=[pytest.mark.skip(reason=release.missing)] if release.missing
                         else [])
            for release in qemu_releases() if names is None or release.name in names]


class Twin:
    """A VM with two QMP sockets (one for the bridge, one for probing)."""

    def __init__(self, extra: Sequence[str] = (), qemu: Optional[str] = None,
                 machine: Optional[str] = None) -> None:
        """:param extra: more QEMU arguments; ``{dir}`` stands for the VM's directory.
        :param qemu: the ``qemu-system-x86_64`` to run (default: :data:`tests.golden.vm.QEMU`).
        :param machine: the machine type (default: ``pc``).
        """
        base = list(BASE_ARGS)
        if qemu is not None:
            base[0] = qemu
        if machine is not None:
            base[base.index("-M") + 1] = machine
        self.vm = VM(devices=lambda d: default_devices(d) + [
            "-qmp", f"unix:{os.path.join(d, 'bridge.sock')},server=on,wait=off",
            "-monitor", f"tcp:127.0.0.1:{self._hmp_port()},server=on,wait=off"]
            + [arg.replace("{dir}", d) for arg in extra], base=base)
        self.bridge_socket = self.vm.path("bridge.sock")
        #: whether this VM's guest has run (set by tests that watch its state)
        self.guest_ran = False
        _wait_for(lambda: os.path.exists(self.bridge_socket), "QEMU's second QMP socket")

    def _hmp_port(self) -> int:
        self.hmp_port = free_port()
        return self.hmp_port

    @property
    def dir(self) -> str:
        return self.vm.dir

    @property
    def qmp(self) -> QMPClient:
        return self.vm.qmp

    def hmp(self, line: str) -> str:
        """QEMU's own output for ``line`` (``\\n`` line ends)."""
        return self.qmp.hmp(line)

    def close(self) -> None:
        self.vm.close()


class QEMUMonitorSession:
    """A client of QEMU's own HMP monitor on TCP (twin B's ``-monitor``).

    QEMU echoes what it is sent; :meth:`cmd` drops the echoed line.
    """

    def __init__(self, port: int) -> None:
        self.client = HMPClient(("127.0.0.1", port))

    def cmd(self, line: str) -> str:
        return self.client.cmd(line)

    def close(self) -> None:
        self.client.close()


class Bridge:
    """An ``hmpbridge`` process serving HMP on a loopback TCP port."""

    def __init__(self, qmp: str, *extra: str, wait: bool = True,
                 listen: str = "tcp:{port}:interface=127.0.0.1") -> None:
        """:param wait: wait until it listens (else :meth:`ready` waits, later).
        :param listen: the first ``--listen`` endpoint, on :attr:`port` (its kind:
            ``telnet:tcp:{port}`` or ``plain:tcp:{port}``; without one, telnet).
        """
        self.port = free_port()
        self.args = bridge_command("--qmp", qmp, "--listen", listen.format(port=self.port),
                                   *extra)
        # The log goes to a file: a pipe nobody reads would block the bridge once full.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, cwd=UNDER_TEST, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        # every listener, not just the first: unix sockets are bound after the TCP port
        self.unix_paths = [path for option, value in zip(extra, extra[1:])
                           if option.endswith("listen")
                           for path in [listener_path(value)] if path is not None]
        if wait:
            self.ready()

    def ready(self) -> None:
        """Wait until it listens on every listener (RuntimeError, with its log, if it exits)."""
        try:
            _wait_for(self._accepting, "hmpbridge to listen", proc=self.proc)
            for path in self.unix_paths:
                _wait_for(lambda: os.path.exists(path), f"hmpbridge to listen on {path}",
                          proc=self.proc)
        except RuntimeError as err:
            self.log.seek(0)
            raise RuntimeError(f"{err}: {self.log.read().decode(errors='replace')}") from None

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def session(self) -> "HMPClient":
        return HMPClient(("127.0.0.1", self.port))

    def close(self) -> str:
        stop_gently(self.proc)
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        self.log.close()
        return text


class HMPClient:
    """A socket HMP client, as a script would use it (it answers no telnet option).

    Every listener runs QEMU's line editor, so what comes back after a line
    is the echo of the line, ``\r\n``, the answer and the prompt: :meth:`cmd`
    gives the answer alone, :meth:`raw` every byte.  The telnet negotiation
    at connect is taken out of :attr:`banner` (:attr:`connect_bytes` keeps it).
    """

    def __init__(self, address, timeout: float = 30, sock: Optional[socket.socket] = None,
                 banner: bool = True) -> None:
        """:param sock: an already connected socket (TLS) instead of ``address``.
        :param banner: read the banner and first prompt now."""
        if sock is None:
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            sock = socket.socket(family)
            sock.settimeout(timeout)
            sock.connect(address)
        self.sock = sock
        self.buffer = b""
        if banner:
            self.connect_bytes = self.read_until_prompt()
            self.banner = strip_telnet(self.connect_bytes)

    def read_until(self, marker: bytes) -> bytes:
        """Everything up to and including the next ``marker``."""
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; got {self.buffer[-300:]!r}")
            self.buffer += chunk
        end = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def read_until_prompt(self) -> bytes:
        """Everything up to and including the next prompt."""
        return self.read_until(PROMPT)

    def raw(self, data: bytes) -> bytes:
        """Send ``data``; every byte up to the next prompt (echo included)."""
        self.sock.sendall(data)
        return self.read_until_prompt()

    def answer(self, line: str, data: bytes) -> str:
        """The answer to ``line`` in ``data`` (its bytes up to the prompt): no echo,
        no prompt, ``\n`` line ends."""
        return strip_echo(data[:-len(PROMPT)].decode(), line).replace("\r\n", "\n")

    def cmd(self, line: str) -> str:
        """The output of one line, ``\\n`` line ends, echo and prompt removed."""
        return self.answer(line, self.raw(line.encode() + b"\n"))

    def read_answer(self, line: str) -> str:
        """The answer to ``line``, sent earlier: read up to its prompt (see :meth:`answer`)."""
        return self.answer(line, self.read_until_prompt())

    def read_to_end(self) -> bytes:
        """Everything until the server closes the connection."""
        data, self.buffer = self.buffer, b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        self.sock.close()


class LoginClient(HMPClient):
    """A script logging in with a user name and password; the banner is left unread."""

    def __init__(self, port: int, user: str, password: str,
                 sock: Optional[socket.socket] = None) -> None:
        super().__init__(("127.0.0.1", port), sock=sock, banner=False)
        self.expect(b"login: ")
        self.sock.sendall(user.encode() + b"\n")
        self.expect(b"Password: ")
        self.sock.sendall(password.encode() + b"\n")

    expect = HMPClient.read_until

    def history(self) -> List[str]:
        """The lines ``info history`` lists (without the ``info history`` just run)."""
        out = self.cmd("info history").splitlines()
        assert out[-1].endswith(": 'info history'")
        return [line.split(": ", 1)[1][1:-1] for line in out[:-1]]


def connect(address: Address, timeout: float = 10) -> socket.socket:
    """A connected socket (``TCP_NODELAY``: each ``send`` its own segment)."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX)
    else:
        sock = socket.socket(socket.AF_INET)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def read_into(sock: socket.socket, data: bytearray, marker: Optional[bytes], start: int,
              timeout: float) -> bool:
    """Read into ``data`` until ``marker`` is in it after ``start`` (or, for None, until
    the server closes); False on timeout, or on a close before ``marker``."""
    deadline = time.monotonic() + timeout
    while marker is None or data.find(marker, start) < 0:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return False
        if not chunk:
            return marker is None
        data += chunk
    return True


def monitor_exchange(address: Address, segments: Sequence[bytes], pause: float = 0.0,
                     timeout: float = 10) -> bytes:
    """Every byte a fresh connection to a monitor at ``address`` receives when it sends
    ``segments`` (each one ``send``, ``pause`` seconds apart) after the banner's prompt.

    Then it sends :data:`SENTINEL`; once the answer came, it half-closes and reads
    until the server closes, as ``nc -N`` does.  The same exchange with QEMU's own
    monitor and with the bridge must give the same bytes.  A server that leaves out
    the banner, the sentinel's answer or the close gets ``<no prompt>``,
    ``<no answer>`` or ``<not closed>`` appended, so a comparison shows where it stopped.
    """
    sock = connect(address, timeout)
    data = bytearray()
    try:
        if not read_into(sock, data, PROMPT, 0, timeout):
            return bytes(data) + b"<no prompt>"
        banner_end = len(data)
        for i, segment in enumerate(segments):
            if i and pause:
                time.sleep(pause)
            sock.sendall(segment)
        sock.sendall(SENTINEL)
        answered = read_into(sock, data, SENTINEL_ANSWER, banner_end, timeout)
        sock.shutdown(socket.SHUT_WR)
        ended = read_into(sock, data, None, len(data), 5)
        return bytes(data) + (b"" if answered else b"<no answer>") + \
            (b"" if ended else b"<not closed>")
    finally:
        sock.close()


def same_bytes(got: bytes, want: bytes, what: str) -> None:
    """Assert ``got == want`` with a short account of the first difference (streams may
    be megabytes)."""
    if got == want:
        return
    at = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
    lo = max(0, at - 120)
    raise AssertionError(
        f"{what}: {len(got)} bytes, QEMU's monitor sent {len(want)}; first difference at "
        f"byte {at}:\n  got  ...{got[lo:at + 120]!r}\n  QEMU ...{want[lo:at + 120]!r}")


def add_user(path: str, user: str, password: str, role: str = "operator") -> None:
    """Add ``user`` to the password file at ``path`` with ``hmpbridge-passwd``."""
    subprocess.run(bridge_command()[:2] + ["hmpbridge.passwords", path, user, "--role", role],
                   input=password + "\n", text=True, check=True)


def stop_gently(proc: "subprocess.Popen[Any]", timeout: float = 10) -> None:
    """SIGTERM ``proc`` (a bridge stops cleanly then) and wait; SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(predicate, what: str, timeout: float = 30,
              proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"process exited while waiting for {what}: {out}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple]:
    """VM A (to be bridged) and its oracle twin B, alive for one test module."""
    a, b = Twin(), Twin()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.fixture(scope="module")
def bridge(twins) -> Iterator[Bridge]:
    """hmpbridge in front of VM A, with passthrough off (translation only)."""
    a, _ = twins
    b = Bridge(f"unix:path={a.bridge_socket}", "--no-passthrough")
    try:
        yield b
    finally:
        b.close()
