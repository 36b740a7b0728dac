"""Exceptions shared by every layer of saddle-escape.

They subclass built-ins so that callers who do not know this package can still
catch them as ``ValueError`` or ``RuntimeError``.
"""

from __future__ import annotations

__all__ = ["ExpressionError", "ConvergenceError", "TimeLimitError"]


class ExpressionError(ValueError):
    """An activation or loss expression is malformed, refused, or not usable.

    The message quotes the offending piece of the input and says how to fix it.
    """


class TimeLimitError(ExpressionError):
    """Symbolic work on an expression exceeded its time limit."""


class ConvergenceError(RuntimeError):
    """A numerical computation did not reach the requested accuracy."""
