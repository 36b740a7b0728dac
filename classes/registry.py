"""Registry of named activations.

Each entry is an expression string in the toolkit's safe syntax (parsed by the same
allow-list parser as user input), a reference, and aliases. Classes, exponents and
coefficients are not stored here: they are computed by :func:`saddle_escape.classes.classify`
and pinned in ``tests/classes/test_registry.py``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, check_tree, parse_activation

__all__ = [
    "NamedActivation",
    "REGISTRY",
    "activation_names",
    "get_activation",
    "lookup",
    "resolve_activation",
    "suggest",
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


def _normalize(name: str) -> str:
    """Case, ``-`` and ``_`` do not matter: ``LeakyReLU``, ``leaky-relu``, ``leaky_relu``."""
    return name.strip().lower().replace("-", "").replace("_", "")


_BY_ALIAS = {
    _normalize(alias): entry for entry in _ENTRIES for alias in (entry.name, *entry.aliases)
}


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


def _require_name(name, argument: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"{argument} must be a str (a registry name such as 'tanh'), "
            f"got {type(name).__name__} {name!r}"
        )
    return name


def lookup(name: str) -> NamedActivation | None:
    """The entry called ``name``, or ``None``.

    Case, ``-`` and ``_`` are ignored, so PyTorch's class names work too
    (``LeakyReLU``, ``GELU``, ``SiLU``, ``Hardswish``, ``LogSigmoid``, ...).

    Raises
    ------
    TypeError
        If ``name`` is not a string.

    Examples
    --------
    >>> lookup("Swish").name
    'silu'
    >>> lookup("LeakyReLU").name
    'leaky_relu'
    >>> lookup("tanh(x)") is None
    True
    """
    return _BY_ALIAS.get(_normalize(_require_name(name)))


def suggest(name: str) -> str | None:
    """The registry name closest to an unknown ``name`` (difflib), or ``None``.

    Names and aliases are compared case-insensitively, ignoring ``-`` and ``_``.

    Examples
    --------
    >>> suggest("leaky_rleu")
    'leaky_relu'
    >>> suggest("qwertyuiop") is None
    True
    """
    close = difflib.get_close_matches(_normalize(_require_name(name)), _BY_ALIAS, n=1)
    return _BY_ALIAS[close[0]].name if close else None


def _unknown(name: str) -> ExpressionError:
    hint = suggest(name)
    if hint is not None:
        return ExpressionError(f"unknown activation {name.strip()!r}; did you mean {hint}?")
    valid = ", ".join(activation_names(aliases=True))
    return ExpressionError(
        f"unknown activation {name.strip()!r}; valid names: {valid}; or write an expression "
        "in x such as 'tanh(x)'"
    )


def get_activation(name: str) -> NamedActivation:
    """The entry called ``name``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ExpressionError
        (a ``ValueError``) If no activation has that name; the message suggests the
        closest name, or lists the valid ones.

    Examples
    --------
    >>> get_activation("linear").expression
    'x'
    >>> get_activation("LeakyRelu").name
    'leaky_relu'
    >>> get_activation("tahn")
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: unknown activation 'tahn'; did you mean tanh?
    """
    entry = lookup(name)
    if entry is None:
        raise _unknown(name)
    return entry


def resolve_activation(activation) -> tuple[sp.Expr, str | None]:
    """σ as a SymPy expression in ``x``, and its registry name (or ``None``).

    Parameters
    ----------
    activation : str or sympy.Expr
        A registry name, an expression string (parsed safely) or a SymPy expression
        (checked like a parsed one: finite constants, ``Piecewise`` defined everywhere).

    Raises
    ------
    ExpressionError
        For refused strings, an identifier that is not a registry name (``"LeakyRelu6"``:
        "unknown activation ...; did you mean ...?"), other input types (``None``, numbers;
        the message names the argument), or a SymPy expression that has free symbols but
        not ``x``.

    Examples
    --------
    >>> resolve_activation("swish")
    (x/(1 + exp(-x)), 'silu')
    >>> resolve_activation("x**2")
    (x**2, None)
    >>> resolve_activation("gleu")
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: unknown activation 'gleu'; did you mean gelu?
    """
    if isinstance(activation, sp.Expr):
        if activation.free_symbols and X not in activation.free_symbols:
            raise ExpressionError(
                f"activation {sp.sstr(activation, order='none')} does not contain the variable x "
                "(saddle_escape.symbolic.parsing.X)"
            )
        return check_tree(activation), None
    if not isinstance(activation, str):
        raise ExpressionError(
            "activation must be a registry name, an expression string or a SymPy expression, "
            f"got {type(activation).__name__} {activation!r}"
        )
    entry = lookup(activation)
    if entry is not None:
        return parse_activation(entry.expression).expr, entry.name
    parsed = parse_activation(activation)
    if parsed.text.isidentifier() and parsed.parameters:
        # A lone identifier that is no registry name (a typo, or a name we do not know):
        # as an expression it would be a constant parameter, which no one means.
        raise _unknown(parsed.text)
    return parsed.expr, None
