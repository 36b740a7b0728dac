import numpy as np
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
    parse_teacher,
    parse_width,
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
        ({"teacher": 0}, "nothing to learn"),
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


@pytest.mark.parametrize("width", [16.7, True, np.float64(2.5), 0, -3, "1e3", "N N", None])
def test_width_is_never_truncated(width):
    with pytest.raises(ValueError, match="width"):
        parse_width(width)


def test_whole_widths_and_symbols_are_accepted():
    assert parse_width(np.int64(8)) == 8 and parse_width(" 12 ") == 12
    assert parse_width("N").is_Symbol


@pytest.mark.parametrize("teacher", ["1e999999", "1/0", "1e100", "0", 0, float("inf"), True, "a"])
def test_teacher_must_be_a_moderate_real_number(teacher):
    with pytest.raises(ValueError, match="teacher strength"):
        parse_teacher(teacher)


def test_a_layer_at_scale_zero_is_refused():
    # It used to escape at τ = 99.6 on the manifold while the scalar reduction (which
    # freezes the O(1) layers) said no escape: neither O(1) nor ε, it has no meaning here.
    with pytest.raises(ValueError, match="scale 0"):
        parse_init("0,eps,eps,eps", 4)


def test_loss_bound_of_one_signed_activations():
    relu = reduced_model(sp.Max(0, X), 4, 16, "1,eps,eps,eps", teacher=2)
    bound = relu.loss_lower_bound()
    assert bound.value == 1 and bound.attained  # s²/4 with s = 2
    # Independent check: the best F = a·g⁺ has loss ½E[(a g⁺ − 2g)²] minimised at a = 2,
    # where it is ½·4·E[g²; g < 0] = 1, the bound itself.
    g, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    best = min(
        0.5 * (w * (a * np.maximum(g, 0) - 2 * g) ** 2).sum() for a in np.linspace(0, 4, 401)
    )
    assert best == pytest.approx(1.0, rel=1e-3)
    sigmoid = reduced_model(1 / (1 + sp.exp(-X)), 4, 16, "1,eps,eps,eps").loss_lower_bound()
    assert sigmoid.value == sp.Rational(1, 4) and not sigmoid.attained
    assert reduced_model(sp.tanh(X), 4, 16, "1,eps,eps,eps").loss_lower_bound() is None
