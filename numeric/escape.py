r"""Escape times :math:`\tau_\star(\varepsilon)`: first t with
:math:`\mathcal L(t) \le \text{fraction}\cdot\mathcal L(0)` (DESIGN §3).

Two systems:

* ``"manifold"`` — the exact L-dimensional reduced flow :math:`\dot Y = -\nabla_Y\mathcal L`.
  float64: SciPy ``solve_ivp`` (``DOP853``) with the analytic Jacobian available to
  implicit methods and a terminal escape event. Arbitrary precision: ``mpmath.odefun``
  (Taylor method) with a bottleneck layer's log-scale :math:`u = \ln Y_b` as the
  independent variable (the long plateau becomes an interval of length
  :math:`\ln(1/\varepsilon)`), ``t`` carried as an extra state, the event located by
  ``findroot``.
* ``"scalar"`` — the balanced reduction :math:`\dot y = -P'(y)/r`:
  :math:`\tau_\star = \int_\varepsilon^{y_\star} dy/(-P'(y)/r)` by quadrature (SciPy
  ``quad`` or ``mpmath.quad``) in :math:`\ln y`, split geometrically.

Every value is computed twice (tighter tolerances, or more digits and nodes) and the
agreeing digits are recorded; too few raise
:class:`~saddle_escape.symbolic.outcomes.ConvergenceError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mpmath
import numpy as np
from saddle_escape.classes.registry import resolve_activation
from saddle_escape.numeric.gaussian import half_range_rule_mp
from saddle_escape.numeric.reduced import ReducedDynamics, to_mpf
from saddle_escape.symbolic.outcomes import ConvergenceError
from saddle_escape.symbolic.reduction import ReducedModel, reduced_model
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq

__all__ = ["EscapePoint", "EscapeResult", "escape_time", "build_model", "SYSTEMS"]

SYSTEMS = ("manifold", "scalar")
_STATUS_OK = "escaped"


class _NoEscape(Exception):
    """The loss never reaches the threshold (internal)."""


def build_model(activation, depth, width, init, *, teacher=1) -> ReducedModel:
    """A :class:`ReducedModel` from a name or expression string (or pass one through).

    Examples
    --------
    >>> build_model("tanh", 4, 16, "1,eps,eps,eps").r
    3
    """
    if isinstance(activation, ReducedModel):
        return activation
    sigma, name = resolve_activation(activation)
    label = name or (activation if isinstance(activation, str) else None)
    return reduced_model(sigma, depth, width, init, teacher=teacher, label=label)


@dataclass(frozen=True)
class EscapePoint:
    """One escape time: ``tau`` for ``eps``, with the digits two computations agree on."""

    eps: object
    tau: object
    digits: int
    status: str = _STATUS_OK
    evaluations: int = 0

    def to_dict(self, dps: int | None) -> dict:
        return {
            "eps": _decimal(self.eps, dps),
            "tau": None if self.tau is None else _decimal(self.tau, dps),
            "digits": self.digits,
            "status": self.status,
        }


def _decimal(value, dps: int | None) -> str:
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, dps or 15, min_fixed=-6, max_fixed=12)
    return repr(float(value))


@dataclass(frozen=True)
class EscapeResult:
    """Escape times for several ε on one model and system."""

    model: ReducedModel
    system: str
    dps: int | None
    fraction: float
    points: tuple[EscapePoint, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            **self.model.to_dict(),
            "system": self.system,
            "dps": self.dps,
            "precision": "float64" if self.dps is None else f"mpmath, {self.dps} digits",
            "fraction": self.fraction,
            "points": [p.to_dict(self.dps) for p in self.points],
            "notes": list(self.notes),
        }


def _agreeing_digits(a, b, cap: int) -> int:
    if a == b:
        return cap
    gap = abs(a - b) / abs(b)
    if gap == 0:
        return cap
    return max(0, min(cap, int(math.floor(-float(mpmath.log10(gap))))))


# -- manifold, float64 ------------------------------------------------------------------


_IMPLICIT = ("Radau", "BDF", "LSODA")


def _manifold_float(
    dyn: ReducedDynamics, eps: float, fraction: float, rtol: float, method: str = "DOP853"
):
    y0 = np.array([float(v) for v in dyn.model.initial_point(eps)])
    loss0 = dyn.loss(y0)
    target = fraction * loss0

    def rhs(t, Y):
        return -dyn.gradient(Y)

    def jac(t, Y):
        return -dyn.evaluate(Y)[2]

    def event(t, Y):
        return dyn.loss(Y) - target

    event.terminal = True
    event.direction = -1
    atol = rtol * min(abs(eps), 1.0) * 1e-3
    t0, state, horizon, total = 0.0, y0, 10.0, 0
    while t0 < 1e15:
        options = {"jac": jac} if method in _IMPLICIT else {}
        sol = solve_ivp(
            rhs,
            (t0, t0 + horizon),
            state,
            method=method,
            events=event,
            rtol=rtol,
            atol=atol,
            **options,
        )
        total += sol.nfev
        if sol.status == -1:
            raise ConvergenceError(f"manifold flow at eps = {eps}: {sol.message}")
        if sol.t_events[0].size:
            return float(sol.t_events[0][0]), total
        t0, state, horizon = sol.t[-1], sol.y[:, -1], horizon * 4
    raise _NoEscape(f"the loss did not fall to {fraction:g} of its initial value by t = 1e15")


# -- scalar, float64 ----------------------------------------------------------------------


def _scalar_functions(dyn: ReducedDynamics):
    model = dyn.model
    r = model.r

    def point(y):
        return [float(y) if v is None else float(v) for v in model.init]

    def P(y):
        return dyn.loss(point(y))

    def speed(y):  # dy/dt = -P'(y)/r
        grad = dyn.gradient(point(y))
        return -sum(grad[b] for b in model.bottleneck) / r

    return P, speed


def _upper_limit(P, speed, eps, target, scale=1.1):
    """Smallest geometric step past which P ≤ target, checking the flow keeps going."""
    y = eps
    for _ in range(4000):
        if speed(y) <= 0:
            raise _NoEscape(
                f"the balanced flow stops at y = {y:.6g} (P'(y) ≥ 0) before the loss reaches "
                "its threshold: no escape on the scalar reduction"
            )
        nxt = y * scale
        if P(nxt) <= target:
            return y, nxt
        y = nxt
    raise _NoEscape("the loss does not reach its threshold for y up to 1e160")


def _scalar_float(dyn, eps, fraction, rtol):
    P, speed = _scalar_functions(dyn)
    target = fraction * P(eps)
    lo, hi = _upper_limit(P, speed, eps, target)
    y_star = brentq(lambda y: P(y) - target, lo, hi, xtol=1e-300, rtol=1e-15)
    count = [0]

    def integrand(u):
        count[0] += 1
        y = math.exp(u)
        return y / speed(y)

    a, b = math.log(eps), math.log(y_star)
    points = np.linspace(a, b, max(2, int(b - a) + 2))
    tau = 0.0
    for left, right in zip(points[:-1], points[1:], strict=True):
        piece, _ = quad(integrand, left, right, epsabs=0.0, epsrel=rtol, limit=200)
        tau += piece
    return tau, count[0]


# -- arbitrary precision ------------------------------------------------------------------


def _mp_evaluator(dyn: ReducedDynamics, nodes: int):
    rule = None if dyn.exact else half_range_rule_mp(nodes)

    def evaluate(Y):
        return dyn.evaluate_mp(Y, rule=rule)

    return evaluate


def _scalar_mp_batch(dyn, eps_values, fraction, nodes):
    """τ★ for several ε at once: the integral in ln y is cut at every ε and at unit steps,
    and each piece (Gauss–Legendre) is shared by all the ε below it."""
    rule = None if dyn.exact else half_range_rule_mp(nodes)
    r = dyn.model.r

    def P(y):
        return dyn.scalar_mp(y, rule=rule)[0]

    def speed(y):
        return -dyn.scalar_mp(y, rule=rule)[1] / r

    def integrand(u):
        y = mpmath.exp(u)
        return y / speed(y)

    eps_values = [mpmath.mpf(e) for e in eps_values]
    stars = []
    for eps in eps_values:
        target = fraction * P(eps)
        lo, hi = _upper_limit(P, speed, eps, target)
        stars.append(mpmath.findroot(lambda y, t=target: P(y) - t, (lo, hi), solver="anderson"))
    u_ref = mpmath.log(min(stars))
    cuts = sorted({mpmath.log(e) for e in eps_values})
    top = cuts[-1]
    steps = max(1, int(mpmath.ceil(u_ref - top)))
    cuts += [top + (u_ref - top) * i / steps for i in range(1, steps + 1)]
    pieces = [
        mpmath.quad(integrand, [a, b], method="gauss-legendre")
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    taus = []
    for eps, y_star in zip(eps_values, stars, strict=True):
        start = cuts.index(mpmath.log(eps))
        tail = mpmath.quad(integrand, [u_ref, mpmath.log(y_star)], method="gauss-legendre")
        taus.append(mpmath.fsum(pieces[start:]) + tail)
    return taus


def _manifold_mp(dyn, eps, fraction, nodes):
    """odefun in u = ln Y_b (first bottleneck layer); state: the other Y's and t."""
    model = dyn.model
    evaluate = _mp_evaluator(dyn, nodes)
    b = model.bottleneck[0]
    eps = mpmath.mpf(eps)
    y0 = [to_mpf(v) if v is not None else eps for v in model.initial_point(None)]
    loss0 = evaluate(y0)[0]
    target = fraction * loss0

    def unpack(u, state):
        Y = list(state[:-1])
        Y.insert(b, mpmath.exp(u))
        return Y

    def derivs(u, state):
        Y = unpack(u, state)
        grad = evaluate(Y)[1]
        rate = -grad[b] / Y[b]  # d(ln Y_b)/dt
        if rate <= 0:
            raise ConvergenceError(
                f"layer {b + 1} stops growing at Y = {mpmath.nstr(Y[b], 8)}: the bottleneck "
                "scale is not a valid clock here; use --system scalar or float64"
            )
        out = [-g / rate for i, g in enumerate(grad) if i != b]
        return out + [1 / rate]

    state0 = [v for i, v in enumerate(y0) if i != b] + [mpmath.mpf(0)]
    solution = mpmath.odefun(derivs, mpmath.log(eps), state0)

    def excess(u):
        return evaluate(unpack(u, solution(u)))[0] - target

    # Bracket the event: march u upward from ln ε in unit steps.
    u, step = mpmath.log(eps), mpmath.mpf(1) / 2
    prev = u
    while excess(u) > 0:
        prev, u = u, u + step
        if u > 50:
            raise _NoEscape("the loss did not reach its threshold while ln Y_b < 50")
    u_star = mpmath.findroot(excess, (prev, u), solver="anderson")
    return solution(u_star)[-1]


