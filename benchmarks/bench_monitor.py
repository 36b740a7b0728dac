"""Benchmark: the overhead of ImbalanceMonitor on a training step (issue 13).

Target: at most 10% over a plain SGD step for a 4-layer MLP of width 256 on CPU. A
plain step is ``zero_grad``, forward, MSE loss, backward, ``optimizer.step()``; a
monitored step replaces ``optimizer.step()`` by ``monitor.step(optimizer, loss=loss)``
(norms, every Δ_l, the identity's right-hand side, the discrete decomposition's terms).
The two are timed in alternating blocks (so that load changes hit both alike) and the
median per-step times are compared.

Run: ``python -m benchmarks.bench_monitor [--batch 256] [--steps 40] [--blocks 15]
[--threads 1] [--dtype float32]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from saddle_escape.adapters.torch import ImbalanceMonitor


def build(width: int, dtype) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    ).to(dtype)


def timed_block(model, x, y, optimizer, steps: int, monitor=None) -> float:
    """Seconds per step over ``steps`` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if monitor is None:
            optimizer.step()
        else:
            monitor.step(optimizer, loss=loss)
    return (time.perf_counter() - start) / steps


def measure(width, batch, steps, blocks, dtype, rhs: str) -> dict:
    model = build(width, dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, width, generator=g, dtype=dtype)
    y = torch.randn(batch, 1, generator=g, dtype=dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    monitor = ImbalanceMonitor(model, rhs=rhs)
    plain, monitored = [], []
    timed_block(model, x, y, optimizer, steps)  # warm-up
    timed_block(model, x, y, optimizer, steps, monitor)
    for _ in range(blocks):
        plain.append(timed_block(model, x, y, optimizer, steps))
        monitored.append(timed_block(model, x, y, optimizer, steps, monitor))
    monitor.close()
    base, with_monitor = statistics.median(plain), statistics.median(monitored)
    return {
        "rhs": rhs,
        "plain_ms": 1e3 * base,
        "monitored_ms": 1e3 * with_monitor,
        "overhead": with_monitor / base - 1,
        "records": len(monitor.records()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=15, help="alternating blocks")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(
        f"4-layer MLP, width {args.width}, batch {args.batch}, {args.dtype}, "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    for rhs in ("chain", "phi"):
        row = measure(args.width, args.batch, args.steps, args.blocks, dtype, rhs)
        verdict = "within" if row["overhead"] <= 0.10 else "ABOVE"
        print(
            f"rhs={rhs:5s}  plain {row['plain_ms']:.3f} ms/step  monitored "
            f"{row['monitored_ms']:.3f} ms/step  ratio {1 + row['overhead']:.3f} "
            f"(overhead {100 * row['overhead']:+.1f}%, {verdict} the 10% target)"
        )


if __name__ == "__main__":
    main()
