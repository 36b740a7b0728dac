r"""Both sides of the imbalance identity on a concrete network, from actual gradients.

Left side: :math:`d\Delta_l/dt = 2\langle W_{l+1}, \dot W_{l+1}\rangle -
2\langle W_l, \dot W_l\rangle` (minus :math:`2\langle b_l, \dot b_l\rangle` with
biases) with :math:`\dot W = -\nabla_W\mathcal L` from explicit backpropagation.
Right side: :math:`2\sum_p w_p \langle W_{l+1}^\top\delta_{l+1,p},
\varphi_\sigma(z_{l,p})\rangle`. In float64 or in mpmath at a requested precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.network import Dataset, Network, backprop

__all__ = ["IdentityTerm", "IdentityCheck", "check_identity", "imbalances", "identity_sides"]


@dataclass(frozen=True)
class IdentityTerm:
    """One layer pair (``unit`` is ``None``) or one hidden unit: both sides and their gap.

    ``relative_difference`` is ``|lhs − rhs|`` over the sum of the magnitudes of the two
    gradient terms that make up ``lhs`` (so it is meaningful when both sides vanish, as
    for class A).
    """

    layer: int
    unit: int | None
    lhs: object
    rhs: object
    relative_difference: float

    def to_dict(self, digits: int) -> dict:
        out = {
            "layer": self.layer,
            "lhs": _decimal(self.lhs, digits),
            "rhs": _decimal(self.rhs, digits),
            "relative_difference": self.relative_difference,
        }
        if self.unit is not None:
            out["unit"] = self.unit
        return out


def _decimal(value, digits: int) -> str:
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, digits, min_fixed=-5, max_fixed=5)
    return repr(float(value))


@dataclass(frozen=True)
class IdentityCheck:
    """Result of :func:`check_identity`."""

    terms: tuple[IdentityTerm, ...]
    dps: int | None
    activation: str
    loss: str
    widths: tuple[int, ...]
    bias: bool
    neuronwise: bool

    @property
    def max_relative_difference(self) -> float:
        return max(t.relative_difference for t in self.terms)

    def to_dict(self) -> dict:
        digits = self.dps or 17
        return {
            "activation": self.activation,
            "loss": self.loss,
            "widths": list(self.widths),
            "bias": self.bias,
            "form": "neuron-wise" if self.neuronwise else "layer-wise",
            "dps": self.dps,
            "precision": "float64" if self.dps is None else f"mpmath, {self.dps} digits",
            "layers": [t.to_dict(digits) for t in self.terms],
            "max_relative_difference": self.max_relative_difference,
        }


def identity_sides(network, data, activation, loss, *, neuronwise=False):
    """Both sides for every layer pair (or unit) in the backend of the arrays given.

    Parameters
    ----------
    network : Network
    data : Dataset
    activation : CompiledActivation
    loss : Loss
    neuronwise : bool
        One row per hidden unit instead of per layer pair.

    Returns
    -------
    list of tuple
        ``(layer, unit, lhs, rhs, scale)`` (1-based layer and unit; ``unit`` is ``None``
        layer-wise); ``scale`` is the sum of the magnitudes of the two gradient terms.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> net = Network((np.array([[1.0]]), np.array([[2.0]])))
    >>> data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    >>> (layer, unit, lhs, rhs, scale), = identity_sides(
    ...     net, data, compile_activation("identity"), get_loss("squared"))
    >>> layer, unit, float(lhs), float(rhs)
    (1, None, 0.0, 0.0)
    """
    out = backprop(network, data, activation, loss)
    rows = []
    for l in range(network.depth - 1):
        W_up, W_low = network.weights[l + 1], network.weights[l]
        G_up, G_low = out.grad_weights[l + 1], out.grad_weights[l]
        up = -2 * (W_up * G_up).sum(axis=0)  # per unit j of layer l: outgoing column
        low = 2 * (W_low * G_low).sum(axis=1)  # incoming row
        if network.biases is not None:
            low = low + 2 * network.biases[l] * out.grad_biases[l]
        back = out.deltas[l + 1] @ W_up
        rhs = 2 * ((back * activation.phi(out.pre[l])) * data.weights[:, None]).sum(axis=0)
        if neuronwise:
            for j in range(W_low.shape[0]):
                rows.append((l + 1, j + 1, up[j] + low[j], rhs[j], abs(up[j]) + abs(low[j])))
        else:
            up_total, low_total = up.sum(), low.sum()
            scale = abs(up_total) + abs(low_total)
            rows.append((l + 1, None, up_total + low_total, rhs.sum(), scale))
    return rows


def check_identity(
    network: Network,
    data: Dataset,
    activation,
    loss="squared",
    *,
    dps: int | None = None,
    neuronwise: bool = False,
) -> IdentityCheck:
    r"""Evaluate both sides of the imbalance identity for a concrete network.

    Parameters
    ----------
    network : Network
    data : Dataset
        Inputs, targets and sample weights (the loss is their weighted mean).
    activation : str or sympy.Expr or CompiledActivation
    loss : str or Loss
        ``squared``, ``logistic``, ``cross_entropy``, ``huber`` or an expression in ``f``, ``y``.
    dps : int, optional
        Decimal digits for an mpmath evaluation; float64 when omitted.
    neuronwise : bool
        One term per hidden unit.

    Returns
    -------
    IdentityCheck

    Raises
    ------
    ValueError
        For a bad ``dps``, or a network with one weight layer (no layer pair).
    TypeError
        When ``network`` or ``data`` is not a :class:`Network` / :class:`Dataset`.

    References
    ----------
    DESIGN §1 (the imbalance identity).

    Examples
    --------
    >>> from saddle_escape.numeric.network import random_network
    >>> rng = np.random.default_rng(0)
    >>> data = Dataset(rng.normal(size=(8, 3)), rng.normal(size=(8, 1)))
    >>> check = check_identity(random_network((3, 4, 4, 1), seed=1), data, "tanh", dps=50)
    >>> check.max_relative_difference < 1e-45
    True
    """
    if dps is not None and (not isinstance(dps, int) or isinstance(dps, bool) or dps < 15):
        raise ValueError(f"dps must be an int ≥ 15 (or None for float64), got {dps!r}")
    if not isinstance(network, Network):
        raise TypeError(
            f"network must be a Network, got {type(network).__name__}; build one with "
            "Network(weights) or random_network(widths, seed=...)"
        )
    if not isinstance(data, Dataset):
        raise TypeError(
            f"data must be a Dataset, got {type(data).__name__}; build one with "
            "Dataset(inputs, targets)"
        )
    if network.depth < 2:
        raise ValueError(
            f"a network of widths {network.widths} has {network.depth} weight layer and no "
            "layer pair: the imbalance Δ_l = ‖W_{l+1}‖² − ‖W_l‖² needs at least two weight "
            "layers (three widths, e.g. (3, 4, 1))"
        )
    act = compile_activation(activation)
    loss_fn = get_loss(loss)
    if dps is None:
        rows = identity_sides(network, data, act, loss_fn, neuronwise=neuronwise)
        terms = [_term(*row) for row in rows]
    else:
        with mpmath.workdps(dps + 10):
            rows = identity_sides(
                network.to_mpmath(), data.to_mpmath(), act, loss_fn, neuronwise=neuronwise
            )
            terms = [_term(*row) for row in rows]
    return IdentityCheck(
        terms=tuple(terms),
        dps=dps,
        activation=act.label,
        loss=loss_fn.name,
        widths=network.widths,
        bias=network.biases is not None,
        neuronwise=neuronwise,
    )


def _term(layer, unit, lhs, rhs, scale) -> IdentityTerm:
    gap = abs(lhs - rhs)
    relative = 0.0 if gap == 0 else float(gap / scale) if scale != 0 else float("inf")
    return IdentityTerm(layer, unit, lhs, rhs, relative)


def imbalances(network: Network) -> np.ndarray:
    r"""``Δ_l = ‖W_{l+1}‖² − ‖W_l‖²`` (minus ``‖b_l‖²`` with biases), ``l = 1..L−1``.

    Examples
    --------
    >>> imbalances(Network((np.ones((2, 1)), np.ones((1, 2)) * 3))).tolist()
    [16.0]
    """
    norms = network.norms_squared()
    if network.biases is not None:
        norms = norms + np.array([(b * b).sum() for b in network.biases], dtype=norms.dtype)
        # Only the lower layer's bias counts in Δ_l: add the upper layer's back.
        upper = np.array([(w * w).sum() for w in network.weights[1:]], dtype=norms.dtype)
        return upper - norms[:-1]
    return norms[1:] - norms[:-1]
