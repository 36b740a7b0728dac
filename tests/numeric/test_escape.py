import math

import mpmath
import numpy as np
import pytest
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.engine import Budget
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.extrapolation import extrapolate
from saddle_escape.numeric.functions import compile_activation
from saddle_escape.numeric.measured import measure_asymptotics
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.outcomes import ConvergenceError, ExpressionError, Status

from tests.problems import linear_escape_time

LINEAR = ("linear", 4, 16, "eps,eps,eps,eps")
GEOMETRIC = [f"{v:.6g}" for v in np.geomspace(0.05, 2e-4, 8)]


def test_exact_linear_case_on_the_manifold_in_float64():
    point = escape_time(*LINEAR, [0.03]).points[0]
    with mpmath.workdps(40):
        exact = linear_escape_time("0.03", mpmath)
    assert abs(point.tau - float(exact)) / float(exact) < 1e-12
    assert point.digits >= 11


def test_exact_linear_case_to_25_digits_at_dps_30():
    point = escape_time(*LINEAR, ["0.03"], system="scalar", dps=30).points[0]
    with mpmath.workdps(40):
        exact = linear_escape_time("0.03", mpmath)
        assert abs(point.tau - exact) / exact < mpmath.mpf(10) ** -25
    assert point.digits >= 27


@pytest.mark.slow
def test_exact_linear_case_on_the_manifold_at_dps_30():
    point = escape_time(*LINEAR, ["0.03"], dps=30).points[0]
    with mpmath.workdps(40):
        exact = linear_escape_time("0.03", mpmath)
        assert abs(point.tau - exact) / exact < mpmath.mpf(10) ** -25


def test_numpy_and_mpmath_right_hand_sides_agree():
    dyn = ReducedDynamics(build_model("gelu", 4, 16, "1,eps,eps,eps"))
    Y = [1.0, 0.3, 0.2, 0.1]
    _, grad, _ = dyn.evaluate(Y)
    with mpmath.workdps(30):
        loss_mp, grad_mp = dyn.evaluate_mp(Y, nodes=48)
    np.testing.assert_allclose(grad, [float(v) for v in grad_mp], rtol=1e-12)
    assert float(loss_mp) == pytest.approx(dyn.loss(Y), rel=1e-13)


def test_analytic_hessian_matches_finite_differences():
    dyn = ReducedDynamics(build_model("tanh", 3, 4, "1,eps,eps"))
    Y = np.array([0.9, 0.4, 0.3])
    hess = dyn.evaluate(Y)[2]
    h = 1e-6
    numeric = np.array(
        [(dyn.gradient(Y + h * e) - dyn.gradient(Y - h * e)) / (2 * h) for e in np.eye(3)]
    )
    np.testing.assert_allclose(hess, numeric, atol=1e-8)


@pytest.mark.parametrize(
    "activation, init",
    [
        ("tanh", "1,eps,eps,eps"),  # B, bottleneck at the end
        ("gelu", "1,eps,eps,eps"),  # C, with a resonant log
        ("silu", "eps,eps,eps,1"),  # C, bottleneck at the start
        ("tanh", "1,eps,eps,eps,1"),  # B, bottleneck in the middle
        ("erf", "eps,eps,eps,1,1"),  # B, start
    ],
)
def test_leading_prefactor_confirmed_by_the_numbers(activation, init):
    depth = len(init.split(","))
    measured = measure_asymptotics(activation, depth, 16, init, eps=GEOMETRIC, system="scalar")
    theory, fit = measured.theory, measured.fit
    assert measured.status is Status.SUCCESS
    assert fit.regime == "power" and round(fit.exponent) == theory.exponent
    assert fit.prefactor == pytest.approx(float(theory.prefactor), rel=1e-7)


def test_leading_prefactor_on_the_manifold_system():
    measured = measure_asymptotics("tanh", 4, 16, "1,eps,eps,eps", eps=GEOMETRIC, system="manifold")
    fit = measured.fit
    assert abs(fit.exponent - 1) < 1e-6
    assert fit.prefactor == pytest.approx(float(measured.theory.prefactor), rel=1e-8)


