import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saddle_escape.classes.drift import drift_law
from saddle_escape.numeric.flow import integrate_flow
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import check_identity, identity_sides, imbalances
from saddle_escape.numeric.network import Dataset, Network, backprop, random_network
from saddle_escape.symbolic.outcomes import ConvergenceError

from saddle_escape.strategies import identity_problems


@given(identity_problems(), st.booleans())
def test_identity_holds_in_float64(problem, neuronwise):
    check = problem.check(neuronwise=neuronwise)
    assert check.max_relative_difference <= 1e-10


@settings(max_examples=15)
@given(identity_problems(depth=(2, 4), width=(1, 4)), st.booleans())
def test_identity_holds_at_50_digits(problem, neuronwise):
    check = problem.check(dps=50, neuronwise=neuronwise)
    assert check.max_relative_difference <= 1e-40


def test_wrong_bias_bookkeeping_breaks_the_identity():
    # b_{l+1} must not join the outgoing side: it adds -2 E<∇_{z_{l+1}} ℓ, b_{l+1}>.
    net = random_network((3, 4, 4, 1), seed=5, bias=True)
    rng = np.random.default_rng(0)
    data = Dataset(rng.normal(size=(6, 3)), rng.normal(size=(6, 1)))
    act, loss = compile_activation("tanh"), get_loss("squared")
    out = backprop(net, data, act, loss)
    (layer, _, lhs, rhs, _), _ = identity_sides(net, data, act, loss)
    wrong_lhs = lhs - 2 * (net.biases[1] * out.grad_biases[1]).sum()
    extra = -2 * (out.deltas[1] * data.weights[:, None] * net.biases[1]).sum()
    assert abs(lhs - rhs) < 1e-12
    assert wrong_lhs - rhs == pytest.approx(extra, rel=1e-10)
    assert abs(extra) > 1e-3


def test_check_result_contract():
    net = random_network((5, 4, 4, 1), seed=2)
    rng = np.random.default_rng(2)
    data = Dataset(rng.normal(size=(8, 5)), rng.normal(size=(8, 1)))
    d = check_identity(net, data, "tanh", "squared", dps=50).to_dict()
    assert [row["layer"] for row in d["layers"]] == [1, 2]
    assert len(d["layers"][0]["lhs"].replace("-", "").replace(".", "")) >= 45
    assert d["max_relative_difference"] < 1e-40
    with pytest.raises(ValueError, match="dps"):
        check_identity(net, data, "tanh", dps=5)


def test_class_A_keeps_every_imbalance_constant_along_the_flow():
    # The linear network: the only smooth class-A activation (piecewise-linear ones make
    # the flow non-smooth; their identity is checked pointwise by the properties above).
    rng = np.random.default_rng(4)
    data = Dataset(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)))
    run = integrate_flow(random_network((3, 4, 3, 1), seed=4), data, "identity", t_final=3.0)
    assert run.loss[-1] < run.loss[0]  # it trained
    assert np.abs(run.imbalance - run.imbalance[0]).max() < 1e-8
    assert np.abs(run.drift_integral).max() < 1e-8


@pytest.mark.parametrize("activation", ["tanh", "gelu", "sigmoid"])
def test_drift_accumulates_as_the_integral_of_the_right_hand_side(activation):
    rng = np.random.default_rng(6)
    data = Dataset(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)))
    run = integrate_flow(
        random_network((3, 4, 3, 1), seed=6, bias=True), data, activation, t_final=3.0
    )
    drift = run.imbalance - run.imbalance[0]
    assert np.abs(drift[-1]).max() > 1e-3  # there is drift to explain
    np.testing.assert_allclose(drift, run.drift_integral, atol=1e-8)


@pytest.mark.parametrize("activation", ["tanh", "sin", "gelu", "silu", "sigmoid", "softplus"])
@pytest.mark.parametrize("layer", [1, 2])
def test_drift_scales_with_the_power_the_class_predicts(activation, layer):
    depth = 3
    base = random_network((2, 3, 3, 1), seed=11)
    rng = np.random.default_rng(11)
    data = Dataset(rng.normal(size=(12, 2)), rng.normal(size=(12, 1)))
    act, loss = compile_activation(activation), get_loss("squared")

    def drift(lam):
        net = Network(tuple(lam * w for w in base.weights))
        return identity_sides(net, data, act, loss)[layer - 1][3]

    lam = 1e-3
    measured = np.log2(abs(drift(2 * lam) / drift(lam)))
    predicted = drift_law(activation).drift_exponent(layer, depth)
    assert measured == pytest.approx(predicted, abs=0.02)


def test_stalled_integration_is_a_convergence_error():
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(6, 3)), rng.normal(size=(6, 1)))
    with pytest.raises(ConvergenceError, match="more than 300 gradient evaluations"):
        integrate_flow(
            random_network((3, 4, 3, 1), seed=1), data, "tanh", t_final=100.0, max_evaluations=300
        )


def test_imbalances_with_biases_count_the_lower_bias_only():
    net = Network((np.ones((2, 1)), np.ones((1, 2)) * 3), (np.ones(2) * 2, np.ones(1) * 5))
    assert imbalances(net).tolist() == [18.0 - 2.0 - 8.0]
