"""Hypothesis strategies: property-test the imbalance identity on your own σ and networks.

Needs ``hypothesis`` (the ``strategies`` extra; the ``test`` extra has it too). Three
lines check the identity on random networks for an activation of your own::

    from hypothesis import given
    from saddle_escape.strategies import identity_problems

    @given(identity_problems(activation="x*tanh(x) + x"))
    def test_my_activation(problem):
        assert problem.check().max_relative_difference < 1e-10

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(max_examples=5, deadline=None)
... @given(identity_problems(activation="tanh", depth=(2, 3)))
... def check(problem):
...     assert problem.check().max_relative_difference < 1e-10
>>> check()
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from saddle_escape.classes import REGISTRY
from saddle_escape.classes.gate import admit_activation
from saddle_escape.numeric.functions import LOSSES
from saddle_escape.numeric.identity import IdentityCheck, check_identity
from saddle_escape.numeric.network import Dataset, Network, example_targets, random_network
from saddle_escape.symbolic.outcomes import ExpressionError, Status
from saddle_escape.symbolic.taylor import is_zero_number

__all__ = [
    "activations",
    "networks",
    "datasets",
    "losses",
    "IdentityProblem",
    "identity_problems",
]

_SMOOTH = ("tanh", "sin", "atan", "erf", "sigmoid", "softplus", "cos")
_INNER = _SMOOTH + ("exp",)  # exp only inside: exp(exp(x)) overflows float64 too easily


@functools.lru_cache(maxsize=1024)
def _class_of(expression: str) -> tuple[str | None, bool]:
    """``(class letter or None, whether σ'(0) ≠ 0)``, exactly, with no wall-clock limit.

    What is drawn must not depend on how loaded the machine is, so the classifier runs
    without a time limit; the work is bounded by the expression's size instead (registry
    entries and the fixed three-call template of :func:`_compositions`). The activation
    gate caches the verdict, so the numeric layer finds it there instead of classifying
    again under its own limit.
    """
    try:
        c = admit_activation(expression, time_limit_seconds=None).classification
    except ExpressionError:
        return None, False
    alpha_nonzero = not c.alpha.free_symbols and is_zero_number(c.alpha) is False
    return (None if c.class_ is None else c.class_.value), alpha_nonzero


@functools.cache
def _registry_by_class(nonzero_alpha: bool) -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for name in REGISTRY:
        klass, alpha_nonzero = _class_of(name)
        if klass is not None and (alpha_nonzero or not nonzero_alpha):
            table.setdefault(klass, []).append(name)
    return {k: tuple(v) for k, v in table.items()}


@st.composite
def _compositions(draw):
    """``c1*x + c2*outer(c3*inner(x))``: smooth everywhere, of any class."""
    outer, inner = draw(st.sampled_from(_SMOOTH)), draw(st.sampled_from(_INNER))
    c1, c2, c3 = (draw(st.sampled_from(["0.5", "1", "0.25", "2", "-0.5"])) for _ in range(3))
    return f"{c1}*x + {c2}*{outer}({c3}*{inner}(x))"


def activations(
    *,
    classes: str = "ABCD",
    registry: bool = True,
    compositions: bool = True,
    nonzero_alpha: bool = False,
):
    """Activation expressions (registry names or random smooth compositions) by class.

    Parameters
    ----------
    classes : str
        Any of ``"ABCD"``: only activations in these classes are drawn.
    registry, compositions : bool
        Draw from the registry, from random compositions of smooth functions, or both.
    nonzero_alpha : bool
        Only activations with σ'(0) ≠ 0 (decided exactly). Float64 checks need it: with
        σ'(0) = 0 (and σ(0) = 0), σ'(z) near 0 is a difference of O(1) terms whose value
        is O(z²), so its relative rounding error grows like 1e-16/z² (see
        ``tests/numeric/test_identity.py``).

    Returns
    -------
    SearchStrategy of str

    Examples
    --------
    >>> from hypothesis import find
    >>> find(activations(classes="B", compositions=False, nonzero_alpha=True), lambda a: True)
    'atan'
    """
    unknown = set(classes) - set("ABCD")
    if unknown or not classes:
        raise ValueError(f"classes must be letters from 'ABCD', got {classes!r}")
    options = []
    if registry:
        names = [n for c in classes for n in _registry_by_class(nonzero_alpha).get(c, ())]
        if names:
            options.append(st.sampled_from(sorted(names)))
    if compositions:

        def wanted(expression: str) -> bool:
            klass, alpha_nonzero = _class_of(expression)
            return klass is not None and klass in classes and (alpha_nonzero or not nonzero_alpha)

        options.append(_compositions().filter(wanted))
    if not options:
        raise ValueError("activations() needs registry=True or compositions=True")
    return st.one_of(options)


def networks(
    *,
    depth: tuple[int, int] = (2, 6),
    width: tuple[int, int] = (1, 6),
    input_dim: int | None = None,
    output_dim: int = 1,
    bias: bool | None = None,
    scale: float = 1.0,
):
    """Random networks: Gaussian weights ``N(0, scale²/fan_in)``, seeded by hypothesis.

    Parameters
    ----------
    depth : (int, int)
        Range of the number of weight layers L (at least 2).
    width : (int, int)
        Range of every hidden width (and of the input dimension unless fixed).
    input_dim : int, optional
    output_dim : int
    bias : bool, optional
        ``None`` draws with and without biases.
    scale : float
    """
    if depth[0] < 2:
        raise ValueError(
            f"depth must start at 2 or more (an imbalance needs 2 layers), got {depth}"
        )

    @st.composite
    def build(draw):
        L = draw(st.integers(*depth))
        d = input_dim if input_dim is not None else draw(st.integers(*width))
        hidden = [draw(st.integers(*width)) for _ in range(L - 1)]
        with_bias = draw(st.booleans()) if bias is None else bias
        seed = draw(st.integers(0, 2**32 - 1))
        return random_network((d, *hidden, output_dim), seed=seed, bias=with_bias, scale=scale)

    return build()


def datasets(input_dim: int, output_dim: int = 1, *, size=(1, 8), loss: str = "squared"):
    """Gaussian inputs with targets that suit ``loss`` (±1 logistic, one-hot cross-entropy)."""

    @st.composite
    def build(draw):
        P = draw(st.integers(*size))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return Dataset(rng.normal(size=(P, input_dim)), example_targets(rng, P, output_dim, loss))

    return build()


def losses():
    """The built-in losses and one loss given as an expression."""
    return st.sampled_from((*LOSSES, "log(cosh(f - y))"))


@dataclass(frozen=True)
class IdentityProblem:
    """A network, a dataset, an activation and a loss: everything the identity needs."""

    network: Network
    data: Dataset
    activation: str
    loss: str

    def check(self, *, dps: int | None = None, neuronwise: bool = False) -> IdentityCheck:
        """Both sides of the identity (:func:`saddle_escape.numeric.identity.check_identity`)."""
        return check_identity(
            self.network, self.data, self.activation, self.loss, dps=dps, neuronwise=neuronwise
        )


def identity_problems(
    *,
    activation: str | None = None,
    classes: str = "ABCD",
    loss: str | None = None,
    depth: tuple[int, int] = (2, 6),
    width: tuple[int, int] = (1, 6),
    bias: bool | None = None,
    nonzero_alpha: bool = False,
):
    """Complete identity problems; fix ``activation`` or ``loss`` to test your own.

    ``nonzero_alpha`` draws only activations with σ'(0) ≠ 0 (see :func:`activations`).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(identity_problems(activation="tanh", depth=(2, 2)), lambda p: True).network.depth
    2
    """

    @st.composite
    def build(draw):
        act = (
            activation
            if activation is not None
            else draw(activations(classes=classes, nonzero_alpha=nonzero_alpha))
        )
        name = loss if loss is not None else draw(losses())
        outputs = draw(st.integers(1, 3)) if name == "cross_entropy" else 1
        net = draw(networks(depth=depth, width=width, output_dim=outputs, bias=bias))
        data = draw(datasets(net.widths[0], outputs, loss=name))
        return IdentityProblem(net, data, act, name)

    # A deep stack of growing activations (softplus∘softplus, ~4x per layer) can overflow
    # float64 on O(1) weights; such a draw is not an identity problem but an overflow one.
    return build().filter(_finite_in_float64)


def _finite_in_float64(problem: IdentityProblem) -> bool:
    check = check_identity(
        problem.network, problem.data, problem.activation, problem.loss, throw=False
    )
    return check.status is not Status.NON_FINITE
