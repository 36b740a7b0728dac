r"""Gradient flow :math:`\dot W_l = -\nabla_{W_l}\mathcal L` of a full network, integrated
adaptively, with the identity's right-hand side integrated alongside.

The state carries every weight (and bias) and, for each layer pair, the running
integral :math:`\int_0^t 2\,\mathbb E\langle W_{l+1}^\top\nabla_{z_{l+1}}\ell,
\varphi_\sigma(z_l)\rangle\,ds`; the identity says it equals
:math:`\Delta_l(t) - \Delta_l(0)`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import identity_sides, imbalances
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.symbolic.outcomes import ConvergenceError
from scipy.integrate import solve_ivp

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
    loss : array ``(T,)``
    imbalance : array ``(T, L-1)``
        :math:`\\Delta_l(t)`.
    drift_integral : array ``(T, L-1)``
        :math:`\\int_0^t` of the identity's right-hand side.
    final : Network
    nfev : int
        Right-hand-side evaluations.
    """

    times: np.ndarray
    loss: np.ndarray
    imbalance: np.ndarray
    drift_integral: np.ndarray
    final: Network
    nfev: int


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

    Returns
    -------
    FlowTrajectory

    Raises
    ------
    ValueError
        For a non-positive or non-finite ``t_final``, or other bad options.
    ConvergenceError
        When the integrator fails, or needs more than ``max_evaluations`` gradient
        evaluations (typical of piecewise-linear σ: a pre-activation pinned at a kink
        makes the flow non-smooth and adaptive steps collapse).

    Examples
    --------
    >>> from saddle_escape.numeric.network import random_network
    >>> rng = np.random.default_rng(0)
    >>> data = Dataset(rng.normal(size=(6, 2)), rng.normal(size=(6, 1)))
    >>> run = integrate_flow(random_network((2, 3, 1), seed=0), data, "tanh", t_final=1.0)
    >>> bool(np.allclose(run.imbalance - run.imbalance[0], run.drift_integral, atol=1e-8))
    True
    """
    _check_options(t_final, rtol, atol, n_points, max_evaluations)
    act, loss_fn = compile_activation(activation), get_loss(loss)
    pairs = network.depth - 1

    evaluations = 0

    def rhs(t, state):
        nonlocal evaluations
        evaluations += 1
        if evaluations > max_evaluations:
            raise ConvergenceError(
                f"gradient flow needed more than {max_evaluations} gradient evaluations by "
                f"t = {t:.6g}; for a piecewise σ a pre-activation is probably pinned at a kink "
                "(non-smooth flow): use a smooth activation, looser tolerances, or raise "
                "max_evaluations"
            )
        net = unflatten(state[: state.size - pairs], network)
        out = backprop(net, data, act, loss_fn)
        grads = [g.ravel() for g in out.grad_weights]
        if out.grad_biases is not None:
            grads += [g.ravel() for g in out.grad_biases]
        drift = [row[3] for row in identity_sides(net, data, act, loss_fn)]
        return np.concatenate([-np.concatenate(grads), np.asarray(drift, dtype=float)])

    start = np.concatenate([flatten(network), np.zeros(pairs)])
    times = np.linspace(0.0, t_final, n_points)
    sol = solve_ivp(rhs, (0.0, t_final), start, method="DOP853", t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise ConvergenceError(f"gradient flow integration failed: {sol.message}")
    nets = [unflatten(sol.y[: start.size - pairs, k], network) for k in range(sol.t.size)]
    return FlowTrajectory(
        times=sol.t,
        loss=np.array([float(backprop(n, data, act, loss_fn).loss) for n in nets]),
        imbalance=np.array([imbalances(n) for n in nets]),
        drift_integral=sol.y[start.size - pairs :, :].T,
        final=nets[-1],
        nfev=sol.nfev,
    )


def _check_options(t_final, rtol, atol, n_points, max_evaluations) -> None:
    for name, value in (("t_final", t_final), ("rtol", rtol), ("atol", atol)):
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not real or not 0 < float(value) < np.inf:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    for name, value, least in (("n_points", n_points, 2), ("max_evaluations", max_evaluations, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int ≥ {least}, got {value!r}")
