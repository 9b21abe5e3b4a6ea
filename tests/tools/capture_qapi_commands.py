"""Write the QMP commands of each release, read from QEMU's own QAPI schema sources.

    .venv/bin/python -m tests.tools.capture_qapi_commands [MIRROR]

For the releases without a live ``query-qmp-schema`` capture
(``tests/fixtures/releases/<X.Y>/schema.json``), the per-release coverage test
still needs to know which QMP commands the release has.  This reads them from
the release's ``qapi/*.json`` at its release commit in a QEMU history mirror
(default ``/work/.mirror/pbo-linaro+qemu-ci/repo``), with the release's own
QAPI parser (``scripts/qapi``, exported to a temporary directory and imported
from there, never copied into this repository), and evaluates each command's
``if`` condition for Debian's x86_64 build: ``TARGET_I386`` and every
``CONFIG_*`` but ``CONFIG_WIN32``/``CONFIG_DARWIN`` hold, no other target.

Where a live schema was captured (7.2, 10.0), the file is written too and
must name the same commands (``tests/unit/test_coverage_releases.py`` checks
it): that is what makes the evaluation trustworthy for the others.  Writes
``tests/fixtures/releases/<X.Y>/qmp-commands.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "releases")
MIRROR = "/work/.mirror/pbo-linaro+qemu-ci/repo"

#: Release -> its release commit in the mirror (master: 11.0's development, 2026-02).
COMMITS: Dict[str, str] = {
    "7.2": "b67b00e6b4", "8.0": "c1eb2ddf0f", "8.1": "7e5a8bb223", "8.2": "1600b9f46b",
    "9.0": "c25df57ae8", "9.1": "fd1952d814", "9.2": "ae35f033b8", "10.0": "7c949c53e9",
    "10.1": "f8b2f64e23", "10.2": "698104725e", "11.0": "master",
}

#: Configuration symbols false in Debian's x86_64 build.
FALSE_CONFIGS = frozenset(("CONFIG_WIN32", "CONFIG_DARWIN"))

_READ = r'''
import json, sys
sys.path.insert(0, "scripts")
from qapi.parser import QAPISchemaParser
out = []
for x in QAPISchemaParser("qapi/qapi-schema.json").exprs:
    e = x["expr"] if "expr" in x else x
    if "command" in e:
        out.append([e["command"], e.get("if")])
json.dump(out, sys.stdout)
'''


def holds(cond: Any) -> bool:
    """Whether a QAPI ``if`` condition holds for Debian's x86_64 build."""
    if cond is None:
        return True
    if isinstance(cond, str):
        if cond.startswith("TARGET_"):
            return cond == "TARGET_I386"
        return cond not in FALSE_CONFIGS
    if "all" in cond:
        return all(holds(c) for c in cond["all"])
    if "any" in cond:
        return any(holds(c) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"])
    raise ValueError(f"unknown condition {cond!r}")


def commands(mirror: str, commit: str) -> List[str]:
    """The QMP commands of ``commit``'s schema that Debian's x86_64 build has."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", mirror, "archive", commit, "qapi", "scripts/qapi"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        found = json.loads(subprocess.run([sys.executable, "-c", _READ], cwd=tmp, check=True,
                                          capture_output=True, text=True).stdout)
    return sorted({name for name, cond in found if holds(cond)})


def main(argv: List[str]) -> None:
    mirror = argv[0] if argv else MIRROR
    for release, commit in COMMITS.items():
        names = commands(mirror, commit)
        folder = os.path.join(FIXTURES, release)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "qmp-commands.json"), "w") as f:
            json.dump({"release": release, "source": f"QEMU {commit} qapi/*.json, if conditions "
                       "of Debian's x86_64 build", "commands": names}, f, indent=1)
            f.write("\n")
        print(f"{release}: {len(names)} QMP commands ({commit})")


if __name__ == "__main__":
    main(sys.argv[1:])
