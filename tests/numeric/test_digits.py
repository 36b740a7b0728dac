"""Digits you can trust (issue 10.5, conventions §7): calibration against independent values.

* Every float64 escape time's ``digits`` is a lower bound of its true agreement, checked
  against the closed form of the exact linear case (both systems, many ε, several
  tolerances) and against 30-digit references for tanh and GELU on both systems (scalar:
  escape_time's mpmath route; manifold: an independent Bulirsch–Stoer route here); and no
  point is credited with more than float64 holds (:data:`FLOAT64_DIGITS`).
* Extrapolated exponents and prefactors lie within their error bars of the exact values
  (linear: ε^-2/2 exactly; tanh ``1,eps,eps,eps``: exponent 1 and the normal form's
  prefactor to 30 digits), from float64 and from 30-digit data, on several ε grids; and no
  error bar is below what the data or a float64 hold.
* No exponent is reported in the log regime: the coefficient of ln(1/ε) instead.
"""

import math

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.engine import MIN_RTOL
from saddle_escape.numeric.escape import FLOAT64_DIGITS, REDUCED_SYSTEMS, escape_time
from saddle_escape.numeric.extrapolation import extrapolate
from saddle_escape.numeric.measured import measure_asymptotics

from saddle_escape import render
from tests.problems import linear_escape_time

LINEAR = ("linear", 4, 16, "eps,eps,eps,eps")
#: Sixteen ε from 0.3 to 1e-4, geometric (ratio ≈ 0.587), as 6-digit decimal strings.
CALIBRATION_EPS = [f"{v:.6g}" for v in np.geomspace(0.3, 1e-4, 16)]

#: τ★ of ``(σ, 4, 16, "1,eps,eps,eps")`` on the scalar system at ``CALIBRATION_EPS``, from
#: ``escape_time(..., system="scalar", dps=30)`` (mpmath quadrature; its two computations,
#: at 38 and 44 digits with 51 and 63 Gauss nodes, agreed on all 30 digits at every ε).
#: An independent route from the float64 engine (ODE integration, float64 quadrature);
#: :func:`test_the_stored_references_are_30_digit_values` recomputes some (slow).
SCALAR_REFERENCES = {
    "tanh": [
        "2.3046906688464293421159710908222",
        "4.7988173764776543667166736631495",
        "9.0541921259159509086079155698316",
        "16.301538751876163133060419380493",
        "28.653889000196503971401244610342",
        "49.715207274786431894852082066759",
        "85.629117022345095054228692999918",
        "146.87418998220559244291530676238",
        "251.31604694274828212680733324502",
        "429.42308411946775374278531654739",
        "733.15415801004955620688079200595",
        "1251.1160333967168415151029054245",
        "2134.411961686252352447744864398",
        "3640.711957624898502822394593347",
        "6209.4609739671174178080617405794",
        "10590.026595234425999819472108676",
    ],
    "gelu": [
        "19.050532825376075873725236630971",
        "37.141028329360803293345606379189",
        "68.530225428731897910144546106884",
        "122.55973968921242285767688159926",
        "215.17859599841347055531395662918",
        "373.5965318278999541788171047767",
        "644.21144159088084412230612262944",
        "1106.1682996495234019387446181445",
        "1894.4114875719176612238541856079",
        "3239.0804319186039025725286211806",
        "5532.6415973554458862751767724812",
        "9444.378841116706068068838821603",
        "16115.638491680303283014415045632",
        "27492.710657601075749029530846377",
        "46894.908218576066845412868848356",
        "79982.520371946389241538711105329",
    ],
}
#: The normal form's prefactor of tanh ``1,eps,eps,eps`` (r = 3: τ★ ≈ C/ε), to 30 digits.
TANH_PREFACTOR = "1.0591226745197710092648103829514189"


def linear_reference(eps: str):
    with mpmath.workdps(40):
        return linear_escape_time(eps, mpmath)


def reference(case: str, index: int):
    if case == "linear":
        return linear_reference(CALIBRATION_EPS[index])
    with mpmath.workdps(40):
        return mpmath.mpf(SCALAR_REFERENCES[case][index])


def relative_error(value, exact) -> float:
    with mpmath.workdps(40):
        return float(abs(mpmath.mpf(value) - exact) / abs(exact))


