"""Population tasks: the drive c = E[yx] in closed form, and the clock it sets (DESIGN §5).

Closed forms are checked against independent routes (SymPy integration, elementary
Gaussian integrals, Monte Carlo with its standard error, the data helper's estimator),
and the clock against the full-network simulator.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.numeric.gaussian import half_range_rule
from saddle_escape.numeric.simulate import full_escape_time, he_network
from saddle_escape.numeric.teachers import GaussianTask
from saddle_escape.symbolic.outcomes import ExpressionError

SIGMA3 = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.25], [0.0, 0.25, 0.5]])


def _feature_task():
    return GaussianTask(
        SIGMA3,
        features=[
            (1.0, "tanh", [1.0, 0.0, 0.0]),
            (-0.7, "x**3", [0.5, 0.5, 0.0]),
            (0.5, "relu", [0.0, 1.0, 1.0]),
            (0.8, "sin", [0.25, -0.5, 1.0]),
        ],
    )


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "covariance, message",
    [
        ([[1.0, 0.5], [0.0, 1.0]], "symmetric"),
        ([[1.0, 2.0], [2.0, 1.0]], "positive definite"),
        ([[1.0, np.nan], [np.nan, 1.0]], "finite"),
        (np.ones((2, 3)), "square"),
        ([["a", "b"], ["c", "d"]], "real numbers"),
    ],
)
def test_bad_covariance_is_refused(covariance, message):
    with pytest.raises(ValueError, match=message):
        GaussianTask(covariance, features=[(1.0, "linear", [1.0, 0.0])])


@pytest.mark.parametrize(
    "features, teacher, message",
    [
        (None, None, "exactly one"),
        ([(1.0, "linear", [1.0, 0.0])], [[1.0, 0.0]], "exactly one"),
        ([(1.0, "linear")], None, "triple"),
        ([(math.nan, "linear", [1.0, 0.0])], None, "finite"),
        ([(True, "linear", [1.0, 0.0])], None, "real number"),
        ([(1.0, "linear", [1.0, 0.0, 0.0])], None, "3 entries"),
        ([(1.0, "linear", [0.0, 0.0])], None, "zero"),
        (None, [[1.0, 0.0, 0.0]], "shape"),
        (None, [[0.0, 0.0]], "Γ = 0"),
    ],
)
def test_bad_teacher_is_refused(features, teacher, message):
    with pytest.raises(ValueError, match=message):
        GaussianTask(np.eye(2), features=features, teacher=teacher)


def test_hostile_feature_strings_never_reach_eval():
    for text in ("__import__('os').system('true')", "x.__class__", "lambda: 1"):
        with pytest.raises(ExpressionError):
            GaussianTask(np.eye(1), features=[(1.0, text, [1.0])])


def test_zero_drive_is_refused_with_the_reason():
    # An even feature has μ = 0: no first-order drive.
    task = GaussianTask(np.eye(1), features=[(1.0, "x**2", [1.0])])
    assert task.correlation().tolist() == [0.0]
    with pytest.raises(ValueError, match="no first-order drive"):
        task.gamma()


# -- the slopes μ_k ---------------------------------------------------------------------


@pytest.mark.parametrize("poly", ["x**5 - 2*x**3 + x", "x**3", "3*x - x**2/2 + x**4/4", "x"])
def test_polynomial_slopes_are_exact_and_match_sympy_integration(poly):
    # Binary-exact entries: s² = vᵀΣv = 11/16 exactly.
    sigma = np.array([[2.0, 0.5], [0.5, 1.0]])
    v = [0.5, 0.25]
    slope = GaussianTask(sigma, features=[(1.0, poly, v)]).slopes()[0]
    assert slope.method == "exact"
    x, g = sp.symbols("x g", real=True)
    expr = sp.sympify(poly, locals={"x": x})  # trusted literal, not user input
    s = sp.sqrt(sp.Rational(11, 16))
    integrand = sp.diff(expr, x).subs(x, s * g) * sp.exp(-(g**2) / 2) / sp.sqrt(2 * sp.pi)
    reference = sp.simplify(sp.integrate(integrand, (g, -sp.oo, sp.oo)))
    assert sp.Rational(slope.exact) == reference
    assert slope.variance == 11 / 16


@pytest.mark.parametrize(
    "activation, closed_form",
    [
        ("sin", lambda s2: math.exp(-s2 / 2)),  # E[cos(s g)]
        ("erf", lambda s2: 2 / math.sqrt(math.pi) / math.sqrt(1 + 2 * s2)),  # E[erf'(s g)]
        ("relu", lambda s2: 0.5),  # E[1{g > 0}]
        ("x*tanh(x)", lambda s2: 0.0),  # even: E[f'] = 0
    ],
)
def test_quadrature_slopes_match_elementary_gaussian_integrals(activation, closed_form):
    v = [0.6, 0.8, 0.0]
    slope = GaussianTask(SIGMA3, features=[(1.0, activation, v)]).slopes()[0]
    s2 = float(np.array(v) @ SIGMA3 @ np.array(v))
    assert slope.method == "tanh-sinh" and slope.digits >= 12
    assert slope.mu == pytest.approx(closed_form(s2), rel=1e-12, abs=1e-14)


def test_tanh_slope_agrees_with_the_derivative_route_and_the_gauss_rule():
    """μ = E[g f(sg)]/s (the module) vs E[f'(sg)] (mpmath) vs the half-range rule."""
    for s in (0.3, 1.0, 2.5):
        mu = GaussianTask(np.eye(1), features=[(1.0, "tanh", [s])]).slopes()[0].mu
        with mpmath.workdps(30):
            derivative = mpmath.quad(
                lambda g, s=s: mpmath.sech(s * g) ** 2 * mpmath.npdf(g),
                [-mpmath.inf, 0, mpmath.inf],
            )
        assert mu == pytest.approx(float(derivative), rel=1e-13)
        g, w = half_range_rule(300)
        gauss = float((2 * w / np.cosh(s * g) ** 2).sum())
        assert mu == pytest.approx(gauss, rel=1e-6)  # the rule converges slowly for s = 2.5


def test_kinks_at_polynomial_conditions_are_split_exactly():
    # |x² − 1| kinks at x = ±1: the quadrature splits there (reference split by hand).
    slope = GaussianTask(np.eye(1), features=[(1.0, "x*abs(x**2 - 1)", [1.5])]).slopes()[0]
    with mpmath.workdps(40):
        s = mpmath.mpf(1.5)
        reference = mpmath.quad(
            lambda g: g * s * g * abs((s * g) ** 2 - 1) * mpmath.npdf(g),
            [-mpmath.inf, -1 / s, 0, 1 / s, mpmath.inf],
        )
    assert slope.digits == 15
    assert slope.mu == pytest.approx(float(reference / s), rel=1e-14)


def test_a_kink_the_quadrature_cannot_see_is_reported_not_trusted():
    from saddle_escape.symbolic.outcomes import ConvergenceError

    # |sin x − ½| kinks at x = π/6 (a condition that is not polynomial): tanh–sinh at two
    # precisions agrees with itself to many digits but is wrong in the fourth; its error
    # estimate and Gauss–Legendre disagree, and 12 digits are refused.
    task = GaussianTask(np.eye(1), features=[(1.0, "x*abs(sin(x) - 1/2)", [1.5])])
    with pytest.raises(ConvergenceError, match="confirmed to only"):
        task.slopes()
    loose = GaussianTask(np.eye(1), features=[(1.0, "x*abs(sin(x) - 1/2)", [1.5])], digits=2)
    assert loose.slopes()[0].digits < 12


# -- c = E[yx]: closed form vs Monte Carlo vs the data estimator --------------------------


def test_correlation_closed_form_matches_monte_carlo_within_four_standard_errors():
    task = _feature_task()
    c = task.correlation()
    data = task.dataset(400_000, seed=11)
    products = data.targets * data.inputs  # (n, d): y x
    mean = products.mean(axis=0)
    stderr = products.std(axis=0, ddof=1) / math.sqrt(data.size)
    z = np.abs(mean - c) / stderr
    assert z.max() < 4, (mean, c, stderr)
    # Stein term by term: c = Σ β μ Σ v.
    manual = sum(
        s.beta * s.mu * (SIGMA3 @ np.array(v))
        for s, (_, _, v) in zip(task.slopes(), task.features, strict=True)
    )
    np.testing.assert_allclose(c, manual, rtol=1e-14)


def test_gamma_matches_the_data_helpers_estimator():
    data_module = pytest.importorskip("saddle_escape.numeric.data")
    task = _feature_task()
    data = task.dataset(20_000, seed=5)
    estimate = data_module.empirical_gamma(data.inputs, data.targets, bootstrap=200, seed=1)
    assert abs(estimate.gamma - task.gamma()) < 4 * estimate.stderr
    assert np.dot(estimate.direction, task.direction()) > 0.999


def test_population_quadrature_reproduces_the_closed_form():
    task = GaussianTask(
        np.array([[2.0, 0.5], [0.5, 1.0]]),
        features=[(1.0, "erf", [1.0, 0.0]), (1.0, "sin", [0.6, 0.8]), (0.5, "x**3", [0.0, 1.0])],
    )
    data = task.population(16)
    moment = (data.weights[:, None] * data.targets).T @ data.inputs
    np.testing.assert_allclose(moment[0], task.correlation(), atol=2e-6)
    second = (data.weights[:, None] * data.inputs).T @ data.inputs
    np.testing.assert_allclose(second, task.covariance, atol=1e-13)


def test_vector_teacher_correlation_is_a_sigma():
    sigma = np.array([[2.0, 0.5], [0.5, 1.0]])
    teacher = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    task = GaussianTask(sigma, teacher=teacher)
    np.testing.assert_allclose(task.correlation(), teacher @ sigma)
    data = task.population(2)
    np.testing.assert_allclose(
        (data.weights[:, None] * data.targets).T @ data.inputs, teacher @ sigma, atol=1e-13
    )
    values = task.singular_values()
    assert task.gamma() == values[0] and values[0] > values[1]
    v = task.direction()
    assert np.linalg.norm(task.correlation() @ v) == pytest.approx(values[0])


def test_misaligned_teacher_is_presented_more_strongly_than_its_variance():
    sigma = np.diag([4.0, 1.0])
    u = np.array([1.0, 1.0]) / math.sqrt(2)
    task = GaussianTask(sigma, features=[(1.0, "linear", u)])
    assert task.gamma() == pytest.approx(math.sqrt(17 / 2))  # ‖Σu‖
    assert task.gamma() > u @ sigma @ u == pytest.approx(2.5)


def test_to_dict_is_json_ready():
    import json

    payload = json.loads(json.dumps(_feature_task().to_dict()))
    assert payload["gamma"] == pytest.approx(_feature_task().gamma())
    assert [s["method"] for s in payload["slopes"]] == ["tanh-sinh", "exact", "tanh-sinh"] + [
        "tanh-sinh"
    ]


# -- the clock: τ★ ∝ 1/Γ on the full network --------------------------------------------

#: r = 3 with the bottleneck including layer 1 (issue 11's setting): d = 8, N = 16.
WIDTHS, BOTTLENECK = (8, 16, 16, 16, 1), (1, 2, 3)


def test_escape_time_scales_as_one_over_gamma():
    """Anisotropic inputs and rescaled teachers: τ★·Γ̂ is the same within 3% at ε ≤ 0.01.

    The same base sample z (seeded, P = 1024) gives x = L z; Γ̂ is the data set's own (the
    data set is the population). Measured (seeds 0, 1; ε = 0.01, 0.005): max
    |τΓ̂/(τΓ̂)_iso − 1| = 0.0062, 0.0038 (seed 0) and 0.0115, 0.0056 (seed 1), shrinking
    with ε.
    """
    e1 = np.eye(8)[0]
    aniso = np.diag([4.0] + [1.0] * 7)
    tasks = {
        "iso": GaussianTask(np.eye(8), features=[(1.0, "linear", e1)]),
        "aniso": GaussianTask(aniso, features=[(1.0, "linear", e1)]),
        "rescaled": GaussianTask(np.eye(8), features=[(3.0, "linear", e1)]),
        "aniso tanh feature": GaussianTask(aniso, features=[(1.0, "tanh", e1)]),
    }
    for seed in (0, 1):
        for eps in (0.01, 0.005):
            net = he_network(WIDTHS, BOTTLENECK, eps, seed=seed)
            products = {}
            for name, task in tasks.items():
                data = task.dataset(1024, seed=100 + seed)
                gamma_hat = float(np.linalg.norm(data.targets[:, 0] @ data.inputs / data.size))
                run = full_escape_time(net, data, "tanh", rtol=1e-8, record=4, threshold="overlap")
                assert run.escaped, run.message
                products[name] = run.tau * gamma_hat
            for name, value in products.items():
                assert value / products["iso"] == pytest.approx(1, abs=0.03), (seed, eps, name)
    # The population Γ agrees with the closed form: 4× for Σ₁₁ = 4, 3× for the rescaled.
    assert tasks["aniso"].gamma() == 4.0 and tasks["rescaled"].gamma() == 3.0


def _rotated_pair(alpha: float) -> GaussianTask:
    """Two equal tanh features at ±α from e₁: c = 2μ cos α e₁ (ĉ fixed), cancelling at 90°."""
    return GaussianTask(
        np.eye(2),
        features=[
            (1.0, "tanh", [math.cos(alpha), math.sin(alpha)]),
            (1.0, "tanh", [math.cos(alpha), -math.sin(alpha)]),
        ],
    )


def test_rotated_features_slow_the_escape_as_the_vector_norm_not_the_scalar_sum():
    """Mean over seeds of τ★(α)/τ★(0) follows ‖Σβμv‖ ∝ cos α within 3%, not 1.

    The per-feature sum of strengths Σ|β_k μ_k| is the same at every α (it predicts no
    slowdown). Measured (seeds 0–2, ε = 0.01): 1.412, 1.993, 3.958 against 1.414, 2, 3.994.
    """
    angles = [0.0, math.pi / 4, math.pi / 3, math.radians(75.5)]
    seeds = range(3)
    taus = np.zeros((len(seeds), len(angles)))
    for j, alpha in enumerate(angles):
        task = _rotated_pair(alpha)
        data = task.population(12)
        for i in seeds:
            net = he_network((2, 16, 16, 16, 1), BOTTLENECK, 0.01, seed=i)
            run = full_escape_time(net, data, "tanh", rtol=1e-8, record=4, threshold="overlap")
            assert run.escaped, run.message
            taus[i, j] = run.tau
    slowdown = (taus / taus[:, :1]).mean(axis=0)
    gammas = np.array([_rotated_pair(a).gamma() for a in angles])
    vector = gammas[0] / gammas
    scalar_sum = np.array(
        [sum(abs(s.beta * s.mu) for s in _rotated_pair(a).slopes()) for a in angles]
    )
    np.testing.assert_allclose(scalar_sum / scalar_sum[0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(slowdown, vector, rtol=0.03)
    assert slowdown[-1] > 3.5  # the scalar sum's prediction is 1
