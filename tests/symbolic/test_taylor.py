import pytest
import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.taylor import (
    T,
    expand_side,
    is_zero_number,
    numerically_nonzero,
    phi,
    phi_coefficients,
    resolve_near_zero,
    tidy,
)


def test_phi_coefficients_follow_the_rule_and_drop_order_one():
    sigma = sp.Rational(1, 2) + 3 * X + 5 * X**2 - X**3
    coefficients = {k: sigma.coeff(X, k) for k in range(4)}
    assert phi_coefficients(coefficients) == {0: -sp.Rational(1, 2), 2: 5, 3: -2}
    assert sp.expand(phi(sigma)) == sp.expand(
        sum(c * X**k for k, c in phi_coefficients(coefficients).items())
    )


@pytest.mark.parametrize(
    "sigma, side, branch",
    [
        (sp.Max(0, X), 1, T),
        (sp.Max(0, X), -1, 0),
        (sp.Abs(X), -1, T),
        (sp.Min(1, sp.Max(-1, X)), -1, -T),
        (sp.Piecewise((X, X > 0), (sp.exp(X) - 1, True)), -1, sp.exp(-T) - 1),
        (sp.Piecewise((X, X >= 0), (2 * X, True)), 1, T),
        (sp.Heaviside(X) * X, -1, 0),
        (sp.sign(X) * X**2, -1, -(T**2)),
        (sp.Piecewise((1, X > 1), (X, True)), 1, T),  # the far branch is not taken
        (sp.Piecewise((X, sp.sin(X) > X), (2 * X, True)), 1, 2 * T),  # sin(t) - t < 0
    ],
)
def test_resolve_near_zero_picks_the_branch_that_holds(sigma, side, branch):
    assert sp.simplify(resolve_near_zero(sigma, side) - branch) == 0


def test_undecidable_branch_names_the_parameter():
    a = sp.Symbol("a", real=True)
    with pytest.raises(ExpressionError, match=r"\['a'\]"):
        resolve_near_zero(sp.Max(a * X, X), 1)


def test_piecewise_without_default_branch_is_an_error():
    with pytest.raises(ExpressionError, match="no branch"):
        resolve_near_zero(sp.Piecewise((X, X > 1)), 1)


def test_expand_side_coefficients_and_left_signs():
    right = expand_side(sp.exp(T), 1, 4, "exp")
    left = expand_side(sp.exp(-T), -1, 4, "exp")
    assert (
        right.coefficients
        == left.coefficients
        == (1, 1, sp.Rational(1, 2), sp.Rational(1, 6), sp.Rational(1, 24))
    )


def test_expand_side_reports_fractional_powers():
    expansion = expand_side(T + T ** sp.Rational(5, 2), 1, 4, "x + x^(5/2)")
    assert not expansion.analytic
    assert expansion.fractional == ((sp.Rational(5, 2), 1),)


@pytest.mark.parametrize(
    "branch, side, message",
    [
        (1 / T, 1, "singular"),
        (sp.log(T), 1, "log"),
        (sp.sqrt(-T), -1, "not real"),
    ],
)
def test_expand_side_refuses_what_is_not_an_activation(branch, side, message):
    with pytest.raises(ExpressionError, match=message):
        expand_side(branch, side, 4, "test")


def test_is_zero_number_is_exact():
    assert is_zero_number(sp.tanh(sp.log(3)) - sp.Rational(4, 5)) is True
    assert is_zero_number(sp.pi - sp.Rational(355, 113)) is False
    assert is_zero_number(sp.exp(sp.Integer(-200))) is False  # tiny but not zero


def test_tidy_evaluates_hyperbolic_functions_of_logs():
    assert tidy(sp.tanh(sp.log(2)) ** 2) == sp.Rational(9, 25)


def test_numerically_nonzero_sees_flat_functions():
    assert numerically_nonzero(sp.exp(-1 / T**2))
    assert not numerically_nonzero(sp.sin(T) ** 2 + sp.cos(T) ** 2 - 1)
