import gc
import math
import operator
import signal
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import mpmath
import pytest
import sympy.core.cache
from saddle_escape.symbolic.outcomes import ExpressionError, TimeLimitError
from saddle_escape.symbolic.timeouts import (
    LimitNotEnforcedWarning,
    check_time_limit,
    run_limited,
    time_limit,
)

import saddle_escape as se

# Unbounded, classifying this takes minutes (more than 40 s on a fast machine).
HEAVY = "tanh(" * 12 + "x" + ")" * 12 + " + " + "sin(" * 12 + "x" + ")" * 12


def _spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _in_a_thread(func, *args, **kwargs):
    """``func(*args, **kwargs)`` in a worker thread, so that SIGALRM cannot be used."""
    pool = ThreadPoolExecutor(1)
    try:
        # Time out well after any correct answer, but do not wait for a runaway thread.
        return pool.submit(func, *args, **kwargs).result(timeout=60)
    finally:
        pool.shutdown(wait=False)


@pytest.fixture
def alarm_recorder():
    """A SIGALRM handler of the caller's that records every alarm (restored afterwards)."""
    calls = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: calls.append(time.monotonic()))
    yield calls
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


# -- the alarm in the main thread -----------------------------------------------


def test_limit_interrupts_long_work_promptly():
    start = time.monotonic()
    with pytest.raises(TimeLimitError, match="spinning took longer than the time limit of 0.2 s"):
        with time_limit(0.2, "spinning"):
            _spin(5)
    assert time.monotonic() - start < 1.0


def test_nested_limits_keep_the_outer_deadline():
    with pytest.raises(TimeLimitError, match="outer"):
        with time_limit(0.4, "outer"):
            with time_limit(0.2, "inner"):  # shorter: it takes over, then hands back
                pass
            with time_limit(5, "longer inner"):  # longer: the outer deadline stays
                _spin(5)


def test_no_limit_and_bad_limit():
    with time_limit(None, "nothing"):
        pass
    with pytest.raises(ValueError, match="positive"):
        with time_limit(0, "zero"):
            pass


def test_alarms_at_the_edge_of_the_body_never_escape_as_anything_else():
    # Work that ends right around the deadline: either it finishes or TimeLimitError,
    # never the internal interrupt (a late alarm must be harmless).
    outcomes = set()
    gc.disable()  # an interrupt inside a GC callback is swallowed by Python: not tested here
    try:
        _edge_loop(outcomes)
    finally:
        gc.enable()
    assert outcomes <= {"done", "limit"} and outcomes
    _spin(0.1)  # a stray re-armed alarm would fire here


def _edge_loop(outcomes):
    for k in range(300):
        try:
            with time_limit(0.002, "edge"):
                _spin(0.0015 + 0.00001 * (k % 100))
            outcomes.add("done")
        except TimeLimitError:
            outcomes.add("limit")


@pytest.mark.parametrize("seconds", [1e-9, 1e-7, 1e-6, 1e-4])
def test_tiny_limits_raise_cleanly_and_leave_no_alarm_behind(seconds, alarm_recorder):
    for _ in range(20):  # the alarm fires while the limit is still being set up
        with pytest.raises(TimeLimitError, match="tiny"):
            with time_limit(seconds, "tiny"):
                _spin(0.01)
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with pytest.raises(TimeLimitError, match="classifying 'tanh'"):
        se.classify("tanh", time_limit_seconds=seconds)
    time.sleep(0.3)  # an alarm left pending would reach the caller's handler here
    assert alarm_recorder == []


def test_an_interrupt_swallowed_by_the_body_still_ends_in_the_limit():
    with pytest.raises(TimeLimitError, match="swallower"):
        with time_limit(0.05, "swallower"):
            try:
                _spin(2)
            except BaseException:  # noqa: B036 - what careless code does
                pass


def _raise_precision_and_spin(seconds):
    mpmath.mp.prec = 500  # as if a workprec block were cut short before restoring it
    _spin(seconds)


