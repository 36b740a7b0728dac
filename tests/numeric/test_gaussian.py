"""The half-range Gauss rule against closed-form Gaussian moments and mpmath.quad."""

import math

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.gaussian import (
    MAX_CUTS,
    MAX_HALF_LINE_NODES,
    MAX_NODES_FLOAT64,
    expectation,
    half_line_rule,
    half_line_rule_mp,
    half_range_rule,
    half_range_rule_mp,
    split_half_line_rule,
)


def double_factorial(k: int) -> int:
    """(2m − 1)!! for k = 2m − 1 (1 for k ≤ 0)."""
    return math.prod(range(k, 0, -2)) if k > 0 else 1


def quad_expectation(h):
    """E h(g) by mpmath.quad, split at 0 (the kink of a piecewise h)."""
    density = lambda g: mpmath.exp(-g * g / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    return mpmath.quad(lambda g: h(g) * density(g), [-mpmath.inf, 0, mpmath.inf])


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_float64_rule_integrates_every_moment_up_to_degree_4n_minus_1(n):
    g, w = half_range_rule(n)
    for k in range(0, 4 * n):
        moment = float((w * (g**k + (-g) ** k)).sum())
        exact = 0 if k % 2 else double_factorial(k - 1)  # E g^{2m} = (2m − 1)!!
        # Odd k: the two halves cancel; float64 pow of ±g need not round identically
        # (numpy 2.4 does not), so zero is judged on the scale of the halves.
        scale = float((w * np.abs(g) ** k).sum())
        assert moment == pytest.approx(exact, rel=1e-12, abs=1e-14 * max(scale, 1.0)), k
    # Degree 4n is beyond the rule: it must not be exact (the bound is sharp).
    moment = float(2 * (w * g ** (4 * n)).sum())
    assert abs(moment / double_factorial(4 * n - 1) - 1) > 1e-9


def test_mpmath_rule_is_exact_to_its_precision():
    with mpmath.workdps(50):
        g, w = half_range_rule_mp(10)
        for m in range(0, 20):
            moment = 2 * sum(wi * gi ** (2 * m) for gi, wi in zip(g, w, strict=True))
            assert abs(moment - double_factorial(2 * m - 1)) < mpmath.mpf(10) ** -40 * max(
                1, double_factorial(2 * m - 1)
            )


def test_mpmath_and_float64_rules_have_the_same_nodes():
    g, w = half_range_rule(16)
    with mpmath.workdps(30):
        gm, wm = half_range_rule_mp(16)
    np.testing.assert_allclose(g, [float(v) for v in gm], rtol=1e-13)
    np.testing.assert_allclose(w, [float(v) for v in wm], rtol=1e-12)


@pytest.mark.parametrize(
    "h_np, h_mp",
    [
        (np.tanh, mpmath.tanh),  # odd: 0
        (lambda g: np.tanh(0.7 * g) ** 2, lambda g: mpmath.tanh(0.7 * g) ** 2),
        (lambda g: np.log1p(np.exp(g)), lambda g: mpmath.log(1 + mpmath.exp(g))),  # softplus
        (lambda g: g**3 / (1 + np.exp(-g)), lambda g: g**3 / (1 + mpmath.exp(-g))),
        (lambda g: np.exp(np.sin(g)), lambda g: mpmath.exp(mpmath.sin(g))),
    ],
)
def test_smooth_expectations_agree_with_mpmath_quad(h_np, h_mp):
    with mpmath.workdps(30):
        exact = float(quad_expectation(h_mp))
    assert expectation(h_np, 48) == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_an_even_kink_at_zero_is_exact():
    # ReLU(g)²·cos g: kinked at 0, but h(g) + h(−g) = g² cos g is smooth and even, so the
    # rule (smooth in u = g²/2) converges as fast as for a smooth function.
    with mpmath.workdps(30):
        exact = float(quad_expectation(lambda g: max(g, 0) ** 2 * mpmath.cos(g)))
    h = lambda g: np.maximum(g, 0) ** 2 * np.cos(g)  # noqa: E731
    assert expectation(h, 16) == pytest.approx(exact, rel=1e-13)


def test_one_sided_odd_powers_converge_only_algebraically():
    # A limitation, pinned: ReLU(g)·g² gives h(g) + h(−g) = g³ on g > 0, i.e. (2u)^{3/2},
    # not a polynomial in u: the error falls like n^-2, not geometrically. Exact value
    # E[g³ 1{g > 0}] = 2/√(2π).
    exact = 2 / math.sqrt(2 * math.pi)
    h = lambda g: np.maximum(g, 0) * g**2  # noqa: E731
    errors = [abs(expectation(h, n) - exact) / exact for n in (16, 48, 200)]
    assert errors[1] < 1e-4 and errors[2] < 3e-6
    assert errors[0] / errors[2] > 100 and errors[2] > 1e-7  # algebraic, not geometric
    with mpmath.workdps(30):
        assert float(quad_expectation(lambda g: max(g, 0) * g**2)) == pytest.approx(exact)


@pytest.mark.parametrize("n", [0, -3, 2.0, True, "8", MAX_NODES_FLOAT64 + 1])
def test_bad_node_counts_are_refused(n):
    with pytest.raises(ValueError, match="number of nodes"):
        half_range_rule(n)


def test_the_float64_rule_never_returns_nan_weights():
    # SciPy's weights underflow to NaN from 364 nodes on: the limit is below that.
    g, w = half_range_rule(MAX_NODES_FLOAT64)
    assert np.isfinite(w).all() and 2 * w.sum() == pytest.approx(1, rel=1e-13)


def test_true_is_not_one_node():
    half_range_rule(1)  # fills the cache entry of 1
    with pytest.raises(ValueError, match="number of nodes"):
        half_range_rule(True)


# -- the half-line rule in g ---------------------------------------------------------------


def half_line_moment(k: int) -> float:
    """E[g^k 1{g>0}] in closed form: (k − 1)!!/2 for even k, 2^m m!/√(2π) for k = 2m + 1."""
    if k % 2 == 0:
        return double_factorial(k - 1) / 2
    m = (k - 1) // 2
    return 2**m * math.factorial(m) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("n", [1, 2, 5, 12, 40])
def test_half_line_rule_integrates_one_sided_polynomials_to_degree_2n_minus_1(n):  # noqa: D103
    g, w = half_line_rule(n)
    assert (g > 0).all() and (np.diff(g) > 0).all() and (w > 0).all()
    for k in range(0, 2 * n):
        assert float((w * g**k).sum()) == pytest.approx(half_line_moment(k), rel=2e-13), k
    # Degree 2n is beyond a Gauss rule with n nodes: the bound is sharp.
    if n <= 12:
        assert abs(float((w * g ** (2 * n)).sum()) / half_line_moment(2 * n) - 1) > 1e-9


def test_half_line_rule_mp_matches_the_closed_form_moments_at_high_precision():
    with mpmath.workdps(60):
        g, w = half_line_rule_mp(15)
        for k in range(30):
            exact = mpmath.mpf(2) ** (mpmath.mpf(k) / 2) * mpmath.gamma(mpmath.mpf(k + 1) / 2)
            exact /= 2 * mpmath.sqrt(mpmath.pi)
            moment = mpmath.fsum(wi * gi**k for gi, wi in zip(g, w, strict=True))
            assert abs(moment / exact - 1) < mpmath.mpf(10) ** -50, k
    gf, wf = half_line_rule(15)
    np.testing.assert_allclose(gf, [float(v) for v in g], rtol=1e-14)
    np.testing.assert_allclose(wf, [float(v) for v in w], rtol=1e-13)


def test_one_sided_integrands_converge_geometrically_on_the_half_line_rule():
    # The integrand the half-range rule in u converges on only like n^-2 (see above).
    exact = 2 / math.sqrt(2 * math.pi)
    h = lambda g: np.maximum(g, 0) * g**2  # noqa: E731
    g, w = half_line_rule(2)  # degree 3 ≤ 2n − 1: exact already
    assert float((w * (h(g) + h(-g))).sum()) == pytest.approx(exact, rel=1e-14)
    # A non-polynomial one-sided integrand: ReLU(g)³·cos(g) + ELU(g) against mpmath.quad.
    with mpmath.workdps(30):
        ref = float(
            quad_expectation(
                lambda x: max(x, 0) ** 3 * mpmath.cos(x) + (x if x > 0 else mpmath.exp(x) - 1)
            )
        )
    f = lambda x: np.maximum(x, 0) ** 3 * np.cos(x) + np.where(x > 0, x, np.expm1(x))  # noqa: E731

    def error(n):
        g, w = half_line_rule(n)
        return abs(float((w * (f(g) + f(-g))).sum()) - ref)

    # Measured: 8e-4, 2e-10, 2e-14 at 4, 8, 10 nodes, roundoff from 20 on.
    assert error(4) > 1e-4 and error(8) < 1e-9 and error(10) < 1e-13 and error(20) < 1e-15
    half_range = abs(expectation(f, 40) - ref)
    assert half_range > 1e-6  # the half-range rule in u on as many nodes: 4e-5, algebraic


def test_split_rule_integrates_a_kinked_integrand_to_full_precision():
    # h = hardtanh(2g − 1)²: kinks at g = 0 and g = 1 on the positive half line.
    h_mp = lambda x: max(-1, min(1, 2 * x - 1)) ** 2  # noqa: E731
    with mpmath.workdps(30):
        phi = lambda x: mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
        ref = mpmath.quad(lambda x: phi(x) * h_mp(x), [0, 0.5, 1, mpmath.inf])
    h = lambda x: np.clip(2 * x - 1, -1, 1) ** 2  # noqa: E731
    g, w = split_half_line_rule([1.0], 20)
    assert float((w * h(g)).sum()) == pytest.approx(float(ref), rel=1e-14)
    g, w = half_line_rule(20)  # unsplit: the kink at 1 costs many digits
    assert abs(float((w * h(g)).sum()) / float(ref) - 1) > 1e-8
    with mpmath.workdps(30):
        gm, wm = split_half_line_rule([mpmath.mpf(1)], 30, mp=True)
        value = mpmath.fsum(wi * h_mp(gi) for gi, wi in zip(gm, wm, strict=True))
        assert abs(value / ref - 1) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("cuts", [[0.0], [-1.0], [2.0, 1.0], [1.0, 1.0]])
def test_split_rule_refuses_bad_cuts(cuts):
    with pytest.raises(ValueError, match="cut points"):
        split_half_line_rule(cuts, 8)


@pytest.mark.parametrize("n", [0, 2.0, True, MAX_HALF_LINE_NODES + 1])
def test_half_line_rules_refuse_bad_node_counts(n):
    with pytest.raises(ValueError, match="number of nodes"):
        half_line_rule(n)
    with pytest.raises(ValueError, match="number of nodes"):
        half_line_rule_mp(n)
    with pytest.raises(ValueError, match="number of nodes"):
        split_half_line_rule([1.0], n)


def test_too_many_cuts_are_refused():
    with pytest.raises(ValueError, match="at most"):
        split_half_line_rule(list(np.arange(1, MAX_CUTS + 2) / 10), 4)
