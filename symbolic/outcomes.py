"""Outcomes shared by every layer: one status enum, and the exceptions that carry it.

Every solver of the toolkit (the escape engine, the reduced and full systems, the
asymptotic expansion, quadratures) ends with a :class:`Status`. A status is a value: a
result carries it, and ``throw=True`` turns a failed one into an exception that carries
it too (diffrax ``RESULTS``). The command line maps statuses to exit codes and never
reads error text.

Exceptions subclass built-ins so that callers who do not know this package can still
catch them as ``ValueError``, ``RuntimeError`` or ``TimeoutError``.
"""

from __future__ import annotations

import enum

__all__ = [
    "Status",
    "ExpressionError",
    "ConvergenceError",
    "BudgetExhaustedError",
    "TimeLimitError",
    "EXIT_SUCCESS",
    "EXIT_BAD_INPUT",
    "EXIT_NO_ESCAPE",
    "EXIT_LIMIT",
]

#: Exit codes of the command line (also documented in the README).
EXIT_SUCCESS, EXIT_BAD_INPUT, EXIT_NO_ESCAPE, EXIT_LIMIT = 0, 2, 3, 4


class Status(enum.Enum):
    """How a computation ended; ``.message`` says what it means and what to do next.

    Examples
    --------
    >>> Status.NO_ESCAPE.exit_code, Status.BUDGET_EXHAUSTED.exit_code
    (3, 4)
    >>> Status("escaped").ok
    True
    """

    #: The computation finished and its result is valid.
    SUCCESS = "success"
    #: The loss (or the overlap) crossed the escape threshold.
    ESCAPED = "escaped"
    #: The loss cannot reach the threshold: a proven floor, or a stationary point above it.
    NO_ESCAPE = "no_escape"
    #: Two computations at different accuracy disagree, or an integrator failed.
    NOT_CONVERGED = "not_converged"
    #: The state or the loss overflowed or became NaN.
    NON_FINITE = "non_finite"
    #: A deterministic work budget (evaluations, steps, order, nodes, horizon) ran out.
    BUDGET_EXHAUSTED = "budget_exhausted"
    #: A wall-clock limit was reached.
    TIME_LIMIT = "time_limit"

    @property
    def ok(self) -> bool:
        """Whether the result is valid (success or escaped)."""
        return self in (Status.SUCCESS, Status.ESCAPED)

    @property
    def exit_code(self) -> int:
        """0 success, 3 no escape / not converged, 4 budget or time limit."""
        if self.ok:
            return EXIT_SUCCESS
        if self in (Status.BUDGET_EXHAUSTED, Status.TIME_LIMIT):
            return EXIT_LIMIT
        return EXIT_NO_ESCAPE

    @property
    def message(self) -> str:
        """What the status means and how to proceed."""
        return _MESSAGES[self]


_MESSAGES = {
    Status.SUCCESS: "finished",
    Status.ESCAPED: "the loss crossed the escape threshold",
    Status.NO_ESCAPE: (
        "no escape: the loss cannot reach the threshold (a proven floor, or a stationary "
        "point or limit above it); choose a reachable threshold (a larger fraction) or "
        "another initialization"
    ),
    Status.NOT_CONVERGED: (
        "not converged: two computations at different accuracy disagree or the integrator "
        "failed; tighten rtol, or raise dps or the number of quadrature nodes"
    ),
    Status.NON_FINITE: (
        "non-finite values: the state or the loss overflowed or became NaN; use smaller "
        "scales or a bounded activation"
    ),
    Status.BUDGET_EXHAUSTED: (
        "budget exhausted: the work budget ran out before the computation finished; raise "
        "the budget (max_evaluations, t_max, order, nodes) if the run is worth it"
    ),
    Status.TIME_LIMIT: (
        "time limit: the wall-clock limit was reached; raise time_limit_seconds (--time-limit)"
    ),
}


class ExpressionError(ValueError):
    """An activation or loss expression is malformed, refused, or not usable.

    The message quotes the offending piece of the input and says how to fix it.
    """


class ConvergenceError(RuntimeError):
    """A numerical computation did not end with a valid result.

    Attributes
    ----------
    status : Status
        Why (never ``SUCCESS`` or ``ESCAPED``).
    result : object or None
        The failed result, when one was built (it has ``status`` and counters too).
    """

    default_status = Status.NOT_CONVERGED

    def __init__(self, message: str, *, status: Status | None = None, result: object = None):
        super().__init__(message)
        self.status = status or self.default_status
        self.result = result


class BudgetExhaustedError(ConvergenceError):
    """A deterministic work budget ran out before the computation finished."""

    default_status = Status.BUDGET_EXHAUSTED


class TimeLimitError(TimeoutError):
    """Work exceeded its wall-clock limit (``time_limit_seconds``).

    Attributes
    ----------
    status : Status
        Always :attr:`Status.TIME_LIMIT`.
    """

    status = Status.TIME_LIMIT
