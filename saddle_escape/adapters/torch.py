r"""PyTorch in, the toolkit's answers out (optional extra ``torch``).

* **Activations** — :func:`activation_expression` maps a PyTorch activation module
  (``nn.GELU(approximate="tanh")``, ``nn.ELU(alpha=0.5)``, ``nn.PReLU()`` with its learned
  slope, ...) or a functional form (``torch.tanh``, ``F.gelu``,
  ``functools.partial(F.leaky_relu, negative_slope=0.2)``) to an exact SymPy expression,
  and checks it against the module's own forward on a float64 grid, so that a mapping error
  cannot hide. :func:`classify_module` classifies it (exactly); an unknown callable is
  classified numerically (:mod:`saddle_escape.adapters.numerical`).
* **Networks** — :func:`from_torch` turns a chain of ``nn.Linear`` layers and elementwise
  activations (an ``nn.Sequential``, or any module whose forward is that chain) into the
  toolkit's :class:`~saddle_escape.numeric.network.Network` and its activation(s);
  :func:`to_torch` goes back.
* **The identity on your model** — :func:`torch_identity` computes both sides of the
  imbalance identity (DESIGN §1) with torch autograd in float64 on your batch and loss,
  and the same two sides with the toolkit's own backpropagation.
* **In your training loop** — :class:`ImbalanceMonitor` records per step the layer norms,
  every :math:`\Delta_l`, the identity's right-hand side and, for plain SGD steps, the exact
  discrete decomposition
  :math:`\Delta\Delta_l = \eta\,\mathrm{RHS}_l + \eta^2(\lVert\nabla W_{l+1}\rVert^2 -
  \lVert\nabla W_l\rVert^2)`.
* **Your plateau** — :func:`predict_plateau` reads the bottleneck off the model's weights
  and predicts the end of the first plateau (gradient-flow time and optimizer steps).

torch is imported only inside the functions: importing this module costs nothing without
torch, and a function that needs it raises ``ImportError`` with
``pip install 'saddle-escape[torch]'``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from saddle_escape.adapters.numerical import NumericalClassification, classify_numerically
from saddle_escape.classes.registry import lookup
from saddle_escape.classes.universality import Classification, classify
from saddle_escape.numeric.functions import compile_activation, compile_expressions, get_loss
from saddle_escape.numeric.identity import IdentitySide, identity_sides
from saddle_escape.numeric.network import Dataset, Network
from saddle_escape.symbolic.outcomes import ExpressionError, Status
from saddle_escape.symbolic.parsing import X, check_tree
from saddle_escape.symbolic.taylor import kinks
from saddle_escape.symbolic.timeouts import DEFAULT_TIME_LIMIT

__all__ = [
    "TORCH_MISSING",
    "require_torch",
    "ActivationMapping",
    "activation_expression",
    "classify_module",
    "MAPPING_TOLERANCE",
    "TorchNetwork",
    "from_torch",
    "to_torch",
    "TorchIdentityTerm",
    "TorchIdentity",
    "torch_identity",
    "ImbalanceMonitor",
    "PlateauPrediction",
    "predict_plateau",
    "predict_plateau_from_file",
    "load_model",
    "BOTTLENECK_THRESHOLD",
    "O1_SCALE",
]

#: The message of every function here when torch is not installed.
TORCH_MISSING = (
    "this needs PyTorch, which is not installed: pip install 'saddle-escape[torch]' "
    "(the CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)
#: A mapped expression must match the module's float64 forward to this (absolute error
#: over max(1, |σ|)) on every grid point; measured errors are ≤ 4e-16 (see the tests).
MAPPING_TOLERANCE = 1e-13
#: A layer is a bottleneck layer when its RMS entry is below this share of the He scale
#: sqrt(2/fan_in) (He-normal layers sit near 1; small-init layers at ε).
BOTTLENECK_THRESHOLD = 0.1
#: Layers at or above this share of the He scale count as O(1) (PyTorch's default Linear
#: init is 1/sqrt(6) ≈ 0.41 of He); between the two thresholds r is flagged as uncertain.
O1_SCALE = 0.25
_GRID = np.linspace(-8.0, 8.0, 801)


def require_torch():
    """Import torch, or raise ImportError naming ``pip install 'saddle-escape[torch]'``.

    Examples
    --------
    >>> require_torch().__name__
    'torch'
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(TORCH_MISSING) from exc
    return torch


