r"""Both sides of the imbalance identity on a concrete network, from actual gradients.

Left side: :math:`d\Delta_l/dt = 2\langle W_{l+1}, \dot W_{l+1}\rangle -
2\langle W_l, \dot W_l\rangle` (minus :math:`2\langle b_l, \dot b_l\rangle` with
biases) with :math:`\dot W = -\nabla_W\mathcal L` from explicit backpropagation.
Right side: :math:`2\sum_p w_p \langle W_{l+1}^\top\delta_{l+1,p},
\varphi_\sigma(z_{l,p})\rangle`. In float64 or in mpmath at a requested precision.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import SupportsFloat, cast

import mpmath
import numpy as np
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.symbolic.outcomes import ConvergenceError, Status

__all__ = [
    "IdentityTerm",
    "IdentityCheck",
    "IdentitySide",
    "check_identity",
    "default_tolerance",
    "imbalances",
    "identity_sides",
    "FLOAT64_TOLERANCE",
]

#: Default tolerance of the float64 check on ``max_relative_difference`` (see the
#: tests: with σ'(0) ≠ 0 rounding stays below 1e-12 before O(1) factors).
FLOAT64_TOLERANCE = 1e-10


@dataclass(frozen=True)
class IdentityTerm:
    """One layer pair (``unit`` is ``None``) or one hidden unit: both sides and their gap.

    ``relative_difference`` is ``|lhs − rhs|`` over the sum of the magnitudes of the two
    gradient terms that make up ``lhs`` (so it is meaningful when both sides vanish, as
    for class A); ``inf`` when that sum is 0 but the sides differ, ``nan`` when a side is
    not finite.

    Examples
    --------
    >>> term = IdentityTerm(1, None, 0.5, 0.5, 0.0)
    >>> term.to_dict(17)  # doctest: +NORMALIZE_WHITESPACE
    {'layer': 1, 'lhs': 0.5, 'lhs_value': 0.5, 'rhs': 0.5, 'rhs_value': 0.5,
     'relative_difference': 0.0}
    """

    layer: int
    unit: int | None
    lhs: object
    rhs: object
    relative_difference: float

    def to_dict(self, digits: int) -> dict:
        out = {
            "layer": self.layer,
            # JSON contract v1: float64 sides are numbers; mpmath ones are decimal strings
            # with every digit computed, and each has its nearest float64 as ``*_value``.
            "lhs": _decimal(self.lhs, digits),
            "lhs_value": _json_float(float(cast(SupportsFloat, self.lhs))),
            "rhs": _decimal(self.rhs, digits),
            "rhs_value": _json_float(float(cast(SupportsFloat, self.rhs))),
            "relative_difference": _json_float(self.relative_difference),
        }
        if self.unit is not None:
            out["unit"] = self.unit
        return out


def _decimal(value, digits: int) -> str | float | None:
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, digits, min_fixed=-5, max_fixed=5)
    return _json_float(float(value))


def _json_float(value: float) -> float | None:
    """A finite float as is; ``inf`` and ``nan`` as ``None`` (strict JSON has neither)."""
    return float(value) if math.isfinite(value) else None


def _finite(value) -> bool:
    if isinstance(value, mpmath.mpf):
        return bool(mpmath.isfinite(value))
    return math.isfinite(float(value))


@dataclass(frozen=True)
class IdentityCheck:
    """Result of :func:`check_identity`: both sides per layer pair (or unit), and a status.

    Attributes
    ----------
    terms : tuple of IdentityTerm
        One per layer pair (or hidden unit), in order; empty when the loss overflowed in
        float64 (status ``non_finite``).
    dps : int or None
        Decimal digits of the mpmath evaluation; ``None`` for float64.
    activation, loss : str
        The activation's label and the loss's name.
    widths : tuple of int
    bias, neuronwise : bool
    tolerance : float
        The identity holds when ``max_relative_difference <= tolerance``.
    samples : int
        Rows of the data set.
    seconds : float
        Wall-clock time of the check.

    Examples
    --------
    >>> term = IdentityTerm(1, None, 1.0, 1.0 + 1e-6, 1e-6)
    >>> check = IdentityCheck((term,), None, "tanh", "squared", (1, 1, 1), False, False)
    >>> check.status.value, check.status.exit_code
    ('not_converged', 3)
    >>> check.to_dict()["status"]
    'not_converged'
    """

    terms: tuple[IdentityTerm, ...]
    dps: int | None
    activation: str
    loss: str
    widths: tuple[int, ...]
    bias: bool
    neuronwise: bool
    tolerance: float = FLOAT64_TOLERANCE
    samples: int = 0
    seconds: float = 0.0

    @property
    def max_relative_difference(self) -> float:
        """The largest relative difference of the terms (``nan`` if a side is not finite,
        or when there are no terms because the loss overflowed)."""
        values = [t.relative_difference for t in self.terms]
        if not values or any(math.isnan(v) for v in values):
            return math.nan
        return max(values)

    @property
    def terms_checked(self) -> int:
        """How many layer pairs (or units) were checked."""
        return len(self.terms)

    @property
    def status(self) -> Status:
        """``success`` when the identity holds within ``tolerance``; ``non_finite`` when a
        side overflowed or is NaN; ``not_converged`` when the sides differ by more."""
        if not self.terms or any(not (_finite(t.lhs) and _finite(t.rhs)) for t in self.terms):
            return Status.NON_FINITE
        if math.isnan(self.max_relative_difference):
            return Status.NON_FINITE
        if self.max_relative_difference <= self.tolerance:
            return Status.SUCCESS
        return Status.NOT_CONVERGED

    @property
    def message(self) -> str:
        """What the status means for this check, and what to do next."""
        status = self.status
        precision = "float64" if self.dps is None else f"{self.dps} digits"
        if status is Status.SUCCESS:
            return (
                f"the identity holds: max relative difference "
                f"{self.max_relative_difference:.2e} <= tolerance {self.tolerance:.1e} "
                f"({precision})"
            )
        if status is Status.NON_FINITE:
            what = "a side of the identity" if self.terms else "the loss"
            return (
                f"non-finite values: {what} overflowed or is NaN ({precision}); use smaller "
                "weights or inputs, a bounded activation, or arbitrary precision (dps=50)"
            )
        worst = max(self.terms, key=lambda t: t.relative_difference)
        where = f"layer {worst.layer}" + ("" if worst.unit is None else f", unit {worst.unit}")
        advice = (
            "float64 rounding cancels when σ'(0) = 0 or pre-activations are small: rerun "
            "with dps=50 (--dps 50)"
            if self.dps is None
            else f"rerun with more digits than {self.dps}"
        )
        return (
            f"not verified: the two sides differ by {self.max_relative_difference:.2e} "
            f"(relative) at {where}, above the tolerance {self.tolerance:.1e} "
            f"({precision}); {advice}"
        )

    def to_dict(self) -> dict:
        """JSON-ready (strict: no NaN or infinity); both sides as decimal strings."""
        digits = self.dps or 17
        return {
            "status": self.status.value,
            "message": self.message,
            "activation": self.activation,
            "loss": self.loss,
            "widths": list(self.widths),
            "bias": self.bias,
            "form": "neuron-wise" if self.neuronwise else "layer-wise",
            "dps": self.dps,
            "precision": "float64" if self.dps is None else f"mpmath, {self.dps} digits",
            "tolerance": self.tolerance,
            "samples": self.samples,
            "layers": [t.to_dict(digits) for t in self.terms],
            "max_relative_difference": _json_float(self.max_relative_difference),
            "terms_checked": self.terms_checked,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class IdentitySide:
    r"""Both sides of the identity for one layer pair (``unit`` is ``None``) or one unit.

    Attributes
    ----------
    layer : int
        1-based index ``l`` of :math:`\Delta_l`.
    unit : int or None
        1-based hidden unit (neuron-wise), else ``None``.
    lhs, rhs
        :math:`d\Delta_l/dt` from the gradients, and the identity's right-hand side
        (floats or mpf, in the backend of the network).
    scale
        The sum of the magnitudes of the two gradient terms that make up ``lhs``.

    Examples
    --------
    >>> side = IdentitySide(1, None, 0.25, 0.25, 1.0)
    >>> side.rhs, side.gap
    (0.25, 0.0)
    """

    layer: int
    unit: int | None
    lhs: object
    rhs: object
    scale: object

    @property
    def gap(self):
        """``|lhs − rhs|``."""
        return abs(self.lhs - self.rhs)


def identity_sides(network, data, activation, loss, *, neuronwise=False) -> list[IdentitySide]:
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
    list of IdentitySide
        One per layer pair, in order (or per hidden unit, layer by layer). The
        building block of :func:`check_identity` and of the flows' drift; called once per
        gradient evaluation, so it carries no status or timing of its own.

    Examples
    --------
    >>> from saddle_escape.numeric.functions import compile_activation, get_loss
    >>> net = Network((np.array([[1.0]]), np.array([[2.0]])))
    >>> data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    >>> (side,) = identity_sides(net, data, compile_activation("identity"), get_loss("squared"))
    >>> side.layer, side.unit, float(side.lhs), float(side.rhs)
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
            low = low + 2 * network.biases[l] * cast(tuple, out.grad_biases)[l]
        back = out.deltas[l + 1] @ W_up
        rhs = 2 * ((back * activation.phi(out.pre[l])) * data.weights[:, None]).sum(axis=0)
        if neuronwise:
            for j in range(W_low.shape[0]):
                rows.append(
                    IdentitySide(l + 1, j + 1, up[j] + low[j], rhs[j], abs(up[j]) + abs(low[j]))
                )
        else:
            up_total, low_total = up.sum(), low.sum()
            scale = abs(up_total) + abs(low_total)
            rows.append(IdentitySide(l + 1, None, up_total + low_total, rhs.sum(), scale))
    return rows


def default_tolerance(dps: int | None) -> float:
    """Tolerance of :func:`check_identity` on the max relative difference.

    :data:`FLOAT64_TOLERANCE` in float64; ``10**-(dps - 10)`` (at most
    :data:`FLOAT64_TOLERANCE`) at ``dps`` digits, which are evaluated with 10 guard
    digits. Beyond about 330 digits it underflows to 0.0: the check then asks for a
    difference that rounds to 0 in float64.

    Examples
    --------
    >>> default_tolerance(None), default_tolerance(50)
    (1e-10, 1e-40)
    """
    if dps is None:
        return FLOAT64_TOLERANCE
    return min(FLOAT64_TOLERANCE, 10.0 ** -(dps - 10))


def check_identity(
    network: Network,
    data: Dataset,
    activation,
    loss="squared",
    *,
    dps: int | None = None,
    neuronwise: bool = False,
    tolerance: float | None = None,
    throw: bool = True,
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
    tolerance : float, optional
        The identity holds when every relative difference is at most this (default
        :func:`default_tolerance` of ``dps``: 1e-10 in float64, 1e-40 at 50 digits).
    throw : bool
        Raise :class:`ConvergenceError` (carrying the status and the result) when the
        identity does not hold within ``tolerance`` (default), or return the result with
        its status.

    Returns
    -------
    IdentityCheck
        ``status`` is ``success``, ``not_converged`` (the sides differ by more than
        ``tolerance``: typically float64 rounding, so raise ``dps``) or ``non_finite``
        (a side, or the loss, overflowed in float64; then ``terms`` may be empty).

    Raises
    ------
    ValueError
        For a bad ``dps`` or ``tolerance``, or a network with one weight layer (no layer
        pair).
    TypeError
        When ``network`` or ``data`` is not a :class:`Network` / :class:`Dataset`, or
        ``throw`` is not a bool.
    ConvergenceError
        With ``throw=True``, when the status is not ``success``; ``exc.result`` is the
        :class:`IdentityCheck`.

    References
    ----------
    conventions §5 (the imbalance identity).

    Examples
    --------
    >>> from saddle_escape.numeric.network import random_network
    >>> rng = np.random.default_rng(0)
    >>> data = Dataset(rng.normal(size=(8, 3)), rng.normal(size=(8, 1)))
    >>> check = check_identity(random_network((3, 4, 4, 1), seed=1), data, "tanh", dps=50)
    >>> check.max_relative_difference < 1e-45, check.status.value, check.terms_checked
    (True, 'success', 2)
    >>> strict = check_identity(
    ...     random_network((3, 4, 4, 1), seed=1), data, "tanh", tolerance=1e-30, throw=False)
    >>> strict.status.value
    'not_converged'
    """
    started = time.perf_counter()
    if dps is not None and (not isinstance(dps, int) or isinstance(dps, bool) or dps < 15):
        raise ValueError(f"dps must be an int ≥ 15 (or None for float64), got {dps!r}")
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    if tolerance is None:
        tolerance = default_tolerance(dps)
    elif (
        not isinstance(tolerance, numbers.Real)
        or isinstance(tolerance, bool)
        or not 0 <= float(tolerance) < math.inf
    ):
        raise ValueError(f"tolerance must be a finite number ≥ 0, got {tolerance!r}")
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
    try:
        if dps is None:
            with np.errstate(over="ignore", invalid="ignore"):
                rows = identity_sides(network, data, act, loss_fn, neuronwise=neuronwise)
                terms = [_term(row) for row in rows]
        else:
            with mpmath.workdps(dps + 10):
                rows = identity_sides(
                    network.to_mpmath(), data.to_mpmath(), act, loss_fn, neuronwise=neuronwise
                )
                terms = [_term(row) for row in rows]
    except FloatingPointError:  # the loss overflowed in float64: no side to compare
        terms = []
    result = IdentityCheck(
        terms=tuple(terms),
        dps=dps,
        activation=act.label,
        loss=loss_fn.name,
        widths=network.widths,
        bias=network.biases is not None,
        neuronwise=neuronwise,
        tolerance=float(tolerance),
        samples=int(data.inputs.shape[0]),
        seconds=time.perf_counter() - started,
    )
    if throw and not result.status.ok:
        raise ConvergenceError(result.message, status=result.status, result=result)
    return result


def _term(side: IdentitySide) -> IdentityTerm:
    gap = side.gap
    scale = side.scale
    if not (_finite(side.lhs) and _finite(side.rhs)):
        relative = math.nan
    else:
        relative = 0.0 if gap == 0 else float(gap / scale) if scale != 0 else math.inf
    return IdentityTerm(side.layer, side.unit, side.lhs, side.rhs, relative)


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
