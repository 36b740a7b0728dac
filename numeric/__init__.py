"""Numeric layer: compiled right-hand sides, integrators, simulations."""