# -- public entry -------------------------------------------------------------------------


def escape_time(
    activation,
    depth: int | None = None,
    width=None,
    init=None,
    eps=(0.1,),
    *,
    system: str = "manifold",
    dps: int | None = None,
    teacher=1,
    fraction: float = 0.5,
    rtol: float = 1e-12,
    nodes: int | None = None,
    on_failure: str = "raise",
) -> EscapeResult:
    r"""Escape times :math:`\tau_\star(\varepsilon)` of the reduced dynamics.

    Parameters
    ----------
    activation : str or sympy.Expr or ReducedModel
        Registry name, expression in ``x``, or a ready model (then depth, width, init
        and teacher are taken from it).
    depth, width, init
        L, N and the initial scales (``"1,eps,eps,eps"``).
    eps : float or sequence
        The values of ε (strings keep their decimals exactly at high precision).
    system : {"manifold", "scalar"}
    dps : int, optional
        Decimal digits (mpmath); float64 when omitted.
    teacher : number
        s.
    fraction : float
        Escape when the loss reaches ``fraction`` of its initial value.
    rtol : float
        float64 tolerance (the check reruns at ``rtol/100``).
    nodes : int, optional
        Gauss nodes for non-polynomial σ (default 48 in float64, ``1.3·dps + 12`` in mpmath;
        the check adds 12).
    on_failure : {"raise", "status"}
        Raise :class:`ConvergenceError` (default), or return points with a status.

    Returns
    -------
    EscapeResult

    Raises
    ------
    ValueError
        For bad arguments.
    ConvergenceError
        When the two computations agree on fewer than half the expected digits, the
        integrator fails, or the loss never reaches its threshold (unless
        ``on_failure="status"``).

    References
    ----------
    DESIGN §3 (escape time, reduced dynamics).

    Examples
    --------
    >>> result = escape_time("linear", 4, 16, "eps,eps,eps,eps", [0.1])
    >>> round(float(result.points[0].tau), 6)
    49.374201
    """
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {SYSTEMS}, got {system!r}")
    if on_failure not in ("raise", "status"):
        raise ValueError(f"on_failure must be 'raise' or 'status', got {on_failure!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if dps is not None and (not isinstance(dps, int) or isinstance(dps, bool) or dps < 10):
        raise ValueError(f"dps must be an int ≥ 10 (or None for float64), got {dps!r}")
    eps_list = list(eps) if isinstance(eps, (list, tuple, np.ndarray)) else [eps]
    if not eps_list:
        raise ValueError("give at least one value of eps")
    for value in eps_list:
        number = float(value)
        if not 0 < number < 1:
            raise ValueError(f"eps must be in (0, 1), got {value!r}")
    model = build_model(activation, depth, width, init, teacher=teacher)
    dyn = ReducedDynamics(model, nodes=nodes or 48)
    points = []
    if system == "scalar" and dps is not None:
        try:
            points = _scalar_mp_points(dyn, eps_list, dps, fraction, nodes)
        except (_NoEscape, ConvergenceError) as exc:
            if on_failure == "raise":
                raise ConvergenceError(str(exc)) from None
            points = [EscapePoint(v, None, 0, status=str(exc)) for v in eps_list]
        return EscapeResult(model, system, dps, fraction, tuple(points))
    for value in eps_list:
        try:
            points.append(_one_point(dyn, value, system, dps, fraction, rtol, nodes))
        except _NoEscape as exc:
            if on_failure == "raise":
                raise ConvergenceError(f"eps = {value}: {exc}") from None
            points.append(EscapePoint(value, None, 0, status=str(exc)))
        except ConvergenceError as exc:
            if on_failure == "raise":
                raise
            points.append(EscapePoint(value, None, 0, status=str(exc)))
    return EscapeResult(model, system, dps, fraction, tuple(points))


def _one_point(dyn, value, system, dps, fraction, rtol, nodes) -> EscapePoint:
    if dps is None:
        eps = float(value)
        solve = _manifold_float if system == "manifold" else _scalar_float
        tau, count = solve(dyn, eps, fraction, rtol)
        check, _ = solve(dyn, eps, fraction, max(rtol / 100, 3e-14))
        digits = _agreeing_digits(tau, check, 15)
        expected = int(-math.log10(rtol)) - 2
        if digits < expected // 2:
            raise ConvergenceError(
                f"eps = {eps}: tau = {tau!r} and {check!r} at rtol {rtol:g} and {rtol / 100:g} "
                f"agree on only {digits} digits; tighten rtol or use dps"
            )
        return EscapePoint(eps, check, digits, evaluations=count)
    n1 = nodes or _default_nodes(dps)
    results = []
    for extra, n in ((8, n1), (_CHECK_EXTRA, n1 + 12)):
        with mpmath.workdps(dps + extra):
            eps = mpmath.mpf(str(value))
            results.append(_manifold_mp(dyn, eps, mpmath.mpf(fraction), n))
    return _checked_point(value, results[0], results[1], dps)


_CHECK_EXTRA = 14


def _checked_point(value, first, second, dps) -> EscapePoint:
    with mpmath.workdps(dps + _CHECK_EXTRA):
        digits = _agreeing_digits(first, second, dps)
    if digits < dps - 3:
        raise ConvergenceError(
            f"eps = {value}: evaluations at {dps + 8} and {dps + _CHECK_EXTRA} digits agree on "
            f"only {digits} digits (asked for {dps}); raise nodes or dps"
        )
    with mpmath.workdps(dps):
        return EscapePoint(mpmath.mpf(str(value)), +second, digits)


def _default_nodes(dps: int) -> int:
    """Half-range nodes for ``dps`` digits (about 1.3 digits per node for tanh-like σ)."""
    return max(24, int(1.3 * dps) + 12)


def _scalar_mp_points(dyn, eps_list, dps, fraction, nodes) -> list[EscapePoint]:
    n1 = nodes or _default_nodes(dps)
    runs = []
    for extra, n in ((8, n1), (_CHECK_EXTRA, n1 + 12)):
        with mpmath.workdps(dps + extra):
            eps = [mpmath.mpf(str(v)) for v in eps_list]
            runs.append(_scalar_mp_batch(dyn, eps, mpmath.mpf(fraction), n))
    return [_checked_point(v, a, b, dps) for v, a, b in zip(eps_list, *runs, strict=True)]
