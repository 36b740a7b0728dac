"""Benchmark: classify the whole activation registry (issue 2).

Target: all of it in under 3 s on a 2-core machine, cold start (imports) excluded.
Baseline measured in the same run: the naive route, simplify φ_σ = xσ' − σ and then
take its series, per activation (capped at ``--cap`` seconds each).

Run: ``python -m benchmarks.bench_classify [--cap SECONDS] [--only NAME,...]``
"""

from __future__ import annotations

import argparse
import time

import sympy as sp
from saddle_escape.classes import REGISTRY, classify
from saddle_escape.symbolic.outcomes import TimeLimitError
from saddle_escape.symbolic.parsing import X, parse_activation
from saddle_escape.symbolic.timeouts import time_limit
from sympy.core.cache import clear_cache


def ours(names) -> float:
    clear_cache()
    start = time.perf_counter()
    for name in names:
        classify(name)
    return time.perf_counter() - start


def naive(name: str, cap: float) -> tuple[float, str]:
    """simplify(φ_σ), then its series to order 8: what one writes first."""
    clear_cache()
    sigma = parse_activation(REGISTRY[name].expression).expr
    start = time.perf_counter()
    try:
        with time_limit(cap, name):
            phi = sp.simplify(X * sp.diff(sigma, X) - sigma)
            sp.series(phi, X, 0, 9)
        status = "ok"
    except TimeLimitError:
        status = f"capped at {cap:g} s"
    except Exception as exc:  # the naive route fails on some piecewise σ
        status = f"failed ({type(exc).__name__})"
    return time.perf_counter() - start, status


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=120.0, help="seconds per naive case")
    parser.add_argument("--only", default="", help="comma-separated registry names")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(REGISTRY)
    ours(names[:1])  # import-time work of SymPy's series machinery: the cold start
    fast = min(ours(names) for _ in range(3))
    print(f"saddle-escape classify, {len(names)} activations: {fast:.2f} s (target < 3 s)")
    total = 0.0
    for name in names:
        seconds, status = naive(name, args.cap)
        total += seconds
        print(f"  naive {name:12s} {seconds:8.2f} s  {status}")
    print(f"naive simplify-then-series: {total:.1f} s")
    print(f"speed-up: {total / fast:.0f}x")


if __name__ == "__main__":
    main()
