r"""Escape times :math:`\tau_\star(\varepsilon)` of the reduced dynamics (conventions §3).

τ★ is the first t with :math:`\mathcal L(t) \le f\cdot\mathcal L(0)`. Two systems:

* ``"manifold"``: the exact L-dimensional reduced flow :math:`\dot Y = -\nabla_Y\mathcal L`;
* ``"scalar"``: the balanced reduction :math:`\dot y = -P'(y)/r`.

float64 runs go through the one escape engine (:mod:`saddle_escape.numeric.engine`,
SciPy ``DOP853`` with a terminal event, windows of growing length, budgets, stationary
points detected). Arbitrary precision: the manifold system by ``mpmath.odefun`` (Taylor
method) with a bottleneck layer's log-scale :math:`u = \ln Y_b` as the clock; the scalar
system by ``mpmath.quad`` of :math:`\int dy/\dot y` in :math:`\ln y`.

Every value is computed twice, the second time with a tighter tolerance *and* more
Gauss nodes (or more digits and nodes), and the agreeing digits are recorded: a lower
bound on the accuracy of the reported value, capped at what float64 holds. Too few
agreeing digits end the point with status ``not_converged``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import SupportsFloat

import mpmath
import numpy as np
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric import systems as _systems  # noqa: F401 (registers the systems)
from saddle_escape.numeric.engine import (
    MIN_RTOL,
    SYSTEMS,
    Budget,
    EngineRun,
    EscapeEvent,
    Tolerances,
    integrate_to_escape,
    positive_number,
    unreachable_message,
)
from saddle_escape.numeric.gaussian import half_range_rule_mp
from saddle_escape.numeric.reduced import ReducedDynamics, to_mpf
from saddle_escape.symbolic.display import frame, html_section, html_table
from saddle_escape.symbolic.outcomes import BudgetExhaustedError, ConvergenceError, Status
from saddle_escape.symbolic.reduction import ReducedModel

__all__ = [
    "EscapePoint",
    "EscapeResult",
    "escape_time",
    "system_for",
    "REDUCED_SYSTEMS",
    "FLOAT64_DIGITS",
]

#: The reduced systems ``escape_time`` integrates.
REDUCED_SYSTEMS = ("manifold", "scalar")
#: Most digits a float64 escape time is ever credited with (float64 resolves ~15.9; the
#: integrator's and the quadrature's rounding take the rest). Calibrated against the
#: linear closed form and 30-digit tanh and GELU references (tests/numeric/test_digits.py):
#: at the tightest tolerances both computations agree on 14-15 digits while the true
#: error is 1e-15 to 3e-14 (13.5 digits at worst), a floor the agreement cannot see.
FLOAT64_DIGITS = 13
#: Default work budget of one float64 reduced integration: the slowest escapes of the
#: benchmarks need under 10 000 gradient evaluations; 20 000 end a run that will not
#: escape in about ten seconds.
REDUCED_BUDGET = Budget(max_evaluations=20_000)
#: Default budget with biases: the bias relaxes fast while the scales crawl, so the explicit
#: steps are capped until the engine turns to BDF (sigmoid ``eps,eps,eps,eps`` with an
#: output bias at ε = 0.02: 21 000 evaluations, 2 s).
BIASED_BUDGET = Budget(max_evaluations=100_000)
#: The check run of an escaped point (rtol/100) gets this many times the first run's budget:
#: the first run proved the threshold reachable, and where the right-hand side's rounding
#: is relatively large (a one-sided series whose halves cancel at small y: ELU at ε = 1e-4
#: needs ~30 000 evaluations at rtol 2.2e-14) a tighter tolerance costs many more steps.
CHECK_BUDGET_FACTOR = 5
#: Default loss fraction; see :func:`escape_time` for the automatic choice when it is
#: provably out of reach.
DEFAULT_FRACTION = 0.5


class _NoEscape(Exception):
    """The loss never reaches the threshold (internal, mpmath routes)."""


def system_for(model: ReducedModel, eps: float, system: str = "manifold", *, nodes: int = 48):
    """The engine's :class:`~saddle_escape.numeric.engine.GradientSystem` for a reduced model.

    Examples
    --------
    >>> system_for(build_model("tanh", 4, 16, "1,eps,eps,eps"), 0.1, "scalar").name
    'scalar'
    """
    if system not in REDUCED_SYSTEMS:
        raise ValueError(f"system must be one of {REDUCED_SYSTEMS}, got {system!r}")
    return SYSTEMS[system](ReducedDynamics(model, nodes=nodes), eps)


@dataclass(frozen=True)
class EscapePoint:
    """One escape time: ``tau`` for ``eps``, with the digits two computations agree on.

    Attributes
    ----------
    eps, tau
        Floats (float64) or mpf (``dps``); ``tau`` is ``None`` unless ``status`` is
        escaped.
    digits : int
        Agreeing digits of the two computations: a lower bound on the accuracy of ``tau``.
    status : Status
    message : str
    evaluations : int
        Gradient evaluations of both computations (float64 routes).
    loss_floor : float or None
        For ``no_escape``: the stationary point's loss, or the proven bound.
    """

    eps: SupportsFloat | str  # a point that fails keeps the eps it was given
    tau: SupportsFloat | None
    digits: int
    status: Status = Status.ESCAPED
    message: str = ""
    evaluations: int = 0
    loss_floor: float | None = None

    def to_dict(self, dps: int | None) -> dict:
        return {
            "eps": _decimal(self.eps, dps),
            "eps_value": float(self.eps),
            "tau": None if self.tau is None else _decimal(self.tau, dps),
            "tau_value": None if self.tau is None else float(self.tau),
            "digits": self.digits,
            "status": self.status.value,
            "message": self.message,
            "evaluations": self.evaluations,
            "loss_floor": self.loss_floor,
        }


def _decimal(value, dps: int | None):
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, dps or 15, min_fixed=-6, max_fixed=12)
    return float(value)


@dataclass(frozen=True)
class EscapeResult:
    """Escape times for several ε on one model and system.

    ``status`` is escaped when every point escaped, else the first failing point's.
    """

    model: ReducedModel
    system: str
    dps: int | None
    fraction: float
    points: tuple[EscapePoint, ...]
    notes: tuple[str, ...] = field(default=())
    rtol: float | None = None
    nodes: int | None = None

    @property
    def status(self) -> Status:
        return next((p.status for p in self.points if not p.status.ok), Status.ESCAPED)

    @property
    def evaluations(self) -> int:
        return sum(p.evaluations for p in self.points)

    def to_frame(self):
        """The points as a :class:`pandas.DataFrame`, one row per ε (needs pandas).

        The columns are the keys of :meth:`EscapePoint.to_dict` (``eps``, ``eps_value``,
        ``tau``, ``tau_value``, ``digits``, ``status``, …).

        Raises
        ------
        ImportError
            When pandas is not installed.

        Examples
        --------
        >>> model = build_model("linear", 4, 16, "eps,eps,eps,eps")
        >>> df = escape_time(model, eps=[0.1, 0.05], system="scalar").to_frame()
        >>> df[["eps", "status"]].values.tolist()
        [[0.1, 'escaped'], [0.05, 'escaped']]
        """
        columns = list(EscapePoint(0.0, None, 0).to_dict(None))
        return frame([p.to_dict(self.dps) for p in self.points], columns=columns)

    def _repr_html_(self) -> str:
        """The escape times as an HTML table (Jupyter).

        Examples
        --------
        >>> model = build_model("linear", 4, 16, "eps,eps,eps,eps")
        >>> page = escape_time(model, eps=[0.1], system="scalar")._repr_html_()
        >>> "<th>ε</th><th>τ★</th><th>digits</th>" in page, "<td>0.1</td>" in page
        (True, True)
        """
        precision = "float64" if self.dps is None else f"mpmath, {self.dps} digits"
        table = html_table(
            ["ε", "τ★", "digits", "status", "evaluations"],
            [
                [d["eps"], d["tau"], d["digits"], d["status"], d["evaluations"]]
                for d in (p.to_dict(self.dps) for p in self.points)
            ],
            caption=f"{self.system} system, {precision}, threshold {self.fraction:g}·𝓛(0)",
        )
        failed = [f"ε = {p.eps}: {p.message}" for p in self.points if not p.status.ok]
        return html_section(
            f"τ★(ε) for {self.model.label}: {self.status.value}",
            table,
            notes=list(self.notes) + failed,
        )

    def to_dict(self) -> dict:
        return {
            **self.model.to_dict(),
            "system": self.system,
            "dps": self.dps,
            "precision": "float64" if self.dps is None else f"mpmath, {self.dps} digits",
            "fraction": self.fraction,
            "rtol": self.rtol,
            "nodes": self.nodes,
            "status": self.status.value,
            "evaluations": self.evaluations,
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


# -- float64, through the engine ---------------------------------------------------------


def _float_point(dyn, eps, system, event, rtol, budget) -> EscapePoint:
    """Two engine runs (rtol, nodes) and (rtol/100, nodes + 16); the second is reported."""
    first = integrate_to_escape(
        SYSTEMS[system](dyn, eps), event=event, tolerances=Tolerances(rtol=rtol), budget=budget
    )
    if first.status is not Status.ESCAPED:
        return _failed_point(eps, first)
    finer = copy.copy(dyn)
    finer.nodes = dyn.nodes + 16
    second = integrate_to_escape(
        SYSTEMS[system](finer, eps),
        event=event,
        tolerances=Tolerances(rtol=max(rtol / 100, MIN_RTOL)),
        budget=replace(budget, max_evaluations=CHECK_BUDGET_FACTOR * budget.max_evaluations),
    )
    evaluations = first.evaluations + second.evaluations
    if second.status is not Status.ESCAPED:
        return _failed_point(eps, second, evaluations)
    digits = _agreeing_digits(first.tau, second.tau, FLOAT64_DIGITS)
    expected = int(-math.log10(rtol)) - 2
    if digits < min(expected, FLOAT64_DIGITS) // 2:
        return EscapePoint(
            eps,
            None,
            digits,
            Status.NOT_CONVERGED,
            f"{Status.NOT_CONVERGED.message}: tau = {first.tau!r} (rtol {rtol:g}, {dyn.nodes} "
            f"nodes) and {second.tau!r} (rtol {rtol / 100:g}, {finer.nodes} nodes) agree on "
            f"only {digits} digits",
            evaluations,
        )
    return EscapePoint(eps, second.tau, digits, Status.ESCAPED, second.message, evaluations)


def _failed_point(eps, run: EngineRun, evaluations: int | None = None) -> EscapePoint:
    return EscapePoint(
        eps,
        None,
        0,
        run.status,
        run.message,
        run.evaluations if evaluations is None else evaluations,
        run.loss_floor,
    )


def halfway_fraction(floor_ratio: float) -> float:
    """The escape fraction halfway between 𝓛(0) and a floor at ``floor_ratio``·𝓛(0),
    rounded up to a hundredth (used when ½𝓛(0) is below a floor the flow approaches).

    Examples
    --------
    >>> halfway_fraction(0.5005)  # ReLU's s²/4 against 𝓛(0) at ε = 0.1
    0.76
    """
    return math.ceil(100 * (1 + floor_ratio) / 2) / 100


def _choose_fraction(model, dyn, eps_values, fraction) -> tuple[float, list[str]]:
    """The loss fraction to use: as given, or (``None``) ½ unless provably out of reach.

    When σ is one-signed the loss is bounded below by s²/4 on the manifold; if that bound
    is attained (ReLU) and ½·𝓛(0) lies below it, escape is measured halfway between 𝓛(0)
    and the bound instead (the singular terms of τ★ do not depend on the threshold).
    """
    if fraction is not None:
        return float(fraction), []
    bound = model.loss_lower_bound()
    if bound is None or not bound.attained:
        return DEFAULT_FRACTION, []
    floor = float(bound.value)
    losses = [dyn.loss([float(v) for v in model.initial_point(e)]) for e in eps_values]
    worst = max(floor / loss for loss in losses)
    if DEFAULT_FRACTION * min(losses) > floor:
        return DEFAULT_FRACTION, []
    chosen = halfway_fraction(worst)
    return chosen, [
        f"the loss cannot fall to {DEFAULT_FRACTION}·𝓛(0): {bound.reason}, so 𝓛 ≥ "
        f"{floor:.6g} ≈ {worst:.4f}·𝓛(0), a floor the flow approaches; escape is measured "
        f"at {chosen:g}·𝓛(0) instead (halfway to the floor; the singular terms of τ★ do not "
        "depend on the threshold). Pass fraction explicitly to choose another."
    ]


# -- arbitrary precision: the bracket of the threshold ------------------------------------


def _upper_limit(P, speed, eps, target, scale=1.1):
    """Smallest geometric step past which P ≤ target, checking the flow keeps going.

    A budget of 4000 steps (y up to 1.1**4000·ε).
    """
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

    calls = [0]

    def derivs(u, state):
        calls[0] += 1
        if calls[0] > MP_MANIFOLD_EVALUATIONS:
            raise BudgetExhaustedError(
                f"{Status.BUDGET_EXHAUSTED.message}: the mpmath manifold route evaluated the "
                f"gradient {MP_MANIFOLD_EVALUATIONS} times; use --system scalar at high "
                "precision (much faster), or float64"
            )
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
    fraction: float | None = None,
    rtol: float = 1e-12,
    nodes: int | None = None,
    budget: Budget | None = None,
    throw: bool = True,
    biases=None,
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
    fraction : float, optional
        Escape when the loss reaches ``fraction`` of its initial value. Default ½, except
        when ½·𝓛(0) is provably below a floor the flow approaches (one-signed σ such as
        ReLU: 𝓛 ≥ s²/4 on the manifold); then halfway between 𝓛(0) and that floor, with a
        note. An explicit fraction below a proven floor ends with status ``no_escape``.
    rtol : float
        float64 tolerance, at least :data:`~saddle_escape.numeric.engine.MIN_RTOL`
        (2.2e-14; the check reruns at ``rtol/100``, or that floor, with 16 more Gauss
        nodes).
    nodes : int, optional
        Gauss nodes for non-polynomial σ (default 48 in float64, ``1.3·dps + 12`` in mpmath;
        the check adds 16 or 12).
    budget : Budget, optional
        Work budget of each float64 integration (default :data:`REDUCED_BUDGET`).
    throw : bool
        Raise :class:`ConvergenceError` (carrying the status and the result) when a point
        does not escape (default), or return the result with per-point statuses.
    biases : str or sequence, optional
        Trainable biases (``"output"``, ``"all"``, layer numbers; see
        :func:`~saddle_escape.symbolic.reduction.parse_biases`), each one more coordinate
        of the manifold system, starting at 0. The bias relaxes at a rate of order
        1 + Nσ(0)² while the escape takes ε^−(r−2): the default budget is then
        :data:`BIASED_BUDGET`.

    Returns
    -------
    EscapeResult

    Raises
    ------
    ValueError, TypeError
        For bad arguments.
    ConvergenceError
        With ``throw=True``, when a point ends without escaping: ``no_escape``,
        ``not_converged``, ``non_finite`` or (:class:`BudgetExhaustedError`'s status)
        ``budget_exhausted``; ``exc.status`` and ``exc.result`` say which and hold the rest.

    References
    ----------
    conventions §3 (escape time, reduced dynamics).

    Examples
    --------
    >>> result = escape_time("linear", 4, 16, "eps,eps,eps,eps", [0.1])
    >>> round(float(result.points[0].tau), 6), result.status.value
    (49.374201, 'escaped')
    >>> r = escape_time("sigmoid", 4, 16, "1,eps,eps,eps", [0.01], system="scalar", throw=False)
    >>> r.status.value, r.points[0].loss_floor  # the balanced flow falls back to y = 0
    ('no_escape', 0.5...)
    """
    if system not in REDUCED_SYSTEMS:
        raise ValueError(f"system must be one of {REDUCED_SYSTEMS}, got {system!r}")
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    if fraction is not None:
        fraction = positive_number("fraction", fraction, upper=1.0)
        if fraction < 1e-6:
            raise ValueError(f"fraction must be at least 1e-6, got {fraction!r}")
    rtol = positive_number("rtol", rtol, upper=0.1)
    if rtol < MIN_RTOL:  # the engine's floor (it used to be refused there, mid-run)
        raise ValueError(f"rtol must be at least {MIN_RTOL:.3g} in float64 (use dps), got {rtol!r}")
    if dps is not None and (
        not isinstance(dps, int) or isinstance(dps, bool) or not 10 <= dps <= _MAX_DPS
    ):
        raise ValueError(
            f"dps must be an int from 10 to {_MAX_DPS} (or None for float64), got {dps!r}"
        )
    if nodes is not None and (
        not isinstance(nodes, int) or isinstance(nodes, bool) or not 1 <= nodes <= _MAX_NODES
    ):
        raise ValueError(f"nodes must be an int from 1 to {_MAX_NODES}, got {nodes!r}")
    eps_list = list(eps) if isinstance(eps, (list, tuple, np.ndarray)) else [eps]
    if not eps_list:
        raise ValueError("give at least one value of eps")
    if len(eps_list) > _MAX_POINTS:
        raise ValueError(f"at most {_MAX_POINTS} values of eps per call, got {len(eps_list)}")
    for value in eps_list:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"eps must be numbers in (0, 1), got {value!r}") from None
        if not 1e-300 < number < 1:
            raise ValueError(f"eps must be in (0, 1), got {value!r}")
    model = build_model(activation, depth, width, init, teacher=teacher, biases=biases)
    if model.biases and system != "manifold":
        raise ValueError(
            f"a model with biases runs on the manifold system, not {system!r}: the balanced "
            "scalar reduction has no bias coordinate"
        )
    dyn = ReducedDynamics(model, nodes=nodes or 48)
    fraction, notes = _choose_fraction(model, dyn, [float(v) for v in eps_list], fraction)
    if dps is None:
        default = BIASED_BUDGET if model.biases else REDUCED_BUDGET
        event, budget = EscapeEvent(fraction), budget or default
        points = [_float_point(dyn, float(v), system, event, rtol, budget) for v in eps_list]
    else:
        points = _mp_points(model, dyn, eps_list, system, dps, fraction, nodes)
    result = EscapeResult(
        model, system, dps, fraction, tuple(points), tuple(notes), rtol, nodes or dyn.nodes
    )
    if throw and not result.status.ok:
        failed = next(p for p in points if not p.status.ok)
        raise ConvergenceError(
            f"eps = {failed.eps}: {failed.message}", status=failed.status, result=result
        )
    return result


