"""Benchmark: escape times and their asymptotics (issue 4).

tanh, L = 4, r = 3 (init 1,eps,eps,eps), N = 16, 12 values of ε from 1e-1 to 1e-4.
Targets on a 2-core machine: all 12 to 12 significant digits in under 2 s (float64, the
L-dimensional manifold system), to 30 digits in under 30 s (mpmath, the scalar
reduction); exponent recovered to 1e-6 and prefactor to 1e-8 relative.

Baseline, timed in the same run: fixed-step gradient descent on the same reduced system
(what one writes first), with the step halved until τ★ is within 1e-4 of the reference;
it is run on the three largest ε and its cost for the whole sequence is extrapolated from
the measured time per step (steps ∝ τ★/η).

Run: ``python -m benchmarks.bench_escape``
"""

from __future__ import annotations

import time

import numpy as np
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.measured import measure_asymptotics
from saddle_escape.numeric.reduced import ReducedDynamics

EPS = [f"{v:.6g}" for v in np.geomspace(0.1, 1e-4, 12)]


def gradient_descent(dyn: ReducedDynamics, eps: float, eta: float) -> tuple[float, int]:
    Y = np.array([float(v) for v in dyn.model.initial_point(eps)])
    target = 0.5 * dyn.loss(Y)
    steps = 0
    while True:
        loss, grad, _ = dyn.evaluate(Y, hessian=False)
        if loss <= target:
            return steps * eta, steps
        Y = Y - eta * grad
        steps += 1


def main() -> None:
    model = build_model("tanh", 4, 16, "1,eps,eps,eps")
    escape_time(model, eps=[0.1])  # cold start: compile
    start = time.perf_counter()
    manifold = measure_asymptotics(model, eps=[float(e) for e in EPS], system="manifold")
    t_fast = time.perf_counter() - start
    fast = manifold.escape
    digits = min(p.digits for p in fast.points)
    print(f"float64, manifold, 12 eps: {t_fast:.2f} s (target < 2 s), ≥ {digits} digits each")
    start = time.perf_counter()
    scalar = measure_asymptotics(model, eps=EPS, system="scalar", dps=30)
    t_precise = time.perf_counter() - start
    digits = min(p.digits for p in scalar.escape.points)
    print(
        f"mpmath 30 digits, scalar, 12 eps: {t_precise:.1f} s (target < 30 s), ≥ {digits} "
        "digits each"
    )
    theory = float(manifold.theory.prefactor)
    for name, measured in (("manifold", manifold), ("scalar", scalar)):
        fit = measured.fit
        rel = abs(fit.prefactor - theory) / theory
        print(
            f"  {name}: exponent {fit.exponent:.12f} (error {abs(fit.exponent - 1):.1e}, target "
            f"1e-6); prefactor {fit.prefactor:.14g} vs normal form {theory:.14g} (relative "
            f"{rel:.1e}, target 1e-8)"
        )
    dyn = ReducedDynamics(model)
    per_step, total_estimate = [], 0.0
    for eps, point in zip(EPS[:3], fast.points[:3], strict=True):
        eta = 0.1
        while True:
            start = time.perf_counter()
            tau, steps = gradient_descent(dyn, float(eps), eta)
            elapsed = time.perf_counter() - start
            if abs(tau - point.tau) / point.tau < 1e-4:
                break
            eta /= 2
        per_step.append(elapsed / steps)
        print(f"  GD baseline eps = {eps}: step {eta:.2e}, {steps} steps, {elapsed:.2f} s")
    step_time = float(np.mean(per_step))
    for point in fast.points:
        # Euler's error is O(η) relative to τ★ at fixed ε: keep the step found for the
        # largest ε shrinking with τ★ so the absolute accuracy 1e-4·τ★ holds.
        total_estimate += point.tau / eta * step_time
    print(
        f"fixed-step GD for all 12 eps (extrapolated): {total_estimate:.0f} s; "
        f"speed-up {total_estimate / t_fast:.0f}x (float64), "
        f"{total_estimate / t_precise:.0f}x (30 digits)"
    )


if __name__ == "__main__":
    main()
