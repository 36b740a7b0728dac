"""The main report: every section computed on built-in defaults, as one frozen result.

:func:`build_report` computes; :mod:`saddle_escape.render` turns the result into text and
Markdown; the command ``saddle-escape report`` only wires the two together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from saddle_escape.classes import REGISTRY, UniversalityClass, classify
from saddle_escape.classes.gate import build_model
from saddle_escape.classes.universality import Classification
from saddle_escape.numeric.identity import IdentityCheck, check_identity
from saddle_escape.numeric.network import Dataset, random_network
from saddle_escape.symbolic.asymptotics import Asymptotics, asymptotics
from saddle_escape.symbolic.bias import BiasLaw, bias_law
from saddle_escape.symbolic.identity import IdentityVerification, verify_identity

__all__ = [
    "Report",
    "IdentityReport",
    "AsymptoticsRow",
    "build_report",
    "report_steps",
    "registry_classifications",
    "registry_records",
    "identity_report",
    "asymptotics_rows",
    "REPORT_IDENTITY_WIDTHS",
    "REPORT_REDUCED",
]

#: The network of the report's identity section (input width first).
REPORT_IDENTITY_WIDTHS = (3, 3, 3, 1)
#: The reduced model of the report's asymptotics table: L = 4, N = 16, r = 3 at the end.
REPORT_REDUCED = (4, 16, "1,eps,eps,eps")
#: Seconds of symbolic work allowed per activation in the asymptotics table.
ASYMPTOTICS_TIME_LIMIT = 30


def registry_classifications() -> list[Classification]:
    """Classify every registry entry (canonical names, registry order).

    Examples
    --------
    >>> results = registry_classifications()
    >>> {"tanh", "relu", "sigmoid"} <= {c.name for c in results}
    True
    """
    return [classify(name) for name in REGISTRY]


def registry_records(results: list[Classification]) -> list[dict]:
    """JSON records of registry classifications: the entry's fields and the class's.

    Examples
    --------
    >>> registry_records([classify("tanh")])[0]["class"]
    'B'
    """
    return [{**REGISTRY[str(r.name)].to_dict(), **r.to_dict()} for r in results]


@dataclass(frozen=True)
class IdentityReport:
    """The identity verified exactly (generic σ and ℓ) and numerically (tanh, 30 digits)."""

    exact: IdentityVerification
    exact_neuronwise_bias: IdentityVerification
    numeric: IdentityCheck
    widths: tuple[int, ...] = REPORT_IDENTITY_WIDTHS

    def to_dict(self) -> dict:
        return {
            "widths": list(self.widths),
            "exact": self.exact.to_dict(),
            "exact_neuronwise_bias": self.exact_neuronwise_bias.to_dict(),
            "numeric": self.numeric.to_dict(),
        }


def identity_report(widths: tuple[int, ...] = REPORT_IDENTITY_WIDTHS) -> IdentityReport:
    """The report's identity section on a network of ``widths``.

    Examples
    --------
    >>> identity_report((2, 2, 1)).exact.verified
    True
    """
    network = random_network(widths, seed=0)
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(8, widths[0])), rng.normal(size=(8, widths[-1])))
    return IdentityReport(
        exact=verify_identity(widths),
        exact_neuronwise_bias=verify_identity(widths, neuronwise=True, bias=True),
        numeric=check_identity(network, data, "tanh", "squared", dps=30),
        widths=tuple(widths),
    )


@dataclass(frozen=True)
class AsymptoticsRow:
    """One activation of the asymptotics table: its expansion, or why there is none."""

    activation: str
    class_: UniversalityClass
    result: Asymptotics | BiasLaw | None
    reason: str | None = None

    def to_dict(self) -> dict:
        record = {"activation": self.activation, "class": self.class_.value}
        if self.result is None:
            return {**record, "error": self.reason}
        return {**self.result.to_dict(), **record}  # the row's name ("… + output bias")


def asymptotics_rows(
    results: list[Classification], reduced: tuple = REPORT_REDUCED
) -> list[AsymptoticsRow]:
    """Regime, exponent and prefactor of τ★ for every classified activation in ``results``.

    Piecewise activations (the ReLU family) expand one-sidedly per half-line of g; class D
    and α = 0 activations get their regime too (``finite``, or ``none`` with the reason).

    Examples
    --------
    >>> row = asymptotics_rows([classify("tanh")])[0]
    >>> row.result.regime, row.result.exponent
    ('power', 1)
    """
    depth, width, init = reduced
    rows = []
    for c in results:
        if c.class_ is None:
            continue
        name = str(c.name or c.expression)
        try:
            model = build_model(name, depth, width, init)
            result = asymptotics(model, time_limit_seconds=ASYMPTOTICS_TIME_LIMIT, throw=False)
        except (ValueError, RuntimeError) as exc:
            rows.append(AsymptoticsRow(name, c.class_, None, str(exc)))
            continue
        rows.append(AsymptoticsRow(name, c.class_, result))
        if c.class_ is UniversalityClass.D and result.regime == "none":
            # The bias-free flow does not escape; with an output bias it does (the law of
            # saddle_escape.symbolic.bias), so the table shows both.
            try:
                biased = build_model(name, depth, width, init, biases="output")
                law = bias_law(biased, time_limit_seconds=ASYMPTOTICS_TIME_LIMIT, throw=False)
            except (ValueError, RuntimeError):
                continue  # piecewise σ (biases are for smooth σ) or a series out of time
            rows.append(AsymptoticsRow(f"{name} + output bias", c.class_, law))
    return rows


@dataclass(frozen=True)
class Report:
    """Everything ``saddle-escape report`` prints and writes.

    Attributes
    ----------
    classifications : tuple of Classification
    identity : IdentityReport
    asymptotics : tuple of AsymptoticsRow
    figures : dict
        Figure name → ``{"paths": [...], "data": {...}}`` (empty without figures).
    seconds : float
    """

    classifications: tuple[Classification, ...]
    identity: IdentityReport
    asymptotics: tuple[AsymptoticsRow, ...]
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "activations": registry_records(list(self.classifications)),
            "identity": self.identity.to_dict(),
            "asymptotics": [row.to_dict() for row in self.asymptotics],
            "figures": self.figures,
            "seconds": self.seconds,
        }


def report_steps(with_figures: bool) -> int:
    """How many progress steps :func:`build_report` announces (for a progress bar's total).

    Examples
    --------
    >>> report_steps(False) < report_steps(True)
    True
    """
    from saddle_escape.figures import REPORT_FIGURES

    rows = sum(1 for name in REGISTRY)  # one asymptotics row per classified entry at most
    return 2 + rows + (len(REPORT_FIGURES) if with_figures else 0)


def _asymptotics_job(classification: Classification) -> list[AsymptoticsRow]:
    return asymptotics_rows([classification])


def _figure_job(name: str, paths: list[str]) -> dict:
    from saddle_escape.figures import draw

    return draw(name, paths)


def build_report(
    out: str | os.PathLike | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> Report:
    """Classify the registry, expand τ★ for each, check the identity, draw the figures.

    The asymptotics rows and the figures are independent jobs: they run on ``workers``
    processes (default: one per core; ``1`` runs everything in this process), the longest
    (the figures) first. Results are assembled in a fixed order whatever finishes first.

    Parameters
    ----------
    out : path, optional
        Directory for the figures (PNG and SVG); created if its parent exists. ``None``:
        tables only, no simulations, no files.
    progress : callable, optional
        Called with the name of each finished step (for a progress bar; see
        :func:`report_steps` for the total).
    workers : int, optional
        Processes for the jobs.

    Examples
    --------
    >>> report = build_report()  # doctest: +SKIP
    >>> report.identity.exact.verified  # doctest: +SKIP
    True
    """
    start = time.perf_counter()
    step = progress or (lambda label: None)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise TypeError(f"workers must be a positive int, got {workers!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if out is not None:  # fail before minutes of work, not after
        from saddle_escape.figures import REPORT_FIGURES, check_output_dir

        check_output_dir(out)
        if not os.path.isdir(out):
            os.mkdir(out)  # its parent exists (checked above); nothing above it is created
        figure_names = list(REPORT_FIGURES)
    else:
        figure_names = []
    classifications = registry_classifications()
    step("classes")
    classified = [c for c in classifications if c.class_ is not None]
    jobs: list[tuple[str, Callable, tuple]] = [
        (f"figure {name}", _figure_job, (name, _figure_paths(out, name))) for name in figure_names
    ] + [(f"asymptotics {c.name}", _asymptotics_job, (c,)) for c in classified]
    results = _run_jobs(jobs, workers, step)
    identity = identity_report()
    step("identity")
    rows = [
        row for label, _, _ in jobs if label.startswith("asymptotics") for row in results[label]
    ]
    figures = {
        name: {"paths": _figure_paths(out, name), "data": results[f"figure {name}"]}
        for name in figure_names
    }
    return Report(
        tuple(classifications), identity, tuple(rows), figures, time.perf_counter() - start
    )


def _figure_paths(out, name: str) -> list[str]:
    return [os.path.join(out, f"{name}.{ext}") for ext in ("png", "svg")]


def _run_jobs(jobs, workers: int | None, step: Callable[[str], None]) -> dict:
    """Run ``(label, function, arguments)`` jobs; label → result. Workers die with an error."""
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    results = {}
    if workers <= 1:
        for label, function, arguments in jobs:
            results[label] = function(*arguments)
            step(label)
        return results
    from concurrent.futures import as_completed

    from saddle_escape.numeric.simulate import local_executor

    with local_executor(workers) as pool:
        try:
            futures = {
                pool.submit(function, *arguments): label for label, function, arguments in jobs
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                step(futures[future])
        except BaseException:  # a failed job, a time limit, Ctrl-C: stop the others now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results
