r"""Discrete optimizers run to the escape event: gradient descent, minibatch SGD, momentum.

Conventions (DESIGN §1, §6):

* **Time is gradient-flow time**: ``k`` steps of size η are at time ``kη``, for every
  optimizer, so escape times compare with the flow's. Gradient descent is later than the
  flow by about (η/2)·ln(‖∇𝓛(τ★)‖/‖∇𝓛(0)‖) (the modified loss 𝓛 + (η/4)‖∇𝓛‖² it
  follows) plus up to one step: O(η ln(1/ε)), a relative shift that vanishes as ε → 0.
  Minibatch SGD with replacement adds a spread ≈ noise·√(ητ★/B) (:func:`sgd_spread`);
  without replacement the noise largely cancels over each epoch.
* **Heavy-ball momentum**: :math:`v \leftarrow \mu v - \eta\nabla\mathcal L`,
  :math:`W \leftarrow W + v`, from :math:`v = 0`. Its time is still ``kη``; with a slowly
  varying gradient the velocity settles at :math:`-\eta\nabla\mathcal L/(1-\mu)`, so it
  moves like the flow at time ``kη/(1 − μ)`` (:attr:`Optimizer.time_scale`).
* **Minibatches** (``batch_size`` B): the rows of each step are drawn, seeded, uniformly
  from the ``n`` rows of the data set: without replacement as the consecutive batches of a
  fresh permutation per epoch (``n // B`` steps; the ``n mod B`` rows left over are
  skipped that epoch, each row equally likely), with replacement independently. The
  minibatch loss is the unbiased estimate
  :math:`\mathcal L_b = \tfrac nB\sum_{p\in b} w_p\,\ell_p` of
  :math:`\mathcal L = \sum_p w_p\ell_p` (equal weights: the batch mean). The batches of
  step ``k`` depend only on ``(seed, k)``, so a run can be replayed from any step.
* **The escape event** is checked on the whole data set: the loss (default) or the
  overlap (``threshold="overlap"``, DESIGN §5). A full-batch run's loss is checked at
  every step (it comes with the gradient); otherwise a forward pass is made every
  ``check_every`` steps (minibatches: default ``⌈3n/B⌉``, so the checks cost about a
  tenth of the steps; the overlap of full-batch runs: every step). τ★ is ``kη`` for the
  first checked step ``k`` past the threshold. With ``refine`` (default) the run is
  replayed from the last check before it, checking ever more often (strides divided by
  4), until the crossing is resolved to one step. A noisy loss can dip below the
  threshold and come back between two checks: τ★ is never before the first step past it.

The exact discrete identity (DESIGN §6). For one step :math:`W \to W + S` of every
matrix, :math:`\lVert W+S\rVert^2 - \lVert W\rVert^2 = 2\langle W, S\rangle + \lVert S\rVert^2`
exactly, and the imbalance identity turns the gradient part of
:math:`2\langle W, S\rangle` into its right-hand side. With
:math:`S = -\eta c\,\nabla\mathcal L_b` (GD: ``c = 1`` and the whole data set; SGD: the
batch, ``c`` the factor of the unbiased estimate, 1 for equal weights):

.. math:: \Delta_l(k+1) - \Delta_l(k) = \eta c\,\mathrm{RHS}_l
          + \lVert S_{l+1}\rVert^2 - \lVert S_l\rVert^2,

which for GD is :math:`\eta\,\mathrm{RHS}_l + \eta^2(\lVert\nabla W_{l+1}\rVert^2 -
\lVert\nabla W_l\rVert^2)`. For momentum the step is the new velocity,
:math:`S = v' = \mu v - \eta c\nabla\mathcal L_b`, and a third term appears:

.. math:: \Delta_l(k+1) - \Delta_l(k) = \eta c\,\mathrm{RHS}_l
          + 2\mu(\langle W_{l+1}, v_{l+1}\rangle - \langle W_l, v_l\rangle)
          + \lVert v'_{l+1}\rVert^2 - \lVert v'_l\rVert^2

(with biases, :math:`\Delta_l` has :math:`-\lVert b_l\rVert^2` and each term its bias
part). ``identity=True`` records the measured change and the terms for every step
(:class:`DiscreteIdentity`).
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, fields
from typing import cast

import numpy as np
from saddle_escape.numeric.flow import flatten
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import identity_sides
from saddle_escape.numeric.network import Dataset, Network, Workspace, backprop, loss_value
from saddle_escape.numeric.simulate import FullEscape, _record, full_escape_time
from saddle_escape.numeric.systems import FullNetworkSystem
from saddle_escape.symbolic.outcomes import Status

__all__ = [
    "KINDS",
    "THRESHOLDS",
    "Optimizer",
    "DiscreteIdentity",
    "OptimizerEscape",
    "optimizer_escape_time",
    "default_check_every",
    "gradient_noise",
    "sgd_spread",
]

#: Optimizer kinds: gradient flow, gradient descent, minibatch SGD, heavy-ball momentum.
KINDS = ("flow", "gd", "sgd", "momentum")
#: Escape measures: the loss falls to a fraction of 𝓛(0), or the overlap rises to one of Γ.
THRESHOLDS = ("loss", "overlap")


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Optimizer:
    r"""Which optimizer runs to the escape event, and its settings.

    Parameters
    ----------
    kind : str
        ``"flow"`` (gradient flow, integrated adaptively: the default), ``"gd"`` (gradient
        descent), ``"sgd"`` (minibatch SGD) or ``"momentum"`` (heavy ball,
        :math:`v \leftarrow \mu v - \eta\nabla`, :math:`W \leftarrow W + v`).
    lr : float, optional
        The step η > 0; needed by every kind but ``flow``, which takes none.
    batch_size : int, optional
        B ≥ 1: needed by ``sgd``, optional for ``momentum`` (minibatch heavy ball), refused
        by ``flow`` and ``gd``.
    momentum : float, optional
        μ ∈ [0, 1): needed by ``momentum``, refused by the others.
    replacement : bool
        Draw minibatch rows with replacement (default: without, epoch by epoch).
    seed : int
        Seed (≥ 0) of the minibatch stream.

    Raises
    ------
    ValueError
        An unknown kind (the message lists the valid ones), a missing or extra setting, or
        a value out of range.

    Examples
    --------
    >>> Optimizer("sgd", lr=0.01, batch_size=64).label
    'sgd (η = 0.01, B = 64, without replacement, seed 0)'
    >>> Optimizer("momentum", lr=0.01, momentum=0.9).time_scale
    10.000000000000002
    >>> Optimizer("gd")
    Traceback (most recent call last):
    ...
    ValueError: Optimizer('gd') needs lr, the step η > 0 (e.g. lr=0.01)
    """

    kind: str = "flow"
    lr: float | None = None
    batch_size: int | None = None
    momentum: float | None = None
    replacement: bool = False
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise ValueError(f"Optimizer kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        kind = self.kind
        if kind == "flow":
            extra = [n for n in ("lr", "batch_size", "momentum") if getattr(self, n) is not None]
            if extra or self.replacement:
                raise ValueError(
                    f"Optimizer('flow') integrates gradient flow adaptively and takes no "
                    f"{', '.join(extra) or 'replacement'}; choose kind 'gd', 'sgd' or 'momentum' "
                    "for a discrete optimizer"
                )
        else:
            if self.lr is None:
                raise ValueError(f"Optimizer({kind!r}) needs lr, the step η > 0 (e.g. lr=0.01)")
            object.__setattr__(self, "lr", _positive_float("Optimizer lr", self.lr))
        if self.batch_size is not None:
            if kind in ("flow", "gd"):
                raise ValueError(
                    f"Optimizer({kind!r}) uses the whole data set; for minibatches of "
                    f"{self.batch_size!r} use kind 'sgd'"
                )
            object.__setattr__(
                self, "batch_size", _positive_int("Optimizer batch_size", self.batch_size)
            )
        elif kind == "sgd":
            raise ValueError("Optimizer('sgd') needs batch_size, the minibatch size B ≥ 1")
        if kind == "momentum":
            mu = self.momentum
            if mu is None:
                raise ValueError("Optimizer('momentum') needs momentum, μ in [0, 1) (e.g. 0.9)")
            if isinstance(mu, bool) or not isinstance(mu, numbers.Real) or not 0 <= mu < 1:
                raise ValueError(f"Optimizer momentum must be in [0, 1), got {mu!r}")
            object.__setattr__(self, "momentum", float(mu))
        elif self.momentum is not None:
            raise ValueError(
                f"Optimizer({kind!r}) takes no momentum; use kind 'momentum' for heavy ball"
            )
        if not isinstance(self.replacement, bool):
            raise ValueError(
                f"Optimizer replacement must be True or False, got {self.replacement!r}"
            )
        if self.replacement and self.batch_size is None:
            raise ValueError("Optimizer replacement=True needs a batch_size (minibatches)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"Optimizer seed must be a whole number ≥ 0, got {self.seed!r}")
        if self.seed < 0:
            raise ValueError(f"Optimizer seed must be ≥ 0, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def stochastic(self) -> bool:
        """Whether steps use minibatches."""
        return self.batch_size is not None

    @property
    def time_scale(self) -> float:
        """Flow time per unit of ``kη``: ``1/(1 − μ)`` for momentum, 1 otherwise."""
        return 1.0 / (1.0 - cast(float, self.momentum)) if self.kind == "momentum" else 1.0

    @property
    def label(self) -> str:
        """A short human-readable description."""
        if self.kind == "flow":
            return "gradient flow"
        parts = [f"η = {self.lr:g}"]
        if self.kind == "momentum":
            parts.append(f"μ = {self.momentum:g}")
        if self.batch_size is not None:
            parts.append(f"B = {self.batch_size}")
            parts.append("with replacement" if self.replacement else "without replacement")
            parts.append(f"seed {self.seed}")
        return f"{self.kind} ({', '.join(parts)})"

    def to_dict(self) -> dict:
        """JSON-ready settings.

        Examples
        --------
        >>> Optimizer("gd", lr=0.05).to_dict()["lr"]
        0.05
        """
        return {
            "kind": self.kind,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "momentum": self.momentum,
            "replacement": self.replacement,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class DiscreteIdentity:
    r"""The exact discrete imbalance identity along a run, per step and layer pair.

    Row ``i`` is the step from ``steps[i]`` to ``steps[i] + 1``; column ``l − 1`` the
    layer pair ``l``. ``change`` is measured on the stored weights,
    :math:`\langle W'-W, W'+W\rangle` per matrix (the same number as
    ``imbalances(after) − imbalances(before)``, without subtracting two large norms).
    In exact arithmetic it equals ``first_order + momentum + second_order`` (module
    docstring). In float64 the stored weights are :math:`W' = \mathrm{fl}(W + S)`, not
    :math:`W + S`: with :math:`d = W' - W`, ``rounding`` holds
    :math:`\langle d - S, 2W + d + S\rangle` per matrix (combined over the layer pair),
    which closes the balance exactly; it is of order :math:`u\lVert W\rVert^2`
    (u = 2⁻⁵³) and is how rounding alone moves Δ_l. So ``residual`` is the rounding of
    the few sums that make up the terms.

    Attributes
    ----------
    steps : array ``(K,)``
    change : array ``(K, L−1)``
        :math:`\Delta_l(k+1) - \Delta_l(k)` of the stored weights.
    first_order : array ``(K, L−1)``
        :math:`\eta c\,\mathrm{RHS}_l` on the step's batch.
    momentum : array ``(K, L−1)``
        :math:`2\mu(\langle W_{l+1}, v_{l+1}\rangle - \langle W_l, v_l\rangle)`; zero
        for GD and SGD.
    second_order : array ``(K, L−1)``
        :math:`\lVert S_{l+1}\rVert^2 - \lVert S_l\rVert^2`; for GD
        :math:`\eta^2(\lVert\nabla W_{l+1}\rVert^2 - \lVert\nabla W_l\rVert^2)`.
    rounding : array ``(K, L−1)``
        The float64 update's own contribution (above).
    scale : array ``(K, L−1)``
        The sum of the magnitudes of every term (the first-order term counted as its two
        layers' gradient terms): the denominator of :attr:`relative_residual`.

    Examples
    --------
    >>> one = np.ones((1, 1))
    >>> rec = DiscreteIdentity(np.array([0]), one, 0.75 * one, 0 * one, 0.25 * one, 0 * one, one)
    >>> rec.max_relative_residual
    0.0
    """

    steps: np.ndarray
    change: np.ndarray
    first_order: np.ndarray
    momentum: np.ndarray
    second_order: np.ndarray
    rounding: np.ndarray
    scale: np.ndarray

    @property
    def residual(self) -> np.ndarray:
        """``change − (first_order + momentum + second_order + rounding)``."""
        return self.change - (self.first_order + self.momentum + self.second_order + self.rounding)

    @property
    def relative_residual(self) -> np.ndarray:
        """``|residual| / scale`` (0 where both vanish)."""
        gap = np.abs(self.residual)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gap == 0, 0.0, gap / self.scale)

    @property
    def max_relative_residual(self) -> float:
        """The largest relative residual over all steps and layer pairs (0 without steps)."""
        return float(self.relative_residual.max()) if self.steps.size else 0.0

    def to_dict(self) -> dict:
        """Totals over the run per layer pair, and the largest relative residual."""
        return {
            "steps": int(self.steps.size),
            "total_change": self.change.sum(axis=0).tolist(),
            "total_first_order": self.first_order.sum(axis=0).tolist(),
            "total_momentum": self.momentum.sum(axis=0).tolist(),
            "total_second_order": self.second_order.sum(axis=0).tolist(),
            "total_rounding": self.rounding.sum(axis=0).tolist(),
            "max_relative_residual": self.max_relative_residual,
        }


@dataclass(frozen=True)
class OptimizerEscape(FullEscape):
    """A :class:`~saddle_escape.numeric.simulate.FullEscape` with the optimizer's particulars.

    Attributes
    ----------
    optimizer : Optimizer
    steps : int or None
        Optimizer steps taken to τ★ (or to the budget); ``None`` for the flow.
    check_every : int or None
        The cadence of the full-batch checks (1 for full-batch optimizers).
    loss_checks : int
        Full-batch forward passes made for the checks (minibatch runs).
    resolution : float
        The time resolution of τ★: η when the crossing is resolved to one step,
        ``check_every·η`` without refinement, 0 for the flow (an event located to
        its tolerance).
    discrete_identity : DiscreteIdentity or None
        With ``identity=True``.
    final : Network or None
        The weights where the run stopped (at τ★ when it escaped); ``None`` for the flow.

    Examples
    --------
    >>> from saddle_escape.numeric.simulate import manifold_network, population_dataset
    >>> net, data = manifold_network([0.2, 0.2, 0.2], 4), population_dataset(16)
    >>> run = optimizer_escape_time(net, data, "linear", optimizer=Optimizer("gd", lr=0.1))
    >>> run.to_dict()["optimizer"]["kind"], run.steps, run.final.widths
    ('gd', 39, (1, 4, 4, 1))
    """

    optimizer: Optimizer = Optimizer()
    steps: int | None = None
    check_every: int | None = None
    loss_checks: int = 0
    resolution: float = 0.0
    discrete_identity: DiscreteIdentity | None = None
    final: Network | None = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(
            optimizer=self.optimizer.to_dict(),
            steps=self.steps,
            check_every=self.check_every,
            loss_checks=self.loss_checks,
            resolution=self.resolution,
        )
        if self.discrete_identity is not None:
            out["discrete_identity"] = self.discrete_identity.to_dict()
        return out


def default_check_every(rows: int, batch_size: int | None) -> int:
    """Steps between full-batch checks: 1 with full batches, ``⌈3n/B⌉`` with minibatches.

    A check is a forward pass over the ``n`` rows, about ``n/3`` rows' worth of gradient;
    a step is ``B`` rows' worth. Every ``⌈3n/B⌉`` steps the checks cost about a tenth of
    the steps.

    Examples
    --------
    >>> default_check_every(1000, None), default_check_every(256, 64)
    (1, 12)
    """
    if batch_size is None:
        return 1
    return max(1, math.ceil(3 * rows / batch_size))


def gradient_noise(network: Network, data: Dataset, activation="tanh", loss="squared") -> float:
    r"""The coefficient of variation of one row's gradient along the full gradient.

    With :math:`\hat g = \nabla\mathcal L/\lVert\nabla\mathcal L\rVert` and
    :math:`a_p = \langle\nabla\ell_p, \hat g\rangle`, one uniformly drawn row's unbiased
    estimate :math:`n w_p a_p` of :math:`\lVert\nabla\mathcal L\rVert` has variance
    :math:`V = \tfrac1n\sum_p (n w_p a_p - \lVert\nabla\mathcal L\rVert)^2`; the result is
    :math:`\sqrt V/\lVert\nabla\mathcal L\rVert` (the noise of SGD along the escape
    direction, per row). Near the saddle every per-row gradient carries the same small
    factor as the mean, so this ratio stays O(1) as ε → 0 (see :func:`sgd_spread`).

    Raises
    ------
    ValueError
        When the gradient is zero (no direction to project on).

    Examples
    --------
    >>> from saddle_escape.numeric.simulate import he_network, sample_dataset
    >>> net = he_network((4, 8, 8, 1), (2,), 0.1, seed=0)
    >>> 0 < gradient_noise(net, sample_dataset(64, 4, seed=1)) < 10
    True
    """
    act, loss_fn = compile_activation(activation), get_loss(loss)
    out = backprop(network, data, act, loss_fn)
    grads = list(out.grad_weights) + list(out.grad_biases or ())
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if not norm > 0:
        raise ValueError("the gradient is zero: SGD has no direction to be noisy along")
    a = np.zeros(data.size)
    for delta, post, grad in zip(out.deltas, out.post, out.grad_weights, strict=True):
        a += ((delta @ (grad / norm)) * post).sum(axis=1)
    for delta, grad in zip(out.deltas, out.grad_biases or (), strict=False):
        a += delta @ (grad / norm)
    draws = data.size * cast(np.ndarray, data.weights) * a
    return float(np.sqrt(np.mean((draws - norm) ** 2)) / norm)


def sgd_spread(noise: float, tau: float, *, lr: float, batch_size: int) -> float:
    r"""The predicted standard deviation of τ★ under minibatch SGD drawn with replacement.

    Along the escape the bottleneck scale obeys, to leading order,
    :math:`dy = y^{r-1}(k\,dt + s\,dW_t)` with :math:`s^2 = \eta V/B` (per unit of
    flow time, :math:`t/\eta` steps each adding a batch's noise of variance
    :math:`\eta^2 V/B`; :math:`V/k^2` is ``noise``² of :func:`gradient_noise`). In
    :math:`u = y^{-(r-2)}/(r-2)`, Itô's rule gives :math:`du = -(k\,dt + s\,dW) +
    O(s^2 y^{r-2})dt`, so the escape time moves by :math:`-sW_\tau/k`:

    .. math:: \operatorname{sd}(\tau_\star) \approx \mathrm{noise}\cdot\sqrt{\eta\tau_\star/B},

    a relative spread :math:`\mathrm{noise}\sqrt{\eta/(B\tau_\star)}` that vanishes as
    ε → 0: the exponent of the critical-depth law survives SGD. Without replacement every
    row is used once per epoch and the noise cancels over each epoch, so this is an
    upper bound there (measured: 10–100× smaller spreads).

    Examples
    --------
    >>> round(sgd_spread(1.0, 100.0, lr=0.01, batch_size=64), 4)
    0.125
    """
    for name, value in (("noise", noise), ("tau", tau)):
        if not 0 <= value < math.inf:
            raise ValueError(f"{name} must be finite and ≥ 0, got {value!r}")
    lr = _positive_float("lr", lr)
    batch_size = _positive_int("batch_size", batch_size)
    return noise * math.sqrt(lr * tau / batch_size)


class _Batches:
    """Seeded minibatch row indices, a pure function of the step number."""

    def __init__(self, rows: int, batch_size: int, replacement: bool, seed: int):
        self.rows, self.size, self.replacement, self.seed = rows, batch_size, replacement, seed
        self.per_block = max(1, rows // batch_size)
        self._block = -1
        self._table = np.empty((0, batch_size), dtype=np.intp)

    def __call__(self, step: int) -> np.ndarray:
        block, j = divmod(step, self.per_block)
        if block != self._block:
            rng = np.random.default_rng([self.seed, block])
            if self.replacement:
                table = rng.integers(0, self.rows, size=(self.per_block, self.size))
            else:
                used = self.per_block * self.size
                table = rng.permutation(self.rows)[:used].reshape(self.per_block, self.size)
            self._table, self._block = table, block
        return self._table[j]


class _State:
    """The weights, biases and velocity of a run (float64 copies owned by the loop)."""

    def __init__(self, network: Network, velocity: bool):
        self.weights = [np.array(w, dtype=float) for w in network.weights]
        self.biases = (
            None if network.biases is None else [np.array(b, dtype=float) for b in network.biases]
        )
        self.velocity = [np.zeros_like(p) for p in self.params] if velocity else None
        self._network: Network | None = None

    @property
    def params(self) -> list[np.ndarray]:
        return self.weights + (self.biases or [])

    def network(self) -> Network:
        """The weights as a Network: a view on the arrays, which the steps update in place."""
        if self._network is None:
            biases = None if self.biases is None else tuple(self.biases)
            self._network = Network(tuple(self.weights), biases)
        return self._network

    def copy(self) -> _State:
        twin = object.__new__(_State)
        twin._network = None
        twin.weights = [w.copy() for w in self.weights]
        twin.biases = None if self.biases is None else [b.copy() for b in self.biases]
        twin.velocity = None if self.velocity is None else [v.copy() for v in self.velocity]
        return twin


class _Run:
    """One discrete run's machinery: steps, full-batch checks, counters, identity terms."""

    def __init__(
        self, network, data, act, loss_fn, optimizer: Optimizer, identity: bool, threshold: str
    ):
        self.data, self.act, self.loss_fn, self.opt = data, act, loss_fn, optimizer
        self.threshold = threshold
        self.system = FullNetworkSystem(network, data, act, loss_fn)
        self.depth = network.depth
        self.has_bias = network.biases is not None
        self.batches = (
            None
            if optimizer.batch_size is None
            else _Batches(data.size, optimizer.batch_size, optimizer.replacement, optimizer.seed)
        )
        weights = cast(np.ndarray, data.weights)
        self.uniform = bool((weights == weights[0]).all())
        self.step_workspace, self.check_workspace = Workspace(), Workspace()
        self.evaluations = 0
        self.loss_checks = 0
        self.identity = identity
        self.terms: list[tuple] = []

    def measure(self, state: _State) -> float:
        """The escape measure on the whole data set at ``state`` (a forward pass): the
        loss, or the overlap; raises ``FloatingPointError`` if it is not finite."""
        self.loss_checks += 1
        if self.threshold == "overlap":
            value = float(self.system.progress(flatten(state.network())))
        else:
            value = float(
                loss_value(
                    state.network(),
                    self.data,
                    self.act,
                    self.loss_fn,
                    workspace=self.check_workspace,
                )
            )
        if not math.isfinite(value):
            raise FloatingPointError(f"the full-batch {self.threshold} is not finite")
        return value

    def crossed(self, value: float, target: float) -> bool:
        """Whether the measure is past the threshold (loss at or below, overlap at or above)."""
        return value >= target if self.threshold == "overlap" else value <= target

    def step(
        self, state: _State, k: int, *, stop_below: float | None = None, record: bool = False
    ) -> float:
        """Step ``k``: the loss of its batch at ``W_k``; then ``state`` moves to ``W_{k+1}``
        in place, unless that loss is at or below ``stop_below``. With ``record``, the
        terms of the discrete identity of this step are appended to ``terms``."""
        net = state.network()
        batch, factor = self.data, 1.0
        if self.batches is not None:
            index = self.batches(k)
            batch = self.data.rows(index)
            if not self.uniform:  # the unbiased estimate: (n/B) Σ_b w_p ℓ_p
                weights = cast(np.ndarray, self.data.weights)
                factor = self.data.size / len(index) * float(weights[index].sum())
        out = backprop(net, batch, self.act, self.loss_fn, workspace=self.step_workspace)
        self.evaluations += 1
        loss = float(out.loss)
        if not math.isfinite(loss):
            raise FloatingPointError("the loss is not finite")
        if stop_below is not None and loss <= stop_below:
            return loss
        grads = list(out.grad_weights) + list(out.grad_biases or ())
        eta = cast(float, self.opt.lr) * factor
        mu = self.opt.momentum or 0.0
        params = state.params
        if record:
            before = [p.copy() for p in params]
            rows = identity_sides(net, batch, self.act, self.loss_fn)
            first = np.array([eta * float(cast(float, r.rhs)) for r in rows])
            gradient_part = np.array([eta * float(cast(float, r.scale)) for r in rows])
            if state.velocity is not None:
                inner = [
                    2 * mu * float((p * v).sum())
                    for p, v in zip(params, state.velocity, strict=True)
                ]
            else:
                inner = [0.0] * len(params)
        # the step S: −ηc∇ (gd, sgd), or the new velocity μv − ηc∇ (momentum)
        if state.velocity is None:
            steps = [np.multiply(g, -eta, out=g) for g in grads]
        else:
            for v, g in zip(state.velocity, grads, strict=True):
                v *= mu
                v -= eta * g
            steps = state.velocity
        if record:
            squares = [float((s * s).sum()) for s in steps]
        for p, s in zip(params, steps, strict=True):
            p += s
        if record:
            # stored change ⟨W'−W, W'+W⟩; the rounding of the stored update: with d = W'−W,
            # ‖W'‖² − ‖W‖² = 2⟨W, S⟩ + ‖S‖² + ⟨d − S, 2W + d + S⟩ exactly
            change, rounding = [], []
            for after, b, step in zip(params, before, steps, strict=True):
                d = after - b
                change.append(float((d * (after + b)).sum()))
                rounding.append(float(((d - step) * (2 * b + d + step)).sum()))
            magnitude = [
                abs(m) + q + abs(r) for m, q, r in zip(inner, squares, rounding, strict=True)
            ]
            self.terms.append(
                (
                    k,
                    _pairs(change, self.depth, self.has_bias, -1),
                    first,
                    _pairs(inner, self.depth, self.has_bias, -1),
                    _pairs(squares, self.depth, self.has_bias, -1),
                    _pairs(rounding, self.depth, self.has_bias, -1),
                    gradient_part + _pairs(magnitude, self.depth, self.has_bias, +1),
                )
            )
        return loss


def _pairs(values: list, depth: int, has_bias: bool, sign: int) -> np.ndarray:
    """Per layer pair l from per-matrix values: ``v[W_{l+1}] + sign·(v[W_l] + v[b_l])``."""
    out = np.array([values[l + 1] + sign * values[l] for l in range(depth - 1)], dtype=float)
    if has_bias:
        out += sign * np.array([values[depth + l] for l in range(depth - 1)], dtype=float)
    return out


def _refine(run: _Run, start: int, start_state: _State, hit: int, target: float):
    """The first step in ``(start, hit]`` whose full-batch measure is past ``target``,
    and the state there, by replays from ``start`` with strides divided by 4."""
    lo, lo_state = start, start_state
    while hit - lo > 1:
        stride = max(1, math.ceil((hit - lo) / 4))
        state, k = lo_state.copy(), lo
        next_lo, next_state = lo, lo_state
        while k < hit:
            run.step(state, k)
            k += 1
            if k < hit and (k - lo) % stride == 0:
                if run.crossed(run.measure(state), target):
                    hit = k
                    break
                next_lo, next_state = k, state.copy()
        lo, lo_state = next_lo, next_state
    state = lo_state.copy()
    run.step(state, lo)
    return hit, state


def optimizer_escape_time(
    network: Network,
    data: Dataset,
    activation="tanh",
    loss="squared",
    *,
    optimizer: Optimizer,
    fraction: float = 0.5,
    check_every: int | None = None,
    max_steps: int = 10_000_000,
    record: int = 200,
    identity: bool = False,
    refine: bool = True,
    rtol: float = 1e-10,
    threshold: str = "loss",
) -> OptimizerEscape:
    r"""Run an optimizer from ``network`` until the full-batch loss reaches ``fraction``·𝓛(0).

    Or, with ``threshold="overlap"``, until the overlap :math:`\mathbb E[f(x)\,\hat c^\top x]`
    reaches ``fraction``·Γ (DESIGN §5), as in
    :func:`~saddle_escape.numeric.simulate.full_escape_time`.

    Parameters
    ----------
    network : Network
    data : Dataset
    activation : str or sympy.Expr or CompiledActivation
    loss : str or Loss
    optimizer : Optimizer
        ``Optimizer()`` (flow) delegates to
        :func:`~saddle_escape.numeric.simulate.full_escape_time` (with ``rtol`` and a
        budget of ``max_steps`` gradient evaluations).
    fraction : float
        The escape threshold, in (0, 1).
    check_every : int, optional
        Steps between full-batch checks of a minibatch run (default
        :func:`default_check_every`) or of the overlap (default 1); a full-batch run's
        loss is checked at every step (it comes with the gradient).
    max_steps : int
        Budget of optimizer steps (of gradient evaluations for the flow).
    record : int
        About how many trajectory points to keep (thinned as the run goes; each costs two
        full-batch backpropagations at the end, for the loss and the identity's drift).
    identity : bool
        Record the exact discrete identity at every step (:class:`DiscreteIdentity`);
        costs a second backpropagation per step.
    refine : bool
        Resolve a minibatch run's crossing to one step by replaying from the last check
        above the threshold (at most about ``4/3·check_every`` steps replayed and
        ``3·log₄(check_every)`` extra checks).
    rtol : float
        Tolerance of the flow (``kind="flow"`` only).
    threshold : str
        ``"loss"`` or ``"overlap"``: the escape measure.

    Returns
    -------
    OptimizerEscape
        ``tau`` is ``kη`` (module docstring); ``status`` is ``escaped``,
        ``budget_exhausted`` or ``non_finite`` (the loss overflowed or became NaN: a
        step too large).

    Raises
    ------
    ValueError
        For a bad option, a batch larger than the data set, or ``identity=True`` with the
        flow (its identity is the continuous one: ``FullEscape.drift``).

    Examples
    --------
    >>> from saddle_escape.numeric.simulate import manifold_network, population_dataset
    >>> net, data = manifold_network([0.2, 0.2, 0.2], 4), population_dataset(16)
    >>> gd = optimizer_escape_time(net, data, "linear", optimizer=Optimizer("gd", lr=0.05))
    >>> gd.status.value, gd.steps, round(gd.tau, 2)  # the flow's τ★ is 3.740
    ('escaped', 76, 3.8)
    >>> sgd = Optimizer("sgd", lr=0.05, batch_size=8)
    >>> run = optimizer_escape_time(net, data, "linear", optimizer=sgd, identity=True)
    >>> run.status.value, run.resolution, run.discrete_identity.max_relative_residual < 1e-12
    ('escaped', 0.05, True)
    """
    started = time.perf_counter()
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            f"optimizer must be an Optimizer, got {type(optimizer).__name__}; e.g. "
            "Optimizer('gd', lr=0.01)"
        )
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    max_steps = _positive_int("max_steps", max_steps)
    record = _positive_int("record", record)
    if check_every is not None:
        check_every = _positive_int("check_every", check_every)
    if not isinstance(identity, bool) or not isinstance(refine, bool):
        raise ValueError(f"identity and refine must be True or False, got {identity!r}, {refine!r}")
    if threshold not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {', '.join(THRESHOLDS)}, got {threshold!r}")
    if not isinstance(network, Network) or not isinstance(data, Dataset):
        raise ValueError(
            f"network must be a Network and data a Dataset, got {type(network).__name__} and "
            f"{type(data).__name__}"
        )
    if optimizer.kind == "flow":
        if identity:
            raise ValueError(
                "identity=True records the discrete identity of gd, sgd or momentum steps; "
                "the flow obeys the continuous one (FullEscape.drift holds its right-hand side)"
            )
        run = full_escape_time(
            network,
            data,
            activation,
            loss,
            fraction=fraction,
            rtol=rtol,
            max_evaluations=max_steps,
            record=record,
            threshold=threshold,
        )
        return _with(run, optimizer=optimizer)
    if optimizer.batch_size is not None and optimizer.batch_size > data.size:
        raise ValueError(
            f"batch_size {optimizer.batch_size} is larger than the data set ({data.size} rows); "
            "use gd for full batches"
        )
    if data.inputs.dtype == object:
        raise ValueError("the discrete optimizers run in float64: give float data, not mpmath")
    act, loss_fn = compile_activation(activation), get_loss(loss)
    if optimizer.batch_size is not None:
        cadence = check_every or default_check_every(data.size, optimizer.batch_size)
    else:  # full batches: the loss every step; the overlap every `check_every` (default 1)
        cadence = (check_every or 1) if threshold == "overlap" else 1
    loop = _Discrete(network, data, act, loss_fn, optimizer, cadence, record, identity, threshold)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a status, not warnings
        return loop.run(fraction, max_steps, refine, started)


def _with(run: FullEscape, **extra) -> OptimizerEscape:
    return OptimizerEscape(**{f.name: getattr(run, f.name) for f in fields(FullEscape)}, **extra)


class _Discrete:
    """The loop of :func:`optimizer_escape_time` for gd, sgd and momentum."""

    def __init__(
        self, network, data, act, loss_fn, optimizer, cadence, record, identity, threshold
    ):
        self.network, self.data, self.act, self.loss_fn = network, data, act, loss_fn
        self.optimizer, self.cadence, self.record, self.identity = (
            optimizer,
            cadence,
            record,
            identity,
        )
        self.eta = cast(float, optimizer.lr)
        self.machine = _Run(network, data, act, loss_fn, optimizer, identity, threshold)
        self.times: list[float] = []
        self.states: list[np.ndarray] = []
        self.every, self.checks = 1, 0

    def keep(self, k: int, state: _State) -> None:
        """Record ``W_k`` on every ``every``-th check, thinning the record as it grows."""
        if self.checks % self.every == 0:
            self.times.append(k * self.eta)
            self.states.append(flatten(state.network()))
            if len(self.states) > 2 * self.record:
                self.times, self.states = self.times[::2], self.states[::2]
                self.every *= 2
        self.checks += 1

    def run(self, fraction: float, max_steps: int, refine: bool, started: float):
        machine, eta = self.machine, self.eta
        # The loss of a full-batch step is a by-product of its gradient: checked in the step.
        # Otherwise (minibatches, or the overlap) a forward pass every `cadence` steps.
        free = self.optimizer.batch_size is None and machine.threshold == "loss"
        state = _State(self.network, velocity=self.optimizer.kind == "momentum")
        k = 0
        try:
            value0 = machine.measure(state)
            if machine.threshold == "overlap":
                gamma = float(machine.system.progress_target())
                if not (math.isfinite(gamma) and gamma > 0):
                    raise ValueError(
                        f"the overlap target is Γ = {gamma!r}: no first-order drive on this "
                        "data set; use threshold='loss'"
                    )
                target = fraction * gamma
            else:
                target = fraction * value0
            last_good: tuple[int, _State] | None = None
            while True:
                if not free and k % self.cadence == 0:
                    current = value0 if k == 0 else machine.measure(state)
                    self.keep(k, state)
                    if machine.crossed(current, target):
                        if refine and last_good is not None and k - last_good[0] > 1:
                            k, state = _refine(machine, *last_good, k, target)
                            resolution = eta
                        else:
                            resolution = (k - last_good[0] if last_good else 1) * eta
                        return self.escaped(state, k, fraction, resolution, started)
                    last_good = (k, state.copy())
                if k >= max_steps:
                    break
                if free:
                    self.keep(k, state)
                    if machine.step(state, k, stop_below=target, record=self.identity) <= target:
                        return self.escaped(state, k, fraction, eta, started)
                else:
                    machine.step(state, k, record=self.identity)
                k += 1
        except FloatingPointError:
            while self.times and self.times[-1] >= k * eta:  # W_k itself is not finite
                self.times.pop()
                self.states.pop()
            return self.finish(
                Status.NON_FINITE,
                f"{Status.NON_FINITE.message}: the loss overflowed or became NaN at step {k} "
                f"(t = {k * eta:.6g}); the step η = {eta:g} may be too large for stability",
                None,
                k,
                0.0,
                started,
                state.network(),
            )
        if not self.times or self.times[-1] < k * eta:
            self.times.append(k * eta)
            self.states.append(flatten(state.network()))
        return self.finish(
            Status.BUDGET_EXHAUSTED,
            f"{Status.BUDGET_EXHAUSTED.message}: no escape within max_steps = {max_steps} steps "
            f"(t = {max_steps * eta:.6g})",
            None,
            max_steps,
            0.0,
            started,
            state.network(),
        )

    def escaped(self, state: _State, k: int, fraction: float, resolution: float, started):
        tau = k * self.eta
        while self.times and self.times[-1] >= tau:  # replays may end before later checks
            self.times.pop()
            self.states.pop()
        self.times.append(tau)
        self.states.append(flatten(state.network()))
        goal = (
            f"the overlap ≥ {fraction:g}·Γ"
            if self.machine.threshold == "overlap"
            else f"the full-batch 𝓛 ≤ {fraction:g}·𝓛(0)"
        )
        message = (
            f"escaped: {goal} after {k} steps (t = kη = {tau:.6g}, resolved to {resolution:.3g})"
        )
        return self.finish(Status.ESCAPED, message, tau, k, resolution, started, state.network())

    def finish(self, status, message, tau, steps, resolution, started, final) -> OptimizerEscape:
        result = _record(
            self.network,
            self.data,
            self.act,
            self.loss_fn,
            self.times,
            self.states,
            tau,
            self.machine.evaluations,
            status,
            message,
            time.perf_counter() - started,
        )
        terms = None
        if self.identity:
            width = self.network.depth - 1
            kept = [t for t in self.machine.terms if t[0] < steps]
            terms = DiscreteIdentity(
                np.array([t[0] for t in kept], dtype=int),
                *(
                    np.array([t[i] for t in kept], dtype=float).reshape(-1, width)
                    for i in range(1, 7)
                ),
            )
        return _with(
            result,
            optimizer=self.optimizer,
            steps=steps,
            check_every=self.cadence,
            loss_checks=self.machine.loss_checks,
            resolution=resolution,
            discrete_identity=terms,
            final=final,
        )
