"""hmpbridge-cmd's monitor client reads a monitor that echoes, as QEMU's does."""

from __future__ import annotations

from typing import List

from twisted.internet.testing import StringTransport

from hmpbridge.oneshot import HMPLineClient

#: QEMU 7.2.22's telnet monitor, as it answered ``info name`` typed at once
#: (tests/fixtures/chardev/: the negotiation, the banner, the echo with its
#: redraws, the answer).
BANNER = (b"\xff\xfb\x01\xff\xfb\x03\xff\xfb\x00\xff\xfd\x00QEMU 7.2.22 monitor - type 'help' "
          b"for more information\r\n(qemu) ")
ECHO = (b"i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinf\x1b[K\x1b[D\x1b[D\x1b[Dinfo\x1b[K"
        b"\x1b[D\x1b[D\x1b[D\x1b[Dinfo \x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo s\x1b[K"
        b"info status\x1b[K\r\n")


def connect() -> HMPLineClient:
    client = HMPLineClient()
    client.makeConnection(StringTransport())
    return client


def test_the_answer_is_what_follows_the_echo() -> None:
    client = connect()
    banners: List[str] = []
    client.banner.addCallback(banners.append)
    client.dataReceived(BANNER)
    assert banners == ["QEMU 7.2.22 monitor - type 'help' for more information\n"]
    answers: List[str] = []
    client.command("info status").addCallback(answers.append)
    assert client.transport.value() == b"info status\n"  # type: ignore[union-attr]
    for byte in ECHO + b"VM status: paused (prelaunch)\r\n(qemu) ":
        client.dataReceived(bytes([byte]))  # however the bytes are split
    assert answers == ["VM status: paused (prelaunch)\n"]


def test_an_empty_answer_and_a_tab() -> None:
    client = connect()
    client.dataReceived(BANNER)
    answers: List[str] = []
    client.command("info\tname").addCallback(answers.append)
    assert client.transport.value() == b"info name\n"  # type: ignore[union-attr]
    client.dataReceived(b"info name\x1b[K\r\n(qemu) ")
    assert answers == [""]
