r"""Exponent and prefactor of τ★(ε) from numbers: Richardson tables that know about logarithms.

Given τ★ on a geometric sequence of ε (largest first):

* the **exponent** from the local slopes :math:`s_i = \Delta\ln\tau/\Delta\ln\varepsilon`,
  fitted on the smallest-ε slopes by :math:`m + \sum_{k\ge1}\sum_{j\le k}
  a_{kj}\varepsilon^k\ln(1/\varepsilon)^j` (ln τ of an expansion with resonant
  logarithms has every product of its corrections);
* the **prefactor** by solving, on the smallest-ε points, for the coefficients of the
  expansion :math:`\tau = C\varepsilon^{-m} + \sum_{j<m} a_j\varepsilon^{-j} +
  D\ln(1/\varepsilon) + E + F\varepsilon + G\varepsilon\ln(1/\varepsilon) + \dots`
  (the singular structure of conventions §4, with the possible resonant logarithms).

Each estimate comes from fits on the last k points, k growing; the one reported is the
fit with the smallest error estimate. Error estimates are meant to be upper bounds, and
the tests check that they cover the true value on sequences with known answers. Each is
the sum of two parts:

* **truncation**: the largest of the last two changes between fits, the geometric tail
  :math:`d\rho/(1-\rho)` of the last change (ρ the observed ratio of the last two
  changes) and the distance to every fit on more points, times :data:`SAFETY_FACTOR`.
  The last change alone, as this module used to report, failed to cover the true
  value on 277 of 749 exact test sequences for the exponent (by factors up to 1000) and
  on 514 of 749 for the prefactor (up to 20000: the rounding of the data was ignored);
  with the two changes and the tail but no safety factor, by up to 5.5.
* **rounding**: the relative accuracy of the τ values (``rtol``; half an ulp for
  floats by default) propagated exactly (to first order) through the linear fit.

Neither error is ever below what the numbers can hold: at least the data's relative
rounding times the value, plus half an ulp of the float64 reported (a fit of 30-digit data
used to report a prefactor error of 2e-18, below float64's resolution).

In the ``log`` and ``finite`` regimes the local slopes approach 0 only like
:math:`1/\ln(1/\varepsilon)` (log) or ε (finite), which the fit in powers of ε cannot
remove: there the exponent's error is at least its distance from 0, and the exponent is
no result (:meth:`Extrapolation.to_dict` gives ``None``; the prefactor is the coefficient of
ln(1/ε) in the log regime). When the numbers fit
no regime (an exponent not within its error of one integer, no converging logarithm or
limit) the result is "unresolved", status ``not_converged``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
from saddle_escape.symbolic.outcomes import ConvergenceError, Status

__all__ = ["Extrapolation", "extrapolate", "MAX_POINTS", "SAFETY_FACTOR"]

#: Work budget: at most this many (ε, τ) pairs (each fit is a dense solve of that size).
MAX_POINTS = 200
#: Truncation-error estimates (changes between fits) are multiplied by this. On the
#: synthetic sequences of the tests (powers, resonant logarithms, ratios 0.5 to 0.8, 5
#: to 16 points) the true error of the exponent was up to 5.5 times the unscaled
#: estimate, and of the prefactor up to 2.3 times: corrections ε^k ln(1/ε)^j make the
#: fits converge irregularly, so a change between two fits can be small by accident.
SAFETY_FACTOR = 10
#: Relative rounding of a float64 value (half an ulp).
_FLOAT64_RTOL = 2.0**-53


@dataclass(frozen=True)
class Extrapolation:
    """Exponent (τ★ ∝ ε^{−exponent}) and prefactor, each with an error estimate.

    Attributes
    ----------
    exponent, exponent_error : float
        The extrapolated local slope and an upper estimate of its error. An exponent only
        in the power regime: elsewhere the error reaches to 0 and :meth:`to_dict` omits
        it (``None``).
    prefactor, prefactor_error : float or None
        ``C`` of ``C ε^{−m}`` (power) or ``D`` of ``D ln(1/ε)`` (log); ``None`` when finite
        or unresolved. The error is ``inf`` (``None`` in :meth:`to_dict`) when the points
        allow a single fit only (m + 2 points in the power regime).
    regime : str
        ``"power"``, ``"log"``, ``"finite"``, or ``"unresolved"`` (the numbers fit none of
        them yet: ε is not small enough).
    status : Status
        ``success``, or ``not_converged`` for an unresolved regime.
    points : int
        How many (ε, τ) pairs were used.
    rtol : float
        The relative accuracy assumed for each τ.
    """

    exponent: float
    exponent_error: float
    prefactor: float | None
    prefactor_error: float | None
    regime: str
    status: Status = Status.SUCCESS
    points: int = 0
    rtol: float = _FLOAT64_RTOL

    def to_dict(self) -> dict:
        """JSON-ready; an unknown (infinite) error is ``None``, and so is the exponent
        outside the power regime (the slopes only approach 0 there: no exponent to give).
        """
        power = self.regime == "power"
        return {
            "exponent": self.exponent if power else None,
            "exponent_error": _finite(self.exponent_error) if power else None,
            "prefactor": self.prefactor,
            "prefactor_error": _finite(self.prefactor_error),
            "regime": self.regime,
            "status": self.status.value,
            "points": self.points,
            "rtol": self.rtol,
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _slope_basis(count: int):
    """Basis of the local slopes' corrections: 1, then ε^k ln(1/ε)^j (j = k … 0), k = 1, 2, …

    ln τ of τ = Cε^{-m}(1 + a ε + b ε ln(1/ε) + …) has every product of the corrections, so
    a power ε^k comes with ln(1/ε) to every power up to k.
    """
    funcs: list[Callable] = [lambda e: mpmath.mpf(1)]
    k = 1
    while len(funcs) < count:
        funcs += [lambda e, k=k, j=j: e**k * mpmath.log(1 / e) ** j for j in range(k, -1, -1)]
        k += 1
    return funcs[:count]


def _fit(nodes, values, noise, funcs):
    """First coefficient of the fit of ``values`` by ``funcs`` at ``nodes``, and its rounding."""
    size = len(nodes)
    A = mpmath.matrix([[f(e) for f in funcs] for e in nodes])
    coefficient = mpmath.lu_solve(A, mpmath.matrix(list(values)))[0]
    # First row of A⁻¹: how each value's error enters the first coefficient.
    row = mpmath.lu_solve(A.T, mpmath.matrix([1] + [0] * (size - 1)))
    return coefficient, sum(abs(row[i]) * noise[i] for i in range(size))


def _extrapolated(nodes, values, noise, basis, first: int):
    """The first coefficient of fits on the last k points, k = first … n, with an error.

    For each fit: the truncation estimate is the larger of :func:`_tail` of the sequence
    of fits up to it and its distance to every later fit, times :data:`SAFETY_FACTOR`; the
    rounding of the data propagated through it is added. Returns ``(value, error)`` of the
    fit whose error is smallest (``error`` is infinite with fewer than two fits).
    """
    fits = []
    for size in range(first, len(nodes) + 1):
        fits.append(_fit(nodes[-size:], values[-size:], noise[-size:], basis(size)))
    estimates = [v for v, _ in fits]
    best, error = (estimates[-1] if fits else mpmath.nan), mpmath.inf
    for k in range(1, len(fits)):
        later = max(abs(v - estimates[k]) for v in estimates[k:])
        estimate = SAFETY_FACTOR * max(_tail(estimates[: k + 1]), later) + fits[k][1]
        if estimate < error:
            best, error = estimates[k], estimate
    return best, error


def _honest(value, error, rounding):
    """``error`` raised to the data's relative rounding of ``value``, plus the rounding of
    ``value`` to the float64 that is reported: never below what the data and a float hold.
    """
    return max(error, rounding * abs(value)) + _FLOAT64_RTOL * abs(value)


def _tail(sequence):
    """Upper estimate of ``|sequence[-1] − limit|`` for a sequence converging to its limit.

    The larger of the last two changes, and the geometric tail ``d·ρ/(1−ρ)`` of the last
    change ``d`` with ρ the observed ratio of the last two changes (infinite when they do
    not shrink). With one change only, that change doubled.
    """
    d1 = abs(sequence[-1] - sequence[-2])
    if len(sequence) < 3:
        return 2 * d1
    d2 = abs(sequence[-2] - sequence[-3])
    if d2 == 0:
        return d1
    rho = d1 / d2
    return max(d1, d2, d1 * rho / (1 - rho)) if rho < 1 else mpmath.inf


def _basis(m: int, count: int):
    """Basis functions of ε in the order of importance as ε → 0."""
    funcs: list[Callable] = [lambda e, j=j: e ** (-j) for j in range(m, 0, -1)]
    funcs += [lambda e: mpmath.log(1 / e), lambda e: mpmath.mpf(1)]
    j = 1
    while len(funcs) < count:
        funcs += [lambda e, j=j: e**j * mpmath.log(1 / e), lambda e, j=j: e**j]
        j += 1
    return funcs[:count]


def _number(value, name: str, index: int):
    """``value`` as an mpf at the working precision (exact for floats and decimal strings)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, mpmath.mpf, str)):
        raise TypeError(
            f"{name}[{index}] must be a real number, got {value!r} ({type(value).__name__})"
        )
    try:
        number = value if isinstance(value, mpmath.mpf) else mpmath.mpf(str(value))
    except (ValueError, TypeError):
        raise ValueError(f"{name}[{index}] = {value!r} is not a number") from None
    if not mpmath.isfinite(number) or number <= 0:
        raise ValueError(
            f"{name}[{index}] must be a positive finite number, got {value!r}"
            + (" (an escape time is positive)" if name == "tau" else "")
        )
    return number