def _is_torch_module(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


# ============================================================================ activations

_SELU_ALPHA = sp.Rational("1.6732632423543772848170429916717")
_SELU_SCALE = sp.Rational("1.0507009873554804934193349852946")
_GELU_TANH_CUBIC = sp.Rational(44715, 10**6)

_VANISHING = (
    "σ ≡ 0 on [-λ, λ], so σ and φ_σ vanish identically near 0: that is not class A. A "
    "network at small scale ε feels σ only through the Gaussian tail of pre-activations "
    "beyond ±λ, of weight about exp(-λ²/(2ε²)), which is flat (non-analytic) in ε: no power "
    "law and no universality class"
)


def _exact(value, what: str) -> sp.Rational:
    """A module parameter as the exact decimal it prints as (``0.01`` is 1/100).

    The activation gate reads floats the same way.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return sp.Rational(repr(number))


def _module_expression(module) -> tuple[sp.Expr, dict[str, sp.Expr], list[str]] | None:
    """σ of a known activation module (exact type match), or ``None``."""
    torch = require_torch()
    nn = torch.nn
    kind = type(module)
    x = X
    if kind is nn.ReLU:
        return sp.Max(0, x), {}, []
    if kind is nn.LeakyReLU:
        a = _exact(module.negative_slope, "LeakyReLU.negative_slope")
        return sp.Max(0, x) + a * sp.Min(0, x), {"negative_slope": a}, []
    if kind is nn.RReLU:
        if module.training:
            raise ValueError(
                f"{module!r} is in training mode, where its negative slope is drawn at random "
                "on every call: no fixed σ; call .eval() (slope (lower + upper)/2)"
            )
        a = (_exact(module.lower, "RReLU.lower") + _exact(module.upper, "RReLU.upper")) / 2
        return (
            sp.Max(0, x) + a * sp.Min(0, x),
            {"negative_slope": a},
            ["RReLU in eval mode: a leaky ReLU with slope (lower + upper)/2"],
        )
    if kind is nn.PReLU:
        if module.num_parameters != 1:
            raise ValueError(
                f"{module!r} has num_parameters={module.num_parameters}: one learned slope per "
                "channel is not one activation σ; the toolkit supports PReLU(num_parameters=1)"
            )
        a = _exact(module.weight.detach().reshape(-1)[0].item(), "PReLU.weight")
        return (
            sp.Max(0, x) + a * sp.Min(0, x),
            {"weight": a},
            [f"PReLU with its current learned slope a = {a} (class A for every a)"],
        )
    if kind is nn.ELU:
        a = _exact(module.alpha, "ELU.alpha")
        return sp.Piecewise((x, x > 0), (a * (sp.exp(x) - 1), True)), {"alpha": a}, []
    if kind is nn.SELU:
        return (
            _SELU_SCALE * sp.Piecewise((x, x > 0), (_SELU_ALPHA * (sp.exp(x) - 1), True)),
            {},
            ["SELU's constants as PyTorch defines them (Klambauer et al. 2017)"],
        )
    if kind is nn.CELU:
        a = _exact(module.alpha, "CELU.alpha")
        if a == 0:
            raise ValueError(f"{module!r}: alpha = 0 divides by zero in exp(x/alpha)")
        return sp.Max(0, x) + sp.Min(0, a * (sp.exp(x / a) - 1)), {"alpha": a}, []
    if kind is nn.GELU:
        if module.approximate == "none":
            return x * (1 + sp.erf(x / sp.sqrt(2))) / 2, {"approximate": sp.Symbol("none")}, []
        if module.approximate == "tanh":
            inner = sp.sqrt(2 / sp.pi) * (x + _GELU_TANH_CUBIC * x**3)
            return x * (1 + sp.tanh(inner)) / 2, {"approximate": sp.Symbol("tanh")}, []
        raise ValueError(f"{module!r}: unknown approximate={module.approximate!r}")
    if kind is nn.SiLU:
        return x / (1 + sp.exp(-x)), {}, []
    if kind is nn.Mish:
        return x * sp.tanh(sp.log(1 + sp.exp(x))), {}, []
    if kind is nn.Softplus:
        beta = _exact(module.beta, "Softplus.beta")
        threshold = _exact(module.threshold, "Softplus.threshold")
        if beta == 0:
            raise ValueError(f"{module!r}: beta = 0 divides by zero")
        switch = threshold / beta
        jump = float(sp.log(1 + sp.exp(-threshold)) / beta) if threshold < 700 else 0.0
        return (
            sp.Piecewise((x, beta * x > threshold), (sp.log(1 + sp.exp(beta * x)) / beta, True)),
            {"beta": beta, "threshold": threshold},
            [
                f"PyTorch's Softplus switches to the identity for β·x > threshold (x > "
                f"{sp.sstr(switch)} here), a step of log(1 + e^-threshold)/β ≈ {jump:.1e}; "
                "the expression keeps the switch exactly, and the class, decided at 0, does "
                "not see it (a kink far from 0 that only O(1) layers reach)"
            ],
        )
    if kind is nn.Sigmoid:
        return 1 / (1 + sp.exp(-x)), {}, []
    if kind is nn.Tanh:
        return sp.tanh(x), {}, []
    if kind is nn.ReLU6:  # a subclass of Hardtanh: test it first
        return sp.Min(sp.Max(0, x), 6), {}, []
    if kind is nn.Hardtanh:
        low = _exact(module.min_val, "Hardtanh.min_val")
        high = _exact(module.max_val, "Hardtanh.max_val")
        return sp.Max(low, sp.Min(high, x)), {"min_val": low, "max_val": high}, []
    if kind is nn.Hardswish:
        return x * sp.Min(sp.Max(0, x + 3), 6) / 6, {}, []
    if kind is nn.Hardsigmoid:
        return sp.Min(sp.Max(0, x + 3), 6) / 6, {}, []
    if kind is nn.Softsign:
        return x / (1 + sp.Abs(x)), {}, []
    if kind is nn.Tanhshrink:
        return x - sp.tanh(x), {}, []
    if kind is nn.LogSigmoid:
        return -sp.log(1 + sp.exp(-x)), {}, []
    if kind is nn.Hardshrink:
        lam = _exact(module.lambd, "Hardshrink.lambd")
        if lam < 0:
            raise ValueError(f"{module!r}: lambd must be ≥ 0")
        if lam == 0:
            return x, {"lambd": lam}, ["Hardshrink with lambd = 0 is the identity"]
        return sp.Piecewise((x, sp.Abs(x) > lam), (0, True)), {"lambd": lam}, []
    if kind is nn.Softshrink:
        lam = _exact(module.lambd, "Softshrink.lambd")
        if lam < 0:
            raise ValueError(f"{module!r}: lambd must be ≥ 0")
        if lam == 0:
            return x, {"lambd": lam}, ["Softshrink with lambd = 0 is the identity"]
        return (
            sp.Piecewise((x - lam, x > lam), (x + lam, x < -lam), (0, True)),
            {"lambd": lam},
            [],
        )
    if kind is nn.Threshold:
        threshold = _exact(module.threshold, "Threshold.threshold")
        value = _exact(module.value, "Threshold.value")
        return (
            sp.Piecewise((x, x > threshold), (value, True)),
            {"threshold": threshold, "value": value},
            [],
        )
    if kind is nn.Identity:
        return x, {}, []
    return None


@functools.lru_cache(maxsize=1)
def _functional_tables():
    """Functional forms: callable → module class, and callable → expression."""
    torch = require_torch()
    F, nn = torch.nn.functional, torch.nn
    as_module = {
        F.relu: nn.ReLU,
        torch.relu: nn.ReLU,
        F.relu6: nn.ReLU6,
        F.leaky_relu: nn.LeakyReLU,
        F.elu: nn.ELU,
        F.selu: nn.SELU,
        torch.selu: nn.SELU,
        F.celu: nn.CELU,
        torch.celu: nn.CELU,
        F.gelu: nn.GELU,
        F.silu: nn.SiLU,
        F.mish: nn.Mish,
        F.softplus: nn.Softplus,
        torch.sigmoid: nn.Sigmoid,
        F.sigmoid: nn.Sigmoid,
        torch.special.expit: nn.Sigmoid,
        torch.tanh: nn.Tanh,
        F.tanh: nn.Tanh,
        F.hardtanh: nn.Hardtanh,
        F.hardswish: nn.Hardswish,
        F.hardsigmoid: nn.Hardsigmoid,
        F.softsign: nn.Softsign,
        F.tanhshrink: nn.Tanhshrink,
        F.logsigmoid: nn.LogSigmoid,
        F.hardshrink: nn.Hardshrink,
        F.softshrink: nn.Softshrink,
    }
    plain = {
        torch.erf: sp.erf(X),
        torch.special.erf: sp.erf(X),
        torch.sin: sp.sin(X),
        torch.atan: sp.atan(X),
        torch.arctan: sp.atan(X),
    }
    return as_module, plain


def _callable_name(fn) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if module.startswith("torch._C") or not module:
        return f"torch.{name}" if not name.startswith("torch") else name
    return f"{module}.{name}"


def _resolve(activation) -> tuple[str, sp.Expr, dict, list[str], Callable] | None:
    """(source, σ, parameters, notes, float64 forward) of a known activation, else None."""
    torch = sys.modules.get("torch")
    if torch is None:  # nothing but torch objects is known here
        return None
    if isinstance(activation, torch.nn.Module):
        found = _module_expression(activation)
        if found is None:
            return None
        forward = copy.deepcopy(activation).to(dtype=torch.float64)
        expr, params, notes = found
        return f"torch.nn.{activation!r}", expr, params, notes, forward
    as_module, plain = _functional_tables()
    target, keywords = activation, {}
    if isinstance(activation, functools.partial):
        if activation.args:
            return None
        target, keywords = activation.func, dict(activation.keywords)
    try:
        cls = as_module.get(target)
        expr = plain.get(target)
    except TypeError:  # unhashable callable
        return None
    if cls is not None:
        try:
            module = cls(**keywords)
        except TypeError as exc:
            raise ValueError(
                f"{activation!r}: its keywords {sorted(keywords)} do not fit {cls.__name__} ({exc})"
            ) from None
        expr, params, notes = _module_expression(module)  # type: ignore[misc]
        source = _callable_name(target)
        if keywords:
            source += "(" + ", ".join(f"{k}={v!r}" for k, v in sorted(keywords.items())) + ")"
        return source, expr, params, notes, activation
    if expr is not None and not keywords:
        return _callable_name(target), expr, {}, [], activation
    return None


@dataclass(frozen=True)
class ActivationMapping:
    """An activation module or function, its exact σ, and the check against its forward.

    Attributes
    ----------
    source : str
        The module or function as given (``torch.nn.ELU(alpha=0.5)``).
    expression : sympy.Expr
        σ in :data:`~saddle_escape.symbolic.parsing.X`, parameters as exact decimals.
    parameters : tuple of (str, sympy.Expr)
    notes : tuple of str
    max_abs_error, max_rel_error : float
        Largest ``|forward − σ|`` on the grid, absolute and over ``max(1, |σ|)``; σ is
        evaluated by mpmath at 30 digits, the forward in float64.
    points : int
        Grid points: [-8, 8] in steps of 0.02, each kink ± 1e-6 and ± 1e-3, and ±1e-8,
        ±1e-4 near 0.
    """

    source: str
    expression: sp.Expr
    parameters: tuple[tuple[str, sp.Expr], ...]
    notes: tuple[str, ...]
    max_abs_error: float
    max_rel_error: float
    points: int

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "expression": sp.sstr(self.expression),
            "parameters": {k: sp.sstr(v) for k, v in self.parameters},
            "notes": list(self.notes),
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "points": self.points,
        }


def _grid(expression: sp.Expr) -> np.ndarray:
    extra = [-1e-4, -1e-8, 1e-8, 1e-4, -16.0, 16.0]
    try:
        points = kinks(expression)
    except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - defensive
        points = ()
    for point in points:
        value = float(point)
        for offset in (1e-6, 1e-3):
            step = offset * max(1.0, abs(value))
            extra += [value - step, value + step]
    return np.unique(np.concatenate([_GRID, np.array(extra)]))


def _check_forward(source: str, expression: sp.Expr, forward: Callable) -> tuple[float, float, int]:
    """Largest gap between σ (mpmath, 30 digits) and the float64 forward on the grid."""
    torch = require_torch()
    grid = _grid(expression)
    reference = compile_expressions([X], expression, "mpmath")
    with mpmath.workdps(30):
        exact = np.array([float(reference(mpmath.mpf(float(v)))) for v in grid])
    with torch.no_grad():
        values = forward(torch.tensor(grid, dtype=torch.float64))
    values = np.asarray(values.detach().cpu().numpy(), dtype=float)
    gap = np.abs(values - exact)
    relative = gap / np.maximum(1.0, np.abs(exact))
    worst = int(np.argmax(relative))
    if not np.all(np.isfinite(values)) or relative[worst] > MAPPING_TOLERANCE:
        raise RuntimeError(
            f"internal error: the expression {sp.sstr(expression)} for {source} differs from "
            f"its forward at x = {grid[worst]!r}: {values[worst]!r} vs {exact[worst]!r}; please "
            "report this (the mapping is wrong)"
        )
    return float(gap.max()), float(relative.max()), int(grid.size)


def activation_expression(activation, *, check: bool = True) -> ActivationMapping:
    """The exact σ of a PyTorch activation module or functional form.

    Parameters
    ----------
    activation : torch.nn.Module or callable
        ``nn.ReLU``, ``LeakyReLU``, ``RReLU`` (eval mode), ``PReLU`` (one slope), ``ELU``,
        ``SELU``, ``CELU``, ``GELU`` (``approximate="none"`` or ``"tanh"``), ``SiLU``,
        ``Mish``, ``Softplus`` (with its ``threshold`` switch), ``Sigmoid``, ``Tanh``,
        ``Hardtanh``, ``ReLU6``, ``Hardswish``, ``Hardsigmoid``, ``Softsign``,
        ``Tanhshrink``, ``LogSigmoid``, ``Hardshrink``, ``Softshrink``, ``Threshold``,
        ``Identity``; the functional forms (``torch.tanh``, ``F.gelu``, ...), also as
        ``functools.partial`` with keyword arguments; ``torch.erf``, ``torch.sin``,
        ``torch.atan``.
    check : bool
        Compare σ with the forward on the grid (default). A mismatch raises
        ``RuntimeError`` (a bug in the mapping, never silently wrong).

    Returns
    -------
    ActivationMapping

    Raises
    ------
    ValueError
        For a module or function without an exact expression here, or with parameters
        that give no single σ (PReLU with several slopes, RReLU in training mode).
    ImportError
        Without torch.

    Examples
    --------
    >>> import torch
    >>> m = activation_expression(torch.nn.ELU(alpha=0.5))
    >>> m.expression, m.max_rel_error < 1e-15
    (Piecewise((x, x > 0), (exp(x)/2 - 1/2, True)), True)
    >>> activation_expression(torch.nn.GELU(approximate="tanh")).expression
    x*(tanh(sqrt(2)*(8943*x**3/200000 + x)/sqrt(pi)) + 1)/2
    """
    require_torch()
    found = _resolve(activation)
    if found is None:
        raise ValueError(
            f"no exact expression for {activation!r}: known are the activation modules of "
            "torch.nn (ReLU, LeakyReLU, RReLU, PReLU, ELU, SELU, CELU, GELU, SiLU, Mish, "
            "Softplus, Sigmoid, Tanh, Hardtanh, ReLU6, Hardswish, Hardsigmoid, Softsign, "
            "Tanhshrink, LogSigmoid, Hardshrink, Softshrink, Threshold, Identity) and their "
            "functional forms; classify_module() classifies other callables numerically"
        )
    source, expression, parameters, notes, forward = found
    check_tree(expression, label=source)
    errors = _check_forward(source, expression, forward) if check else (math.nan, math.nan, 0)
    return ActivationMapping(
        source=source,
        expression=expression,
        parameters=tuple(sorted(parameters.items())),
        notes=tuple(notes),
        max_abs_error=errors[0],
        max_rel_error=errors[1],
        points=errors[2],
    )


def _refuse_non_activation(activation) -> None:
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(activation, torch.nn.Module):
        return
    if any(True for _ in activation.parameters()) or any(True for _ in activation.children()):
        raise ValueError(
            f"{activation!r} is not an activation: it has parameters or submodules; classify "
            "takes an elementwise activation (a network goes to from_torch)"
        )


def classify_module(
    activation,
    *,
    order: int = 6,
    time_limit_seconds: float | None = DEFAULT_TIME_LIMIT,
) -> Classification | NumericalClassification:
    r"""Classify a PyTorch activation (module or function), or any Python callable.

    A known module or functional form is mapped to its exact σ
    (:func:`activation_expression`, checked against its forward) and classified by
    :func:`~saddle_escape.classes.universality.classify`: exact, with one-sided classes
    for piecewise σ. Its ``warnings`` start with where σ came from. Any other callable is
    classified numerically (:func:`~saddle_escape.adapters.numerical.classify_numerically`),
    with error bars, a confidence statement and a warning that the class is numerical.
    Strings and SymPy expressions go straight to ``classify``.

    Parameters
    ----------
    activation : torch.nn.Module, callable, str or sympy.Expr
    order : int
    time_limit_seconds : float or None
        Of the exact classification.

    Returns
    -------
    Classification or NumericalClassification

    Raises
    ------
    ExpressionError
        When σ is not an activation at 0 (``Hardshrink``/``Softshrink``: identically 0
        near 0, no class), or a callable cannot be evaluated.
    ValueError
        For modules that are not activations (``nn.Linear``) or give no single σ.

    Examples
    --------
    >>> import torch
    >>> mish = classify_module(torch.nn.Mish())
    >>> mish.class_.value, mish.q, mish.leading_coefficient
    ('C', 2, 8/25)
    >>> elu = classify_module(torch.nn.ELU(alpha=0.5))
    >>> [(s.side, s.class_.value, s.leading_coefficient) for s in elu.sides]
    [('left', 'C', 1/4), ('right', 'A', None)]
    >>> soft = classify_module(torch.nn.Softplus(beta=2))
    >>> soft.class_.value, soft.leading_coefficient
    ('D', -log(2)/2)
    """
    if isinstance(activation, (str, sp.Basic)):
        return classify(activation, order=order, time_limit_seconds=time_limit_seconds)
    if isinstance(activation, sp.FunctionClass):  # sympy.tanh, sympy.erf, ...
        return classify(activation(X), order=order, time_limit_seconds=time_limit_seconds)
    if not callable(activation):
        raise ExpressionError(
            "activation must be a torch activation module, a callable, a registry name, an "
            f"expression string or a SymPy expression, got {type(activation).__name__} "
            f"{activation!r}"
        )
    found = _resolve(activation) if sys.modules.get("torch") is not None else None
    if found is None:
        _refuse_non_activation(activation)
        source = repr(activation)
        if _is_torch_module(activation):
            source = f"torch.nn.{activation!r} (no exact expression known)"
        return classify_numerically(activation, order=order, source=source)
    mapping = activation_expression(activation)
    try:
        result = classify(mapping.expression, order=order, time_limit_seconds=time_limit_seconds)
    except ExpressionError as exc:
        if "constant near 0" in str(exc) and "shrink" in mapping.source.lower():
            raise ExpressionError(f"{mapping.source}: {_VANISHING}") from None
        raise ExpressionError(f"{mapping.source}: {exc}") from None
    provenance = (
        f"σ from {mapping.source}: exact expression, equal to its float64 forward to "
        f"{mapping.max_rel_error:.1e} on {mapping.points} points in [-16, 16]"
    )
    return dataclasses.replace(result, warnings=(provenance, *mapping.notes, *result.warnings))


# ============================================================================ networks


@dataclass(frozen=True)
class _Chain:
    """A model read as Linear, activations, Linear, ..., Linear."""

    linears: tuple  # nn.Linear modules, in order
    linear_names: tuple[str, ...]
    stages: tuple[tuple, ...]  # per hidden layer: the activation modules applied, in order
    stage_names: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]

    @property
    def depth(self) -> int:
        return len(self.linears)

    def forward(self, x, stages=None):
        torch = require_torch()
        stages = self.stages if stages is None else stages
        for l, linear in enumerate(self.linears):
            x = torch.nn.functional.linear(x, linear.weight, linear.bias)
            if l < len(self.linears) - 1:
                for module in stages[l]:
                    x = module(x)
        return x


def _leaves(module, prefix: str = ""):
    # Every registered child, repeats included (named_children() drops a module seen
    # before, which would hide a layer used twice).
    children = [(n, c) for n, c in module._modules.items() if c is not None]
    if not children:
        yield prefix or type(module).__name__, module
        return
    for name, child in children:
        yield from _leaves(child, f"{prefix}.{name}" if prefix else name)


def _noop_reason(module) -> str | None:
    """Why a layer changes nothing on (P, d) inputs (None when it may change something)."""
    torch = require_torch()
    nn = torch.nn
    if type(module) is nn.Flatten and module.start_dim == 1 and module.end_dim == -1:
        return "Flatten is a no-op on (batch, features) inputs"
    if isinstance(module, (nn.Dropout, nn.AlphaDropout, nn.FeatureAlphaDropout)):
        if module.training and module.p > 0:
            raise ValueError(
                f"layer {module!r} is in training mode: it zeroes units at random, so the "
                "network is not one function; call model.eval() (or set p=0) first"
            )
        return f"{type(module).__name__} is the identity in eval mode (or with p = 0)"
    return None


def _is_elementwise(module) -> bool:
    """Whether a parameter-free module maps each entry on its own (probe on float64 values)."""
    torch = require_torch()
    probe = torch.linspace(-3, 3, 13, dtype=torch.float64)
    try:
        with torch.no_grad():
            whole = module(probe)
            parts = torch.cat([module(probe[:5]), module(probe[5:])])
            table = module(probe.reshape(13, 1)).reshape(-1)
    except Exception:  # it does not take a vector of numbers
        return False
    return (
        whole.shape == probe.shape
        and bool(torch.allclose(whole, parts, rtol=1e-12, atol=1e-300))
        and bool(torch.allclose(whole, table, rtol=1e-12, atol=1e-300))
    )


def _unsupported(name: str, module, reason: str) -> ValueError:
    return ValueError(
        f"layer {name} ({module!r}) is not supported: {reason}. saddle-escape reads models "
        "that are a chain Linear → elementwise activation → … → Linear (an nn.Sequential, or "
        "a module whose forward is that chain)"
    )


def _chain(model, *, exact: bool) -> _Chain:
    """Read ``model`` as a chain; verify that its forward is the chain's (on a probe)."""
    torch = require_torch()
    nn = torch.nn
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    linears: list = []
    linear_names: list[str] = []
    stages: list[list] = []
    stage_names: list[list[str]] = []
    notes: list[str] = []
    pending: list = []
    pending_names: list[str] = []
    seen: set[int] = set()
    for name, module in _leaves(model):
        if id(module) in seen and isinstance(module, nn.Linear):
            raise _unsupported(name, module, "the same Linear layer appears twice (shared weights)")
        seen.add(id(module))
        if type(module) is nn.Linear:
            if linears:
                stages.append(pending)
                stage_names.append(pending_names)
                pending, pending_names = [], []
            elif pending:
                raise _unsupported(
                    pending_names[0], pending[0], "the chain must start with a Linear layer"
                )
            linears.append(module)
            linear_names.append(name)
            continue
        reason = _noop_reason(module)
        if reason is not None:
            notes.append(f"{name}: {reason}; skipped")
            continue
        if isinstance(module, nn.Linear):  # a subclass with its own forward
            raise _unsupported(name, module, "a subclass of Linear may compute something else")
        if _module_expression(module) is not None:
            pending.append(module)
            pending_names.append(name)
            continue
        if any(True for _ in module.parameters()):
            raise _unsupported(name, module, "it is neither Linear nor an elementwise activation")
        if exact:
            raise _unsupported(
                name,
                module,
                "no exact expression is known for it (the toolkit compiles σ from SymPy); "
                "use one of torch.nn's activation modules",
            )
        if not _is_elementwise(module):
            raise _unsupported(name, module, "it is neither Linear nor an elementwise activation")
        pending.append(module)
        pending_names.append(name)
        notes.append(f"{name}: no exact expression; used through its forward (autograd)")
    if not linears:
        raise ValueError(f"model {type(model).__name__} has no nn.Linear layer")
    if pending:
        raise _unsupported(
            pending_names[0],
            pending[0],
            "an activation after the last Linear layer is not part of the model "
            "f = W_L σ(…) (DESIGN §1); move it into the loss (e.g. BCEWithLogitsLoss)",
        )
    chain = _Chain(
        tuple(linears),
        tuple(linear_names),
        tuple(tuple(s) for s in stages),
        tuple(tuple(s) for s in stage_names),
        tuple(notes),
    )
    _verify_chain(model, chain)
    return chain


def _verify_chain(model, chain: _Chain) -> None:
    """The model's own forward must equal the chain's on a seeded probe (float64 copies)."""
    torch = require_torch()
    twin = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    modules = dict(twin.named_modules())
    twin_chain = _Chain(
        tuple(modules[n] for n in chain.linear_names),
        chain.linear_names,
        tuple(tuple(modules[n] for n in names) for names in chain.stage_names),
        chain.stage_names,
        chain.notes,
    )
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(3, chain.linears[0].in_features, generator=generator, dtype=torch.float64)
    try:
        with torch.no_grad():
            expected = twin(probe)
            got = twin_chain.forward(probe)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"model {type(model).__name__}: its layers do not form a chain that runs on "
            f"inputs of width {chain.linears[0].in_features} ({exc})"
        ) from None
    if (
        not isinstance(expected, torch.Tensor)
        or expected.shape != got.shape
        or not torch.allclose(expected, got, rtol=1e-10, atol=1e-12)
    ):
        raise ValueError(
            f"model {type(model).__name__}: its forward is not the chain of its layers in "
            "order (a residual connection, a reused layer or another non-chain forward?); "
            "saddle-escape reads Linear → activation → … → Linear chains"
        )


