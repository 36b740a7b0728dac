"""Wall-clock limits for symbolic work on untrusted expressions.

SymPy has no cancellation points, so the limit is enforced with ``SIGALRM``
(POSIX, main thread). The interrupt is a ``BaseException`` so that ``except Exception``
cannot swallow it; if it lands where Python itself discards exceptions (a GC or weakref
callback), the alarm fires again 50 ms later. Elsewhere (worker threads, Windows) the work runs
unbounded; the input length and depth limits of the parser still apply.
"""

from __future__ import annotations

import math
import signal
import threading
import time

from saddle_escape.symbolic.outcomes import TimeLimitError

__all__ = ["DEFAULT_TIME_LIMIT", "time_limit"]

#: Default limit, in seconds, for the symbolic work on one user expression.
DEFAULT_TIME_LIMIT = 5.0


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _Expired(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` cannot swallow it."""


class time_limit:
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

    def __init__(self, seconds: float | None, what: str):
        if seconds is not None and seconds != math.inf and not seconds > 0:
            raise ValueError(f"time limit must be positive seconds, got {seconds!r}")
        self.seconds, self.what = seconds, what
        self.armed = False
        self.active = False

    def _expire(self, signum, frame):
        # Never interrupt our own clean-up, nor anything once the body is over.
        if not self.active or frame is not None and frame.f_code is _EXIT_CODE:
            return
        # Fire again in 50 ms in case the interruption lands where Python swallows it.
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        raise _Expired

    def __enter__(self):
        if self.seconds is None or self.seconds == math.inf or not _can_alarm():
            return self
        # Nested limits: keep the tighter outer deadline running.
        self.remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        if self.remaining and self.remaining < self.seconds:
            return self
        self.start = time.monotonic()
        self.previous = signal.signal(signal.SIGALRM, self._expire)
        self.armed = self.active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.armed:
            return False
        self.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        if self.remaining:  # give an enclosing limit back what is left of it
            left = self.remaining - (time.monotonic() - self.start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))
        if exc_type is _Expired:
            raise TimeLimitError(
                f"{self.what} took longer than the time limit of {self.seconds:g} s; simplify "
                "the expression or raise the limit (time_limit_seconds=..., --time-limit)"
            ) from None
        return False


_EXIT_CODE = time_limit.__exit__.__code__
