"""Registry of named activations.

Each entry is an expression string in the toolkit's safe syntax (parsed by the same
allow-list parser as user input), a reference, aliases and a note. Classes, exponents and
coefficients are not stored here: they are computed by :func:`saddle_escape.classes.classify`
and pinned in ``tests/classes/test_registry.py``.

Names are matched ignoring case, ``-`` and ``_``, so the spellings of PyTorch
(``LeakyReLU``, ``GELU``, ``SiLU``, ``ReLU6``, ``Hardswish``, ``LogSigmoid``, ``PReLU``,
``Identity``), JAX (``leaky_relu``, ``hard_tanh``, ``log_sigmoid``, ``soft_sign``) and
Keras (``relu6``, ``hard_sigmoid``, ``tanh_shrink``) resolve to the canonical entry; the
spellings that differ in more than that are explicit aliases (``hard_silu``, ``swish``,
``expit``, ``gelu_new``, ...).

A string that is a single identifier is a name: if it is no entry, no alias, not ``x``
(or ``z``) and not a constant, it is refused with ``unknown activation 'NAME'; did you
mean NAME2?`` instead of being read as a constant parameter. Two well-known names are
refused with their own reason: ``hardshrink`` and ``softshrink`` vanish identically near 0,
so they have no universality class (see their notes).
"""

from __future__ import annotations

import difflib
import keyword
from dataclasses import dataclass

import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import FUNCTIONS, X, check_tree, parse_activation

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
        Other accepted names (matched, like the name, ignoring case, ``-`` and ``_``).
    note : str
        Anything a user should know: defaults chosen, where the class comes from.
    defaults : tuple of (str, str)
        Values of σ's free parameters for numeric use when none are given (exact
        decimals or fractions): ``(("a", "1/4"),)`` for PReLU. Classification keeps the
        parameters symbolic.

    Examples
    --------
    >>> REGISTRY["prelu"].to_dict()["parameter_defaults"]
    {'a': '1/4'}
    """

    name: str
    expression: str
    reference: str
    aliases: tuple[str, ...] = ()
    note: str = ""
    defaults: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready form.

        Examples
        --------
        >>> REGISTRY["silu"].to_dict()["aliases"]
        ['swish']
        """
        return {
            "name": self.name,
            "expression": self.expression,
            "reference": self.reference,
            "aliases": list(self.aliases),
            "note": self.note,
            "parameter_defaults": dict(self.defaults),
        }


# SELU's constants as published (Klambauer et al. 2017), taken as exact decimals.
_SELU_LAMBDA = "1.0507009873554804934193349852946"
_SELU_ALPHA = "1.6732632423543772848170429916717"

