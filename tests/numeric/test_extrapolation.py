"""Richardson extrapolation of τ★(ε) on synthetic sequences whose answers are known."""

import itertools
import json
import math

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.extrapolation import extrapolate
from saddle_escape.symbolic.outcomes import ConvergenceError, Status


def L(e):
    return mpmath.log(1 / e)


#: name -> (exponent m, prefactor C (None: finite), τ(ε)), with the singular structure of
#: DESIGN §3: powers, a resonant ln(1/ε), and ε^j ln(1/ε) corrections.
CASES = {
    "power 1": (1, 0.5, lambda e: 0.5 / e + 1 + e),
    "power 1, resonant log": (1, 0.5, lambda e: 0.5 / e + 3 * L(e) + 1 + e),
    "power 1, negative log": (1, 0.5, lambda e: 0.5 / e - 3 * L(e) + 20 - 4 * e),
    "power 2": (2, 0.25, lambda e: 0.25 / e**2 + 0.7 / e + 2 + e),
    "power 2, tanh-like resonance": (
        2,
        0.5,
        lambda e: 0.5 / e**2 + mpmath.mpf(3) / 32 * L(e) - 1 + 2 * e**2 * L(e),
    ),
    "power 2, DESIGN linear case": (2, 0.5, lambda e: 0.5 / e**2 + 0.5 * L(e) + 0.25 + e**4 / 2),
    "power 3": (
        3,
        mpmath.mpf(1) / 6,
        lambda e: 1 / (6 * e**3) + 2 / e**2 + 0.3 / e + 0.1 * L(e) + 5 + e * L(e),
    ),
    "log": (0, 2.0, lambda e: 2 * L(e) + 1 + e + 3 * e * L(e)),
    "log, small coefficient": (0, 0.25, lambda e: 0.25 * L(e) + 4 - 2 * e),
    "finite": (0, None, lambda e: 3 + e - e**2),
    "finite, log correction": (0, None, lambda e: 3 + 2 * e * L(e) + e),
}


def sequence(start, ratio, count):
    return [start * ratio**i for i in range(count)]


#: Sequences: the measured default (12 values 0.1 → 1e-4, as 6-digit strings) and
#: geometric ones with ratios from 0.5 to 0.8.
SEQUENCES = {
    "default": [f"{v:.6g}" for v in np.geomspace(0.1, 1e-4, 12)],
    "0.05 x 0.5^i, 8": sequence(0.05, 0.5, 8),
    "0.1 x 0.7^i, 10": sequence(0.1, 0.7, 10),
    "0.02 x 0.8^i, 12": sequence(0.02, 0.8, 12),
    "0.1 x 0.5^i, 5": sequence(0.1, 0.5, 5),
}


def exact_taus(tau, eps):
    """τ(ε) rounded to float64 (as escape times arrive)."""
    with mpmath.workdps(50):
        return [float(tau(mpmath.mpf(e))) for e in eps]


@pytest.mark.parametrize("m, C", [(1, 0.5), (2, 0.25), (3, 1.0 / 6)])
def test_pure_power_laws(m, C):
    eps = sequence(0.05, 0.5, 10)
    fit = extrapolate(eps, [C / e**m + 1 + e for e in eps])
    assert fit.regime == "power" and fit.status is Status.SUCCESS
    assert fit.exponent == pytest.approx(m, abs=1e-8)
    assert fit.prefactor == pytest.approx(C, rel=1e-12)


@pytest.mark.parametrize(
    "name", ["power 1, resonant log", "power 2, tanh-like resonance", "power 3"]
)
def test_resonant_logs_do_not_bias_the_prefactor(name):
    m, C, tau = CASES[name]
    eps = SEQUENCES["default"]
    fit = extrapolate(eps, exact_taus(tau, eps))
    assert fit.regime == "power" and round(fit.exponent) == m
    assert fit.prefactor == pytest.approx(float(C), rel=1e-10)


def test_log_regime_reports_the_coefficient_of_the_logarithm():
    _, D, tau = CASES["log, small coefficient"]
    eps = SEQUENCES["0.05 x 0.5^i, 8"]
    fit = extrapolate(eps, exact_taus(tau, eps))
    assert fit.regime == "log" and fit.prefactor == pytest.approx(D, rel=1e-12)
    assert abs(fit.exponent) <= fit.exponent_error  # the slopes only approach 0


