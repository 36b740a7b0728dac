import itertools
import json

import numpy as np
import pytest
import saddle_escape.symbolic.identity as identity_module
import sympy as sp
from saddle_escape.symbolic import taylor
from saddle_escape.symbolic.identity import (
    LOSS,
    SIGMA,
    IdentityVerification,
    UnitResidual,
    derive_identity,
    parse_widths,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.outcomes import ConvergenceError, Status
from saddle_escape.symbolic.timeouts import time_limit

from tests.display_check import check_table_rows, parse_html

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
    monkeypatch.setattr(identity_module, "_phi", lambda node: node * sp.diff(SIGMA(node), node))
    result = verify_identity("2,2,2,1", throw=False)
    assert not result.verified and result.status is Status.NOT_CONVERGED
    assert all(r.residual != 0 for r in result.layers)
    assert "layer 1, layer 2" in result.message and "not verified" in result.message
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["status"] == "not_converged" and d["verified"] is False
    assert all(row["residual"] != "0" for row in d["layers"])
    with pytest.raises(ConvergenceError) as caught:
        verify_identity("2,2,2,1")
    assert caught.value.status is Status.NOT_CONVERGED and caught.value.status.exit_code == 3
    assert isinstance(caught.value.result, IdentityVerification)
    assert not caught.value.result.verified and caught.value.result.terms_checked == 2


@pytest.mark.parametrize("throw", [True, False])
def test_verification_carries_status_inputs_and_counters(throw):
    result = verify_identity("2,3,2,1", neuronwise=True, bias=True, throw=throw)
    assert result.status is Status.SUCCESS and result.status.exit_code == 0
    assert result.terms_checked == 5 == len(result.layers) and result.seconds > 0
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["status"] == "success" and d["verified"] is True and "verified" in d["message"]
    assert d["widths"] == [2, 3, 2, 1] and d["form"] == "neuron-wise" and d["bias"] is True
    assert d["terms_checked"] == 5 and d["seconds"] > 0
    assert all(row["residual"] == "0" for row in d["layers"])


def test_verify_identity_refuses_a_non_bool_throw():
    with pytest.raises(TypeError, match="throw"):
        verify_identity("2,2,1", throw=None)


def test_derivation_reports_its_status():
    d = json.loads(json.dumps(derive_identity().to_dict(), allow_nan=False))
    assert d["status"] == "success" and d["verified"] is True


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
    identity_module._check_symbolic_size(widths, bias=False)
    with pytest.raises(ValueError, match="weights and biases 1259 > 1200"):
        identity_module._check_symbolic_size(widths, bias=True)


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
    assert identity_module.concrete_rhs(sp.tanh(z), z) == marker
    assert identity_module._phi(z) == marker


# -- notebook display (issue 9 item 7) ---------------------------------------------------


def test_verification_latex_states_the_identity_and_every_residual():
    result = verify_identity("2,2,2,1")
    text = result._repr_latex_()
    assert text.startswith("$") and text.endswith("$")
    assert text[1:].startswith(statement(latex=True))
    assert text.endswith(r"\text{residuals: } r_{1} = 0,\ r_{2} = 0$")
    units = verify_identity("2,2,2,1", neuronwise=True, bias=True)._repr_latex_()
    assert statement(neuronwise=True, bias=True, latex=True) in units
    assert r"r_{1,1} = 0,\ r_{1,2} = 0,\ r_{2,1} = 0,\ r_{2,2} = 0$" in units


def test_verification_html_table_of_residuals():
    page = verify_identity("2,2,2,1")._repr_html_()
    (table,) = parse_html(page).tables
    check_table_rows(table)
    assert table["headers"] == ["layer", "residual"]
    assert table["rows"] == [["1", "0"], ["2", "0"]]
    assert table["caption"] == statement()
    assert "imbalance identity (layer-wise), widths 2,2,2,1: verified" in page
    units = parse_html(verify_identity("2,2,2,1", neuronwise=True)._repr_html_()).tables[0]
    assert units["headers"] == ["layer", "unit", "residual"]
    assert units["rows"] == [["1", "1", "0"], ["1", "2", "0"], ["2", "1", "0"], ["2", "2", "0"]]


def test_failed_verification_html_shows_the_residual_and_the_message():
    x = sp.Symbol("x")
    bad = IdentityVerification((1, 1, 1), False, True, (UnitResidual(1, None, x < 1),), 0.0)
    page = bad._repr_html_()
    (table,) = parse_html(page).tables
    assert table["rows"] == [["1", "x < 1"]]
    assert "<td>x &lt; 1</td>" in page
    assert "(layer-wise, with biases), widths 1,1,1: not verified" in page
    assert "<li>not verified: 1 of 1 residuals are not 0" in page
    assert r"r_{1} = x < 1$" in bad._repr_latex_()


def test_derivation_latex_and_html():
    derivation = derive_identity()
    text = derivation._repr_latex_()
    assert text.startswith("$") and text.endswith("$")
    assert text == f"${sp.latex(derivation.identity)},\\qquad \\text{{residual}} = 0$"
    page = derivation._repr_html_()
    (table,) = parse_html(page).tables
    check_table_rows(table)
    assert table["headers"] == ["", "step", "statement"]
    assert [row[:2] for row in table["rows"]][:2] == [
        ["1", "imbalance (per sample: the expectation is linear)"],
        ["2", "gradient flow, and Euler: <W, grad_W l> = d/ds l(sW) at s = 1"],
    ]
    assert table["rows"][-1] == ["", "residual", "0"]
    assert "&lt;W, grad_W l&gt;" in page  # the step title is escaped
    assert "imbalance identity (layer-wise), width-generic: verified" in page
