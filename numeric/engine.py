r"""One integrate-to-escape routine for every gradient system.

A *gradient system* is a state :math:`\theta` with a loss :math:`\mathcal L(\theta)` and
its gradient; the flow is :math:`\dot\theta = -\nabla\mathcal L` and the escape time is
the first :math:`t` with :math:`\mathcal L(\theta(t)) \le f\cdot\mathcal L(\theta(0))`
(conventions §3), or, with ``EscapeEvent(measure="overlap")``, the first :math:`t` with the
system's overlap at :math:`f` times its target (DESIGN §5; the loss floors below then do
not apply). The reduced L-dimensional system (``"manifold"``), the balanced scalar
reduction (``"scalar"``) and the full network (``"full"``) are registered by name in
:data:`SYSTEMS`, like SciPy's ``METHODS``.

:func:`integrate_to_escape` integrates with SciPy's ``solve_ivp`` in windows of growing
length (a plateau of length :math:`10^{12}` costs a few dozen windows) and ends with a
:class:`~saddle_escape.symbolic.outcomes.Status`:

* ``escaped``: the event fired; ``tau`` is the time;
* ``no_escape``: the threshold is provably out of reach (a lower bound on the loss that
  the system states), or the flow converged to a stationary point above the threshold:
  with a Hessian, a positive-definite one whose Newton step is negligible; without one,
  a gradient that fell geometrically for several windows while the loss it can still
  remove stays far below what the threshold needs. The floor is reported;
* ``budget_exhausted``: ``max_evaluations`` gradient evaluations or the horizon ``t_max``
  were spent;
* ``non_finite``: the state, the loss or the gradient overflowed;
* ``not_converged``: the integrator itself failed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from saddle_escape.symbolic.outcomes import Status
from scipy.integrate import solve_ivp

__all__ = [
    "Tolerances",
    "EscapeEvent",
    "Budget",
    "GradientSystem",
    "EngineRun",
    "integrate_to_escape",
    "SYSTEMS",
    "register_system",
    "positive_number",
    "unreachable_message",
]

#: The smallest relative tolerance SciPy's integrators accept (100 float64 epsilons).
MIN_RTOL = 100 * float(np.finfo(float).eps)
_METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
_IMPLICIT = ("Radau", "BDF", "LSODA")
#: Evaluations one explicit window may take before the run goes on with BDF (stiff).
_STIFF_EVALUATIONS = 5000
#: Smallest absolute tolerance of the stiff solver, relative to the state's largest entry.
_NOISE_ATOL = 1e-15
#: Windows retried (16× shorter) after a trial step overflowed, per run.
_MAX_RETRIES = 8
#: Largest ratio of successive window decreases of a loss judged to be converging.
_CONVERGING_RATIO = 0.5


def positive_number(name: str, value, *, upper: float = math.inf) -> float:
    """``value`` as a float in (0, ``upper``); TypeError for non-numbers, ValueError else.

    Examples
    --------
    >>> positive_number("rtol", 1e-8, upper=0.1)
    1e-08
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (0 < value < upper) or not math.isfinite(value):
        bound = "" if upper == math.inf else f" and below {upper:g}"
        raise ValueError(f"{name} must be positive and finite{bound}, got {value!r}")
    return value


@dataclass(frozen=True)
class Tolerances:
    """Integrator tolerances.

    Parameters
    ----------
    rtol : float
        Relative tolerance, in [:data:`MIN_RTOL`, 0.1).
    atol : float or None
        Absolute tolerance; ``None`` takes ``rtol·1e-3`` times the smallest non-zero
        entry of the initial state (at most 1), so that a layer at scale ε is resolved.
    method : str
        A ``solve_ivp`` method; implicit ones receive the system's Hessian as Jacobian.

    Examples
    --------
    >>> Tolerances(rtol=1e-10).method
    'DOP853'
    >>> Tolerances(rtol=0)
    Traceback (most recent call last):
    ...
    ValueError: Tolerances.rtol must be positive and finite and below 0.1, got 0.0
    """

    rtol: float = 1e-12
    atol: float | None = None
    method: str = "DOP853"

    def __post_init__(self):
        object.__setattr__(self, "rtol", positive_number("Tolerances.rtol", self.rtol, upper=0.1))
        if self.rtol < MIN_RTOL:
            raise ValueError(
                f"Tolerances.rtol must be at least {MIN_RTOL:.3g} (100 float64 epsilons, "
                f"SciPy's floor), got {self.rtol!r}"
            )
        if self.atol is not None:
            object.__setattr__(self, "atol", positive_number("Tolerances.atol", self.atol))
        if self.method not in _METHODS:
            raise ValueError(f"Tolerances.method must be one of {_METHODS}, got {self.method!r}")