def _stage_expression(stage) -> sp.Expr:
    expression: sp.Expr = X
    for module in stage:
        found = _module_expression(module)
        if found is None:  # pragma: no cover - _chain(exact=True) refuses these
            raise ValueError(f"no exact expression for {module!r}")
        expression = found[0].xreplace({X: expression})
    return expression


def _stage_label(stage) -> str:
    return " ∘ ".join(repr(m) for m in reversed(stage)) if stage else "Identity()"


@dataclass(frozen=True)
class TorchNetwork:
    """A PyTorch chain read as the toolkit's network.

    Attributes
    ----------
    network : Network
        ``W_l`` as float64 arrays of shape (out, in); biases when a Linear has them.
    activations : tuple of sympy.Expr
        σ of every hidden layer (several modules in a row compose; none is the identity).
    activation_labels : tuple of str
        The modules they came from.
    layer_names : tuple of str
        The names of the Linear layers in the model.
    bias : tuple of bool
        Whether each Linear layer has a bias (a missing one is a zero vector in
        ``network.biases`` when others have one).
    notes : tuple of str
    """

    network: Network
    activations: tuple[sp.Expr, ...]
    activation_labels: tuple[str, ...]
    layer_names: tuple[str, ...]
    bias: tuple[bool, ...]
    notes: tuple[str, ...]

    @property
    def mixed(self) -> bool:
        """Whether the hidden layers use different activations."""
        return len(set(self.activations)) > 1

    @property
    def activation(self) -> sp.Expr:
        """The one σ of every hidden layer.

        Raises
        ------
        ValueError
            When the hidden layers use different activations (see ``activations``).
        """
        if not self.activations:
            return X
        if self.mixed:
            raise ValueError(
                "the hidden layers use different activations "
                f"({', '.join(self.activation_labels)}); the toolkit's simulator and "
                "check_identity take one σ: use .activations (torch_identity handles them)"
            )
        return self.activations[0]

    def to_dict(self) -> dict:
        return {
            "widths": list(self.network.widths),
            "activations": [sp.sstr(a) for a in self.activations],
            "activation_labels": list(self.activation_labels),
            "layer_names": list(self.layer_names),
            "bias": list(self.bias),
            "notes": list(self.notes),
        }


