"""Registry of named activations.

Each entry is an expression string in the toolkit's safe syntax (parsed by the same
allow-list parser as user input), a reference, and aliases. Classes, exponents and
coefficients are not stored here: they are computed by :func:`saddle_escape.classes.classify`
and pinned in ``tests/classes/test_registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, parse_activation

__all__ = [
    "NamedActivation",
    "REGISTRY",
    "activation_names",
    "get_activation",
    "lookup",
    "resolve_activation",
]


@dataclass(frozen=True)
class NamedActivation:
    """A named activation function.

    Attributes
    ----------
    name : str
        Canonical name (lower case, underscores).
    expression : str
        The activation in the variable ``x``, in the safe expression syntax.
    reference : str
        Where it comes from.
    aliases : tuple of str
        Other accepted names.
    """

    name: str
    expression: str
    reference: str
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "name": self.name,
            "expression": self.expression,
            "reference": self.reference,
            "aliases": list(self.aliases),
        }


# SELU's constants as published (Klambauer et al. 2017), taken as exact decimals.
_SELU_LAMBDA = "1.0507009873554804934193349852946"
_SELU_ALPHA = "1.6732632423543772848170429916717"

_ENTRIES = (
    NamedActivation("identity", "x", "the linear network", ("linear",)),
    NamedActivation("relu", "Max(0, x)", "Nair & Hinton, ICML 2010"),
    NamedActivation("leaky_relu", "Max(x, 0.01*x)", "Maas et al., ICML 2013 (slope 0.01)"),
    NamedActivation("hardtanh", "Max(-1, Min(1, x))", "Collobert, 2004; PyTorch Hardtanh"),
    NamedActivation("abs", "Abs(x)", "absolute value (positively homogeneous)"),
    NamedActivation("tanh", "tanh(x)", "hyperbolic tangent"),
    NamedActivation("sin", "sin(x)", "Sitzmann et al., NeurIPS 2020 (SIREN)"),
    NamedActivation("erf", "erf(x)", "error function"),
    NamedActivation("atan", "atan(x)", "arctangent"),
    NamedActivation("softsign", "x/(1 + Abs(x))", "Bergstra et al., 2009"),
    NamedActivation(
        "gelu", "x*(1 + erf(x/sqrt(2)))/2", "Hendrycks & Gimpel, arXiv:1606.08415 (erf form)"
    ),
    NamedActivation(
        "gelu_tanh",
        "x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))/2",
        "Hendrycks & Gimpel, arXiv:1606.08415 (tanh approximation)",
    ),
    NamedActivation(
        "silu", "x/(1 + exp(-x))", "Elfwing et al. 2018; Ramachandran et al. 2017", ("swish",)
    ),
    NamedActivation("mish", "x*tanh(log(1 + exp(x)))", "Misra, arXiv:1908.08681"),
    NamedActivation(
        "elu", "Piecewise((x, x > 0), (exp(x) - 1, True))", "Clevert et al., ICLR 2016 (alpha=1)"
    ),
    NamedActivation(
        "selu",
        f"{_SELU_LAMBDA}*Piecewise((x, x > 0), ({_SELU_ALPHA}*(exp(x) - 1), True))",
        "Klambauer et al., NeurIPS 2017",
    ),
    NamedActivation("celu", "Max(0, x) + Min(0, exp(x) - 1)", "Barron, arXiv:1704.07483 (alpha=1)"),
    NamedActivation("softplus", "log(1 + exp(x))", "Dugas et al., NeurIPS 2000"),
    NamedActivation("sigmoid", "1/(1 + exp(-x))", "logistic function", ("logistic",)),
    NamedActivation("logsigmoid", "-log(1 + exp(-x))", "PyTorch LogSigmoid"),
    NamedActivation(
        "hardswish", "x*Min(Max(0, x + 3), 6)/6", "Howard et al., ICCV 2019 (MobileNetV3)"
    ),
    NamedActivation("hardsigmoid", "Min(Max(0, x + 3), 6)/6", "PyTorch Hardsigmoid"),
    NamedActivation("tanhshrink", "x - tanh(x)", "PyTorch Tanhshrink (alpha = 0)"),
    NamedActivation("quadratic", "x**2", "polynomial network (alpha = 0)", ("square",)),
)

#: Canonical name -> entry.
REGISTRY: dict[str, NamedActivation] = {entry.name: entry for entry in _ENTRIES}
_BY_ALIAS = {alias: entry for entry in _ENTRIES for alias in (entry.name, *entry.aliases)}


def activation_names(*, aliases: bool = False) -> tuple[str, ...]:
    """Canonical names in registry order (with aliases appended if asked).

    Examples
    --------
    >>> activation_names()[:3]
    ('identity', 'relu', 'leaky_relu')
    """
    names = tuple(REGISTRY)
    if aliases:
        names += tuple(a for e in _ENTRIES for a in e.aliases)
    return names


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def lookup(name: str) -> NamedActivation | None:
    """The entry called ``name`` (case-insensitive; ``-`` or ``_``), or ``None``.

    Examples
    --------
    >>> lookup("Swish").name
    'silu'
    >>> lookup("tanh(x)") is None
    True
    """
    return _BY_ALIAS.get(_normalize(name))


def get_activation(name: str) -> NamedActivation:
    """The entry called ``name``.

    Raises
    ------
    ValueError
        If no activation has that name; the message lists the valid names.

    Examples
    --------
    >>> get_activation("linear").expression
    'x'
    """
    entry = lookup(name)
    if entry is None:
        valid = ", ".join(activation_names(aliases=True))
        raise ValueError(f"unknown activation name {name!r}; valid names: {valid}")
    return entry


def resolve_activation(activation) -> tuple[sp.Expr, str | None]:
    """σ as a SymPy expression in ``x``, and its registry name (or ``None``).

    Parameters
    ----------
    activation : str or sympy.Expr
        A registry name, an expression string (parsed safely) or a SymPy expression.

    Raises
    ------
    ExpressionError
        For refused strings, other input types, or a SymPy expression that has free
        symbols but not ``x``.

    Examples
    --------
    >>> resolve_activation("swish")
    (x/(1 + exp(-x)), 'silu')
    >>> resolve_activation("x**2")
    (x**2, None)
    """
    if isinstance(activation, sp.Expr):
        if activation.free_symbols and X not in activation.free_symbols:
            raise ExpressionError(
                f"activation {sp.sstr(activation)} does not contain the variable x "
                "(saddle_escape.symbolic.parsing.X)"
            )
        return activation, None
    if not isinstance(activation, str):
        raise ExpressionError(
            "activation must be a name, an expression string or a SymPy expression, "
            f"got {type(activation).__name__}"
        )
    entry = lookup(activation)
    if entry is not None:
        return parse_activation(entry.expression).expr, entry.name
    return parse_activation(activation).expr, None
