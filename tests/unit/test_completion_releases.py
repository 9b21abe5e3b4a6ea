"""Completion of QAPI enumerations per release, from the schemas in ``tests/fixtures/releases``.

The expected lists are QEMU's own readline completion (``-monitor telnet:``,
Tab after the text) on QEMU 7.2.22, 10.0.2 and 11.1.3.  With an older
release's text (the table of 7.2 over a newer schema, as ``--hmp-version 7.2``
gives), only what 7.2 had and the live QEMU still has is offered.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.commands import table_for
from hmpbridge.completion import CompletionContext, complete
from hmpbridge.handlers import drive
from hmpbridge.model import QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.qapi_schema import Schema
from hmpbridge.testing import qmp_greeting

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
RELEASES = {"7.2": (7, 2), "10.0": (10, 0), "11.1": (11, 1)}


@functools.lru_cache(maxsize=None)
def schema(release: str) -> Schema:
    with open(os.path.join(FIXTURES, release, "schema.json")) as f:
        return Schema(json.load(f))


def ctx(release: str, text: Optional[str] = None) -> CompletionContext:
    """The context of QEMU ``release`` printing release ``text`` (default: its own), as the
    session makes it (without the profile)."""
    return CompletionContext(schema=schema(release), table=table_for(RELEASES[text or release]),
                             passthrough=False)


def offered(line: str, context: CompletionContext) -> List[str]:
    asked: List[QMPCommand] = []

    def respond(cmd: QMPCommand) -> Any:
        asked.append(cmd)
        return []

    found = drive(complete(line, context), respond)
    assert asked == []  # the schema answers; QEMU is not asked
    return sorted(found.candidates)


#: QEMU's own ``migrate_set_capability <Tab>`` per release (captured).
CAPABILITIES = {
    "7.2": "auto-converge background-snapshot block compress dirty-bitmaps events "
           "late-block-activate multifd pause-before-switchover postcopy-blocktime "
           "postcopy-preempt postcopy-ram rdma-pin-all release-ram return-path validate-uuid "
           "x-colo x-ignore-shared xbzrle zero-blocks zero-copy-send",
    "10.0": "auto-converge background-snapshot dirty-bitmaps dirty-limit events "
            "late-block-activate mapped-ram multifd pause-before-switchover postcopy-blocktime "
            "postcopy-preempt postcopy-ram rdma-pin-all release-ram return-path switchover-ack "
            "validate-uuid x-colo x-ignore-shared xbzrle zero-blocks zero-copy-send",
    "11.1": "auto-converge background-snapshot dirty-bitmaps dirty-limit events "
            "late-block-activate mapped-ram multifd pause-before-switchover postcopy-blocktime "
            "postcopy-preempt postcopy-ram rdma-pin-all release-ram return-path switchover-ack "
            "validate-uuid x-colo x-ignore-shared xbzrle zero-copy-send",
}

#: QEMU's own ``migrate_set_parameter <Tab>`` (7.2 and 11.1.3 captured; 10.0.2 is 11.1.3's
#: without cpr-exec-command and x-rdma-chunk-size).
PARAMETERS_7_2 = (
    "announce-initial announce-max announce-rounds announce-step block-bitmap-mapping "
    "block-incremental compress-level compress-threads compress-wait-thread "
    "cpu-throttle-increment cpu-throttle-initial cpu-throttle-tailslow decompress-threads "
    "downtime-limit max-bandwidth max-cpu-throttle max-postcopy-bandwidth multifd-channels "
    "multifd-compression multifd-zlib-level multifd-zstd-level throttle-trigger-threshold "
    "tls-authz tls-creds tls-hostname x-checkpoint-delay xbzrle-cache-size")
PARAMETERS_11_1 = (
    "announce-initial announce-max announce-rounds announce-step avail-switchover-bandwidth "
    "block-bitmap-mapping cpr-exec-command cpu-throttle-increment cpu-throttle-initial "
    "cpu-throttle-tailslow direct-io downtime-limit max-bandwidth max-cpu-throttle "
    "max-postcopy-bandwidth mode multifd-channels multifd-compression multifd-qatzip-level "
    "multifd-zlib-level multifd-zstd-level throttle-trigger-threshold tls-authz tls-creds "
    "tls-hostname vcpu-dirty-limit x-checkpoint-delay x-rdma-chunk-size "
    "x-vcpu-dirty-limit-period xbzrle-cache-size zero-page-detection")


@pytest.mark.parametrize("release", sorted(CAPABILITIES))
def test_capabilities_are_the_releases_own(release: str) -> None:
    """``migrate_set_capability <Tab>`` offers that release's MigrationCapability."""
    assert offered("migrate_set_capability ", ctx(release)) == CAPABILITIES[release].split()


