import pytest
import sympy as sp
from saddle_escape.numeric.escape import build_model
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.outcomes import ExpressionError


def test_linear_design_case_is_exact():
    a = asymptotics(build_model("linear", 4, 16, "eps,eps,eps,eps"))
    assert (a.p, a.regime, a.exponent, a.k, a.prefactor) == (4, "power", 2, 1, sp.Rational(1, 2))
    assert [(t.eps_power, t.log_power, t.coefficient) for t in a.terms] == [
        (-2, 0, sp.Rational(1, 2))
    ]
    assert (
        a.exact
        and sp.expand(
            a.normal_form()
            - sp.Symbol("y", positive=True) ** 3 * (1 - sp.Symbol("y", positive=True) ** 4)
        )
        == 0
    )


@pytest.mark.parametrize(
    "init, regime, p",
    [("1,eps,1", "finite", 1), ("eps,eps,1", "log", 2), ("eps,eps,eps", "power", 3)],
)
def test_three_regimes(init, regime, p):
    a = asymptotics(build_model("linear", 3, 4, init))
    assert (a.regime, a.p) == (regime, p)
    if regime == "log":
        assert a.prefactor == 1 and a.terms[0].log_power == 1


def test_resonance_gives_an_exact_log_term():
    # tanh (q = 3) with r = 4 = q + 1 bottleneck layers: a ln(1/ε) term.
    a = asymptotics(build_model("tanh", 4, 16, "eps,eps,eps,eps"))
    assert [(t.eps_power, t.log_power) for t in a.terms] == [(-2, 0), (0, 1)]
    assert a.terms[1].coefficient == sp.Rational(3, 32)


def test_class_D_with_a_hidden_bottleneck_has_a_finite_limit():
    a = asymptotics(build_model("sigmoid", 3, 16, "eps,1,1"))
    assert a.regime == "finite" and a.prefactor is None and a.p == 1


def test_no_escape_is_reported():
    a = asymptotics(build_model("sigmoid", 4, 16, "1,eps,eps,eps"))
    assert a.regime == "none" and any("does not escape" in n for n in a.notes)


def test_piecewise_activation_is_refused_clearly():
    with pytest.raises(ExpressionError, match="piecewise"):
        asymptotics(build_model("elu", 3, 4, "eps,eps,eps"))