#: Escape measures of :class:`EscapeEvent`.
MEASURES = ("loss", "overlap")


@dataclass(frozen=True)
class EscapeEvent:
    r"""Escape when the loss falls to ``fraction`` of its initial value, or the overlap rises.

    Parameters
    ----------
    fraction : float
        In (0, 1).
    measure : str
        ``"loss"``: the first t with :math:`\mathcal L \le f\cdot\mathcal L(0)`;
        ``"overlap"``: the first t with the system's progress
        (:meth:`GradientSystem.progress`, for a network :math:`\mathbb E[f(x)\,\hat c^\top x]`)
        at or above :math:`f` times its target (:math:`\Gamma = \mathbb E[y\,\hat c^\top x]`);
        DESIGN §5. The singular terms of τ★ do not depend on the measure.

    Examples
    --------
    >>> EscapeEvent(0.25).fraction
    0.25
    >>> EscapeEvent(measure="overlap").measure
    'overlap'
    """

    fraction: float = 0.5
    measure: str = "loss"

    def __post_init__(self):
        value = positive_number("EscapeEvent.fraction", self.fraction, upper=1.0)
        object.__setattr__(self, "fraction", value)
        if self.measure not in MEASURES:
            raise ValueError(f"EscapeEvent.measure must be one of {MEASURES}, got {self.measure!r}")


@dataclass(frozen=True)
class Budget:
    """Deterministic work budget of one integration.

    Parameters
    ----------
    max_evaluations : int
        Gradient evaluations (the default suits every reduced system of the toolkit; a
        full network is charged the same way).
    t_max : float
        The horizon in gradient-flow time.

    Examples
    --------
    >>> Budget(max_evaluations=1000).max_evaluations
    1000
    """

    max_evaluations: int = 200_000
    t_max: float = 1e15

    def __post_init__(self):
        n = self.max_evaluations
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"Budget.max_evaluations must be a positive int, got {n!r}")
        object.__setattr__(self, "max_evaluations", int(n))
        object.__setattr__(self, "t_max", positive_number("Budget.t_max", self.t_max))