def test_class_D_finite_limit_confirmed():
    # σ(0) ≠ 0 gives P(y) a linear term (p = 1): τ★ tends to a finite limit. On this
    # manifold the loss cannot halve (the flow stops near y ≈ 1), so escape at 0.9·𝓛(0).
    model = build_model("softplus", 3, 1, "eps,1,1")
    assert asymptotics(model).regime == "finite"
    taus = [p.tau for p in escape_time(model, eps=GEOMETRIC, system="scalar", fraction=0.9).points]
    steps = np.abs(np.diff(taus))
    assert np.all(steps[1:] < 0.7 * steps[:-1])  # Cauchy: the gaps shrink like ε
    fit = extrapolate([float(e) for e in GEOMETRIC], taus)
    assert fit.regime == "finite" and abs(fit.exponent) < 0.05


def test_resonant_log_term_confirmed_numerically():
    model = build_model("tanh", 4, 16, "eps,eps,eps,eps")
    theory = asymptotics(model)
    eps = [0.02, 0.01, 0.005, 0.0025]
    taus = [p.tau for p in escape_time(model, eps=eps, system="scalar").points]
    remainders = [t - theory.leading(e) for e, t in zip(eps, taus, strict=True)]
    # With the (3/32) ln(1/ε) term the remainder converges (O(ε²)); without it, it drifts
    # by (3/32) ln 2 ≈ 0.065 per halving.
    assert abs(remainders[-1] - remainders[-2]) < 1e-4
    power_only = [r + 3 / 32 * math.log(1 / e) for e, r in zip(eps, remainders, strict=True)]
    assert power_only[-1] - power_only[-2] == pytest.approx(3 / 32 * math.log(2), rel=1e-3)


def test_no_escape_is_a_status_with_the_loss_floor():
    args = ("sigmoid", 4, 16, "1,eps,eps,eps")
    with pytest.raises(ConvergenceError, match="stationary point") as caught:
        escape_time(*args, [0.05], system="scalar")
    assert caught.value.status is Status.NO_ESCAPE and caught.value.status.exit_code == 3
    result = escape_time(*args, [0.05], system="scalar", throw=False)
    point = result.points[0]
    assert result.status is Status.NO_ESCAPE and point.tau is None
    # The balanced flow falls back to y = 0, where F = 0 and 𝓛 = s²/2 = 1/2 exactly.
    assert point.loss_floor == pytest.approx(0.5, rel=1e-9)
    assert 0 < point.evaluations < 20_000


def test_a_threshold_below_a_proven_floor_is_refused_at_once():
    # ReLU ≥ 0: on the manifold 𝓛 ≥ s²/4 for every Y; ½·𝓛(0) lies below it.
    result = escape_time("relu", 4, 16, "1,eps,eps,eps", [0.1], fraction=0.5, throw=False)
    point = result.points[0]
    assert point.status is Status.NO_ESCAPE and point.evaluations == 1
    assert point.loss_floor == 0.25
    assert "cannot fall" in point.message


def test_relu_escapes_at_a_reachable_default_threshold():
    result = escape_time("relu", 4, 16, "1,eps,eps,eps", [0.1, 0.01])
    assert result.status is Status.ESCAPED and 0.5 < result.fraction < 1
    assert any("cannot fall" in note for note in result.notes)
    assert all(p.digits >= 10 for p in result.points)
    # r = 3: τ★ ∝ 1/ε, so a tenfold smaller ε takes about ten times longer.
    ratio = float(result.points[1].tau) / float(result.points[0].tau)
    assert 9 < ratio < 13


def test_budget_exhausted_is_a_status_with_exit_code_4():
    result = escape_time(*LINEAR, [0.01], budget=Budget(max_evaluations=200), throw=False)
    point = result.points[0]
    assert point.status is Status.BUDGET_EXHAUSTED and point.status.exit_code == 4
    assert 200 <= point.evaluations <= 201


