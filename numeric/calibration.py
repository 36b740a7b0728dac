r"""Predicted escape times from one calibration: the paper's protocol (conventions §5).

Near the origin the network is linear to leading order, so with the architecture, the
initialization and ε fixed, the leading singular term of τ★ scales as 1/Γ (exactly so when
the bottleneck includes layer 1). One prefactor is fixed on a calibration condition (an
isotropic single-mode task), and every other condition is held out:

.. math::  \tau_{\rm pred}(\varepsilon) = \tau_{\rm cal}(\varepsilon_{\rm cal})\,
           \frac{\Gamma_{\rm cal}}{\Gamma}\,
           \frac{g_r(\varepsilon)}{g_r(\varepsilon_{\rm cal})},\qquad
           g_r(\varepsilon) = \begin{cases}\varepsilon^{-(r-2)} & r\ge 3\\
           \ln(1/\varepsilon) & r = 2\end{cases}

(the critical-depth law of conventions §3 carries the prediction across ε; at
:math:`\varepsilon = \varepsilon_{\rm cal}` the factor is 1). For r = 1 the escape time
tends to a finite limit with no singular term, and that limit is not set by Γ: the
small first layer grows at a rate ∝ Γ but must travel a distance ∝ Γ too, so rescaling y
leaves τ★ unchanged to leading order (measured: τ★(2y)/τ★(y) = 1.01–1.02 at ε = 10⁻²,
10⁻³ on digits parity, and the Γ prediction off by a factor 3.4). :func:`predict_tau`
therefore refuses r = 1.

"Same initialization" is made precise by a coupling: He-normal weights are
rotation-invariant in distribution, so each held-out condition uses the calibration's
first-layer weights rotated by the Householder reflection H that takes its drive
direction ĉ to the calibration's (``W_1 → W_1 H``, ``W_1 H ĉ = W_1 ĉ_cal``): every
condition then meets the same weights along its own drive (``coupling="aligned"``).
``coupling="independent"`` uses the plain seeded He-normal weights for every condition.

When O(1) layers come before the bottleneck (layer 1 not in it), the bottleneck is driven
by the features ``h = σ(W_{b-1} … σ(W_1 x))`` of those layers at their initial weights, and
the toolkit's drive is :math:`D = \lVert\mathbb E[y\,h]\rVert` (the largest singular value
for vector targets) instead of Γ; :func:`held_out_table` reports both predictions.

Escape threshold on data: the loss fraction at which half of the loss that the first mode
alone can remove is gone (:func:`escape_fraction`); for the isotropic single-mode teacher
this is the conventions' loss halving. The singular terms of τ★ do not depend on it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from saddle_escape.classes.gate import admit_activation
from saddle_escape.numeric.data import DataTask
from saddle_escape.numeric.engine import positive_number
from saddle_escape.numeric.functions import compile_activation
from saddle_escape.numeric.network import Network
from saddle_escape.numeric.simulate import full_escape_time, he_network

__all__ = [
    "Calibration",
    "calibrate",
    "depth_factor",
    "predict_tau",
    "Architecture",
    "escape_fraction",
    "householder",
    "task_network",
    "first_order_drive",
    "TaskRun",
    "simulate_task",
    "HeldOutRow",
    "HeldOutTable",
    "held_out_table",
    "COUPLINGS",
    "R1_MESSAGE",
]

#: How the initial weights of a held-out condition relate to the calibration's.
COUPLINGS = ("aligned", "independent")

#: Why r = 1 has no Γ prediction (measured in the module docstring).
R1_MESSAGE = (
    "r = 1: τ★ tends to a finite limit with no singular term, and that limit is not set by "
    "Γ (the small layer grows at a rate ∝ Γ over a distance ∝ Γ: rescaling y leaves τ★ "
    "unchanged to leading order), so there is no Γ prediction; simulate instead, or put "
    "r ≥ 2 layers in the bottleneck"
)

#: Largest width and depth of the networks simulated here (as the simulate command).
MAX_WIDTH, MAX_DEPTH = 4096, 64


def _positive(name: str, value) -> float:
    try:
        return positive_number(name, value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _eps(name: str, value) -> float:
    value = _positive(name, value)
    if not value < 1:
        raise ValueError(f"{name} must be in (0, 1): the bottleneck starts small, got {value!r}")
    return value


def _r(r) -> int:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(
            f"r (the number of bottleneck layers) must be a whole number ≥ 1, got {r!r}"
        )
    return int(r)


@dataclass(frozen=True)
class Calibration:
    """One calibration point: τ★ of the calibration condition, its Γ and its ε.

    Attributes
    ----------
    tau, gamma, eps : float
    """

    tau: float
    gamma: float
    eps: float

    @property
    def clock(self) -> float:
        """τ_cal·Γ_cal: the prefactor every prediction at ε_cal shares."""
        return self.tau * self.gamma

    def to_dict(self) -> dict:
        return {"tau": self.tau, "gamma": self.gamma, "eps": self.eps, "clock": self.clock}


def calibrate(tau_cal: float, gamma_cal: float, eps_cal: float) -> Calibration:
    """Fix the prefactor on one condition: its escape time, Γ and ε.

    Raises
    ------
    ValueError
        Unless τ and Γ are positive and finite and ε is in (0, 1).

    Examples
    --------
    >>> calibrate(20.0, 1.0, 0.01).clock
    20.0
    >>> calibrate(20.0, 0.0, 0.01)
    Traceback (most recent call last):
    ...
    ValueError: gamma_cal must be positive and finite, got 0.0
    """
    return Calibration(
        _positive("tau_cal", tau_cal), _positive("gamma_cal", gamma_cal), _eps("eps_cal", eps_cal)
    )


def depth_factor(eps: float, r: int) -> float:
    """The singular ε-dependence of τ★: ε^−(r−2) for r ≥ 3, ln(1/ε) for r = 2.

    Raises
    ------
    ValueError
        For r = 1 (:data:`R1_MESSAGE`), or ε outside (0, 1).

    Examples
    --------
    >>> depth_factor(0.5, 4), round(depth_factor(0.1, 2), 6)
    (4.0, 2.302585)
    """
    eps, r = _eps("eps", eps), _r(r)
    if r == 1:
        raise ValueError(R1_MESSAGE)
    return math.log(1 / eps) if r == 2 else eps ** -(r - 2)


def predict_tau(calibration: Calibration, gamma: float, eps: float, r: int) -> float:
    r"""τ_pred = τ_cal·Γ_cal/Γ at ε_cal, carried to ε by the critical-depth law.

    .. math:: \tau_{\rm pred} = \tau_{\rm cal}\frac{\Gamma_{\rm cal}}{\Gamma}
              \frac{g_r(\varepsilon)}{g_r(\varepsilon_{\rm cal})}

    with :math:`g_r = \varepsilon^{-(r-2)}` (r ≥ 3) or :math:`\ln(1/\varepsilon)`
    (r = 2). Leading order: the O(1) remainder of τ★ is not predicted (it matters most for
    r = 2, where it competes with a logarithm). The same architecture, initialization and
    number r of bottleneck layers are assumed for both conditions.

    Raises
    ------
    ValueError
        For r = 1 (:data:`R1_MESSAGE`), a non-positive Γ, or ε outside (0, 1).

    Examples
    --------
    >>> cal = calibrate(20.0, 1.0, 0.01)
    >>> predict_tau(cal, 4.0, 0.01, 3)  # four times the drive: a quarter of the time
    5.0
    >>> predict_tau(cal, 1.0, 0.001, 3)  # r = 3: τ ∝ 1/ε
    200.0
    >>> predict_tau(cal, 1.0, 0.0001, 2)  # r = 2: τ ∝ ln(1/ε)
    40.0
    """
    gamma = _positive("gamma", gamma)
    return calibration.clock / gamma * depth_factor(eps, r) / depth_factor(calibration.eps, r)


# ----------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class Architecture:
    """The full network of a prediction: σ, hidden width N, depth L, bottleneck layers.

    Widths are ``(d, N, …, N, m)`` for a task with d inputs and m outputs; the layers in
    ``bottleneck`` (1-based) start at He-normal × ε, the others at He-normal.

    Examples
    --------
    >>> arch = Architecture("tanh", 8, 5, (1, 2, 3))
    >>> arch.r, arch.includes_first, arch.widths(64, 1)
    (3, True, (64, 8, 8, 8, 8, 1))
    >>> Architecture("tanh", 8, 3, (2, 4))
    Traceback (most recent call last):
    ...
    ValueError: bottleneck layers must be in 1..3 (the depth), got (2, 4)
    """

    activation: str = "tanh"
    width: int = 16
    depth: int = 5
    bottleneck: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self):
        if not isinstance(self.activation, str):
            raise ValueError(
                f"activation must be a name or an expression string, got {self.activation!r}"
            )
        for name, value, upper in (
            ("width", self.width, MAX_WIDTH),
            ("depth", self.depth, MAX_DEPTH),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if not (2 if name == "depth" else 1) <= value <= upper:
                low = 2 if name == "depth" else 1
                raise ValueError(f"{name} must be from {low} to {upper}, got {value}")
        try:
            layers = tuple(int(b) for b in self.bottleneck)
        except (TypeError, ValueError):
            raise ValueError(
                f"bottleneck must list layer numbers, got {self.bottleneck!r}"
            ) from None
        if not layers:
            raise ValueError("bottleneck must list at least one layer (nothing starts small)")
        if any(not 1 <= b <= self.depth for b in layers):
            raise ValueError(
                f"bottleneck layers must be in 1..{self.depth} (the depth), got {layers}"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"bottleneck lists a layer twice: {layers}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "bottleneck", tuple(sorted(layers)))

    @property
    def r(self) -> int:
        """The number of bottleneck layers."""
        return len(self.bottleneck)

    @property
    def includes_first(self) -> bool:
        """Whether layer 1 is in the bottleneck (then the drive is exactly Γ)."""
        return 1 in self.bottleneck

    def widths(self, d: int, m: int) -> tuple[int, ...]:
        return (int(d),) + (self.width,) * (self.depth - 1) + (int(m),)

    def to_dict(self) -> dict:
        return {
            "activation": self.activation,
            "width": self.width,
            "depth": self.depth,
            "bottleneck": list(self.bottleneck),
            "r": self.r,
            "includes_first": self.includes_first,
        }


def escape_fraction(task: DataTask, *, share: float = 0.5) -> float:
    r"""The loss fraction at which ``share`` of the first mode's loss drop is done.

    The best multiple of the first mode alone, :math:`f = a\,u_1\hat{\mathbf c}^\top x`,
    removes :math:`\Gamma^2/(2\,\hat{\mathbf c}^\top\hat\Sigma\hat{\mathbf c})` of the loss
    :math:`\tfrac12\mathbb E\lVert y\rVert^2` at the origin; the threshold is
    :math:`1 - \text{share}\cdot\Gamma^2/(\hat{\mathbf c}^\top\hat\Sigma\hat{\mathbf c}\,
    \mathbb E\lVert y\rVert^2)` of 𝓛(0). Loss halving when the first mode can remove all
    of the loss (a linear single-mode teacher on white inputs). It is always reachable by
    the first escape, which a plain loss halving is not on real targets.

    Examples
    --------
    >>> x = np.vstack([np.eye(2), -np.eye(2)])
    >>> escape_fraction(DataTask(x, x[:, 0]))  # the first mode removes everything
    0.5
    """
    share = _positive("share", share)
    if not share < 1:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    est = task.gamma(bootstrap=0)
    direction = np.array(est.direction)
    spread = float(direction @ task.second_moment() @ direction)
    removable = est.gamma**2 / spread / float((task.targets**2).sum(axis=1).mean())
    return 1.0 - share * min(removable, 1.0)


def householder(source, target) -> np.ndarray:
    """The reflection H (orthogonal, symmetric) with ``H @ source = target`` (unit vectors).

    Examples
    --------
    >>> H = householder(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    >>> np.round(H @ np.array([1.0, 0.0]), 12).tolist()
    [0.0, 1.0]
    """
    a, b = np.asarray(source, float), np.asarray(target, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"source and target must be vectors of one length, got {a.shape}, {b.shape}"
        )
    if not (np.isclose(np.linalg.norm(a), 1) and np.isclose(np.linalg.norm(b), 1)):
        raise ValueError("source and target must be unit vectors")
    v = a - b
    norm = float(np.linalg.norm(v))
    if norm < 1e-14:
        return np.eye(a.size)
    v = v / norm
    return np.eye(a.size) - 2.0 * np.outer(v, v)


def task_network(
    task: DataTask, architecture: Architecture, eps: float, seed: int, *, align_to=None
) -> Network:
    """The He-normal network for ``task`` (bottleneck × ε), its first layer coupled.

    With ``align_to`` (a unit vector in input space, the calibration's ĉ) the first layer
    becomes ``W_1 H`` with ``H ĉ = align_to`` (see the module docstring); without it, the
    plain seeded He-normal weights.

    Examples
    --------
    >>> x = np.vstack([np.eye(2), -np.eye(2)])
    >>> task = DataTask(x, x[:, 1])
    >>> net = task_network(task, Architecture("tanh", 3, 3, (1,)), 0.1, 0, align_to=[1.0, 0.0])
    >>> plain = task_network(task, Architecture("tanh", 3, 3, (1,)), 0.1, 0)
    >>> bool(np.allclose(net.weights[0][:, 1], plain.weights[0][:, 0]))  # W_1 H ĉ = W_1 e_0
    True
    """
    net = he_network(architecture.widths(task.d, task.m), architecture.bottleneck, eps, seed=seed)
    if align_to is None:
        return net
    H = householder(task.gamma(bootstrap=0).direction, align_to)
    weights = list(net.weights)
    weights[0] = weights[0] @ H
    return Network(tuple(weights))


def first_order_drive(task: DataTask, network: Network, architecture: Architecture) -> float:
    r"""The first-order drive on the bottleneck, through the O(1) layers before it.

    With b the first bottleneck layer, :math:`h = \sigma(W_{b-1}\cdots\sigma(W_1x))` (at
    the network's weights) and :math:`D = \lVert\mathbb E[y\,h^\top]\rVert_2` (the
    largest singular value; the norm for a scalar target). When the bottleneck includes
    layer 1, ``h = x`` and D = Γ̂.

    Examples
    --------
    >>> x = np.vstack([np.eye(2), -np.eye(2)])
    >>> task = DataTask(x, x[:, 0])
    >>> net = Network((np.array([[2.0, 0.0], [0.0, 1.0]]), np.ones((3, 2)), np.ones((1, 3))))
    >>> round(first_order_drive(task, net, Architecture("linear", 2, 3, (2,))), 12)  # ‖W_1 c‖
    1.0
    """
    features = task.inputs
    act = compile_activation(architecture.activation)
    for w in network.weights[: architecture.bottleneck[0] - 1]:
        features = act.sigma(features @ w.T)
    C = task.targets.T @ features / task.n
    return float(np.linalg.svd(C, compute_uv=False)[0])


@dataclass(frozen=True)
class TaskRun:
    """One simulated escape of a full network on a data task.

    Attributes
    ----------
    condition : str
        The task's name.
    eps : float
    seed : int
    tau : float or None
        τ★ (``None`` unless ``status`` is ``escaped``).
    status, message : str
    fraction : float
        The loss fraction of the escape event (:func:`escape_fraction`).
    gamma, drive : float
        Γ̂ of the task and the first-order drive through the O(1) layers.
    evaluations : int
    seconds : float
    """

    condition: str
    eps: float
    seed: int
    tau: float | None
    status: str
    message: str
    fraction: float
    gamma: float
    drive: float
    evaluations: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "condition": self.condition,
            "eps": self.eps,
            "seed": self.seed,
            "tau": self.tau,
            "status": self.status,
            "message": self.message,
            "fraction": self.fraction,
            "gamma": self.gamma,
            "drive": self.drive,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
        }


def simulate_task(
    task: DataTask,
    architecture: Architecture,
    eps: float,
    seed: int,
    *,
    align_to=None,
    activation: Any = None,
    rtol: float = 1e-6,
    max_evaluations: int = 100_000,
) -> TaskRun:
    """Full-network gradient flow on ``task`` (full batch) to :func:`escape_fraction`.

    ``activation`` may pass an already admitted activation (what worker processes get);
    by default the architecture's.

    Examples
    --------
    >>> x = np.vstack([np.eye(2), -np.eye(2)])
    >>> run = simulate_task(DataTask(x, x[:, 0]), Architecture("tanh", 4, 3, (1, 2)), 0.1, 0)
    >>> run.status, run.tau > 0, run.fraction
    ('escaped', True, 0.5)
    """
    eps = _eps("eps", eps)
    start = time.perf_counter()
    net = task_network(task, architecture, eps, seed, align_to=align_to)
    fraction = escape_fraction(task)
    act = architecture.activation if activation is None else activation
    run = full_escape_time(
        net,
        task.dataset(),
        act,
        rtol=rtol,
        fraction=fraction,
        max_evaluations=max_evaluations,
        record=2,
    )
    return TaskRun(
        condition=task.name,
        eps=eps,
        seed=int(seed),
        tau=run.tau,
        status=run.status.value,
        message=run.message,
        fraction=fraction,
        gamma=task.gamma(bootstrap=0).gamma,
        drive=first_order_drive(task, net, architecture),
        evaluations=run.evaluations,
        seconds=time.perf_counter() - start,
    )


def _case(case) -> TaskRun:
    task, architecture, eps, seed, align_to, activation, rtol, budget = case
    return simulate_task(
        task,
        architecture,
        eps,
        seed,
        align_to=align_to,
        activation=activation,
        rtol=rtol,
        max_evaluations=budget,
    )


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class HeldOutRow:
    """One held-out condition at one ε and seed: predicted, observed, and their ratio.

    ``tau_pred`` uses Γ (the paper's clock), ``tau_pred_drive`` the first-order drive
    through the O(1) layers before the bottleneck (equal to ``tau_pred`` when layer 1 is
    in the bottleneck). Ratios are predicted over observed; ``None`` where a run did not
    escape or nothing was observed.
    """

    condition: str
    eps: float
    seed: int
    gamma: float
    drive: float
    eps_cal: float
    tau_cal: float | None
    gamma_cal: float
    drive_cal: float
    tau_pred: float | None
    tau_pred_drive: float | None
    tau_obs: float | None
    status: str | None

    @property
    def ratio(self) -> float | None:
        return _ratio(self.tau_pred, self.tau_obs)

    @property
    def ratio_drive(self) -> float | None:
        return _ratio(self.tau_pred_drive, self.tau_obs)

    def to_dict(self) -> dict:
        return {
            "condition": self.condition,
            "eps": self.eps,
            "seed": self.seed,
            "gamma": self.gamma,
            "drive": self.drive,
            "eps_cal": self.eps_cal,
            "tau_cal": self.tau_cal,
            "gamma_cal": self.gamma_cal,
            "drive_cal": self.drive_cal,
            "tau_pred": self.tau_pred,
            "tau_pred_drive": self.tau_pred_drive,
            "tau_obs": self.tau_obs,
            "status": self.status,
            "ratio": self.ratio,
            "ratio_drive": self.ratio_drive,
        }


def _ratio(pred: float | None, obs: float | None) -> float | None:
    return None if pred is None or obs is None else pred / obs


def _median_abs_log(ratios) -> float | None:
    values = [abs(math.log(q)) for q in ratios if q is not None and q > 0]
    return float(np.median(values)) if values else None


@dataclass(frozen=True)
class HeldOutTable:
    """Predictions for held-out conditions from one calibration condition.

    Attributes
    ----------
    calibration : dict
        The calibration task's metadata and Γ̂.
    architecture : Architecture
    coupling : str
    eps_cal : float or None
        The one ε of the calibration runs (carried across ε by the law), or ``None``
        when the calibration ran at every ε (same-ε predictions).
    calibration_runs : tuple of TaskRun
    runs : tuple of TaskRun
        The observed held-out runs (empty without observation).
    rows : tuple of HeldOutRow
    seconds : float
    """

    calibration: dict
    architecture: Architecture
    coupling: str
    eps_cal: float | None
    calibration_runs: tuple[TaskRun, ...]
    runs: tuple[TaskRun, ...]
    rows: tuple[HeldOutRow, ...]
    seconds: float

    @property
    def median_abs_log_ratio(self) -> float | None:
        """Median over held-out rows of ``|ln(τ_pred/τ_obs)|`` with Γ."""
        return _median_abs_log(r.ratio for r in self.rows)

    @property
    def median_abs_log_ratio_drive(self) -> float | None:
        """The same with the drive through the O(1) layers."""
        return _median_abs_log(r.ratio_drive for r in self.rows)

    @property
    def failures(self) -> list[TaskRun]:
        """Runs (calibration or held-out) that did not escape."""
        return [run for run in self.calibration_runs + self.runs if run.tau is None]

    def points(self) -> list[dict]:
        """Per condition and ε: means over seeds of τ_cal, τ_pred (both clocks) and τ_obs."""
        out = []
        keys = sorted({(r.condition, r.eps) for r in self.rows}, key=lambda k: (k[0], -k[1]))
        order = {name: i for i, name in enumerate(dict.fromkeys(r.condition for r in self.rows))}
        keys.sort(key=lambda k: (order[k[0]], -k[1]))

        def mean(values):
            values = [v for v in values if v is not None]
            return float(np.mean(values)) if values else None

        for condition, eps in keys:
            rows = [r for r in self.rows if r.condition == condition and r.eps == eps]
            obs = mean(r.tau_obs for r in rows)
            pred = mean(r.tau_pred for r in rows)
            pred_drive = mean(r.tau_pred_drive for r in rows)
            out.append(
                {
                    "condition": condition,
                    "eps": eps,
                    "gamma": rows[0].gamma,
                    "tau_cal": mean(r.tau_cal for r in rows),
                    "tau_pred": pred,
                    "tau_pred_drive": pred_drive,
                    "tau_obs": obs,
                    "ratio": _ratio(pred, obs),
                    "ratio_drive": _ratio(pred_drive, obs),
                    "seeds": len(rows),
                }
            )
        return out

    def to_dict(self) -> dict:
        return {
            "calibration": self.calibration,
            "architecture": self.architecture.to_dict(),
            "coupling": self.coupling,
            "eps_cal": self.eps_cal,
            "median_abs_log_ratio": self.median_abs_log_ratio,
            "median_abs_log_ratio_drive": self.median_abs_log_ratio_drive,
            "points": self.points(),
            "rows": [r.to_dict() for r in self.rows],
            "calibration_runs": [r.to_dict() for r in self.calibration_runs],
            "failures": [r.to_dict() for r in self.failures],
            "seconds": self.seconds,
        }


def held_out_table(
    calibration: DataTask,
    held_out: Sequence[DataTask],
    architecture: Architecture,
    eps: Sequence[float],
    *,
    seeds: int = 3,
    calibrate_eps: float | None = None,
    observe: bool = True,
    coupling: str = "aligned",
    rtol: float = 1e-6,
    max_evaluations: int = 100_000,
    executor: Executor | None = None,
    progress: Callable[[], None] | None = None,
) -> HeldOutTable:
    """Calibrate on one condition, predict the held-out ones, and simulate them.

    For every seed s = 0..seeds−1 the calibration condition is simulated (the full
    network, full batch) at every ε (or only at ``calibrate_eps``, then carried across ε
    by the critical-depth law); each held-out condition is predicted from the calibration
    with the same seed, with Γ (:func:`predict_tau`) and with the drive through the O(1)
    layers, and, with ``observe``, simulated.

    Parameters
    ----------
    calibration : DataTask
        The calibration condition (e.g. ``load_data("gaussian:D:N")``).
    held_out : sequence of DataTask
        Same input dimension and number of outputs as the calibration.
    architecture : Architecture
    eps : sequence of float
        Values of ε in (0, 1).
    seeds : int
        He-normal seeds 0..seeds−1.
    calibrate_eps : float, optional
        Calibrate at this one ε only.
    observe : bool
        Simulate the held-out conditions (else predictions only).
    coupling : {"aligned", "independent"}
        How each condition's initial weights relate to the calibration's (module
        docstring).
    rtol, max_evaluations : float, int
        Tolerance and gradient budget of every run.
    executor : concurrent.futures.Executor, optional
        Spreads the runs (``local_executor()``); ``None`` runs them here.
    progress : callable, optional
        Called after each finished run.

    Returns
    -------
    HeldOutTable

    Raises
    ------
    ValueError
        For r = 1, mismatched dimensions, an unknown coupling, bad ε or seeds, or a
        condition without first-order drive.

    Examples
    --------
    >>> x = np.vstack([np.eye(2), -np.eye(2)])
    >>> cal, other = DataTask(x, x[:, 0], "cal"), DataTask(x, 3 * x[:, 1], "other")
    >>> table = held_out_table(cal, [other], Architecture("tanh", 4, 4, (1, 2, 3)), [0.05], seeds=1)
    >>> row = table.rows[0]
    >>> round(row.gamma / row.gamma_cal, 12), round(row.ratio, 1)
    (3.0, 1.0)
    """
    start = time.perf_counter()
    if architecture.r == 1:
        raise ValueError(R1_MESSAGE)
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds must be a whole number ≥ 1, got {seeds!r}")
    eps_values = [_eps("eps", e) for e in eps]
    if not eps_values:
        raise ValueError("eps needs at least one value")
    if not isinstance(calibration, DataTask) or not all(isinstance(t, DataTask) for t in held_out):
        raise ValueError("calibration and held_out must be DataTask objects (see load_data)")
    for task in held_out:
        if (task.d, task.m) != (calibration.d, calibration.m):
            raise ValueError(
                f"{task.name!r} has d = {task.d}, m = {task.m} but the calibration "
                f"{calibration.name!r} has d = {calibration.d}, m = {calibration.m}: the "
                "architecture must be the same"
            )
    cal_gamma = calibration.gamma(bootstrap=0)
    gammas = {id(t): t.gamma(bootstrap=0).gamma for t in held_out}  # raises without drive
    cal_eps = eps_values if calibrate_eps is None else [_eps("calibrate_eps", calibrate_eps)]
    align = np.array(cal_gamma.direction) if coupling == "aligned" else None
    activation = admit_activation(architecture.activation)
    compile_activation(activation)  # fail fast on an activation without a numeric σ
    cases = [
        (calibration, architecture, e, s, align, activation, rtol, max_evaluations)
        for e in cal_eps
        for s in range(seeds)
    ]
    if observe:
        cases += [
            (task, architecture, e, s, align, activation, rtol, max_evaluations)
            for task in held_out
            for e in eps_values
            for s in range(seeds)
        ]
    step = progress or (lambda: None)
    results: list[TaskRun] = []
    for run in map(_case, cases) if executor is None else executor.map(_case, cases):
        results.append(run)
        step()
    cal_runs = results[: len(cal_eps) * seeds]
    observed = results[len(cal_eps) * seeds :]
    cal_by = {(run.eps, run.seed): run for run in cal_runs}
    rows = []
    index = 0
    for task in held_out:
        drives = {
            s: first_order_drive(
                task,
                task_network(task, architecture, eps_values[0], s, align_to=align),
                architecture,
            )
            for s in range(seeds)
        }
        for e in eps_values:
            for s in range(seeds):
                e_cal = e if calibrate_eps is None else cal_eps[0]
                cal = cal_by[(e_cal, s)]
                pred = pred_drive = None
                if cal.tau is not None:
                    point = calibrate(cal.tau, cal.gamma, e_cal)
                    pred = predict_tau(point, gammas[id(task)], e, architecture.r)
                    point = calibrate(cal.tau, cal.drive, e_cal)
                    pred_drive = predict_tau(point, drives[s], e, architecture.r)
                seen = observed[index] if observe else None
                index += 1 if observe else 0
                rows.append(
                    HeldOutRow(
                        condition=task.name,
                        eps=e,
                        seed=s,
                        gamma=gammas[id(task)],
                        drive=drives[s],
                        eps_cal=e_cal,
                        tau_cal=cal.tau,
                        gamma_cal=cal.gamma,
                        drive_cal=cal.drive,
                        tau_pred=pred,
                        tau_pred_drive=pred_drive,
                        tau_obs=None if seen is None else seen.tau,
                        status=None if seen is None else seen.status,
                    )
                )
    return HeldOutTable(
        calibration={**calibration.to_dict(), "gamma": cal_gamma.gamma},
        architecture=architecture,
        coupling=coupling,
        eps_cal=None if calibrate_eps is None else cal_eps[0],
        calibration_runs=tuple(cal_runs),
        runs=tuple(observed),
        rows=tuple(rows),
        seconds=time.perf_counter() - start,
    )