def assert_digits_are_lower_bounds(case, result, indices, exact=reference):
    """Every point: 10^-digits ≥ its true relative error (against ``exact(case, index)``),
    and digits ≤ FLOAT64_DIGITS."""
    table = []
    for i, point in zip(indices, result.points, strict=True):
        assert point.status.ok, (case, CALIBRATION_EPS[i], point.message)
        error = relative_error(point.tau, exact(case, i))
        table.append((CALIBRATION_EPS[i], point.digits, -math.log10(error) if error else math.inf))
        assert 0 <= point.digits <= FLOAT64_DIGITS
        assert error <= 10.0**-point.digits, (case, table[-1])
    return table


# -- (a) float64 digits against the closed form and 30-digit references -------------------


@pytest.mark.parametrize("rtol", [1e-8, 1e-12, 1e-13])
@pytest.mark.parametrize("system", REDUCED_SYSTEMS)
def test_linear_digits_are_lower_bounds_at_every_eps(system, rtol):
    # rtol 1e-13: both computations near float64's floor, where they agree on more digits
    # than float64 holds; the cap must keep the claim below the true accuracy.
    result = escape_time(*LINEAR, [float(e) for e in CALIBRATION_EPS], system=system, rtol=rtol)
    table = assert_digits_are_lower_bounds("linear", result, range(16))
    if rtol <= 1e-12:
        assert all(d >= 12 for _, d, _ in table)  # and not needlessly pessimistic


@pytest.fixture(scope="module")
def tanh_scalar_float64():
    """float64 (default tolerance) τ★ of tanh on the scalar system at every CALIBRATION_EPS."""
    eps = [float(e) for e in CALIBRATION_EPS]
    return escape_time("tanh", 4, 16, "1,eps,eps,eps", eps, system="scalar")


def test_tanh_scalar_digits_are_lower_bounds(tanh_scalar_float64):
    table = assert_digits_are_lower_bounds("tanh", tanh_scalar_float64, range(16))
    assert all(d >= 12 for _, d, _ in table)


def test_gelu_scalar_digits_are_lower_bounds():
    indices = range(1, 16, 3)  # every third point in the default suite (gelu is slower)
    eps = [float(CALIBRATION_EPS[i]) for i in indices]
    result = escape_time("gelu", 4, 16, "1,eps,eps,eps", eps, system="scalar")
    assert_digits_are_lower_bounds("gelu", result, indices)


@pytest.mark.slow
@pytest.mark.parametrize("rtol", [1e-6, 1e-8, 1e-10, 1e-12, 1e-13])
@pytest.mark.parametrize("case", ["tanh", "gelu"])
def test_scalar_digits_are_lower_bounds_at_every_tolerance(case, rtol):
    eps = [float(e) for e in CALIBRATION_EPS]
    result = escape_time(case, 4, 16, "1,eps,eps,eps", eps, system="scalar", rtol=rtol)
    assert_digits_are_lower_bounds(case, result, range(16))


@pytest.mark.slow
@pytest.mark.parametrize("case, index", [("tanh", 2), ("tanh", 15), ("gelu", 8)])
def test_the_stored_references_are_30_digit_values(case, index):
    eps = CALIBRATION_EPS[index]
    point = escape_time(case, 4, 16, "1,eps,eps,eps", [eps], system="scalar", dps=30).points[0]
    with mpmath.workdps(40):
        stored = mpmath.mpf(SCALAR_REFERENCES[case][index])
        assert abs(point.tau - stored) / stored < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("case", ["linear", "tanh"])
def test_float64_never_claims_more_than_it_holds(case):
    # At the tightest tolerance allowed (the engine's floor) both computations sit on
    # float64's rounding floor and agree on 14 or more digits, while the true error is
    # 1e-14 (linear) to 3e-14 (tanh): the cap, not the agreement, keeps the claim honest.
    indices = [2, 9, 15]
    init = LINEAR[3] if case == "linear" else "1,eps,eps,eps"
    eps = [float(CALIBRATION_EPS[i]) for i in indices]
    result = escape_time(case, 4, 16, init, eps, rtol=MIN_RTOL, system="scalar")
    assert [p.digits for p in result.points] == [FLOAT64_DIGITS] * 3
    assert_digits_are_lower_bounds(case, result, indices)
    assert all(d["digits"] <= FLOAT64_DIGITS for d in result.to_dict()["points"])
    with pytest.raises(ValueError, match="rtol must be at least 2.22e-14"):
        escape_time(*LINEAR, [0.1], rtol=MIN_RTOL / 2)


