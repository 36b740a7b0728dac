"""Numeric layer: compiled right-hand sides, integrators, simulations."""

from saddle_escape.numeric import finite_limit as _finite_limit  # noqa: F401 (registers τ★(0⁺))
