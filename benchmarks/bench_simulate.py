"""Benchmark: full-network escape times (issue 5).

tanh, width 32, d = 32, P = 1024 seeded Gaussian inputs, He-normal, L = r + 2, the r
middle layers × ε. Compared in the same run with fixed-step gradient descent (step
0.01, as a researcher's script would use) at the hardest points of the grid (r = 5,
ε = 0.06 and r = 8, ε = 0.15): gradient evaluations, wall time, and error against a
tight-tolerance reference. Then the whole grid (r = 3, 5, 8; 3 seeds) through a local
process pool, every τ★ checked against a reference at rtol 1e-10.

Run: ``python -m benchmarks.bench_simulate [--skip-gd]``
"""

from __future__ import annotations

import argparse
import time

from saddle_escape.numeric.simulate import (
    full_escape_time,
    gradient_descent_escape,
    he_network,
    he_sweep,
    local_executor,
    sample_dataset,
)

WIDTH, DIM, SAMPLES = 32, 32, 1024
GRID = {3: (0.3, 0.2, 0.1, 0.06), 5: (0.3, 0.2, 0.1, 0.06), 8: (0.3, 0.2, 0.15)}
HARDEST = ((5, 0.06), (8, 0.15))


def setup(r, eps, seed=0):
    widths = (DIM,) + (WIDTH,) * (r + 1) + (1,)
    net = he_network(widths, tuple(range(2, r + 2)), eps, seed=seed)
    return net, sample_dataset(SAMPLES, DIM, seed=10_000 + seed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-gd", action="store_true", help="skip the slow baseline")
    parser.add_argument("--grid-only", action="store_true", help="only the whole-grid timing")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the rtol-1e-10 references (slow)"
    )
    parser.add_argument("--rtol", type=float, default=1e-6, help="grid tolerance (default 1e-6)")
    parser.add_argument(
        "--gd", default="5", help="r values whose hardest point runs the GD baseline (5: ~8 min)"
    )
    args = parser.parse_args(argv)
    args.gd = {int(v) for v in args.gd.split(",") if v.strip()}
    for r, eps in () if args.grid_only else HARDEST:
        net, data = setup(r, eps)
        reference = full_escape_time(net, data, "tanh", rtol=1e-10, record=4).tau
        start = time.perf_counter()
        run = full_escape_time(net, data, "tanh", rtol=1e-6, record=4)
        t_ode = time.perf_counter() - start
        err = abs(run.tau - reference) / reference
        print(
            f"r = {r}, eps = {eps}: adaptive τ★ = {run.tau:.6f} ({run.evaluations} gradient "
            f"evaluations, {t_ode:.2f} s, error {err:.1e}; reference {reference:.8f})"
        )
        if args.skip_gd or r not in args.gd:
            per_eval = t_ode / run.evaluations
            print(
                f"  fixed-step GD (η = 0.01) would need ≈ {reference / 0.01:.0f} steps: "
                f"≈ {reference / 0.01 / run.evaluations:.0f}× the evaluations, "
                f"≈ {reference / 0.01 * per_eval:.0f} s at this cost per gradient (not run)"
            )
            continue
        start = time.perf_counter()
        gd = gradient_descent_escape(net, data, "tanh", step=0.01, record=4)
        tau_gd, steps = gd.tau, gd.evaluations
        t_gd = time.perf_counter() - start
        err_gd = abs(tau_gd - reference) / reference
        print(
            f"  fixed-step GD (η = 0.01): τ★ = {tau_gd:.4f}, {steps} steps, {t_gd:.1f} s, "
            f"error {err_gd:.1e}; ratios: {steps / run.evaluations:.0f}× evaluations, "
            f"{t_gd / t_ode:.0f}× wall time"
        )
    start = time.perf_counter()
    with local_executor(2) as pool:
        records = [
            rec
            for r, eps in GRID.items()
            for rec in he_sweep(
                "tanh",
                (DIM,) + (WIDTH,) * (r + 1) + (1,),
                tuple(range(2, r + 2)),
                eps,
                3,
                samples=SAMPLES,
                rtol=args.rtol,
                executor=pool,
            )
        ]
    t_grid = time.perf_counter() - start
    worst = 0.0
    for rec in [] if args.no_reference else records:
        net, data = setup(len(rec.bottleneck), rec.eps, rec.seed)
        reference = full_escape_time(net, data, "tanh", rtol=1e-10, record=4).tau
        worst = max(worst, abs(rec.tau - reference) / reference)
    print(
        f"whole grid (r = 3, 5, 8; {len(records)} runs, 3 seeds): {t_grid:.1f} s "
        f"(target < 60 s); worst relative error vs rtol-1e-10 reference {worst:.1e} "
        "(target 1e-4)"
    )


if __name__ == "__main__":
    main()
