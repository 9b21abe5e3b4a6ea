"""``nbd_server_start``'s TCP address as each release reads it.

Expected texts are QEMU 10.0.2's and 11.1.3's own (``human-monitor-command``
on the test rig's VM); 10.1 moved ``inet_parse`` to QemuOpts.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.commands import by_key
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.handlers.nbd import AddressError, inet_parse_opts
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.testing import qmp_greeting

_load_all()

#: address -> (10.0.2's text, 11.1.3's text) when parsing refuses it.
REFUSED = {
    ":": ("Error: error parsing port in address ':'\n", "Error: error parsing address ':'\n"),
    "127.0.0.1:": ("Error: error parsing address '127.0.0.1:'\n",
                   "Error: error parsing address '127.0.0.1:'\n"),
    "tcp:": ("Error: error parsing address ''\n", "Error: error parsing address ''\n"),
    "[::1": ("Error: error parsing IPv6 address '[::1'\n",
             "Error: error parsing IPv6 address '[::1'\n"),
    "[::1]:": ("Error: error parsing IPv6 address '[::1]:'\n",
               "Error: error parsing IPv6 address '[::1]:'\n"),
    "[]:1": ("Error: error parsing IPv6 address '[]:1'\n",
             "Error: error parsing IPv6 address '[]:1'\n"),
    "127.0.0.1:0,to=x": ("Error: error parsing to= argument\n",
                         "Error: Parameter 'to' expects a number\n"),
    "127.0.0.1:0,ipv6=on,,x": ("Error: error parsing 'ipv6' flag '=on,,x'\n",
                               "Error: Parameter 'ipv6' expects 'on' or 'off'\n"),
    "127.0.0.1:0,mptcp=maybe": ("Error: error parsing 'mptcp' flag '=maybe'\n",
                                "Error: Parameter 'mptcp' expects 'on' or 'off'\n"),
    "help": ("Error: error parsing address 'help'\n", "Error: error parsing address 'help'\n"),
}

#: Refused by 11.1.3 only (10.0.2 starts the server).
REFUSED_11_1 = {
    "127.0.0.1:0,bogus=1": "Error: Invalid parameter 'bogus'\n",
    "127.0.0.1:0,help": "Error: Invalid parameter 'help'\n",
    "127.0.0.1:0,id=1x": ("Error: Parameter 'id' expects an identifier\n"
                          "Identifiers consist of letters, digits, '-', '.', '_', "
                          "starting with a letter.\n"),
    "127.0.0.1:0,to=99999999999999999999":
        "Error: Value '99999999999999999999' is too large for parameter 'to'\n",
    "127.0.0.1:0,addr=:": "Error: error parsing address ':'\n",
}

#: Accepted by 11.1.3: the InetSocketAddress sent.
ACCEPTED_11_1 = {
    ":0": {"host": "", "port": "0"},
    "[::1]:0": {"host": "::1", "port": "0"},
    "127.0.0.1:0,ipv4=yes": {"host": "127.0.0.1", "port": "0", "ipv4": True},
    "127.0.0.1:0,ipv4": {"host": "127.0.0.1", "port": "0", "ipv4": True},
    "127.0.0.1:0,noipv4": {"host": "127.0.0.1", "port": "0", "ipv4": False},
    "127.0.0.1:0,id=x": {"host": "127.0.0.1", "port": "0"},
    "127.0.0.1:0,numeric=on": {"host": "127.0.0.1", "port": "0", "numeric": True},
    "127.0.0.1:0,keep-alive-count=3": {"host": "127.0.0.1", "port": "0",
                                       "keep-alive-count": 3},
    "addr=127.0.0.1:0": {"host": "127.0.0.1", "port": "0"},
    "a:b:c": {"host": "a", "port": "b:c"},
    "localhost:0,,ipv4": {"host": "localhost", "port": "0,ipv4"},
    "127.0.0.1:0,to=70000,ipv4=on,ipv6=off": {"host": "127.0.0.1", "port": "0",
                                              "to": 70000 % 65536, "ipv4": True,
                                              "ipv6": False},
}


def _start(uri: str, version: Tuple[int, int, int],
           hmp_version: Optional[Tuple[int, int]] = None) -> Tuple[str, List[Dict[str, Any]]]:
    ctx = Context(profile=profile_for(qmp_greeting(version), None, hmp_version))
    sent: List[Dict[str, Any]] = []

    def respond(cmd: QMPCommand) -> object:
        sent.append(dict(cmd.arguments or {}))
        return {}

    inv = Invocation(by_key("nbd_server_start"), {"uri": uri}, "nbd_server_start " + uri)
    return drive(HANDLERS["nbd_server_start"](inv, ctx), respond), sent


@pytest.mark.parametrize("uri", sorted(REFUSED))
def test_refused_addresses_per_release(uri: str) -> None:
    """When an address is malformed, each release prints its own parser's error."""
    old, new = REFUSED[uri]
    assert _start(uri, (10, 0, 2)) == (old, [])
    assert _start(uri, (11, 1, 3)) == (new, [])
    assert _start(uri, (11, 1, 3), (7, 2)) == (old, [])


@pytest.mark.parametrize("uri", sorted(REFUSED_11_1))
def test_options_only_qemu_opts_refuses(uri: str) -> None:
    """When an option is unknown or mistyped, 10.1's QemuOpts refuses what 10.0 ignored."""
    assert _start(uri, (11, 1, 3)) == (REFUSED_11_1[uri], [])
    assert _start(uri, (10, 0, 2))[0] == ""


@pytest.mark.parametrize("uri", sorted(ACCEPTED_11_1))
def test_accepted_addresses_11_1(uri: str) -> None:
    """When 11.1 accepts an address, the same InetSocketAddress goes to QMP."""
    text, sent = _start(uri, (11, 1, 3))
    assert text == ""
    assert sent == [{"addr": {"type": "inet", "data": ACCEPTED_11_1[uri]}}]


_ADDRESS_CHARS = st.sampled_from(list(":,=[]0.1a") + ["to", "ipv4", "ipv6", "on", "off",
                                                      "help", "no", "keep-alive", "id"])


@given(st.lists(_ADDRESS_CHARS, max_size=12).map("".join))
def test_qemu_opts_address_parse_is_total(text: str) -> None:
    """Whatever the text, 10.1's parser returns an address with a port or QEMU's one-line error."""
    try:
        address = inet_parse_opts(text)
    except AddressError as err:
        assert str(err) and (str(err).count("\n") == 0 or "Identifiers" in str(err))
        assert not str(err).startswith("warning")
        return
    assert address["port"] and set(address) <= {
        "host", "port", "numeric", "to", "ipv4", "ipv6", "keep-alive", "keep-alive-count",
        "keep-alive-idle", "keep-alive-interval", "mptcp"}
    json.dumps(address)


def test_variants_the_live_fuzz_found() -> None:
    """When a bare ? follows escaped commas, QEMU 11.1.3 refuses the ? (found by the live fuzz)."""
    assert _start(",,,?", (11, 1, 3)) == ("Error: Invalid parameter '?'\n", [])
