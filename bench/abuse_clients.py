"""Blocking socket clients for :mod:`bench.abuse`: every wait ends at a deadline.

The attacks misbehave on purpose (never reading, streaming, passing
descriptors), so every read and write here takes a ``time.monotonic()``
deadline and gives up there: an attack ends on time whatever the bridge does.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

__all__ = ["PROMPT", "Client", "hmp_login", "qmp_open", "qmp_call", "qmp_reply",
           "describe_reply", "pump", "run_threads", "sleep_until"]

PROMPT = b"(qemu) "
LOGIN_INCORRECT = b"Login incorrect"


class Client:
    """A socket with a read buffer; every wait ends at a deadline (``time.monotonic``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    @classmethod
    def tcp(cls, port: int, deadline: float) -> "Client":
        sock = socket.create_connection(("127.0.0.1", port), timeout=_left(deadline, 0.1))
        return cls(sock)

    @classmethod
    def unix(cls, path: str, deadline: float) -> "Client":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_left(deadline, 0.1))
        sock.connect(path)
        return cls(sock)

    def fill(self, deadline: float) -> bool:
        """Read once (waiting until ``deadline`` at most); False on timeout."""
        self.sock.settimeout(_left(deadline, 0.001))
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except OSError as err:
            self.closed = True
            raise ConnectionError(f"reset ({err.strerror})") from None
        if not chunk:
            self.closed = True
            raise ConnectionError("closed by the bridge")
        self.buf += chunk
        return True

    def read_until(self, marker: bytes, deadline: float) -> Optional[bytes]:
        """Everything up to and including ``marker``; None at the deadline."""
        return self.read_until_any((marker,), deadline)

    def read_until_any(self, markers: Sequence[bytes], deadline: float) -> Optional[bytes]:
        """Everything up to and including the first of ``markers``; None at the deadline."""
        while True:
            found = [(self.buf.index(m) + len(m)) for m in markers if m in self.buf]
            if found:
                break
            if time.monotonic() >= deadline:
                return None
            self.fill(deadline)
        end = min(found)
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def send(self, data: bytes, deadline: float, fds: Sequence[int] = ()) -> bool:
        """Send all of ``data`` (``fds`` with its first byte); False at the deadline."""
        view = memoryview(data)
        self.sock.setblocking(False)
        try:
            if fds:
                while True:
                    if not _wait_writable(self.sock, deadline):
                        return False
                    try:
                        sent = socket.send_fds(self.sock, [view], list(fds))
                        break
                    except BlockingIOError:
                        continue
                view = view[sent:]
            while view:
                if not _wait_writable(self.sock, deadline):
                    return False
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    continue
            return True
        except OSError as err:
            self.closed = True
            raise ConnectionError(f"send failed ({err.strerror})") from None
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _left(deadline: float, least: float) -> float:
    return max(least, deadline - time.monotonic())


def _wait_writable(sock: socket.socket, deadline: float) -> bool:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _, writable, _ = select.select([], [sock], [], min(left, 0.1))
        if writable:
            return True


def hmp_login(port: int, user: str, password: str, deadline: float) -> Client:
    """An HMP session logged in as ``user``, its banner and first prompt read."""
    client = Client.tcp(port, deadline)
    for prompt, answer in ((b"login: ", user), (b"Password: ", password)):
        if client.read_until(prompt, deadline) is None:
            client.close()
            raise TimeoutError(f"no {prompt.decode().strip()!r} prompt")
        client.send(answer.encode() + b"\n", deadline)
    reply = client.read_until_any((PROMPT, LOGIN_INCORRECT), deadline)
    if reply is None or reply.endswith(LOGIN_INCORRECT):
        client.close()
        raise ConnectionError("no prompt after login within the time" if reply is None else
                              f"the bridge answered 'Login incorrect' to {user}'s right password")
    return client


