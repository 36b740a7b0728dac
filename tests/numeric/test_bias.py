"""Biases on the manifold (issue 10.3): class D escapes once an output bias fits the offset.

The law (saddle_escape.symbolic.bias) is derived by hand — the centred loss, the fast fit
of the output's mean, the slow manifold's metric λ on Y_L and one quadrature — and checked
here against things it does not compute: the manifold flow with the bias as a coordinate
(escape times, Richardson-extrapolated), mpmath quadrature of the slow-manifold integral,
the bias-free critical-depth law where σ(0) = 0, and finite differences of the loss.
"""

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.extrapolation import extrapolate
from saddle_escape.numeric.measured import measure_asymptotics
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.bias import bias_law, saddle_rate, slow_factor
from saddle_escape.symbolic.reduction import parse_biases

from saddle_escape.cli import main


def test_parse_biases_reads_keywords_and_layer_numbers():
    assert parse_biases("output", 5) == (4,)
    assert parse_biases("all", 2) == (0, 1)
    assert parse_biases("none", 3) == ()
    assert parse_biases([3, "1"], 3) == (0, 2)
    for bad in ("0", "x", "1.5", [True]):
        with pytest.raises(ValueError, match="biases"):
            parse_biases(bad, 3)


@pytest.mark.parametrize("biases", ["output", "all", "2"])
def test_the_gradient_in_the_bias_coordinates_is_the_loss_derivative(biases):
    model = build_model("sigmoid", 3, 8, "1,eps,eps", biases=biases)
    dyn = ReducedDynamics(model)
    rng = np.random.default_rng(3)
    point = np.concatenate([[1.0, 0.3, 0.4], rng.normal(0, 0.5, len(model.biases))])
    grad = dyn.gradient(point)
    assert grad.shape == (3 + len(model.biases),)
    for i in range(len(point)):
        step = np.zeros_like(point)
        step[i] = 1e-5
        numeric = (dyn.loss(point + step) - dyn.loss(point - step)) / 2e-5
        assert abs(grad[i] - numeric) <= 1e-8 * max(1.0, abs(numeric))


@pytest.mark.parametrize("biases", ["output", "all"])
def test_an_odd_network_leaves_its_biases_at_zero(biases):
    # tanh is odd: E F = 0 and every bias gradient vanishes at B = 0, so the flow with
    # biases is the bias-free one, escape time for escape time.
    eps = [0.05, 0.02]
    plain = escape_time("tanh", 4, 16, "1,eps,eps,eps", eps)
    with_bias = escape_time("tanh", 4, 16, "1,eps,eps,eps", eps, biases=biases)
    for a, b in zip(plain.points, with_bias.points, strict=True):
        assert abs(a.tau - b.tau) <= 1e-9 * a.tau


def test_with_sigma0_zero_the_bias_law_is_the_critical_depth_law():
    model = build_model("tanh", 4, 16, "1,eps,eps,eps")
    law = bias_law(build_model("tanh", 4, 16, "1,eps,eps,eps", biases="output"))
    plain = asymptotics(model)
    assert law.lam == 1 and law.p == plain.p == 3
    assert abs(float(law.prefactor) - float(plain.prefactor)) <= 1e-25 * float(plain.prefactor)


@pytest.mark.parametrize("r", [3, 4, 5, 7])
@pytest.mark.parametrize("lam", [sp.Integer(1), sp.Integer(2), sp.Integer(5), sp.Rational(17, 4)])
def test_the_slow_factor_is_the_slow_manifold_integral(r, lam):
    # √λ (r − 2) ∫_1^∞ dw / (w^(r−2) √(w² − β²)), β² = 1 − 1/λ, by mpmath quadrature.
    with mpmath.workdps(30):
        lam_mp = mpmath.mpf(lam.p) / lam.q
        beta2 = 1 - 1 / lam_mp
        integral = mpmath.quad(
            lambda w: 1 / (w ** (r - 2) * mpmath.sqrt(w * w - beta2)), [1, 2, mpmath.inf]
        )
        expected = sp.Float(mpmath.nstr(mpmath.sqrt(lam_mp) * (r - 2) * integral, 30), 30)
    assert abs(sp.N(slow_factor(lam, r), 30) - expected) < sp.Float("1e-25")


def test_at_r_3_the_slow_factor_is_an_arcsine():
    lam = sp.Integer(5)
    beta = sp.sqrt(1 - 1 / lam)
    assert sp.simplify(slow_factor(lam, 3) - sp.sqrt(lam) * sp.asin(beta) / beta) == 0


def test_sigmoid_does_not_escape_without_a_bias_and_escapes_with_one():
    plain = escape_time("sigmoid", 4, 16, "1,eps,eps,eps", [0.01], throw=False)
    assert plain.status.value == "no_escape"
    biased = escape_time("sigmoid", 4, 16, "1,eps,eps,eps", [0.01], biases="output")
    assert biased.status.value == "escaped" and biased.points[0].status.value == "escaped"


def test_sigmoid_with_an_output_bias_follows_the_slow_manifold_law():
    # Theory: λ = 1 + Nσ(0)² = 5, prefactor √5·arcsin(β)/(β k) with the centred k.
    model = build_model("sigmoid", 4, 16, "1,eps,eps,eps", biases="output")
    law = bias_law(model)
    assert (law.regime, law.p, law.lam) == ("power", 3, 5)
    eps = [0.01, 0.005, 0.0025, 0.00125]
    result = escape_time(model, eps=eps)
    fit = extrapolate(eps, [p.tau for p in result.points])
    assert fit.regime == "power"
    assert abs(fit.exponent - 1) <= max(fit.exponent_error, 1e-6)
    # Measured: 179.870065 ± 0.012 against the law's 179.870119; the bias-free balanced
    # prefactor 1/k (64.98) and the law without the fast phase (√λ·arcsinh(2)/(2k), 104.9)
    # are far outside.
    assert abs(fit.prefactor - float(law.prefactor)) <= fit.prefactor_error
    assert fit.prefactor_error < 1e-4 * fit.prefactor


