"""Shared settings for the unit tests.

Property-based tests run under a Hypothesis profile: ``ci`` (the default) is
bounded and derandomized, so every run tries the same examples in the same
time; ``deep`` (``HMPBRIDGE_FUZZ=deep``) tries many more, different each run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "deep", max_examples=20000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HMPBRIDGE_FUZZ", "ci"))