class GradientSystem:
    """Base class of the systems the engine integrates.

    Subclasses implement :meth:`initial_state`, :meth:`loss` and :meth:`gradient`; a
    :meth:`hessian` (small systems) sharpens the stationary-point test and serves implicit
    methods; :meth:`loss_lower_bound` lets the engine refuse a threshold that is out of
    reach before integrating.
    """

    #: Registry name.
    name = "system"

    def initial_state(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, state: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def gradient(self, state: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def hessian(self, state: np.ndarray) -> np.ndarray | None:
        """The Hessian of the loss, or ``None`` when it is too large to form."""
        return None

    def loss_lower_bound(self) -> tuple[float, str] | None:
        """A proven lower bound on the loss over every state, and why; ``None`` if none."""
        return None

    def progress_target(self) -> float | None:
        """The target of the overlap measure (Γ for a network), or ``None`` without one.

        A system that returns a number here implements :meth:`progress`; the engine's
        ``"overlap"`` event then fires when ``progress(state) ≥ fraction·target``.
        """
        return None

    def progress(self, state: np.ndarray) -> float:
        """The overlap measure at ``state`` (only when :meth:`progress_target` is a number)."""
        raise NotImplementedError(f"the {self.name!r} system has no overlap measure")

    def trapped_floor(self, state: np.ndarray, loss: float) -> tuple[float, str] | None:
        """A lower bound on the loss for the rest of the flow from ``state``, and why.

        Gradient flow never raises the loss, so a region that the flow can only leave
        through states of higher loss than ``loss`` traps it; a bound on the loss over that
        region then holds forever after. ``None`` when no such argument applies.
        """
        return None


#: Registered systems: name -> class (see :func:`register_system`).
SYSTEMS: dict[str, Callable[..., GradientSystem]] = {}  # constructors differ by system


def register_system(cls: type[GradientSystem]) -> type[GradientSystem]:
    """Class decorator: register a :class:`GradientSystem` under its ``name``.

    Examples
    --------
    >>> sorted(SYSTEMS)  # doctest: +SKIP
    ['full', 'manifold', 'scalar']
    """
    SYSTEMS[cls.name] = cls
    return cls


@dataclass(frozen=True)
class EngineRun:
    """How one integration ended.

    Attributes
    ----------
    status : Status
    tau : float or None
        The escape time (``status`` escaped), else ``None``.
    message : str
        The status's meaning with this run's particulars (threshold, floor, budget).
    loss0, loss_final : float
    threshold : float
        The event's threshold in its measure: a loss, or an overlap (``measure``).
    loss_floor : float or None
        For ``no_escape``: the loss of the stationary point, or the proven bound.
    t_final : float
        Where the integration stopped.
    state : numpy.ndarray
        The final state.
    evaluations, steps : int
        Gradient evaluations and accepted integrator steps.
    seconds : float
    segments : tuple
        ``(t0, t1, OdeSolution)`` per window when dense output was asked for.
    measure : str
        The event's measure, ``"loss"`` or ``"overlap"``.
    """

    status: Status
    tau: float | None
    message: str
    loss0: float
    threshold: float
    loss_final: float
    loss_floor: float | None
    t_final: float
    state: np.ndarray = field(repr=False)
    evaluations: int
    steps: int
    seconds: float
    segments: tuple = field(default=(), repr=False)
    measure: str = "loss"

    def to_dict(self) -> dict:
        """JSON-ready summary (the trajectory is left out)."""
        return {
            "status": self.status.value,
            "tau": self.tau,
            "message": self.message,
            "loss0": self.loss0,
            "threshold": self.threshold,
            "loss_final": self.loss_final,
            "loss_floor": self.loss_floor,
            "t_final": self.t_final,
            "evaluations": self.evaluations,
            "steps": self.steps,
            "seconds": self.seconds,
            "measure": self.measure,
        }


class _Stiff(Exception):
    """Raised inside the right-hand side when an explicit window burns too many steps."""


class _Stop(Exception):
    """Raised inside the right-hand side to end the integration with a status."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def unreachable_message(fraction: float, loss0: float, floor: float, reason: str) -> str:
    """Why ``fraction``·𝓛(0) is out of reach below a proven floor (one wording everywhere).

    Examples
    --------
    >>> unreachable_message(0.5, 0.5, 0.25, "a reason").split(": ")[1]
    'the loss cannot fall to 0.5·𝓛(0) = 0.25'
    """
    return (
        f"no escape: the loss cannot fall to {fraction:g}·𝓛(0) = {fraction * loss0:.6g}: "
        f"{reason}, so 𝓛 ≥ {floor:.6g} = {floor / loss0:.4f}·𝓛(0) for every state; "
        f"choose a fraction above {floor / loss0:.4f}"
    )


def _jacobian(system):
    def jac(t, state):
        hessian = system.hessian(state)
        if not np.all(np.isfinite(hessian)):
            raise _Stop(Status.NON_FINITE, f"{Status.NON_FINITE.message} (Hessian, t = {t:.6g})")
        return -hessian

    return jac


def _default_atol(rtol: float, state: np.ndarray) -> float:
    nonzero = np.abs(state[state != 0])
    scale = min(float(nonzero.min()), 1.0) if nonzero.size else 1.0
    return rtol * 1e-3 * scale


def _hessian_floor(system, state, loss, grad, scale) -> float | None:
    """With a positive-definite Hessian and a negligible Newton step (against ``scale``,
    the size of the state at the start): the minimum's loss."""
    H = system.hessian(state)
    if H is None or not np.all(np.isfinite(H)):
        return None
    w, V = np.linalg.eigh((H + H.T) / 2)
    top = float(np.abs(w).max()) if w.size else 0.0
    if top == 0 or w.min() <= 1e-9 * top:
        return None
    step = V @ ((V.T @ grad) / w)
    if np.linalg.norm(step) > 1e-7 * max(float(np.linalg.norm(state)), scale, 1e-300):
        return None
    return float(loss - 0.5 * grad @ step)


def integrate_to_escape(
    system: GradientSystem,
    *,
    event: EscapeEvent | None = None,
    tolerances: Tolerances | None = None,
    budget: Budget | None = None,
    dense_output: bool = False,
) -> EngineRun:
    r"""Integrate :math:`\dot\theta = -\nabla\mathcal L(\theta)` until the escape event.

    Parameters
    ----------
    system : GradientSystem
    event : EscapeEvent, optional
        Default: the loss reaches half its initial value.
    tolerances : Tolerances, optional
    budget : Budget, optional
    dense_output : bool
        Keep each window's continuous solution (for recording trajectories).

    Returns
    -------
    EngineRun
        Never raises for a numerical outcome: the status says how it ended.

    References
    ----------
    conventions §3 (escape time), §7 (budgets) and §8 (statuses).

    Examples
    --------
    The linear network with four layers at ε = 0.1 (conventions §3's exact case):

    >>> from saddle_escape.classes.gate import build_model
    >>> from saddle_escape.numeric.escape import system_for
    >>> model = build_model("linear", 4, 16, "eps,eps,eps,eps")
    >>> run = integrate_to_escape(system_for(model, 0.1, "manifold"))
    >>> run.status.value, round(run.tau, 6)
    ('escaped', 49.374201)
    """
    event = event or EscapeEvent()
    tolerances = tolerances or Tolerances()
    budget = budget or Budget()
    start_clock = time.perf_counter()
    state0 = np.asarray(system.initial_state(), dtype=float)
    loss0 = float(system.loss(state0))
    overlap = event.measure == "overlap"
    if overlap:
        target = system.progress_target()
        if target is None:
            raise ValueError(
                f"the {system.name!r} system has no overlap measure; use "
                "EscapeEvent(measure='loss')"
            )
        if not (math.isfinite(target) and target > 0):
            raise ValueError(
                f"the overlap target is {target!r}: Γ = 0 means no first-order drive, so the "
                "escape happens at higher order on another clock; use EscapeEvent(measure='loss')"
            )
        threshold = event.fraction * target
        goal = f"{event.fraction:g}·Γ = {threshold:.6g}"
    else:
        threshold = event.fraction * loss0
        goal = f"{event.fraction:g}·𝓛(0)"
    counter = {"evaluations": 1, "steps": 0}

    def finish(status, message, *, tau=None, state=state0, t=0.0, floor=None, segments=()):
        final_loss = float(system.loss(state)) if np.all(np.isfinite(state)) else math.nan
        if status in (Status.NON_FINITE, Status.BUDGET_EXHAUSTED) and math.isfinite(final_loss):
            message += (
                f"; the last good state, t = {t:.6g}, has 𝓛 = {final_loss:.6g} = "
                f"{final_loss / loss0:.4f}·𝓛(0)"
            )
            if status is Status.NON_FINITE:  # a run-off to infinity shows in the state's size
                message += f" and max |θ| = {float(np.abs(state).max()):.3g}"
        return EngineRun(
            status=status,
            tau=tau,
            message=message,
            loss0=loss0,
            threshold=threshold,
            loss_final=final_loss,
            loss_floor=floor,
            t_final=float(t),
            state=state,
            evaluations=counter["evaluations"],
            steps=counter["steps"],
            seconds=time.perf_counter() - start_clock,
            segments=tuple(segments),
            measure=event.measure,
        )

    if not np.all(np.isfinite(state0)) or not math.isfinite(loss0):
        return finish(Status.NON_FINITE, f"{Status.NON_FINITE.message} (at t = 0)")
    if overlap and system.progress(state0) >= threshold:
        return finish(Status.ESCAPED, f"escaped at t = 0: the overlap is ≥ {goal}", tau=0.0)
    bound = None if overlap else system.loss_lower_bound()
    floor: float | None  # a proven lower bound here; a stationary point's loss below
    if bound is not None and bound[0] > threshold:
        floor, reason = bound
        return finish(
            Status.NO_ESCAPE, unreachable_message(event.fraction, loss0, floor, reason), floor=floor
        )

    def rhs(t, state):
        counter["evaluations"] += 1
        if counter["evaluations"] > budget.max_evaluations:
            raise _Stop(
                Status.BUDGET_EXHAUSTED,
                f"{Status.BUDGET_EXHAUSTED.message}: {budget.max_evaluations} gradient "
                f"evaluations by t = {t:.6g} without reaching "
                f"{'the overlap ' if overlap else ''}{goal}",
            )
        if stiff_check and counter["evaluations"] - window_start[0] > _STIFF_EVALUATIONS:
            raise _Stiff()
        grad = system.gradient(state)
        if not np.all(np.isfinite(grad)):
            raise _Stop(Status.NON_FINITE, f"{Status.NON_FINITE.message} (at t = {t:.6g})")
        return -grad

    def crossing(t, state):
        if overlap:
            return system.progress(state) - threshold
        return system.loss(state) - threshold

    # solve_ivp reads an event's options from attributes of the function.
    crossing.__dict__.update(terminal=True, direction=1 if overlap else -1)
    method = tolerances.method
    atol = tolerances.atol or _default_atol(tolerances.rtol, state0)
    scale = float(np.linalg.norm(state0))
    has_hessian = system.hessian(state0) is not None
    stiff_check = method not in _IMPLICIT and has_hessian
    window_start = [0]
    t0, state, horizon = 0.0, state0, 10.0
    segments: list = []
    gradient_history: list[float] = []
    window_losses = [loss0]
    retries = 0
    while t0 < budget.t_max:
        t1 = min(t0 + horizon, budget.t_max)
        options = {"jac": _jacobian(system)} if method in _IMPLICIT else {}
        window_start[0] = counter["evaluations"]
        try:
            sol = solve_ivp(
                rhs,
                (t0, t1),
                state,
                method=method,
                events=crossing,
                rtol=tolerances.rtol,
                atol=atol,
                dense_output=dense_output,
                **options,
            )
        except _Stiff:
            # A strongly damped direction caps the explicit step while the slow one drifts:
            # redo the window with BDF and the analytic Hessian as Jacobian (LSODA restarts
            # in its non-stiff mode every window and crawled here). The absolute
            # tolerance may not ask for less than the gradient's rounding can give (else the
            # step size collapses on rounding noise).
            method, stiff_check = "BDF", False
            atol = max(atol, _NOISE_ATOL * float(np.abs(state).max()))
            continue
        except _Stop as stop:
            if stop.status is Status.NON_FINITE and retries < _MAX_RETRIES:
                retries, horizon = retries + 1, horizon / 16  # a trial step overshot
                continue
            return finish(stop.status, stop.message, state=state, t=t0, segments=segments)
        except (FloatingPointError, OverflowError) as exc:
            if retries < _MAX_RETRIES:
                retries, horizon = retries + 1, horizon / 16
                continue
            return finish(
                Status.NON_FINITE, f"{Status.NON_FINITE.message} ({exc})", state=state, t=t0
            )
        counter["steps"] += max(sol.t.size - 1, 0)
        if sol.status == -1:
            return finish(
                Status.NOT_CONVERGED,
                f"{Status.NOT_CONVERGED.message} (solve_ivp at t = {t0:.6g}: {sol.message})",
                state=state,
                t=t0,
                segments=segments,
            )
        if dense_output:
            end = float(sol.t_events[0][0]) if sol.t_events[0].size else float(sol.t[-1])
            segments.append((t0, end, sol.sol))
        if sol.t_events[0].size:
            tau = float(sol.t_events[0][0])
            return finish(
                Status.ESCAPED,
                f"escaped: {'overlap ≥' if overlap else '𝓛 ≤'} {goal} at t = {tau:.10g}",
                tau=tau,
                state=sol.y_events[0][0],
                t=tau,
                segments=segments,
            )
        t0, state = float(sol.t[-1]), sol.y[:, -1]
        horizon *= 4
        if overlap:
            # The loss floors bound the loss, not the overlap: only a minimum (positive-
            # definite Hessian, negligible Newton step) below the threshold ends the run.
            grad = system.gradient(state)
            minimum = _hessian_floor(system, state, float(system.loss(state)), grad, scale)
            value = system.progress(state)
            if minimum is not None and value < threshold:
                return finish(
                    Status.NO_ESCAPE,
                    f"no escape: the flow converged to a minimum (t = {t0:.3g}) where the "
                    f"overlap is {value:.6g}, below {goal}",
                    state=state,
                    t=t0,
                    segments=segments,
                )
            continue
        floor = _stationary_floor(system, state, threshold, horizon, gradient_history, scale)
        if floor is not None:
            return finish(
                Status.NO_ESCAPE,
                f"no escape: the flow converged to a stationary point with loss "
                f"{floor:.6g} = {floor / loss0:.4f}·𝓛(0), above the threshold "
                f"{event.fraction:g}·𝓛(0) (t = {t0:.3g}); choose a fraction above "
                f"{floor / loss0:.4f} or another initialization",
                state=state,
                t=t0,
                floor=floor,
                segments=segments,
            )
        window_losses.append(float(system.loss(state)))
        trapped = system.trapped_floor(state, window_losses[-1])
        if trapped is not None and trapped[0] > threshold:
            floor, reason = trapped
            return finish(
                Status.NO_ESCAPE,
                f"no escape: {reason}; so 𝓛 ≥ {floor:.6g} = {floor / loss0:.4f}·𝓛(0) for "
                f"all t ≥ {t0:.3g}, above the threshold {event.fraction:g}·𝓛(0); choose a "
                f"fraction above {floor / loss0:.4f} or another initialization",
                state=state,
                t=t0,
                floor=floor,
                segments=segments,
            )
        converging = _converging_floor(window_losses, threshold)
        if converging is not None:
            floor, decreases = converging
            return finish(
                Status.NO_ESCAPE,
                f"no escape: the loss is converging to about {floor:.6g} = "
                f"{floor / loss0:.4f}·𝓛(0), above the threshold {event.fraction:g}·𝓛(0): it "
                f"fell by {', '.join(f'{d:.2g}' for d in decreases)} over the last windows "
                f"(each 4× longer than the one before; t = {t0:.3g}, state "
                f"{np.array2string(state, precision=3)}); choose a fraction above "
                f"{floor / loss0:.4f} or another initialization",
                state=state,
                t=t0,
                floor=floor,
                segments=segments,
            )
    return finish(
        Status.BUDGET_EXHAUSTED,
        f"{Status.BUDGET_EXHAUSTED.message}: the "
        f"{'overlap stayed below' if overlap else 'loss stayed above'} {goal} "
        f"up to the horizon t_max = {budget.t_max:g}",
        state=state,
        t=t0,
        segments=segments,
    )


def _converging_floor(losses: list[float], threshold: float) -> tuple[float, list] | None:
    """Floor and recent decreases when the loss converges above the threshold, else None.

    The windows grow 4× each, so a loss that approaches a floor (a minimum, or a floor at
    infinity that the state runs off to) falls by geometrically less per window, while a
    flow on a plateau falls by more per window as it goes (its rate holds or grows). Four
    windows in a row, each removing at most half of what the previous one did, bound all
    that is left by the last decrease; it must leave the loss above the threshold by a
    thousand times that bound.
    """
    if len(losses) < 6:
        return None
    decreases = [a - b for a, b in zip(losses[-5:-1], losses[-4:], strict=True)]
    if decreases[0] <= 0 or any(
        not 0 <= b <= _CONVERGING_RATIO * a for a, b in zip(decreases, decreases[1:], strict=False)
    ):
        return None
    left = decreases[-1] * _CONVERGING_RATIO / (1 - _CONVERGING_RATIO)
    if losses[-1] - 1000 * left <= threshold:
        return None
    return losses[-1] - left, decreases


def _stationary_floor(system, state, threshold, next_window, history, scale) -> float | None:
    """The loss of the stationary point the flow has converged to, or ``None``."""
    loss = float(system.loss(state))
    grad = system.gradient(state)
    if loss <= threshold:
        return None
    floor = _hessian_floor(system, state, loss, grad, scale)
    if floor is not None:
        return floor if floor > threshold else None
    # No Hessian: the gradient fell geometrically (×0.1 per window, three windows in a
    # row) and, even at its current size over the whole next window (×4 longer), the flow
    # could remove less than 1e-3 of the gap to the threshold. A small gradient alone
    # proves nothing: on the plateau of a deep bottleneck it is ~ε^(r-1) (1e-12 for r = 5
    # at ε = 1e-3) and grows.
    norm = float(np.linalg.norm(grad))
    history.append(norm)
    recent = history[-4:]
    falling = all(b <= 0.1 * a for a, b in zip(recent, recent[1:], strict=False))
    if len(recent) < 4 or not falling:
        return None
    if norm**2 * next_window * 2 >= 1e-3 * (loss - threshold):
        return None
    return loss
