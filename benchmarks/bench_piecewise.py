"""Benchmark: the reduced loss and gradient for piecewise σ (issue 10).

One float64 evaluation of 𝓛 and ∇𝓛 on the manifold (L = 4, N = 16, Y = (1, .01, .01, .01))
for the ReLU family, each per half-line of g and cut at the kinks an O(1) layer reaches
(hardtanh at ±1 and hardswish at ±3 are cut on every call), against tanh's compiled
smooth path timed in the same run (the baseline). Then the float64 escape time at
ε = 1e-3 on the scalar system (two integrations, as ``escape_time`` runs them).

Target: at most 5× tanh per evaluation for the ReLU family without reachable kinks
(relu, leaky_relu, elu, softsign). Measured 2026-12-06 on a quiet 2-core machine:
relu 4.5×, leaky_relu 5.8× (not met), elu 4.0×, softsign 4.8×, hardswish 7.4×, hardtanh 16×;
before this benchmark's changes (cached Gauss–Legendre rule, a where-fold for Piecewise),
hardswish and hardtanh took 1.2 and 4.8 ms per evaluation, now 0.4 and 1.4 ms (quiet).
The rest is Python overhead per layer and per Piecewise branch (σ, σ' on two passes: the
plain grid that finds the crossings, then the cut one).

Run: ``python -m benchmarks.bench_piecewise``
"""

from __future__ import annotations

import time

from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.reduced import ReducedDynamics

NAMES = ("tanh", "relu", "leaky_relu", "elu", "softsign", "hardswish", "hardtanh")
POINT = (1.0, 0.01, 0.01, 0.01)


def per_evaluation(name: str, repeats: int = 400) -> float:
    dyn = ReducedDynamics(build_model(name, 4, 16, "1,eps,eps,eps"))
    dyn.evaluate(POINT, hessian=False)  # compile and fill the caches first
    start = time.perf_counter()
    for _ in range(repeats):
        dyn.evaluate(POINT, hessian=False)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    base = per_evaluation("tanh")
    print(f"{'σ':<12} {'ms/eval':>8} {'× tanh':>7} {'escape ε=1e-3 (s)':>18} {'evaluations':>12}")
    for name in NAMES:
        seconds = per_evaluation(name)
        model = build_model(name, 4, 16, "1,eps,eps,eps")
        start = time.perf_counter()
        result = escape_time(model, eps=[1e-3], system="scalar", fraction=0.9, throw=False)
        wall = time.perf_counter() - start
        print(
            f"{name:<12} {seconds * 1e3:8.3f} {seconds / base:7.2f} {wall:18.2f} "
            f"{result.evaluations:12d}"
        )


if __name__ == "__main__":
    main()
