"""Gradient flow of full networks against closed forms and against the identity."""

import json
import math

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.flow import FlowTrajectory, flatten, integrate_flow, unflatten
from saddle_escape.numeric.network import Dataset, Network, random_network
from saddle_escape.symbolic.outcomes import BudgetExhaustedError, ConvergenceError, Status

from tests.problems import linear_escape_time

#: d = 1, one sample x = 1, y = s·x: for a linear chain the loss ½(Π w − s)² is the
#: population loss ½ E[(Π w − s)² x²] of DESIGN §1 exactly (E x² = 1).
UNIT_SAMPLE = Dataset(np.ones((1, 1)), np.ones((1, 1)))


def chain(values) -> Network:
    """A 1-D linear chain: every weight matrix is 1×1."""
    return Network(tuple(np.array([[float(v)]]) for v in values))


def linear_design_time(y, eps):
    r"""DESIGN §3 linear case: ẏ = y³(1 − y⁴), so t(y) = A(y) − A(ε) with
    :math:`A(y) = -1/(2y^2) + \tfrac14\ln\frac{1+y^2}{1-y^2}`."""

    def antiderivative(v):
        return -1 / (2 * v**2) + mpmath.log((1 + v**2) / (1 - v**2)) / 4

    return antiderivative(y) - antiderivative(eps)


def test_deep_linear_chain_follows_the_design_closed_form():
    # Four layers at ε, s = 1: P(y) = ½(1 − y⁴)², ẏ = y³(1 − y⁴) (DESIGN §3).
    eps = 0.3
    run = integrate_flow(chain([eps] * 4), UNIT_SAMPLE, "identity", t_final=5.0, n_points=11)
    with mpmath.workdps(30):
        for t, loss in zip(run.times[1:], run.loss[1:], strict=True):
            y = mpmath.findroot(
                lambda v, t=t: linear_design_time(v, eps) - t, (eps, 0.999), solver="anderson"
            )
            assert loss == pytest.approx(float((1 - y**4) ** 2 / 2), rel=1e-9)
        y_final = mpmath.findroot(
            lambda v: linear_design_time(v, eps) - 5.0, (eps, 0.999), solver="anderson"
        )
    # By symmetry the four weights stay equal, each = y(t).
    np.testing.assert_allclose(flatten(run.final), float(y_final), rtol=1e-9)
    assert np.abs(run.imbalance).max() < 1e-12  # balanced and class A: Δ ≡ 0


def test_deep_linear_chain_escapes_at_the_design_escape_time():
    # The loss halves at τ★(ε) of DESIGN §3 (the closed form in tests/problems.py).
    eps = 0.3
    with mpmath.workdps(30):
        tau = float(linear_escape_time(str(eps), mpmath))
    run = integrate_flow(
        chain([eps] * 4), UNIT_SAMPLE, "identity", t_final=tau, n_points=2, rtol=1e-12
    )
    assert run.loss[-1] == pytest.approx(run.loss[0] / 2, rel=1e-8)


def test_two_layer_chain_follows_saxe_logistic_solution():
    # Saxe, McClelland & Ganguli (2014): for ℓ = ½(w₂w₁ − s)² from balanced w₁ = w₂ = u₀
    # the product p = w₂w₁ obeys ṗ = 2p(s − p), so
    # p(t) = s p₀ e^{2st} / (s − p₀ + p₀ e^{2st}).
    s, u0 = 3.0, 0.05
    p0 = u0**2
    data = Dataset(np.ones((1, 1)), np.full((1, 1), s))
    run = integrate_flow(chain([u0, u0]), data, "identity", t_final=3.0, n_points=31)
    growth = np.exp(2 * s * run.times)
    product = s * p0 * growth / (s - p0 + p0 * growth)
    np.testing.assert_allclose(run.loss, 0.5 * (product - s) ** 2, rtol=1e-8, atol=1e-10)
    w1, w2 = (float(w[0, 0]) for w in run.final.weights)
    assert w1 * w2 == pytest.approx(product[-1], rel=1e-9)


def test_class_A_keeps_every_imbalance_constant_along_the_flow():
    # The linear network: the only smooth class-A activation (piecewise-linear ones make
    # the flow non-smooth; their identity is checked pointwise in test_identity.py).
    rng = np.random.default_rng(4)
    data = Dataset(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)))
    run = integrate_flow(random_network((3, 4, 3, 1), seed=4), data, "identity", t_final=3.0)
    assert run.loss[-1] < run.loss[0]  # it trained
    assert np.abs(run.imbalance - run.imbalance[0]).max() < 1e-8
    assert np.abs(run.drift_integral).max() < 1e-8


@pytest.mark.parametrize("activation", ["tanh", "gelu", "sigmoid"])
def test_drift_accumulates_as_the_integral_of_the_right_hand_side(activation):
    # Δ(t) − Δ(0) from the weights' norms against ∫ RHS from φ_σ: the identity, integrated.
    rng = np.random.default_rng(6)
    data = Dataset(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)))
    run = integrate_flow(
        random_network((3, 4, 3, 1), seed=6, bias=True), data, activation, t_final=3.0
    )
    drift = run.imbalance - run.imbalance[0]
    assert np.abs(drift[-1]).max() > 1e-3  # there is drift to explain
    np.testing.assert_allclose(drift, run.drift_integral, atol=1e-8)


