"""Property tests of the migration lines across releases.

* ``cpr-exec-command`` words: any list of words quoted as GLib's
  ``g_shell_quote`` does comes back whole from :func:`shell_argv`; on plain
  quoting and escapes it agrees with Python's POSIX ``shlex`` (where both
  have the same rules), errors included.
* ``size_to_str``: three significant digits of the right IEC unit.
* ``info migrate_parameters`` prints, for any release and any set of
  parameters the QEMU has, the release's lines for those parameters only,
  once each, in the release's order.
* ``migrate_set_parameter`` either sends the one parameter it was given,
  typed, or prints an error and sends nothing; a name the schema lacks is
  always refused.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any, Dict, List

from hypothesis import given, settings, strategies as st

from hmpbridge.handlers import Context, _load_all
from hmpbridge.handlers.migration_set import PARAMETER_KINDS, shell_argv
from hmpbridge.profile import profile_for
from hmpbridge.qemu_opts import OptsError
from hmpbridge.render.migration import PARAMETER_LINES, parameter_lines, render_migrate_parameters
from hmpbridge.render.migration_info import size_to_str
from hmpbridge.testing import CannedReplies, qmp_greeting, run_key

_load_all()

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "releases")
RELEASES = [(7, 2), (8, 0), (8, 1), (8, 2), (9, 0), (9, 1), (9, 2), (10, 0), (10, 1), (10, 2),
            (11, 0), (11, 1)]


def g_shell_quote(word: str) -> str:
    """GLib's ``g_shell_quote``: single quotes, a quote written ``'\\''``."""
    return "'" + word.replace("'", "'\\''") + "'"


WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=80)
@given(st.lists(WORD, min_size=1, max_size=6), st.sampled_from([" ", "  ", "\t", " \n "]))
def test_quoted_words_come_back_whole(words: List[str], gap: str) -> None:
    assert shell_argv(gap.join(g_shell_quote(w) for w in words)) == words


@given(st.text(alphabet="ab '\"\\", min_size=1, max_size=20))
def test_agrees_with_posix_shlex(text: str) -> None:
    try:
        expected = shlex.split(text)
    except ValueError:
        expected = None
    if not expected:
        try:
            shell_argv(text)
        except OptsError:
            return
        raise AssertionError(f"{text!r} should be refused")
    assert shell_argv(text) == expected


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_size_to_str_has_three_digits_and_the_right_unit(value: int) -> None:
    text = size_to_str(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\+\d+)?) (|Ki|Mi|Gi|Ti|Pi|Ei)B", text)
    assert match, text
    number = float(match.group(1))
    unit = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].index(match.group(2))
    assert number <= 1000  # three digits; 999.5 and up round to C's "1e+03"
    assert abs(number * 1024 ** unit - value) <= max(0.5, value * 0.005)


def test_size_to_str_rounds_as_c_does() -> None:
    """Found by the property above: just under 1000 of a unit, C's ``%0.3g`` writes ``1e+03``."""
    assert size_to_str(1098961871962112) == "1e+03 TiB"
    assert size_to_str(0) == "0 B"
    assert size_to_str(1000) == "0.977 KiB"
    assert size_to_str((1 << 64) - 1) == "16 EiB"


NAMES = sorted({line.name for line in PARAMETER_LINES})


@settings(max_examples=80)
@given(st.sampled_from(RELEASES), st.sets(st.sampled_from(NAMES)),
       st.dictionaries(st.sampled_from(NAMES), st.integers(0, (1 << 64) - 1)))
def test_parameters_printed_are_the_releases_and_the_qemus(release, members, values) -> None:
    reply: Dict[str, Any] = dict(values)
    reply.pop("block-bitmap-mapping", None)
    reply.pop("cpr-exec-command", None)
    text = render_migrate_parameters(reply, release, members)
    printed = [line.split(":", 1)[0] for line in text.splitlines()]
    expected = [line.name for line in parameter_lines(release) if line.name in members
                and (not line.optional or line.name in reply)]
    assert printed == expected
    assert len(set(printed)) == len(printed)


def _schema(release: str) -> List[Dict[str, Any]]:
    with open(os.path.join(FIXTURES, release, "schema.json")) as f:
        return json.load(f)  # type: ignore[no-any-return]


CONTEXTS = {release: Context(profile=profile_for(qmp_greeting(version), _schema(release)))
            for release, version in (("7.2", (7, 2, 22)), ("10.0", (10, 0, 2)),
                                     ("11.1", (11, 1, 3)))}
SIZE_HINT = "Optional suffix"


@settings(max_examples=80)
@given(st.sampled_from(sorted(CONTEXTS)), st.sampled_from(sorted(PARAMETER_KINDS) + ["nosuch"]),
       st.text(alphabet="0123456789abkMGx.-' \"on", min_size=1, max_size=8))
def test_set_parameter_sends_one_typed_value_or_nothing(release, name, value) -> None:
    ctx = CONTEXTS[release]
    script = CannedReplies()
    out = run_key("migrate_set_parameter", {"parameter": name, "value": value}, script, ctx=ctx)
    schema = ctx.profile.schema
    assert schema is not None
    has = name in schema.member_names(schema.arguments("migrate-set-parameters"))
    if not has:
        assert (out, script.sent) == (f"Error: invalid parameter value: {name}\n", [])
        return
    if script.sent:
        assert [c.execute for c in script.sent] == ["migrate-set-parameters"]
        assert list(script.sent[0].arguments) == [name]
        assert out == "" or out.startswith("warning: ")
    else:
        assert out.startswith("Error: ") or SIZE_HINT in out
