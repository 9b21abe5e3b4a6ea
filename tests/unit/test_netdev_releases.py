"""netdev_add follows the served QEMU: its netdev types and members from the live
schema, its error texts by release (answers measured on QEMU 10.0.2 and 11.1.3)."""

from __future__ import annotations

import json
import os

import pytest

from hmpbridge.handlers.netdev_objects import (NETDEV_MEMBERS, NetdevError, netdev_arguments,
                                               netdev_drivers, netdev_members)
from hmpbridge.qapi_schema import Schema
from hmpbridge.render.options_help import netdev_types_help

RELEASES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")


def schema(release: str) -> Schema:
    with open(os.path.join(RELEASES, release, "schema.json")) as f:
        return Schema(json.load(f))


def refusal(options: dict, release: str, text_of: tuple) -> str:
    with pytest.raises(NetdevError) as info:
        netdev_arguments(options, schema(release), text_of)
    return str(info.value)


@pytest.mark.parametrize("kind", sorted(NETDEV_MEMBERS))
def test_members_read_from_7_2s_schema_are_the_known_ones(kind: str) -> None:
    assert netdev_members(kind, schema("7.2")) == NETDEV_MEMBERS[kind]


def test_passt_is_a_netdev_type_where_the_schema_has_it() -> None:
    assert "passt" not in netdev_drivers(schema("10.0"))
    assert "passt" in netdev_drivers(schema("11.1"))
    assert refusal({"type": "passt", "id": "p1", "mtu": "x"}, "10.0", (10, 0)) == \
        "Parameter 'type' does not accept value 'passt'"
    assert refusal({"type": "passt", "id": "p1", "mtu": "x"}, "11.1", (11, 1)) == \
        "Parameter 'mtu' expects an int64 value"
    assert netdev_arguments({"type": "passt", "id": "p1", "quiet": "on"}, schema("11.1"),
                            (11, 1)) == {"id": "p1", "type": "passt", "quiet": True}


def test_ipv6_net_error_names_the_option_since_8_2() -> None:
    options = {"type": "user", "id": "u1", "ipv6-net": "fec0::/x"}
    assert refusal(options, "7.2", (7, 2)) == "Parameter 'ipv6-prefixlen' expects a number"
    assert refusal(options, "10.0", (10, 0)) == "parameter 'ipv6-net' expects a number after '/'"
    assert refusal(options, "11.1", (7, 2)) == "Parameter 'ipv6-prefixlen' expects a number"


def test_netdev_help_lists_passt_after_tap() -> None:
    text = netdev_types_help(schema("11.1").argument_names_or_values("netdev_add", "type"))
    assert text == ("Available netdev backend types:\nsocket\nstream\ndgram\nhubport\ntap\n"
                    "passt\nuser\nl2tpv3\nvde\nbridge\nvhost-user\nvhost-vdpa\n")


def test_an_older_release_text_takes_only_its_own_netdev_types() -> None:
    """With 7.2's text over 11.1: passt (10.1) and af-xdp (8.2) are refused as 7.2 refuses
    them, and netdev_add help leaves passt out, as QEMU 7.2's own monitor does."""
    assert refusal({"type": "passt", "id": "p1"}, "11.1", (7, 2)) == \
        "Parameter 'type' does not accept value 'passt'"
    assert refusal({"type": "af-xdp", "id": "x1"}, "11.1", (7, 2)) == \
        "Parameter 'type' does not accept value 'af-xdp'"
    assert "passt" not in netdev_drivers(schema("11.1"), (10, 0))
    assert "passt" in netdev_drivers(schema("11.1"), (10, 1))


def test_netdev_help_with_7_2_text_over_11_1() -> None:
    from hmpbridge.handlers import Context
    from hmpbridge.profile import profile_for
    from hmpbridge.testing import CannedReplies, qmp_greeting, run_key
    with open(os.path.join(RELEASES, "11.1", "schema.json")) as f:
        raw = json.load(f)
    ctx = Context(profile=profile_for(qmp_greeting((11, 1, 3)), raw, (7, 2)))
    out = run_key("netdev_add", {"netdev": {"type": "help"}},
                  CannedReplies({"query-qmp-schema": raw}), ctx=ctx)
    assert out == ("Available netdev backend types:\nsocket\nstream\ndgram\nhubport\ntap\n"
                   "user\nl2tpv3\nvde\nbridge\nvhost-user\nvhost-vdpa\n")
