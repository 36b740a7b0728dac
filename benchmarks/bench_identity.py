"""Benchmark: the imbalance identity, symbolically (issue 3).

Targets on a 2-core machine: explicit verification for widths 4,4,4,4,4,1 in under
5 s, the width-generic derivation in under 1 s. Baseline measured in the same run: the
straightforward way — differentiate the whole nested network for every weight, subtract
the right-hand side and ``simplify`` (capped at ``--cap`` seconds per case).

Run: ``python -m benchmarks.bench_identity [--cap SECONDS]``
"""

from __future__ import annotations

import argparse
import time

import sympy as sp
from saddle_escape.symbolic.identity import (
    LOSS,
    SIGMA,
    derive_identity,
    parse_widths,
    verify_identity,
)
from saddle_escape.symbolic.outcomes import TimeLimitError
from saddle_escape.symbolic.timeouts import time_limit
from sympy.core.cache import clear_cache


def naive(widths, cap: float) -> tuple[float, str]:
    """Build the nested network, differentiate, simplify the difference."""
    clear_cache()
    start = time.perf_counter()
    widths = parse_widths(widths)
    L = len(widths) - 1
    try:
        with time_limit(cap, "naive verification"):
            x = sp.Matrix(sp.symbols(f"x1:{widths[0] + 1}", real=True))
            Ws = [
                sp.Matrix(widths[l + 1], widths[l], lambda i, j, l=l: sp.Symbol(f"w{l}_{i}_{j}"))
                for l in range(L)
            ]
            zs, a = [], x
            for W in Ws:
                zs.append(W * a)
                a = zs[-1].applyfunc(SIGMA)
            loss = LOSS(*zs[-1])
            grads = [W.applyfunc(lambda w: sp.diff(loss, w)) for W in Ws]
            t = sp.Symbol("t")
            for l in range(L - 1):
                lhs = -2 * sum(w * g for w, g in zip(Ws[l + 1], grads[l + 1], strict=True))
                lhs += 2 * sum(w * g for w, g in zip(Ws[l], grads[l], strict=True))
                zeta = sp.symbols(f"zeta1:{widths[l + 2] + 1}")
                z = sp.Matrix(zeta)
                for m in range(l + 2, L):
                    z = Ws[m] * z.applyfunc(SIGMA)
                down = LOSS(*z)
                g = sp.Matrix([sp.diff(down, q) for q in zeta])
                g = g.subs(dict(zip(zeta, zs[l + 1], strict=True)), simultaneous=True)
                phi = zs[l].applyfunc(
                    lambda v: v * sp.Subs(sp.Derivative(SIGMA(t), t), t, v) - SIGMA(v)
                )
                rhs = 2 * ((Ws[l + 1].T * g).T * phi)[0]
                if sp.simplify((lhs - rhs).doit()) != 0:
                    return time.perf_counter() - start, "simplify did not reach 0"
        status = "verified"
    except TimeLimitError:
        status = f"capped at {cap:g} s"
    return time.perf_counter() - start, status


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=300.0, help="seconds per naive case")
    args = parser.parse_args(argv)
    derive_identity()  # cold start: SymPy's summation machinery
    clear_cache()
    start = time.perf_counter()
    derivation = derive_identity()
    generic = time.perf_counter() - start
    print(
        f"width-generic derivation: {generic:.2f} s (target < 1 s), residual {derivation.residual}"
    )
    for widths in ("3,3,3,3,2", "4,4,4,4,4,1"):
        clear_cache()
        ours = verify_identity(widths)
        assert ours.verified
        theirs, status = naive(widths, args.cap)
        print(
            f"explicit verification {widths:12s}: {ours.seconds:6.2f} s"
            f"{' (target < 5 s)' if widths == '4,4,4,4,4,1' else ''}; naive {theirs:7.1f} s "
            f"({status}); speed-up {theirs / ours.seconds:.0f}x"
        )


if __name__ == "__main__":
    main()