def test_parameters_are_the_releases_own() -> None:
    """``migrate_set_parameter <Tab>`` offers that release's MigrationParameter."""
    assert offered("migrate_set_parameter ", ctx("7.2")) == PARAMETERS_7_2.split()
    assert offered("migrate_set_parameter ", ctx("11.1")) == PARAMETERS_11_1.split()
    assert offered("migrate_set_parameter ", ctx("10.0")) == [
        p for p in PARAMETERS_11_1.split() if p not in ("cpr-exec-command", "x-rdma-chunk-size")]


def test_7_2_text_offers_7_2s_values_the_live_qemu_has() -> None:
    """7.2's table over 11.1's schema: 7.2's values, less those 11.1 no longer has."""
    seven_two = ctx("11.1", "7.2")
    assert offered("migrate_set_capability ", seven_two) == [
        c for c in CAPABILITIES["7.2"].split() if c not in ("block", "compress", "zero-blocks")]
    assert offered("migrate_set_parameter ", seven_two) == [
        p for p in PARAMETERS_7_2.split() if p in PARAMETERS_11_1.split()]
    assert offered("sendkey ctrl-alt-f2", seven_two) == ["f2"]
    assert offered("sendkey ctrl-alt-f2", ctx("11.1")) == ["f2", "f20", "f21", "f22", "f23", "f24"]
    assert "passt" in offered("netdev_add ", ctx("11.1"))
    assert offered("netdev_add ", seven_two) == offered("netdev_add ", ctx("7.2"))
    assert offered("watchdog_action ", seven_two) == offered("watchdog_action ", ctx("7.2"))


def test_10_0_text_over_11_1() -> None:
    """10.0's table over 11.1: zero-blocks (gone in 11.0) is not offered; passt (10.1) is not."""
    ten = ctx("11.1", "10.0")
    assert offered("migrate_set_capability ", ten) == CAPABILITIES["11.1"].split()
    assert "passt" not in offered("netdev_add ", ten)
    assert "x-rdma-chunk-size" not in offered("migrate_set_parameter ", ten)
    assert "f24" in offered("sendkey f2", ten)


def test_a_value_no_table_knows_is_the_served_qemus() -> None:
    """A value newer than every table is offered on its own QEMU's text, not on an older one."""
    entities = [dict(e) for e in schema("11.1").entities]
    for entity in entities:
        if entity.get("meta-type") == "enum" and "zero-copy-send" in entity.get("values", ()):
            entity["values"] = list(entity["values"]) + ["x-future"]
    future = Schema(entities)
    greeting = qmp_greeting((11, 2, 0))
    own = CompletionContext(schema=future, table=table_for((11, 1)),
                            profile=profile_for(greeting, entities))
    older = CompletionContext(schema=future, table=table_for((10, 0)),
                              profile=profile_for(greeting, entities, (10, 0)))
    unknown = CompletionContext(schema=future, table=table_for((11, 1)))
    assert "x-future" in offered("migrate_set_capability x", own)
    assert "x-future" not in offered("migrate_set_capability x", older)
    assert "x-future" in offered("migrate_set_capability x", unknown)


_TEXTS = st.sampled_from(["migrate_set_capability ", "migrate_set_parameter ", "sendkey ",
                          "sendkey ctrl-", "netdev_add ", "watchdog_action "])


@given(st.sampled_from([("7.2", None), ("10.0", None), ("11.1", None), ("10.0", "7.2"),
                        ("11.1", "7.2"), ("11.1", "10.0")]),
       _TEXTS, st.text(alphabet="abcdefmnprstxz-_12", max_size=3).filter(
           lambda typed: not typed.startswith("-")))
def test_offers_are_within_both_releases(which: Tuple[str, Optional[str]], text: str,
                                         typed: str) -> None:
    """Whatever is typed, every candidate starts with it, the live QEMU has it, and the
    printed release's own QEMU would offer it too."""
    served, printed = which
    got = offered(text + typed, ctx(served, printed))
    live = offered(text, ctx(served))
    own = offered(text, ctx(printed or served))
    word = (text + typed).split(" ")[-1].rsplit("-", 1)[-1] if text.startswith("sendkey") \
        else typed
    assert all(c.startswith(word) for c in got)
    assert set(got) <= set(live) & set(own)
    assert got == sorted(c for c in set(live) & set(own) if c.startswith(word))
