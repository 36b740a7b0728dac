"""Numerical classification of callables (no torch needed): checked against the exact one."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.classes import classify
from saddle_escape.symbolic.outcomes import ExpressionError

from saddle_escape.adapters.numerical import (
    FIT_FLOOR,
    NumericalClassification,
    NumericalClassificationWarning,
    classify_numerically,
)


def _numerical(fn, **kwargs) -> NumericalClassification:
    with pytest.warns(NumericalClassificationWarning, match="numerically"):
        return classify_numerically(fn, **kwargs)


# Callables next to the exact expression of the same σ: the numerical verdict must match
# the exact classifier's (class, q, h within the reported error).
MPMATH_CASES = [
    ("tanh", lambda z: mpmath.tanh(z)),
    ("gelu", lambda z: z * (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2),
    ("mish", lambda z: z * mpmath.tanh(mpmath.log(1 + mpmath.exp(z)))),
    ("sigmoid", lambda z: 1 / (1 + mpmath.exp(-z))),
    ("softplus", lambda z: mpmath.log(1 + mpmath.exp(z))),
    ("sin", lambda z: mpmath.sin(z)),
    ("x + x**4/3", lambda z: z + z**4 / 3),
]
FLOAT_CASES = [
    ("tanh", np.tanh),
    ("sin", math.sin),  # float scalars only
    ("gelu", lambda z: z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))) / 2),
    ("silu", lambda z: z / (1 + np.exp(-z))),
    ("softplus", lambda z: np.log1p(np.exp(z))),
    ("x*tanh(x)", lambda z: z * np.tanh(z)),
]


def _exact(name):
    result = classify(name)
    return result.class_, result.q, float(result.leading_coefficient)


@pytest.mark.parametrize("name, fn", MPMATH_CASES, ids=[c[0] for c in MPMATH_CASES])
def test_mpmath_method_matches_the_exact_class(name, fn):
    result = _numerical(fn)
    class_, q, h = _exact(name)
    assert result.method == "mpmath"
    assert (result.class_, result.q) == (class_, q)
    assert abs(result.leading_coefficient - h) <= max(result.leading_error, 1e-15) * 10
    assert result.leading_error < 1e-25  # 30 vs 60 digits


@pytest.mark.parametrize("name, fn", FLOAT_CASES, ids=[c[0] for c in FLOAT_CASES])
def test_float_fit_matches_the_exact_class_within_its_error_bar(name, fn):
    result = _numerical(fn)
    class_, q, h = _exact(name)
    assert result.method == "float64-fit"
    assert (result.class_, result.q) == (class_, q)
    # The reported error bounds the true one (a lower bound on the digits).
    assert abs(result.leading_coefficient - h) <= result.leading_error + 1e-15
    assert result.leading_error < 1e-6


def test_mish_guess_and_confidence():
    result = _numerical(MPMATH_CASES[2][1])
    assert result.leading_guess == "(8/25)"
    assert "class C: h_σ = c_2 = 0.32" in result.confidence
    assert result.warnings[0].startswith("classified numerically")
    out = result.to_dict()
    assert out["numerical"] is True and out["class"] == "C" and out["q"] == 2


def test_one_sided_elu_left_side_sets_the_class():
    for fn, method in (
        (lambda z: z if z > 0 else (mpmath.exp(z) - 1) / 2, "mpmath"),
        (lambda z: np.where(z > 0, z, 0.5 * np.expm1(np.minimum(z, 0))), "float64-fit"),
    ):
        result = _numerical(fn)
        assert result.method == method
        left, right = result.sides
        assert (left.class_.value, left.q) == ("C", 2)
        assert abs(left.leading_coefficient - 0.25) <= max(left.leading_error, 1e-15) * 10
        assert right.class_.value == "A"
        assert result.class_.value == "C"  # the left side dominates, as classify("elu") says
        assert any("two sides of 0 differ" in w for w in result.warnings)


def test_relu_is_class_a_with_two_sides():
    result = _numerical(lambda z: np.maximum(z, 0.0))
    assert result.class_.value == "A" and result.q is None
    assert result.sides is not None


def test_flat_term_is_never_class_a():
    # exp(-1/x²) has a zero Taylor series but φ_σ ≢ 0 (DESIGN §2).
    result = _numerical(lambda z: z + (mpmath.exp(-1 / z**2) if z != 0 else mpmath.mpf(0)))
    assert result.class_ is None
    assert "flat" in result.confidence
    # ... and x + x**20: no non-zero coefficient through order 12, but φ ≠ 0: not A either.
    high = _numerical(lambda z: z + z**20)
    assert high.class_ is None


def test_fractional_power_does_not_converge():
    result = _numerical(lambda z: z + abs(z) ** mpmath.mpf(2.5))
    assert result.class_ is None
    assert "does not converge" in result.confidence


def test_float64_inside_mpmath_arithmetic_is_detected():
    # math.tanh turns its argument into a float: the mpmath method would be garbage.
    result = _numerical(lambda z: z * math.tanh(z))
    assert result.method == "float64-fit"
    assert (result.class_.value, result.q) == ("C", 2)
    assert "alpha = σ'(0) = 0" in " ".join(result.warnings)


def test_refusals():
    with pytest.raises(ExpressionError, match="constant near 0"):
        classify_numerically(lambda z: np.zeros_like(z))

    def softmax(z):
        e = np.exp(np.asarray(z, dtype=float))
        return e / e.sum()

    with pytest.raises(ExpressionError, match="elementwise"):
        classify_numerically(softmax)
    with pytest.raises(ExpressionError, match="callable"):
        classify_numerically(3.0)
    with pytest.raises(ValueError, match="order"):
        classify_numerically(np.tanh, order=99)


def test_float_floor_is_stated():
    result = _numerical(np.tanh)
    assert f"zero below {FIT_FLOOR:g}" in result.precision


def test_sympy_symbol_free_of_sympify():
    # A SymPy function class is not a callable of numbers here; classify_numerically refuses
    # nothing but evaluates it through floats (sympy's tanh of a float is a Float).
    result = _numerical(lambda z: float(sp.tanh(z)))
    assert (result.class_.value, result.q) == ("B", 3)
