"""Minimal asyncio clients: an HMP session and a QMP connection, timed per command.

The clients do as little as possible per command (append bytes, check the
end of the buffer), so that the measured time is the server's.  One command
is outstanding per connection, except in :class:`QMPPipeline`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, List, Optional

__all__ = ["Conversation", "HMP_PROMPT", "connect_hmp", "connect_qmp", "QMPPipeline",
           "qmp_request", "hmc_request"]

HMP_PROMPT = b"(qemu) "
_now = time.perf_counter_ns


def qmp_request(name: str) -> bytes:
    """A QMP command without arguments, one line."""
    return b'{"execute": "' + name.encode() + b'"}\n'


def hmc_request(line: str) -> bytes:
    """``human-monitor-command`` for one HMP line."""
    return (b'{"execute": "human-monitor-command", "arguments": {"command-line": "'
            + line.encode() + b'"}}\n')


class Conversation(asyncio.Protocol):
    """One connection sending one request at a time and timing each answer.

    :param terminator: the bytes an answer ends with (``(qemu) `` or ``\\n``).
    :param greeting_parts: answers to read before the connection is ready
        (the banner; or QMP's greeting and the ``qmp_capabilities`` reply).
    """

    def __init__(self, terminator: bytes, greeting_parts: int = 1,
                 after_greeting: Optional[bytes] = None) -> None:
        self.terminator = terminator
        self._greeting_left = greeting_parts
        self._after_greeting = after_greeting
        self.ready: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self.transport: Optional[asyncio.Transport] = None
        self._buf = bytearray()
        self._request = b""
        self._left = 0
        self._deadline = 0
        self._sent_at = 0
        self.latencies: List[int] = []
        self.finish_times: List[int] = []
        self.done: Optional["asyncio.Future[None]"] = None
        self.on_answer: Optional[Callable[[bytes], None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        for fut in (self.ready, self.done):
            if fut is not None and not fut.done():
                fut.set_exception(exc or ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not buf.endswith(self.terminator):
            return
        now = _now()
        if self._greeting_left:
            self._greeting_left -= buf.count(self.terminator) if self.terminator == b"\n" else 1
            buf.clear()
            if self._greeting_left == 1 and self._after_greeting is not None:
                self.transport.write(self._after_greeting)
            elif self._greeting_left <= 0:
                self._greeting_left = 0
                self.ready.set_result(None)
            return
        if self.on_answer is not None:
            self.on_answer(bytes(buf))
        buf.clear()
        self.latencies.append(now - self._sent_at)
        self.finish_times.append(now)
        self._left -= 1
        if self._left > 0 and now < self._deadline:
            self._sent_at = _now()
            self.transport.write(self._request)
        elif self.done is not None and not self.done.done():
            self.done.set_result(None)

    def run(self, request: bytes, count: int = 1 << 62,
            deadline_ns: int = 1 << 62) -> "asyncio.Future[None]":
        """Send ``request`` back-to-back ``count`` times or until ``deadline_ns``."""
        self._request = request
        self._left = count
        self._deadline = deadline_ns
        self.done = asyncio.get_running_loop().create_future()
        self._sent_at = _now()
        self.transport.write(request)
        return self.done

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()


async def connect_hmp(port: int) -> Conversation:
    """An HMP session on 127.0.0.1:``port``, its banner read."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Conversation(HMP_PROMPT), "127.0.0.1", port)
    await proto.ready
    return proto


async def connect_qmp(path: str, oob: bool = False) -> Conversation:
    """A QMP connection on the unix socket ``path``, capabilities negotiated.

    :param oob: enable out-of-band execution, as hmpbridge does.
    """
    loop = asyncio.get_running_loop()
    negotiate = (b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n'
                 if oob else qmp_request("qmp_capabilities"))
    _, proto = await loop.create_unix_connection(
        lambda: Conversation(b"\n", 2, negotiate), path)
    await proto.ready
    return proto


class QMPPipeline(asyncio.Protocol):
    """Keeps ``window`` commands in flight on one QMP connection and counts replies."""

    def __init__(self, request: bytes, window: int) -> None:
        self.request = request
        self.window = window
        self.answered = 0
        self.first_counted = 0
        self.transport: Optional[asyncio.Transport] = None
        self._deadline = 0
        self.done: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self, deadline_ns: int) -> None:
        """Fill the window; keep it full until ``deadline_ns``."""
        self._deadline = deadline_ns
        self.transport.write(self.request * self.window)

    def data_received(self, data: bytes) -> None:
        lines = data.count(b"\n")
        self.answered += lines
        if _now() < self._deadline:
            self.transport.write(self.request * lines)
        elif not self.done.done():
            self.done.set_result(None)
