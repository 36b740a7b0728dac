"""Wall-clock limits for symbolic work on untrusted expressions.

SymPy has no cancellation points, so a limit is enforced from outside the work, in one of
two ways, chosen by :func:`run_limited`:

* **In the calling thread, with** ``SIGALRM`` (:class:`time_limit`), when that is sound: on
  POSIX, in the main thread, and with no interval timer (``ITIMER_REAL``) armed by someone
  else. The interrupt is a ``BaseException`` so that ``except Exception`` cannot swallow it;
  if it lands where Python itself discards exceptions (a GC or weakref callback), the alarm
  fires again 50 ms later. An alarm that arrives while the limit is being set up or torn down
  is postponed or ignored, so it never escapes as anything but :class:`TimeLimitError` and
  never outlives the ``with`` block. After an interrupted body, mpmath's working precision
  is restored and SymPy's caches are cleared.
* **In a child process** (multiprocessing's ``"spawn"`` context) everywhere else: worker
  threads (thread pools, Dask's threaded scheduler), Windows, or a main thread whose
  ``ITIMER_REAL`` belongs to someone else (whose timer and handler are then left exactly as
  they were). The child is killed at the deadline. Starting a child costs about 2 s (a new
  interpreter imports SymPy and this package), so an idle child is kept for the next call.

A limit that cannot be enforced (a worker thread of a daemonic process, which may not start
children; the :class:`time_limit` context manager outside the main thread) runs unbounded
with a :class:`LimitNotEnforcedWarning`; it is never silently ignored. Limits above
:data:`MAX_TIME_LIMIT` mean no limit.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import numbers
import os
import pickle
import signal
import threading
import time
import traceback
import warnings
from typing import cast

import mpmath
from saddle_escape.symbolic.outcomes import TimeLimitError
from sympy.core import cache as _sympy_cache

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "MAX_TIME_LIMIT",
    "LimitNotEnforcedWarning",
    "check_time_limit",
    "run_limited",
    "time_limit",
]

#: Default limit, in seconds, for the symbolic work on one user expression.
DEFAULT_TIME_LIMIT = 5.0
#: Limits above this many seconds (about 11.6 days) mean no limit at all.
MAX_TIME_LIMIT = 1e6

#: How long a child process may take to start and import the function it runs; this is on
#: top of the limit, which counts the work only.
_STARTUP_SECONDS = 60.0
#: An interrupt that Python swallowed (GC or weakref callback) is raised again this later.
_REFIRE_SECONDS = 0.05
#: An alarm that arrives while a limit is being set up is postponed by this much.
_POSTPONE_SECONDS = 1e-3
#: Idle child processes kept for later calls (about 120 MB each).
_MAX_IDLE_WORKERS = 4


class LimitNotEnforcedWarning(RuntimeWarning):
    """A wall-clock limit could not be enforced here; the work runs without it."""


class _Expired(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` cannot swallow it."""


