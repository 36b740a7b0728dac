import itertools

import pytest
import saddle_escape.symbolic.imbalance as imbalance
import sympy as sp
from saddle_escape.symbolic.imbalance import (
    LOSS,
    SIGMA,
    derive_identity,
    parse_widths,
    statement,
    verify_identity,
)

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
