"""Test modules are imported by their base name (no ``__init__.py`` in tests/unit or
tests/integration): two with the same name would stop the suite at collection."""

from __future__ import annotations

import collections
import os

TESTS = os.path.join(os.path.dirname(__file__), "..")


def test_no_two_test_modules_share_a_name() -> None:
    seen = collections.defaultdict(list)
    for folder, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen[name].append(os.path.relpath(os.path.join(folder, name), TESTS))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