def check_time_limit(seconds, name: str = "seconds") -> float | None:
    """Validate a wall-clock limit: positive seconds, or ``None`` for no limit.

    Parameters
    ----------
    seconds : float, int or None
        The limit. ``None``, ``math.inf`` and anything above :data:`MAX_TIME_LIMIT`
        (1e6 s) mean no limit.
    name : str, optional
        The argument's name, quoted in error messages (e.g. ``"time_limit_seconds"``).

    Returns
    -------
    float or None
        The limit in seconds, or ``None`` for no limit.

    Raises
    ------
    TypeError
        When ``seconds`` is not a real number (a string, a bool, ...).
    ValueError
        When ``seconds`` is zero, negative or NaN.

    Examples
    --------
    >>> check_time_limit(2), check_time_limit(None), check_time_limit(1e300)
    (2.0, None, None)
    >>> check_time_limit("5", "time_limit_seconds")
    Traceback (most recent call last):
    ...
    TypeError: time_limit_seconds must be a number of seconds or None, got '5' (str); ...
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(
            f"{name} must be a number of seconds or None, got {seconds!r} "
            f"({type(seconds).__name__}); pass e.g. {name}=5.0, or None for no limit"
        )
    # Any numbers.Real compares with numbers; typeshed's Real declares no __gt__.
    value = cast(float, seconds)
    if not value > 0:  # also NaN
        raise ValueError(
            f"{name} must be a positive number of seconds, got {seconds!r}; pass e.g. {name}=5.0, "
            "or None for no limit"
        )
    if value > MAX_TIME_LIMIT:
        return None
    return float(seconds)


def _alarm_unavailable() -> str | None:
    """Why ``SIGALRM`` cannot enforce a limit in this thread now (``None``: it can)."""
    if not hasattr(signal, "setitimer"):
        return "this platform has no SIGALRM interval timer"
    if threading.current_thread() is not threading.main_thread():
        return "SIGALRM can only interrupt the main thread"
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    if remaining or interval:
        owner = getattr(signal.getsignal(signal.SIGALRM), "__self__", None)
        if not (isinstance(owner, time_limit) and owner.active and not interval):
            return "the interval timer ITIMER_REAL is in use by other code"
    elif signal.getsignal(signal.SIGALRM) is None:
        return "the SIGALRM handler was installed outside Python and cannot be restored"
    return None


class time_limit:
    """Raise :class:`TimeLimitError` if the body runs longer than ``seconds``.

    The body runs in the calling thread and is interrupted with ``SIGALRM``, which works in
    the main thread on POSIX only, and only when no other code uses the ``ITIMER_REAL``
    timer. Elsewhere the body runs without a limit and a :class:`LimitNotEnforcedWarning` is
    issued; use :func:`run_limited` to have the work moved to a child process instead.

    If the limit interrupts the body, mpmath's working precision is restored to its value
    on entry and SymPy's caches are cleared. A body that finishes although the alarm
    interrupted it (something swallowed the interrupt) also raises :class:`TimeLimitError`.
    Nested limits keep the tighter deadline.

    Parameters
    ----------
    seconds : float or None
        The limit; ``None``, ``math.inf`` or more than :data:`MAX_TIME_LIMIT` disables it.
    what : str
        Names the work in the error message, e.g. ``"series of 'tanh(x)'"``.

    Raises
    ------
    TimeLimitError
        When the limit is reached.
    TypeError, ValueError
        When ``seconds`` is not a positive number (see :func:`check_time_limit`).

    Warns
    -----
    LimitNotEnforcedWarning
        When the limit cannot be enforced in this thread.

    Examples
    --------
    >>> with time_limit(2.0, "a quick sum"):
    ...     total = sum(range(10))
    >>> total
    45
    """

    def __init__(self, seconds: float | None, what: str):
        self.seconds, self.what = check_time_limit(seconds), what
        self.armed = False
        self.active = False
        self.fired = False

    def _expire(self, signum, frame):
        if not self.active:  # the body is over: nothing to interrupt
            return
        if frame is not None and frame.f_code in _OWN_CODES:
            # Arrived while some limit is being set up or torn down: never raise there. If
            # this limit is still on, try again a moment later (its __exit__ disarms it).
            signal.setitimer(signal.ITIMER_REAL, _POSTPONE_SECONDS)
            return
        self.fired = True
        # Fire again in 50 ms in case the interruption lands where Python swallows it.
        signal.setitimer(signal.ITIMER_REAL, _REFIRE_SECONDS)
        raise _Expired

    def __enter__(self):
        if self.seconds is None:
            return self
        reason = _alarm_unavailable()
        if reason is not None:
            warnings.warn(
                f"the time limit of {self.seconds:g} s on {self.what} is not enforced: "
                f"{reason}; call the work through run_limited(...) to run it in a child "
                "process under the limit",
                LimitNotEnforcedWarning,
                stacklevel=2,
            )
            return self
        # Nested limits: keep the tighter outer deadline running.
        self.remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        if self.remaining and self.remaining < self.seconds:
            return self
        self.prec = mpmath.mp.prec
        self.fired = False
        self.start = time.monotonic()
        self.previous = signal.signal(signal.SIGALRM, self._expire)
        self.armed = self.active = True
        # setitimer rounds up to whole microseconds; a 0 would disarm the timer instead.
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 1e-6))
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.armed:
            return False
        self.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        # Also runs a handler for an alarm still pending, in this frame, where it is ignored.
        signal.signal(signal.SIGALRM, self.previous)
        self.armed = False
        if self.fired:
            mpmath.mp.prec = self.prec  # an interrupted workprec may not have restored it
            _sympy_cache.clear_cache()  # nor may an interrupted cached function be trusted
        if self.remaining:  # give an enclosing limit back what is left of it
            left = self.remaining - (time.monotonic() - self.start)
            signal.setitimer(signal.ITIMER_REAL, max(left, _POSTPONE_SECONDS))
        if self.fired and (exc_type is None or issubclass(exc_type, (_Expired, Exception))):
            raise _limit_error(self.what, self.seconds) from (
                None if exc_type in (None, _Expired) else exc
            )
        return False


_OWN_CODES = frozenset({time_limit.__enter__.__code__, time_limit.__exit__.__code__})


def _limit_error(what: str, seconds: float) -> TimeLimitError:
    return TimeLimitError(
        f"{what} took longer than the time limit of {seconds:g} s; simplify "
        "the expression or raise the limit (time_limit_seconds=..., --time-limit)"
    )


def run_limited(func, /, *args, seconds, what: str, **kwargs):
    """Call ``func(*args, **kwargs)`` and raise :class:`TimeLimitError` after ``seconds``.

    In the main thread on POSIX (with ``ITIMER_REAL`` free or used by an enclosing
    :class:`time_limit`), ``func`` runs in the calling thread under :class:`time_limit`.
    Elsewhere — a worker thread, Windows, or a main thread whose interval timer belongs to
    other code (its timer and handler are left untouched) — ``func`` runs in a child process
    of the ``"spawn"`` context, which is killed at the deadline. There ``func``, its
    arguments and its result must be picklable (module-level functions, SymPy objects and
    frozen dataclasses are), an exception raised by ``func`` reaches the caller with its type
    and message (the child's traceback as its ``__cause__``), warnings are issued again in
    the caller, and mpmath's working precision is passed on. The limit counts the work
    only: starting a child takes about 2 s more the first time (it imports SymPy and this
    package) and is bounded separately; an idle child is kept and reused. As with every
    use of "spawn", a script that calls this from a worker thread needs the
    ``if __name__ == "__main__":`` guard.

    Parameters
    ----------
    func : callable
        The work; a module-level function (picklable by reference).
    *args, **kwargs
        Its arguments.
    seconds : float or None
        The limit; ``None``, ``math.inf`` or more than :data:`MAX_TIME_LIMIT` (1e6 s) runs
        ``func`` directly, without a limit.
    what : str
        Names the work in the error message, e.g. ``"classifying 'tanh'"``.

    Returns
    -------
    object
        What ``func`` returns.

    Raises
    ------
    TimeLimitError
        When the work takes longer than ``seconds`` (or a child does not start within 60 s).
    TypeError, ValueError
        When ``seconds`` is not a positive number, or (child process only) when ``func`` or
        its arguments cannot be pickled.
    RuntimeError
        When the child process dies without an answer (killed, out of memory, crashed).
    Exception
        Whatever ``func`` raises.

    Warns
    -----
    LimitNotEnforcedWarning
        In a worker thread of a daemonic process (which may not start children): ``func``
        then runs without a limit.

    Examples
    --------
    >>> run_limited(pow, 2, 10, seconds=1.0, what="a power")
    1024
    >>> import time
    >>> try:
    ...     run_limited(time.sleep, 5, seconds=0.1, what="a nap")
    ... except TimeoutError as exc:
    ...     print(type(exc).__name__, exc.status.value)
    TimeLimitError time_limit
    """
    seconds = check_time_limit(seconds)
    if seconds is None:
        return func(*args, **kwargs)
    reason = _alarm_unavailable()
    if reason is None:
        with time_limit(seconds, what):
            return func(*args, **kwargs)
    if multiprocessing.current_process().daemon:
        warnings.warn(
            f"the time limit of {seconds:g} s on {what} is not enforced: {reason}, and this "
            "daemonic process may not start a child process; call it from the main thread "
            "(for Dask workers: set the config distributed.worker.daemon to False)",
            LimitNotEnforcedWarning,
            stacklevel=2,
        )
        return func(*args, **kwargs)
    return _run_in_child(func, args, kwargs, seconds, what)


# -- the child-process path -----------------------------------------------------------


class _ChildTraceback(Exception):
    """The traceback of an exception raised in the child (set as its ``__cause__``)."""

    def __str__(self):
        return self.args[0]


class _Worker:
    """A spawned process that runs one limited call at a time (see :func:`_serve`)."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child_end,), name="saddle-escape-time-limit", daemon=True
        )
        try:
            self.process.start()
        except BaseException:
            self.conn.close()
            raise
        finally:
            child_end.close()
        self.ready = False

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.process.close()
        self.conn.close()

    def receive(self, timeout: float, what: str):
        """The next message, or ``None`` at the timeout; RuntimeError if the child died."""
        ready = multiprocessing.connection.wait([self.conn, self.process.sentinel], timeout)
        if not ready:
            return None
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join()
            code = self.process.exitcode
        if not self.ready:
            raise RuntimeError(
                f"the child process for {what} exited while starting (exit code {code}); "
                "it imports the caller's __main__ module again (multiprocessing 'spawn'), so "
                "a script needs the if __name__ == '__main__': guard and cannot be read from "
                "stdin; the child's error output says more"
            )
        raise RuntimeError(
            f"the child process for {what} died without an answer (exit code {code}); it "
            "may have run out of memory or been killed"
        )


