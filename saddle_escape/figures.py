"""The paper's kinds of figure, drawn headless with matplotlib (PNG or SVG by extension).

Every figure is computed on built-in defaults from the toolkit itself; each function
returns the data it plotted (a dict) so the report can quote the numbers.
"""

from __future__ import annotations

import importlib
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import SupportsFloat, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.flow import integrate_flow  # noqa: E402
from saddle_escape.numeric.measured import measure_asymptotics  # noqa: E402
from saddle_escape.numeric.network import Dataset, random_network  # noqa: E402
from saddle_escape.numeric.reduced import ReducedDynamics  # noqa: E402
from saddle_escape.numeric.simulate import (  # noqa: E402
    full_escape_time,
    he_sweep,
    manifold_network,
    population_dataset,
    slope_summary,
)
from saddle_escape.symbolic.outcomes import ConvergenceError  # noqa: E402

__all__ = ["FIGURES", "REPORT_FIGURES", "draw", "check_output_dir", "check_output_file"]

#: Six values of ε per curve: enough for the fit (at least four) and for the eye.
_EPS = tuple(f"{v:.6g}" for v in np.geomspace(0.1, 1e-3, 6))
_EPS_VALUES = np.array([float(e) for e in _EPS])


def _save(fig, paths) -> None:
    """Write ``fig`` to each path; no directory is created (see :func:`check_output_file`)."""
    try:
        for path in paths:
            fig.savefig(path, dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)


def _unwritable(path: Path, doing: str, exc: OSError) -> ValueError:
    return ValueError(f"cannot write {str(path)!r}: {doing} failed ({exc.strerror or exc})")


def check_output_file(path) -> Path:
    """Check, before any work, that the file ``path`` can be written; create no directory.

    An existing file is opened for appending (and left unchanged); a new one is created
    and removed again.

    Raises
    ------
    ValueError
        When the directory of ``path`` does not exist, ``path`` is a directory, or the
        file cannot be written (permissions, a read-only or virtual file system).

    Examples
    --------
    >>> check_output_file("/nonexistent_dir/a.png")
    Traceback (most recent call last):
    ...
    ValueError: cannot write '/nonexistent_dir/a.png': its directory ... does not exist; ...
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(
            f"cannot write {str(path)!r}: its directory {str(path.parent)!r} does not exist; "
            "create it first"
        )
    if path.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    exists = path.exists()
    try:
        if exists:
            with open(path, "ab"):
                pass
        else:
            with open(path, "xb"):
                pass
            path.unlink()
    except OSError as exc:
        doing = "opening the existing file" if exists else "creating a file there"
        raise _unwritable(path, doing, exc) from None
    return path


def check_output_dir(path) -> Path:
    """Check, before any work, that files can be written in the directory ``path``.

    The directory itself may be missing if its parent exists (the caller creates it with
    ``os.mkdir``); nothing is created here.

    Raises
    ------
    ValueError
        When ``path`` is an existing file, its parent directory does not exist, or the
        directory (or, for a new one, its parent) cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"output directory {str(path)!r} is an existing file; give a directory (it is "
            "created if its parent directory exists)"
        )
    where = path if path.is_dir() else path.parent
    if not where.is_dir():
        raise ValueError(
            f"cannot create the output directory {str(path)!r}: its parent {str(where)!r} "
            "does not exist; create it first"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".saddle-escape-probe-"):
            pass
    except OSError as exc:
        raise _unwritable(path, f"creating a file in {str(where)!r}", exc) from None
    return path


