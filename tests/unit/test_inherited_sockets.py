"""Where a socket handed over by systemd is bound, as an endpoint string the exposure checks
read (:mod:`hmpbridge.inherited`); descriptors themselves are tested for real in
``tests/integration/test_socket_activation.py``."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.cli import Fatal, build_parser, check_exposure
from hmpbridge.endpoints import exposure, split_description
from hmpbridge.inherited import bound_endpoint


def test_each_family_as_an_endpoint() -> None:
    assert bound_endpoint(socket.AF_INET, ("127.0.0.1", 4444)) == \
        "tcp:4444:interface=127.0.0.1"
    assert bound_endpoint(socket.AF_INET6, ("::1", 4444, 0, 0)) == \
        "tcp6:4444:interface=\\:\\:1"
    assert bound_endpoint(socket.AF_UNIX, "/run/hmpbridge/vm1.hmp") == \
        "unix:/run/hmpbridge/vm1.hmp"
    assert bound_endpoint(socket.AF_UNIX, b"\0hmpbridge") == "unix:@hmpbridge"
    with pytest.raises(ValueError, match="not INET, INET6 or UNIX"):
        bound_endpoint(socket.AF_PACKET, ("lo", 0))


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_an_ipv4_socket_is_local_only_on_loopback(address: ipaddress.IPv4Address,
                                                  port: int) -> None:
    seen = exposure(bound_endpoint(socket.AF_INET, (str(address), port)))
    assert (seen.kind, seen.interface, seen.local) == ("tcp", str(address),
                                                       address.is_loopback)


@given(st.ip_addresses(v=6), st.integers(1, 65535))
def test_an_ipv6_socket_is_local_only_on_its_loopback(address: ipaddress.IPv6Address,
                                                      port: int) -> None:
    seen = exposure(bound_endpoint(socket.AF_INET6, (str(address), port, 0, 0)))
    assert (seen.kind, seen.interface, seen.local) == ("tcp6", str(address),
                                                       str(address) == "::1")


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               min_size=1))
def test_a_unix_socket_is_local_and_its_path_one_field(path: str) -> None:
    """Whatever its path holds (``:``, ``=``, ``\\``), it stays one positional field."""
    description = bound_endpoint(socket.AF_UNIX, path)
    assert split_description(description) == ([path], {})
    assert exposure(description).local


def options(*argv: str):
    return build_parser().parse_args(["--qmp", "/run/vm.qmp", *argv])


def test_the_exposure_check_reads_where_an_inherited_socket_is() -> None:
    """A ``systemd:`` listener is as local as the address its socket has; one that is not
    there stops the bridge with the reason."""
    inherited = {"systemd:domain=INET:index=0": "tcp:4444:interface=127.0.0.1",
                 "systemd:domain=INET:index=1": "tcp:4445"}
    assert check_exposure(options("--listen", "systemd:domain=INET:index=0"),
                          lambda d: inherited.get(d, d)) == []
    with pytest.raises(Fatal, match=r"systemd:domain=INET:index=1 is reachable from other "
                                    r"hosts \(tcp on every address\)"):
        check_exposure(options("--qmp-listen", "systemd:domain=INET:index=1"),
                       lambda d: inherited.get(d, d))

    def missing(description: str) -> str:
        raise ValueError("no socket was handed over at index 3")

    with pytest.raises(Fatal, match="invalid listen endpoint 'systemd:domain=INET:index=3': "
                                    "no socket was handed over at index 3"):
        check_exposure(options("--listen", "systemd:domain=INET:index=3"), missing)
