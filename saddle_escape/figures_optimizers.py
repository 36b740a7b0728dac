r"""The robustness figure: the critical-depth exponent under optimizers and thresholds.

He-normal tanh networks (width N = 16, d = 16, P = 256 seeded Gaussian rows, 3 seeds) with
the r middle layers times ε, as in the off-manifold figure. For each condition — gradient
flow at the loss fractions ¼, ½, ¾; gradient descent at several η; minibatch SGD at several
B — the slope of ln τ★ against ln ε is fitted per seed, and the constant
:math:`C = \tau_\star\varepsilon^{r-2}` (geometric mean over the ε grid) is compared with
the flow's at ½. The exponent is the law's, −(r − 2), under every condition (measured:
within 0.06); the constant moves with the threshold (the O(1) remainder of τ★: ±3 % at
r = 3, ±0.1 % at r = 8 on these grids) and with η (GD is later by about
(η/2)·ln(‖∇𝓛(τ★)‖/‖∇𝓛(0)‖) plus up to a step: +0.1 % at η = 0.01, +3 % at η = 0.3), and
hardly with B (SGD without replacement: within 0.05 % of GD at the same η).

Cost (measured on the 2-core machine, two worker processes): 105 s (207 s of run time);
the discrete runs dominate (τ★/η steps each), GD at η = 0.01 most of all. r = 8 is run
under the flow and GD at η = 0.3 only: its τ★ reaches 10⁴, i.e. 10⁶ steps at η = 0.01.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from saddle_escape.numeric.optimizers import Optimizer, optimizer_escape_time  # noqa: E402
from saddle_escape.numeric.simulate import he_network, local_executor, sample_dataset  # noqa: E402
from saddle_escape.symbolic.outcomes import ConvergenceError  # noqa: E402

__all__ = ["optimizers", "ROBUSTNESS_GRIDS", "CONDITIONS"]

#: r → ε grid (the off-manifold figure's: in the asymptotic regime for N = 16).
ROBUSTNESS_GRIDS = {3: (0.05, 0.02, 0.01), 5: (0.15, 0.12, 0.1), 8: (0.2, 0.15, 0.12)}
#: Width (input and hidden), rows of the data set, seeds.
ROBUSTNESS_WIDTH, ROBUSTNESS_SAMPLES, ROBUSTNESS_SEEDS = 16, 256, 3
#: (label, optimizer, loss fraction, depths r run); the first is the reference.
CONDITIONS: tuple[tuple[str, Optimizer, float, tuple[int, ...]], ...] = (
    ("flow, ½", Optimizer(), 0.5, (3, 5, 8)),
    ("flow, ¼", Optimizer(), 0.25, (3, 5, 8)),
    ("flow, ¾", Optimizer(), 0.75, (3, 5, 8)),
    ("GD η=0.01", Optimizer("gd", lr=0.01), 0.5, (3, 5)),
    ("GD η=0.1", Optimizer("gd", lr=0.1), 0.5, (3, 5)),
    ("GD η=0.3", Optimizer("gd", lr=0.3), 0.5, (3, 5, 8)),
    ("SGD B=16", Optimizer("sgd", lr=0.01, batch_size=16), 0.5, (3, 5)),
    ("SGD B=64", Optimizer("sgd", lr=0.01, batch_size=64), 0.5, (3, 5)),
)
#: The acceptance band of the fitted exponents around the law.
SLOPE_BAND = 0.15


def _case(case) -> tuple[float | None, float, str]:
    """One escape: ``(τ★ or None, seconds, status)``; a module-level function for the pool."""
    r, eps, seed, optimizer, fraction = case
    width = ROBUSTNESS_WIDTH
    network = he_network((width,) * (r + 2) + (1,), tuple(range(2, r + 2)), eps, seed=seed)
    data = sample_dataset(ROBUSTNESS_SAMPLES, width, seed=10_000 + seed)
    if optimizer.stochastic:
        optimizer = replace(optimizer, seed=seed)
    run = optimizer_escape_time(
        network, data, "tanh", optimizer=optimizer, fraction=fraction, record=2, rtol=1e-8
    )
    return run.tau, run.seconds, run.status.value


def _cost(case) -> float:
    """A rough work estimate to start the longest runs first."""
    r, eps, _, optimizer, _ = case
    tau = eps ** -(r - 2)
    return tau / optimizer.lr if optimizer.lr else tau * 1e-3


def robustness_table(workers: int | None = 2, seeds: int = ROBUSTNESS_SEEDS) -> dict:
    """Every condition's fitted exponent and constant, per r (the figure's data).

    Returns
    -------
    dict
        ``rows``: per (condition, r) the slope (mean, sd over seeds), the law, the deviation,
        the constant C and its ratio to the reference condition's (mean, sd over seeds);
        ``seconds``; the settings.

    Raises
    ------
    ConvergenceError
        When a run does not escape (nothing to fit).
    """
    started = time.perf_counter()
    cases = [
        (r, eps, seed, optimizer, fraction)
        for _, optimizer, fraction, depths in CONDITIONS
        for r in depths
        for eps in ROBUSTNESS_GRIDS[r]
        for seed in range(seeds)
    ]
    order = sorted(range(len(cases)), key=lambda i: -_cost(cases[i]))
    ordered = [cases[i] for i in order]
    if workers == 1:
        results = list(map(_case, ordered))
    else:
        with local_executor(workers) as pool:
            results = list(pool.map(_case, ordered))
    outcome = {ordered[i]: results[i] for i in range(len(cases))}
    for case, (tau, _, status) in outcome.items():
        if tau is None:
            r, eps, seed, optimizer, fraction = case
            raise ConvergenceError(
                f"r = {r}, ε = {eps}, seed {seed}, {optimizer.label}, fraction {fraction}: "
                f"no escape ({status})"
            )
    rows: list[dict] = []
    reference: dict[tuple[int, int], float] = {}
    for label, optimizer, fraction, depths in CONDITIONS:
        for r in depths:
            log_eps = np.log(ROBUSTNESS_GRIDS[r])
            slopes, constants = [], []
            for seed in range(seeds):
                taus = np.array(
                    [outcome[(r, e, seed, optimizer, fraction)][0] for e in ROBUSTNESS_GRIDS[r]]
                )
                slopes.append(np.polyfit(log_eps, np.log(taus), 1)[0])
                constants.append(float(np.exp(np.mean(np.log(taus) + (r - 2) * log_eps))))
            if label == CONDITIONS[0][0]:
                for seed, c in enumerate(constants):
                    reference[(r, seed)] = c
            ratios = [c / reference[(r, seed)] for seed, c in enumerate(constants)]
            rows.append(
                {
                    "condition": label,
                    "optimizer": optimizer.to_dict(),
                    "fraction": fraction,
                    "r": r,
                    "eps": list(ROBUSTNESS_GRIDS[r]),
                    "slope": float(np.mean(slopes)),
                    "slope_std": float(np.std(slopes, ddof=1)) if seeds > 1 else None,
                    "law": -(r - 2),
                    "deviation": float(np.mean(slopes)) + (r - 2),
                    "constant": float(np.mean(constants)),
                    "constant_ratio": float(np.mean(ratios)),
                    "constant_ratio_std": float(np.std(ratios, ddof=1)) if seeds > 1 else None,
                }
            )
    return {
        "rows": rows,
        "width": ROBUSTNESS_WIDTH,
        "samples": ROBUSTNESS_SAMPLES,
        "seeds": seeds,
        "band": SLOPE_BAND,
        "max_deviation": max(abs(row["deviation"]) for row in rows),
        "all_within_band": all(abs(row["deviation"]) <= SLOPE_BAND for row in rows),
        "run_seconds": float(sum(seconds for _, seconds, _ in results)),
        "seconds": time.perf_counter() - started,
    }


def optimizers(path: list[Path]) -> dict:
    """Exponent unchanged, constant moving: flow at three thresholds, GD and SGD.

    Left: the fitted exponent minus the law's, per condition and r (error bars: sd over
    seeds; shaded: ±0.15). Right: the constant C = τ★ε^{r−2} relative to the flow's at
    the threshold ½, minus 1 (symmetric-log scale: it moves by 10⁻⁴–10⁻²).
    """
    table = robustness_table()
    rows = table["rows"]
    labels = [c[0] for c in CONDITIONS]
    depths = sorted({row["r"] for row in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    x = np.arange(len(labels))
    for i, r in enumerate(depths):
        mine = {row["condition"]: row for row in rows if row["r"] == r}
        xs = [x[j] + (i - 1) * 0.22 for j, name in enumerate(labels) if name in mine]
        chosen = [mine[name] for name in labels if name in mine]
        left.errorbar(
            xs,
            [row["deviation"] for row in chosen],
            yerr=[row["slope_std"] or 0.0 for row in chosen],
            fmt="o",
            color=f"C{i}",
            capsize=3,
            label=f"r = {r} (law {-(r - 2)})",
        )
        right.errorbar(
            xs,
            [row["constant_ratio"] - 1 for row in chosen],
            yerr=[row["constant_ratio_std"] or 0.0 for row in chosen],
            fmt="s",
            color=f"C{i}",
            capsize=3,
            label=f"r = {r}",
        )
    left.axhspan(-SLOPE_BAND, SLOPE_BAND, color="0.9", zorder=0)
    left.axhline(0, color="k", lw=0.8)
    left.set(
        ylabel="fitted slope of ln τ★ vs ln ε, minus −(r − 2)",
        title=f"exponent: the law under every condition (shaded ±{SLOPE_BAND})",
    )
    right.axhline(0, color="k", lw=0.8)
    right.set_yscale("symlog", linthresh=1e-4)
    right.set(
        ylabel="C / C(flow, ½) − 1,   C = τ★ ε^(r−2)",
        title="constant: moved by the threshold and by η, hardly by B",
    )
    moved = max(abs(row["constant_ratio"] - 1) + (row["constant_ratio_std"] or 0) for row in rows)
    right.set_ylim(-3 * moved, 3 * moved)
    for ax in (left, right):
        ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"tanh, He-normal, N = {table['width']}, P = {table['samples']}, "
        f"{table['seeds']} seeds; τ★ in gradient-flow time (steps × η)",
        fontsize=9,
    )
    fig.tight_layout()
    try:
        for p in path:
            fig.savefig(p, dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
    return table
