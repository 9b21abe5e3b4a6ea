"""Properties of QEMU 7.2's text over QEMU 11.1 (``--hmp-version 7.2``): for any
arguments, the bridge refuses what QEMU 7.2 refused, in 7.2's words and order, and
sends to 11.1 what 7.2 would have taken.

The models below are QEMU 7.2's own checks, read from its sources
(``migration/dirtyrate.c`` ``qmp_calc_dirty_rate``, ``migration/migration.c``
``qmp_migrate``, ``qapi/migration.json`` ``MigrationStatus``, ``qapi/net.json``
``NetClientDriver``), written apart from the handlers they check.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from hypothesis import given, strategies as st

from hmpbridge.handlers import Context
from hmpbridge.handlers.netdev_objects import NetdevError, netdev_arguments
from hmpbridge.model import QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.qapi_schema import Schema
from hmpbridge.testing import CannedReplies, qmp_greeting, run_key

RELEASES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
with open(os.path.join(RELEASES, "11.1", "schema.json")) as _f:
    SCHEMA_11_1 = json.load(_f)


def as_7_2() -> Context:
    return Context(profile=profile_for(qmp_greeting((11, 1, 3)), SCHEMA_11_1, (7, 2)))


def calc_dirty_rate_7_2(seconds: int, pages: Optional[int], mode: str) -> Optional[str]:
    """``qmp_calc_dirty_rate``'s refusal in QEMU 7.2 (nothing measuring), or None."""
    if seconds < 1 or seconds > 60:
        return "calc-time is out of range[1, 60]."
    if pages is not None and mode == "dirty-ring":
        return "either sample-pages or dirty-ring can be specified."
    if pages is not None and not (128 <= pages <= 16384):
        return "sample-pages is out of range[128, 16384]."
    return None


@given(seconds=st.integers(1, 200), pages=st.one_of(st.none(), st.integers(0, 40000)),
       mode=st.sampled_from(["page-sampling", "dirty-bitmap", "dirty-ring"]))
def test_calc_dirty_rate_refuses_as_7_2(seconds: int, pages: Optional[int], mode: str) -> None:
    args: Dict[str, Any] = {"second": seconds}
    if pages is not None:
        args["sample_pages_per_GB"] = pages
    if mode == "dirty-bitmap":
        args["dirty_bitmap"] = True
    elif mode == "dirty-ring":
        args["dirty_ring"] = True
    script = CannedReplies({"query-dirty-rate": {"status": "measured"}})
    out = run_key("calc_dirty_rate", args, script, ctx=as_7_2())
    refused = calc_dirty_rate_7_2(seconds, pages, mode)
    sent = [c.execute for c in script.sent]
    if refused is not None:
        assert out == f"Error: {refused}\n"
        assert "calc-dirty-rate" not in sent
    else:
        assert "calc-dirty-rate" in sent


#: The URI prefixes QEMU 7.2's ``qmp_migrate`` starts a migration for.
MIGRATE_7_2 = ("tcp:", "unix:", "vsock:", "rdma:", "exec:", "fd:")


@given(scheme=st.sampled_from(["tcp", "unix", "vsock", "rdma", "exec", "fd", "file", "nosuch",
                               "TCP", ""]),
       rest=st.text(alphabet="abc:/.,=0123456789", max_size=12))
def test_migrate_takes_the_uris_7_2_took(scheme: str, rest: str) -> None:
    uri = f"{scheme}:{rest}" if scheme else rest
    script = CannedReplies({"query-migrate": {}})
    out = run_key("migrate", {"uri": uri, "detach": True}, script, ctx=as_7_2())
    if uri.startswith(MIGRATE_7_2):
        assert QMPCommand("migrate", {"uri": uri, "resume": False}) in script.sent
    else:
        assert out == "Error: Parameter 'uri' expects a valid migration protocol\n"
        assert "migrate" not in [c.execute for c in script.sent]


#: QEMU 7.2's MigrationStatus.
STATUSES_7_2 = ("none", "setup", "cancelling", "cancelled", "active", "postcopy-active",
                "postcopy-paused", "postcopy-recover", "completed", "failed", "colo",
                "pre-switchover", "device", "wait-unplug")


@given(state=st.sampled_from(Schema(SCHEMA_11_1).argument_names_or_values(
    "migrate-continue", "state")))
def test_migrate_continue_takes_the_states_7_2_had(state: str) -> None:
    script = CannedReplies()
    out = run_key("migrate_continue", {"state": state}, script, ctx=as_7_2())
    if state in STATUSES_7_2:
        assert script.sent == [QMPCommand("migrate-continue", {"state": state})]
    else:
        assert (out, script.sent) == (f"Error: invalid parameter value: {state}\n", [])


#: QEMU 7.2's NetClientDriver (the vmnet ones only on macOS).
NETDEVS_7_2 = {"none", "nic", "user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde",
               "bridge", "hubport", "netmap", "vhost-user", "vhost-vdpa", "vmnet-host",
               "vmnet-shared", "vmnet-bridged"}


@given(kind=st.sampled_from(Schema(SCHEMA_11_1).argument_names_or_values("netdev_add", "type")))
def test_netdev_add_takes_the_types_7_2_had(kind: str) -> None:
    try:
        netdev_arguments({"type": kind, "id": "n1"}, Schema(SCHEMA_11_1), (7, 2))
    except NetdevError as err:
        refused = str(err) == f"Parameter 'type' does not accept value '{kind}'"
    else:
        refused = False
    assert refused is (kind not in NETDEVS_7_2)