def test_stalled_integration_is_a_convergence_error():
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(6, 3)), rng.normal(size=(6, 1)))
    with pytest.raises(ConvergenceError, match="more than 300 gradient evaluations") as caught:
        integrate_flow(
            random_network((3, 4, 3, 1), seed=1), data, "tanh", t_final=100.0, max_evaluations=300
        )
    # A budget: exit code 4, and the partial trajectory comes with the error.
    assert isinstance(caught.value, BudgetExhaustedError)
    assert caught.value.status is Status.BUDGET_EXHAUSTED and caught.value.status.exit_code == 4
    partial = caught.value.result
    assert isinstance(partial, FlowTrajectory) and partial.status is Status.BUDGET_EXHAUSTED
    assert partial.evaluations == 300 and 0 < partial.t_reached < 100.0
    assert partial.times[-1] <= partial.t_reached


def test_successful_flow_carries_status_counters_and_inputs():
    rng = np.random.default_rng(2)
    data = Dataset(rng.normal(size=(5, 2)), rng.normal(size=(5, 1)))
    net = random_network((2, 3, 3, 1), seed=2, bias=True)
    run = integrate_flow(net, data, "tanh", "logistic", t_final=2.0, n_points=5, rtol=1e-9)
    assert run.status is Status.SUCCESS and run.status.exit_code == 0
    assert run.evaluations == run.nfev > 0 and run.steps > 0 and run.seconds > 0
    assert run.evaluations >= 12 * run.steps  # DOP853: 12 stages per accepted step
    assert run.t_reached == 2.0 and run.times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert (run.t_final, run.rtol, run.atol, run.n_points) == (2.0, 1e-9, 1e-12, 5)
    assert run.max_evaluations == 100_000 and run.loss_name == "logistic"
    assert run.activation and run.loss.shape == (5,)  # ``loss`` keeps its meaning
    d = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    assert d["status"] == "success" and d["steps"] == run.steps and d["seconds"] > 0
    assert d["evaluations"] == run.evaluations and d["widths"] == [2, 3, 3, 1] and d["bias"]
    assert d["times"] == run.times.tolist() and len(d["imbalance"]) == 5
    assert len(d["imbalance"][0]) == 2 and len(d["drift_integral"][0]) == 2
    assert len(d["final"]["weights"]) == 3 and len(d["final"]["biases"]) == 3
    assert d["t_final"] == 2.0 and d["loss_name"] == "logistic"


def test_budget_limited_flow_returns_its_partial_result_with_throw_false():
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(6, 3)), rng.normal(size=(6, 1)))
    net = random_network((3, 4, 3, 1), seed=1)
    run = integrate_flow(net, data, "tanh", t_final=100.0, max_evaluations=300, throw=False)
    assert run.status is Status.BUDGET_EXHAUSTED and "max_evaluations" in run.message
    assert run.evaluations == 300 and run.steps > 0 and run.t_reached < 100.0
    assert run.times[0] == 0.0 and run.times.size < run.n_points
    assert run.loss.size == run.times.size == run.imbalance.shape[0]
    np.testing.assert_array_equal(flatten(run.final), flatten(unflatten(flatten(run.final), net)))
    d = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    assert d["status"] == "budget_exhausted" and d["t_reached"] < 100.0
    # The budget counts every gradient, those spent choosing the first step included.
    tiny = integrate_flow(net, data, "tanh", t_final=1.0, max_evaluations=1, throw=False)
    assert tiny.status is Status.BUDGET_EXHAUSTED and tiny.evaluations == 1
    assert tiny.steps == 0 and tiny.times.tolist() == [0.0]


def test_overflow_is_non_finite_and_a_blow_up_is_not_converged():
    data = Dataset(np.ones((1, 1)), np.ones((1, 1)))
    huge = Network((np.full((1, 1), 800.0), np.ones((1, 1))))
    run = integrate_flow(huge, data, "exp(x)", t_final=1.0, throw=False)
    assert run.status is Status.NON_FINITE and run.status.exit_code == 3
    d = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    assert d["status"] == "non_finite" and d["loss"] == [None]
    with pytest.raises(ConvergenceError) as caught:
        integrate_flow(huge, data, "exp(x)", t_final=1.0)
    assert caught.value.status is Status.NON_FINITE and caught.value.result.steps == 0
    # ℓ = −f² is unbounded below: the weights blow up in finite time (t = 1/4 here).
    blow_up = integrate_flow(chain([1.0, 1.0]), data, "identity", "-f**2", t_final=1.0, throw=False)
    assert blow_up.status is Status.NOT_CONVERGED and blow_up.t_reached < 0.26
    assert "finite time" in blow_up.message
    with pytest.raises(ConvergenceError) as caught:
        integrate_flow(chain([1.0, 1.0]), data, "identity", "-f**2", t_final=1.0)
    assert not isinstance(caught.value, BudgetExhaustedError)
    assert caught.value.status is Status.NOT_CONVERGED


def test_flatten_and_unflatten_are_inverse():
    net = random_network((3, 4, 2), seed=0, bias=True)
    vector = flatten(net)
    assert vector.size == 3 * 4 + 4 * 2 + 4 + 2
    back = unflatten(vector, net)
    for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"t_final": -1.0}, "t_final"),  # used to integrate backwards in time
        ({"t_final": 0.0}, "t_final"),  # used to crash with an AttributeError
        ({"t_final": math.nan}, "t_final"),
        ({"t_final": math.inf}, "t_final"),
        ({"t_final": 1.0, "rtol": 0.0}, "rtol"),
        ({"t_final": 1.0, "n_points": 1}, "n_points"),
        ({"t_final": 1.0, "max_evaluations": 0}, "max_evaluations"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        integrate_flow(chain([0.3, 0.3]), UNIT_SAMPLE, "identity", **options)


def test_throw_must_be_a_bool():
    with pytest.raises(TypeError, match="throw"):
        integrate_flow(chain([0.3, 0.3]), UNIT_SAMPLE, "identity", t_final=1.0, throw="no")
