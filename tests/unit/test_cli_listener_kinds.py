"""HMP listener kinds on the command line: ``telnet:ENDPOINT`` and ``plain:ENDPOINT``."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher

from hmpbridge.chardev import PLAIN, TELNET
from hmpbridge.cli import DEFAULT_LISTEN, EXIT_USAGE, build_parser, check_exposure, serve
from hmpbridge.endpoints import HMPListener, hmp_listener
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeQEMU
from tests.unit.test_cli import complete_unix_connection, fatal_of, options


@pytest.mark.parametrize("description,chardev,endpoint", [
    ("telnet:tcp:4444:interface=127.0.0.1", TELNET, "tcp:4444:interface=127.0.0.1"),
    ("plain:tcp:4444:interface=127.0.0.1", PLAIN, "tcp:4444:interface=127.0.0.1"),
    ("plain:unix:/run/vm.hmp", PLAIN, "unix:/run/vm.hmp"),
    ("telnet:unix:path=/run/vm.hmp", TELNET, "unix:path=/run/vm.hmp"),
    ("tcp:4444", TELNET, "tcp:4444"),
    ("tcp6:4444:interface=\\:\\:1", TELNET, "tcp6:4444:interface=\\:\\:1"),
    ("ssl:4443:privateKey=k.pem", TELNET, "ssl:4443:privateKey=k.pem"),
    ("tls:4443:privateKey=k:certKey=c:caCerts=a", TELNET, "tls:4443:privateKey=k:certKey=c:caCerts=a"),
    ("unix:/run/vm.hmp", PLAIN, "unix:/run/vm.hmp"),
    ("unix:path=/run/vm.hmp:mode=600", PLAIN, "unix:path=/run/vm.hmp:mode=600"),
    ("stdio", PLAIN, "stdio"),
])
def test_a_listener_is_the_kind_it_names_or_as_qemus_own_monitors(
        description: str, chardev: str, endpoint: str) -> None:
    """A prefix names the kind; without one, unix sockets and stdio are plain and every network
    endpoint telnet, as people reach QEMU's own monitors."""
    assert hmp_listener(description) == HMPListener(chardev, endpoint, description)


@pytest.mark.parametrize("description", ["telnet:", "plain:"])
def test_a_kind_without_an_endpoint_is_refused(description: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        hmp_listener(description)


def test_the_default_listener_is_telnet_on_loopback() -> None:
    assert hmp_listener(DEFAULT_LISTEN) == HMPListener(TELNET, "tcp:4444:interface=127.0.0.1",
                                                       DEFAULT_LISTEN)


def serving(*argv: str) -> MemoryReactorClock:
    reactor = MemoryReactorClock()
    Deferred.fromCoroutine(serve(reactor, options("--qmp", "/run/vm.qmp", *argv)))
    complete_unix_connection(reactor, FakeQEMU())
    return reactor


def test_each_listener_gets_its_kind_and_the_bare_endpoint() -> None:
    """--listen, --events-listen and --read-only-listen bind the endpoint after the kind, and
    each factory builds channels of that kind."""
    reactor = serving("--listen", "plain:tcp:4444:interface=127.0.0.1",
                      "--listen", "unix:/run/a.hmp",
                      "--events-listen", "telnet:unix:/run/b.hmp",
                      "--read-only-listen", "tcp:4446:interface=127.0.0.1")
    tcp = {port: factory for port, factory, _, _ in reactor.tcpServers}
    unix = {path: factory for path, factory, *_ in reactor.unixServers}
    kinds: Dict[Any, str] = {}
    for key, factory in list(tcp.items()) + list(unix.items()):
        assert isinstance(factory, HMPServerFactory)
        kinds[key] = factory.chardev
    assert kinds == {4444: PLAIN, "/run/a.hmp": PLAIN, "/run/b.hmp": TELNET, 4446: TELNET}
    assert unix["/run/b.hmp"].events_on


def test_the_default_listener_is_bound_as_telnet() -> None:
    reactor = serving()
    (port, factory, _, interface), = reactor.tcpServers
    assert (port, interface, factory.chardev) == (4444, "127.0.0.1", TELNET)


def test_a_kind_without_an_endpoint_stops_with_a_usage_error() -> None:
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options("--qmp", "/run/vm.qmp",
                                                      "--listen", "plain:")))
    assert fatal_of(d).status == EXIT_USAGE


def test_telnet_mode_is_accepted_ignored_and_said_to_be_deprecated() -> None:
    """--telnet-mode still parses (scripts pass it), changes nothing, and the log says so."""
    seen: List[Dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        reactor = serving("--telnet-mode", "never")
    finally:
        globalLogPublisher.removeObserver(seen.append)
    (_, factory, _, _), = reactor.tcpServers
    assert factory.chardev == TELNET
    assert any("--telnet-mode is deprecated" in str(event.get("log_format", ""))
               for event in seen)
    assert "deprecated" in build_parser().format_help()


def test_exposure_is_judged_on_the_endpoint_after_the_kind() -> None:
    """A telnet: or plain: prefix does not hide where a listener is reachable from."""
    assert check_exposure(options("--listen", "plain:unix:/run/vm.hmp")) == []
    assert check_exposure(options("--listen", "telnet:tcp:4444:interface=127.0.0.1")) == []
    with pytest.raises(Exception, match="reachable from other hosts"):
        check_exposure(options("--listen", "telnet:tcp:4444"))


def test_help_says_what_each_kind_is() -> None:
    text = build_parser().format_help()
    assert "telnet:ENDPOINT" in text and "plain:ENDPOINT" in text
    assert "-monitor telnet:" in text and "-monitor tcp:/unix:" in text
