import pytest
import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import (
    Y_SCALAR,
    G,
    gaussian_expectation,
    gaussian_moment,
    parse_init,
    reduced_model,
)


def test_moments_and_exact_expectations():
    assert [gaussian_moment(m) for m in (0, 2, 4, 6, 8)] == [1, 1, 3, 15, 105]
    assert gaussian_expectation(G**3 + 2 * G**2 + 1) == 3
    assert gaussian_expectation(sp.exp(G)) is None


def test_output_is_the_design_composition():
    m = reduced_model(sp.tanh(X), 3, 16, "1,eps,eps")
    Y1, Y2, Y3 = m.Y
    assert sp.simplify(m.output() - 4 * Y3 * sp.tanh(Y2 * sp.tanh(Y1 * G / 4))) == 0
    assert m.bottleneck == (1, 2) and m.r == 2


def test_linear_loss_is_the_design_check_case():
    m = reduced_model(X, 4, 16, "eps,eps,eps,eps")
    P = m.loss_expression().xreplace(m.scalar_substitution())
    assert sp.expand(P - (1 - Y_SCALAR**4) ** 2 / 2) == 0
    ode = m.ode()
    assert sp.expand(ode[0] + sp.diff(m.loss_expression(), m.Y[0])) == 0


def test_polynomial_activation_loss_uses_moments():
    m = reduced_model(X + X**2 / 2, 2, 1, "eps,eps", teacher=2)
    loss = m.loss_expression()
    Y1, Y2 = m.Y
    # F = Y2 (Y1 g + Y1² g²/2); ½E[(F − 2g)²] by hand:
    expected = sp.expand((Y2**2 * (Y1**2 + 3 * Y1**4 / 4) - 4 * Y1 * Y2 + 4) / 2)
    assert sp.expand(loss - expected) == 0


def test_factored_scalar_output_matches():
    for init in ("1,eps,eps,1", "eps,eps,1,1", "1,1,1,eps"):
        m = reduced_model(sp.tanh(X), 4, 9, init)
        f, h, prefix = m.scalar_output_factored()
        assert sp.simplify(f.xreplace({h: prefix}) - m.scalar_output()) == 0


def test_symbolic_width():
    m = reduced_model(X, 2, "N", "eps,eps")
    assert m.width.free_symbols


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 1}, "depth"),
        ({"width": 0}, "width"),
        ({"width": "2x"}, "width"),
        ({"init": "1,1"}, "no 'eps'"),
        ({"init": "1,eps,eps"}, "depth is 2"),
        ({"init": "a,eps"}, "real number"),
        ({"teacher": 0}, "non-zero"),
    ],
)
def test_bad_model_input(kwargs, message):
    args = {"depth": 2, "width": 4, "init": "eps,eps", "teacher": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        reduced_model(X, args["depth"], args["width"], args["init"], teacher=args["teacher"])


def test_free_parameters_and_strings_are_refused():
    a = sp.Symbol("a", real=True)
    with pytest.raises(ExpressionError, match="free parameters"):
        reduced_model(X + a * X**2, 2, 4, "eps,eps")
    with pytest.raises(ExpressionError, match="resolve_activation"):
        reduced_model("tanh", 2, 4, "eps,eps")


def test_parse_init_accepts_constants():
    assert parse_init(["eps", 0.5, "sqrt(2)"], 3) == (None, sp.Rational(1, 2), sp.sqrt(2))
