"""Wall-clock limits for symbolic work on untrusted expressions.

SymPy has no cancellation points, so the limit is enforced with ``SIGALRM``
(POSIX, main thread). The interrupt is a ``BaseException`` so that ``except Exception``
cannot swallow it; if it lands where Python itself discards exceptions (a GC or weakref
callback), the alarm fires again 50 ms later. Elsewhere (worker threads, Windows) the work runs
unbounded; the input length and depth limits of the parser still apply.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator

from symbolic.errors import TimeLimitError

__all__ = ["DEFAULT_TIME_LIMIT", "time_limit"]

#: Default limit, in seconds, for the symbolic work on one user expression.
DEFAULT_TIME_LIMIT = 5.0


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _Expired(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`TimeLimitError` if the body runs longer than ``seconds``.

    Parameters
    ----------
    seconds : float or None
        The limit; ``None`` or ``math.inf`` disables it.
    what : str
        Names the work in the error message, e.g. ``"series of 'tanh(x)'"``.

    Raises
    ------
    TimeLimitError
        When the limit is reached.
    ValueError
        When ``seconds`` is not positive.

    Examples
    --------
    >>> with time_limit(2.0, "a quick sum"):
    ...     total = sum(range(10))
    >>> total
    45
    """
    if seconds is None or seconds == math.inf:
        yield
        return
    if not seconds > 0:
        raise ValueError(f"time limit must be positive seconds, got {seconds!r}")
    if not _can_alarm():
        yield
        return
    # Nested limits: keep the tighter outer deadline running.
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    if remaining and remaining < seconds:
        yield
        return

    active = [True]  # a late-delivered alarm after the body must not raise

    def _expire(signum, frame):
        if not active[0]:
            return
        # Fire again in 50 ms in case library code swallows this interruption.
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        raise _Expired

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _expire)
    expired = False
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            yield
        finally:
            active[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        expired = True
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:  # give an enclosing limit back what is left of it
            left = remaining - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))
    if expired:
        raise TimeLimitError(
            f"{what} took longer than the time limit of {seconds:g} s; simplify the "
            "expression or raise the limit (time_limit_seconds=..., --time-limit)"
        )
