import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.classes import REGISTRY
from saddle_escape.numeric.functions import LOSSES, compile_activation, get_loss
from saddle_escape.symbolic.outcomes import ExpressionError

GRID = np.linspace(-2.5, 2.5, 11) + 0.013  # avoid the kinks at exactly 0


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_numpy_and_mpmath_backends_agree(name):
    act = compile_activation(name)
    with mpmath.workdps(30):
        grid = np.array([mpmath.mpf(v) for v in GRID], dtype=object)
        for method in ("sigma", "dsigma", "phi"):
            fast = getattr(act, method)(GRID)
            precise = np.array(getattr(act, method)(grid), dtype=float)
            np.testing.assert_allclose(fast, precise, rtol=1e-13, atol=1e-15)


def test_phi_is_z_dsigma_minus_sigma():
    act = compile_activation("gelu")
    np.testing.assert_allclose(act.phi(GRID), GRID * act.dsigma(GRID) - act.sigma(GRID), atol=1e-15)


def test_derivative_matches_finite_differences():
    act = compile_activation("mish")
    with mpmath.workdps(40):
        for v in (-1.3, 0.2, 2.1):
            numeric = mpmath.diff(lambda t: act.sigma(mpmath.mpf(t)), mpmath.mpf(v))
            assert abs(numeric - act.dsigma(mpmath.mpf(v))) < mpmath.mpf(10) ** -30


def test_parameters_must_be_given_and_real():
    with pytest.raises(ExpressionError, match="free parameter"):
        compile_activation("x + a*x**2")
    with pytest.raises(ExpressionError, match="no parameter named 'b'"):
        compile_activation("x + a*x**2", parameters={"a": 1, "b": 2})
    with pytest.raises(ExpressionError, match="not finite"):
        compile_activation("x + a*x**2", parameters={"a": float("nan")})
    act = compile_activation("x + a*x**2", parameters={"a": 0.1})
    x = sp.Symbol("x", real=True)
    assert act.expression == x + sp.Rational(1, 10) * x**2


@pytest.mark.parametrize("name", [*LOSSES, "log(cosh(f - y))"])
@pytest.mark.parametrize("outputs", [1, 3])
def test_loss_gradients_match_finite_differences(name, outputs):
    loss = get_loss(name)
    rng = np.random.default_rng(3)
    f = rng.normal(size=(4, outputs))
    y = np.eye(outputs)[rng.integers(0, outputs, 4)] if outputs > 1 else rng.random((4, 1)).round()
    if name == "logistic":
        y = 2 * y - 1
    with mpmath.workdps(40):
        fm = np.vectorize(mpmath.mpf, otypes=[object])(f)
        ym = np.vectorize(mpmath.mpf, otypes=[object])(y)
        grad = loss.gradient(fm, ym)
        for p in range(4):
            for k in range(outputs):

                def value(t, p=p, k=k):
                    g = fm.copy()
                    g[p, k] = t
                    return loss.value(g, ym)[p]

                numeric = mpmath.diff(value, fm[p, k])
                assert abs(numeric - grad[p, k]) < mpmath.mpf(10) ** -25
    np.testing.assert_allclose(loss.gradient(f, y), np.array(grad, dtype=float), rtol=1e-12)


@pytest.mark.parametrize(
    "text, message",
    [
        ("log(cosh(f - q))", "unknown names"),
        ("y**2", "does not depend on the output"),
        ("f.__class__", "not allowed"),
        ("", "empty"),
    ],
)
def test_bad_losses_are_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        get_loss(text)