def test_sigmoid_all_small_with_an_output_bias_approaches_its_law_at_order_eps():
    # r = 4: τ★ ε² → √5(√5 − 1)·… = 80√5 − 80 exactly (k = 1/64); the error halves with ε.
    model = build_model("sigmoid", 4, 16, "eps,eps,eps,eps", biases="output")
    law = bias_law(model)
    assert law.exact and sp.simplify(law.prefactor - (80 * sp.sqrt(5) - 80)) == 0
    eps = [0.04, 0.02]
    taus = [p.tau for p in escape_time(model, eps=eps).points]
    errors = [abs(t * e**2 / float(law.prefactor) - 1) for t, e in zip(taus, eps, strict=True)]
    assert errors[1] < 0.02
    assert 0.35 < errors[1] / errors[0] < 0.65


def test_bias_inputs_that_cannot_be_served_are_refused_by_name():
    with pytest.raises(ValueError, match="piecewise"):
        build_model("relu", 4, 16, "1,eps,eps,eps", biases="output")
    model = build_model("sigmoid", 4, 16, "1,eps,eps,eps", biases="all")
    with pytest.raises(ValueError, match="hidden-layer biases"):
        bias_law(model)
    with pytest.raises(ValueError, match="scalar"):
        escape_time(model, eps=[0.1], system="scalar")
    with pytest.raises(ValueError, match="bias_law"):
        asymptotics(model)
    with pytest.raises(TypeError, match="bias_law needs a ReducedModel"):
        bias_law("sigmoid")


def test_measure_asymptotics_takes_the_bias_law_and_the_manifold_numbers():
    m = measure_asymptotics(
        "softplus", 4, 16, "1,eps,eps,eps", eps=["0.02", "0.01", "0.005", "0.0025"], biases="output"
    )
    assert m.escape.system == "manifold"
    assert m.theory.lam == 1 + 16 * sp.log(2) ** 2
    assert abs(m.fit.prefactor - float(m.theory.prefactor)) <= m.fit.prefactor_error


def test_cli_escape_with_an_output_bias(capsys):
    code = main(
        ["escape", "--activation", "sigmoid", "--eps", "0.02", "--biases", "output", "--json"]
    )
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["biases"] == [4]
    assert payload["points"][0]["status"] == "escaped"
    code = main(["escape", "--activation", "sigmoid", "--eps", "0.02", "--biases", "9"])
    assert code == 2 and "layer 9" in capsys.readouterr().err


def test_at_r_2_the_log_coefficient_is_the_saddles_unstable_rate():
    # The differences τ(ε/10) − τ(ε) over ln 10 tend to 1/μ (μ the positive root of
    # μ²(μ + λ) = k²(μ + 1)); measured 154.30115, against the slow-manifold √λ/k = 154.70.
    model = build_model("sigmoid", 4, 16, "1,1,eps,eps", biases="output")
    law = bias_law(model)
    assert law.regime == "log" and law.lam == 5
    taus = [p.tau for p in escape_time(model, eps=[1e-4, 1e-5, 1e-6]).points]
    slopes = [(b - a) / math.log(10) for a, b in zip(taus, taus[1:], strict=False)]
    assert abs(slopes[-1] - float(law.prefactor)) <= 1e-5 * float(law.prefactor)
    assert abs(slopes[-1] - math.sqrt(5) / float(law.k)) > 1e-3 * slopes[-1]


def test_the_saddle_rate_is_the_linearization_s_eigenvalue():
    k, lam = 0.0144542098728603, 5.0
    a = math.sqrt(lam - 1)
    M = np.array([[0, k, 0], [k, -(a**2), -a], [0, -a, -1]])
    expected = np.linalg.eigvalsh(M).max()
    assert abs(float(saddle_rate(sp.Float(k, 30), sp.Integer(5))) - expected) < 1e-15


def test_the_full_network_with_biases_started_on_the_manifold_is_the_reduced_flow():
    # Full matrices and bias vectors (b_l = B_l/√N · 1 on the manifold, zero at t = 0), the
    # population loss on the same Gauss rule, backpropagation: every bias trains, as with
    # biases="all" in the reduced model. A wrong bias normalization would change τ★.
    from saddle_escape.numeric.network import Network
    from saddle_escape.numeric.simulate import (
        full_escape_time,
        manifold_network,
        population_dataset,
    )

    net = manifold_network([1.0, 0.05, 0.05], 4)
    net = Network(net.weights, tuple(np.zeros(w.shape[0]) for w in net.weights))
    full = full_escape_time(net, population_dataset(48), "sigmoid", rtol=1e-12)
    reduced = escape_time("sigmoid", 3, 4, "1,eps,eps", [0.05], biases="all")
    assert full.status.value == "escaped"
    assert abs(full.tau - reduced.points[0].tau) <= 1e-9 * full.tau
    output_only = escape_time("sigmoid", 3, 4, "1,eps,eps", [0.05], biases="output")
    assert abs(output_only.points[0].tau - full.tau) > 1e-3 * full.tau  # the hidden ones matter