_idle: list[_Worker] = []
_idle_lock = threading.Lock()


def _forget_workers() -> None:
    """After ``os.fork()``: the idle workers belong to the parent."""
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _acquire() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.process.is_alive():
                return worker
            worker.kill()  # it died while idle (killed, out of memory): reap it
    return _Worker()


def _release(worker: _Worker) -> None:
    with _idle_lock:
        if len(_idle) < _MAX_IDLE_WORKERS and worker.process.is_alive():
            _idle.append(worker)
            return
    worker.kill()


def _run_in_child(func, args, kwargs, seconds, what):
    try:
        request = pickle.dumps((func, args, kwargs, mpmath.mp.prec), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"{what} must run in a child process to be held to its time limit, but the "
            f"function or its arguments cannot be pickled ({exc}); pass a module-level "
            "function, or call it from the main thread"
        ) from exc
    worker = _acquire()
    try:
        kind, payload, notes = _exchange(worker, request, seconds, what)
    except BaseException:  # the limit, a dead child, or the caller interrupted
        worker.kill()
        raise
    error = None if kind == "ok" else _rebuild_exception(*payload)
    if error is None or isinstance(error, Exception):
        _release(worker)
    else:  # SystemExit, KeyboardInterrupt, MemoryError...: the child has exited
        worker.kill()
    for category, text in notes:
        warnings.warn(text, category, stacklevel=3)
    if error is not None:
        raise error
    return payload


