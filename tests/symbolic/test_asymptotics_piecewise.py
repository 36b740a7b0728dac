"""Issue 10: piecewise σ exactly, the finite regime's limit, symbolic widths, and α = 0.

Every check is against something computed here independently: the reduced loss P(y)
integrated by ``mpmath.quad`` on each half-line (σ written as a plain mpmath function),
closed forms, or escape times of the scalar reduction.
"""

import json

import mpmath
import pytest
import sympy as sp
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.extrapolation import extrapolate
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.outcomes import ConvergenceError, ExpressionError, Status

_SELU_L, _SELU_A = (
    mpmath.mpf("1.0507009873554804934193349852946"),
    mpmath.mpf("1.6732632423543772848170429916717"),
)

#: σ as plain mpmath functions, and the points where σ has a kink.
SIGMA = {
    "relu": (lambda x: max(x, 0), [0]),
    "leaky_relu": (lambda x: x if x > 0 else x / 100, [0]),
    "elu": (lambda x: x if x > 0 else mpmath.expm1(x), [0]),
    "selu": (lambda x: _SELU_L * (x if x > 0 else _SELU_A * mpmath.expm1(x)), [0]),
    "celu": (lambda x: max(x, 0) + min(0, mpmath.expm1(x)), [0]),
    "softsign": (lambda x: x / (1 + abs(x)), [0]),
    "hardswish": (lambda x: x * min(max(0, x + 3), 6) / 6, [-3, 0, 3]),
    "hardtanh": (lambda x: max(-1, min(1, x)), [-1, 0, 1]),
}


SEVEN = ["relu", "leaky_relu", "elu", "selu", "celu", "softsign", "hardswish"]


def _loss(name, scales, width, y):
    """P(y) = ½E[(F − g)²] by mpmath.quad, cut where the first pre-activation hits a kink."""
    sigma, corners = SIGMA[name]
    root = mpmath.sqrt(width)
    values = [y if v is None else mpmath.mpf(v) for v in scales]

    def F(g):
        z = values[0] * g / root
        for v in values[1:]:
            z = v * sigma(z)
        return root * z

    def integrand(g):
        return (F(g) - g) ** 2 / 2 * mpmath.exp(-g * g / 2)

    first = values[0] / root
    # kinks an O(1) first layer reaches (a bottleneck first layer reaches them only at
    # |g| ~ 1/y, where the Gaussian weight vanishes)
    reached = {c / first for c in corners} if scales[0] is not None else set()
    cuts = sorted({mpmath.mpf(0)} | reached)
    points = [-mpmath.inf, *cuts, mpmath.inf]
    return mpmath.quad(integrand, points) / mpmath.sqrt(2 * mpmath.pi)


def _kappa_by_quadrature(name, init, width, p, r):
    """κ = p k_P / r with k_P = −lim (P(y) − P(0))/y^p, from two small y (Richardson)."""
    scales = [None if s == "eps" else int(s) for s in init.split(",")]
    with mpmath.workdps(70):
        P0 = _loss(name, scales, width, mpmath.mpf(0))
        y1, y2 = mpmath.mpf("1e-9"), mpmath.mpf("2e-9")
        d1 = (_loss(name, scales, width, y1) - P0) / y1**p
        d2 = (_loss(name, scales, width, y2) - P0) / y2**p
        c_p = 2 * d1 - d2  # removes the O(y) term
        return float(-c_p * p / r)


@pytest.mark.parametrize(
    "name", ["relu", "leaky_relu", "elu", "selu", "celu", "softsign", "hardswish"]
)
def test_piecewise_power_regime_matches_direct_quadrature(name):
    a = asymptotics(build_model(name, 4, 16, "1,eps,eps,eps"))
    assert (a.regime, a.exponent, a.p) == ("power", 1, 3)
    kappa = _kappa_by_quadrature(name, "1,eps,eps,eps", 16, 3, 3)
    assert float(a.k) == pytest.approx(kappa, rel=1e-12)
    assert float(a.prefactor) == pytest.approx(1 / kappa, rel=1e-12)
    d = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert d["regime"] == "power" and d["prefactor_value"] == pytest.approx(1 / kappa)