# -- (a') the manifold system: float64 digits against independent 30-digit references -------

#: Indices of CALIBRATION_EPS with manifold references: ε = 0.3 … 8.46e-4.
MANIFOLD_INDICES = [0, 2, 4, 6, 8, 11]
#: τ★ of ``(σ, 4, 16, "1,eps,eps,eps")`` on the manifold system (the full four-dimensional
#: reduced flow) at CALIBRATION_EPS[i], from :func:`manifold_reference`, a route independent
#: of the float64 engine (DOP853, float64 Gauss quadrature) and of escape_time's mpmath
#: routes (``escape_time(..., system="manifold", dps=30)`` takes over 5 min a point): the
#: flow integrated in t by Gragg–Bulirsch–Stoer extrapolation, E_g by the trapezoid rule in
#: g, F and ∇𝓛 by the chain rule written out below, the event by Newton on the last step.
#: Computed twice, one process at a time on the 2-core machine: (dps 38, trapezoid step 0.22
#: on |g| ≤ 13.5, up to 14 columns, tolerance 1e-32: 10-54 s a point for tanh, 60-181 s for
#: GELU) and (dps 46, step 0.175 on |g| ≤ 15.5, up to 16 columns, tolerance 1e-40: 24-132 s
#: for tanh, 158-471 s for GELU); 53 min in all. At every point the two agree to a relative
#: 10^-31.9 or less (tanh 31.9-32.9 digits, GELU 32.4-33.1); the second is stored, rounded
#: to 32 digits.
#: :func:`test_a_stored_manifold_reference_is_recomputed` recomputes one (slow).
MANIFOLD_REFERENCES = {
    "tanh": {
        0: "2.1448778682070351846883449787483",  # ε = 0.3
        2: "8.7853109729162306501353715867516",  # ε = 0.103159
        4: "28.335256647629035208997774105559",  # ε = 0.0354723
        6: "85.291717006127919405532351290044",  # ε = 0.0121976
        8: "250.97198530823943842350254934409",  # ε = 0.00419427
        11: "1250.7691522737190286915291362284",  # ε = 0.000845731
    },
    "gelu": {
        0: "16.009608299775091026959425706694",  # ε = 0.3
        2: "64.30952338315878680118052891727",  # ε = 0.103159
        4: "210.46626957999597368489559389939",  # ε = 0.0354723
        6: "639.31819487667936123125093238269",  # ε = 0.0121976
        8: "1889.4546163838614435222593704527",  # ε = 0.00419427
        11: "9439.3951495127251526191871896459",  # ε = 0.000845731
    },
}


def manifold_exact(case: str, index: int):
    with mpmath.workdps(40):
        return mpmath.mpf(MANIFOLD_REFERENCES[case][index])


def _sigma_and_slope(case):
    """σ and σ' at one point, at the current mpmath precision (tanh or GELU, erf form)."""
    if case == "tanh":
        return lambda z: (mpmath.tanh(z), 1 / mpmath.cosh(z) ** 2)
    root2, density = mpmath.sqrt(2), 1 / mpmath.sqrt(2 * mpmath.pi)

    def gelu(z):  # z Φ(z) and Φ(z) + z φ(z)
        cdf = (1 + mpmath.erf(z / root2)) / 2
        return z * cdf, cdf + z * density * mpmath.exp(-z * z / 2)

    return gelu


