"""The reduced dynamics in numbers: the layer-by-layer chain rule against SymPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from saddle_escape.numeric.escape import build_model
from saddle_escape.numeric.gaussian import half_range_rule
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic.reduction import G


@pytest.mark.parametrize(
    "activation, init",
    [("tanh", "1,eps,eps,eps"), ("elu", "eps,1,eps,eps"), ("gelu", "eps,eps,1,0.5")],
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
    g, w = half_range_rule(24)
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
