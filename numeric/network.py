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

import functools
import numbers
from dataclasses import dataclass
from typing import SupportsFloat, cast

import mpmath
import numpy as np
import sympy as sp
from saddle_escape.numeric.functions import CompiledActivation, F, Loss, Y, compile_expressions
from saddle_escape.symbolic.parsing import X

__all__ = [
    "Network",
    "Dataset",
    "WEIGHT_SUM_TOLERANCE",
    "Backprop",
    "backprop",
    "loss_value",
    "Workspace",
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

    def rows(self, index) -> Dataset:
        """The rows ``index`` (repeats allowed), their weights renormalised to sum to 1.

        A minibatch: with equal weights every row gets ``1/B``. The rows were checked when
        this data set was built, so they are not checked again (the loops call this once
        per step).

        Raises
        ------
        ValueError
            When ``index`` is empty, or its rows carry zero total weight.

        Examples
        --------
        >>> data = Dataset(np.arange(4.0)[:, None], np.zeros(4))
        >>> batch = data.rows([3, 1])
        >>> batch.inputs[:, 0].tolist(), batch.weights.tolist()
        ([3.0, 1.0], [0.5, 0.5])
        """
        index = np.asarray(index, dtype=np.intp)
        if index.ndim != 1 or index.size == 0:
            raise ValueError(f"rows need a non-empty list of row numbers, got shape {index.shape}")
        weights = cast(np.ndarray, self.weights)[index]
        total = weights.sum()
        if not total > 0:
            raise ValueError("the rows chosen carry zero total weight: no loss to average")
        batch = object.__new__(Dataset)
        object.__setattr__(batch, "inputs", self.inputs[index])
        object.__setattr__(batch, "targets", self.targets[index])
        object.__setattr__(batch, "weights", weights / total)
        return batch


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


def _check_shapes(network: Network, data: Dataset) -> None:
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


class Workspace:
    r"""Arrays reused across repeated :func:`backprop` and :func:`loss_value` calls (float64).

    A training loop backpropagates thousands of times through the same shapes. Fresh
    ``(P, N)`` arrays on every call are fresh memory pages, and the page faults can cost
    more than the arithmetic (measured: backprop took 2.7× its matrix products at
    P = 1797, N = 64 without a workspace, 1.1× with one). With a workspace every large
    array of a pass is written into a buffer kept here, one per role and shape.

    The arrays of a :class:`Backprop` (activations, deltas, gradients) computed with a
    workspace are overwritten by the next call with the same workspace: use or copy them
    first. Object (mpmath) arrays never use it.

    Examples
    --------
    >>> ws = Workspace()
    >>> ws.array("z", (2, 3)) is ws.array("z", (2, 3))
    True
    >>> ws.nbytes
    48
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def array(self, role, shape) -> np.ndarray:
        """The (uninitialised) float64 buffer of this role and shape, made on first use."""
        key = (role, tuple(shape))
        out = self._arrays.get(key)
        if out is None:
            out = self._arrays[key] = np.empty(shape)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        return sum(a.nbytes for a in self._arrays.values())


def _buffer(workspace: Workspace | None, role, shape) -> np.ndarray:
    return np.empty(shape) if workspace is None else workspace.array(role, shape)


#: The output symbol of :func:`_derivative_of_output`.
_S = sp.Symbol("s", real=True)
_TANH = sp.tanh(X)


@functools.lru_cache(maxsize=64)
def _derivative_of_output(expression: sp.Expr, derivative: sp.Expr):
    """σ' as a function of the output ``s = σ(z)`` when it is one, else ``None``.

    ``tanh``: ``1 − s²`` (the backward pass then needs no second ``tanh``); ``exp``:
    ``s``; a linear σ: its constant slope (a float). The same floating-point operations as
    evaluating the derivative's expression at ``z``, whose subexpression σ(z) it reuses.
    """
    in_output = derivative.subs(expression, _S)
    if X in in_output.free_symbols:
        return None
    if not in_output.free_symbols:
        return float(in_output)
    return compile_expressions([_S], in_output, "numpy")


def _float_arrays(network: Network, data: Dataset) -> bool:
    arrays = (data.inputs, *network.weights, *(network.biases or ()))
    return all(a.dtype != object for a in arrays)


def _sigma_into(activation: CompiledActivation, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ(z), written into ``out`` for tanh (a new array otherwise; float64 only)."""
    if activation.expression == _TANH:
        return np.tanh(z, out=out)
    return activation.sigma(z)


def _times_slope(activation, back, z, s, workspace, layer) -> np.ndarray:
    """``back ⊙ σ'(z)`` (float64, in place), with σ' from the output ``s`` when possible."""
    rule = _derivative_of_output(activation.expression, activation.derivative)
    if activation.expression == _TANH:  # 1 − s², in place: no temporary array
        slope = _buffer(workspace, ("slope", layer), s.shape)
        np.multiply(s, s, out=slope)
        np.subtract(1.0, slope, out=slope)
    elif isinstance(rule, float):
        return back if rule == 1.0 else np.multiply(back, rule, out=back)
    elif rule is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            slope = rule(s)
    else:
        slope = activation.dsigma(z)
    return np.multiply(back, slope, out=back)


#: The squared loss ½(f − y)², evaluated without the compiled function's wrapping.
_SQUARED = (F - Y) ** 2 / 2


def _loss_terms(loss: Loss, f: np.ndarray, targets: np.ndarray):
    """Per-sample loss and ∂ℓ/∂f (float64); the squared loss by the same operations as
    its compiled expression, ``(1/2)*(f - y)**2`` and ``f - y``, without the wrapping."""
    if loss.expression is not None and loss.expression == _SQUARED:
        diff = f - targets
        return (0.5 * diff**2).sum(axis=1), diff
    return loss.value(f, targets), loss.gradient(f, targets)


def _uniform_weight(weights: np.ndarray):
    """The common sample weight when every row has the same one (float64), else ``None``."""
    if weights.dtype == object:
        return None
    first = weights[0]
    return first if bool((weights == first).all()) else None


_OVERFLOW = (
    "the loss overflowed in float64 (σ or ℓ too large for these weights and inputs); "
    "use smaller weights, or arbitrary precision (dps=...)"
)


def loss_value(
    network: Network,
    data: Dataset,
    activation: CompiledActivation,
    loss: Loss,
    *,
    workspace: Workspace | None = None,
):
    r"""The loss :math:`\mathcal L = \sum_p w_p\,\ell(f(x_p), y_p)` by a forward pass alone.

    About a third of the work of :func:`backprop` and a fraction of its memory (two
    activation arrays at a time): the full-batch check of a minibatch run.

    Parameters
    ----------
    network : Network
    data : Dataset
    activation : CompiledActivation
    loss : Loss
    workspace : Workspace, optional
        Buffers to reuse across calls (float64).

    Returns
    -------
    float or mpf
        In the backend of the arrays (float64, or mpmath for object arrays).

    Raises
    ------
    ValueError
        When the network's input or output widths do not match the data.
    FloatingPointError
        When the loss overflows in float64.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> net = Network((np.array([[1.0]]), np.array([[2.0]])))
    >>> data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    >>> float(loss_value(net, data, compile_activation("identity"), get_loss("squared")))
    2.0
    """
    _check_shapes(network, data)
    fast = _float_arrays(network, data)
    a = data.inputs
    for l, w in enumerate(network.weights):
        if fast:
            z = np.matmul(a, w.T, out=_buffer(workspace, ("forward", l % 2), (data.size, len(w))))
        else:
            z = a @ w.T
        if network.biases is not None:
            z = np.add(z, network.biases[l], out=z) if fast else z + network.biases[l]
        if l == network.depth - 1:
            a = z
        elif fast:
            a = _sigma_into(activation, z, z)
        else:
            a = activation.sigma(z)
    per_sample = loss.value(a, data.targets)
    if per_sample.dtype != object and not np.all(np.isfinite(per_sample)):
        raise FloatingPointError(_OVERFLOW)
    return (per_sample * data.weights).sum()


def backprop(
    network: Network,
    data: Dataset,
    activation: CompiledActivation,
    loss: Loss,
    *,
    workspace: Workspace | None = None,
) -> Backprop:
    r"""Forward pass, loss, and exact gradients by explicit backpropagation.

    :math:`\delta_L = \partial\ell/\partial f`,
    :math:`\delta_l = \sigma'(z_l)\odot(\delta_{l+1}W_{l+1})`,
    :math:`\nabla_{W_l}\mathcal L = \sum_p w_p\,\delta_{l,p}\,a_{l-1,p}^\top`.

    In float64 the work is the ``3L − 1`` matrix products and a few passes over each
    layer's activations: σ' comes from the stored σ(z) when it is a function of it
    (``tanh``: ``1 − σ²``, computed in place), and equal sample weights scale the small
    gradient matrices instead of the ``P × N`` deltas. ``benchmarks/bench_gradient.py``
    measures the cost against the matrix products alone.

    Parameters
    ----------
    network : Network
    data : Dataset
    activation : CompiledActivation
    loss : Loss
    workspace : Workspace, optional
        Buffers reused across calls (float64); the returned arrays then live in it and
        are overwritten by its next use.

    Returns
    -------
    Backprop

    Raises
    ------
    ValueError
        When the network's input or output widths do not match the data.
    FloatingPointError
        When the loss overflows in float64.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> net = Network((np.array([[1.0]]), np.array([[2.0]])))
    >>> data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    >>> out = backprop(net, data, compile_activation("identity"), get_loss("squared"))
    >>> float(out.loss), out.grad_weights[0].tolist()
    (2.0, [[4.0]])
    """
    _check_shapes(network, data)
    if not _float_arrays(network, data):
        return _backprop_objects(network, data, activation, loss)
    size = data.size
    a = data.inputs
    pre, post = [], []
    for l, w in enumerate(network.weights):
        post.append(a)
        z = np.matmul(a, w.T, out=_buffer(workspace, ("pre", l), (size, len(w))))
        if network.biases is not None:
            z += network.biases[l]
        pre.append(z)
        if l < network.depth - 1:
            a = _sigma_into(activation, z, _buffer(workspace, ("post", l), z.shape))
    f = pre[-1]
    per_sample, delta = _loss_terms(loss, f, data.targets)
    if not np.all(np.isfinite(per_sample)):
        raise FloatingPointError(_OVERFLOW)
    deltas = [delta]
    for l in range(network.depth - 1, 0, -1):
        w = network.weights[l]
        back = np.matmul(delta, w, out=_buffer(workspace, ("delta", l), (size, w.shape[1])))
        delta = _times_slope(activation, back, pre[l - 1], post[l], workspace, l)
        deltas.append(delta)
    deltas.reverse()
    sample_weights = cast(np.ndarray, data.weights)  # set by Dataset.__post_init__
    common = _uniform_weight(sample_weights)
    grads = []
    for l, (d, p) in enumerate(zip(deltas, post, strict=True)):
        g = _buffer(workspace, ("grad", l), network.weights[l].shape)
        if common is not None:  # equal weights: scale the (N, N) product, not the (P, N) delta
            np.multiply(np.matmul(d.T, p, out=g), common, out=g)
        else:
            weighted = np.multiply(
                d, sample_weights[:, None], out=_buffer(workspace, ("weighted", l), d.shape)
            )
            np.matmul(weighted.T, p, out=g)
        grads.append(g)
    grad_b = None
    if network.biases is not None:
        if common is not None:
            grad_b = tuple(d.sum(axis=0) * common for d in deltas)
        else:
            grad_b = tuple((d * sample_weights[:, None]).sum(axis=0) for d in deltas)
    return Backprop(
        pre=tuple(pre),
        post=tuple(post),
        deltas=tuple(deltas),
        per_sample_loss=per_sample,
        loss=(per_sample * data.weights).sum(),
        grad_weights=tuple(grads),
        grad_biases=grad_b,
    )


def _backprop_objects(network, data, activation, loss) -> Backprop:
    """:func:`backprop` for object (mpmath) arrays: Python arithmetic, no buffers."""
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
    delta = loss.gradient(f, data.targets)
    deltas = [delta]
    for l in range(network.depth - 1, 0, -1):
        delta = activation.dsigma(pre[l - 1]) * (delta @ network.weights[l])
        deltas.append(delta)
    deltas.reverse()
    weights = cast(np.ndarray, data.weights)[:, None]
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
