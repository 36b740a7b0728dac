r"""Figures of the clock Γ on population tasks (DESIGN §5): the theory side of issue 11.

* ``signal-geometry``: two equal features rotated toward cancellation; the observed
  slowdown follows :math:`1/\lVert\sum_k\beta_k\mu_k\Sigma v_k\rVert`, not the per-feature
  sum of strengths;
* ``anisotropy``: τ★ against Γ over anisotropic, misaligned and rescaled teachers, one
  calibration condition predicting the rest as :math:`\tau_{cal}\Gamma_{cal}/\Gamma`;
* ``mode-ratios``: a scalar output's overlaps with three features grow through one
  amplitude, their ratios fixed by ĉ and Σ (nothing fitted);
* ``staircase``: vector outputs escape mode by mode at the times of Saxe et al. (2014).

Every figure is computed by the toolkit's full-network simulator on built-in defaults, in
well under a minute on two cores, and returns the numbers it drew. Each function takes the
list of output paths (``.png``/``.svg``), like those of :mod:`saddle_escape.figures`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from saddle_escape.numeric.network import Network  # noqa: E402
from saddle_escape.numeric.simulate import full_escape_time, he_network  # noqa: E402
from saddle_escape.numeric.teachers import (  # noqa: E402
    GaussianTask,
    mode_escape_times,
    overlap_trajectory,
    saxe_escape_time,
    saxe_leading_time,
    saxe_network,
)
from saddle_escape.symbolic.outcomes import ConvergenceError  # noqa: E402

__all__ = [
    "FIGURES_THEORY",
    "signal_geometry",
    "anisotropy",
    "mode_ratios",
    "staircase",
    "THEORY_WIDTHS",
    "THEORY_EPS",
    "THEORY_SEEDS",
]

#: The architecture of the scalar-output figures: tanh, d = 2, N = 16, layers 1–3 at ε
#: (r = 3, bottleneck including layer 1: the setting where τ★ ∝ 1/Γ holds exactly at
#: leading order).
THEORY_WIDTHS, THEORY_BOTTLENECK = (2, 16, 16, 16, 1), (1, 2, 3)
#: ε and seeds of the signal-geometry and anisotropy figures.
THEORY_EPS, THEORY_SEEDS = 0.01, 3
#: Half-range nodes per input coordinate of the population quadrature ((2n)² points).
_NODES = 12


def _save(fig, paths) -> None:
    # Imported here: saddle_escape.figures registers these functions and may import this
    # module while it is itself being imported.
    from saddle_escape.figures import _save as save

    save(fig, paths)


def _escape(network: Network, data, *, threshold: str = "overlap") -> float:
    run = full_escape_time(network, data, "tanh", rtol=1e-8, record=4, threshold=threshold)
    if not run.escaped or run.tau is None:
        raise ConvergenceError(f"a figure run did not escape: {run.message}")
    return run.tau


def _in_drive_frame(network: Network, direction: np.ndarray) -> Network:
    """The same start expressed in the frame of ĉ: W₁ → W₁R with Rĉ = e₁ (so W₁Rĉ = W₁e₁)."""
    c, s = float(direction[0]), float(direction[1])
    rotation = np.array([[c, s], [-s, c]])
    return Network((network.weights[0] @ rotation,) + network.weights[1:], network.biases)


# -- signal geometry ---------------------------------------------------------------------

#: Half-angles α (degrees) between the two features: c = 2μ cos α e₁.
SIGNAL_ANGLES = (0.0, 20.0, 35.0, 45.0, 55.0, 65.0, 75.5)


def _rotated_pair(alpha: float) -> GaussianTask:
    return GaussianTask(
        np.eye(2),
        features=[
            (1.0, "tanh", [math.cos(alpha), math.sin(alpha)]),
            (1.0, "tanh", [math.cos(alpha), -math.sin(alpha)]),
        ],
    )


def signal_geometry(path: list[Path]) -> dict:
    """Two equal tanh features at ±α from e₁: slowdown vs the vector and scalar-sum laws."""
    angles = np.radians(SIGNAL_ANGLES)
    taus = np.zeros((THEORY_SEEDS, angles.size))
    gammas, sums = [], []
    for j, alpha in enumerate(angles):
        task = _rotated_pair(float(alpha))
        gammas.append(task.gamma())
        sums.append(sum(abs(s.beta * s.mu) for s in task.slopes()))
        data = task.population(_NODES)
        for seed in range(THEORY_SEEDS):
            net = he_network(THEORY_WIDTHS, THEORY_BOTTLENECK, THEORY_EPS, seed=seed)
            taus[seed, j] = _escape(net, data)
    slowdowns = taus / taus[:, :1]
    mean, spread = slowdowns.mean(axis=0), slowdowns.std(axis=0, ddof=1)
    vector = gammas[0] / np.array(gammas)
    scalar = sums[0] / np.array(sums)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    grid = np.radians(np.linspace(0, 77, 200))
    ax.plot(np.degrees(grid), 1 / np.cos(grid), "-", color="C0", label="vector: 1/‖Σ β μ Σv‖")
    ax.plot(SIGNAL_ANGLES, scalar, "--", color="gray", label="scalar sum Σ|βμ|: no change")
    ax.errorbar(
        SIGNAL_ANGLES,
        mean,
        yerr=spread,
        fmt="o",
        color="C3",
        capsize=3,
        label=f"observed τ★(α)/τ★(0), mean ± sd of {THEORY_SEEDS} seeds",
    )
    ax.set(
        xlabel="half-angle α between the features (degrees)",
        ylabel="slowdown τ★(α)/τ★(0)",
        yscale="log",
        title=f"y = tanh(v₊·x) + tanh(v₋·x), v± = (cos α, ±sin α); ε = {THEORY_EPS}",
    )
    ax.legend(fontsize=8)
    _save(fig, path)
    return {
        "angles": list(SIGNAL_ANGLES),
        "gamma": [float(g) for g in gammas],
        "slowdown": mean.tolist(),
        "slowdown_std": spread.tolist(),
        "vector_prediction": vector.tolist(),
        "scalar_sum_prediction": scalar.tolist(),
        "max_relative_error": float(np.abs(mean / vector - 1).max()),
    }


# -- anisotropy --------------------------------------------------------------------------

#: Teacher angles θ (degrees) from Σ's top eigenvector, Σ = diag(4, 1).
ANISOTROPY_ANGLES = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)
#: Rescaled isotropic teachers y = β x₁.
ANISOTROPY_SCALES = (0.5, 2.0, 3.0)


def anisotropy(path: list[Path]) -> dict:
    """τ★ against Γ: calibrated on Σ = I, y = x₁; every other condition predicted.

    The start is expressed in the frame of each condition's ĉ (the first layer rotated so
    that it meets ĉ as it meets e₁ in the calibration), so that the comparison isolates Γ:
    with the same random start in a fixed frame, a rotated ĉ meets other random
    projections and the prefactor varies from seed to seed.
    """
    sigma = np.diag([4.0, 1.0])
    conditions: list[tuple[str, GaussianTask, float]] = [
        ("calibration", GaussianTask(np.eye(2), features=[(1.0, "linear", [1.0, 0.0])]), 0.0)
    ]
    for beta in ANISOTROPY_SCALES:
        task = GaussianTask(np.eye(2), features=[(beta, "linear", [1.0, 0.0])])
        conditions.append((f"rescaled β = {beta:g}", task, 0.0))
    for theta in ANISOTROPY_ANGLES:
        u = [math.cos(math.radians(theta)), math.sin(math.radians(theta))]
        conditions.append(
            (
                f"Σ = diag(4, 1), θ = {theta:g}°",
                GaussianTask(sigma, features=[(1.0, "linear", u)]),
                theta,
            )
        )
    rows: list[dict[str, Any]] = []
    for label, task, theta in conditions:
        data = task.population(_NODES)
        taus = []
        for seed in range(THEORY_SEEDS):
            net = he_network(THEORY_WIDTHS, THEORY_BOTTLENECK, THEORY_EPS, seed=seed)
            taus.append(_escape(_in_drive_frame(net, task.direction()), data))
        unit = np.array(task.features[0][2])
        rows.append(
            {
                "label": label,
                "theta": theta,
                "gamma": task.gamma(),
                "own_variance": float(task.features[0][0] * unit @ task.covariance @ unit),
                "tau": float(np.mean(taus)),
                "tau_std": float(np.std(taus, ddof=1)),
            }
        )
    calibration = rows[0]
    constant = calibration["tau"] * calibration["gamma"]
    for row in rows:
        row["predicted"] = constant / row["gamma"]
        row["ratio"] = row["tau"] / row["predicted"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    gammas = np.array([r["gamma"] for r in rows])
    line = np.geomspace(gammas.min() * 0.8, gammas.max() * 1.25, 50)
    ax1.plot(line, constant / line, "-", color="k", lw=1, label="τ_cal·Γ_cal/Γ")
    groups = (("rescaled", "C0", "s"), ("Σ = diag", "C3", "o"))
    for key, color, marker in groups:
        chosen = [r for r in rows if r["label"].startswith(key)]
        ax1.errorbar(
            [r["gamma"] for r in chosen],
            [r["tau"] for r in chosen],
            yerr=[r["tau_std"] for r in chosen],
            fmt=marker,
            color=color,
            capsize=3,
            label="rescaled teachers (Σ = I)" if key == "rescaled" else "Σ = diag(4, 1), y = u_θ·x",
        )
    ax1.plot(calibration["gamma"], calibration["tau"], "o", mfc="none", color="k", ms=9)
    ax1.annotate("calibration", (calibration["gamma"], calibration["tau"]), fontsize=8)
    ax1.set(xscale="log", yscale="log", xlabel="Γ = ‖E[yx]‖", ylabel="τ★ (overlap threshold)")
    ax1.legend(fontsize=8)
    swept = [r for r in rows if r["label"].startswith("Σ = diag")]
    thetas = np.array([r["theta"] for r in swept])
    fine = np.radians(np.linspace(0, 90, 200))
    u_fine = np.stack([np.cos(fine), np.sin(fine)], axis=1)
    norms = np.linalg.norm(u_fine @ sigma, axis=1)
    variances = np.einsum("ij,jk,ik->i", u_fine, sigma, u_fine)
    base = calibration["tau"]
    ax2.plot(np.degrees(fine), calibration["gamma"] / norms, "-", color="C3", label="Γ: 1/‖Σu‖")
    ax2.plot(
        np.degrees(fine),
        calibration["gamma"] / variances,
        "--",
        color="gray",
        label="own variance: 1/(uᵀΣu)",
    )
    ax2.errorbar(
        thetas,
        [r["tau"] / base for r in swept],
        yerr=[r["tau_std"] / base for r in swept],
        fmt="o",
        color="C3",
        capsize=3,
        label="observed τ★/τ★_cal",
    )
    ax2.set(
        xlabel="teacher angle θ from Σ's top eigenvector (degrees)",
        ylabel="τ★ / τ★ of the calibration",
        title="Σ = diag(4, 1): misaligned teachers are presented more strongly",
    )
    ax2.legend(fontsize=8)
    fig.suptitle(
        f"tanh, widths {THEORY_WIDTHS}, layers 1–3 at ε = {THEORY_EPS}; mean ± sd of "
        f"{THEORY_SEEDS} seeds",
        fontsize=10,
    )
    _save(fig, path)
    ratios = np.array([r["ratio"] for r in rows[1:]])
    return {
        "conditions": rows,
        "median_abs_log_ratio": float(np.median(np.abs(np.log(ratios)))),
        "max_abs_log_ratio": float(np.abs(np.log(ratios)).max()),
    }


# -- mode ratios -------------------------------------------------------------------------

#: Scalar teacher of three features on anisotropic inputs (entire functions, so the
#: population quadrature matches the closed form to 1e-6).
MODE_TASK_FEATURES = (
    (1.0, "erf", (1.0, 0.0)),
    (1.0, "sin", (0.6, 0.8)),
    (0.5, "x**3", (0.0, 1.0)),
)
MODE_TASK_COVARIANCE = ((2.0, 0.5), (0.5, 1.0))
#: ε of the mode-ratios figure (the random start's share fades as ε/amplitude).
MODE_EPS = 1e-3


def mode_ratios(path: list[Path]) -> dict:
    """Overlaps of features 2 and 3 predicted from feature 1's and the ratios alone."""
    task = GaussianTask(np.array(MODE_TASK_COVARIANCE), features=tuple(MODE_TASK_FEATURES))
    data = task.population(16)
    levels = tuple(np.geomspace(1e-5, 0.5, 20))
    runs = [
        overlap_trajectory(
            he_network(THEORY_WIDTHS, THEORY_BOTTLENECK, MODE_EPS, seed=seed),
            task,
            data,
            "tanh",
            points=60,
            levels=levels,
        )
        for seed in range(THEORY_SEEDS)
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    run = runs[0]
    last = run.times[-1]
    window = run.times > last - 8
    for k in range(3):
        measured = np.abs(run.function_overlaps[window, k])
        ax1.plot(run.times[window], measured, "o", ms=3, color=f"C{k}", label=f"feature {k + 1}")
        if k:
            predicted = np.abs(run.predicted_function[k] * run.function_overlaps[window, 0])
            ax1.plot(run.times[window], predicted, "-", color=f"C{k}", lw=1)
    ax1.set(
        yscale="log",
        xlabel="gradient-flow time t",
        ylabel="|E[f(x) f_k(v_k·x)]|",
        title="markers measured; lines: feature 1 × predicted ratio",
    )
    ax1.legend(fontsize=8)
    summary = []
    for seed, r in enumerate(runs):
        for kind, overlaps, predicted, style in (
            ("function", r.function_overlaps, r.predicted_function, "-"),
            ("direction", r.direction_overlaps, r.predicted_direction, ":"),
        ):
            errors = np.abs(overlaps / overlaps[:, :1] / predicted - 1).max(axis=1)
            keep = r.drive > 0
            ax2.plot(
                r.drive[keep],
                errors[keep],
                style,
                color=f"C{seed}",
                label=f"seed {seed}, {kind}" if seed == 0 or kind == "function" else None,
            )
            at = {
                float(level): float(errors[np.argmin(np.abs(r.drive - level))])
                for level in (1e-3, 1e-2, 0.5)
            }
            summary.append({"seed": seed, "kind": kind, "errors_at_drive": at})
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="drive overlap E[f ĉᵀx]/Γ",
        ylabel="max_k |measured ratio / predicted − 1|",
        title="function (solid) and direction (dotted) overlaps",
    )
    ax2.legend(fontsize=7)
    fig.suptitle(
        f"y = erf(x₁) + sin(0.6x₁ + 0.8x₂) + 0.5x₂³, Σ = [[2, .5], [.5, 1]]; tanh, ε = {MODE_EPS}",
        fontsize=10,
    )
    _save(fig, path)
    return {
        "predicted_function_ratios": run.predicted_function.tolist(),
        "predicted_direction_ratios": run.predicted_direction.tolist(),
        "tau": [r.tau for r in runs],
        "errors": summary,
    }