@pytest.mark.parametrize(
    "name, init, p",
    [
        ("relu", "eps,eps,eps,eps", 4),
        ("elu", "eps,eps,eps,eps", 4),
        ("softsign", "eps,eps,eps,eps", 4),
        ("hardswish", "eps,eps,eps,1", 3),
        ("selu", "eps,eps,eps,1", 3),
        ("hardtanh", "1,eps,eps,eps", 3),
        # negative scales: the sign pattern flips and is followed layer by layer
        ("leaky_relu", "-1,eps,eps,eps", 3),
        ("elu", "1,eps,-2,eps", 2),
        ("softsign", "-1,eps,eps,eps", 3),
    ],
)
def test_bottleneck_patterns_and_signs_match_direct_quadrature(name, init, p):
    a = asymptotics(build_model(name, 4, 16, init), throw=False)
    assert a.p == p
    kappa = _kappa_by_quadrature(name, init, 16, p, init.count("eps"))
    assert float(a.k) == pytest.approx(kappa, rel=1e-12)


def test_relu_prefactors_are_exact():
    # On g > 0 the manifold output is F = √N Y_4 Y_3 Y_2 Y_1 g/√N, so P(y) = ½ − y³/2 + y⁶/4
    # at 1,eps,eps,eps and ½ − y⁴/2 + y⁸/4 with every layer at eps.
    a = asymptotics(build_model("relu", 4, 16, "1,eps,eps,eps"))
    assert a.exact and (a.k, a.prefactor) == (sp.Rational(1, 2), 2)
    assert isinstance(a.prefactor, sp.Rational)
    b = asymptotics(build_model("relu", 4, 16, "eps,eps,eps,eps"))
    assert b.exact and (b.regime, b.k, b.prefactor) == ("power", sp.Rational(1, 2), 1)
    leaky = asymptotics(build_model("leaky_relu", 4, 16, "1,eps,eps,eps"))
    # E[g²; g>0] + (1/100)³ E[g²; g<0] = (1 + 10⁻⁶)/2
    assert leaky.exact and leaky.k == sp.Rational(1000001, 2000000)


def test_relu_with_a_negative_first_scale_does_not_escape():
    # h = relu(−g/4) lives on g < 0, so F = −y³g there: the loss grows (k = −1/2).
    a = asymptotics(build_model("relu", 4, 16, "-1,eps,eps,eps"), throw=False)
    assert a.regime == "none" and a.k == -sp.Rational(1, 2) and a.status is Status.NO_ESCAPE


def _measured_prefactor(name, eps):
    model = build_model(name, 4, 16, "1,eps,eps,eps")
    # leaky ReLU (slope 1/100) levels off just above ½𝓛(0), a floor escape_time cannot
    # prove: measure at ¾𝓛(0) (the singular terms do not depend on the threshold)
    fraction = 0.75 if name == "leaky_relu" else None
    result = escape_time(model, eps=eps, system="scalar", fraction=fraction)
    fit = extrapolate(eps, [float(p.tau) for p in result.points], rtol=1e-9)
    return fit


def test_elu_prefactor_matches_escape_times():
    eps = [0.02 * 0.5**i for i in range(4)]
    fit = _measured_prefactor("elu", eps)
    a = asymptotics(build_model("elu", 4, 16, "1,eps,eps,eps"))
    assert fit.regime == "power" and round(fit.exponent) == a.exponent == 1
    assert fit.prefactor == pytest.approx(float(a.prefactor), rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["relu", "leaky_relu", "elu", "selu", "celu", "softsign", "hardswish"]
)
def test_piecewise_prefactors_match_escape_times(name):
    eps = [0.02 * 0.5**i for i in range(6)]
    fit = _measured_prefactor(name, eps)
    a = asymptotics(build_model(name, 4, 16, "1,eps,eps,eps"))
    assert fit.regime == "power" and round(fit.exponent) == a.exponent == 1
    assert fit.prefactor == pytest.approx(float(a.prefactor), rel=1e-6)


def test_user_expressions_with_max_min_abs_work_the_same_way():
    a = asymptotics(build_model("Max(x, 0)", 4, 16, "1,eps,eps,eps"))
    assert (a.k, a.prefactor) == (sp.Rational(1, 2), 2)
    b = asymptotics(build_model("Min(Max(x, -1), 1)", 4, 16, "1,eps,eps,eps"))
    assert float(b.k) == pytest.approx(_kappa_by_quadrature("hardtanh", "1,eps,eps,eps", 16, 3, 3))