def from_torch(model) -> TorchNetwork:
    r"""Read a PyTorch MLP as the toolkit's :class:`~saddle_escape.numeric.network.Network`.

    The model must be a chain ``Linear → activation(s) → Linear → … → Linear``: an
    ``nn.Sequential`` (nested ones are flattened) or any module whose forward applies its
    layers in that order (checked on a probe input). ``Identity``, ``Flatten`` and
    ``Dropout`` in eval mode are skipped. Every activation must have an exact expression
    (:func:`activation_expression`); hidden layers may use different ones.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    TorchNetwork

    Raises
    ------
    ValueError
        Naming the first unsupported layer (``Conv2d``, ``BatchNorm1d``, ``Dropout`` in
        training mode, an output activation, ...) or a forward that is not the chain.
    ImportError
        Without torch.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Linear(3, 4, bias=False), torch.nn.Tanh(), torch.nn.Linear(4, 1, bias=False))
    >>> net = from_torch(model)
    >>> net.network.widths, net.activation
    ((3, 4, 1), tanh(x))
    >>> from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)))
    Traceback (most recent call last):
    ...
    ValueError: layer 1 (BatchNorm1d(4, ...)) is not supported: it is neither Linear nor ...
    """
    chain = _chain(model, exact=True)
    weights = tuple(lin.weight.detach().cpu().double().numpy().copy() for lin in chain.linears)
    has_bias = tuple(lin.bias is not None for lin in chain.linears)
    notes = list(chain.notes)
    biases = None
    if any(has_bias):
        biases = tuple(
            lin.bias.detach().cpu().double().numpy().copy()
            if lin.bias is not None
            else np.zeros(lin.out_features)
            for lin in chain.linears
        )
        if not all(has_bias):
            missing = [n for n, b in zip(chain.linear_names, has_bias, strict=True) if not b]
            notes.append(
                f"layers {missing} have no bias: they are zero biases in network.biases (the "
                "toolkit's flow would train them; the identity at one instant is unaffected)"
            )
    return TorchNetwork(
        network=Network(weights, biases),
        activations=tuple(_stage_expression(s) for s in chain.stages),
        activation_labels=tuple(_stage_label(s) for s in chain.stages),
        layer_names=chain.linear_names,
        bias=has_bias,
        notes=tuple(notes),
    )


_MODULE_FOR = {
    "identity": ("Identity", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {}),
    "relu6": ("ReLU6", {}),
    "prelu": ("PReLU", {}),
    "hardtanh": ("Hardtanh", {}),
    "tanh": ("Tanh", {}),
    "softsign": ("Softsign", {}),
    "gelu": ("GELU", {}),
    "gelu_tanh": ("GELU", {"approximate": "tanh"}),
    "silu": ("SiLU", {}),
    "mish": ("Mish", {}),
    "elu": ("ELU", {}),
    "selu": ("SELU", {}),
    "celu": ("CELU", {}),
    "softplus": ("Softplus", {}),
    "sigmoid": ("Sigmoid", {}),
    "logsigmoid": ("LogSigmoid", {}),
    "hardswish": ("Hardswish", {}),
    "hardsigmoid": ("Hardsigmoid", {}),
    "tanhshrink": ("Tanhshrink", {}),
}


def _module_for(activation):
    torch = require_torch()
    if isinstance(activation, torch.nn.Module):
        return copy.deepcopy(activation)
    if isinstance(activation, str):
        entry = lookup(activation)
        if entry is not None and entry.name in _MODULE_FOR:
            name, keywords = _MODULE_FOR[entry.name]
            return getattr(torch.nn, name)(**keywords)
    raise ValueError(
        f"activation {activation!r} has no PyTorch module here: give an nn.Module, or one of "
        f"{', '.join(sorted(_MODULE_FOR))}"
    )


def to_torch(network: Network, activation, *, dtype=None):
    """A ``torch.nn.Sequential`` with the weights (and biases) of a toolkit network.

    Parameters
    ----------
    network : Network
    activation : torch.nn.Module, str, or a sequence of them (one per hidden layer)
        A module (copied for every hidden layer) or a registry name with a PyTorch module
        (``"tanh"``, ``"gelu"``, ``"gelu_tanh"``, ``"silu"``, ``"softplus"``, ...).
    dtype : torch.dtype, optional
        Default ``torch.float64``.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> from saddle_escape.numeric.network import random_network
    >>> net = random_network((3, 4, 1), seed=0)
    >>> model = to_torch(net, "tanh")
    >>> model
    Sequential(
      (0): Linear(in_features=3, out_features=4, bias=False)
      (1): Tanh()
      (2): Linear(in_features=4, out_features=1, bias=False)
    )
    >>> bool((from_torch(model).network.weights[0] == net.weights[0]).all())
    True
    """
    torch = require_torch()
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    dtype = torch.float64 if dtype is None else dtype
    hidden = network.depth - 1
    if isinstance(activation, (list, tuple)):
        if len(activation) != hidden:
            raise ValueError(
                f"give one activation per hidden layer ({hidden}), got {len(activation)}"
            )
        modules = [_module_for(a) for a in activation]
    else:
        modules = [_module_for(activation) for _ in range(hidden)]
    layers: list = []
    for l, w in enumerate(network.weights):
        weight = np.asarray(w, dtype=float)
        linear = torch.nn.Linear(
            weight.shape[1], weight.shape[0], bias=network.biases is not None, dtype=dtype
        )
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight, dtype=dtype))
            if network.biases is not None:
                linear.bias.copy_(torch.as_tensor(np.asarray(network.biases[l], dtype=float)))
        layers.append(linear)
        if l < hidden:
            layers.append(modules[l].to(dtype=dtype))
    return torch.nn.Sequential(*layers)


# ============================================================================ the identity


def _as_tensor(values, name: str):
    torch = require_torch()
    if isinstance(values, torch.Tensor):
        tensor = values.detach().cpu()
    else:
        try:
            tensor = torch.as_tensor(np.array(values))  # a copy: read-only arrays are fine
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{name} must be finite, got NaN or ±inf")
    elif tensor.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    return tensor


def _prepare_data(chain: _Chain, inputs, targets):
    torch = require_torch()
    x = _as_tensor(inputs, "inputs")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if x.ndim != 2 or x.shape[1] != chain.linears[0].in_features or x.shape[0] == 0:
        raise ValueError(
            f"inputs must have shape (P, {chain.linears[0].in_features}), got {tuple(x.shape)}"
        )
    y = _as_tensor(targets, "targets")
    m = chain.linears[-1].out_features
    if y.is_floating_point() and y.ndim == 1 and m == 1:
        y = y[:, None]  # (P,) against (P, 1) would broadcast to (P, P) in MSELoss
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} targets")
    return x, y


def _torch_loss(loss):
    """(callable on (f, y), label) for an nn loss, a callable or the toolkit's ``"squared"``."""
    torch = require_torch()
    if loss is None:
        return torch.nn.MSELoss(), "MSELoss()"
    if isinstance(loss, str):
        if loss.strip().lower() == "squared":
            return (lambda f, y: 0.5 * ((f - y) ** 2).sum(dim=1).mean()), "squared"
        raise ValueError(
            f"loss {loss!r}: give a torch loss (nn.MSELoss(), ...), a callable (f, y) -> "
            "scalar, or 'squared' (the toolkit's ½‖f − y‖², mean over samples)"
        )
    if not callable(loss):
        raise ValueError(f"loss must be callable, got {type(loss).__name__}")
    return loss, repr(loss)


def _toolkit_loss(loss, y, P: int, m: int):
    """(toolkit Loss, targets for it, note) matching a torch loss, or (None, None, note)."""
    torch = require_torch()
    nn = torch.nn
    if isinstance(loss, str) and loss.strip().lower() == "squared":
        return get_loss("squared"), y.numpy(), None
    reduction = getattr(loss, "reduction", None)
    factor = {"mean": None, "sum": P}.get(reduction or "")
    if reduction not in ("mean", "sum"):
        return None, None, f"no toolkit loss for {loss!r}: the toolkit side is not computed"
    # The toolkit's loss is the mean over samples of a sum over outputs: 'mean' divides
    # by the m outputs too, 'sum' multiplies back by the P samples.
    scale = f"/{m}" if factor is None else f"*{factor}"
    if type(loss) is nn.MSELoss:
        return get_loss(f"(f - y)**2{scale}"), y.numpy(), None
    if type(loss) is nn.BCEWithLogitsLoss and loss.weight is None and loss.pos_weight is None:
        return get_loss(f"(log(1 + exp(f)) - y*f){scale}"), y.numpy(), None
    if type(loss) is nn.SoftMarginLoss:
        return get_loss(f"log(1 + exp(-y*f)){scale}"), y.numpy(), None
    if (
        type(loss) is nn.CrossEntropyLoss
        and loss.weight is None
        and loss.label_smoothing == 0
        and m > 1
    ):
        target = y.numpy()
        if not y.is_floating_point():
            target = np.eye(m)[target.astype(int)]
        if factor is not None:
            target = target * factor
        return get_loss("cross_entropy"), target, None
    return None, None, f"no toolkit loss for {loss!r}: the toolkit side is not computed"


def _phi_of_stage(stage, z):
    """φ(z) = z σ'(z) − σ(z) for an elementwise stage, σ' by autograd (float64)."""
    torch = require_torch()
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        s = zz
        for module in stage:
            s = module(s)
        if s is zz:  # identity: φ ≡ 0
            return torch.zeros_like(z)
        (ds,) = torch.autograd.grad(s.sum(), zz)
    return zz.detach() * ds - s.detach()


@dataclass(frozen=True)
class TorchIdentityTerm:
    """One layer pair (``unit`` None) or hidden unit: both sides, by torch and by the toolkit.

    ``identity_gap`` is ``|lhs − rhs|`` (torch) and ``toolkit_gap`` the larger of
    ``|lhs − toolkit_lhs|`` and ``|rhs − toolkit_rhs|``, both over ``scale`` (the sum of the
    magnitudes of the two gradient terms of lhs, as in
    :class:`~saddle_escape.numeric.identity.IdentityTerm`).
    """

    layer: int
    unit: int | None
    lhs: float
    rhs: float
    toolkit_lhs: float | None
    toolkit_rhs: float | None
    scale: float

    @property
    def identity_gap(self) -> float:
        return _relative(abs(self.lhs - self.rhs), self.scale)

    @property
    def toolkit_gap(self) -> float | None:
        if self.toolkit_lhs is None or self.toolkit_rhs is None:
            return None
        gap = max(abs(self.lhs - self.toolkit_lhs), abs(self.rhs - self.toolkit_rhs))
        return _relative(gap, self.scale)

    def to_dict(self) -> dict:
        out = {
            "layer": self.layer,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "toolkit_lhs": self.toolkit_lhs,
            "toolkit_rhs": self.toolkit_rhs,
            "scale": self.scale,
            "identity_gap": _finite_or_none(self.identity_gap),
            "toolkit_gap": _finite_or_none(self.toolkit_gap),
        }
        if self.unit is not None:
            out["unit"] = self.unit
        return out