def test_finite_limit():
    _, _, tau = CASES["finite"]
    eps = SEQUENCES["0.05 x 0.5^i, 8"]
    fit = extrapolate(eps, exact_taus(tau, eps))
    assert fit.regime == "finite" and fit.prefactor is None
    assert abs(fit.exponent) <= fit.exponent_error


@pytest.mark.parametrize(
    "case, seq", list(itertools.product(CASES, SEQUENCES)), ids=lambda v: str(v)
)
def test_every_error_bar_covers_the_true_value(case, seq):
    # Issue 10.5. The estimate used to be the last change between extrapolation orders:
    # here it missed the true exponent by factors up to 1000 and the true prefactor by up
    # to 20000 (the rounding of the τ values was ignored), and called some regimes wrong.
    m, C, tau = CASES[case]
    eps = SEQUENCES[seq]
    fit = extrapolate(eps, exact_taus(tau, eps), throw=False)
    if fit.regime == "unresolved":  # honest: these ε are not small enough
        assert fit.status is Status.NOT_CONVERGED and fit.prefactor is None
        return
    expected = "power" if m else ("finite" if C is None else "log")
    assert fit.regime == expected
    assert abs(fit.exponent - m) <= fit.exponent_error
    if C is not None and fit.prefactor_error is not None:
        assert abs(fit.prefactor - float(C)) <= fit.prefactor_error


def test_the_realistic_sequences_are_resolved():
    for case, (_, _, tau) in CASES.items():
        for seq in ("default", "0.05 x 0.5^i, 8"):
            eps = SEQUENCES[seq]
            assert extrapolate(eps, exact_taus(tau, eps)).status is Status.SUCCESS, (case, seq)


def test_the_accuracy_of_the_data_widens_the_error_bar():
    # τ known to 1e-8 only: the bars must cover the truth, and say so through rtol.
    m, C, tau = CASES["power 2, tanh-like resonance"]
    eps = SEQUENCES["default"]
    rng = np.random.default_rng(0)
    noisy = [t * (1 + 1e-8 * rng.uniform(-1, 1)) for t in exact_taus(tau, eps)]
    fit = extrapolate(eps, noisy, rtol=1e-8)
    assert fit.rtol == 1e-8
    assert abs(fit.prefactor - C) <= fit.prefactor_error
    assert abs(fit.exponent - m) <= fit.exponent_error
    assert fit.prefactor_error > 1e-9  # not the float64 floor


def test_an_unresolved_regime_is_a_status_not_a_guess():
    # A log term 3 ln(1/ε) larger than the power 0.5/ε on every point: no regime yet.
    # The old code called this a log with coefficient 31 ± 2.
    _, _, tau = CASES["power 1, resonant log"]
    eps = sequence(0.1, 0.8, 4)
    with pytest.raises(ConvergenceError, match="fit no regime") as caught:
        extrapolate(eps, exact_taus(tau, eps))
    assert caught.value.status is Status.NOT_CONVERGED
    assert caught.value.result.regime == "unresolved"


def test_a_single_fit_has_an_unknown_error_and_strict_json():
    eps = sequence(0.04, 0.5, 4)  # m = 2 needs m + 3 = 5 points for two fits
    fit = extrapolate(eps, [0.5 / e**2 + 1 + e for e in eps])
    assert fit.regime == "power" and fit.prefactor == pytest.approx(0.5, rel=1e-5)
    assert fit.prefactor_error == math.inf
    d = fit.to_dict()
    assert d["prefactor_error"] is None and d["status"] == "success"
    json.dumps(d, allow_nan=False)


