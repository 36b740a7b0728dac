r"""Gradient flow :math:`\dot W_l = -\nabla_{W_l}\mathcal L` of a full network, integrated
adaptively, with the identity's right-hand side integrated alongside.

The state carries every weight (and bias) and, for each layer pair, the running
integral :math:`\int_0^t 2\,\mathbb E\langle W_{l+1}^\top\nabla_{z_{l+1}}\ell,
\varphi_\sigma(z_l)\rangle\,ds`; the identity says it equals
:math:`\Delta_l(t) - \Delta_l(0)`.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import identity_sides, imbalances
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.symbolic.outcomes import BudgetExhaustedError, ConvergenceError, Status
from scipy.integrate import DOP853

__all__ = ["flatten", "unflatten", "FlowTrajectory", "integrate_flow"]


def flatten(network: Network) -> np.ndarray:
    """All weights (then biases) in one float vector, row-major, layer by layer.

    Parameters
    ----------
    network : Network

    Returns
    -------
    numpy.ndarray
        ``Σ_l N_l N_{l-1}`` weights, then ``Σ_l N_l`` biases (if any).

    Examples
    --------
    >>> flatten(Network((np.array([[1.0, 2.0]]), np.array([[3.0]])))).tolist()
    [1.0, 2.0, 3.0]
    """
    parts = [w.ravel() for w in network.weights]
    if network.biases is not None:
        parts += [b.ravel() for b in network.biases]
    return np.concatenate(parts).astype(float)


def unflatten(vector: np.ndarray, template: Network) -> Network:
    """The network of ``template``'s shapes holding the entries of ``vector``.

    The inverse of :func:`flatten`.

    Parameters
    ----------
    vector : numpy.ndarray
        At least as many entries as ``template`` has weights and biases.
    template : Network

    Returns
    -------
    Network

    Examples
    --------
    >>> net = Network((np.array([[1.0, 2.0]]), np.array([[3.0]])))
    >>> unflatten(flatten(net) * 2, net).weights[0].tolist()
    [[2.0, 4.0]]
    """
    weights, start = [], 0
    for w in template.weights:
        weights.append(vector[start : start + w.size].reshape(w.shape))
        start += w.size
    biases = None
    if template.biases is not None:
        biases = []
        for b in template.biases:
            biases.append(vector[start : start + b.size])
            start += b.size
    return Network(tuple(weights), None if biases is None else tuple(biases))


@dataclass(frozen=True)
class FlowTrajectory:
    """Times, losses, imbalances and the integrated right-hand side along a flow.

    Attributes
    ----------
    times : array ``(T,)``
        The recorded times reached: all ``n_points`` on success, those before the stop
        otherwise (at least ``t = 0``).
    loss : array ``(T,)``
        ``nan`` where it overflowed.
    imbalance : array ``(T, L-1)``
        :math:`\\Delta_l(t)`.
    drift_integral : array ``(T, L-1)``
        :math:`\\int_0^t` of the identity's right-hand side.
    final : Network
        The weights at ``times[-1]``.
    nfev : int
        Right-hand-side evaluations (the same as ``evaluations``).
    status : Status
        ``success`` (reached ``t_final``), ``budget_exhausted`` (``max_evaluations``
        gradient evaluations), ``non_finite`` (the state or the gradient overflowed) or
        ``not_converged`` (the integrator failed, e.g. its step size collapsed).
    message : str
        What happened and what to do next.
    evaluations, steps : int
        Gradient evaluations (each one backpropagation), and accepted integrator steps.
    seconds : float
        Wall-clock time.
    t_reached : float
        The time of the last accepted step (``t_final`` on success).
    t_final, rtol, atol, n_points, max_evaluations
        The inputs.
    activation, loss_name : str
        The activation's label and the loss's name (``loss`` holds the loss values).

    Examples
    --------
    >>> net = Network((np.array([[0.5]]), np.array([[0.5]])))
    >>> data = Dataset(np.ones((1, 1)), np.ones((1, 1)))
    >>> run = integrate_flow(net, data, "identity", t_final=1.0, n_points=3)
    >>> run.status.value, run.times.tolist(), run.steps > 0
    ('success', [0.0, 0.5, 1.0], True)
    """

    times: np.ndarray
    loss: np.ndarray
    imbalance: np.ndarray
    drift_integral: np.ndarray
    final: Network
    nfev: int
    status: Status = Status.SUCCESS
    message: str = ""
    evaluations: int = 0
    steps: int = 0
    seconds: float = 0.0
    t_reached: float = math.nan
    t_final: float = math.nan
    rtol: float = math.nan
    atol: float = math.nan
    n_points: int = 0
    max_evaluations: int = 0
    activation: str = ""
    loss_name: str = ""

    def to_dict(self) -> dict:
        """JSON-ready (strict: a non-finite number is ``None``); the final weights as lists."""
        final = {"weights": [_floats(w) for w in self.final.weights]}
        if self.final.biases is not None:
            final["biases"] = [_floats(b) for b in self.final.biases]
        return {
            "status": self.status.value,
            "message": self.message,
            "activation": self.activation,
            "loss_name": self.loss_name,
            "widths": list(self.final.widths),
            "bias": self.final.biases is not None,
            "t_final": _number(self.t_final),
            "rtol": _number(self.rtol),
            "atol": _number(self.atol),
            "n_points": self.n_points,
            "max_evaluations": self.max_evaluations,
            "t_reached": _number(self.t_reached),
            "evaluations": self.evaluations,
            "steps": self.steps,
            "nfev": self.nfev,
            "seconds": self.seconds,
            "times": _floats(self.times),
            "loss": _floats(self.loss),
            "imbalance": _floats(self.imbalance),
            "drift_integral": _floats(self.drift_integral),
            "final": final,
        }


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _floats(array) -> list:
    """Nested lists of floats, ``None`` for NaN and infinities."""
    array = np.asarray(array, dtype=float)
    if array.ndim == 0:
        return _number(array)  # type: ignore[return-value]
    return [_floats(a) for a in array] if array.ndim > 1 else [_number(v) for v in array]


class _Stop(Exception):
    """Ends the integration from inside the right-hand side: ``(status, message)``."""


def integrate_flow(
    network: Network,
    data: Dataset,
    activation,
    loss="squared",
    *,
    t_final: float,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    n_points: int = 50,
    max_evaluations: int = 100_000,
    throw: bool = True,
) -> FlowTrajectory:
    r"""Integrate gradient flow on ``data`` to ``t_final`` (SciPy ``DOP853``).

    :math:`\dot W_l = -\nabla_{W_l}\mathcal L` (and :math:`\dot b_l = -\nabla_{b_l}
    \mathcal L`), with the identity's right-hand side integrated alongside.

    Parameters
    ----------
    network : Network
        The initial weights.
    data : Dataset
    activation : str or sympy.Expr or CompiledActivation
    loss : str or Loss
    t_final : float
        Positive, finite gradient-flow time.
    rtol, atol : float
        Positive tolerances of the integrator.
    n_points : int
        Recorded times, evenly spaced on ``[0, t_final]`` (at least 2).
    max_evaluations : int
        Work budget: gradient evaluations (at least 1).
    throw : bool
        Raise when the flow does not reach ``t_final`` (default), or return the partial
        trajectory with its status.

    Returns
    -------
    FlowTrajectory
        With ``status``, the counters ``evaluations``, ``steps``, ``seconds`` and the
        inputs.

    Raises
    ------
    ValueError
        For a non-positive or non-finite ``t_final``, or other bad options.
    TypeError
        When ``throw`` is not a bool.
    BudgetExhaustedError
        With ``throw=True``, when the flow needs more than ``max_evaluations`` gradient
        evaluations (typical of piecewise-linear σ: a pre-activation pinned at a kink
        makes the flow non-smooth and adaptive steps collapse).
    ConvergenceError
        With ``throw=True``, when the integrator fails or the state becomes non-finite.
        Both carry ``status`` and ``result`` (the partial :class:`FlowTrajectory`).

    Examples
    --------
    >>> from saddle_escape.numeric.network import random_network
    >>> rng = np.random.default_rng(0)
    >>> data = Dataset(rng.normal(size=(6, 2)), rng.normal(size=(6, 1)))
    >>> run = integrate_flow(random_network((2, 3, 1), seed=0), data, "tanh", t_final=1.0)
    >>> bool(np.allclose(run.imbalance - run.imbalance[0], run.drift_integral, atol=1e-8))
    True
    >>> short = integrate_flow(
    ...     random_network((2, 3, 1), seed=0), data, "tanh", t_final=1.0, max_evaluations=20,
    ...     throw=False)
    >>> short.status.value, short.evaluations
    ('budget_exhausted', 20)
    """
    started = time.perf_counter()
    _check_options(t_final, rtol, atol, n_points, max_evaluations)
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    act, loss_fn = compile_activation(activation), get_loss(loss)
    pairs = network.depth - 1

    evaluations = 0
    finite = [True]  # whether the last right-hand side was finite

    def rhs(t, state):
        nonlocal evaluations
        if evaluations >= max_evaluations:
            raise _Stop(
                Status.BUDGET_EXHAUSTED,
                f"gradient flow needed more than {max_evaluations} gradient evaluations by "
                f"t = {t:.6g} (of {t_final:g}); for a piecewise σ a pre-activation is "
                "probably pinned at a kink (non-smooth flow): use a smooth activation, looser "
                "tolerances, or raise max_evaluations",
            )
        evaluations += 1
        net = unflatten(state[: state.size - pairs], network)
        try:
            out = backprop(net, data, act, loss_fn)
        except FloatingPointError as exc:  # the loss overflowed
            raise _Stop(Status.NON_FINITE, f"non-finite values at t = {t:.6g}: {exc}") from None
        grads = [g.ravel() for g in out.grad_weights]
        if out.grad_biases is not None:
            grads += [g.ravel() for g in out.grad_biases]
        drift = [side.rhs for side in identity_sides(net, data, act, loss_fn)]
        value = np.concatenate([-np.concatenate(grads), np.asarray(drift, dtype=float)])
        finite[0] = bool(np.isfinite(value).all())
        return value

    start = np.concatenate([flatten(network), np.zeros(pairs)])
    times = np.linspace(0.0, t_final, n_points)
    # t = 0 is the initial state exactly; the other times come from the dense output of
    # each accepted step (as solve_ivp's t_eval does).
    ts, ys = [times[:1]], [start[:, None]]
    index, steps = 1, 0
    status, message = Status.SUCCESS, "reached t_final"
    t_reached = 0.0
    try:
        # The solver evaluates the gradient at t = 0 (twice) to choose its first step.
        solver = DOP853(rhs, 0.0, start, t_final, rtol=rtol, atol=atol)
        while solver.status == "running":
            step_message = solver.step()
            if solver.status == "failed":
                status = Status.NON_FINITE if not finite[0] else Status.NOT_CONVERGED
                message = (
                    f"gradient flow integration failed at t = {solver.t:.6g}: {step_message}"
                    + (
                        " (the gradient is not finite)"
                        if not finite[0]
                        else "; the flow may blow up in finite time (a loss unbounded below) "
                        "or be non-smooth: check the loss and σ, or shorten t_final"
                    )
                )
                break
            steps += 1
            t_reached = float(solver.t)
            if not np.isfinite(solver.y).all():
                status = Status.NON_FINITE
                message = (
                    f"{Status.NON_FINITE.message}: the weights are not finite at t = {solver.t:.6g}"
                )
                break
            new = int(np.searchsorted(times, solver.t, side="right"))
            if new > index:
                ts.append(times[index:new])
                ys.append(solver.dense_output()(times[index:new]))
                index = new
    except _Stop as stop:
        status, message = stop.args
    t_out = np.concatenate(ts)
    y_out = np.hstack(ys)
    nets = [unflatten(y_out[: start.size - pairs, k], network) for k in range(t_out.size)]
    with np.errstate(all="ignore"):
        losses = np.array([_loss_or_nan(n, data, act, loss_fn) for n in nets])
        imbalance = np.array([imbalances(n) for n in nets])
    result = FlowTrajectory(
        times=t_out,
        loss=losses,
        imbalance=imbalance,
        drift_integral=y_out[start.size - pairs :, :].T,
        final=nets[-1],
        nfev=evaluations,
        status=status,
        message=message,
        evaluations=evaluations,
        steps=steps,
        seconds=time.perf_counter() - started,
        t_reached=t_reached,
        t_final=float(t_final),
        rtol=float(rtol),
        atol=float(atol),
        n_points=n_points,
        max_evaluations=max_evaluations,
        activation=act.label,
        loss_name=loss_fn.name,
    )
    if throw and not status.ok:
        error = BudgetExhaustedError if status is Status.BUDGET_EXHAUSTED else ConvergenceError
        raise error(message, status=status, result=result)
    return result


def _loss_or_nan(network, data, act, loss_fn) -> float:
    try:
        return float(backprop(network, data, act, loss_fn).loss)
    except FloatingPointError:  # overflowed: the state is recorded, its loss is not a number
        return math.nan


def _check_options(t_final, rtol, atol, n_points, max_evaluations) -> None:
    for name, value in (("t_final", t_final), ("rtol", rtol), ("atol", atol)):
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not real or not 0 < float(value) < np.inf:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    for name, value, least in (("n_points", n_points, 2), ("max_evaluations", max_evaluations, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int ≥ {least}, got {value!r}")
