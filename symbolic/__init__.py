"""Symbolic layer: safe parsing, exact series, derivations (SymPy only)."""

from saddle_escape.symbolic.outcomes import (
    BudgetExhaustedError,
    ConvergenceError,
    ExpressionError,
    Status,
    TimeLimitError,
)
from saddle_escape.symbolic.parsing import (
    ParsedExpression,
    ParseLimits,
    X,
    parse_activation,
    parse_expression,
)

__all__ = [
    "BudgetExhaustedError",
    "ConvergenceError",
    "ExpressionError",
    "Status",
    "TimeLimitError",
    "X",
    "ParseLimits",
    "ParsedExpression",
    "parse_activation",
    "parse_expression",
]