_MAX_DPS = 200
#: Gradient evaluations the mpmath manifold route (Taylor ODE solver) may spend per run:
#: the exact linear case at 30 digits needs about 3,600 per run (measured), tanh at 10
#: digits about 750.
MP_MANIFOLD_EVALUATIONS = 10_000
_MAX_NODES = 300  # SciPy's float64 half-range weights turn NaN beyond about 360
_MAX_POINTS = 200
_CHECK_EXTRA = 14


def _mp_points(model, dyn, eps_list, system, dps, fraction, nodes) -> list[EscapePoint]:
    bound = model.loss_lower_bound()
    if bound is not None:
        with mpmath.workdps(dps + 8):
            losses = [dyn.evaluate_mp(model.initial_point(mpmath.mpf(str(v))))[0] for v in eps_list]
        floor, loss0 = float(bound.value), min(float(v) for v in losses)
        if fraction * loss0 < floor:
            message = unreachable_message(fraction, loss0, floor, bound.reason)
            return [EscapePoint(v, None, 0, Status.NO_ESCAPE, message, 0, floor) for v in eps_list]
    try:
        if system == "scalar":
            return _scalar_mp_points(dyn, eps_list, dps, fraction, nodes)
        return [_manifold_mp_point(dyn, v, dps, fraction, nodes) for v in eps_list]
    except _NoEscape as exc:
        return [EscapePoint(v, None, 0, Status.NO_ESCAPE, f"no escape: {exc}") for v in eps_list]
    except ConvergenceError as exc:
        return [EscapePoint(v, None, 0, exc.status, str(exc)) for v in eps_list]


def _manifold_mp_point(dyn, value, dps, fraction, nodes) -> EscapePoint:
    n1 = nodes or _default_nodes(dps)
    results = []
    for extra, n in ((8, n1), (_CHECK_EXTRA, n1 + 12)):
        with mpmath.workdps(dps + extra):
            eps = mpmath.mpf(str(value))
            results.append(_manifold_mp(dyn, eps, mpmath.mpf(fraction), n))
    return _checked_point(value, results[0], results[1], dps)


def _checked_point(value, first, second, dps) -> EscapePoint:
    with mpmath.workdps(dps + _CHECK_EXTRA):
        digits = _agreeing_digits(first, second, dps)
    with mpmath.workdps(dps):
        eps = mpmath.mpf(str(value))
        if digits < dps - 3:
            return EscapePoint(
                eps,
                None,
                digits,
                Status.NOT_CONVERGED,
                f"{Status.NOT_CONVERGED.message}: evaluations at {dps + 8} and "
                f"{dps + _CHECK_EXTRA} digits agree on only {digits} digits (asked for {dps})",
            )
        return EscapePoint(eps, +second, digits, Status.ESCAPED, "escaped")


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
