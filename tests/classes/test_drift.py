"""The drift law of each class against numbers: the identity's right-hand side measured."""

import json

import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.classes.drift import drift_law
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import identity_sides
from saddle_escape.numeric.network import Dataset, Network, random_network
from saddle_escape.symbolic.parsing import X


@pytest.mark.parametrize("activation", ["tanh", "sin", "gelu", "silu", "sigmoid", "softplus"])
@pytest.mark.parametrize("layer", [1, 2])
def test_drift_scales_with_the_power_the_class_predicts(activation, layer):
    # Every weight scaled by λ: the measured d ln(drift)/d ln λ against the law's power.
    depth = 3
    base = random_network((2, 3, 3, 1), seed=11)
    rng = np.random.default_rng(11)
    data = Dataset(rng.normal(size=(12, 2)), rng.normal(size=(12, 1)))
    act, loss = compile_activation(activation), get_loss("squared")

    def drift(lam):
        net = Network(tuple(lam * w for w in base.weights))
        return identity_sides(net, data, act, loss)[layer - 1].rhs

    lam = 1e-3
    measured = np.log2(abs(drift(2 * lam) / drift(lam)))
    predicted = drift_law(activation).drift_exponent(layer, depth)
    assert measured == pytest.approx(predicted, abs=0.02)


@pytest.mark.parametrize(
    "activation, q, h",
    [
        ("tanh", 3, -2 / 3),  # DESIGN §2 table
        ("sin", 3, -1 / 3),
        ("erf", 3, -4 / (3 * np.sqrt(np.pi))),
        ("gelu", 2, 1 / np.sqrt(2 * np.pi)),
        ("silu", 2, 1 / 4),
        ("sigmoid", 0, -1 / 2),
        ("softplus", 0, -np.log(2)),
    ],
)
def test_leading_term_matches_phi_evaluated_near_zero(activation, q, h):
    # φ_σ(z)/z^q evaluated in 40 digits at z → 0 tends to h_σ, and the law's leading term
    # says the same: two routes to one number.
    law = drift_law(activation)
    phi = sp.lambdify(X, law.phi, modules="mpmath")
    with mpmath.workdps(40):
        z = mpmath.mpf("1e-8")
        assert float(phi(z) / z**q) == pytest.approx(h, rel=1e-7)
        assert float(phi(-z) / (-z) ** q) == pytest.approx(h, rel=1e-7)
    assert float(law.leading_term / X**q) == pytest.approx(h, rel=1e-14)


@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu"])
def test_class_A_has_no_drift_in_numbers_either(activation):
    law = drift_law(activation)
    assert law.leading_term is None and law.drift_exponent(1, 3) is None
    net = random_network((2, 3, 3, 1), seed=2)
    rng = np.random.default_rng(2)
    data = Dataset(rng.normal(size=(8, 2)), rng.normal(size=(8, 1)))
    sides = identity_sides(net, data, compile_activation(activation), get_loss("squared"))
    assert all(abs(row.rhs) < 1e-14 for row in sides)


def test_alpha_zero_has_no_scaling_law():
    assert drift_law("x*tanh(x)").drift_exponent(1, 3) is None


@pytest.mark.parametrize(
    "layer, depth, message",
    [
        (1.5, 3, "layer must be an int"),  # issue 14.3: used to return 6.0
        (True, 3, "layer must be an int"),
        (1, 3.0, "depth must be an int"),
        ("1", 3, "layer must be an int"),
        (0, 3, r"layer must be in 1\.\.2"),
        (3, 3, r"layer must be in 1\.\.2"),
        (1, 1, "depth must be at least 2"),
    ],
)
def test_bad_layers_are_refused(layer, depth, message):
    with pytest.raises(ValueError, match=message):
        drift_law("tanh").drift_exponent(layer, depth)


def test_numpy_integers_are_layers():
    assert drift_law("tanh").drift_exponent(np.int64(2), np.int64(3)) == 7


def test_result_contract():
    d = drift_law("gelu").to_dict()
    assert d["class"] == "C" and d["activation"] == "gelu"
    assert d["leading_term"] == "sqrt(2)*x**2/(2*sqrt(pi))"
    json.dumps(d, allow_nan=False)
