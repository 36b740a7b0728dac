r"""The gradient systems the escape engine integrates, registered by name.

* ``"manifold"``: the exact L-dimensional reduced flow :math:`\dot Y = -\nabla_Y\mathcal L`
  on the permutation-symmetric manifold (DESIGN §3), with its analytic Hessian;
* ``"scalar"``: the balanced scalar reduction :math:`\dot y = -P'(y)/r`;
* ``"full"``: the full network's weights (and biases) on a data set (DESIGN §4).
"""

from __future__ import annotations

import numpy as np
from saddle_escape.numeric.engine import GradientSystem, register_system
from saddle_escape.numeric.flow import flatten, unflatten
from saddle_escape.numeric.functions import CompiledActivation, Loss
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.numeric.reduced import ReducedDynamics

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
    """The reduced flow in the layer scales ``Y`` (``L`` states).

    Examples
    --------
    >>> from saddle_escape.numeric.escape import build_model
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


@register_system
class ScalarSystem(_Reduced):
    """The balanced reduction: one state ``y``, loss ``P(y)``, flow ``dy/dt = −P'(y)/r``.

    Examples
    --------
    >>> from saddle_escape.numeric.escape import build_model
    >>> system = ScalarSystem(ReducedDynamics(build_model("linear", 4, 16, "eps,eps,eps,eps")), 0.5)
    >>> float(system.loss(np.array([0.5])))  # ½(1 − y⁴)²
    0.439453125
    """

    name = "scalar"

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
