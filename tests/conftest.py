"""Shared test configuration: hypothesis profiles and the precision guard."""

import os

import mpmath
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _precision_is_not_leaked():
    """No code may change mpmath's global precision (STYLE §6)."""
    before = mpmath.mp.dps
    yield
    assert mpmath.mp.dps == before, f"mp.dps leaked: {before} -> {mpmath.mp.dps}"
