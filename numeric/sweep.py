r"""Declarative sweeps: a TOML grid of cases, run anywhere, each result stored as it lands.

A spec names the grid; every case is a dictionary of canonical parameters with a
deterministic key; :func:`run_sweep` runs the cases that the store does not already hold
(on local processes, in this process, or on a Dask cluster) and writes each record into
the :class:`~saddle_escape.numeric.store.ResultsStore` the moment it finishes, from this
(the coordinating) process only.

The spec (TOML)::

    [grid]                      # every value a non-empty list: the axes of the grid
    activation = ["tanh"]
    depth = [5]
    width = [16]
    bottleneck = [[2, 3, 4]]    # 1-based layers whose He-normal weights are times ε
    eps = [0.3, 0.2, 0.1]
    seed = [0, 1, 2]

    [options]                   # optional: single values for every case
    samples = 256

The keys ``activation depth width bottleneck eps seed`` are required (in ``[grid]``); the
optional ones (in ``[grid]`` as lists, or in ``[options]`` as single values) and their
defaults are :data:`DEFAULTS`; they are those of ``saddle-escape simulate``: He-normal
init, input dimension d = N, a Gaussian sample of 256 inputs (seeded ``10000 + seed``;
d = 1 uses the exact population), gradient flow to half the initial loss with
``rtol = 1e-6``. ``[[grid]]`` (an array of tables) gives several grids in one spec.

Failure policy: a worker that dies (killed, out of memory) loses only the cases it was
running; the pool is rebuilt and they are retried, at most ``max_attempts`` times each.
Ctrl-C stops submitting, waits for the running cases and stores them; a second Ctrl-C
stops at once. A killed coordinator loses only the cases in flight; the store is never
corrupted (SQLite, WAL, one transaction per record) and rerunning the same command
continues where it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from saddle_escape.classes.gate import AdmittedActivation, admit_activation
from saddle_escape.numeric.functions import get_loss
from saddle_escape.numeric.simulate import (
    SweepRecord,
    full_escape_time,
    he_network,
    he_sweep,
    local_executor,
    population_dataset,
    sample_dataset,
    slope_summary,
)
from saddle_escape.numeric.store import (
    OK_STATUSES,
    CaseRecord,
    ResultsStore,
    package_version,
    utc_now,
)
from saddle_escape.symbolic.asymptotics import expected_slope
from saddle_escape.symbolic.outcomes import Status

__all__ = [
    "REQUIRED",
    "DEFAULTS",
    "OPTIMIZERS",
    "MAX_CASES",
    "Case",
    "SweepSpec",
    "parse_spec",
    "load_spec",
    "case_key",
    "run_case",
    "SweepSummary",
    "run_sweep",
    "GroupSummary",
    "summarize",
]

#: Keys every spec names in ``[grid]``.
REQUIRED = ("activation", "depth", "width", "bottleneck", "eps", "seed")
#: Optimizers a spec may name (``flow`` is gradient flow; the others are discrete).
OPTIMIZERS = ("flow", "gd", "sgd", "momentum")


def _simulate_defaults() -> dict[str, Any]:
    # Read from the functions ``simulate`` calls, so that the two cannot drift apart.
    sweep = inspect.signature(he_sweep).parameters
    flow = inspect.signature(full_escape_time).parameters
    return {
        "init": "he",
        "input_dim": None,  # None: d = N (the width), as simulate
        "samples": sweep["samples"].default,
        "dataset": "gaussian",
        "target": None,
        "optimizer": "flow",
        "lr": None,
        "batch_size": None,
        "momentum": None,
        "replacement": False,
        "fraction": flow["fraction"].default,
        "rtol": sweep["rtol"].default,
        "loss": flow["loss"].default,
    }


#: Optional keys and their defaults (those of ``saddle-escape simulate``); ``None``: not set.
DEFAULTS: Mapping[str, Any] = MappingProxyType(_simulate_defaults())
#: At most this many cases in one spec (the grid's size is checked before expanding it).
MAX_CASES = 100_000
#: Largest spec file read (bytes), longest string value, longest axis.
MAX_SPEC_BYTES, MAX_STRING, MAX_AXIS = 1_000_000, 500, 10_000
#: Largest networks a sweep builds (as ``simulate``).
MAX_DEPTH, MAX_WIDTH, MAX_INPUT_DIM, MAX_SAMPLES = 64, 4096, 100_000, 10_000_000
#: How a case key is made: the hash of this tag and the canonical parameters.
KEY_SCHEME = "saddle-escape case v1"

_TOP_LEVEL = ("grid", "options")
# Keys that only some cases use; naming one that no case uses is an error.
_CONDITIONAL = ("input_dim", "samples", "target", "lr", "batch_size", "momentum", "replacement")
_USES = {
    "input_dim": "the Gaussian data set (dataset = 'gaussian')",
    "samples": "the Gaussian data set with input dimension d > 1",
    "target": "a named data set",
    "lr": "the optimizers gd, sgd and momentum",
    "batch_size": "the optimizers sgd and momentum",
    "momentum": "the optimizer momentum",
    "replacement": "the optimizer sgd (minibatches drawn with replacement)",
}


# -- validation of single values ------------------------------------------------------------


def _type_name(value) -> str:
    return type(value).__name__


def _integer(value, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be a whole number, got {value!r} ({_type_name(value)})")
    if not low <= value <= high:
        raise ValueError(f"{where} must be from {low} to {high}, got {value}")
    return int(value)


def _real(value, where: str, *, low: float, high: float, closed_low=False, closed_high=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r} ({_type_name(value)})")
    value = float(value)
    ok_low = value >= low if closed_low else value > low
    ok_high = value <= high if closed_high else value < high
    if not (math.isfinite(value) and ok_low and ok_high):
        interval = f"{'[' if closed_low else '('}{low:g}, {high:g}{']' if closed_high else ')'}"
        raise ValueError(f"{where} must be a finite number in {interval}, got {value!r}")
    return value


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r} ({_type_name(value)})")
    if len(value) > MAX_STRING:
        raise ValueError(f"{where} is {len(value)} characters long; at most {MAX_STRING}")
    if not value.strip() or not value.isprintable():
        raise ValueError(f"{where} must be printable, non-blank text, got {value!r}")
    return value.strip()


def _choice(value, where: str, choices: Sequence[str]) -> str:
    text = _text(value, where).lower()
    if text not in choices:
        raise ValueError(f"{where} must be one of {list(choices)}, got {value!r}")
    return text


def _bottleneck(value, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"{where} must be a non-empty list of 1-based layer numbers such as [2, 3, 4], "
            f"got {value!r}"
        )
    layers = [_integer(v, f"{where}[{n}]", 1, MAX_DEPTH) for n, v in enumerate(value)]
    if len(set(layers)) != len(layers):
        raise ValueError(f"{where} lists a layer twice: {value!r}")
    return sorted(layers)


def _boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r} ({_type_name(value)})")
    return value


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "activation": _text,
    "depth": lambda v, w: _integer(v, w, 2, MAX_DEPTH),
    "width": lambda v, w: _integer(v, w, 1, MAX_WIDTH),
    "bottleneck": _bottleneck,
    "eps": lambda v, w: _real(v, w, low=0.0, high=1.0),
    "seed": lambda v, w: _integer(v, w, 0, 2**32 - 1),
    "init": lambda v, w: _choice(v, w, ("he",)),
    "input_dim": lambda v, w: _integer(v, w, 1, MAX_INPUT_DIM),
    "samples": lambda v, w: _integer(v, w, 1, MAX_SAMPLES),
    "dataset": _text,
    "target": _text,
    "optimizer": lambda v, w: _choice(v, w, OPTIMIZERS),
    "lr": lambda v, w: _real(v, w, low=0.0, high=math.inf),
    "batch_size": lambda v, w: _integer(v, w, 1, MAX_SAMPLES),
    "momentum": lambda v, w: _real(v, w, low=0.0, high=1.0, closed_low=True),
    "replacement": _boolean,
    "fraction": lambda v, w: _real(v, w, low=0.0, high=1.0),
    "rtol": lambda v, w: _real(v, w, low=0.0, high=0.1),
    "loss": _text,
}
assert set(_CHECKS) == set(REQUIRED) | set(DEFAULTS)  # one check per key


# -- cases -------------------------------------------------------------------------------


def case_key(params: Mapping[str, Any]) -> str:
    """The deterministic key of a case: SHA-256 of its canonical parameters (seed included).

    Canonical: sorted keys, compact separators, floats as Python prints them (the
    shortest text that reads back to the same float).

    Examples
    --------
    >>> a = case_key({"eps": 0.1, "seed": 0})
    >>> a == case_key({"seed": 0, "eps": 0.1}), a == case_key({"eps": 0.1, "seed": 1})
    (True, False)
    >>> len(a)
    64
    """
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"{KEY_SCHEME}\n{text}".encode()).hexdigest()


@dataclass(frozen=True)
class Case:
    """One case of a sweep: its key, its canonical parameters, the admitted activation."""

    key: str
    params: dict = field(hash=False)
    activation: AdmittedActivation = field(repr=False, compare=False, hash=False)

    def to_dict(self) -> dict:
        return {"key": self.key, "params": dict(self.params)}


@dataclass(frozen=True)
class SweepSpec:
    """The cases of a spec, in grid order, without duplicates.

    Attributes
    ----------
    cases : tuple of Case
    source : str
        Where the spec came from (a file name, or ``"spec"``).
    """

    cases: tuple[Case, ...]
    source: str = "spec"

    def __len__(self) -> int:
        return len(self.cases)

    def to_dict(self) -> dict:
        return {"source": self.source, "cases": [c.to_dict() for c in self.cases]}


def _read_toml(text: str, source: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError(
                "reading a sweep spec needs Python ≥ 3.11 (tomllib) or the tomli package"
            ) from None
    if len(text) > MAX_SPEC_BYTES:
        raise ValueError(f"{source}: the spec is {len(text)} characters; at most {MAX_SPEC_BYTES}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc})") from None


def _axes(grid, options, where: str) -> dict[str, list]:
    """Validated axes of one grid, the options as one-value axes."""
    if not isinstance(grid, Mapping):
        raise ValueError(f"{where} must be a table of lists, got {_type_name(grid)}")
    allowed = set(_CHECKS)
    axes: dict[str, list] = {}
    for name, values in grid.items():
        if name not in allowed:
            raise ValueError(f"{where}.{name}: unknown key; the keys are {sorted(allowed)}")
        if name in options:
            raise ValueError(f"{name} is given in both {where} and [options]; give it once")
        if not isinstance(values, list):
            raise ValueError(
                f"{where}.{name} must be a list of values (an axis of the grid), got "
                f"{values!r}; put single values in [options]"
            )
        if not values:
            raise ValueError(f"{where}.{name} is an empty list: give at least one value")
        if len(values) > MAX_AXIS:
            raise ValueError(f"{where}.{name} has {len(values)} values; at most {MAX_AXIS}")
        axes[name] = [_CHECKS[name](v, f"{where}.{name}[{n}]") for n, v in enumerate(values)]
    missing = [name for name in REQUIRED if name not in axes and name not in options]
    if missing:
        raise ValueError(f"{where} is missing {missing}; every spec names {list(REQUIRED)}")
    for name, value in options.items():
        axes[name] = [value]
    return axes


def _case_params(values: dict[str, Any], where: str) -> dict[str, Any]:
    """The canonical parameters of one combination: defaults filled, unused keys dropped."""
    p = {**DEFAULTS, **values}
    depth = p["depth"]
    if max(p["bottleneck"]) > depth:
        raise ValueError(
            f"{where}.bottleneck {p['bottleneck']} names layer {max(p['bottleneck'])} but "
            f"depth {depth} has layers 1..{depth}; use one grid per depth ([[grid]] tables)"
        )
    params: dict[str, Any] = {
        name: p[name]
        for name in (
            "activation",
            "init",
            "depth",
            "width",
            "bottleneck",
            "eps",
            "seed",
            "dataset",
            "optimizer",
            "fraction",
            "loss",
        )
    }
    if p["dataset"] == "gaussian":
        if p["target"] is not None:
            raise ValueError(f"{where}.target names a target but the data set is 'gaussian'")
        d = p["width"] if p["input_dim"] is None else p["input_dim"]
        params["input_dim"] = d
        if d > 1:
            params["samples"] = p["samples"]
    else:
        if p["input_dim"] is not None:
            raise ValueError(
                f"{where}.input_dim: a named data set ({p['dataset']!r}) fixes the input "
                "dimension; drop input_dim"
            )
        if p["target"] is not None:
            params["target"] = p["target"]
    optimizer = p["optimizer"]
    if optimizer == "flow":
        params["rtol"] = p["rtol"]
        return params
    need = {"gd": ("lr",), "sgd": ("lr", "batch_size"), "momentum": ("lr", "momentum")}[optimizer]
    for name in need:
        if p[name] is None:
            raise ValueError(f"{where}: optimizer {optimizer!r} needs {name}; add it to the grid")
        params[name] = p[name]
    if optimizer in ("sgd", "momentum") and p["batch_size"] is not None:
        params["batch_size"] = p["batch_size"]
    if optimizer == "sgd":
        params["replacement"] = p["replacement"]
    return params


def _admitted(name: str, cache: dict, where: str) -> AdmittedActivation:
    if name not in cache:
        try:
            cache[name] = admit_activation(name)
        except ValueError as exc:  # ExpressionError: refused by the gate
            raise ValueError(f"{where}: {exc}") from None
    return cache[name]


def parse_spec(spec, *, source: str = "spec") -> SweepSpec:
    r"""The cases of a sweep spec (TOML text, or the table it parses to), validated.

    Every value is checked (type, range, printable text); activations pass through
    :func:`~saddle_escape.classes.gate.admit_activation` once each, losses through
    :func:`~saddle_escape.numeric.functions.get_loss`. Cases with the same canonical
    parameters (the same key) are kept once.

    Parameters
    ----------
    spec : str or mapping
        TOML text, or a mapping ``{"grid": {...}, "options": {...}}``.
    source : str, optional
        How error messages name the spec.

    Returns
    -------
    SweepSpec

    Raises
    ------
    ValueError
        Naming the key and the reason: invalid TOML, unknown or missing keys, wrong
        types, empty lists, values out of range, refused activations or losses, a
        bottleneck deeper than the network, an optimizer without its learning rate, a
        key no case uses, or more than :data:`MAX_CASES` cases.

    Examples
    --------
    >>> spec = parse_spec('''
    ... [grid]
    ... activation = ["tanh"]
    ... depth = [5]
    ... width = [16]
    ... bottleneck = [[2, 3, 4]]
    ... eps = [0.3, 0.2, 0.1]
    ... seed = [0, 1, 2]
    ... ''')
    >>> len(spec), spec.cases[0].params["samples"], spec.cases[0].params["rtol"]
    (9, 256, 1e-06)
    >>> parse_spec('[grid]\nactivation = ["tanh"]\ndepth = []')
    Traceback (most recent call last):
    ...
    ValueError: [grid].depth is an empty list: give at least one value
    """
    if isinstance(spec, str):
        spec = _read_toml(spec, source)
    if not isinstance(spec, Mapping):
        raise ValueError(f"{source}: a spec is a table with [grid], got {_type_name(spec)}")
    unknown = sorted(set(spec) - set(_TOP_LEVEL))
    if unknown:
        raise ValueError(
            f"{source}: unknown table or key {unknown[0]!r}; a spec has [grid] (or [[grid]]) "
            "and optionally [options]"
        )
    if "grid" not in spec:
        raise ValueError(f"{source}: no [grid] table; name the grid's axes under [grid]")
    raw_options = spec.get("options", {})
    if not isinstance(raw_options, Mapping):
        raise ValueError(f"{source}: [options] must be a table, got {_type_name(raw_options)}")
    options = {}
    for name, value in raw_options.items():
        if name not in _CHECKS:
            raise ValueError(f"[options].{name}: unknown key; the keys are {sorted(_CHECKS)}")
        if isinstance(value, list) and name != "bottleneck":
            raise ValueError(f"[options].{name} is a list; lists (axes) belong in [grid]")
        options[name] = _CHECKS[name](value, f"[options].{name}")
    grids = spec["grid"]
    if isinstance(grids, Mapping):
        grids, names = [grids], ["[grid]"]
    elif isinstance(grids, list) and grids:
        names = [f"[[grid]] #{n + 1}" for n in range(len(grids))]
    else:
        raise ValueError(f"{source}: [grid] must be a table (or [[grid]] tables), got {grids!r}")
    all_axes = [_axes(grid, options, where) for grid, where in zip(grids, names, strict=True)]
    total = sum(math.prod(len(v) for v in axes.values()) for axes in all_axes)
    if total > MAX_CASES:
        raise ValueError(f"{source}: the grid has {total} cases; at most {MAX_CASES} per spec")
    activations: dict[str, AdmittedActivation] = {}
    losses: set[str] = set()
    given = {name for axes in all_axes for name in axes}
    used: set[str] = set()
    cases: dict[str, Case] = {}
    for axes, where in zip(all_axes, names, strict=True):
        for name in axes.get("activation", []):
            _admitted(name, activations, f"{where}.activation {name!r}")
        for loss in axes.get("loss", []):
            if loss not in losses:
                try:
                    get_loss(loss)
                except ValueError as exc:
                    raise ValueError(f"{where}.loss {loss!r}: {exc}") from None
                losses.add(loss)
        order = list(axes)
        for combination in itertools.product(*(axes[name] for name in order)):
            params = _case_params(dict(zip(order, combination, strict=True)), where)
            admitted = activations[params["activation"]]
            params["activation"] = admitted.label
            used.update(params)
            key = case_key(params)
            cases.setdefault(key, Case(key, params, admitted))
    unused = sorted((given & set(_CONDITIONAL)) - used)
    if unused:
        name = unused[0]
        raise ValueError(
            f"{source}: {name} is given but no case uses it ({name} is for {_USES[name]})"
        )
    return SweepSpec(tuple(cases.values()), source)


def load_spec(path) -> SweepSpec:
    """Read and parse a TOML spec file (see :func:`parse_spec`).

    Raises
    ------
    ValueError
        For a missing, unreadable or too large file, and everything :func:`parse_spec`
        refuses (the message names the file).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.toml")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write('''[grid]
    ... activation = ["tanh", "sin"]
    ... depth = [4]
    ... width = [8]
    ... bottleneck = [[2, 3]]
    ... eps = [0.1]
    ... seed = [0, 1]
    ... ''')
    >>> spec = load_spec(path)
    >>> len(spec), sorted({c.params["activation"] for c in spec.cases})
    (4, ['sin', 'tanh'])
    >>> load_spec(os.path.join(tempfile.mkdtemp(), "missing.toml"))
    Traceback (most recent call last):
    ...
    ValueError: no sweep spec at '.../missing.toml'
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise ValueError(f"{str(path)!r} is {size} bytes; a spec has at most {MAX_SPEC_BYTES}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no sweep spec at {str(path)!r}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return parse_spec(text, source=str(path))


# -- one case, in a worker ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _version() -> str:
    return package_version()


@functools.lru_cache(maxsize=4)
def _named_dataset(source: str, target: str | None):
    from saddle_escape.numeric.data import load_data  # the data side (optional pieces)

    return load_data(source, target=target).dataset()


def _dataset(p: Mapping[str, Any]):
    if p["dataset"] != "gaussian":
        return _named_dataset(p["dataset"], p.get("target"))
    if p["input_dim"] == 1:
        return population_dataset(48)  # as simulate: the exact population loss for d = 1
    return sample_dataset(p["samples"], p["input_dim"], seed=10_000 + p["seed"])


def _escape(case: Case):
    p = case.params
    data = _dataset(p)
    widths = (data.inputs.shape[1],) + (p["width"],) * (p["depth"] - 1) + (data.targets.shape[1],)
    network = he_network(widths, p["bottleneck"], p["eps"], seed=p["seed"])
    if p["optimizer"] == "flow":
        return full_escape_time(
            network,
            data,
            case.activation,
            p["loss"],
            fraction=p["fraction"],
            rtol=p["rtol"],
            record=8,
        )
    from saddle_escape.numeric.optimizers import Optimizer, optimizer_escape_time

    settings = {k: p[k] for k in ("lr", "batch_size", "momentum", "replacement") if k in p}
    optimizer = Optimizer(kind=p["optimizer"], seed=p["seed"], **settings)
    return optimizer_escape_time(
        network,
        data,
        case.activation,
        p["loss"],
        optimizer=optimizer,
        fraction=p["fraction"],
        record=8,
    )


def run_case(case: Case) -> CaseRecord:
    """Run one case and return its record (never raises for a failing case).

    The escape of a He-normal network with the bottleneck layers times ε (the same
    computation as ``saddle-escape simulate``), or the spec's optimizer and data set. An
    exception inside the case is a record with status ``"error"`` and the exception's
    text as its message.

    Examples
    --------
    >>> spec = parse_spec({"grid": {"activation": ["tanh"], "depth": [3], "width": [4],
    ...     "bottleneck": [[2]], "eps": [0.3], "seed": [0], "input_dim": [1]}})
    >>> rec = run_case(spec.cases[0])
    >>> rec.status, rec.tau > 0, rec.key == spec.cases[0].key
    ('escaped', True, True)
    """
    started, clock = utc_now(), time.perf_counter()
    try:
        run = _escape(case)
        status, message = run.status.value, str(run.message)
        tau = None if run.tau is None else float(run.tau)
        evaluations = int(run.evaluations)
        if tau is not None and not math.isfinite(tau):
            status, tau = Status.NON_FINITE.value, None
    except Exception as exc:  # a failing case is a record, not a crash of the sweep
        status, tau, evaluations = "error", None, 0
        message = f"{type(exc).__name__}: {exc}"
    return CaseRecord(
        key=case.key,
        params=dict(case.params),
        status=status,
        tau=tau,
        evaluations=evaluations,
        seconds=time.perf_counter() - clock,
        version=_version(),
        started=started,
        finished=utc_now(),
        message=message,
    )


_WORKER_READY = False


def _worker_setup(parent_pid: int) -> None:
    """In a local pool worker, once: ignore Ctrl-C (the coordinator handles it) and die
    with the coordinator (Linux ``PR_SET_PDEATHSIG``), so a killed coordinator leaves no
    orphan computing for nobody."""
    global _WORKER_READY
    if _WORKER_READY or os.getpid() == parent_pid:
        return
    _WORKER_READY = True
    with contextlib.suppress(ValueError, OSError):  # not the main thread: leave it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the coordinator died before the line above
        os._exit(1)


def _pool_task(case: Case, parent_pid: int) -> CaseRecord:
    _worker_setup(parent_pid)
    return run_case(case)


# -- the coordinator ------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSummary:
    """What a call of :func:`run_sweep` did.

    Attributes
    ----------
    store : str
    cases : int
        Cases in the spec.
    skipped : int
        Not run: already in the store (a valid result, or a failed one without
        ``retry_failed``), or written meanwhile by another sweep.
    recorded : int
        Records this run wrote (``escaped`` + ``failed``).
    escaped, failed : int
        Of those, valid results and the others (no escape, budget, error, …).
    unfinished : int
        Cases to run that have no record from this run: interrupted, or the retry
        budget for dead workers ran out. Rerunning the command runs them.
    retried : int
        Case attempts lost with a dead worker and submitted again.
    restarts : int
        Times the process pool broke and was rebuilt.
    interrupted : bool
        Stopped by Ctrl-C (what had finished is stored).
    seconds : float
    workers : int
        Local processes (1: this process), or the cases in flight on a Dask cluster.
    scheduler : str or None
    """

    store: str
    cases: int
    skipped: int
    recorded: int
    escaped: int
    failed: int
    unfinished: int
    retried: int
    restarts: int
    interrupted: bool
    seconds: float
    workers: int
    scheduler: str | None

    @property
    def status(self) -> Status:
        """``SUCCESS`` when every case has a record; ``BUDGET_EXHAUSTED`` when the retry
        budget left cases unfinished (an interrupted run says so in ``interrupted``)."""
        return Status.SUCCESS if self.unfinished == 0 else Status.BUDGET_EXHAUSTED

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "cases": self.cases,
            "skipped": self.skipped,
            "recorded": self.recorded,
            "escaped": self.escaped,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "retried": self.retried,
            "restarts": self.restarts,
            "interrupted": self.interrupted,
            "seconds": self.seconds,
            "cases_per_second": self.recorded / self.seconds if self.seconds > 0 else None,
            "workers": self.workers,
            "scheduler": self.scheduler,
            "status": self.status.value,
        }


class _Coordinator:
    """Bookkeeping of one sweep: what to skip, what to store, what to retry."""

    def __init__(self, store, total, *, retry_failed, max_attempts, progress):
        self.store = store
        self.total = total
        self.retry_failed = retry_failed
        self.max_attempts = max_attempts
        self.progress = progress
        self.started = utc_now()
        self.attempts: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.done = 0

    def needed(self, case: Case) -> bool:
        """Whether to submit ``case`` now (another sweep may have stored it meanwhile)."""
        existing = self.store.get(case.key)
        if existing is None or (
            self.retry_failed and not existing.ok and existing.finished < self.started
        ):
            return True
        self._step("skipped")
        return False

    def finish(self, record: CaseRecord) -> None:
        """Store one record, at once, in its own transaction."""
        if self.store.record(record):
            self._step("escaped" if record.status in OK_STATUSES else "failed")
        else:  # another sweep stored a valid result first: it stays
            self._step("skipped")

    def lost(self, case: Case, exc: BaseException) -> bool:
        """A case whose worker died: ``True`` to retry it; after ``max_attempts`` an error
        record says so."""
        self.attempts[case.key] += 1
        if self.attempts[case.key] < self.max_attempts:
            self.counts["retried"] += 1
            return True
        now = utc_now()
        reason = f"{type(exc).__name__}: {exc}".strip()
        message = (
            f"the worker running this case died {self.attempts[case.key]} times ({reason}); "
            "rerun with --retry-failed (fewer workers if memory ran out)"
        )
        self.finish(
            CaseRecord(
                case.key, dict(case.params), "error", None, 0, 0.0, _version(), now, now, message
            )
        )
        return False

    def _step(self, what: str) -> None:
        self.counts[what] += 1
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


@contextlib.contextmanager
def _interrupt_flag():
    """A flag that Ctrl-C sets (instead of raising); a second Ctrl-C raises as usual."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # started with Ctrl-C ignored (nohup, &): keep it so
        yield flag
        return
    restore = previous if previous is not None else signal.default_int_handler

    def first_interrupt(signum, frame):
        flag.set()
        signal.signal(signal.SIGINT, restore)

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, restore)


def _abandon(pool, in_flight) -> None:
    """Leave now (second Ctrl-C, time limit): cancel what waits, stop the workers."""
    for future in in_flight:
        future.cancel()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.kill()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)


def _drive(pool, submit, queue: deque, capacity: int, coordinator, flag) -> bool:
    """Keep ``capacity`` cases in flight and store each as it finishes.

    Returns ``True`` if the process pool broke (the cases it was running are back in
    ``queue``, unless their retry budget is spent). Each turn of the loop waits at most
    0.25 s, to notice Ctrl-C; the work is bounded by the cases' own budgets.
    """
    in_flight: dict[Future, Case] = {}
    broken = draining = False
    try:
        while True:
            if flag.is_set() and not draining:
                draining = True  # stop submitting; keep what is running
                for future in [f for f in in_flight if f.cancel()]:
                    del in_flight[future]
            while queue and not (broken or draining) and len(in_flight) < capacity:
                case = queue.popleft()
                if not coordinator.needed(case):
                    continue
                try:
                    in_flight[submit(case)] = case
                except BrokenProcessPool:
                    queue.appendleft(case)
                    broken = True
            if not in_flight:
                return broken
            done, _ = wait(list(in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                case = in_flight.pop(future)
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is None:
                    coordinator.finish(future.result())
                    continue
                broken = broken or isinstance(exc, BrokenProcessPool)
                if coordinator.lost(case, exc):  # retry: first in line
                    queue.appendleft(case)
    except BaseException:
        _abandon(pool, in_flight)
        raise


@contextlib.contextmanager
def _dask_executor(address: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise ValueError(
            "--scheduler needs dask.distributed: pip install 'saddle-escape[dask]'"
        ) from None
    try:
        client = Client(address, timeout=5)
    except OSError as exc:
        raise ValueError(
            f"--scheduler {address!r}: no dask scheduler answered within 5 s ({exc})"
        ) from None
    with client:
        yield client, client.get_executor(pure=False)


def run_sweep(
    spec,
    store_path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
    max_attempts: int = 3,
) -> SweepSummary:
    r"""Run the cases of ``spec`` that ``store_path`` does not hold; store each as it ends.

    Parameters
    ----------
    spec : SweepSpec, str, os.PathLike or mapping
        A parsed spec, the path of a TOML spec file, or the mapping it parses to.
    store_path : str or os.PathLike
        The SQLite results store (created if missing).
    workers : int, optional
        Local processes (default: all cores); ``1`` runs the cases in this process.
        With ``scheduler``: the cases kept in flight (default: twice the cluster's threads).
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler (extra ``dask``).
    retry_failed : bool, optional
        Also rerun the cases whose record is not a valid result (an error, no escape, a
        spent budget). Valid results are never rerun.
    progress : callable, optional
        ``progress(done, total)`` after each case stored or skipped.
    max_attempts : int, optional
        Times a case may be lost with a dead worker before it is recorded as an error.

    Returns
    -------
    SweepSummary

    Raises
    ------
    ValueError
        For a bad spec, a store that is not a results store, or a scheduler that does not
        answer.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "results.sqlite")
    >>> spec = {"grid": {"activation": ["tanh"], "depth": [3], "width": [4], "input_dim": [1],
    ...     "bottleneck": [[2, 3]], "eps": [0.3, 0.2], "seed": [0]}}
    >>> first = run_sweep(spec, path, workers=1)
    >>> first.recorded, first.escaped, first.skipped
    (2, 2, 0)
    >>> run_sweep(spec, path, workers=1).skipped  # rerun: nothing to do
    2
    """
    clock = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = parse_spec(spec) if isinstance(spec, Mapping) else load_spec(spec)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 0
    ):
        raise ValueError(f"workers must be a whole number ≥ 0 (0: all cores), got {workers!r}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a whole number ≥ 1, got {max_attempts!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as tcp://host:8786, got {scheduler!r}")
    local = workers or os.cpu_count() or 1
    with ResultsStore(store_path) as store:
        existing = store.statuses()
        todo = [
            c
            for c in spec.cases
            if c.key not in existing or (retry_failed and existing[c.key] not in OK_STATUSES)
        ]
        coordinator = _Coordinator(
            store,
            len(todo),
            retry_failed=retry_failed,
            max_attempts=max_attempts,
            progress=progress,
        )
        queue = deque(todo)
        restarts = 0
        with _interrupt_flag() as flag:
            if not todo:
                pass
            elif scheduler is not None:
                with _dask_executor(scheduler) as (client, executor):
                    threads = sum(client.nthreads().values())
                    local = workers or max(1, 2 * threads)
                    _drive(
                        executor,
                        lambda case: executor.submit(run_case, case),
                        queue,
                        local,
                        coordinator,
                        flag,
                    )
            elif local == 1:
                while queue and not flag.is_set():
                    case = queue.popleft()
                    if coordinator.needed(case):
                        coordinator.finish(run_case(case))
            else:
                parent = os.getpid()
                # Each restart follows a death that cost some case an attempt, or an idle
                # worker's death: bounded by the attempts of all cases, plus a few.
                max_restarts = max_attempts * (len(todo) + 1)
                while queue and not flag.is_set() and restarts <= max_restarts:
                    with local_executor(local) as pool:
                        broken = _drive(
                            pool,
                            lambda case, pool=pool: pool.submit(_pool_task, case, parent),
                            queue,
                            local,
                            coordinator,
                            flag,
                        )
                    if not broken:
                        break
                    restarts += 1
        counts = coordinator.counts
        recorded = counts["escaped"] + counts["failed"]
        return SweepSummary(
            store=str(store_path),
            cases=len(spec.cases),
            skipped=len(spec.cases) - len(todo) + counts["skipped"],
            recorded=recorded,
            escaped=counts["escaped"],
            failed=counts["failed"],
            unfinished=len(todo) - recorded - counts["skipped"],
            retried=counts["retried"],
            restarts=restarts,
            interrupted=flag.is_set(),
            seconds=time.perf_counter() - clock,
            workers=local,
            scheduler=scheduler,
        )


# -- summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSummary:
    """The records of one group (every parameter but ε and the seed): the slope of
    ln τ★ against ln ε per seed, and their mean and spread.

    Attributes
    ----------
    params : dict
        The group's parameters (all but ``eps`` and ``seed``).
    cases, escaped : int
        Records in the group, and those with a valid τ★.
    slope, slope_std : float or None
        Mean and sample standard deviation over seeds of the least-squares slope
        (:func:`~saddle_escape.numeric.simulate.slope_summary`); ``None`` without two
        escaped ε for a seed, or (``slope_std``) with fewer than two seeds.
    slopes : tuple of float
        One per seed with at least two escaped ε.
    points : tuple of dict
        Per ε: the mean τ★, its spread and the number of seeds.
    expected_slope : int or None
        The critical-depth law's slope for r = len(bottleneck) (conventions §3).
    """

    params: dict = field(hash=False)
    cases: int
    escaped: int
    slope: float | None
    slope_std: float | None
    slopes: tuple[float, ...]
    points: tuple[dict, ...]
    expected_slope: int | None

    def to_dict(self) -> dict:
        return {
            "params": dict(self.params),
            "cases": self.cases,
            "escaped": self.escaped,
            "slope": self.slope,
            "slope_std": self.slope_std,
            "slopes": list(self.slopes),
            "points": list(self.points),
            "expected_slope": self.expected_slope,
        }


def summarize(records: Sequence[CaseRecord]) -> list[GroupSummary]:
    """Group records by every parameter but ``eps`` and ``seed``; slopes per group.

    Only valid results (status ``escaped``) enter the slopes.

    Examples
    --------
    >>> from saddle_escape.numeric.store import CaseRecord
    >>> records = [CaseRecord(f"k{s}{n}", {"depth": 5, "bottleneck": [2, 3, 4], "eps": e,
    ...            "seed": s}, "escaped", 1.0 / e, 1, 0.0, "v", "t0", "t1")
    ...            for s in (0, 1) for n, e in enumerate((0.3, 0.1))]
    >>> group = summarize(records)[0]
    >>> round(group.slope, 12), group.slope_std, group.expected_slope
    (-1.0, 0.0, -1)
    """
    groups: dict[str, list[CaseRecord]] = {}
    for record in records:
        rest = {k: v for k, v in record.params.items() if k not in ("eps", "seed")}
        groups.setdefault(json.dumps(rest, sort_keys=True), []).append(record)
    summaries = []
    for text, members in sorted(groups.items()):
        params = json.loads(text)
        stand_ins = [
            SweepRecord(
                activation=str(params.get("activation", "")),
                widths=(),
                bottleneck=tuple(params.get("bottleneck", ())),
                eps=float(r.params.get("eps", np.nan)),
                seed=int(r.params.get("seed", 0)),
                samples=int(params.get("samples") or 0),
                tau=r.tau if r.status in OK_STATUSES else None,
                evaluations=r.evaluations,
                status=r.status,
            )
            for r in members
        ]
        summary = slope_summary(stand_ins)
        bottleneck = params.get("bottleneck")
        summaries.append(
            GroupSummary(
                params=params,
                cases=len(members),
                escaped=sum(r.status in OK_STATUSES for r in members),
                slope=summary["slope"],
                slope_std=summary["slope_std"],
                slopes=tuple(summary["slopes"]),
                points=tuple(summary["points"]),
                expected_slope=None
                if not isinstance(bottleneck, list)
                else expected_slope(len(bottleneck)),
            )
        )
    return summaries
