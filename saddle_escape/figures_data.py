"""Figures of the data side (conventions §5): ``real-covariates``.

Predicted against observed first-escape times on the real data sets that scikit-learn
ships, each held-out condition predicted from one isotropic Gaussian calibration condition
of the same shape as τ_pred = τ_cal·Γ_cal/Γ (conventions §5), and, when O(1) layers come
before the bottleneck, also from the first-order drive through those layers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from saddle_escape.numeric.calibration import (  # noqa: E402
    Architecture,
    HeldOutTable,
    held_out_table,
)
from saddle_escape.numeric.data import load_data  # noqa: E402
from saddle_escape.numeric.simulate import local_executor  # noqa: E402

__all__ = [
    "real_covariates",
    "real_covariates_tables",
    "REAL_COVARIATES_TARGETS",
    "REAL_COVARIATES_EPS",
    "REAL_COVARIATES_WIDTH",
    "REAL_COVARIATES_SEEDS",
    "REAL_COVARIATES_ROWS",
]

#: Held-out conditions: bundled data set -> label encodings (see ``load_data``).
REAL_COVARIATES_TARGETS: dict[str, tuple[str, ...]] = {
    "digits": ("parity", "ovr:0", "centred", "tanh:36"),
    "breast_cancer": ("centred",),
    "wine": ("ovr:0", "centred"),
}
#: Five values of ε per number r of bottleneck layers (the singular term's range).
REAL_COVARIATES_EPS: dict[int, tuple[float, ...]] = {
    2: tuple(float(f"{v:.3g}") for v in np.geomspace(0.1, 1e-4, 5)),
    3: tuple(float(f"{v:.3g}") for v in np.geomspace(0.1, 0.003, 5)),
    4: tuple(float(f"{v:.3g}") for v in np.geomspace(0.15, 0.015, 5)),
    5: tuple(float(f"{v:.3g}") for v in np.geomspace(0.2, 0.03, 5)),
}
#: Rows kept (seeded subsample, recorded in each task's preprocessing): the escape runs on
#: all 1797 digits cost about 6× as much per gradient as on 600 rows (measured here: 1.9–2.2
#: s against 0.36 s for one r = 5 run), which would put the figure over 5 minutes on 2
#: cores. ``None``: every row.
REAL_COVARIATES_ROWS: dict[str, int | None] = {"digits": 600, "breast_cancer": None, "wine": None}
#: Hidden width N and seeds of the figure.
REAL_COVARIATES_WIDTH, REAL_COVARIATES_SEEDS = 16, 3
#: Worker processes of the figure (None: one per core; 1: no pool).
REAL_COVARIATES_WORKERS: int | None = None
_MARKERS = "osD^vP*Xh"


def real_covariates_tables(
    *,
    targets: dict[str, tuple[str, ...]] | None = None,
    eps: dict[int, tuple[float, ...]] | None = None,
    seeds: int | None = None,
    width: int | None = None,
    rows: dict[str, int | None] | None = None,
    coupling: str = "aligned",
    placements: tuple[str, ...] = ("first", "inner"),
    workers: int | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[tuple[str, str, int], HeldOutTable]:
    """The held-out tables behind the figure: (placement, data set, r) -> table.

    ``placement`` ``"first"``: layers 1..r at He × ε, depth r + 2; ``"inner"``: layers
    2..r+1 (an O(1) first layer before the bottleneck), depth r + 2. Each data set is
    calibrated on ``gaussian:D:N`` of its own d and n (seed 0), at every ε. ``rows``
    (data set -> rows kept, seeded) defaults to :data:`REAL_COVARIATES_ROWS`.

    Examples
    --------
    >>> tables = real_covariates_tables(
    ...     targets={"iris": ("ovr:0",)}, eps={3: (0.02,)}, seeds=1, width=4, workers=1
    ... )
    >>> sorted(tables)
    [('first', 'iris', 3), ('inner', 'iris', 3)]
    >>> row = tables[("first", "iris", 3)].rows[0]
    >>> row.condition, abs(row.ratio - 1) < 0.05
    ('iris:ovr:0', True)
    """
    targets = REAL_COVARIATES_TARGETS if targets is None else targets
    eps = REAL_COVARIATES_EPS if eps is None else eps
    seeds = REAL_COVARIATES_SEEDS if seeds is None else seeds
    width = REAL_COVARIATES_WIDTH if width is None else width
    tables = {}
    with contextlib.ExitStack() as stack:
        executor = None if workers == 1 else stack.enter_context(local_executor(workers))
        for name, labels in targets.items():
            keep = (REAL_COVARIATES_ROWS if rows is None else rows).get(name)
            held = [load_data(name, labels=lab, subsample=keep) for lab in labels]
            calibration = load_data(f"gaussian:{held[0].d}:{held[0].n}", seed=0)
            for placement in placements:
                for r, grid in eps.items():
                    start = 1 if placement == "first" else 2
                    arch = Architecture("tanh", width, r + 2, tuple(range(start, start + r)))
                    tables[(placement, name, r)] = held_out_table(
                        calibration,
                        held,
                        arch,
                        grid,
                        seeds=seeds,
                        coupling=coupling,
                        executor=executor,
                        progress=progress,
                    )
    return tables


def _median(values) -> float | None:
    values = [abs(np.log(v)) for v in values if v is not None and v > 0]
    return float(np.median(values)) if values else None


def _summary(tables: dict, placement: str) -> dict:
    chosen = {key: t for key, t in tables.items() if key[0] == placement}
    rows = [row for t in chosen.values() for row in t.rows]
    rs = sorted({key[2] for key in chosen})
    out = {
        "median_abs_log_ratio": _median(r.ratio for r in rows),
        "median_abs_log_ratio_drive": _median(r.ratio_drive for r in rows),
        "by_r": {
            r: _median(row.ratio for k, t in chosen.items() if k[2] == r for row in t.rows)
            for r in rs
        },
        "by_r_drive": {
            r: _median(row.ratio_drive for k, t in chosen.items() if k[2] == r for row in t.rows)
            for r in rs
        },
        "rows": len(rows),
        "failures": sum(len(t.failures) for t in chosen.values()),
    }
    out["by_data"] = {
        name: _median(row.ratio for k, t in chosen.items() if k[1] == name for row in t.rows)
        for name in dict.fromkeys(k[1] for k in chosen)
    }
    return out


def _panel(ax, tables: dict, placement: str, drive: bool) -> None:
    chosen = {key: t for key, t in tables.items() if key[0] == placement}
    conditions = list(dict.fromkeys(p["condition"] for t in chosen.values() for p in t.points()))
    lows, highs = [], []
    for (_, _, r), table in chosen.items():
        color = f"C{r - 2}"
        cal: dict[float, list] = {}
        for run in table.calibration_runs:
            cal.setdefault(run.eps, []).append(run.tau)
        taus = [float(np.mean([t for t in v if t is not None])) for v in cal.values() if any(v)]
        ax.plot(taus, taus, "o", mfc="none", mec=color, ms=6)
        for p in table.points():
            if p["tau_obs"] is None:
                continue
            marker = _MARKERS[conditions.index(p["condition"]) % len(_MARKERS)]
            key = "tau_pred_drive" if drive else "tau_pred"
            if p[key] is not None:
                ax.plot(p["tau_obs"], p[key], marker, color=color, ms=4, alpha=0.85)
                lows.append(min(p["tau_obs"], p[key]))
                highs.append(max(p["tau_obs"], p[key]))
        lows += taus
        highs += taus
    if lows:
        span = np.array([min(lows) / 1.5, max(highs) * 1.5])
        ax.plot(span, span, "k-", lw=0.7)
    for r in sorted({key[2] for key in chosen}):
        ax.plot([], [], "s", color=f"C{r - 2}", label=f"r = {r}")
    for i, condition in enumerate(conditions):
        ax.plot([], [], _MARKERS[i % len(_MARKERS)], color="gray", label=condition)
    ax.plot([], [], "o", mfc="none", mec="gray", label="calibration (gaussian)")
    ax.set(xscale="log", yscale="log", xlabel="observed τ★ (full network)")


def real_covariates(path: list[Path]) -> dict:
    """Predicted vs observed τ★ on bundled real data sets; calibration open, held-out filled.

    Left: the bottleneck includes layer 1 (layers 1..r at ε), predictions with Γ. Middle
    and right: an O(1) first layer before the bottleneck (layers 2..r+1 at ε), predictions
    with Γ and with the drive through the first layer. tanh, N = 16, depth r + 2, r = 2..5,
    five ε per r, three seeds, aligned coupling; every data set calibrated on an isotropic
    Gaussian sample of its own d and n.
    """
    start = time.perf_counter()
    tables = real_covariates_tables(workers=REAL_COVARIATES_WORKERS)
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    _panel(axes[0], tables, "first", drive=False)
    _panel(axes[1], tables, "inner", drive=False)
    _panel(axes[2], tables, "inner", drive=True)
    first, inner = _summary(tables, "first"), _summary(tables, "inner")
    axes[0].set(
        ylabel="predicted τ★ = τ_cal·Γ_cal/Γ",
        title=f"layers 1..r at ε: median |ln(pred/obs)| = {first['median_abs_log_ratio']:.3f}",
    )
    axes[1].set(
        ylabel="predicted with Γ",
        title=f"layers 2..r+1 at ε, with Γ: {inner['median_abs_log_ratio']:.3f}",
    )
    axes[2].set(
        ylabel="predicted with D = ‖E[y σ(W₁x)]‖",
        title=f"layers 2..r+1 at ε, with the drive D: {inner['median_abs_log_ratio_drive']:.3f}",
    )
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "real covariates (scikit-learn's digits (600 of 1797 rows, seeded), breast_cancer, "
        "wine; centred, global scale): tanh, N = 16, depth r + 2, 3 seeds; open: calibration, "
        "filled: held out",
        fontsize=10,
    )
    try:
        for p in path:
            fig.savefig(p, dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
    data = {
        "first": first,
        "inner": inner,
        "targets": {k: list(v) for k, v in REAL_COVARIATES_TARGETS.items()},
        "eps": {r: list(v) for r, v in REAL_COVARIATES_EPS.items()},
        "width": REAL_COVARIATES_WIDTH,
        "seeds": REAL_COVARIATES_SEEDS,
        "rows": dict(REAL_COVARIATES_ROWS),
        "coupling": "aligned",
        "seconds": time.perf_counter() - start,
    }
    return data
