r"""Fully connected networks, weighted datasets and explicit backpropagation.

The network of conventions §1: :math:`z_1 = W_1x (+ b_1)`,
:math:`z_l = W_l\sigma(z_{l-1}) (+ b_l)`, output :math:`f = z_L`; the loss is the
weighted mean :math:`\mathcal L = \sum_p w_p\,\ell(f(x_p), y_p)` over a dataset with
weights summing to 1 (a sample: :math:`w_p = 1/P`; Gauss–Hermite nodes: the exact
population loss for d = 1).

The same code runs in float64 (numpy arrays) and in arbitrary precision (numpy
object arrays of ``mpmath.mpf``; matrix products use Python arithmetic).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import SupportsFloat, cast

import mpmath
import numpy as np
from saddle_escape.numeric.functions import CompiledActivation, Loss

__all__ = [
    "Network",
    "Dataset",
    "WEIGHT_SUM_TOLERANCE",
    "Backprop",
    "backprop",
    "to_mpmath",
    "random_network",
    "example_targets",
]


def to_mpmath(array) -> np.ndarray:
    """Exact conversion of a float array to an object array of ``mpf``.

    Examples
    --------
    >>> to_mpmath(np.array([0.5, 2.0])).dtype
    dtype('O')
    """
    array = np.asarray(array)
    if array.dtype == object:
        return array
    return np.vectorize(mpmath.mpf, otypes=[object])(array.astype(float))


@dataclass(frozen=True)
class Network:
    """Weights ``W_1..W_L`` (``W_l`` of shape ``(N_l, N_{l-1})``) and optional biases.

    Examples
    --------
    >>> net = Network((np.ones((2, 1)), np.ones((1, 2))))
    >>> net.widths
    (1, 2, 1)
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...] | None = None

    def __post_init__(self):
        weights = tuple(np.asarray(w) for w in self.weights)
        if len(weights) < 1:
            raise ValueError("a network needs at least one weight matrix")
        for l, w in enumerate(weights):
            if w.ndim != 2:
                raise ValueError(f"weights[{l}] must be a matrix, got shape {w.shape}")
            if 0 in w.shape:
                raise ValueError(
                    f"weights[{l}] has shape {w.shape}: every layer needs at least one unit "
                    "and one input"
                )
            if l and w.shape[1] != weights[l - 1].shape[0]:
                raise ValueError(
                    f"weights[{l}] has {w.shape[1]} columns but weights[{l - 1}] has "
                    f"{weights[l - 1].shape[0]} rows"
                )
        object.__setattr__(self, "weights", weights)
        if self.biases is not None:
            biases = tuple(np.asarray(b) for b in self.biases)
            if len(biases) != len(weights) or any(
                b.shape != (w.shape[0],) for b, w in zip(biases, weights, strict=True)
            ):
                raise ValueError("biases must be one vector per layer, of length its width")
            object.__setattr__(self, "biases", biases)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def depth(self) -> int:
        return len(self.weights)

    def to_mpmath(self) -> Network:
        """The same network with ``mpf`` entries (exactly the same numbers)."""
        biases = None if self.biases is None else tuple(to_mpmath(b) for b in self.biases)
        return Network(tuple(to_mpmath(w) for w in self.weights), biases)

    def norms_squared(self) -> np.ndarray:
        """``‖W_l‖_F²`` for every layer."""
        return np.array([(w * w).sum() for w in self.weights], dtype=self.weights[0].dtype)


def random_network(widths, *, seed: int, bias: bool = False, scale: float = 1.0) -> Network:
    """Gaussian weights ``N(0, scale²/fan_in)`` (and biases ``N(0, scale²)``), seeded.

    Parameters
    ----------
    widths : sequence of int
        ``d, N_1, …, N_{L-1}, d_out``: at least two, each a positive integer.
    seed : int
        Seed of NumPy's default generator.
    bias : bool
        Draw a bias vector for every layer.
    scale : float
        Positive, finite gain of the standard deviation.

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        When a width is not a positive integer (a zero width leaves a layer without
        units), fewer than two widths are given, or ``scale`` is not positive and finite.

    Examples
    --------
    >>> random_network((3, 4, 1), seed=0).widths
    (3, 4, 1)
    >>> random_network((3, 0, 1), seed=0)
    Traceback (most recent call last):
    ...
    ValueError: widths (3, 0, 1): every width must be a positive integer, got 0 ...
    """
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(
            f"widths {widths} describe no weight layer: give at least the input and output "
            "dimensions, e.g. (3, 4, 1)"
        )
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(
                f"widths {widths}: every width must be a positive integer, got {w!r} "
                "(a layer needs at least one unit)"
            )
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0 < scale < np.inf:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    widths = tuple(int(w) for w in widths)
    rng = np.random.default_rng(seed)
    weights = tuple(
        rng.normal(0.0, scale / np.sqrt(widths[l]), size=(widths[l + 1], widths[l]))
        for l in range(len(widths) - 1)
    )
    biases = None
    if bias:
        biases = tuple(rng.normal(0.0, scale, size=widths[l + 1]) for l in range(len(widths) - 1))
    return Network(weights, biases)


