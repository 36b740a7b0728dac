"""Symbolic layer: safe parsing, exact series, derivations (SymPy only)."""

from symbolic.errors import ConvergenceError, ExpressionError, TimeLimitError
from symbolic.parsing import ParsedExpression, ParseLimits, X, parse_activation, parse_expression

__all__ = [
    "ConvergenceError",
    "ExpressionError",
    "TimeLimitError",
    "X",
    "ParseLimits",
    "ParsedExpression",
    "parse_activation",
    "parse_expression",
]
