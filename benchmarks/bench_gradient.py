"""Benchmark: one full-network gradient against the GEMM floor at data scale (issue 12).

For each size (input dimension d, samples n, width N, depth L) the script times
:func:`saddle_escape.numeric.network.backprop` (tanh, squared loss, float64) and, in the
same run, the matrix products a gradient cannot avoid, done by numpy on preallocated
arrays of the same shapes and memory layouts:

* forward, every layer: ``A_{l-1} W_lᵀ`` (n × N_{l-1} times N_{l-1} × N_l);
* backward, layers L … 2: ``δ_l W_l`` (n × N_l times N_l × N_{l-1});
* gradients, every layer: ``δ_lᵀ A_{l-1}`` (N_l × n times n × N_{l-1}).

The ratio backprop / floor is what the elementwise work (σ, σ', the loss, the sample
weights) and memory traffic cost on top of the products; the target is ≤ 2. It is
measured with a :class:`~saddle_escape.numeric.network.Workspace` (buffers reused across
calls, as the optimizers' loops do) and, in the column "fresh", without one. Timings are
the minimum over interleaved repeats (the machine is shared: the minimum is the least
disturbed). The second table measures how the cost grows with n, N and L (log–log
slopes between the smallest and largest value, the others fixed).

Run: ``python -m benchmarks.bench_gradient [--quick] [--threads T] [--repeats R]``
(``--threads`` needs threadpoolctl, which scikit-learn installs; default: the BLAS
library's own choice).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.network import Dataset, Workspace, backprop, random_network

#: (d, n): scikit-learn's digits (64 inputs, 1797 rows) and MNIST (784 inputs, 60 000 rows).
DATASETS = ((64, 1797), (784, 60_000))
WIDTHS, DEPTHS = (64, 512), (4, 8)
#: Growth table: one quantity varied, the others at these values.
GROWTH_BASE = {"d": 784, "n": 10_000, "N": 256, "L": 4}
GROWTH = {"n": (2_500, 10_000, 40_000), "N": (64, 128, 256, 512), "L": (2, 4, 8)}
#: Timing rounds per size: at least the repeats asked for, and this many seconds of them.
MIN_SECONDS, MAX_ROUNDS = 3.0, 1000


def problem(d: int, n: int, N: int, L: int, seed: int = 0):
    """A He-scaled tanh network of depth L and width N, and n Gaussian rows in d dims."""
    rng = np.random.default_rng(seed)
    data = Dataset(rng.normal(size=(n, d)), rng.normal(size=(n, 1)))
    return random_network((d,) + (N,) * (L - 1) + (1,), seed=seed), data


def floor_products(net, data):
    """A callable doing exactly the products of one gradient, into preallocated arrays."""
    rng = np.random.default_rng(1)
    n = data.size
    widths = net.widths
    acts = [data.inputs] + [rng.normal(size=(n, w)) for w in widths[1:-1]]
    deltas = [rng.normal(size=(n, w)) for w in widths[1:]]
    fwd = [np.empty((n, w)) for w in widths[1:]]
    back = [np.empty((n, w)) for w in widths[:-1]]
    grads = [np.empty(w.shape) for w in net.weights]

    def run() -> None:
        for l, w in enumerate(net.weights):
            np.matmul(acts[l], w.T, out=fwd[l])
            np.matmul(deltas[l].T, acts[l], out=grads[l])
            if l:
                np.matmul(deltas[l], w, out=back[l])

    return run


def flops(net, n: int) -> float:
    """Floating-point operations of the products (2 per multiply–add)."""
    total = 0.0
    for l, w in enumerate(net.weights):
        total += 2 * n * w.size * (3 if l else 2)
    return total


def measure(d: int, n: int, N: int, L: int, repeats: int, *, fresh: bool = True) -> dict:
    act, loss = compile_activation("tanh"), get_loss("squared")
    net, data = problem(d, n, N, L)
    floor = floor_products(net, data)
    workspace = Workspace()
    backprop(net, data, act, loss, workspace=workspace)  # warm up: compiled σ, buffers
    floor()
    t_grad: list[float] = []
    t_fresh: list[float] = []
    t_floor: list[float] = []
    started = time.perf_counter()
    # interleaved, so a busy spell hits all three; at least `repeats` rounds and, for the
    # small sizes, at least `MIN_SECONDS` of them (the minimum needs quiet moments)
    while len(t_grad) < repeats or (
        time.perf_counter() - started < MIN_SECONDS and len(t_grad) < MAX_ROUNDS
    ):
        start = time.perf_counter()
        backprop(net, data, act, loss, workspace=workspace)
        t_grad.append(time.perf_counter() - start)
        start = time.perf_counter()
        floor()
        t_floor.append(time.perf_counter() - start)
        if fresh:
            start = time.perf_counter()
            backprop(net, data, act, loss)
            t_fresh.append(time.perf_counter() - start)
    grad, gemm = min(t_grad), min(t_floor)
    return {
        "d": d,
        "n": n,
        "N": N,
        "L": L,
        "gradient_s": grad,
        "floor_s": gemm,
        "ratio": grad / gemm,
        "fresh_ratio": min(t_fresh) / gemm if t_fresh else None,
        "gflops": flops(net, n) / gemm / 1e9,
    }


def _repeats(d: int, n: int, N: int, L: int, repeats: int) -> int:
    """Fewer repeats where one gradient takes seconds (the minimum is stable there)."""
    work = n * (d * N + (L - 2) * N * N)
    return repeats if work < 5e9 else max(2, repeats // 4)


def _threads(count: int | None):
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl: pip install threadpoolctl") from None
    return threadpool_limits(limits=count)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the MNIST-sized cases")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads")
    parser.add_argument("--repeats", type=int, default=8, help="timed repeats per size")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth table")
    args = parser.parse_args(argv)
    datasets = DATASETS[:1] if args.quick else DATASETS
    with _threads(args.threads):
        print(
            f"{'d':>4} {'n':>6} {'N':>4} {'L':>2} {'gradient':>11} {'GEMM floor':>11} "
            f"{'ratio':>6} {'fresh':>6} {'GFLOP/s':>8}"
        )
        worst = 0.0
        for d, n in datasets:
            for N in WIDTHS:
                for L in DEPTHS:
                    row = measure(d, n, N, L, _repeats(d, n, N, L, args.repeats))
                    worst = max(worst, row["ratio"])
                    print(
                        f"{d:>4} {n:>6} {N:>4} {L:>2} {row['gradient_s'] * 1e3:>9.2f}ms "
                        f"{row['floor_s'] * 1e3:>9.2f}ms {row['ratio']:>6.2f} "
                        f"{row['fresh_ratio']:>6.2f} {row['gflops']:>8.1f}",
                        flush=True,
                    )
        print(
            f"worst ratio {worst:.2f} (target ≤ 2); 'ratio' is backprop with a Workspace (the "
            "training loops' path), 'fresh' without one (new arrays every call)"
        )
        if args.no_growth:
            return
        print(
            "\ncost growth (the others at "
            + ", ".join(f"{k} = {v}" for k, v in GROWTH_BASE.items())
            + ")"
        )
        print(f"{'vary':>4} {'values':>24} {'gradient (ms)':>30} {'slope':>6}")
        for key, values in GROWTH.items():
            times = []
            for value in values:
                size = {**GROWTH_BASE, key: value}
                if args.quick:
                    size["n"] = max(1, size["n"] // 10)
                row = measure(size["d"], size["n"], size["N"], size["L"], max(2, args.repeats // 2))
                times.append(row["gradient_s"])
            slope = np.polyfit(np.log(values), np.log(times), 1)[0]
            shown = ", ".join(f"{t * 1e3:.1f}" for t in times)
            print(f"{key:>4} {str(values):>24} {shown:>30} {slope:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