def test_a_timeout_restores_mpmath_precision_and_clears_sympy_caches(monkeypatch):
    cleared = []
    original = sympy.core.cache.clear_cache
    monkeypatch.setattr(sympy.core.cache, "clear_cache", lambda: cleared.append(original()))
    with mpmath.workprec(200):
        with pytest.raises(TimeLimitError):
            run_limited(_raise_precision_and_spin, 5, seconds=0.1, what="precise spinning")
        assert mpmath.mp.prec == 200
        assert len(cleared) == 1
        run_limited(_spin, 0.01, seconds=1, what="quick spinning")  # no timeout: untouched
        assert len(cleared) == 1


# -- limits that are no limits, and bad ones --------------------------------------


@pytest.mark.parametrize("seconds", [None, math.inf, 1e300, 10**400, 2e6])
def test_huge_limits_mean_no_limit(seconds):
    assert check_time_limit(seconds) is None
    with time_limit(seconds, "unlimited"):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert se.classify("tanh", time_limit_seconds=seconds).class_.value == "B"


@pytest.mark.parametrize(
    "seconds, error",
    [("5", TypeError), (True, TypeError), ([5], TypeError), (0, ValueError), (-1, ValueError)]
    + [(math.nan, ValueError), (-math.inf, ValueError)],
)
def test_bad_limits_name_the_argument(seconds, error):
    with pytest.raises(error, match="time_limit_seconds must be"):
        se.classify("tanh", time_limit_seconds=seconds)
    with pytest.raises(error, match="seconds must be"):
        run_limited(abs, -1, seconds=seconds, what="an absolute value")


# -- a child process where the alarm cannot be used ----------------------------------


def test_child_process_returns_results_and_exceptions_of_their_own_type():
    start = time.monotonic()
    assert _in_a_thread(se.classify, "tanh") == se.classify("tanh")
    print(f"first call in a thread (child start included): {time.monotonic() - start:.2f} s")
    start = time.monotonic()
    with pytest.raises(ExpressionError, match="not valid syntax") as caught:
        _in_a_thread(se.classify, "x +* 1")
    assert "Traceback" in str(caught.value.__cause__)  # the child's, for debugging
    with pytest.raises(ZeroDivisionError):
        _in_a_thread(run_limited, operator.truediv, 1, 0, seconds=5, what="a division")
    with pytest.warns(UserWarning, match="careful"):
        _in_a_thread(run_limited, warnings.warn, "careful", seconds=5, what="a warning")
    with pytest.raises(TypeError, match="cannot be pickled"):
        _in_a_thread(run_limited, lambda: 1, seconds=5, what="a lambda")
    print(f"four more calls (child reused): {time.monotonic() - start:.2f} s")


def test_a_callers_interval_timer_and_handler_are_left_alone(alarm_recorder):
    handler = signal.getsignal(signal.SIGALRM)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    start = time.monotonic()
    with pytest.raises(TimeLimitError, match="a nap took longer"):
        run_limited(time.sleep, 30, seconds=0.3, what="a nap")  # in a child process
    assert time.monotonic() - start < 5
    with pytest.warns(LimitNotEnforcedWarning, match="in use by other code"):
        with time_limit(1, "a blocked limit"):
            pass
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL)[1] == pytest.approx(0.05)
    ticks = len(alarm_recorder)
    time.sleep(0.2)
    assert ticks >= 4 and len(alarm_recorder) >= ticks + 2  # and it keeps ticking


def test_classify_in_a_thread_pool_stops_at_the_limit():
    start = time.monotonic()
    with pytest.raises(TimeLimitError, match="time limit of 0.3 s"):
        _in_a_thread(se.classify, HEAVY, order=32, time_limit_seconds=0.3)
    elapsed = time.monotonic() - start
    print(f"thread-pool classify under a 0.3 s limit returned after {elapsed:.2f} s")
    assert elapsed < 5


def _limited_nothing():
    with time_limit(1, "nothing in a thread"):
        return threading.current_thread().name


def test_the_context_manager_warns_where_it_cannot_interrupt():
    with pytest.warns(LimitNotEnforcedWarning, match="main thread"):
        _in_a_thread(_limited_nothing)
