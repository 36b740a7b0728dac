"""saddle-escape: the theory of saddle escape in deep nonlinear networks, as a toolkit.

Rawal & DeWeese, "A Theory of Saddle Escape in Deep Nonlinear Networks",
arXiv:2605.01288. This package re-exports the public API of ``symbolic``,
``classes`` and ``numeric``; the command line is ``saddle-escape``.

Examples
--------
>>> import saddle_escape as se
>>> se.classify("gelu").class_.value
'C'
"""

from classes import (
    REGISTRY,
    Classification,
    NamedActivation,
    UniversalityClass,
    activation_names,
    classify,
    get_activation,
)
from symbolic import (
    ConvergenceError,
    ExpressionError,
    ParseLimits,
    TimeLimitError,
    parse_activation,
    parse_expression,
)

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "Classification",
    "NamedActivation",
    "UniversalityClass",
    "activation_names",
    "classify",
    "get_activation",
    "ConvergenceError",
    "ExpressionError",
    "ParseLimits",
    "TimeLimitError",
    "parse_activation",
    "parse_expression",
    "__version__",
]
