import itertools

import numpy as np
import pytest
import saddle_escape.symbolic.imbalance as imbalance
import sympy as sp
from saddle_escape.symbolic import taylor
from saddle_escape.symbolic.imbalance import (
    LOSS,
    SIGMA,
    derive_identity,
    parse_widths,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.timeouts import time_limit

FORMS = list(itertools.product([False, True], [False, True]))


@pytest.mark.parametrize("neuronwise, bias", FORMS)
def test_width_generic_derivation_closes_exactly(neuronwise, bias):
    derivation = derive_identity(neuronwise=neuronwise, bias=bias)
    assert derivation.residual == 0 and derivation.verified
    assert len(derivation.steps) == 5
    text = derivation.pretty()
    assert "residual: 0" in text
    latex = derivation.latex()
    assert latex.startswith("\\begin{align*}") and "\\sigma" in latex
    d = derivation.to_dict()
    assert d["verified"] is True and d["form"] == ("neuron-wise" if neuronwise else "layer-wise")


@pytest.mark.parametrize("neuronwise, bias", FORMS)
@pytest.mark.parametrize("widths", ["3,3,3,1", "2,3,2,2", "1,1,1", "2,2,2,2,3"])
def test_explicit_verification_every_layer_zero(widths, neuronwise, bias):
    result = verify_identity(widths, neuronwise=neuronwise, bias=bias)
    assert result.verified
    hidden = parse_widths(widths)[1:-1]
    expected_count = sum(hidden) if neuronwise else len(hidden)
    assert len(result.layers) == expected_count
    assert all(r.residual == 0 for r in result.layers)


def test_a_wrong_right_hand_side_is_caught(monkeypatch):
    # Drop the −σ(z) of φ_σ: the check must now fail on every layer pair.
    monkeypatch.setattr(imbalance, "_phi", lambda node: node * sp.diff(SIGMA(node), node))
    result = verify_identity("2,2,2,1")
    assert not result.verified
    assert all(r.residual != 0 for r in result.layers)


def test_explicit_gradients_agree_with_brute_force_differentiation():
    # Independent route: differentiate ℓ(f(x)) of the nested expression for every weight.
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    W1 = sp.Matrix(2, 2, sp.symbols("a1:5", real=True))
    W2 = sp.Matrix(2, 2, sp.symbols("b1:5", real=True))
    W3 = sp.Matrix(1, 2, sp.symbols("c1:3", real=True))
    z1 = W1 * x
    z2 = W2 * z1.applyfunc(SIGMA)
    z3 = W3 * z2.applyfunc(SIGMA)
    loss = LOSS(z3[0])
    frob = lambda W: sum(w * sp.diff(loss, w) for w in W)  # noqa: E731
    lhs = -2 * frob(W2) + 2 * frob(W1)
    g2 = sp.Matrix(
        [
            sp.diff(LOSS((W3 * sp.Matrix(sp.symbols("u1:3")).applyfunc(SIGMA))[0]), u)
            for u in sp.symbols("u1:3")
        ]
    ).subs(dict(zip(sp.symbols("u1:3"), z2, strict=True)))
    t = sp.Symbol("t")
    phi = z1.applyfunc(lambda v: v * sp.Subs(sp.Derivative(SIGMA(t), t), t, v) - SIGMA(v))
    rhs = 2 * ((W2.T * g2).T * phi)[0]
    assert sp.simplify((lhs - rhs).doit()) == 0
    assert verify_identity("2,2,2,1").verified


def test_widths_validation():
    assert parse_widths([2, 3, 1]) == (2, 3, 1)
    for bad, message in [
        ("3,1", "at least two"),
        ("3,x,1", "comma-separated"),
        ([3, 0, 1], "positive"),
        ("200,200,200,1", "too large"),
    ]:
        with pytest.raises(ValueError, match=message):
            verify_identity(bad)


def test_statement_forms():
    assert "‖b_l‖²" in statement(bias=True)
    assert "W_{l+1}[:, j]" in statement(neuronwise=True)
    assert "\\varphi_\\sigma" in statement(latex=True)


@pytest.mark.parametrize(
    "widths, excess",
    [
        ("3,100,100,1", "weights 10400 > 1200"),  # issue 14.19: ran unbounded
        ("100000,3,3,1", "weights 300012 > 1200"),  # issue 14.19: ran unbounded
        (",".join(["1"] * 15), "weight layers 14 > 12"),
        ("3,3,3,3,3,3,3,3,3,1", "paths from the first hidden layer to the output 6561 > 2048"),
    ],
)
def test_the_exact_verification_has_a_work_budget(widths, excess):
    # Refused at once (under a limit so that a regression fails instead of hanging).
    with time_limit(10.0, f"verify_identity({widths!r})"):
        with pytest.raises(ValueError, match="too large") as caught:
            verify_identity(widths)
    message = str(caught.value)
    assert excess in message and "check_identity" in message and "identity --check" in message


def test_bias_counts_in_the_weight_budget():
    widths = parse_widths("10,30,29,1")  # 300 + 870 + 29 = 1199 weights, 60 biases
    imbalance._check_symbolic_size(widths, bias=False)
    with pytest.raises(ValueError, match="weights and biases 1259 > 1200"):
        imbalance._check_symbolic_size(widths, bias=True)


@pytest.mark.parametrize("widths", ["3,,3,1", "3,3,1,", ",3,3,1"])
def test_empty_width_entries_are_refused(widths):
    # Issue 14.10: "3,,3,1" used to run widths (3, 3, 1).
    with pytest.raises(ValueError, match="an entry is empty"):
        parse_widths(widths)


def test_widths_accept_numpy_integers():
    assert parse_widths(np.array([3, 2, 1])) == (3, 2, 1)
    assert all(type(w) is int for w in parse_widths(np.array([3, 2, 1])))


def test_phi_is_computed_in_one_place(monkeypatch):
    # Issue 8.7: concrete_rhs and the explicit verification take φ_σ from taylor.phi.
    marker = sp.Symbol("phi_from_taylor")
    monkeypatch.setattr(taylor, "phi", lambda sigma, variable=None: marker)
    z = sp.Symbol("z", real=True)
    assert imbalance.concrete_rhs(sp.tanh(z), z) == marker
    assert imbalance._phi(z) == marker