_ENTRIES = (
    NamedActivation("identity", "x", "the linear network", ("linear",)),
    NamedActivation("relu", "Max(0, x)", "Nair & Hinton, ICML 2010"),
    NamedActivation("leaky_relu", "Max(x, 0.01*x)", "Maas et al., ICML 2013 (slope 0.01)"),
    NamedActivation(
        "relu6",
        "Min(Max(0, x), 6)",
        "Krizhevsky, 2010 (CIFAR-10 convolutional DBN); PyTorch ReLU6, MobileNet",
        note="equal to ReLU on (-inf, 6): class A like ReLU (x on the right, 0 on the left, "
        "φ_σ = 0 on both sides); the cap at 6 is a kink only O(1) layers reach",
    ),
    NamedActivation(
        "prelu",
        "Max(0, x) + a*Min(0, x)",
        "He et al., ICCV 2015 (learned slope a); PyTorch PReLU",
        ("parametric_relu",),
        note="φ_σ = 0 on both sides for every slope a (x·a − a·x = 0 on the left), so class A "
        "whatever a is: the classification keeps a symbolic; numeric use takes PyTorch's "
        "initial slope a = 1/4 unless parameters={'a': ...} is given",
        defaults=(("a", "1/4"),),
    ),
    NamedActivation("hardtanh", "Max(-1, Min(1, x))", "Collobert, 2004; PyTorch Hardtanh"),
    NamedActivation("abs", "Abs(x)", "absolute value (positively homogeneous)"),
    NamedActivation("tanh", "tanh(x)", "hyperbolic tangent"),
    NamedActivation("sin", "sin(x)", "Sitzmann et al., NeurIPS 2020 (SIREN)"),
    NamedActivation("erf", "erf(x)", "error function"),
    NamedActivation("atan", "atan(x)", "arctangent", ("arctan",)),
    NamedActivation("softsign", "x/(1 + Abs(x))", "Bergstra et al., 2009"),
    NamedActivation(
        "gelu", "x*(1 + erf(x/sqrt(2)))/2", "Hendrycks & Gimpel, arXiv:1606.08415 (erf form)"
    ),
    NamedActivation(
        "gelu_tanh",
        "x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))/2",
        "Hendrycks & Gimpel, arXiv:1606.08415 (tanh approximation)",
        ("gelu_new", "gelu_pytorch_tanh", "approximate_gelu"),
        note="jax.nn.gelu's default (approximate=True) and Hugging Face's gelu_new",
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
    NamedActivation(
        "squareplus",
        "(x + sqrt(x**2 + 4))/2",
        "Barron, arXiv:2112.11687 (b = 4, the default of jax.nn.squareplus and Keras)",
        note="σ(0) = sqrt(b)/2 = 1 ≠ 0, so class D with h_σ = −σ(0) = −1, like softplus",
    ),
    NamedActivation("sigmoid", "1/(1 + exp(-x))", "logistic function", ("logistic", "expit")),
    NamedActivation("logsigmoid", "-log(1 + exp(-x))", "PyTorch LogSigmoid"),
    NamedActivation(
        "hardswish",
        "x*Min(Max(0, x + 3), 6)/6",
        "Howard et al., ICCV 2019 (MobileNetV3)",
        ("hard_silu",),
    ),
    NamedActivation("hardsigmoid", "Min(Max(0, x + 3), 6)/6", "PyTorch Hardsigmoid"),
    NamedActivation("tanhshrink", "x - tanh(x)", "PyTorch Tanhshrink (alpha = 0)"),
    NamedActivation("quadratic", "x**2", "polynomial network (alpha = 0)", ("square",)),
)

_VANISHING = (
    "σ ≡ 0 on [-1/2, 1/2], so σ and φ_σ vanish identically near 0. That is not class A: "
    "a network at small scale ε feels σ only through the Gaussian tail of pre-activations "
    "beyond ±1/2, of weight about exp(-1/(8ε²)), which is flat (non-analytic) in ε, so there "
    "is no power law and no universality class"
)

#: Well-known names that are refused, each with its reason (not in :data:`REGISTRY`).
_REFUSED = (
    NamedActivation(
        "hardshrink",
        "Piecewise((x, Abs(x) > 1/2), (0, True))",
        "PyTorch Hardshrink, lambda = 1/2",
        note=_VANISHING,
    ),
    NamedActivation(
        "softshrink",
        "Piecewise((x - sign(x)/2, Abs(x) > 1/2), (0, True))",
        "PyTorch Softshrink, lambda = 1/2",
        note=_VANISHING,
    ),
)

#: Canonical name -> entry.
REGISTRY: dict[str, NamedActivation] = {entry.name: entry for entry in _ENTRIES}


def _normalize(name: str) -> str:
    """Case, ``-`` and ``_`` do not matter: ``LeakyReLU``, ``leaky-relu``, ``leaky_relu``."""
    return name.strip().lower().replace("-", "").replace("_", "")


def _alias_table(entries) -> dict[str, NamedActivation]:
    table: dict[str, NamedActivation] = {}
    for entry in entries:
        for alias in (entry.name, *entry.aliases):
            key = _normalize(alias)
            if key in table and table[key] is not entry:  # pragma: no cover - registry bug
                raise RuntimeError(f"alias {alias!r} names both {table[key].name} and {entry.name}")
            table[key] = entry
    return table


_BY_ALIAS = _alias_table(_ENTRIES)
_REFUSED_BY_ALIAS = _alias_table(_REFUSED)
#: What a misspelt name is compared with: every name and alias, the refused ones too.
_KNOWN = {**_BY_ALIAS, **_REFUSED_BY_ALIAS}
#: How many valid names an "unknown activation" message lists when nothing is close.
_SHOWN_NAMES = 8


def activation_names(*, aliases: bool = False) -> tuple[str, ...]:
    """Canonical names in registry order (with aliases appended if asked).

    Parameters
    ----------
    aliases : bool, optional
        Append the explicit aliases (spellings that differ from a name by case, ``-`` or
        ``_`` only are accepted too, but not listed).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> activation_names()[:3]
    ('identity', 'relu', 'leaky_relu')
    >>> "swish" in activation_names(aliases=True)
    True
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

    Case, ``-`` and ``_`` are ignored, so PyTorch's class names and the JAX/Keras
    function names work too (``LeakyReLU``, ``GELU``, ``SiLU``, ``ReLU6``, ``PReLU``,
    ``Hardswish``, ``LogSigmoid``, ``hard_tanh``, ``log_sigmoid``, ...).

    Parameters
    ----------
    name : str

    Returns
    -------
    NamedActivation or None
        ``None`` for anything that is not a name or alias of an entry (an expression,
        a typo, or one of the refused names such as ``hardshrink``).

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
    >>> lookup("ReLU6").expression
    'Min(Max(0, x), 6)'
    >>> lookup("tanh(x)") is None
    True
    """
    return _BY_ALIAS.get(_normalize(_require_name(name)))


def suggest(name: str) -> str | None:
    """The registry name closest to an unknown ``name`` (difflib), or ``None``.

    Names and aliases are compared case-insensitively, ignoring ``-`` and ``_``. The
    refused names (``hardshrink``, ``softshrink``) are suggested too: using one then says
    why it has no class.

    Parameters
    ----------
    name : str

    Returns
    -------
    str or None
        A canonical name.

    Raises
    ------
    TypeError
        For a ``name`` that is not a str.

    Examples
    --------
    >>> suggest("leaky_rleu")
    'leaky_relu'
    >>> suggest("gelu2")
    'gelu'
    >>> suggest("qwertyuiop") is None
    True
    """
    close = difflib.get_close_matches(_normalize(_require_name(name)), _KNOWN, n=1)
    return _KNOWN[close[0]].name if close else None


def _refused(entry: NamedActivation, name: str) -> ExpressionError:
    return ExpressionError(
        f"activation {name.strip()!r} ({entry.reference}: σ = {entry.expression}) has no "
        f"universality class: {entry.note}"
    )


def _unknown(name: str) -> ExpressionError:
    shown = name.strip()
    refused = _REFUSED_BY_ALIAS.get(_normalize(shown))
    if refused is not None:
        return _refused(refused, shown)
    hint = suggest(shown)
    if hint is not None:
        return ExpressionError(f"unknown activation {shown!r}; did you mean {hint}?")
    names = activation_names()
    valid = ", ".join(names[:_SHOWN_NAMES])
    return ExpressionError(
        f"unknown activation {shown!r}; valid names: {valid}, ... ({len(names)} in all: "
        "'saddle-escape classes' lists them); or write an expression in x such as 'tanh(x)'"
    )


def get_activation(name: str) -> NamedActivation:
    """The entry called ``name``.

    Parameters
    ----------
    name : str
        A canonical name or alias, matched ignoring case, ``-`` and ``_``.

    Returns
    -------
    NamedActivation

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ExpressionError
        (a ``ValueError``) If no activation has that name; the message suggests the
        closest name, or lists a few valid ones. ``hardshrink`` and ``softshrink`` are
        refused with the reason they have no class.

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
    >>> get_activation("Hardshrink")
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: activation 'Hardshrink' (...) has no \
universality class: σ ≡ 0 on [-1/2, 1/2], ...
    """
    entry = lookup(name)
    if entry is None:
        raise _unknown(name)
    return entry


def _is_bare_name(text: str) -> bool:
    """A lone identifier that is not a keyword and not a function of the parser."""
    return text.isidentifier() and not keyword.iskeyword(text) and text not in FUNCTIONS


def resolve_activation(activation) -> tuple[sp.Expr, str | None]:
    """σ as a SymPy expression in ``x``, and its registry name (or ``None``).

    Parameters
    ----------
    activation : str or sympy.Expr
        A registry name or alias, an expression string (parsed safely) or a SymPy
        expression (checked like a parsed one: finite constants, ``Piecewise`` defined
        everywhere).

    Returns
    -------
    tuple of (sympy.Expr, str or None)

    Raises
    ------
    ExpressionError
        For refused strings; for a lone identifier that is not a registry name or alias,
        not ``x``/``z`` and not a constant (``"LeakyRelu6"``: "unknown activation
        'LeakyRelu6'; did you mean leaky_relu?"), where as part of an expression
        (``"a*x"``) an identifier is a parameter; for ``hardshrink``/``softshrink`` (no
        class, see their notes); other input types (``None``, numbers; the message names
        the argument); a SymPy expression that has free symbols but not ``x``.

    Examples
    --------
    >>> resolve_activation("swish")
    (x/(1 + exp(-x)), 'silu')
    >>> resolve_activation("x + b*x**2")
    (b*x**2 + x, None)
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
    text = activation.strip()
    refused = _REFUSED_BY_ALIAS.get(_normalize(text))
    if refused is not None:  # "hardshrink", "Soft-Shrink": no class, say why
        raise _refused(refused, text)
    if not _is_bare_name(text):
        return parse_activation(activation).expr, None
    # A lone identifier that is no registry name (a typo, or a name we do not know): as an
    # expression it would be a constant parameter, which no one means. ``x``, ``z``, ``pi``
    # and ``E`` keep their meaning (and their messages) from the parser.
    try:
        parsed = parse_activation(text)
    except ExpressionError:  # e.g. "_foo", or longer than a parameter name may be
        raise _unknown(text) from None
    if parsed.parameters:
        raise _unknown(text)
    return parsed.expr, None
