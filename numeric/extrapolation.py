r"""Exponent and prefactor of τ★(ε) from numbers, by (generalized) Richardson extrapolation.

Given τ★ on a geometric sequence of ε (largest first):

* the **exponent** from the local slopes :math:`s_i = \Delta\ln\tau/\Delta\ln\varepsilon`,
  Richardson-extrapolated assuming corrections in integer powers of ε;
* the **prefactor** by solving, on the smallest-ε points, for the coefficients of the
  expansion :math:`\tau = C\varepsilon^{-m} + \sum_{j<m} a_j\varepsilon^{-j} +
  D\ln(1/\varepsilon) + E + F\varepsilon + G\varepsilon\ln(1/\varepsilon) + \dots`
  (the singular structure of DESIGN §3, with the possible resonant logarithms): a
  Richardson table that knows about logarithms.

Errors are estimated from the change between the last two extrapolation orders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath

__all__ = ["Extrapolation", "extrapolate"]


@dataclass(frozen=True)
class Extrapolation:
    """Exponent (τ★ ∝ ε^{−exponent}) and prefactor, each with an error estimate."""

    exponent: float
    exponent_error: float
    prefactor: float | None
    prefactor_error: float | None
    regime: str

    def to_dict(self) -> dict:
        return {
            "exponent": self.exponent,
            "exponent_error": self.exponent_error,
            "prefactor": self.prefactor,
            "prefactor_error": self.prefactor_error,
            "regime": self.regime,
        }


def _richardson(values, ratio) -> tuple:
    """Richardson table for a sequence with errors c_1 ε + c_2 ε² + … (ε shrinking by ratio)."""
    table = [list(values)]
    for j in range(1, len(values)):
        factor = ratio**j
        prev = table[-1]
        table.append(
            [(prev[i + 1] - factor * prev[i]) / (1 - factor) for i in range(len(prev) - 1)]
        )
    best, error = table[0][-1], abs(table[0][-1] - table[0][-2]) if len(values) > 1 else mpmath.inf
    for j in range(1, len(table)):
        if len(table[j]) >= 2:
            e = abs(table[j][-1] - table[j][-2])
            if e < error:
                best, error = table[j][-1], e
    return best, error


def _basis(m: int, count: int):
    """Basis functions of ε in the order of importance as ε → 0."""
    funcs: list[Callable] = [lambda e, j=j: e ** (-j) for j in range(m, 0, -1)]
    funcs += [lambda e: mpmath.log(1 / e), lambda e: mpmath.mpf(1)]
    j = 1
    while len(funcs) < count:
        funcs += [lambda e, j=j: e**j * mpmath.log(1 / e), lambda e, j=j: e**j]
        j += 1
    return funcs[:count]


def _fit_leading(eps, tau, m: int, size: int):
    """Solve for the coefficients of the first ``size`` basis functions on the last points."""
    pts = list(zip(eps, tau, strict=True))[-size:]
    funcs = _basis(m, size)
    A = mpmath.matrix([[f(e) for f in funcs] for e, _ in pts])
    b = mpmath.matrix([t for _, t in pts])
    return mpmath.lu_solve(A, b)


def extrapolate(eps, tau, *, dps: int = 40) -> Extrapolation:
    """Exponent and prefactor of τ★(ε) from values on a geometric sequence of ε.

    Parameters
    ----------
    eps, tau : sequences
        At least 4 points, ε decreasing geometrically.
    dps : int
        Working precision of the extrapolation (use more than the data's digits).

    Returns
    -------
    Extrapolation
        ``regime`` is "power" (exponent rounds to m ≥ 1), "log" (slope → 0 with
        τ growing like ln(1/ε)) or "finite".

    Examples
    --------
    >>> e = [0.1 * 0.5**i for i in range(8)]
    >>> t = [1 / (2 * x) + 1 + x for x in e]
    >>> result = extrapolate(e, t)
    >>> round(result.exponent, 6), round(result.prefactor, 8)
    (1.0, 0.5)
    >>> t = [1 / (2 * x) + 3 * mpmath.log(1 / x) + 1 + x for x in e]  # a resonant log
    >>> round(extrapolate(e, t).prefactor, 8)
    0.5
    """
    if len(eps) != len(tau) or len(eps) < 4:
        raise ValueError("extrapolation needs at least 4 (eps, tau) pairs")
    with mpmath.workdps(dps):
        e = [mpmath.mpf(str(v)) if not isinstance(v, mpmath.mpf) else v for v in eps]
        t = [mpmath.mpf(str(v)) if not isinstance(v, mpmath.mpf) else v for v in tau]
        if any(b >= a for a, b in zip(e, e[1:], strict=False)):
            raise ValueError("eps must decrease")
        ratio = e[1] / e[0]
        slopes = [
            -mpmath.log(t[i + 1] / t[i]) / mpmath.log(e[i + 1] / e[i]) for i in range(len(e) - 1)
        ]
        exponent, exponent_error = _richardson(slopes, ratio)
        m = int(mpmath.nint(exponent))
        if m >= 1 and abs(exponent - m) < 0.05:
            regime = "power"
            estimates = [_fit_leading(e, t, m, size)[0] for size in range(m + 2, len(e) + 1)]
        else:
            # log or finite: the coefficient of ln(1/ε)
            m = 0
            estimates = [_fit_leading(e, t, 0, size)[0] for size in range(2, len(e) + 1)]
        prefactor = estimates[-1]
        error = abs(estimates[-1] - estimates[-2]) if len(estimates) > 1 else mpmath.inf
        if m == 0:
            # A ln(1/ε) coefficient indistinguishable from 0 means a finite limit.
            significant = abs(prefactor) > max(10 * error, 1e-6 * abs(t[-1]))
            regime = "log" if significant else "finite"
        return Extrapolation(
            exponent=float(exponent),
            exponent_error=float(exponent_error),
            prefactor=float(prefactor) if regime != "finite" else None,
            prefactor_error=float(error) if regime != "finite" else None,
            regime=regime,
        )