def _rounding(values, rtol, caller_eps) -> list:
    """Relative accuracy of each τ: ``rtol``, else the rounding of its type.

    An mpf is taken to be exact to the caller's precision (``caller_eps``, mpmath's
    precision when :func:`extrapolate` was called), not to the extrapolation's own.
    """
    if rtol is not None:
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 <= float(rtol) < 1:
            raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
        return [mpmath.mpf(rtol)] * len(values)
    out = []
    for v in values:
        if isinstance(v, mpmath.mpf):
            out.append(caller_eps)  # exact at the caller's precision, as far as we know
        elif isinstance(v, str):
            digits = sum(c.isdigit() for c in v.lower().split("e")[0])
            out.append(mpmath.mpf(10) ** (1 - max(digits, 1)) / 2)
        elif isinstance(v, numbers.Integral):
            out.append(mpmath.mpf(0))
        else:
            out.append(mpmath.mpf(_FLOAT64_RTOL))
    return out


def extrapolate(eps, tau, *, dps: int = 40, rtol=None, throw: bool = True) -> Extrapolation:
    """Exponent and prefactor of τ★(ε) from values on a geometric sequence of ε.

    Parameters
    ----------
    eps, tau : sequences
        At least 4 and at most :data:`MAX_POINTS` pairs of positive finite numbers
        (floats, mpf or decimal strings), ε decreasing geometrically (a ratio that
        varies by more than 1e-3 is refused).
    dps : int
        Working precision of the extrapolation (use more than the data's digits).
    rtol : float, optional
        Relative accuracy of each τ (e.g. ``10**-digits`` of an escape time); by
        default the rounding of the values given (half an ulp for a float).
    throw : bool
        Raise :class:`ConvergenceError` when the regime is unresolved (default), or
        return the result with status ``not_converged``.

    Returns
    -------
    Extrapolation
        ``regime`` is "power" (exponent rounds to m ≥ 1), "log" (τ grows like
        D ln(1/ε)), "finite" (τ converges) or "unresolved".

    Raises
    ------
    ValueError, TypeError
        For fewer than 4 pairs, ε or τ not positive finite numbers, ε not decreasing
        geometrically, or a bad ``dps``/``rtol``.
    ConvergenceError
        When ``throw`` and the numbers fit no regime (use smaller ε or more points).

    Examples
    --------
    >>> e = [0.1 * 0.5**i for i in range(8)]
    >>> t = [1 / (2 * x) + 1 + x for x in e]
    >>> result = extrapolate(e, t)
    >>> round(result.exponent, 6), round(result.prefactor, 8)
    (1.0, 0.5)
    >>> abs(result.prefactor - 0.5) <= result.prefactor_error
    True
    >>> t = [1 / (2 * x) + 3 * mpmath.log(1 / x) + 1 + x for x in e]  # a resonant log
    >>> round(extrapolate(e, t).prefactor, 8)
    0.5
    """
    if isinstance(dps, bool) or not isinstance(dps, int) or not 15 <= dps <= 10_000:
        raise ValueError(f"dps must be an int between 15 and 10000, got {dps!r}")
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    eps, tau = list(eps), list(tau)
    if len(eps) != len(tau) or len(eps) < 4:
        raise ValueError(
            f"extrapolation needs at least 4 (eps, tau) pairs of equal length, got "
            f"{len(eps)} eps and {len(tau)} tau"
        )
    if len(eps) > MAX_POINTS:
        raise ValueError(f"extrapolation takes at most {MAX_POINTS} points, got {len(eps)}")
    caller_eps = mpmath.mp.eps  # the rounding of an mpf made at the caller's precision
    with mpmath.workdps(dps):
        e = [_number(v, "eps", i) for i, v in enumerate(eps)]
        t = [_number(v, "tau", i) for i, v in enumerate(tau)]
        if any(b >= a for a, b in zip(e, e[1:], strict=False)):
            raise ValueError("eps must decrease")
        ratios = [b / a for a, b in zip(e, e[1:], strict=False)]
        if max(abs(q / ratios[0] - 1) for q in ratios) > 1e-3:
            raise ValueError(
                f"eps must decrease geometrically (a constant ratio); the ratios range from "
                f"{float(min(ratios)):.6g} to {float(max(ratios)):.6g}"
            )
        relative = _rounding(tau, rtol, caller_eps)
        noise = [r * v for r, v in zip(relative, t, strict=True)]
        slopes, slope_noise, nodes = [], [], []
        for i in range(len(e) - 1):
            step = mpmath.log(e[i + 1] / e[i])
            slopes.append(-mpmath.log(t[i + 1] / t[i]) / step)
            slope_noise.append((relative[i] + relative[i + 1]) / abs(step))
            nodes.append(mpmath.sqrt(e[i] * e[i + 1]))
        exponent, exponent_error = _extrapolated(nodes, slopes, slope_noise, _slope_basis, 1)
        m = int(mpmath.nint(exponent))
        status = Status.SUCCESS
        if m >= 1 and abs(exponent - m) < 0.05 and abs(exponent - m) + exponent_error < 0.5:
            # the exponent's error interval holds the integer m and no other
            regime = "power"
            prefactor, error = _extrapolated(e, t, noise, lambda k: _basis(m, k), m + 2)
        else:
            # log or finite: the coefficient D of ln(1/ε), checked against the last secant
            # (τ = D ln(1/ε) + E + o(1)), or steps that shrink geometrically (τ converges).
            prefactor, error = _extrapolated(e, t, noise, lambda k: _basis(0, k), 2)
            secant = (t[-1] - t[-2]) / mpmath.log(e[-2] / e[-1])
            previous = (t[-2] - t[-3]) / mpmath.log(e[-3] / e[-2])
            significant = abs(prefactor) > max(error, 1e-6 * abs(t[-1]))
            shrinking = abs(secant) <= (1 + ratios[-1]) / 2 * abs(previous)
            if significant and abs(secant - prefactor) <= 0.1 * abs(prefactor) + error:
                regime = "log"
            elif not significant and shrinking:
                regime = "finite"
            else:
                regime, status = "unresolved", Status.NOT_CONVERGED
            # The slopes approach 0 like 1/ln(1/ε) (log): the error reaches at least to 0.
            exponent_error = max(exponent_error, abs(exponent))
        # With a single fit (m + 2 points, power) the prefactor's error is unknown: inf.
        keep = regime in ("power", "log") and not mpmath.isnan(prefactor)
        rounding = max(relative)
        exponent_error = _honest(exponent, exponent_error, rounding)
        if keep:
            error = _honest(prefactor, error, rounding)
        result = Extrapolation(
            exponent=float(exponent),
            exponent_error=float(exponent_error),
            prefactor=float(prefactor) if keep else None,
            prefactor_error=float(error) if keep else None,
            regime=regime,
            status=status,
            points=len(e),
            rtol=float(max(relative)),
        )
    if throw and status is not Status.SUCCESS:
        raise ConvergenceError(
            f"the escape times fit no regime (power, log or finite): the local exponent is "
            f"{result.exponent:.4g} ± {result.exponent_error:.2g}, not near an integer, and "
            "τ is not yet D ln(1/ε) + O(1) nor converging; use smaller eps or more points",
            status=status,
            result=result,
        )
    return result