def _manifold_loss_gradient(case, step, cutoff, width=16, teacher=1):
    """𝓛(Y) and ∇𝓛 of the depth-4 reduced model (conventions §3),
    F = √N Y4 σ(Y3 σ(Y2 σ(Y1 g/√N))), E_g by the trapezoid rule in g on |g| ≤ cutoff."""
    values = _sigma_and_slope(case)
    step, count = mpmath.mpf(step), int(cutoff / float(step))
    density = 1 / mpmath.sqrt(2 * mpmath.pi)
    rule = [
        (k * step, step * density * mpmath.exp(-((k * step) ** 2) / 2))
        for k in range(-count, count + 1)
    ]
    if case == "tanh":  # odd σ: the integrands are even in g, so g ≥ 0 only
        rule = [(g, w if g == 0 else 2 * w) for g, w in rule if g >= 0]
    root, s = mpmath.sqrt(width), mpmath.mpf(teacher)

    def evaluate(Y):
        Y1, Y2, Y3, Y4 = Y
        loss, grad = mpmath.mpf(0), [mpmath.mpf(0)] * 4
        for g, w in rule:
            h1, d1 = values(Y1 * g / root)
            h2, d2 = values(Y2 * h1)
            h3, d3 = values(Y3 * h2)
            residual = root * Y4 * h3 - s * g
            c = w * residual
            b3 = c * root * Y4 * d3  # w·residual·∂F/∂(Y3 h2)
            b2 = b3 * Y3 * d2  # w·residual·∂F/∂(Y2 h1)
            loss += c * residual / 2
            grad[3] += c * root * h3
            grad[2] += b3 * h2
            grad[1] += b2 * h1
            grad[0] += b2 * Y2 * d1 * g / root
        return loss, grad

    return evaluate


def _extrapolated_step(rate, Y, h, tol, columns, work):
    """One Gragg–Bulirsch–Stoer step: the midpoint rule with 2, 4, …, 2·columns substeps,
    extrapolated in h²; ``(Y(t + h), gap, column)``, or ``(None, None, columns)`` when no
    column agrees with the one before to ``tol``."""
    table = []
    for j in range(columns):
        n = 2 * (j + 1)
        work[0] += n + 1
        hs = h / n
        z0, z1 = Y, [y + hs * d for y, d in zip(Y, rate(Y), strict=True)]
        for _ in range(n - 1):
            z0, z1 = z1, [a + 2 * hs * d for a, d in zip(z0, rate(z1), strict=True)]
        row = [[(a + b + hs * d) / 2 for a, b, d in zip(z0, z1, rate(z1), strict=True)]]
        for k in range(1, j + 1):
            ratio = (mpmath.mpf(n) / (n - 2 * k)) ** 2 - 1
            row.append(
                [a + (a - b) / ratio for a, b in zip(row[k - 1], table[j - 1][k - 1], strict=True)]
            )
        table.append(row)
        if j >= 2:
            scale = mpmath.mpf("1e-3")
            gap = max(
                abs(a - b) / max(abs(a), scale) for a, b in zip(row[j], row[j - 1], strict=True)
            )
            if gap < tol:
                return row[j], gap, j
    return None, None, columns


def manifold_reference(case, eps, *, dps, step, cutoff, columns, max_work=300_000):
    """τ★ (loss fraction ½) of ``(case, 4, 16, "1,eps,eps,eps")`` on the manifold system at
    ``dps`` digits, independently of saddle_escape's integrators and quadratures.

    Gradient flow dY/dt = −∇𝓛 from Y = (1, ε, ε, ε), Bulirsch–Stoer steps to a relative
    tolerance 10^(6 − dps) (step length adapted, at most 2000 steps and ``max_work``
    gradient evaluations); the step that crosses ½𝓛(0) is shortened by Newton's method on
    𝓛(t) − ½𝓛(0), with d𝓛/dt = −|∇𝓛|² (at most 40 iterations). Returns (τ★, evaluations).
    """
    with mpmath.workdps(dps):
        tol = mpmath.mpf(10) ** (6 - dps)
        evaluate = _manifold_loss_gradient(case, step, cutoff)
        work = [0]

        def rate(Y):
            if work[0] > max_work:
                raise RuntimeError(f"more than {max_work} gradient evaluations")
            return [-d for d in evaluate(Y)[1]]

        def advance(Y, h):  # Y(t + h) in 1, 2, 4, … 32 equal steps
            for parts in (1, 2, 4, 8, 16, 32):
                z = Y
                for _ in range(parts):
                    z, _, _ = _extrapolated_step(rate, z, h / parts, tol, columns, work)
                    if z is None:
                        break
                else:
                    return z
            raise RuntimeError(f"no Bulirsch–Stoer step converges over h = {h}")

        eps = mpmath.mpf(eps)
        Y = [mpmath.mpf(1), eps, eps, eps]
        target = evaluate(Y)[0] / 2
        t, h = mpmath.mpf(0), mpmath.mpf(1) / 100
        for _ in range(2000):
            new, gap, column = _extrapolated_step(rate, Y, h, tol, columns, work)
            if new is None:
                h /= 2
                continue
            loss_new = evaluate(new)[0]
            if loss_new <= target:
                break
            Y, t = new, t + h
            grow = 0.9 * (tol / max(gap, tol * 1e-30)) ** (mpmath.mpf(1) / (2 * column + 1))
            if column <= columns - 6:
                grow = max(grow, 1.5)
            h *= min(3, max(0.3, grow))
        else:
            raise RuntimeError("no escape within 2000 steps")
        loss = evaluate(Y)[0]
        last = h * (loss - target) / (loss - loss_new)
        for _ in range(40):
            loss, grad = evaluate(advance(Y, last))
            delta = (loss - target) / mpmath.fsum(d * d for d in grad)
            last += delta
            if abs(delta) < tol * abs(last):
                return t + last, work[0]
        raise RuntimeError("Newton's method on the escape event does not converge")


