"""The reduced dynamics in numbers: the layer-by-layer chain rule against SymPy."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.gaussian import half_line_rule, half_range_rule
from saddle_escape.numeric.reduced import ReducedDynamics, kinks
from saddle_escape.symbolic.parsing import X, parse_activation
from saddle_escape.symbolic.reduction import G
from saddle_escape.symbolic.taylor import has_piecewise


@pytest.mark.parametrize(
    "activation, init",
    [
        ("tanh", "1,eps,eps,eps"),
        # ~60 s: SymPy differentiates the nested Piecewise for the reference
        pytest.param("elu", "eps,1,eps,eps", marks=pytest.mark.slow),
        ("gelu", "eps,eps,1,0.5"),
    ],
)
def test_loss_gradient_and_hessian_agree_with_symbolic_differentiation(activation, init):
    model = build_model(activation, 4, 9, init)
    dyn = ReducedDynamics(model, nodes=24)
    Y = [0.7, 0.3, 1.1, 0.9]
    loss, grad, hess = dyn.evaluate(Y)
    # Second method: differentiate the nested F(Y; g) symbolically, integrate on the
    # same nodes (a piecewise σ gets Piecewise derivatives, evaluated by SymPy itself).
    F = model.output()
    integrand = (F - model.teacher * G) ** 2 / 2
    # Piecewise σ: the half-line rule in g on each side (no kink crossing away from 0 here).
    g, w = (half_line_rule if has_piecewise(model.sigma) else half_range_rule)(24)
    nodes = np.concatenate([g, -g])
    weights = np.concatenate([w, w])
    values = dict(zip(model.Y, Y, strict=True))
    first = [sp.diff(integrand, y) for y in model.Y]

    def integrate(expr):
        f = sp.lambdify(G, expr.xreplace(values).rewrite(sp.Piecewise), "mpmath")
        return float(sum(wi * float(f(gi)) for gi, wi in zip(nodes, weights, strict=True)))

    assert loss == pytest.approx(integrate(integrand), rel=1e-12)
    np.testing.assert_allclose(grad, [integrate(d) for d in first], rtol=1e-10, atol=1e-14)
    second = [[integrate(sp.diff(d, y)) for y in model.Y] for d in first[:2]]
    np.testing.assert_allclose(hess[:2], second, rtol=1e-9, atol=1e-13)


def test_deep_piecewise_models_evaluate_layer_by_layer():
    # A nested Max/Min expression compiled whole grows exponentially with depth (this one
    # did not finish); layer by layer, every layer is one σ, σ', σ'' evaluation. The
    # linear part (x > 0, all scales positive) is exact: F = √N·ΠY·g/√N for g > 0.
    dyn = ReducedDynamics(build_model("relu", 12, 16, "1," + ",".join(["eps"] * 11)))
    loss, grad, hess = dyn.evaluate([0.9] * 12)
    a = 0.9**12  # F = a·g⁺: 𝓛 = ½(E[(a−1)²g²; g>0] + E[g²; g<0]) = ((a−1)² + 1)/4
    assert loss == pytest.approx(((a - 1) ** 2 + 1) / 4, rel=1e-12)
    assert grad.shape == (12,) and hess.shape == (12, 12)


# -- piecewise σ: half lines and kink crossings -----------------------------------------------


def test_kinks_of_registered_and_parsed_activations():
    expected = {
        "relu": [0],
        "elu": [0],
        "celu": [0],
        "abs": [0],
        "hardtanh": [-1, 1],
        "hardswish": [-3, 3],
    }
    for name, points in expected.items():
        sigma = build_model(name, 2, 4, "1,eps").sigma
        assert [float(c) for c in kinks(sigma)] == points, name
    assert kinks(parse_activation("Min(Max(0, x), 6)").expr) == (0, 6)  # relu6
    assert kinks(sp.tanh(X)) == ()


def _phi(g):
    return mpmath.exp(-g * g / 2) / mpmath.sqrt(2 * mpmath.pi)


def hardtanh_reference(Y, N, s=1):
    """𝓛 for hardtanh, L = 3, Y_2 > 1, by mpmath.quad split at the kinks, found by hand.

    z_1 = Y_1 g/√N reaches ±1 at g = ±√N/Y_1; z_2 = Y_2 hardtanh(z_1) reaches ±1 where
    z_1 = ±1/Y_2, at g = ±√N/(Y_1 Y_2).
    """
    Y = [mpmath.mpf(v) for v in Y]
    root = mpmath.sqrt(N)
    ht = lambda z: max(-1, min(1, z))  # noqa: E731

    def integrand(g):
        F = root * Y[2] * ht(Y[1] * ht(Y[0] * g / root))
        return _phi(g) * (F - s * g) ** 2 / 2

    a, b = root / (Y[0] * Y[1]), root / Y[0]
    return mpmath.quad(integrand, [-mpmath.inf, -b, -a, 0, a, b, mpmath.inf])


def test_hardtanh_loss_with_moving_kinks_matches_an_independent_reference():
    model = build_model("hardtanh", 3, 4, "1,eps,eps")
    Y = [1.3, 2.5, 0.8]  # kinks crossed at |g| = 2/3.25 and 2/1.3, inside the bulk
    with mpmath.workdps(30):
        exact = hardtanh_reference(Y, 4)
        loss_mp, _ = ReducedDynamics(model).evaluate_mp(Y, nodes=40)
        assert abs(loss_mp / exact - 1) < mpmath.mpf(10) ** -25
    for nodes in (24, 48):
        loss = ReducedDynamics(model, nodes=nodes).loss(Y)
        assert loss == pytest.approx(float(exact), rel=1e-14)


def test_elu_loss_converges_geometrically_against_mpmath_quad():
    # The half-range rule in u got ~5 digits here (h(g) + h(−g) not smooth in u).
    model = build_model("elu", 3, 4, "1,eps,eps")
    Y = [1.2, 0.7, 1.5]
    root = mpmath.sqrt(4)

    def elu(z):
        return z if z > 0 else mpmath.expm1(z)

    with mpmath.workdps(30):
        exact = mpmath.quad(
            lambda g: _phi(g) * (root * Y[2] * elu(Y[1] * elu(Y[0] * g / root)) - g) ** 2 / 2,
            [-mpmath.inf, 0, mpmath.inf],
        )
    assert ReducedDynamics(model, nodes=16).loss(Y) == pytest.approx(float(exact), rel=1e-14)


def test_relu_loss_is_a_polynomial_in_the_scales_times_half_line_moments():
    # Leaky ReLU (slope c = 0.01), all scales positive: F = a·g for g > 0 and a·c^{L−1}·g
    # for g < 0 with a = ΠY, so 𝓛 = ½(a − 1)²·E[g²; g>0] + ½(a c^{L−1} − 1)²·E[g²; g<0]
    # and E[g²; g > 0] = ½.
    model = build_model("leaky_relu", 3, 9, "1,eps,eps")
    Y = np.array([0.9, 1.7, 0.4])
    dyn = ReducedDynamics(model, nodes=8)
    loss, grad, hess = dyn.evaluate(Y)
    a, c = Y.prod(), 0.01**2
    assert loss == pytest.approx(((a - 1) ** 2 + (a * c - 1) ** 2) / 4, rel=1e-13)
    da = a / Y  # ∂a/∂Y_k
    np.testing.assert_allclose(grad, ((a - 1) + (a * c - 1) * c) / 2 * da, rtol=1e-12)
    d2a = np.outer(da, da) / a - np.diag(a / Y**2)  # ∂²a/∂Y_j∂Y_k (0 on the diagonal)
    expected = (1 + c * c) / 2 * np.outer(da, da) + ((a - 1) + (a * c - 1) * c) / 2 * d2a
    np.testing.assert_allclose(hess, expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(
    "activation, Y",
    [("hardtanh", [1.3, 2.5, 0.8]), ("hardswish", [4.0, 1.5, 1.2]), ("elu", [1.2, 0.7, 1.5])],
)
def test_gradient_and_hessian_are_the_derivatives_of_the_loss_across_moving_cuts(activation, Y):
    # With cuts that move with Y, the gradient (continuous σ) needs no endpoint terms, the
    # Hessian does (σ' jumps): both checked against central differences.
    dyn = ReducedDynamics(build_model(activation, 3, 4, "1,eps,eps"), nodes=32)
    loss, grad, hess = dyn.evaluate(Y)
    h = 1e-5
    steps = h * np.eye(3)
    fd_grad = [(dyn.loss(Y + e) - dyn.loss(Y - e)) / (2 * h) for e in steps]
    fd_hess = [(dyn.gradient(Y + e) - dyn.gradient(Y - e)) / (2 * h) for e in steps]
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-6, atol=1e-7)
    # Without the endpoint terms the Hessian would be off by far more than that.
    if activation != "elu":
        assert np.abs(hess - np.array(fd_hess)).max() < 1e-3 * np.abs(hess).max()