def example_targets(rng: np.random.Generator, size: int, outputs: int, loss: str) -> np.ndarray:
    """Random targets that suit a loss: ±1 (logistic), one-hot or 0/1 (cross-entropy), else normal.

    Examples
    --------
    >>> example_targets(np.random.default_rng(0), 3, 2, "cross_entropy").sum(axis=1).tolist()
    [1.0, 1.0, 1.0]
    """
    if loss == "logistic":
        return np.where(rng.random((size, outputs)) < 0.5, -1.0, 1.0)
    if loss == "cross_entropy":
        if outputs == 1:
            return rng.random((size, 1)).round()
        return np.eye(outputs)[rng.integers(0, outputs, size)]
    return rng.normal(size=(size, outputs))


#: How far the sample weights of a :class:`Dataset` may sum from 1 (rounding only).
WEIGHT_SUM_TOLERANCE = 1e-9


def _numeric_array(values, name: str) -> np.ndarray:
    """``values`` as a real, finite float64 array or an object array of real ``mpf``.

    Raises
    ------
    ValueError
        Strings, booleans, complex numbers, other objects, NaN or ±inf, naming ``name``.
    """
    array = np.asarray(values)
    if array.dtype == object:
        bad = next(
            (
                v
                for v in array.ravel()
                if isinstance(v, bool)
                or not isinstance(v, (numbers.Real, mpmath.mpf))
                or not mpmath.isfinite(v)
            ),
            None,
        )
        if bad is not None:
            raise ValueError(
                f"{name} must hold finite real numbers (float64, or mpmath mpf for arbitrary "
                f"precision), got {bad!r} ({type(bad).__name__})"
            )
        return array
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype} "
            f"(e.g. {array.ravel()[:1].tolist()!r}); convert it with np.asarray(..., dtype=float)"
        )
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or ±inf")
    return array


@dataclass(frozen=True)
class Dataset:
    """Inputs ``(P, d)``, targets ``(P, m)`` and sample weights ``(P,)`` summing to 1.

    Parameters
    ----------
    inputs : array ``(P, d)``
        Real, finite numbers (float64, or an object array of ``mpf``); at least one row
        and one column.
    targets : array ``(P, m)`` or ``(P,)``
        One row per input (a vector is one target column).
    weights : array ``(P,)``, optional
        Non-negative and summing to 1 (within :data:`WEIGHT_SUM_TOLERANCE`); they are never
        renormalised. Default: ``1/P`` each (the data set is the population).

    Raises
    ------
    ValueError
        For non-numeric, NaN or infinite entries, no rows, mismatched shapes, negative
        weights, or weights that do not sum to 1 (divide them by their sum first).

    Examples
    --------
    >>> data = Dataset(np.zeros((4, 2)), np.ones((4, 1)))
    >>> float(data.weights.sum())
    1.0
    >>> Dataset(np.zeros((2, 1)), np.ones(2), np.array([2.0, 2.0]))
    Traceback (most recent call last):
    ...
    ValueError: sample weights must sum to 1, got 4.0; ... divide them by their sum ...
    """

    inputs: np.ndarray
    targets: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self):
        inputs = _numeric_array(self.inputs, "inputs")
        targets = _numeric_array(self.targets, "targets")
        if inputs.ndim != 2:
            raise ValueError(f"inputs must have shape (P, d), got {inputs.shape}")
        if inputs.shape[0] == 0:
            raise ValueError(f"inputs have shape {inputs.shape}: a data set needs at least one row")
        if inputs.shape[1] == 0:
            raise ValueError(
                f"inputs have shape {inputs.shape}: each row needs at least one input dimension"
            )
        if targets.ndim == 1:
            targets = targets[:, None]
        if targets.ndim != 2 or targets.shape[1] == 0:
            raise ValueError(
                f"targets must have shape (P, m) with m ≥ 1 (or (P,)), got {targets.shape}"
            )
        if targets.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"{inputs.shape[0]} inputs but {targets.shape[0]} targets: give one target row each"
            )
        weights = self.weights
        if weights is None:
            weights = np.full(inputs.shape[0], 1.0 / inputs.shape[0])
            if inputs.dtype == object:
                weights = to_mpmath(np.ones(inputs.shape[0])) / inputs.shape[0]
        weights = _numeric_array(weights, "weights")
        if weights.shape != (inputs.shape[0],):
            raise ValueError(f"weights must have shape ({inputs.shape[0]},), got {weights.shape}")
        if (weights < 0).any():
            raise ValueError(
                f"sample weights must be non-negative, got {float(weights.min())!r}; a weight "
                "is the share of a row in the loss"
            )
        total = weights.sum()
        if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(
                f"sample weights must sum to 1, got {float(total)!r}; they are not renormalised "
                "silently: divide them by their sum (weights / weights.sum())"
            )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "weights", weights)

    @property
    def size(self) -> int:
        return self.inputs.shape[0]

    def to_mpmath(self) -> Dataset:
        """The same data with ``mpf`` entries."""
        return Dataset(to_mpmath(self.inputs), to_mpmath(self.targets), to_mpmath(self.weights))