@pytest.mark.parametrize("rtol", [None, 1e-8, MIN_RTOL])
@pytest.mark.parametrize("case", ["tanh", "gelu"])
def test_manifold_digits_are_lower_bounds(case, rtol):
    # rtol None: escape_time's default (1e-12); MIN_RTOL: the engine's floor, where both
    # computations agree on more digits than float64 holds and the cap must hold the claim.
    eps = [float(CALIBRATION_EPS[i]) for i in MANIFOLD_INDICES]
    options = {} if rtol is None else {"rtol": rtol}
    result = escape_time(case, 4, 16, "1,eps,eps,eps", eps, system="manifold", **options)
    assert result.system == "manifold" and result.fraction == 0.5
    table = assert_digits_are_lower_bounds(case, result, MANIFOLD_INDICES, manifold_exact)
    if rtol is None or rtol <= 1e-12:
        assert all(d >= 12 for _, d, _ in table)  # and not needlessly pessimistic


@pytest.mark.slow
def test_a_stored_manifold_reference_is_recomputed():
    # The first (38-digit) computation of one stored point.
    index = 2
    tau, _ = manifold_reference(
        "gelu", CALIBRATION_EPS[index], dps=38, step="0.22", cutoff=13.5, columns=14
    )
    with mpmath.workdps(40):
        stored = manifold_exact("gelu", index)
        assert abs(tau - stored) / stored < mpmath.mpf(10) ** -30


# -- (b) error bars that cover: exact exponents and prefactors ------------------------------


def _sequence(start, ratio, count):
    return [f"{start * ratio**i:.12g}" for i in range(count)]


#: ε grids for the linear case (closed form at any ε).
LINEAR_GRIDS = {
    "default 12": [f"{v:.6g}" for v in np.geomspace(0.1, 1e-4, 12)],
    "0.05·0.5^i, 8": _sequence(0.05, 0.5, 8),
    "0.1·0.7^i, 10": _sequence(0.1, 0.7, 10),
    "0.02·0.8^i, 12": _sequence(0.02, 0.8, 12),
    "0.01·0.5^i, 6": _sequence(0.01, 0.5, 6),
    "calibration 16": CALIBRATION_EPS,
    "calibration, every other": CALIBRATION_EPS[::2],
    "calibration, first 10": CALIBRATION_EPS[:10],
}
#: Index sets of CALIBRATION_EPS for tanh (references stored there only).
TANH_GRIDS = {
    "all 16": slice(None),
    "last 12": slice(-12, None),
    "last 8": slice(-8, None),
    "last 6": slice(-6, None),
    "every other": slice(None, None, 2),
    "every other, odd": slice(1, None, 2),
    "first 10": slice(None, 10),
    "middle 8": slice(4, 12),
}


def assert_bars_cover(fit, exponent, prefactor, rtol):
    """The exact exponent and prefactor lie within the error bars, which are not below
    the data's rounding (``rtol``) nor below what a float64 holds."""
    assert fit.regime == "power"
    with mpmath.workdps(40):
        prefactor = mpmath.mpf(prefactor)
        assert abs(fit.exponent - exponent) <= fit.exponent_error
        assert abs(mpmath.mpf(fit.prefactor) - prefactor) <= fit.prefactor_error
    floor = max(rtol, 2.0**-53) * float(prefactor)
    assert fit.prefactor_error >= floor
    assert fit.exponent_error >= 2.0**-53 * exponent


