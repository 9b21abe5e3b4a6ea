"""write_now: bytes for an idle socket leave at once; under backpressure, as before."""

from __future__ import annotations

from typing import List

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import MemoryReactor, StringTransport
from zope.interface import implementer

from hmpbridge.send_now import write_now


class Socket(FileDescriptor):
    """A socket whose kernel takes ``room`` bytes per send (no real descriptor)."""

    def __init__(self, room: int = 1 << 20) -> None:
        super().__init__(MemoryReactor())
        self.connected = 1
        self.room = room
        self.sent: List[bytes] = []

    def writeSomeData(self, data: bytes) -> int:
        taken = bytes(data[:self.room])
        self.sent.append(taken)
        return len(taken)

    @property
    def wire(self) -> bytes:
        return b"".join(self.sent)

    @property
    def waiting(self) -> bool:
        return self in self.reactor.writers  # type: ignore[attr-defined]


@implementer(IPushProducer)
class Producer:
    def __init__(self) -> None:
        self.paused = 0
        self.resumed = 0

    def pauseProducing(self) -> None:
        self.paused += 1

    def resumeProducing(self) -> None:
        self.resumed += 1

    def stopProducing(self) -> None:
        pass


def test_an_idle_socket_sends_in_the_same_turn() -> None:
    sock = Socket()
    write_now(sock, b"info status\r\n")
    assert sock.wire == b"info status\r\n"
    assert not sock.waiting  # nothing left for the reactor


def test_bytes_already_waiting_leave_the_sending_to_the_reactor() -> None:
    sock = Socket(room=4)
    write_now(sock, b"abcdefgh")  # the kernel takes 4: the rest waits
    assert sock.wire == b"abcd" and sock.waiting
    write_now(sock, b"ij")
    assert sock.wire == b"abcd"  # not tried again: the socket was full
    sock.room = 100
    sock.doWrite()  # what the reactor does once the socket is writable
    assert sock.wire == b"abcdefghij" and not sock.waiting


def test_a_write_that_pauses_the_producer_is_left_to_the_reactor() -> None:
    sock = Socket()
    producer = Producer()
    sock.registerProducer(producer, True)
    write_now(sock, b"x" * (sock.bufferSize + 1))
    assert producer.paused == 1 and sock.wire == b""  # no send, and no resume from inside
    sock.doWrite()
    assert producer.resumed == 1 and len(sock.wire) == sock.bufferSize + 1


def test_a_closing_socket_is_left_to_the_reactor() -> None:
    sock = Socket()
    sock.disconnecting = True
    write_now(sock, b"late")
    assert sock.wire == b""


def test_other_transports_are_written_as_before() -> None:
    transport = StringTransport()
    write_now(transport, b"abc")
    assert transport.value() == b"abc"


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 16)),
                max_size=20))
def test_bytes_leave_in_order_whatever_the_kernel_takes(writes: List[tuple]) -> None:
    sock = Socket()
    for data, room in writes:
        sock.room = room
        write_now(sock, data)
    sock.room = 1 << 20
    if sock.waiting:
        sock.doWrite()
    assert sock.wire == b"".join(data for data, _ in writes)


class CountingSocket(Socket):
    """A socket that counts the reactor registrations of its writes."""

    def __init__(self, room: int = 1 << 20) -> None:
        super().__init__(room)
        self.registered = 0

    def startWriting(self) -> None:
        self.registered += 1
        super().startWriting()


def test_an_idle_socket_sends_without_asking_the_reactor() -> None:
    sock = CountingSocket()
    write_now(sock, b"info status\r\n")
    write_now(sock, b"(qemu) ")
    assert sock.wire == b"info status\r\n(qemu) "
    assert sock.registered == 0  # no epoll registration and removal around each send


def test_the_rest_of_a_partial_send_waits_for_the_reactor_in_order() -> None:
    sock = CountingSocket(room=3)
    write_now(sock, b"abcdef")
    write_now(sock, b"gh")
    assert sock.wire == b"abc" and sock.waiting and sock.registered >= 1
    sock.room = 100
    sock.doWrite()
    assert sock.wire == b"abcdefgh" and not sock.waiting


class FailingSocket(Socket):
    def writeSomeData(self, data: bytes) -> Exception:  # type: ignore[override]
        return ConnectionResetError("gone")


def test_a_failed_send_is_left_for_the_reactor_to_report() -> None:
    sock = FailingSocket()
    write_now(sock, b"abc")
    assert sock.waiting  # the reactor's doWrite meets the error and loses the connection