def _relative(gap: float, scale: float) -> float:
    if gap == 0:
        return 0.0
    return gap / scale if scale > 0 else math.inf


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class TorchIdentity:
    """Result of :func:`torch_identity`.

    Attributes
    ----------
    terms : tuple of TorchIdentityTerm
    loss : str
    widths : tuple of int
    bias : tuple of bool
    neuronwise : bool
    samples : int
    toolkit : str
        How the toolkit side was computed (``identity_sides`` for one σ; a layer-by-layer
        backpropagation with each layer's compiled σ for mixed activations) or why not.
    notes : tuple of str
    seconds : float
    """

    terms: tuple[TorchIdentityTerm, ...]
    loss: str
    widths: tuple[int, ...]
    bias: tuple[bool, ...]
    neuronwise: bool
    samples: int
    toolkit: str
    notes: tuple[str, ...]
    seconds: float

    @property
    def max_identity_gap(self) -> float:
        """Largest relative gap between the identity's two sides (torch autograd)."""
        return max((t.identity_gap for t in self.terms), default=math.nan)

    @property
    def max_toolkit_gap(self) -> float | None:
        """Largest relative gap between torch and the toolkit (``None`` if not computed)."""
        gaps = [t.toolkit_gap for t in self.terms]
        if not gaps or any(g is None for g in gaps):
            return None
        return max(g for g in gaps if g is not None)

    def to_dict(self) -> dict:
        return {
            "status": Status.SUCCESS.value,
            "loss": self.loss,
            "widths": list(self.widths),
            "bias": list(self.bias),
            "form": "neuron-wise" if self.neuronwise else "layer-wise",
            "precision": "float64",
            "samples": self.samples,
            "toolkit": self.toolkit,
            "layers": [t.to_dict() for t in self.terms],
            "max_identity_gap": _finite_or_none(self.max_identity_gap),
            "max_toolkit_gap": _finite_or_none(self.max_toolkit_gap),
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


def _toolkit_sides(network: Network, data: Dataset, activations, loss_fn, neuronwise: bool):
    """The toolkit's two sides: ``identity_sides`` for one σ, else layer by layer.

    ``numeric.network.backprop`` takes one σ for every hidden layer; for mixed activations
    this is the same explicit backpropagation (δ_l = σ_l'(z_l) ⊙ δ_{l+1} W_{l+1}) with each
    layer's compiled σ_l, σ_l' and φ_l.
    """
    compiled = [compile_activation(a) for a in activations]
    if len({a.expression for a in compiled}) <= 1:
        return identity_sides(network, data, compiled[0], loss_fn, neuronwise=neuronwise), (
            "numeric.identity.identity_sides (the toolkit's backprop, one σ)"
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
            a = compiled[l].sigma(z)
    delta = loss_fn.gradient(pre[-1], data.targets)
    deltas = [delta]
    for l in range(network.depth - 1, 0, -1):
        delta = compiled[l - 1].dsigma(pre[l - 1]) * (delta @ network.weights[l])
        deltas.append(delta)
    deltas.reverse()
    weights = np.asarray(data.weights)[:, None]
    grads = [(d * weights).T @ p for d, p in zip(deltas, post, strict=True)]
    rows = []
    for l in range(network.depth - 1):
        up = -2 * (network.weights[l + 1] * grads[l + 1]).sum(axis=0)
        low = 2 * (network.weights[l] * grads[l]).sum(axis=1)
        if network.biases is not None:
            low = low + 2 * network.biases[l] * (deltas[l] * weights).sum(axis=0)
        back = deltas[l + 1] @ network.weights[l + 1]
        rhs = 2 * ((back * compiled[l].phi(pre[l])) * weights).sum(axis=0)
        if neuronwise:
            for j in range(len(rhs)):
                rows.append(
                    IdentitySide(l + 1, j + 1, up[j] + low[j], rhs[j], abs(up[j]) + abs(low[j]))
                )
        else:
            rows.append(
                IdentitySide(
                    l + 1, None, up.sum() + low.sum(), rhs.sum(), abs(up.sum()) + abs(low.sum())
                )
            )
    return rows, "layer-by-layer backprop with each layer's compiled σ (mixed activations)"


def torch_identity(
    model,
    inputs,
    targets,
    loss=None,
    *,
    neuronwise: bool = False,
    toolkit: bool = True,
) -> TorchIdentity:
    r"""Both sides of the imbalance identity on a PyTorch model, by autograd in float64.

    For every layer pair, with :math:`\Delta_l = \lVert W_{l+1}\rVert^2 - \lVert W_l\rVert^2
    (- \lVert b_l\rVert^2)` and the flow :math:`\dot W = -\nabla_W\mathcal L`:

    .. math:: \frac{d\Delta_l}{dt} = -2\langle W_{l+1}, \nabla_{W_{l+1}}\mathcal L\rangle
              + 2\langle W_l, \nabla_{W_l}\mathcal L\rangle (+ 2\langle b_l,
              \nabla_{b_l}\mathcal L\rangle)
              = 2\sum_p \langle W_{l+1}^\top \partial_{z_{l+1,p}}\mathcal L,
              \varphi_{\sigma_l}(z_{l,p})\rangle ,

    the left side from the weight gradients, the right side from the gradients at the
    pre-activations and :math:`\varphi_\sigma(z) = z\sigma'(z) - \sigma(z)` (σ' by
    autograd on the layer's own activation modules). :math:`\partial_z\mathcal L` carries
    the loss's reduction, so any loss works (DESIGN §1: E over the data). The toolkit
    computes the same two sides on :func:`from_torch`'s network with its own
    backpropagation and compiled σ (when the loss has a toolkit counterpart).

    Parameters
    ----------
    model : torch.nn.Module
        A Linear/activation chain (see :func:`from_torch`); evaluated on a float64 copy.
    inputs : array or tensor ``(P, d)``
    targets : array or tensor
        ``(P, m)`` (a vector for m = 1), or class indices ``(P,)`` for CrossEntropyLoss.
    loss : torch loss or callable, optional
        ``loss(output, targets) -> scalar``; default ``nn.MSELoss()``. The toolkit side
        is computed for ``MSELoss``, ``BCEWithLogitsLoss``, ``SoftMarginLoss``,
        ``CrossEntropyLoss`` (mean or sum) and ``"squared"`` (½‖f − y‖², mean).
    neuronwise : bool
        One term per hidden unit (outgoing column of W_{l+1} minus incoming row of W_l).
    toolkit : bool
        Compute the toolkit's side too (needs exact expressions for the activations).

    Returns
    -------
    TorchIdentity

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.GELU(),
    ...     torch.nn.Linear(4, 1))
    >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> result = torch_identity(model, x, y)
    >>> result.max_identity_gap < 1e-13, result.max_toolkit_gap < 1e-12
    (True, True)
    """
    started = time.perf_counter()
    torch = require_torch()
    chain = _chain(model, exact=False)
    x, y = _prepare_data(chain, inputs, targets)
    loss_fn, loss_label = _torch_loss(loss)
    twin = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    modules = dict(twin.named_modules())
    linears = [modules[n] for n in chain.linear_names]
    stages = [tuple(modules[n] for n in names) for names in chain.stage_names]
    if y.is_floating_point():
        y = y.to(torch.float64)
    zs = []
    a = x
    with torch.enable_grad():
        for l, linear in enumerate(linears):
            z = torch.nn.functional.linear(a, linear.weight, linear.bias)
            zs.append(z)
            if l < len(linears) - 1:
                a = z
                for module in stages[l]:
                    a = module(a)
        value = loss_fn(zs[-1], y)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise ValueError(
                f"loss {loss_label} must return a scalar tensor (reduction 'mean' or 'sum')"
            )
        weights = [lin.weight for lin in linears]
        biases = [lin.bias for lin in linears if lin.bias is not None]
        grads = torch.autograd.grad(value, [*weights, *biases, *zs[1:]])
    grad_w = grads[: len(weights)]
    grad_b_list = list(grads[len(weights) : len(weights) + len(biases)])
    grad_b = [grad_b_list.pop(0) if lin.bias is not None else None for lin in linears]
    grad_z = (None, *grads[len(weights) + len(biases) :])
    terms: list[tuple[int, int | None, float, float, float]] = []
    with torch.no_grad():
        for l in range(len(linears) - 1):
            W_up, W_low = weights[l + 1].detach(), weights[l].detach()
            up = -2 * (W_up * grad_w[l + 1]).sum(dim=0)
            low = 2 * (W_low * grad_w[l]).sum(dim=1)
            if linears[l].bias is not None:
                low = low + 2 * linears[l].bias.detach() * grad_b[l]
            back = grad_z[l + 1] @ W_up
            phi = _phi_of_stage(stages[l], zs[l].detach())
            rhs = 2 * (back * phi).sum(dim=0)
            if neuronwise:
                for j in range(rhs.shape[0]):
                    terms.append(
                        (
                            l + 1,
                            j + 1,
                            float(up[j] + low[j]),
                            float(rhs[j]),
                            float(abs(up[j]) + abs(low[j])),
                        )
                    )
            else:
                terms.append(
                    (
                        l + 1,
                        None,
                        float(up.sum() + low.sum()),
                        float(rhs.sum()),
                        float(abs(up.sum()) + abs(low.sum())),
                    )
                )
    toolkit_rows: list | None = None
    how = "not computed (toolkit=False)"
    notes = list(chain.notes)
    if toolkit and len(linears) > 1:
        toolkit_loss, toolkit_targets, note = _toolkit_loss(
            loss if loss is not None else torch.nn.MSELoss(),
            y,
            x.shape[0],
            chain.linears[-1].out_features,
        )
        if toolkit_loss is None:
            how = note or "not computed"
        else:
            try:
                converted = from_torch(model)
            except ValueError as exc:
                how = f"not computed: {exc}"
            else:
                data = Dataset(x.numpy(), toolkit_targets)
                with np.errstate(over="ignore", invalid="ignore"):
                    toolkit_rows, how = _toolkit_sides(
                        converted.network, data, converted.activations, toolkit_loss, neuronwise
                    )
    out = []
    for i, (layer, unit, lhs, rhs, scale) in enumerate(terms):
        t_lhs = t_rhs = None
        if toolkit_rows is not None:
            row = toolkit_rows[i]
            t_lhs, t_rhs = float(row.lhs), float(row.rhs)
        out.append(TorchIdentityTerm(layer, unit, lhs, rhs, t_lhs, t_rhs, scale))
    return TorchIdentity(
        terms=tuple(out),
        loss=loss_label,
        widths=(chain.linears[0].in_features, *(lin.out_features for lin in chain.linears)),
        bias=tuple(lin.bias is not None for lin in chain.linears),
        neuronwise=neuronwise,
        samples=int(x.shape[0]),
        toolkit=how,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


# ============================================================================ the monitor

_SGD_NOTE = (
    "the discrete decomposition ΔΔ_l = η·RHS_l + η²(‖∇W_{l+1}‖² − ‖∇W_l‖²) holds for plain "
    "SGD/GD steps only (torch.optim.SGD with momentum = 0, weight_decay = 0, maximize = "
    "False, one learning rate for every monitored layer)"
)


class ImbalanceMonitor:
    r"""Record the imbalance identity in a PyTorch training loop.

    Hooks on the model's Linear layers keep each step's pre-activations
    :math:`z_l`, layer inputs :math:`a_l = \sigma_l(z_l)` and their gradients (references
    only: no copy, no extra backward pass). Per step it records

    * the layer norms :math:`\lVert W_l\rVert^2` (and :math:`\lVert b_l\rVert^2`);
    * every :math:`\Delta_l = \lVert W_{l+1}\rVert^2 - \lVert W_l\rVert^2 (- \lVert
      b_l\rVert^2)`;
    * the identity's right-hand side
      :math:`\mathrm{RHS}_l = 2\sum_p\langle\partial_{a_l}\mathcal L,\varphi(z_l)\rangle`:
      with ``rhs="chain"`` (default) as :math:`2\sum\langle\partial_{z_l}\mathcal L,
      z_l\rangle - 2\sum\langle\partial_{a_l}\mathcal L, a_l\rangle`, the same number by
      the chain rule :math:`\partial_z\mathcal L = \sigma'(z)\odot\partial_a\mathcal L`
      (autograd's own σ', no re-evaluation); with ``rhs="phi"`` by differentiating the
      layer's activation again and forming φ = zσ'(z) − σ(z) (the paper's formula
      literally; costs one more activation pass per layer);
    * with ``lhs=True``, the left side :math:`d\Delta_l/dt` from the weight gradients
      (an identity check at every step);
    * for a plain SGD step of size η, the measured change :math:`\Delta\Delta_l` and its
      exact decomposition. With :math:`\lVert W - \eta G\rVert^2 = \lVert W\rVert^2 -
      2\eta\langle W, G\rangle + \eta^2\lVert G\rVert^2`,

      .. math:: \Delta\Delta_l = \eta\,\frac{d\Delta_l}{dt} + \eta^2\big(\lVert\nabla
                W_{l+1}\rVert^2 - \lVert\nabla W_l\rVert^2 (- \lVert\nabla b_l\rVert^2)\big)
                = \eta\,\mathrm{RHS}_l + \eta^2(\dots)

      by the identity (DESIGN §6); ``residual`` is what is left, over the size of the terms.

    Use: one forward and one backward per step, then ``monitor.step(optimizer)`` instead
    of ``optimizer.step()`` (or ``monitor.record()``, ``optimizer.step()``,
    ``monitor.after_step(optimizer)``: the split a Lightning callback would use, from
    ``on_before_optimizer_step`` and ``on_train_batch_end``). ``close()`` (or leaving a
    ``with`` block) removes the hooks. Values stay tensors until :meth:`records` (no
    synchronisation per step); the norms after a step are reused as the next step's when
    no parameter changed in between.

    Parameters
    ----------
    model : torch.nn.Module
        A Linear/activation chain (see :func:`from_torch`; activations need no exact
        expression here).
    rhs : {"chain", "phi"}
        How the right-hand side is computed (see above).
    lhs : bool
        Also record the left side from ⟨W, ∇W⟩ (and ``identity_gap``).

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    >>> x, y = torch.randn(32, 3, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> with ImbalanceMonitor(model) as monitor:
    ...     for _ in range(3):
    ...         optimizer.zero_grad()
    ...         loss = torch.nn.functional.mse_loss(model(x), y)
    ...         loss.backward()
    ...         monitor.step(optimizer, loss=loss)
    >>> records = monitor.records()
    >>> len(records), max(abs(r) for rec in records for r in rec["residual"]) < 1e-10
    (3, True)
    """

    def __init__(self, model, *, rhs: str = "chain", lhs: bool = False):
        torch = require_torch()
        if rhs not in ("phi", "chain"):
            raise ValueError(f"rhs must be 'chain' or 'phi', got {rhs!r}")
        if not isinstance(lhs, bool):
            raise TypeError(f"lhs must be True or False, got {lhs!r}")
        self._torch = torch
        self._chain = _chain(model, exact=False)
        self.rhs_method = rhs
        self.with_lhs = lhs
        self.notes: list[str] = list(self._chain.notes)
        linears = self._chain.linears
        self._weights = [lin.weight for lin in linears]
        self._bias_layers = [l for l, lin in enumerate(linears) if lin.bias is not None]
        self._params = self._weights + [linears[l].bias for l in self._bias_layers]
        unit = float(torch.finfo(self._weights[0].dtype).eps) / 2  # unit roundoff
        self._rounding = torch.tensor(
            [unit * (math.ceil(math.log2(max(p.numel(), 2))) + 3) for p in self._params],
            dtype=torch.float64,
        )
        self._param_ids = {id(p) for p in self._params}
        depth = self._chain.depth
        self._z: list = [None] * depth
        self._a: list = [None] * depth
        self._gz: list = [None] * depth
        self._ga: list = [None] * depth
        self._rows: list = []
        self._pending: dict | None = None
        self._cache: tuple | None = None
        self._handles = [
            linear.register_forward_hook(functools.partial(self._hook, l))
            for l, linear in enumerate(linears)
        ]

    # -- hooks ---------------------------------------------------------------------
    def _hook(self, l: int, module, inputs, output) -> None:
        if l >= 1:
            a = inputs[0]
            self._a[l - 1] = a
            if a.requires_grad:
                a.register_hook(functools.partial(self._store, self._ga, l - 1))
        if l < self._chain.depth - 1:
            self._z[l] = output
            if output.requires_grad and self.rhs_method == "chain":
                output.register_hook(functools.partial(self._store, self._gz, l))

    @staticmethod
    def _store(slot: list, index: int, grad) -> None:
        slot[index] = grad

    def close(self) -> None:
        """Remove the hooks (records are kept)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> ImbalanceMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- measuring -----------------------------------------------------------------
    def _squares(self, tensors):
        """Squared Frobenius norms of a list of tensors, as one float64 vector."""
        torch = self._torch
        norms = torch._foreach_norm([t.detach() for t in tensors])
        return torch.stack(norms).to(torch.float64) ** 2

    def _param_squares(self):
        """‖p‖² of every parameter; reused while no parameter changed (version counters)."""
        versions = tuple(p._version for p in self._params)
        if self._cache is None or self._cache[0] != versions:
            self._cache = (versions, self._squares(self._params))
        return self._cache[1]

    def _dot(self, a, b):
        return self._torch.dot(a.detach().reshape(-1), b.detach().reshape(-1))

    def _rhs(self):
        torch = self._torch
        pairs = self._chain.depth - 1
        if not pairs:
            return torch.zeros(0, dtype=torch.float64)
        first, second = [], []
        for l in range(pairs):
            ga, z, a = self._ga[l], self._z[l], self._a[l]
            gz = self._gz[l] if self.rhs_method == "chain" else True
            if ga is None or z is None or a is None or gz is None:
                raise RuntimeError(
                    "no gradient recorded at the activations: call loss.backward() after a "
                    "forward pass of the monitored model, before monitor.step()/record()"
                )
            if self.rhs_method == "chain":
                first.append(self._dot(z, gz))
                second.append(self._dot(a, ga))
            else:
                first.append(self._dot(_phi_of_stage(self._chain.stages[l], z.detach()), ga))
        values = torch.stack(first)
        if second:
            values = values - torch.stack(second)
        return 2 * values.to(torch.float64)

    def record(self, *, loss=None) -> None:
        """Record the state before an optimizer step (after ``loss.backward()``)."""
        torch = self._torch
        grads = [p.grad for p in self._params]
        if any(g is None for g in grads):
            raise RuntimeError(
                "a monitored layer has no gradient: call loss.backward() before "
                "monitor.record() (or monitor.step())"
            )
        with torch.no_grad():
            pre = self._param_squares()
            grad_squares = self._squares(grads)
            rhs = self._rhs()
            inner = None
            if self.with_lhs:
                inner = torch.stack(
                    [self._dot(p, g) for p, g in zip(self._params, grads, strict=True)]
                ).to(torch.float64)
        value = None
        if loss is not None:
            value = loss.detach() if isinstance(loss, torch.Tensor) else float(loss)
        self._pending = {"pre": pre, "grads": grad_squares, "rhs": rhs, "inner": inner}
        self._pending["loss"] = value
        depth = self._chain.depth
        self._z, self._a = [None] * depth, [None] * depth
        self._gz, self._ga = [None] * depth, [None] * depth

    def after_step(self, optimizer=None) -> None:
        """Finish the record of a step: the norms after ``optimizer.step()``."""
        if self._pending is None:
            raise RuntimeError("monitor.after_step() without monitor.record() before it")
        with self._torch.no_grad():
            post = self._param_squares()
        lr, note = self._plain_sgd_lr(optimizer)
        if note is not None and note not in self.notes:
            self.notes.append(note)
        self._pending["post"] = post
        self._pending["lr"] = lr
        self._rows.append(self._pending)
        self._pending = None

    def step(self, optimizer, *, loss=None) -> None:
        """``record()``, ``optimizer.step()``, ``after_step(optimizer)``."""
        self.record(loss=loss)
        optimizer.step()
        self.after_step(optimizer)

    def _plain_sgd_lr(self, optimizer) -> tuple[float | None, str | None]:
        """The one learning rate of a plain SGD step over the monitored layers, else None."""
        if optimizer is None:
            return None, "no optimizer given to after_step(): " + _SGD_NOTE
        if type(optimizer) is not self._torch.optim.SGD:
            return None, f"{type(optimizer).__name__}: " + _SGD_NOTE
        rates = set()
        covered = 0
        for group in optimizer.param_groups:
            members = sum(1 for p in group["params"] if id(p) in self._param_ids)
            if not members:
                continue
            covered += members
            if group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"]:
                return None, "momentum/weight decay/maximize: " + _SGD_NOTE
            rates.add(float(group["lr"]))
        if covered != len(self._params) or len(rates) != 1:
            return None, "layers missing from the optimizer or several learning rates: " + _SGD_NOTE
        return rates.pop(), None

    # -- output --------------------------------------------------------------------
    def _per_layer(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split a per-parameter vector into per-layer weight and bias parts."""
        depth = self._chain.depth
        weights = values[:depth]
        biases = np.zeros(depth)
        biases[self._bias_layers] = values[depth:]
        return weights, biases

    def records(self) -> list[dict]:
        """One dict per step (lists are per layer ``l = 1..L`` or per pair ``l = 1..L−1``).

        Keys: ``step``, ``loss``, ``lr`` (``None`` unless a plain SGD step),
        ``norms`` (‖W_l‖²), ``bias_norms``, ``imbalance`` (Δ_l before the step), ``rhs``,
        ``lhs`` and ``identity_gap`` (with ``lhs=True``: dΔ_l/dt from the weight
        gradients, and ``|lhs − rhs|`` over the size of its terms), and for plain SGD steps
        ``imbalance_change`` (ΔΔ_l measured), ``first_order`` (η·RHS_l), ``second_order``
        (η²(‖∇W_{l+1}‖² − ‖∇W_l‖² − ‖∇b_l‖²)), ``residual`` (ΔΔ_l − first − second,
        over ``|ΔΔ_l| + |first| + |second|``) and ``rounding`` (over the same size: a bound on
        what float arithmetic alone leaves, (⌈log2 n⌉ + 3)·u·(‖p‖² before + after) summed
        over the tensors p of the pair, n their entries, u the unit roundoff of the
        weights' dtype: the rounding of the update itself and of the squared norms); on a
        plateau ΔΔ_l can be so small that ``rounding``, not the identity, bounds
        ``residual``. ``None`` unless a plain SGD step.
        """
        out = []
        for k, row in enumerate(self._rows):
            w, b = self._per_layer(row["pre"].cpu().numpy())
            gw, gb = self._per_layer(row["grads"].cpu().numpy())
            w_post, b_post = self._per_layer(row["post"].cpu().numpy())
            rhs = row["rhs"].cpu().numpy()
            delta = w[1:] - w[:-1] - b[:-1]
            loss, lr = row["loss"], row["lr"]
            record = {
                "step": k,
                "loss": None if loss is None else float(loss),
                "lr": lr,
                "norms": w.tolist(),
                "bias_norms": b.tolist(),
                "imbalance": delta.tolist(),
                "rhs": rhs.tolist(),
                "lhs": None,
                "identity_gap": None,
                "imbalance_change": None,
                "first_order": None,
                "second_order": None,
                "residual": None,
                "rounding": None,
            }
            if row["inner"] is not None:
                iw, ib = self._per_layer(row["inner"].cpu().numpy())
                lhs = -2 * iw[1:] + 2 * iw[:-1] + 2 * ib[:-1]
                scale = 2 * np.abs(iw[1:]) + 2 * np.abs(iw[:-1] + ib[:-1])
                gap = np.abs(lhs - rhs) / np.where(scale > 0, scale, 1.0)
                record.update(lhs=lhs.tolist(), identity_gap=gap.tolist())
            if lr is not None:
                change = (w_post[1:] - w_post[:-1] - b_post[:-1]) - delta
                first = lr * rhs
                second = lr**2 * (gw[1:] - gw[:-1] - gb[:-1])
                # What float arithmetic alone can leave: the rounding of the update
                # (|fl(p − ηg) − (p − ηg)| ≤ u|p'| entrywise, so ≤ 2u‖p‖² in ‖p‖²) and of the
                # squared norms ΔΔ_l is measured from (pairwise sums of n squares).
                bound = self._rounding * (row["pre"] + row["post"]).cpu()
                rw, rb = self._per_layer(bound.numpy())
                size = np.abs(change) + np.abs(first) + np.abs(second)
                size = np.where(size > 0, size, 1.0)
                residual = (change - first - second) / size
                rounding = (rw[1:] + rw[:-1] + rb[:-1]) / size
                record.update(
                    imbalance_change=change.tolist(),
                    first_order=first.tolist(),
                    second_order=second.tolist(),
                    residual=residual.tolist(),
                    rounding=rounding.tolist(),
                )
            out.append(record)
        return out

    def frame(self):
        """The records as a ``pandas.DataFrame``: one row per step, one column per layer
        quantity (``imbalance_1``, ``rhs_1``, ``norm_1``, ...). Needs pandas."""
        from saddle_escape.symbolic.display import frame

        rows = []
        per_layer = (("norms", "norm"), ("bias_norms", "bias_norm"))
        per_pair = (
            ("imbalance", "imbalance"),
            ("rhs", "rhs"),
            ("lhs", "lhs"),
            ("identity_gap", "identity_gap"),
            ("imbalance_change", "imbalance_change"),
            ("first_order", "first_order"),
            ("second_order", "second_order"),
            ("residual", "residual"),
            ("rounding", "rounding"),
        )
        for record in self.records():
            row = {"step": record["step"], "loss": record["loss"], "lr": record["lr"]}
            for keys, count in ((per_layer, self._chain.depth), (per_pair, self._chain.depth - 1)):
                for key, name in keys:
                    values = record[key]
                    for i in range(count):
                        row[f"{name}_{i + 1}"] = None if values is None else values[i]
            rows.append(row)
        return frame(rows)

    def plot(self, *, figsize=(9.0, 3.2)):
        """One figure: the loss, every Δ_l, and the identity's RHS against the step."""
        import matplotlib.pyplot as plt

        records = self.records()
        fig, axes = plt.subplots(1, 3, figsize=figsize)
        steps = [r["step"] for r in records]
        if records and records[0]["loss"] is not None:
            axes[0].plot(steps, [r["loss"] for r in records])
        axes[0].set_title("loss")
        pairs = self._chain.depth - 1
        for l in range(pairs):
            axes[1].plot(steps, [r["imbalance"][l] for r in records], label=f"Δ_{l + 1}")
            axes[2].plot(steps, [r["rhs"][l] for r in records], label=f"RHS_{l + 1}")
        axes[1].set_title("imbalance Δ_l")
        axes[2].set_title("identity RHS_l = dΔ_l/dt")
        for ax in axes:
            ax.set_xlabel("step")
        if pairs and records:
            axes[1].legend(fontsize="small")
        fig.tight_layout()
        return fig


# ============================================================================ the plateau


@dataclass(frozen=True)
class PlateauPrediction:
    r"""Result of :func:`predict_plateau`.

    Attributes
    ----------
    status : Status
        Of the simulation (``escaped`` when τ★ was found).
    tau : float or None
        τ★ in gradient-flow time of the toolkit's loss ½·mean‖f − y‖² (DESIGN §1): the
        primary prediction, from the full-network simulator at the model's own weights.
    steps : float or None
        τ★ divided by the gradient-flow time one optimizer step covers (``time_per_step``).
    time_per_step : float or None
        η times the ratio of the training loss to the toolkit's (2/m for ``nn.MSELoss``),
        over (1 − momentum) when there is momentum.
    regime, law : str
        The critical-depth regime of r bottleneck layers (``finite``, ``log``, ``power``,
        or ``none``) and its law (``ε^-1 (slope -1)``): the asymptotic explanation of how
        τ★ scales with ε (and with 1/Γ̂), not a second prediction.
    exponent : int
        The expected slope of ln τ★ against ln ε.
    r, eps, bottleneck, layer_scales, threshold
        Bottleneck layers (1-based) are those whose RMS entry is below ``threshold`` times
        the He scale sqrt(2/fan_in); ``layer_scales`` are those ratios, ``eps`` their
        geometric mean over the bottleneck.
    activation, class_
        σ and its universality class (``None`` without a class).
    gamma, gamma_stderr, gamma_source
        Γ̂ = ‖mean(y x)‖ (largest singular value for vector targets) and how it was
        computed.
    loss_initial : float
        The toolkit's loss at the model's weights.
    fraction : float
        The plateau ends when the loss first falls to ``fraction`` of its initial value.
    warnings : tuple of str
        Assumptions of the theory that the model or the training does not meet.
    """

    status: Status
    message: str
    tau: float | None
    steps: float | None
    lr: float
    time_per_step: float | None
    regime: str
    law: str
    exponent: int
    r: int
    eps: float | None
    bottleneck: tuple[int, ...]
    layer_scales: tuple[float, ...]
    threshold: float
    activation: str
    class_: str | None
    gamma: float
    gamma_stderr: float | None
    gamma_source: str
    loss_initial: float
    fraction: float
    widths: tuple[int, ...]
    evaluations: int
    warnings: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict:
        return {
            "status": self.status.value,
            "message": self.message,
            "tau": self.tau,
            "steps": self.steps,
            "lr": self.lr,
            "time_per_step": self.time_per_step,
            "regime": self.regime,
            "law": self.law,
            "exponent": self.exponent,
            "r": self.r,
            "eps": self.eps,
            "bottleneck": list(self.bottleneck),
            "layer_scales": list(self.layer_scales),
            "threshold": self.threshold,
            "activation": self.activation,
            "class": self.class_,
            "gamma": self.gamma,
            "gamma_stderr": self.gamma_stderr,
            "gamma_source": self.gamma_source,
            "loss_initial": self.loss_initial,
            "fraction": self.fraction,
            "widths": list(self.widths),
            "evaluations": self.evaluations,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }


def _single_thread_blas():
    """One BLAS thread for the small matrices of the simulator (measured here: a 1797 × 64
    digits run took 23 s with the default threads on a loaded 2-core machine, 1.6 s with
    one); a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _loss_ratio(loss, P: int, m: int) -> tuple[float, str]:
    """How many times the training loss is the toolkit's ½·mean‖f − y‖² (same gradients)."""
    torch = require_torch()
    if isinstance(loss, str):
        key = loss.strip().lower()
        if key == "mse":
            return 2.0 / m, "nn.MSELoss() (mean over samples and outputs)"
        if key == "squared":
            return 1.0, "½‖f − y‖², mean over samples (the toolkit's)"
    if isinstance(loss, torch.nn.MSELoss):
        if loss.reduction == "mean":
            return 2.0 / m, "nn.MSELoss(reduction='mean')"
        if loss.reduction == "sum":
            return 2.0 * P, "nn.MSELoss(reduction='sum')"
    raise ValueError(
        f"loss {loss!r}: the plateau prediction is for squared losses: 'mse' (nn.MSELoss, the "
        "default), 'squared' (½‖f − y‖², mean) or an nn.MSELoss instance"
    )


def predict_plateau(
    model,
    inputs,
    targets,
    *,
    lr: float,
    loss="mse",
    optimizer=None,
    fraction: float = 0.5,
    threshold: float = BOTTLENECK_THRESHOLD,
    rtol: float = 1e-6,
    max_evaluations: int = 100_000,
) -> PlateauPrediction:
    r"""Predict the end of the first plateau of a PyTorch MLP from its current weights.

    1. The bottleneck is read off the weights: layer l is a bottleneck layer when its RMS
       entry is below ``threshold`` (default 0.1) times the He scale
       :math:`\sqrt{2/\mathrm{fan\_in}}`; r is their number and ε the geometric mean of
       their scales relative to He.
    2. The class of σ (exact, :func:`classify_module`), and the data's clock
       :math:`\hat\Gamma` (:func:`saddle_escape.numeric.data.empirical_gamma`).
    3. **The prediction**: the full-network gradient flow of the toolkit
       (:func:`~saddle_escape.numeric.simulate.full_escape_time`) from the model's own
       weights on these data, until the loss falls to ``fraction`` of its initial value:
       τ★ in gradient-flow time, and τ★ over the time one optimizer step covers.
    4. **The explanation**: the critical-depth law of r bottleneck layers (DESIGN §3):
       :math:`\tau_\star\propto\varepsilon^{-(r-2)}/\hat\Gamma` for r ≥ 3,
       :math:`\ln(1/\varepsilon)` for r = 2, a finite limit for r = 1. It says how τ★
       moves with ε and with the data; it is not a second number.

    Parameters
    ----------
    model : torch.nn.Module
        A Linear/activation chain with one activation (see :func:`from_torch`).
    inputs, targets : arrays or tensors ``(P, d)`` and ``(P,)`` / ``(P, m)``
        The training data as the model sees them (preprocessed).
    lr : float
        The learning rate of the optimizer.
    loss : {"mse", "squared"} or nn.MSELoss
        The training loss: ``nn.MSELoss()`` (``"mse"``, the default) has gradients 2/m
        times the toolkit's ½·mean‖f − y‖², so one step of size η covers 2η/m of the
        toolkit's time.
    optimizer : torch.optim.Optimizer, optional
        Read for momentum (the step covers η/(1 − μ) on a plateau, where the gradient
        varies slowly) and for optimizers whose steps are not gradient-flow time.
    fraction : float
        The loss fraction that ends the plateau (0 < fraction < 1).
    threshold : float
        Of the bottleneck (see 1).
    rtol, max_evaluations
        Of the simulation.

    Returns
    -------
    PlateauPrediction
        Its ``steps`` assume full-batch steps; minibatch SGD follows the flow on average
        for small η.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Linear(4, 8, bias=False), torch.nn.Tanh(),
    ...     torch.nn.Linear(8, 8, bias=False), torch.nn.Tanh(),
    ...     torch.nn.Linear(8, 1, bias=False)).double()
    >>> with torch.no_grad():
    ...     for layer in (model[2], model[4]):
    ...         _ = layer.weight.mul_(0.05)
    >>> x = torch.randn(64, 4, dtype=torch.float64)
    >>> prediction = predict_plateau(model, x, x[:, :1], lr=0.05)
    >>> prediction.r, prediction.bottleneck, prediction.regime, prediction.status.value
    (2, (2, 3), 'log', 'escaped')
    """
    started = time.perf_counter()
    torch = require_torch()
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    chain = _chain(model, exact=True)
    converted = from_torch(model)
    x, y = _prepare_data(chain, inputs, targets)
    if not y.is_floating_point():
        raise ValueError("targets must be real numbers for a squared loss")
    X_np, Y_np = x.numpy().astype(float), y.to(torch.float64).numpy()
    P, m = Y_np.shape
    notes: list[str] = list(converted.notes)
    try:
        sigma = converted.activation
    except ValueError as exc:
        raise ValueError(f"predict_plateau: {exc}") from None
    # 1. the bottleneck, read off the weights
    scales = []
    for w in converted.network.weights:
        he = math.sqrt(2.0 / w.shape[1])
        scales.append(float(np.sqrt(np.mean(w**2))) / he)
    bottleneck = tuple(l + 1 for l, s in enumerate(scales) if s < threshold)
    r = len(bottleneck)
    eps = float(np.exp(np.mean(np.log([scales[b - 1] for b in bottleneck])))) if r else None
    between = [l + 1 for l, s in enumerate(scales) if threshold <= s < O1_SCALE]
    if between:
        notes.append(
            f"layers {between} have scales between {threshold:g} and {O1_SCALE:g} of He: "
            "neither clearly bottleneck nor O(1), so r is uncertain"
        )
    # 2. class and clock
    classification = classify_module(_sigma_module(chain))
    class_ = None if classification.class_ is None else classification.class_.value
    gamma, stderr, gamma_source = _gamma(X_np, Y_np)
    # assumptions
    if any(converted.bias):
        notes.append(
            "the model has biases: the theory is bias-free (DESIGN §1); the simulator trains "
            "the biases too, the critical-depth law does not account for them"
        )
    if m > 1:
        notes.append(
            f"vector output (m = {m}): each singular value of E[y xᵀ] escapes on its own "
            "(staging by rank, DESIGN §5); the prediction is for the loss fraction, mostly the "
            "first (largest) mode"
        )
    if r == 0:
        notes.append(
            f"no layer is below {threshold:g} of the He scale: no small-initialization "
            "bottleneck, so no saddle plateau is predicted; τ★ is the simulated time to the "
            "loss fraction"
        )
    if class_ is None:
        notes.append("σ has no universality class: the critical-depth law does not apply")
    elif class_ == "A" and r >= 1:
        notes.append(
            "class A (φ_σ ≡ 0 near 0): the imbalances are conserved near the saddle; the "
            "escape follows the linear-network law"
        )
    ratio, loss_label = _loss_ratio(loss, P, m)
    time_per_step: float | None = float(lr) * ratio
    if optimizer is not None:
        if type(optimizer) is torch.optim.SGD:
            groups = optimizer.param_groups
            rates = {float(g["lr"]) for g in groups}
            if rates != {float(lr)}:
                notes.append(f"the optimizer's learning rates {sorted(rates)} are not lr={lr}")
            momentum = max(float(g.get("momentum", 0)) for g in groups)
            if momentum > 0:
                time_per_step = (time_per_step or 0) / (1 - momentum)
                notes.append(
                    f"momentum {momentum:g}: on a plateau the gradient varies slowly and a step "
                    f"covers η/(1 − μ) = {1 / (1 - momentum):.3g}·η of flow time (the steps use "
                    "that); the transient of the first ~1/(1 − μ) steps is ignored"
                )
            if any(float(g.get("weight_decay", 0)) for g in groups):
                notes.append("weight decay is not part of the gradient flow of the loss")
        else:
            time_per_step = None
            notes.append(
                f"{type(optimizer).__name__} is not (momentum) SGD: its steps do not follow "
                "gradient-flow time, so no step count is given"
            )
    # 3. the prediction: the full network's flow from these weights
    data = Dataset(X_np, Y_np)
    with _single_thread_blas():
        run = _simulate(converted.network, data, sigma, fraction, rtol, max_evaluations)
    tau = run.tau
    steps = None if tau is None or time_per_step is None else tau / time_per_step
    regime, law, exponent = _law(r)
    loss_initial = float(run.loss[0]) if len(run.loss) else math.nan
    message = run.message or run.status.value
    if tau is not None:
        message = (
            f"plateau ends at τ★ = {tau:.6g} (gradient-flow time of ½·mean‖f − y‖²)"
            + ("" if steps is None else f" ≈ {steps:.1f} steps of {loss_label} at lr={lr:g}")
            + f"; {law} with r = {r}"
            + ("" if eps is None else f", ε = {eps:.3g}")
            + f", Γ̂ = {gamma:.4g}"
        )
    return PlateauPrediction(
        status=run.status,
        message=message,
        tau=tau,
        steps=steps,
        lr=float(lr),
        time_per_step=time_per_step,
        regime=regime,
        law=law,
        exponent=exponent,
        r=r,
        eps=eps,
        bottleneck=bottleneck,
        layer_scales=tuple(scales),
        threshold=float(threshold),
        activation=sp.sstr(sigma),
        class_=class_,
        gamma=gamma,
        gamma_stderr=stderr,
        gamma_source=gamma_source,
        loss_initial=loss_initial,
        fraction=float(fraction),
        widths=converted.network.widths,
        evaluations=run.evaluations,
        warnings=tuple(notes),
        seconds=time.perf_counter() - started,
    )


def _sigma_module(chain: _Chain):
    """The activation of the hidden layers as a callable (for classify_module)."""
    stage = chain.stages[0] if chain.stages else ()
    if len(stage) == 1:
        return stage[0]
    torch = require_torch()
    return torch.nn.Sequential(*stage) if stage else torch.nn.Identity()


def _gamma(x: np.ndarray, y: np.ndarray) -> tuple[float, float | None, str]:
    from saddle_escape.numeric.data import empirical_gamma

    estimate = empirical_gamma(x, y, bootstrap=100, seed=0)
    return float(estimate.gamma), estimate.stderr, "numeric.data.empirical_gamma (bootstrap 100)"


def _simulate(network, data, sigma, fraction, rtol, max_evaluations):
    from saddle_escape.numeric.simulate import full_escape_time

    return full_escape_time(
        network,
        data,
        sigma,
        "squared",
        fraction=fraction,
        rtol=rtol,
        max_evaluations=max_evaluations,
        record=8,
    )


def _law(r: int) -> tuple[str, str, int]:
    from saddle_escape.symbolic.asymptotics import critical_depth_law, expected_slope

    if r == 0:
        return "none", "no bottleneck", 0
    regime = {1: "finite", 2: "log"}.get(r, "power")
    return regime, critical_depth_law(r), expected_slope(r)


# ============================================================================ files


def load_model(path):
    """Load a saved ``torch.nn.Module`` (``torch.save(model, path)``) without running code.

    ``torch.load`` with ``weights_only=True`` and only the classes a Linear/activation
    chain needs allowed (``Sequential``, ``Linear``, the activation modules, ``Identity``,
    ``Flatten``, ``Dropout``): a file that asks for anything else is refused instead of
    unpickled.

    Raises
    ------
    ValueError
        For a missing file, a file that is not such a module (a ``state_dict`` has no
        architecture), or one that needs other classes.
    """
    torch = require_torch()
    nn = torch.nn
    allowed = [
        nn.Sequential,
        nn.Linear,
        nn.Identity,
        nn.Flatten,
        nn.Dropout,
        nn.ReLU,
        nn.LeakyReLU,
        nn.RReLU,
        nn.PReLU,
        nn.ELU,
        nn.SELU,
        nn.CELU,
        nn.GELU,
        nn.SiLU,
        nn.Mish,
        nn.Softplus,
        nn.Sigmoid,
        nn.Tanh,
        nn.Hardtanh,
        nn.ReLU6,
        nn.Hardswish,
        nn.Hardsigmoid,
        nn.Softsign,
        nn.Tanhshrink,
        nn.LogSigmoid,
        nn.Hardshrink,
        nn.Softshrink,
        nn.Threshold,
    ]
    if not hasattr(torch.serialization, "safe_globals"):
        raise ValueError(
            f"loading a module safely needs torch ≥ 2.5 (torch.serialization.safe_globals); "
            f"this is torch {torch.__version__}"
        )
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise ValueError(f"model file {str(path)!r} does not exist") from None
    except Exception as exc:  # UnpicklingError and friends: refuse, never fall back
        raise ValueError(
            f"model file {str(path)!r} cannot be loaded safely (weights_only, with only "
            f"Sequential, Linear and activation modules allowed): {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(obj, nn.Module):
        raise ValueError(
            f"model file {str(path)!r} holds a {type(obj).__name__}, not a module (a "
            "state_dict has no architecture): save the model itself with torch.save(model, "
            "path)"
        )
    return obj


def predict_plateau_from_file(
    path,
    data_source: str,
    *,
    lr: float,
    target: str | None = None,
    labels: str = "centred",
    loss="mse",
    fraction: float = 0.5,
) -> PlateauPrediction:
    """:func:`predict_plateau` for a saved model (:func:`load_model`) and a data source.

    ``data_source``, ``target`` and ``labels`` go to
    :func:`saddle_escape.numeric.data.load_data` (a ``.npz``/``.npy``/``.csv`` file, a
    bundled scikit-learn data set, ``gaussian:D:N``), with its default preprocessing
    (centred, globally scaled inputs): train on the same preprocessing for the prediction
    to apply.
    """
    from saddle_escape.numeric.data import load_data

    model = load_model(path)
    task = load_data(data_source, target=target, labels=labels)
    return predict_plateau(model, task.inputs, task.targets, lr=lr, loss=loss, fraction=fraction)