# -- staircase ---------------------------------------------------------------------------

#: Singular values of the vector teacher (d = m = 3, whitened inputs), depth and ε.
STAIRCASE_STRENGTHS, STAIRCASE_DEPTH, STAIRCASE_EPS = (3.0, 1.5, 0.75), 3, 0.01


def staircase(path: list[Path]) -> dict:
    """Mode strengths of a deep linear network with vector outputs; escapes vs s_k."""
    from scipy.stats import special_ortho_group

    strengths = np.array(STAIRCASE_STRENGTHS)
    U = special_ortho_group.rvs(3, random_state=1)
    V = special_ortho_group.rvs(3, random_state=2)
    task = GaussianTask(np.eye(3), teacher=U @ np.diag(strengths) @ V.T)
    data = task.population(2)
    L, eps = STAIRCASE_DEPTH, STAIRCASE_EPS
    balanced = mode_escape_times(
        saxe_network(task.correlation(), L, 8, eps), data, rtol=1e-10, points=400
    )
    random_runs = [
        mode_escape_times(
            he_network((3, 16, 16, 3), tuple(range(1, L + 1)), eps, seed=seed),
            data,
            rtol=1e-9,
            points=400,
        )
        for seed in range(THEORY_SEEDS)
    ]
    predicted = [saxe_escape_time(s, eps, L) for s in strengths]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for k, s in enumerate(strengths):
        ax1.plot(
            balanced.trajectory_times,
            balanced.strengths[:, k] / s,
            "-",
            color=f"C{k}",
            label=f"mode {k + 1}, s = {s:g} (balanced start)",
        )
        ax1.plot(
            random_runs[0].trajectory_times,
            random_runs[0].strengths[:, k] / s,
            "--",
            color=f"C{k}",
            lw=1,
        )
        ax1.axvline(predicted[k], color=f"C{k}", ls=":", lw=1)
    ax1.axhline(0.5, color="gray", lw=0.5)
    ax1.set(
        xlabel="gradient-flow time t",
        ylabel="mode strength u_kᵀ E[f xᵀ] v_k / s_k",
        title="solid: balanced start; dashed: He-normal × ε; dotted: Saxe",
    )
    ax1.legend(fontsize=8)
    fine = np.geomspace(strengths.min() * 0.8, strengths.max() * 1.25, 100)
    ax2.plot(
        fine, [saxe_escape_time(s, eps, L) for s in fine], "-", color="k", label="Saxe closed form"
    )
    ax2.plot(
        fine,
        [saxe_leading_time(s, eps, L) for s in fine],
        "--",
        color="gray",
        label="leading term 1/((L − 2)·s·ε^(L−2))",
    )
    ax2.plot(strengths, balanced.times, "o", ms=8, mfc="none", color="C3", label="balanced start")
    for seed, r in enumerate(random_runs):
        ax2.plot(strengths, r.times, "x", color="C0", label="He-normal × ε" if seed == 0 else None)
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="singular value s_k of C = E[y xᵀ]",
        ylabel="escape time of mode k (u_k reaches s_k/2)",
        title=f"deep linear, L = {L}, all layers at ε = {eps}",
    )
    ax2.legend(fontsize=8)
    _save(fig, path)
    return {
        "singular_values": strengths.tolist(),
        "predicted": predicted,
        "balanced": list(balanced.times),
        "balanced_max_relative_error": float(
            np.max(np.abs(np.array(balanced.times) / np.array(predicted) - 1))
        ),
        "he_normal": [list(r.times) for r in random_runs],
    }


#: Figure name -> function, for ``saddle_escape.figures.FIGURES``.
FIGURES_THEORY = {
    "signal-geometry": signal_geometry,
    "anisotropy": anisotropy,
    "mode-ratios": mode_ratios,
    "staircase": staircase,
}
