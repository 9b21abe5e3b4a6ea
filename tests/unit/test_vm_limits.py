"""Users limited to some VMs: the password file's last field, the login on a VM's own
listener, and the identity's check."""

from __future__ import annotations

from typing import Any, List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from hmpbridge.access import OPERATOR
from hmpbridge.login import FAILURE_DELAY, LoginGate
from hmpbridge.model import Identity
from hmpbridge.passwords import PasswordEntry, PasswordFileError, parse_lines, set_user
from tests.unit.test_login import Channel, Inner

HASH = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="


def test_the_last_field_limits_a_user_to_vm_patterns() -> None:
    entries = parse_lines([f"alice:operator:{HASH}", f"carol:read-only:{HASH}:web-*, db1"])
    assert entries["alice"].vms == ()
    assert entries["carol"].vms == ("web-*", "db1")
    assert entries["carol"].hashed == HASH


@pytest.mark.parametrize("field", ["", "web,", ",", " , db1"])
def test_an_empty_pattern_is_refused_with_the_line(field: str) -> None:
    with pytest.raises(PasswordFileError, match=r"f:2: bad VM list"):
        parse_lines([f"alice:operator:{HASH}", f"carol:operator:{HASH}:{field}"], "f")


def test_set_user_writes_the_limit(tmp_path: Any) -> None:
    path = str(tmp_path / "users")
    set_user(path, "carol", OPERATOR, "pw", ["web-*", "db1"])
    set_user(path, "alice", OPERATOR, "pw")
    with open(path) as f:
        entries = parse_lines(f.read().splitlines())
    assert entries["carol"].vms == ("web-*", "db1") and entries["alice"].vms == ()


@given(st.text(alphabet="abw-1*?", min_size=1, max_size=8))
def test_one_vm_bridges_ignore_limits(pattern: str) -> None:
    """Without VM names (one QEMU, or a shared listener before a choice), no limit applies."""
    assert Identity("carol", vms=(pattern,)).may_reach("")


def test_patterns_match_whole_names() -> None:
    carol = Identity("carol", vms=("web-*", "db1"))
    assert carol.may_reach("web-3") and carol.may_reach("db1")
    assert not carol.may_reach("db10") and not carol.may_reach("xweb-1")
    assert Identity("alice").may_reach("anything")


class VMRig:
    """A login gate on VM ``vm``'s own listener."""

    def __init__(self, vm: str) -> None:
        self.clock = Clock()
        self.inner: Optional[Inner] = None
        self.audited: List[Any] = []
        users = {("carol", "pw"): PasswordEntry("carol", OPERATOR, "x", ("web-*",))}

        def build(identity: Identity) -> Inner:
            self.inner = Inner(identity)
            return self.inner

        self.gate = LoginGate(lambda name, password: succeed(users.get((name, password))),
                              build, "unix:/run/hmpbridge/" + vm, None, self.clock,
                              audit=lambda who, received, outcome: self.audited.append(
                                  (who, received, outcome)), vm=vm)
        self.channel = Channel()
        self.gate.started(self.channel)


def test_a_user_logs_in_on_a_vm_they_may_reach_and_the_identity_names_it() -> None:
    rig = VMRig("web-1")
    rig.gate.received(b"carol\rpw\r")
    assert rig.inner is not None and rig.inner.identity.vm == "web-1"
    (who, received, outcome), = rig.audited
    assert (who.vm, received, outcome) == ("web-1", {"login": "carol"}, "login-ok")


def test_a_user_is_refused_on_another_vm_as_a_wrong_password_is() -> None:
    rig = VMRig("db1")
    rig.gate.received(b"carol\rpw\r")
    rig.clock.advance(FAILURE_DELAY)
    assert rig.inner is None
    assert bytes(rig.channel.written).endswith(b"\r\nLogin incorrect\r\nlogin: ")
    (who, received, outcome), = rig.audited
    assert (who.vm, received, outcome) == ("db1", {"login": "carol"}, "login-denied")