def scalar_reduction(path: list[Path]) -> dict:
    """Loss and layer scales: full network (markers) over the reduced ODE (lines)."""
    scales, width = [1.0, 0.05, 0.05, 0.05], 8
    run = full_escape_time(
        manifold_network(scales, width), population_dataset(48), "tanh", rtol=1e-10, record=40
    )
    dyn = ReducedDynamics(build_model("tanh", 4, width, "1,eps,eps,eps"))
    t_end = run.times[-1] * 1.6
    sol = solve_ivp(
        lambda t, Y: -dyn.gradient(Y),
        (0, t_end),
        scales,
        method="DOP853",
        dense_output=True,
        rtol=1e-10,
        atol=1e-13,
    )
    grid = np.linspace(0, t_end, 400)
    Ys = sol.sol(grid)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(grid, [dyn.loss(Y) for Y in Ys.T], "k-", label="reduced ODE")
    ax1.plot(run.times, run.loss, "o", ms=3, color="C3", label="full network (N = 8)")
    ax1.axvline(run.tau, ls=":", color="gray", label=f"τ★ = {run.tau:.4g}")
    ax1.set(
        xlabel="gradient-flow time t",
        ylabel="loss L(t)",
        title="tanh, L = 4, init (1, ε, ε, ε), ε = 0.05",
    )
    ax1.legend()
    for l in range(4):
        ax2.plot(grid, Ys[l], "-", color=f"C{l}", label=f"Y{l + 1} reduced")
        ax2.plot(run.times, run.norms[:, l], "o", ms=3, color=f"C{l}")
    ax2.set(
        xlabel="gradient-flow time t",
        ylabel="layer scale Y_l = ‖W_l‖_F",
        yscale="log",
        title="markers: full network; lines: reduced ODE",
    )
    ax2.legend(fontsize=8)
    _save(fig, path)
    return {"tau_full": run.tau, "max_manifold_distance": float(run.distance.max())}


