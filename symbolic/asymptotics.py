r"""Normal form of the balanced scalar reduction and the asymptotic expansion of τ★(ε).

With :math:`P(y) = P(0) + \sum_{m\ge1} c_m y^m` (DESIGN §3) let p be the first m with
:math:`c_m \ne 0` and :math:`k_P = -c_p > 0`. Then

.. math:: \dot y = -P'(y)/r = \kappa\,y^{p-1}\Big(1 + \sum_{j\ge1} b_j y^j\Big),\qquad
          \kappa = p k_P / r,\quad b_j = \frac{(p+j)\,c_{p+j}}{p\,c_p},

and with :math:`1/(1 + \sum b_j y^j) = \sum d_j y^j`,
:math:`\tau_\star = \int_\varepsilon^{y_\star} dy/\dot y` has the singular part

.. math:: \sum_{j=0}^{p-3} \frac{d_j}{\kappa\,(p-2-j)}\,\varepsilon^{-(p-2-j)}
          + \frac{d_{p-2}}{\kappa}\ln\frac1\varepsilon + O(1),

independent of the escape threshold. p = r in the generic case (then κ = k_P = k of
DESIGN §3); p = 1 gives a finite limit, p = 2 a logarithm, p ≥ 3 the power law
:math:`\varepsilon^{-(p-2)}/((p-2)\kappa)`. A non-zero :math:`d_{p-2}` (e.g. r = q + 1) adds
the resonant :math:`\ln(1/\varepsilon)` term.

The coefficients :math:`c_m` are Gaussian expectations of the y-series of
:math:`(F - sg)^2/2`: exact (moments) when they are polynomials in g, otherwise
evaluated by ``mpmath.quad`` at the requested precision and returned as SymPy Floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp
from saddle_escape.symbolic.outcomes import ConvergenceError, ExpressionError
from saddle_escape.symbolic.reduction import Y_SCALAR, G, ReducedModel, gaussian_expectation
from saddle_escape.symbolic.taylor import has_piecewise
from saddle_escape.symbolic.timeouts import check_time_limit, run_limited

__all__ = ["AsymptoticTerm", "Asymptotics", "asymptotics", "MIN_DPS", "MAX_DPS", "MAX_EXTRA_TERMS"]

_REGIMES = {1: "finite", 2: "log"}
#: Range of ``dps`` (Gaussian expectations by mpmath.quad cost more with every digit).
MIN_DPS, MAX_DPS = 15, 1000
#: Work budget: terms of the normal form beyond those the singular part needs.
MAX_EXTRA_TERMS = 20


@dataclass(frozen=True)
class AsymptoticTerm:
    """``coefficient · ε^eps_power · ln(1/ε)^log_power``."""

    eps_power: int
    log_power: int
    coefficient: sp.Expr

    def to_dict(self) -> dict:
        return {
            "eps_power": self.eps_power,
            "log_power": self.log_power,
            "coefficient": sp.sstr(self.coefficient),
            "value": float(self.coefficient),
        }


@dataclass(frozen=True)
class Asymptotics:
    """The normal form and the singular expansion of τ★(ε) for one reduced model."""

    model: ReducedModel
    p: int
    regime: str
    k: sp.Expr
    b: tuple[sp.Expr, ...]
    terms: tuple[AsymptoticTerm, ...]
    exact: bool
    dps: int
    coefficients: tuple[sp.Expr, ...] = field(repr=False, default=())
    notes: tuple[str, ...] = ()

    @property
    def exponent(self) -> int | None:
        """``p − 2`` in the power regime (τ★ ∝ ε^{−exponent}), else ``None``."""
        return self.p - 2 if self.regime == "power" else None

    @property
    def prefactor(self) -> sp.Expr | None:
        """``1/((p−2)k)`` (power), ``1/k`` (log), ``None`` (finite)."""
        if self.regime == "power":
            return 1 / ((self.p - 2) * self.k)
        if self.regime == "log":
            return 1 / self.k
        return None

    def normal_form(self) -> sp.Expr:
        """``dy/dt`` as a truncated series in y."""
        y = Y_SCALAR
        return (
            self.k * y ** (self.p - 1) * (1 + sum(bj * y ** (j + 1) for j, bj in enumerate(self.b)))
        )

    def leading(self, eps) -> float:
        """The singular expansion evaluated at ``eps`` (float)."""
        import math

        return sum(
            float(t.coefficient) * eps**t.eps_power * math.log(1 / eps) ** t.log_power
            for t in self.terms
        )

    def to_dict(self) -> dict:
        return {
            **self.model.to_dict(),
            "p": self.p,
            "regime": self.regime,
            "exponent": self.exponent,
            "k": sp.sstr(self.k),
            "k_value": float(self.k),
            "exact": self.exact,
            "digits": None if self.exact else self.dps,
            "prefactor": None if self.prefactor is None else sp.sstr(self.prefactor),
            "prefactor_value": None if self.prefactor is None else float(self.prefactor),
            "normal_form": sp.sstr(self.normal_form()),
            "b": [sp.sstr(v) for v in self.b],
            "terms": [t.to_dict() for t in self.terms],
            "notes": list(self.notes),
        }


def _expectation(expr: sp.Expr, dps: int) -> tuple[sp.Expr, bool]:
    exact = gaussian_expectation(expr)
    if exact is not None:
        return exact, True
    f = sp.lambdify(G, expr, modules="mpmath")
    with mpmath.workdps(dps + 10):
        value = mpmath.quad(
            lambda g: f(g) * mpmath.exp(-g * g / 2), [-mpmath.inf, 0, mpmath.inf]
        ) / mpmath.sqrt(2 * mpmath.pi)
        return sp.Float(str(value), dps + 5), False


def _is_zero(value: sp.Expr, exact: bool, dps: int) -> bool:
    if exact:
        return sp.simplify(value) == 0
    return abs(value) < sp.Float(10) ** (-(dps // 2))


def _series_coefficients(f: sp.Expr, h: sp.Symbol, prefix: sp.Expr, order: int) -> tuple:
    """Coefficients of :math:`y^0 … y^{order}` in the y-series of the reduced output ``f``,
    with the opaque prefix ``h`` replaced by its value.

    Module-level with picklable arguments, so that :func:`run_limited` can hold it to its
    time limit in a child process when it is called off the main thread.
    """
    y = Y_SCALAR
    series = sp.expand(sp.series(f, y, 0, order + 1).removeO())
    return tuple(series.coeff(y, m).xreplace({h: prefix}) for m in range(order + 1))


def _check_arguments(model, extra_terms, dps) -> None:
    if not isinstance(model, ReducedModel):
        raise TypeError(
            f"asymptotics needs a ReducedModel, got {model!r} ({type(model).__name__}); build "
            "one with saddle_escape.build_model(activation, depth, width, init), e.g. "
            "build_model('tanh', 4, 16, '1,eps,eps,eps')"
        )
    for name, value, low, high in (
        ("dps", dps, MIN_DPS, MAX_DPS),
        ("extra_terms", extra_terms, 0, MAX_EXTRA_TERMS),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{name} must be an int from {low} to {high}, got {value!r} "
                f"({type(value).__name__})"
            )
        if not low <= value <= high:
            raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")


def asymptotics(
    model: ReducedModel,
    *,
    extra_terms: int = 2,
    dps: int = 30,
    time_limit_seconds: float | None = 60.0,
) -> Asymptotics:
    r"""Normal form and singular expansion of τ★(ε) for the balanced scalar reduction.

    Parameters
    ----------
    model : ReducedModel
        From :func:`saddle_escape.build_model` (or ``reduced_model``).
    extra_terms : int
        How many :math:`b_j` beyond those the singular part needs (0 to
        :data:`MAX_EXTRA_TERMS`).
    dps : int
        Digits for Gaussian expectations that are not polynomial in g (:data:`MIN_DPS`
        to :data:`MAX_DPS`).
    time_limit_seconds : float or None
        Limit on the symbolic series, enforced from any thread (a child process off the
        main thread, see :func:`~saddle_escape.symbolic.timeouts.run_limited`).

    Returns
    -------
    Asymptotics

    Raises
    ------
    TypeError
        When ``model`` is not a ReducedModel (e.g. an activation name), or ``dps``,
        ``extra_terms`` or ``time_limit_seconds`` has the wrong type.
    ValueError
        When ``dps`` or ``extra_terms`` is out of range, or ``time_limit_seconds`` is not
        positive.
    ConvergenceError
        When P(y) − P(0) vanishes through the computed order.
    TimeLimitError
        When the series takes longer than ``time_limit_seconds``.
    ExpressionError
        For piecewise σ (no series through the kink).

    References
    ----------
    DESIGN §3 (normal form, critical-depth law).

    Examples
    --------
    >>> from saddle_escape.symbolic.parsing import X
    >>> from saddle_escape.symbolic.reduction import reduced_model
    >>> a = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    >>> a.regime, a.exponent, a.k, a.prefactor
    ('power', 2, 1, 1/2)
    """
    _check_arguments(model, extra_terms, dps)
    time_limit_seconds = check_time_limit(time_limit_seconds, "time_limit_seconds")
    r = model.r
    f, h, prefix = model.scalar_output_factored()
    s = model.teacher
    order = max(2 * r - 2, r) + extra_terms
    if has_piecewise(f):
        raise ExpressionError(
            f"the asymptotic expansion needs σ analytic at 0; {model.label!r} is piecewise "
            "(its reduced output has no y-series in SymPy): use escape times and extrapolation"
        )
    A = run_limited(
        _series_coefficients,
        f,
        h,
        prefix,
        order,
        seconds=time_limit_seconds,
        what=f"the y-series of the reduced output for {model.label!r}",
    )
    exact = True
    c = [sp.Integer(0)]
    for m in range(1, order + 1):
        integrand = -s * G * A[m] + sum(A[i] * A[m - i] for i in range(m + 1)) / 2
        value, is_exact = _expectation(sp.expand(integrand), dps)
        exact = exact and is_exact
        c.append(sp.simplify(value) if is_exact else value)
    p = next((m for m in range(1, order + 1) if not _is_zero(c[m], exact, dps)), None)
    if p is None:
        raise ConvergenceError(
            f"P(y) − P(0) vanishes through order {order} for {model.label}: no escape at this order"
        )
    notes = []
    if p != r:
        notes.append(
            f"the first non-zero term of P(y) − P(0) has order p = {p}, not r = {r}: the "
            f"critical-depth law uses p"
        )
    k_P = -c[p]
    kappa = sp.simplify(p * k_P / r) if exact else p * k_P / r
    if (kappa <= 0) if exact else float(kappa) <= 0:
        notes.append("k ≤ 0: the loss increases as the bottleneck grows; the flow does not escape")
        return Asymptotics(model, p, "none", kappa, (), (), exact, dps, tuple(c), tuple(notes))
    J = max(p - 2, 0) + extra_terms
    b = []
    for j in range(1, J + 1):
        m = p + j
        value = (m * c[m]) / (p * c[p]) if m <= order else sp.Integer(0)
        b.append(sp.simplify(value) if exact else value)
    d = [sp.Integer(1)]
    for n in range(1, J + 1):
        d.append(-sum(b[j - 1] * d[n - j] for j in range(1, n + 1)))
    terms = []
    for j in range(0, max(p - 1, 0)):
        if j < p - 2:
            coefficient = d[j] / (kappa * (p - 2 - j))
            term = AsymptoticTerm(-(p - 2 - j), 0, coefficient)
        else:
            term = AsymptoticTerm(0, 1, d[j] / kappa)
        if not _is_zero(term.coefficient, exact, dps):
            terms.append(term)
    if exact:
        terms = [
            AsymptoticTerm(t.eps_power, t.log_power, sp.simplify(t.coefficient)) for t in terms
        ]
    regime = _REGIMES.get(p, "power")
    return Asymptotics(
        model, p, regime, kappa, tuple(b), tuple(terms), exact, dps, tuple(c), tuple(notes)
    )