@dataclass(frozen=True)
class Backprop:
    """Everything one forward and backward pass produces.

    Attributes
    ----------
    pre : tuple of arrays
        Pre-activations ``z_1..z_L``, each ``(P, N_l)``; ``pre[-1]`` is the output.
    post : tuple of arrays
        Layer inputs ``x, σ(z_1), …, σ(z_{L-1})``.
    deltas : tuple of arrays
        Per-sample ``∂ℓ_p/∂z_l`` (unweighted), each ``(P, N_l)``.
    per_sample_loss : array ``(P,)``
    loss : scalar
        Weighted mean of the per-sample losses.
    grad_weights, grad_biases : tuple of arrays
        ``∇_{W_l} 𝓛`` and ``∇_{b_l} 𝓛`` (``grad_biases`` is ``None`` without biases).
    """

    pre: tuple
    post: tuple
    deltas: tuple
    per_sample_loss: np.ndarray
    loss: SupportsFloat  # float64, or mpf
    grad_weights: tuple
    grad_biases: tuple | None


def backprop(
    network: Network, data: Dataset, activation: CompiledActivation, loss: Loss
) -> Backprop:
    r"""Forward pass, loss, and exact gradients by explicit backpropagation.

    :math:`\delta_L = \partial\ell/\partial f`,
    :math:`\delta_l = \sigma'(z_l)\odot(\delta_{l+1}W_{l+1})`,
    :math:`\nabla_{W_l}\mathcal L = \sum_p w_p\,\delta_{l,p}\,a_{l-1,p}^\top`.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> net = Network((np.array([[1.0]]), np.array([[2.0]])))
    >>> data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    >>> out = backprop(net, data, compile_activation("identity"), get_loss("squared"))
    >>> float(out.loss), out.grad_weights[0].tolist()
    (2.0, [[4.0]])
    """
    if network.widths[0] != data.inputs.shape[1]:
        raise ValueError(
            f"the network takes inputs of dimension {network.widths[0]} but the data have "
            f"{data.inputs.shape[1]}"
        )
    if network.widths[-1] != data.targets.shape[1]:
        raise ValueError(
            f"the network has {network.widths[-1]} outputs but the targets have "
            f"{data.targets.shape[1]} columns"
        )
    a = data.inputs
    pre, post = [], []
    for l, w in enumerate(network.weights):
        post.append(a)
        z = a @ w.T
        if network.biases is not None:
            z = z + network.biases[l]
        pre.append(z)
        if l < network.depth - 1:
            a = activation.sigma(z)
    f = pre[-1]
    per_sample = loss.value(f, data.targets)
    if per_sample.dtype != object and not np.all(np.isfinite(per_sample)):
        raise FloatingPointError(
            "the loss overflowed in float64 (σ or ℓ too large for these weights and inputs); "
            "use smaller weights, or arbitrary precision (dps=...)"
        )
    delta = loss.gradient(f, data.targets)
    deltas = [delta]
    for l in range(network.depth - 1, 0, -1):
        delta = activation.dsigma(pre[l - 1]) * (delta @ network.weights[l])
        deltas.append(delta)
    deltas.reverse()
    weights = cast(np.ndarray, data.weights)[:, None]  # set by Dataset.__post_init__
    grad_w = tuple((d * weights).T @ p for d, p in zip(deltas, post, strict=True))
    grad_b = None
    if network.biases is not None:
        grad_b = tuple((d * weights).sum(axis=0) for d in deltas)
    return Backprop(
        pre=tuple(pre),
        post=tuple(post),
        deltas=tuple(deltas),
        per_sample_loss=per_sample,
        loss=(per_sample * data.weights).sum(),
        grad_weights=grad_w,
        grad_biases=grad_b,
    )
