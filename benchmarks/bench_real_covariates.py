"""Benchmark: the real-covariates figure and the calibration protocol's accuracy (issue 11).

Regenerates the ``real-covariates`` figure (scikit-learn's digits with four targets,
breast_cancer and wine; tanh, N = 16, depth r + 2, r = 2..5, five ε per r, three seeds;
every data set calibrated on an isotropic Gaussian sample of its own d and n) and reports:

* wall time (target: under 5 minutes on 2 cores);
* the median |ln(τ_pred/τ_obs)| over held-out rows (every condition, ε and seed) where
  the bottleneck includes layer 1 (target ≤ 0.1), per r and per data set;
* item 4 (an O(1) first layer before the bottleneck): the same median with Γ and with the
  drive through the first layer, D = ‖E[y σ(W_1 x)]‖.

``--coupling independent`` measures the protocol with plain seeded He-normal weights (no
rotation of the first layer toward each condition's drive) instead of drawing the figure.

Run: ``python -m benchmarks.bench_real_covariates [--coupling independent] [--out DIR]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from saddle_escape.figures_data import _summary, real_covariates, real_covariates_tables


def _show(label: str, summary: dict) -> None:
    def fmt(value):
        return "-" if value is None else f"{value:.3f}"

    print(
        f"{label}: median |ln(τ_pred/τ_obs)| with Γ = {fmt(summary['median_abs_log_ratio'])}, "
        f"with the drive = {fmt(summary['median_abs_log_ratio_drive'])} "
        f"({summary['rows']} held-out rows, {summary['failures']} runs without escape)"
    )
    print("  by r (Γ):     " + ", ".join(f"r={r}: {fmt(v)}" for r, v in summary["by_r"].items()))
    print(
        "  by r (drive): " + ", ".join(f"r={r}: {fmt(v)}" for r, v in summary["by_r_drive"].items())
    )
    print("  by data (Γ):  " + ", ".join(f"{k}: {fmt(v)}" for k, v in summary["by_data"].items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupling", choices=("aligned", "independent"), default="aligned")
    parser.add_argument("--out", default=None, help="directory for the PNG (default: a temp dir)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.coupling == "aligned":
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out or tmp) / "real-covariates.png"
            data = real_covariates([out])
            print(f"real-covariates figure regenerated in {time.perf_counter() - start:.1f} s")
        first, inner = data["first"], data["inner"]
    else:
        tables = real_covariates_tables(coupling="independent")
        print(f"independent coupling, all runs: {time.perf_counter() - start:.1f} s")
        first, inner = _summary(tables, "first"), _summary(tables, "inner")
    _show("bottleneck includes layer 1 (layers 1..r at ε)", first)
    _show("O(1) first layer (layers 2..r+1 at ε)", inner)


if __name__ == "__main__":
    main()