@pytest.mark.parametrize("grid", LINEAR_GRIDS)
def test_linear_error_bars_cover_the_exact_values(grid):
    eps = LINEAR_GRIDS[grid]
    with mpmath.workdps(40):
        exact = [linear_escape_time(e, mpmath) for e in eps]
        digits30 = [mpmath.nstr(t, 30) for t in exact]
    # 30-digit data (decimal strings), and the same rounded to float64.
    assert_bars_cover(extrapolate(eps, digits30), 2, "0.5", 1e-30)
    floats = [float(t) for t in exact]
    assert_bars_cover(extrapolate([float(e) for e in eps], floats), 2, "0.5", 2.0**-53)
    # float64 escape times, with their digits as the data's accuracy (as measured does).
    points = escape_time(*LINEAR, [float(e) for e in eps], system="scalar").points
    rtol = 10.0 ** -min(p.digits for p in points)
    fit = extrapolate([float(e) for e in eps], [float(p.tau) for p in points], rtol=rtol)
    assert_bars_cover(fit, 2, "0.5", rtol)


@pytest.mark.parametrize("grid", TANH_GRIDS)
def test_tanh_error_bars_cover_the_normal_form(grid, tanh_scalar_float64):
    pick = TANH_GRIDS[grid]
    eps = CALIBRATION_EPS[pick]
    # 30-digit references, as strings and as floats (rtol 1e-15 as measured passes them).
    digits30 = SCALAR_REFERENCES["tanh"][pick]
    assert_bars_cover(extrapolate(eps, digits30), 1, TANH_PREFACTOR, 1e-30)
    floats = [float(t) for t in digits30]
    fit = extrapolate([float(e) for e in eps], floats, rtol=1e-15)
    assert_bars_cover(fit, 1, TANH_PREFACTOR, 1e-15)
    # float64 escape times with their digits.
    points = tanh_scalar_float64.points[pick]
    rtol = 10.0 ** -min(p.digits for p in points)
    fit = extrapolate([float(e) for e in eps], [float(p.tau) for p in points], rtol=rtol)
    assert_bars_cover(fit, 1, TANH_PREFACTOR, rtol)


def test_measured_asymptotics_at_30_digits_covers_the_exact_values():
    # mpmath escape times reach the fit as floats with rtol 10^-15 (the conversion rounds
    # to 1.1e-16 at most, so that is an upper bound of the data's error).
    eps = _sequence(0.04, 0.5, 7)
    measured = measure_asymptotics(*LINEAR, eps=eps, dps=30)
    assert all(p.digits == 30 for p in measured.escape.points)
    assert measured.fit.rtol == 1e-15
    assert_bars_cover(measured.fit, 2, "0.5", 1e-15)


def test_30_digit_fit_reports_no_error_below_float64_resolution():
    # The issue: a prefactor error of 2.2e-18 for a prefactor near 1, printed as a float.
    eps = CALIBRATION_EPS
    fit = extrapolate(eps, SCALAR_REFERENCES["tanh"])
    assert fit.prefactor_error >= 2.0**-53 * fit.prefactor
    with mpmath.workdps(40):
        exact = [mpmath.nstr(linear_escape_time(e, mpmath), 30) for e in eps]
    fit = extrapolate(eps, exact)
    assert fit.prefactor_error >= 2.0**-53 * 0.5 and fit.exponent_error >= 2.0**-52


# -- (c) the log regime has a coefficient, not an exponent ---------------------------------


def test_log_regime_reports_the_log_coefficient_not_an_exponent():
    # r = 2 (two ε layers): τ★ ≈ D ln(1/ε); the local slopes tend to 0 only like
    # 1/ln(1/ε), so a numeric exponent (≈ 0.1 here) would mean nothing.
    eps = [f"{v:.6g}" for v in np.geomspace(0.01, 1e-4, 6)]
    measured = measure_asymptotics("tanh", 4, 16, "1,eps,eps,1", eps=eps)
    fit = measured.fit
    assert measured.theory.regime == fit.regime == "log"
    assert abs(fit.prefactor - float(measured.theory.prefactor)) <= fit.prefactor_error
    assert fit.to_dict()["exponent"] is None and fit.to_dict()["exponent_error"] is None
    d = measured.to_dict()["fit"]
    assert "exponent" not in d and "log_coefficient" in d
    text = render.asymptotics(measured, "scalar")
    line = next(s for s in text.splitlines() if s.startswith("from τ★"))
    assert "coefficient of ln(1/ε)" in line and "exponent" not in line
