import pytest
import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.taylor import (
    T,
    expand_side,
    has_piecewise,
    is_zero_number,
    numerically_nonzero,
    phi,
    resolve_near_zero,
    tidy,
)


def test_phi_terms_follow_the_rule_and_skip_order_one():
    sigma = sp.Rational(1, 2) + 3 * X + 5 * X**2 - X**3
    expansion = expand_side(sigma.xreplace({X: T}), 1, 3, "cubic")
    assert expansion.phi_terms() == ((0, -sp.Rational(1, 2)), (2, 5), (3, -2))
    assert sp.expand(phi(sigma)) == sp.expand(sum(c * X**k for k, c in expansion.phi_terms()))


def test_phi_terms_include_fractional_orders_in_order():
    expansion = expand_side(T + T ** sp.Rational(5, 2) + T**3, 1, 3, "x + x^(5/2) + x^3")
    assert expansion.phi_terms() == ((0, 0), (2, 0), (sp.Rational(5, 2), sp.Rational(3, 2)), (3, 2))


def test_piecewise_heads_are_defined_once():
    assert has_piecewise(sp.Heaviside(X) * X) and not has_piecewise(sp.exp(X))


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


def test_oscillating_condition_is_a_clear_error():
    # Issue 14.16: "Invalid NaN comparison" / "sign of AccumBounds(-1, 1)".
    with pytest.raises(ExpressionError, match="no limit there"):
        resolve_near_zero(sp.Piecewise((X, sp.sin(1 / X) > 0), (0, True)), 1)


def test_huge_constants_are_not_decided_silently():
    huge = sp.exp(sp.exp(sp.exp(sp.exp(10))))
    with pytest.raises(ExpressionError, match="too large to evaluate"):
        is_zero_number(huge - 1)
    assert numerically_nonzero(huge * T)


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
        # Issue 14.14: SymPy's PoleError must not escape.
        (sp.sin(1 / T), 1, "not analytic there"),
        (T * sp.sin(1 / T), 1, "not analytic there"),
        (sp.exp(1 / T), 1, "singular or not analytic"),
        (-T * sp.exp(1 / T), -1, "singular or not analytic"),
        (sp.csc(T), 1, "singular"),
        (sp.coth(T), 1, "singular"),
        # (-x)**(1/1000) is complex: not real, and not analytic.
        ((-T) ** sp.Rational(1, 1000), -1, "not real just left of 0 .*not analytic at 0"),
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