def qmp_open(path: str, deadline: float, negotiate: bool = True) -> Client:
    """A QMP client of ``path``, greeting read and (by default) capabilities negotiated."""
    client = Client.unix(path, deadline)
    if client.read_until(b"\n", deadline) is None:
        client.close()
        raise TimeoutError("no greeting")
    if negotiate:
        reply = qmp_call(client, b'{"execute": "qmp_capabilities"}\n', deadline)
        if reply is None or "return" not in reply:
            client.close()
            raise ConnectionError(f"negotiation failed: {reply!r}")
    return client


def qmp_call(client: Client, request: bytes, deadline: float,
             fds: Sequence[int] = ()) -> Optional[Dict[str, Any]]:
    """Send ``request``; the next reply that is not an event, or None at the deadline."""
    if not client.send(request, deadline, fds):
        return None
    return qmp_reply(client, deadline)


def qmp_reply(client: Client, deadline: float) -> Optional[Dict[str, Any]]:
    """The next message that is not an event (``{"unparsable": ...}`` if not JSON)."""
    while True:
        line = client.read_until(b"\n", deadline)
        if line is None:
            return None
        try:
            message = json.loads(line, parse_constant=_not_json)
        except ValueError:
            return {"unparsable": line.decode("utf-8", "replace").strip()}
        if not isinstance(message, dict):
            return {"unparsable": line.decode("utf-8", "replace").strip()}
        if "event" not in message:
            return message


def _not_json(constant: str) -> None:
    """``json.loads`` accepts NaN and Infinity; JSON (and QEMU) does not."""
    raise ValueError(f"{constant} is not JSON")


def describe_reply(reply: Optional[Dict[str, Any]]) -> str:
    """One short line for a QMP reply."""
    if reply is None:
        return "no reply"
    if "unparsable" in reply:
        text = reply["unparsable"]
        return "a reply that is not JSON: " + repr(text if len(text) < 80 else "..." + text[-60:])
    if "error" in reply:
        error = reply["error"]
        return f"error {error.get('class')}: {str(error.get('desc'))[:90]}"
    if "return" in reply:
        value = reply["return"]
        if isinstance(value, list):
            return f"return (a list of {len(value)})"
        if isinstance(value, str):
            return f"return (text, {len(value):,} characters)"
        text = f"return {json.dumps(value)[:40]}"
        return text + (f" (id {json.dumps(reply['id'])})" if "id" in reply else "")
    return json.dumps(reply)[:100]


def pump(sock: socket.socket, chunk: bytes, deadline: float, rate: float = 0.0,
         drain: bool = False) -> Tuple[int, int, Optional[str], float]:
    """Write ``chunk`` over and over until ``deadline``, at most ``rate`` bytes/s (0: no limit).

    :param drain: also read (and drop) whatever the bridge sends.
    :return: bytes sent, bytes read, why it stopped early (None if it ran to
        the deadline) and the time it ran.
    """
    started = time.monotonic()
    sock.setblocking(False)
    sent = received = 0
    pending = memoryview(b"")
    reason: Optional[str] = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if not pending and (not rate or sent < rate * (now - started)):
                pending = memoryview(chunk)
            readers = [sock] if drain else []
            writers = [sock] if pending else []
            r, w, _ = select.select(readers, writers, [], min(0.01, deadline - now))
            try:
                if r:
                    data = sock.recv(1 << 20)
                    if not data:
                        reason = "closed by the bridge"
                        break
                    received += len(data)
                if w:
                    n = sock.send(pending)
                    pending = pending[n:]
                    sent += n
            except BlockingIOError:
                continue
    except OSError as err:
        reason = f"connection reset ({err.strerror})"
    finally:
        try:
            sock.setblocking(True)
        except OSError:
            pass
    return sent, received, reason, time.monotonic() - started


def run_threads(targets: Sequence[Callable[[], None]], deadline: float) -> int:
    """Run each callable in a daemon thread; wait until ``deadline``; return how many hang."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return sum(t.is_alive() for t in threads)


def sleep_until(deadline: float) -> None:
    """Sleep until ``deadline`` (``time.monotonic``), if it is still ahead."""
    time.sleep(max(0.0, deadline - time.monotonic()))
