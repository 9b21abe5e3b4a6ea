"""``change vnc ...`` as each release prints it.

Texts are QEMU 7.2.22's, 10.0.2's and 11.1.3's own (``human-monitor-command``
on the test rig's VM, with ``-vnc unix:...`` where a display is needed).
8.0 gave the VNC argument errors HMP's ``Error:`` prefix; 11.1 replaced
"Could not set password" (and its hint line before it) with errors whose
hint, printed by HMP only, ends without a line end.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import pytest

from hmpbridge.commands import by_key
from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import HANDLERS, Context, _load_all, drive
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.profile import profile_for
from hmpbridge.testing import qmp_greeting

_load_all()


def _change(args: Dict[str, Any], version: Tuple[int, int, int],
            error: Optional[QMPCommandError] = None, auth: str = "none",
            hmp_version: Optional[Tuple[int, int]] = None) -> str:
    ctx = Context(profile=profile_for(qmp_greeting(version), None, hmp_version))

    def respond(cmd: QMPCommand) -> object:
        if cmd.execute == "change-vnc-password" and error is not None:
            raise error
        if cmd.execute == "query-vnc":
            return {"enabled": True, "auth": auth}
        return {}

    inv = Invocation(by_key("change"), dict(args, device="vnc"), "change vnc")
    return drive(HANDLERS["change"](inv, ctx), respond)


@pytest.mark.parametrize("version,prefix", [((7, 2, 0), ""), ((10, 0, 2), "Error: "),
                                            ((11, 1, 3), "Error: ")])
def test_vnc_argument_errors_gain_the_prefix_in_8_0(version: Tuple[int, int, int],
                                                    prefix: str) -> None:
    """When change vnc's arguments are wrong, 8.0 and later print HMP's Error: prefix."""
    assert _change({"target": "foo"}, version) == prefix + "Expected 'password' after 'vnc'\n"
    assert _change({"target": "password", "arg": "pw", "read-only-mode": "retain"},
                   version) == prefix + "Parameter 'read-only-mode' is invalid for VNC\n"


def test_vnc_argument_errors_bare_with_hmp_version_7_2() -> None:
    """When 7.2's text is asked for on 11.1, the argument errors print bare."""
    assert _change({"target": "foo"}, (11, 1, 3), hmp_version=(7, 2)) == (
        "Expected 'password' after 'vnc'\n")


def test_password_errors_of_11_1_keep_their_hint() -> None:
    """When 11.1 refuses the password, HMP's hint follows the error, with no line end."""
    disabled = QMPCommandError("GenericError", "VNC password authentication is disabled")
    assert _change({"target": "password", "arg": "pw"}, (11, 1, 3), disabled) == (
        "Error: VNC password authentication is disabled\n"
        "To enable it, use '-vnc ...,password-secret=ID'")
    absent = QMPCommandError("GenericError", "No VNC display is present")
    assert _change({"target": "password", "arg": "pw"}, (11, 1, 3), absent) == (
        "Error: No VNC display is present\nTo enable it, use '-vnc ...'")


def test_could_not_set_password_keeps_the_old_hint() -> None:
    """When QEMU says it could not set the password (to 11.0), the auth hint comes first."""
    failed = QMPCommandError("GenericError", "Could not set password")
    assert _change({"target": "password", "arg": "pw"}, (10, 0, 2), failed) == (
        "If you want use passwords please enable password auth using "
        "'-vnc ${dpy},password'.\nError: Could not set password\n")


@pytest.mark.parametrize("hmp_version", [(7, 2), (10, 0), (11, 0)])
def test_password_errors_of_11_1_in_an_older_release_text(hmp_version: Tuple[int, int]) -> None:
    """When an older release's text is asked for on 11.1, its refusals print as that release
    worded them: 'Could not set password', after the auth hint when auth is off."""
    disabled = QMPCommandError("GenericError", "VNC password authentication is disabled")
    assert _change({"target": "password", "arg": "pw"}, (11, 1, 3), disabled,
                   hmp_version=hmp_version) == (
        "If you want use passwords please enable password auth using "
        "'-vnc ${dpy},password'.\nError: Could not set password\n")
    absent = QMPCommandError("GenericError", "No VNC display is present")
    assert _change({"target": "password", "arg": "pw"}, (11, 1, 3), absent,
                   hmp_version=hmp_version) == "Error: Could not set password\n"