# -- item 2: the finite regime ------------------------------------------------------------


def test_linear_finite_limit_is_the_closed_form():
    # F = y g, P(y) = (1 − y)²/2, ẏ = 1 − y: τ★(0⁺) = ln √2, and τ★(ε) − τ★(0⁺) = O(ε²).
    a = asymptotics(build_model("linear", 3, 8, "1,eps,1"))
    assert a.regime == "finite" and a.limit_fraction == 0.5
    assert abs(a.limit - sp.log(2) / 2) < 1e-28
    assert abs(a.limit_correction) < 1e-25
    d = a.to_dict()
    assert isinstance(d["limit"], str) and d["limit_value"] == pytest.approx(float(sp.log(2) / 2))
    assert d["limit_fraction"] == 0.5 and abs(d["limit_correction_value"]) < 1e-25


def test_tanh_finite_limit_matches_escape_times_at_decreasing_eps():
    model = build_model("tanh", 3, 8, "1,eps,1")
    a = asymptotics(model)
    assert a.regime == "finite" and a.prefactor is None and a.limit is not None
    eps = ["1e-2", "1e-3", "1e-4"]
    result = escape_time(model, eps=eps, system="scalar", dps=30)
    gaps = [mpmath.mpf(p.tau) - mpmath.mpf(str(a.limit)) for p in result.points]
    for e, gap in zip(eps, gaps, strict=True):
        e = mpmath.mpf(e)
        # τ★(ε) = τ★(0⁺) + c ε + O(ε²)
        assert abs(gap - float(a.limit_correction) * e) < 3 * e**2
    assert abs(gaps[0]) > 50 * abs(gaps[2])  # the gaps shrink like ε


def test_symbolic_width_with_moments_works_and_otherwise_asks_for_a_number():
    a = asymptotics(build_model("tanh", 3, "N", "eps,eps,eps"))
    assert a.regime == "power" and a.exact
    with pytest.raises(ExpressionError, match="width"):
        asymptotics(build_model("tanh", 3, "N", "1,eps,1"))
    linear = asymptotics(build_model("linear", 3, "N", "1,eps,1"))
    assert linear.regime == "finite" and linear.limit is None
    assert any("numeric width" in n for n in linear.notes)


# -- item 4: α = 0 ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x**2", "abs", "x*tanh(x)"])
def test_even_sigma_is_proven_not_to_drive(name):
    a = asymptotics(build_model(name, 4, 16, "1,eps,eps,eps"), throw=False)
    assert a.regime == "none" and a.status is Status.NO_ESCAPE
    assert any("σ is even" in n and "≥ 0" in n for n in a.notes)
    with pytest.raises(ConvergenceError):
        asymptotics(build_model(name, 4, 16, "1,eps,eps,eps"))


def test_x_squared_first_order_is_the_closed_form():
    # F = 4y·(y·(y h)²)² = 4y⁷h⁴ with h = (g/4)², so P(y) − P(0) = ½·16 y¹⁴ E[h⁸] > 0.
    a = asymptotics(build_model("x**2", 4, 16, "1,eps,eps,eps"), throw=False)
    expected = sp.Rational(1, 2) * 16 * sp.factorial2(15) / sp.Integer(4) ** 16
    assert a.p == 14 and a.coefficients[14] == expected


def test_alpha_zero_odd_sigma_finds_its_order():
    # σ = x − tanh x ≈ x³/3: F = √N y σ(y h) ≈ √N y⁴h³/3 with h = σ(g/√N), so p = 4 and
    # c_4 = −√N E[g h³]/3.
    a = asymptotics(build_model("x - tanh(x)", 3, 4, "1,eps,eps"))
    assert (a.p, a.regime, a.exponent) == (4, "power", 2)
    with mpmath.workdps(40):
        moment = mpmath.quad(
            lambda g: g * (g / 2 - mpmath.tanh(g / 2)) ** 3 * mpmath.exp(-g * g / 2),
            [-mpmath.inf, 0, mpmath.inf],
        ) / mpmath.sqrt(2 * mpmath.pi)
    c4 = -2 * moment / 3
    assert float(a.k) == pytest.approx(float(-c4 * 4 / 2), rel=1e-12)
    assert any("raised" in n for n in a.notes)
