r"""The gradient systems the escape engine integrates, registered by name.

* ``"manifold"``: the exact L-dimensional reduced flow :math:`\dot Y = -\nabla_Y\mathcal L`
  on the permutation-symmetric manifold (conventions §3), with its analytic Hessian;
* ``"scalar"``: the balanced scalar reduction :math:`\dot y = -P'(y)/r`;
* ``"full"``: the full network's weights (and biases) on a data set (conventions §6).
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from saddle_escape.numeric.engine import GradientSystem, register_system
from saddle_escape.numeric.flow import flatten, unflatten
from saddle_escape.numeric.functions import CompiledActivation, Loss
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.timeouts import time_limit

__all__ = ["ManifoldSystem", "ScalarSystem", "FullNetworkSystem"]


class _Reduced(GradientSystem):
    def __init__(self, dynamics: ReducedDynamics, eps: float):
        self.dynamics = dynamics
        self.model = dynamics.model
        self.eps = float(eps)

    def loss_lower_bound(self) -> tuple[float, str] | None:
        bound = self.model.loss_lower_bound()
        return None if bound is None else (float(bound.value), bound.reason)


@register_system
class ManifoldSystem(_Reduced):
    """The reduced flow in the layer scales ``Y`` (``L`` states), then the biases if any.

    Examples
    --------
    >>> from saddle_escape.classes.gate import build_model
    >>> system = ManifoldSystem(ReducedDynamics(build_model("tanh", 4, 16, "1,eps,eps,eps")), 0.1)
    >>> system.initial_state()
    array([1. , 0.1, 0.1, 0.1])
    """

    name = "manifold"

    def initial_state(self) -> np.ndarray:
        return np.array([float(v) for v in self.model.initial_point(self.eps)])

    def loss(self, state):
        return self.dynamics.loss(state)

    def gradient(self, state):
        return self.dynamics.gradient(state)

    def hessian(self, state):
        return self.dynamics.evaluate(state)[2]

    def trapped_floor(self, state, loss) -> tuple[float, str] | None:
        r"""The positive-last-hidden-layer trap of a positive, bounded σ (class D).

        With σ ≥ 0 everywhere and depth L ≥ 3, the last hidden pre-activation
        :math:`Y_{L-1}\sigma(\cdot)` has the sign of :math:`Y_{L-1}`. While
        :math:`Y_{L-1} > 0` the last hidden output m(g) lies in [a, b] with
        :math:`a = \inf_{z\ge0}\sigma > 0`, :math:`b = \sup_{z\ge0}\sigma < \infty`, so
        :math:`\mathbb E[mg] = \mathbb E[(m-a)g] \le (b-a)\,\mathbb E[g^+]` and
        :math:`\mathbb E[m^2] \ge a^2`: for every output scale,
        :math:`\mathcal L \ge \tfrac{s^2}{2}\big(1 - \tfrac{(b-a)^2}{2\pi a^2}\big)`.
        On :math:`Y_{L-1} = 0` the output is a constant, uncorrelated with g, so
        :math:`\mathcal L \ge s^2/2` there: a flow whose loss is already below
        :math:`s^2/2` can never reach that plane, and the bound holds for good.

        Examples
        --------
        >>> from saddle_escape.classes.gate import build_model
        >>> model = build_model("sigmoid", 4, 16, "1,eps,eps,eps")
        >>> system = ManifoldSystem(ReducedDynamics(model), 0.01)
        >>> floor, reason = system.trapped_floor(np.array([1.0, 0.01, 0.01, 1e-6]), 0.49)
        >>> round(floor, 4)  # ½(1 − 1/(2π)) for sigmoid (a = 1/2, b = 1)
        0.4204
        >>> system.trapped_floor(np.array([1.0, 0.01, -0.01, 1e-6]), 0.49) is None
        True
        """
        if self.model.biases:
            return None  # the trap is the bias-free network's: a bias moves the plane
        constants = _positive_bounded(self.model.sigma)
        depth = self.model.depth
        if constants is None or depth < 3 or not state[depth - 2] > 0:
            return None
        a, b = constants
        s2 = float(self.model.teacher) ** 2
        if not loss < s2 / 2 * (1 - 1e-12):  # strictly below the plane's loss, with margin
            return None
        floor = s2 / 2 * (1 - (b - a) ** 2 / (2 * np.pi * a**2))
        if floor <= 0:
            return None
        layer = depth - 1
        return floor, (
            f"σ ≥ 0 with σ(z) ∈ [{a:.6g}, {b:.6g}] for z ≥ 0, so while Y_{layer} > 0 the loss "
            f"is at least ½s²(1 − (b − a)²/(2πa²)); Y_{layer} cannot reach 0, where the output "
            f"is constant and 𝓛 ≥ s²/2 = {s2 / 2:.6g}, since the loss is already "
            f"{loss!r} and never rises (an output bias, biases='output' or --biases output, "
            "fits the offset σ(0) and the flow escapes: saddle_escape.symbolic.bias)"
        )


@functools.lru_cache(maxsize=64)
def _positive_bounded(sigma) -> tuple[float, float] | None:
    """``(inf σ on [0, ∞), sup σ on [0, ∞))`` when σ ≥ 0 on ℝ, both finite and the inf > 0,
    as SymPy proves them (cached per σ; ``None`` when it cannot)."""
    # Cheap refutation first: a negative value at a sample point settles it.
    for point in (-30, -3, -1, -0.1, 0, 0.1, 1, 3, 30):
        value = sigma.subs(X, point).evalf(15)
        if not value.is_real or value < 0:
            return None
    try:
        with time_limit(10.0, "the bounds of σ on [0, ∞)"):
            low = sp.calculus.util.minimum(sigma, X, sp.S.Reals)
            a = sp.calculus.util.minimum(sigma, X, sp.Interval(0, sp.oo))
            b = sp.calculus.util.maximum(sigma, X, sp.Interval(0, sp.oo))
    except (TimeoutError, ValueError, TypeError, NotImplementedError, RecursionError):
        return None
    if all(v.is_finite for v in (low, a, b)) and low >= 0 and a > 0:
        return float(a), float(b)
    return None


@register_system
class ScalarSystem(_Reduced):
    """The balanced reduction: one state ``y``, loss ``P(y)``, flow ``dy/dt = −P'(y)/r``.

    Examples
    --------
    >>> from saddle_escape.classes.gate import build_model
    >>> system = ScalarSystem(ReducedDynamics(build_model("linear", 4, 16, "eps,eps,eps,eps")), 0.5)
    >>> float(system.loss(np.array([0.5])))  # ½(1 − y⁴)²
    0.439453125
    """

    name = "scalar"

    def __init__(self, dynamics: ReducedDynamics, eps: float):
        if dynamics.model.biases:
            raise ValueError(
                "the balanced scalar reduction has no bias coordinate: a model with biases "
                "runs on the manifold system (system='manifold')"
            )
        super().__init__(dynamics, eps)

    def _point(self, y: float) -> list[float]:
        return [y if v is None else float(v) for v in self.model.init]

    def initial_state(self) -> np.ndarray:
        return np.array([self.eps])

    def loss(self, state):
        return self.dynamics.loss(self._point(float(state[0])))

    def gradient(self, state):
        grad = self.dynamics.gradient(self._point(float(state[0])))
        return np.array([sum(grad[b] for b in self.model.bottleneck) / self.model.r])

    def hessian(self, state):
        H = self.dynamics.evaluate(self._point(float(state[0])))[2]
        B = list(self.model.bottleneck)
        return np.array([[H[np.ix_(B, B)].sum() / self.model.r]])


@register_system
class FullNetworkSystem(GradientSystem):
    """Every weight (and bias) of a network on a weighted data set.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> from saddle_escape.numeric.network import random_network
    >>> data = Dataset(np.ones((2, 2)), np.ones((2, 1)))
    >>> system = FullNetworkSystem(
    ...     random_network((2, 3, 1), seed=0), data, compile_activation("tanh"), get_loss("squared")
    ... )
    >>> system.initial_state().shape
    (9,)
    """

    name = "full"

    def __init__(self, network: Network, data: Dataset, activation: CompiledActivation, loss: Loss):
        self.network, self.data = network, data
        self.activation, self.loss_function = activation, loss
        self._drive: np.ndarray | None = None
        self._mode: tuple[np.ndarray, float, np.ndarray] | None = None

    def drive(self) -> np.ndarray:
        r"""The correlation :math:`C = \mathbb E[y\,x^\top]` over the data set, ``(m, d)``.

        For one output its row is :math:`c = \mathbb E[y\,x]` and :math:`\Gamma = \lVert c\rVert`
        (DESIGN §5).
        """
        if self._drive is None:
            weights = np.asarray(self.data.weights, dtype=float)[:, None]
            targets = np.asarray(self.data.targets, dtype=float)
            self._drive = (targets * weights).T @ np.asarray(self.data.inputs, dtype=float)
        return self._drive

    def _top_mode(self) -> tuple[np.ndarray, float, np.ndarray]:
        """(u₁, s₁, v₁): the top singular triple of C (for one output: 1, Γ, ĉ)."""
        if self._mode is None:
            U, S, Vt = np.linalg.svd(self.drive(), full_matrices=False)
            self._mode = (U[:, 0], float(S[0]), Vt[0])
        return self._mode

    def progress_target(self) -> float:
        r"""Γ: ‖E[y x]‖ for one output; the largest singular value of C for several.

        The overlap measure's target :math:`\mathbb E[y\,\hat c^\top x] = \Gamma`.
        """
        return self._top_mode()[1]

    def progress(self, state) -> float:
        r"""The overlap :math:`\mathbb E[f(x)\,\hat c^\top x]` (one output).

        For several outputs, the top mode's strength :math:`u_1^\top\mathbb E[f(x)\,x^\top]v_1`
        (the first escape's mode; when the top singular value is degenerate the mode SVD
        returns is one choice among many: use the loss threshold then).

        Examples
        --------
        >>> from saddle_escape.numeric.functions import compile_activation, get_loss
        >>> data = Dataset(np.array([[1.0], [-1.0]]), np.array([[2.0], [-2.0]]))
        >>> net = Network((np.array([[1.0]]), np.array([[0.5]])))
        >>> system = FullNetworkSystem(net, data, compile_activation("linear"), get_loss("squared"))
        >>> system.progress_target(), system.progress(system.initial_state())
        (2.0, 0.5)
        """
        u, target, v = self._top_mode()
        if target == 0:
            raise ValueError(
                "Γ = ‖E[y x]‖ = 0 on this data set: no first-order drive, so the escape happens "
                "at higher order on another clock; use the loss threshold"
            )
        net = unflatten(state, self.network)
        a = np.asarray(self.data.inputs, dtype=float)
        for l, w in enumerate(net.weights):
            z = a @ w.T
            if net.biases is not None:
                z = z + net.biases[l]
            a = self.activation.sigma(z) if l < net.depth - 1 else z
        weights = np.asarray(self.data.weights, dtype=float)
        return float(((a @ u) * weights) @ (np.asarray(self.data.inputs, dtype=float) @ v))

    def initial_state(self) -> np.ndarray:
        return flatten(self.network)

    def _backprop(self, state):
        return backprop(
            unflatten(state, self.network), self.data, self.activation, self.loss_function
        )

    def loss(self, state):
        return float(self._backprop(state).loss)

    def gradient(self, state):
        out = self._backprop(state)
        grads = list(out.grad_weights) + list(out.grad_biases or ())
        return np.concatenate([g.ravel() for g in grads])