def test_quadrature_error_is_visible_in_the_digits():
    # One Gauss node is far too few for tanh: the check run uses 17 and must disagree.
    coarse = escape_time("tanh", 4, 16, "1,eps,eps,eps", [0.1], nodes=1, throw=False).points[0]
    truth = escape_time("tanh", 4, 16, "1,eps,eps,eps", [0.1]).points[0]
    if coarse.status.ok:
        error = abs(coarse.tau - truth.tau) / truth.tau
        assert error < 10.0 ** (1 - coarse.digits)
    else:
        assert coarse.status is Status.NOT_CONVERGED


def test_result_contract_and_digits():
    result = escape_time(*LINEAR, ["0.1", "0.03"], system="scalar", dps=20)
    d = result.to_dict()
    assert [p["eps"] for p in d["points"]] == ["0.1", "0.03"]
    assert d["points"][1]["tau"] == "554.93415009967473056"  # 20 significant digits
    assert all(p["digits"] >= 17 for p in d["points"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"system": "full"}, "system"),
        ({"eps": [1.5]}, "eps"),
        ({"dps": 3}, "dps"),
        ({"fraction": 1.0}, "fraction"),
        ({"fraction": "0.5"}, "fraction"),
        ({"throw": "no"}, "throw"),
        ({"rtol": 0}, "rtol"),
        ({"nodes": 0}, "nodes"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"eps": [0.1], **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        escape_time(*LINEAR, **args)


@pytest.mark.parametrize(
    "activation", ["elu", "selu", "celu", "hardswish", "hardtanh", "leaky_relu", "softsign"]
)
def test_piecewise_registry_activations_end_with_a_status(activation):
    # They used to crash (numpy select with scalar branches, inhomogeneous shapes) or run
    # for many minutes; now each ends, and an escaped point's digits are honest.
    result = escape_time(activation, 4, 8, "1,eps,eps,eps", [0.1], throw=False)
    point = result.points[0]
    assert isinstance(point.status, Status) and point.evaluations > 0
    if point.status.ok and activation in ("elu", "selu", "leaky_relu"):
        check = escape_time(activation, 4, 8, "1,eps,eps,eps", [0.1], nodes=96, rtol=1e-13)
        error = abs(float(point.tau) - float(check.points[0].tau)) / float(check.points[0].tau)
        assert error < 10.0 ** (1 - point.digits)


def test_heaviside_and_sign_are_usable_in_numeric_commands():
    # Heaviside(x)·x is ReLU; its derivatives contain DiracDelta, which used to fail with
    # "name 'DiracDelta' is not defined".
    relu = escape_time("relu", 4, 8, "1,eps,eps,eps", [0.1], fraction=0.75)
    heaviside = escape_time("Heaviside(x)*x", 4, 8, "1,eps,eps,eps", [0.1], fraction=0.75)
    assert float(heaviside.points[0].tau) == pytest.approx(float(relu.points[0].tau), rel=1e-10)
    act = compile_activation("sign(x)*x**2 + x")
    assert act.dsigma(np.array([-2.0, 2.0])).tolist() == [5.0, 5.0]


@pytest.mark.parametrize(
    "activation",
    ["x + sqrt(-1)", "csc(x)", "1", "0", "pi", "sqrt(x)", "x**(1/1000)", "x + exp(-1/x**2)"],
)
def test_escape_refuses_what_classify_refuses(activation):
    with pytest.raises(ExpressionError):
        escape_time(activation, 3, 4, "1,eps,eps", [0.1])


def test_the_mpmath_manifold_route_has_an_evaluation_budget(monkeypatch):
    import saddle_escape.numeric.escape as escape_module

    monkeypatch.setattr(escape_module, "MP_MANIFOLD_EVALUATIONS", 5)
    result = escape_time(*LINEAR, ["0.1"], dps=12, throw=False)
    assert result.status is Status.BUDGET_EXHAUSTED and result.status.exit_code == 4
    assert "--system scalar" in result.points[0].message
