"""Rewrite the lists of what the bridge does not reproduce yet, from what the tests find now.

    .venv/bin/python -m tests.tools.known_differences corpus 10.0 11.1
    .venv/bin/python -m tests.tools.known_differences golden 10.0 11.1

``corpus X.Y``: runs the twin corpora on QEMU X.Y (``test_fidelity.py`` with
``--runxfail``, so listed lines run as plain tests) and rewrites that
release's entries of ``tests/corpus/known-differences.txt``: a line that
still fails keeps its reason, a new one gets QEMU's and the bridge's first
differing lines, a line that passes is dropped.  Other releases' entries
and the comments are kept.

``golden X.Y``: replays ``tests/golden/fixtures/X.Y/*.json`` with the profile
of their release and rewrites ``tests/golden/fixtures/X.Y/known-differences.txt``
the same way.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS_LIST = os.path.join(ROOT, "tests", "corpus", "known-differences.txt")
GOLDEN = os.path.join(ROOT, "tests", "golden", "fixtures")


def first_difference(diff_lines: List[str]) -> str:
    """A reason from pytest's diff lines (``- `` QEMU's side, ``+ `` the bridge's)."""
    qemu = [line[2:].strip() for line in diff_lines if line.startswith("- ")]
    ours = [line[2:].strip() for line in diff_lines if line.startswith("+ ")]
    if qemu and ours:
        return f"QEMU prints {qemu[0][:60]!r}, the bridge {ours[0][:60]!r}"
    if qemu:
        return f"the bridge lacks QEMU's line {qemu[0][:70]!r}"
    if ours:
        return f"the bridge prints {ours[0][:70]!r}, which QEMU does not"
    return "the output differs"


def _corpus_failures(release: str) -> Dict[str, str]:
    """``corpus:NNN -> reason`` of every line that fails on ``release`` now."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "run.xml")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/integration/test_fidelity.py", "-k", "test_line_matches_qemu",
                        "--runxfail", "--tb=short", f"--junitxml={xml}"],
                       cwd=ROOT, env=dict(os.environ, HMPBRIDGE_FIDELITY_RELEASES=release),
                       stdout=subprocess.DEVNULL, check=False)
        tree = ET.parse(xml)
    found: Dict[str, str] = {}
    broken: List[str] = []
    for case in tree.iter("testcase"):
        name = re.match(r"test_line_matches_qemu\[[\w.-]+/([\w-]+:\d{3}) (.*)\]$",
                        case.get("name", ""))
        if not name:
            continue
        if case.find("error") is not None:  # its rig did not start: no verdict on the line
            broken.append(name.group(1))
            continue
        problem = case.find("failure")
        if problem is None:
            continue
        body = problem.text or ""
        diff = [line[6:] for line in body.splitlines() if line.startswith("E     ")]
        if "state_a == state_b" in body:
            reason = "the twins' state differs afterwards"
        elif diff:
            reason = first_difference(diff)
        else:
            reason = (problem.get("message") or "fails").splitlines()[0][:100]
        found[name.group(1)] = f"{name.group(2)[:40]}: {reason}"
    if broken:
        raise SystemExit(f"{release}: {len(broken)} lines could not run ({broken[0]}, ...): "
                         "the list is left as it was")
    return found


def _read_list(path: str) -> Tuple[List[str], List[Tuple[str, str, str]]]:
    """The list's comment lines and its ``(first, second, reason)`` entries."""
    comments: List[str] = []
    entries: List[Tuple[str, str, str]] = []
    if os.path.exists(path):
        with open(path) as f:
            for raw in f:
                line = raw.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    comments.append(line)
                else:
                    words = line.split(None, 2)
                    entries.append((words[0], words[1] if len(words) > 1 else "",
                                    words[2] if len(words) > 2 else ""))
    return comments, entries


def _order(where: str) -> Tuple[str, int]:
    name, _, number = where.partition(":")
    return name, int(number or 0)


def _label_order(label: str) -> Tuple[Tuple[int, ...], ...]:
    return tuple(tuple(int(n) for n in part.split(".")) for part in label.split("-as-"))


def corpus(release: str) -> None:
    failures = _corpus_failures(release)
    comments, entries = _read_list(CORPUS_LIST)
    kept = {where: reason for rel, where, reason in entries if rel == release}
    others = [(rel, where, reason) for rel, where, reason in entries if rel != release]
    mine = [(release, where, kept.get(where) or reason) for where, reason in failures.items()]
    rows = sorted(others + mine, key=lambda e: (_label_order(e[0]), _order(e[1])))
    with open(CORPUS_LIST, "w") as f:
        f.write("\n".join(comments + [f"{rel:<5} {where:<15} {reason}"
                                      for rel, where, reason in rows]) + "\n")
    print(f"{release}: {len(mine)} lines differ "
          f"({len(set(failures) - set(kept))} new, {len(set(kept) - set(failures))} fixed)")


def _golden_reason(path: str) -> Optional[str]:
    from hmpbridge.errors import QMPCommandError
    from tests.golden.measured import MaskError, compare
    from tests.golden.recorder import fixture_profile, run_handler, set_timezone

    with open(path) as f:
        case = json.load(f)
    exchanges, position = case["exchanges"], [0]

    def respond(cmd):  # type: ignore[no-untyped-def]
        if position[0] >= len(exchanges):
            raise AssertionError(f"sends {cmd.execute} after the recorded commands")
        sent, reply = exchanges[position[0]]
        position[0] += 1
        if cmd.to_dict() != sent:
            raise AssertionError(f"sends {cmd.to_dict()} where {sent} was recorded")
        if "error" in reply:
            err = reply["error"]
            raise QMPCommandError(err["class"], err["desc"], cmd.execute, reply)
        return reply["return"]

    set_timezone(case.get("tz"))
    try:
        text = run_handler(case["handler"], case["args"], case["line"], respond,
                           case.get("cpu_index", 0), fixture_profile(case), sleep=None)
    except AssertionError as err:
        return f"{case['line']}: {str(err)[:120]}"
    try:
        expected, text = compare(case["expected"], text, case.get("measured", {}))
    except MaskError as err:
        return f"{case['line']}: {err}"
    if text != expected:
        want, got = expected.splitlines(), text.splitlines()
        pair = next(((a, b) for a, b in zip(want, got) if a != b), None)
        if pair is None:
            pair = (want[len(got)] if len(want) > len(got) else "(end)",
                    got[len(want)] if len(got) > len(want) else "(end)")
        return f"{case['line']}: QEMU {pair[0][:60]!r}, the bridge {pair[1][:60]!r}"
    if position[0] != len(exchanges):
        return f"{case['line']}: sends fewer commands than recorded"
    return None


def golden(release: str) -> None:
    folder = os.path.join(GOLDEN, release)
    path = os.path.join(folder, "known-differences.txt")
    comments, entries = _read_list(path)
    kept = {name: f"{second} {reason}".strip() for name, second, reason in entries}
    rows = []
    for fixture in sorted(glob.glob(os.path.join(folder, "*.json"))):
        name = os.path.basename(fixture)[:-len(".json")]
        reason = _golden_reason(fixture)
        if reason is not None:
            rows.append(f"{name} {kept.get(name) or reason}")
    with open(path, "w") as f:
        f.write("\n".join(comments + rows) + "\n")
    print(f"{release}: {len(rows)} fixtures differ")


def main(argv: List[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("corpus", "golden"):
        sys.stderr.write(__doc__ or "")
        return 2
    sys.path.insert(0, ROOT)
    for release in argv[1:]:
        (corpus if argv[0] == "corpus" else golden)(release)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