EPS = [0.1, 0.05, 0.025, 0.0125]
TAU = [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    "eps, tau, kwargs, error, message",
    [
        (EPS, [1.0, -2.0, 3.0, 4.0], {}, ValueError, r"tau\[1\] must be a positive"),
        (EPS, [1.0, 0.0, 3.0, 4.0], {}, ValueError, r"tau\[1\] must be a positive"),
        (EPS, [1.0, math.nan, 3.0, 4.0], {}, ValueError, r"tau\[1\]"),
        (EPS, [1.0, 2.0, math.inf, 4.0], {}, ValueError, r"tau\[2\]"),
        (EPS, [1.0, 2.0, 3.0, mpmath.inf], {}, ValueError, r"tau\[3\]"),
        ([0.1, math.nan, 0.025, 0.0125], TAU, {}, ValueError, r"eps\[1\]"),
        ([math.inf, 0.05, 0.025, 0.0125], TAU, {}, ValueError, r"eps\[0\]"),
        ([0.1, 0.05, 0.025, -0.0125], TAU, {}, ValueError, r"eps\[3\]"),
        (EPS, [1.0, 2.0, "three", 4.0], {}, ValueError, r"tau\[2\] = 'three'"),
        (EPS, [1.0, 2.0, True, 4.0], {}, TypeError, r"tau\[2\] must be a real number"),
        (EPS, [1.0, 2.0, None, 4.0], {}, TypeError, r"tau\[2\] must be a real number"),
        ([0.1, 0.05, 0.02, 0.0125], TAU, {}, ValueError, "geometrically"),
        ([0.1, 0.2, 0.4, 0.8], TAU, {}, ValueError, "decrease"),
        (EPS[:3], TAU[:3], {}, ValueError, "at least 4"),
        (EPS, TAU[:3], {}, ValueError, "at least 4"),
        (EPS, TAU, {"dps": 5}, ValueError, "dps"),
        (EPS, TAU, {"dps": "30"}, ValueError, "dps"),
        (EPS, TAU, {"rtol": -1.0}, ValueError, "rtol"),
        (EPS, TAU, {"throw": "no"}, TypeError, "throw"),
    ],
)
def test_bad_input_is_refused(eps, tau, kwargs, error, message):
    with pytest.raises(error, match=message):
        extrapolate(eps, tau, **kwargs)


def test_no_error_bar_below_the_rounding_of_the_data_or_of_a_float():
    # Issue 10.5: a fit of 30-digit data reported a prefactor error of 2.2e-18 for a
    # prefactor near 1, printed as a float64 that alone is rounded to 1.1e-16.
    m, C, tau = CASES["power 2, DESIGN linear case"]
    eps = SEQUENCES["default"]
    with mpmath.workdps(50):
        digits30 = [mpmath.nstr(tau(mpmath.mpf(e)), 30) for e in eps]
    fit = extrapolate(eps, digits30)
    assert fit.prefactor_error >= 2.0**-53 * C and fit.exponent_error >= 2.0**-53 * m
    assert abs(fit.prefactor - C) <= fit.prefactor_error
    # float64 data: never below their half-ulp; data known to 1e-13: never below that.
    for rtol in (None, 1e-13):
        fit = extrapolate(eps, exact_taus(tau, eps), rtol=rtol)
        assert fit.prefactor_error >= (rtol or 2.0**-53) * C
        assert fit.exponent_error >= (rtol or 2.0**-53) * m


def test_an_mpf_is_as_accurate_as_the_precision_it_was_made_at():
    # mpf values carry no precision: they are taken to be exact to the caller's precision
    # (it used to be the extrapolation's own 40 digits, whatever the caller's).
    eps = SEQUENCES["default"]
    _, _, tau = CASES["power 1"]
    with mpmath.workdps(30):
        values = [tau(mpmath.mpf(e)) for e in eps]
        assert extrapolate(eps, values).rtol == pytest.approx(float(mpmath.mp.eps))
    with mpmath.workdps(15):
        rounded = [+v for v in values]
    fit = extrapolate(eps, rounded)
    assert fit.rtol == pytest.approx(2.0**-52)
    assert abs(fit.prefactor - 0.5) <= fit.prefactor_error


@pytest.mark.parametrize("case", ["log", "finite"])
def test_no_exponent_outside_the_power_regime(case):
    # The local slopes approach 0 like 1/ln(1/ε) (log) or ε (finite): not an exponent.
    _, _, tau = CASES[case]
    eps = SEQUENCES["0.05 x 0.5^i, 8"]
    fit = extrapolate(eps, exact_taus(tau, eps))
    assert fit.regime == case
    d = fit.to_dict()
    assert d["exponent"] is None and d["exponent_error"] is None
    json.dumps(d, allow_nan=False)
