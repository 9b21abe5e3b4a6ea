"""The package type-checks cleanly under mypy with the configuration in setup.cfg."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_errors(tmp_path: Path) -> None:
    """mypy (strict, with the zope.interface plugin) reports no error anywhere in hmpbridge.

    It runs cold, with a cache of its own, in a few seconds.
    """
    api = pytest.importorskip(
        "mypy.api", reason="mypy is not installed (pip install 'hmpbridge[test]')")
    pytest.importorskip(
        "mypy_zope", reason="mypy-zope, the plugin setup.cfg names, is not installed")
    out, err, status = api.run([
        "--config-file", str(ROOT / "setup.cfg"),
        "--cache-dir", str(tmp_path / "mypy-cache"),
        str(ROOT / "hmpbridge"),
    ])
    assert status == 0, out + err