def _exchange(worker: _Worker, request: bytes, seconds: float, what: str) -> tuple:
    """Send ``request``; the child's ``(kind, payload, warnings)`` once it has finished."""
    if not worker.ready:  # a new child says so once it has started and listens
        _startup_message(worker, what)
        worker.ready = True
    worker.conn.send_bytes(request)
    message = _startup_message(worker, what)  # "started" once func and args are unpickled
    if message[0] != "started":  # the request itself failed in the child
        return message
    message = worker.receive(seconds, what)
    if message is None:
        raise _limit_error(what, seconds)
    return message


def _startup_message(worker: _Worker, what: str) -> tuple:
    message = worker.receive(_STARTUP_SECONDS, what)
    if message is None:
        raise TimeLimitError(
            f"the child process for {what} did not start within {_STARTUP_SECONDS:g} s; "
            "the machine may be overloaded"
        )
    return message


def _rebuild_exception(data, module, qualname, text, trace):
    """The child's exception: unpickled, else rebuilt from its type and message."""
    try:
        exc = pickle.loads(data)
    except Exception:
        exc = None
    if not isinstance(exc, BaseException):
        try:
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            exc = cls(text)
        except Exception:
            exc = RuntimeError(f"{module}.{qualname}: {text}")
        if not isinstance(exc, BaseException):
            exc = RuntimeError(f"{module}.{qualname}: {text}")
    exc.__cause__ = _ChildTraceback(f'\n"""\n{trace}"""')
    return exc


def _serve(conn) -> None:
    """Body of a child process: run requests from ``conn`` until the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent = multiprocessing.parent_process()
    if parent is not None:  # never outlive the parent, even in the middle of a computation
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    conn.send(("ready", None, ()))
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        fatal = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                func, args, kwargs, prec = pickle.loads(request)
                conn.send(("started", None, ()))
                mpmath.mp.prec = prec
                reply = ("ok", func(*args, **kwargs))
            except BaseException as exc:  # reported to the parent, which raises it again
                reply = ("error", _exception_payload(exc))
                fatal = not isinstance(exc, Exception)
        notes = _warning_notes(caught)
        try:
            data = pickle.dumps((*reply, notes), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            error = TypeError(f"the result cannot be pickled to send it back: {exc}")
            data = pickle.dumps(("error", _exception_payload(error), notes))
        conn.send_bytes(data)
        if fatal:
            return


def _exit_with(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _warning_notes(caught) -> tuple:
    """``(category, message)`` of each warning, with a picklable category."""
    notes = []
    for w in caught:
        category = w.category
        try:
            pickle.loads(pickle.dumps(category))
        except Exception:
            category = RuntimeWarning
        notes.append((category, str(w.message)))
    return tuple(notes)


def _exception_payload(exc: BaseException) -> tuple:
    try:
        data = pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:
        data = b""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (data, type(exc).__module__, type(exc).__qualname__, str(exc), trace)