def universality(path: list[Path]) -> dict:
    """τ★ vs ε for B and C activations, raw and rescaled by the normal-form prefactor."""
    names = ["tanh", "sin", "erf", "gelu", "silu"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {}
    for i, name in enumerate(names):
        measured = measure_asymptotics(name, 4, 16, "1,eps,eps,eps", eps=_EPS, system="manifold")
        a, fit = measured.theory, measured.fit
        if a.prefactor is None or fit is None:  # B or C at r = 3: the power regime
            raise ConvergenceError(f"{name}: no power-law prefactor (regime {a.regime})")
        prefactor = float(a.prefactor)
        points = [] if measured.escape is None else measured.escape.points
        taus = np.array([float(cast(SupportsFloat, p.tau)) for p in points])
        data[name] = {
            "prefactor": prefactor,
            "fit": {"prefactor": fit.prefactor, "exponent": fit.exponent},
            "tau": taus.tolist(),
        }
        ax1.loglog(_EPS_VALUES, taus, "o-", color=f"C{i}", label=name)
        ax2.semilogx(_EPS_VALUES, taus * _EPS_VALUES / prefactor, "o-", color=f"C{i}", label=name)
    ax1.set(xlabel="initial scale ε", ylabel="escape time τ★", title="raw")
    ax2.axhline(1, color="k", lw=0.8)
    ax2.set(
        xlabel="initial scale ε",
        ylabel="τ★ · ε / prefactor",
        title="rescaled by the normal-form prefactor",
    )
    fig.suptitle(
        "B (tanh, sin, erf) and C (GELU, SiLU): L = 4, N = 16, init (1, ε, ε, ε); "
        "C deviates by its ε ln ε term",
        fontsize=10,
    )
    ax1.legend()
    ax2.legend()
    _save(fig, path)
    return data


def critical_depth(path: list[Path]) -> dict:
    """τ★ vs ε for r = 1..5 with the predicted asymptotes."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    data = {}
    for r in range(1, 6):
        init = ",".join(["1"] + ["eps"] * r + ["1"] * (6 - r))
        measured = measure_asymptotics("tanh", 7, 16, init, eps=_EPS, system="scalar", throw=False)
        a = measured.theory
        if measured.escape is None or not measured.escape.status.ok:
            raise ConvergenceError(f"r = {r}: {'; '.join(measured.notes)}")
        taus = np.array([p.tau for p in measured.escape.points], float)
        singular = np.array([a.leading(e) for e in _EPS_VALUES])
        constant = taus[-1] - singular[-1]
        ax.loglog(_EPS_VALUES, taus, "o", color=f"C{r}", label=f"r = {r} ({a.regime})")
        ax.loglog(_EPS_VALUES, singular + constant, "-", color=f"C{r}", lw=1)
        data[r] = {"regime": a.regime, "tau": taus.tolist()}
    ax.set(
        xlabel="initial scale ε",
        ylabel="escape time τ★",
        title="tanh, L = 7: markers τ★, lines singular expansion + const",
    )
    ax.legend(fontsize=8)
    _save(fig, path)
    return data


#: The off-manifold figure's sweeps: r → ε grid, at the law's scale. Measured (tanh, N = 16,
#: P = 64, seeds 0..4): every single-seed slope within 0.05 of −(r − 2), the mean over
#: seeds 0..2 within 0.03 (r = 3: −1.03, r = 5: −2.98, r = 8: −5.97). Larger ε is not in
#: the asymptotic regime yet: ε ∈ (0.35, 0.3, 0.25) gave −5.65 for r = 8; r = 3 converges
#: slowest (slope ≈ −1.10 at ε ≈ 0.1), so its grid is smallest.
OFF_MANIFOLD_GRIDS = {3: (0.05, 0.02, 0.01), 5: (0.15, 0.12, 0.1), 8: (0.2, 0.15, 0.12)}
#: Width N (input, hidden), data set size P and seeds of the off-manifold figure.
OFF_MANIFOLD_WIDTH, OFF_MANIFOLD_SAMPLES, OFF_MANIFOLD_SEEDS = 16, 64, 3


def off_manifold(path: list[Path], grids: dict | None = None, seeds: int | None = None) -> dict:
    """He-normal τ★ vs ε for r = 3, 5, 8 with fitted slopes, the law, and error bars.

    ``grids`` (r → ε values) and ``seeds`` default to :data:`OFF_MANIFOLD_GRIDS` and
    :data:`OFF_MANIFOLD_SEEDS`; error bars are drawn only when every point has ≥ 2 seeds.
    """
    grids = OFF_MANIFOLD_GRIDS if grids is None else grids
    seeds = OFF_MANIFOLD_SEEDS if seeds is None else seeds
    width, samples = OFF_MANIFOLD_WIDTH, OFF_MANIFOLD_SAMPLES
    fig, ax = plt.subplots(figsize=(6, 4.5))
    data = {}
    for i, (r, eps) in enumerate(grids.items()):
        widths = (width,) * (r + 2) + (1,)
        summary = slope_summary(
            he_sweep("tanh", widths, tuple(range(2, r + 2)), eps, seeds, samples=samples)
        )
        means = [p["tau"] for p in summary["points"]]
        if None in means or summary["slope"] is None:
            raise ConvergenceError(f"r = {r}: an escape failed at ε in {tuple(eps)}")
        stds = [p["tau_std"] for p in summary["points"]]
        law = -(r - 2)
        spread = f" ± {summary['slope_std']:.2f}" if summary["slope_std"] is not None else ""
        ax.errorbar(
            [p["eps"] for p in summary["points"]],
            means,
            yerr=None if None in stds else stds,  # one seed measures no spread
            fmt="o",
            color=f"C{i}",
            capsize=3,
            label=f"r = {r}: slope {summary['slope']:.2f}{spread} (law {law})",
        )
        # the law's line through the geometric mean of the points
        e = np.array([p["eps"] for p in summary["points"]], float)
        e0, t0 = np.exp(np.log(e).mean()), np.exp(np.log(means).mean())
        ax.plot(e, t0 * (e / e0) ** law, "--", color=f"C{i}", lw=1)
        data[r] = {
            "slope": summary["slope"],
            "slope_std": summary["slope_std"],
            "expected_slope": law,
            "eps": [p["eps"] for p in summary["points"]],
        }
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="bottleneck scale ε",
        ylabel=f"escape time τ★ (mean ± sd, {seeds} seeds)"
        if seeds > 1
        else "escape time τ★ (one seed)",
        title=f"full tanh networks, He-normal, N = {width}, P = {samples}; dashed: the law",
    )
    ax.legend(fontsize=8)
    _save(fig, path)
    return data


def imbalance(path: list[Path]) -> dict:
    """Δ_l(t) − Δ_l(0) with the integral of the identity's right-hand side."""
    rng = np.random.default_rng(3)
    data = Dataset(rng.normal(size=(32, 4)), rng.normal(size=(32, 1)))
    run = integrate_flow(
        random_network((4, 6, 6, 6, 1), seed=3), data, "tanh", t_final=20.0, n_points=60
    )
    fig, ax = plt.subplots(figsize=(6, 4.5))
    drift = run.imbalance - run.imbalance[0]
    for l in range(drift.shape[1]):
        ax.plot(
            run.times, drift[:, l], "o", ms=3, color=f"C{l}", label=f"Δ{l + 1}(t) − Δ{l + 1}(0)"
        )
        ax.plot(
            run.times,
            run.drift_integral[:, l],
            "-",
            color=f"C{l}",
            label=f"∫ 2E⟨W{l + 2}ᵀ∇ℓ, φ(z{l + 1})⟩ dt",
        )
    ax.set(
        xlabel="gradient-flow time t",
        ylabel="imbalance drift",
        title="tanh network: markers measured, lines the identity",
    )
    ax.legend(fontsize=7)
    _save(fig, path)
    return {"max_gap": float(np.abs(drift - run.drift_integral).max())}


def _elsewhere(module: str, function: str) -> Callable[[list[Path]], dict]:
    """A figure drawn by ``module.function``, imported when drawn (no import cycle)."""

    def draw_it(path: list[Path]) -> dict:
        return getattr(importlib.import_module(module), function)(path)

    draw_it.__name__ = draw_it.__qualname__ = function
    return draw_it


#: Every figure, by name (``saddle-escape figure NAME``).
FIGURES: dict[str, Callable[[list[Path]], dict]] = {
    "scalar-reduction": scalar_reduction,
    "universality": universality,
    "critical-depth": critical_depth,
    "off-manifold": off_manifold,
    "imbalance": imbalance,
    "signal-geometry": _elsewhere("saddle_escape.figures_theory", "signal_geometry"),
    "anisotropy": _elsewhere("saddle_escape.figures_theory", "anisotropy"),
    "mode-ratios": _elsewhere("saddle_escape.figures_theory", "mode_ratios"),
    "staircase": _elsewhere("saddle_escape.figures_theory", "staircase"),
    "real-covariates": _elsewhere("saddle_escape.figures_data", "real_covariates"),
    "optimizers": _elsewhere("saddle_escape.figures_optimizers", "optimizers"),
}
#: The figures ``saddle-escape report`` draws: the paper's and the data side's theory
#: figures (seconds each). ``real-covariates`` and ``optimizers`` run hundreds of full
#: networks (minutes): ``saddle-escape figure NAME`` draws them.
REPORT_FIGURES = (
    "scalar-reduction",
    "universality",
    "critical-depth",
    "off-manifold",
    "imbalance",
    "signal-geometry",
    "anisotropy",
    "mode-ratios",
    "staircase",
)


def draw(name: str, path) -> dict:
    """Draw figure ``name`` to ``path`` (``.png`` or ``.svg``), or to each of a list of paths.

    Every path is checked before the figure is computed; no directory is created.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), a bad extension, or a path
        that cannot be written (its directory missing, no permission).
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; valid: {', '.join(FIGURES)}")
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    for p in paths:
        if p.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"figure path {str(p)!r} must end in .png or .svg")
        check_output_file(p)
    result = FIGURES[name](paths)
    return {k: v for k, v in result.items() if not (isinstance(v, float) and math.isnan(v))}
