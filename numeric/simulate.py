r"""Full-network gradient flow from small initialization: the check on the reduced theory.

Datasets (conventions §6): for input dimension d = 1 the half-range Gauss nodes and
weights of :mod:`saddle_escape.numeric.gaussian` give the population loss of conventions
§1 (exact for polynomial σ, to quadrature accuracy otherwise: the same rule the reduced
dynamics uses); for d > 1, a fixed seeded sample of P Gaussian inputs. Teacher ``y = s·uᵀx`` with
``u = e_1``.

Initializations: on the permutation-symmetric manifold from scales ``Y_1..Y_L``
(conventions §3), or He-normal (entries ``N(0, 2/fan_in)``, seeded) with the bottleneck
layers multiplied by ε.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace

import numpy as np
from saddle_escape.classes.gate import admit_activation
from saddle_escape.numeric.engine import Budget, EscapeEvent, Tolerances, integrate_to_escape
from saddle_escape.numeric.flow import unflatten
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.gaussian import half_range_rule
from saddle_escape.numeric.identity import identity_sides, imbalances
from saddle_escape.numeric.network import Dataset, Network, backprop
from saddle_escape.numeric.systems import FullNetworkSystem
from saddle_escape.symbolic.display import frame
from saddle_escape.symbolic.outcomes import Status

__all__ = [
    "population_dataset",
    "sample_dataset",
    "manifold_network",
    "he_network",
    "FullEscape",
    "full_escape_time",
    "gradient_descent_escape",
    "manifold_distance",
    "SweepRecord",
    "he_sweep",
    "local_executor",
    "records_frame",
    "slope_summary",
]


def population_dataset(nodes: int = 48, *, teacher: float = 1.0) -> Dataset:
    """d = 1: nodes ±g_i with weights w_i, targets ``s·g`` (the population loss).

    Examples
    --------
    >>> data = population_dataset(8)
    >>> round(float((data.weights * data.inputs[:, 0] ** 2).sum()), 12)
    1.0
    """
    g, w = half_range_rule(nodes)
    x = np.concatenate([g, -g])[:, None]
    return Dataset(x, teacher * x, np.concatenate([w, w]))


def sample_dataset(size: int, dim: int, *, seed: int, teacher: float = 1.0) -> Dataset:
    """P seeded Gaussian inputs in d dimensions; targets ``s·x_1``.

    Examples
    --------
    >>> sample_dataset(4, 3, seed=0).inputs.shape
    (4, 3)
    """
    if size < 1 or dim < 1:
        raise ValueError(f"need at least one sample and one input dimension, got {size}, {dim}")
    x = np.random.default_rng(seed).normal(size=(size, dim))
    return Dataset(x, teacher * x[:, :1])


def manifold_network(scales, width: int, *, input_dim: int = 1) -> Network:
    """The matrices of conventions §3 with ``‖W_l‖_F = Y_l`` (teacher direction ``e_1``).

    Examples
    --------
    >>> net = manifold_network([1.0, 0.5, 0.25], 4)
    >>> [round(float(np.linalg.norm(w)), 12) for w in net.weights]
    [1.0, 0.5, 0.25]
    """
    scales = [float(s) for s in scales]
    if len(scales) < 2 or width < 1:
        raise ValueError("the manifold needs depth ≥ 2 and width ≥ 1")
    N = width
    u = np.zeros((1, input_dim))
    u[0, 0] = 1.0
    weights = [scales[0] / np.sqrt(N) * np.ones((N, 1)) @ u]
    weights += [s / N * np.ones((N, N)) for s in scales[1:-1]]
    weights.append(scales[-1] / np.sqrt(N) * np.ones((1, N)))
    return Network(tuple(weights))


def he_network(widths, bottleneck, eps: float, *, seed: int) -> Network:
    """He-normal weights (``N(0, 2/fan_in)``), layers in ``bottleneck`` (1-based) times ε."""
    rng = np.random.default_rng(seed)
    weights = []
    for l in range(len(widths) - 1):
        w = rng.normal(0.0, np.sqrt(2.0 / widths[l]), size=(widths[l + 1], widths[l]))
        weights.append(w * eps if (l + 1) in set(bottleneck) else w)
    return Network(tuple(weights))


def manifold_distance(network: Network) -> float:
    """Relative distance of the weights from the permutation-symmetric manifold.

    For each matrix the part not of the form ``c 1 vᵀ`` (identical rows), over its norm.
    """
    total, norm = 0.0, 0.0
    for w in network.weights:
        mean_row = w.mean(axis=0, keepdims=True)
        total += float(((w - mean_row) ** 2).sum())
        norm += float((w**2).sum())
    return float(np.sqrt(total / norm)) if norm else 0.0


@dataclass(frozen=True)
class FullEscape:
    """Escape of the full network: τ★, the trajectory record, counters and a status."""

    tau: float | None
    times: np.ndarray
    loss: np.ndarray
    norms: np.ndarray
    distance: np.ndarray
    evaluations: int
    status: Status
    message: str = ""
    imbalance: np.ndarray | None = None
    drift: np.ndarray | None = None
    seconds: float = 0.0

    @property
    def escaped(self) -> bool:
        return self.status is Status.ESCAPED

    def to_dict(self) -> dict:
        """JSON-ready summary: τ★, status, counters, and the recorded trajectory."""
        return {
            "tau": self.tau,
            "status": self.status.value,
            "message": self.message,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "times": self.times.tolist(),
            "loss": self.loss.tolist(),
            "norms": self.norms.tolist(),
            "distance": self.distance.tolist(),
        }


def full_escape_time(
    network: Network,
    data: Dataset,
    activation="tanh",
    loss="squared",
    *,
    fraction: float = 0.5,
    rtol: float = 1e-10,
    t_max: float = 1e9,
    max_evaluations: int = 100_000,
    record: int = 200,
    threshold: str = "loss",
) -> FullEscape:
    r"""Integrate the full gradient flow until the loss reaches ``fraction``·𝓛(0).

    With ``threshold="overlap"`` the escape is instead the first time the overlap
    :math:`\mathbb E[f(x)\,\hat c^\top x]` reaches ``fraction``·Γ,
    :math:`\Gamma = \lVert\mathbb E[y x]\rVert` over the data set (DESIGN §5; for vector
    outputs the top mode :math:`u_1^\top\mathbb E[f x^\top]v_1` of
    :math:`C = \mathbb E[y x^\top]` reaching ``fraction`` of its singular value).

    The one escape engine (:func:`~saddle_escape.numeric.engine.integrate_to_escape`) on
    the ``"full"`` system: error-controlled ``DOP853`` with a terminal event, a budget of
    ``max_evaluations`` gradients and the horizon ``t_max``; the loss, layer norms and the
    distance from the symmetric manifold are recorded on ``record`` points.

    Returns
    -------
    FullEscape
        Its ``status`` says how the run ended (escaped, no escape, budget exhausted, …).

    Examples
    --------
    >>> net = manifold_network([0.2, 0.2, 0.2], 4)
    >>> run = full_escape_time(net, population_dataset(16), "linear", rtol=1e-8)
    >>> run.status.value
    'escaped'
    >>> full_escape_time(net, population_dataset(16), "linear", threshold="overlap").tau > run.tau
    True
    """
    act, loss_fn = compile_activation(activation), get_loss(loss)
    system = FullNetworkSystem(network, data, act, loss_fn)
    start = system.initial_state()
    scale = max(float(np.abs(start).max()), 1e-300)
    run = integrate_to_escape(
        system,
        event=EscapeEvent(fraction, measure=threshold),
        tolerances=Tolerances(rtol=rtol, atol=rtol * scale * 1e-3),
        budget=Budget(max_evaluations=max_evaluations, t_max=t_max),
        dense_output=True,
    )
    times, states = [0.0], [start]
    for t0, t1, solution in run.segments:
        grid = np.linspace(t0, t1, record // 4 + 2)[1:]
        times += list(grid)
        states += [solution(t) for t in grid]
    if not run.segments and run.t_final > 0:
        times.append(run.t_final)
        states.append(run.state)
    return _record(
        network,
        data,
        act,
        loss_fn,
        times,
        states,
        run.tau,
        run.evaluations,
        run.status,
        run.message,
        run.seconds,
    )


def _record(
    template, data, act, loss_fn, times, states, tau, evaluations, status, message, seconds=0.0
):
    nets = [unflatten(s, template) for s in states]
    return FullEscape(
        tau=tau,
        times=np.array(times),
        loss=np.array([float(backprop(n, data, act, loss_fn).loss) for n in nets]),
        norms=np.array([np.sqrt(n.norms_squared()) for n in nets]),
        distance=np.array([manifold_distance(n) for n in nets]),
        evaluations=evaluations,
        status=status,
        message=message,
        seconds=seconds,
        imbalance=np.array([imbalances(n) for n in nets]),
        drift=np.array([[row.rhs for row in identity_sides(n, data, act, loss_fn)] for n in nets]),
    )


def gradient_descent_escape(
    network: Network,
    data: Dataset,
    activation="tanh",
    loss="squared",
    *,
    step: float = 0.01,
    fraction: float = 0.5,
    max_steps: int = 10_000_000,
    record: int = 200,
) -> FullEscape:
    """Fixed-step gradient descent to the same escape event, for comparison.

    Step k is at gradient-flow time ``k·step`` (conventions §1); τ★ is the first such time
    with the loss at or below ``fraction``·𝓛(0). The same as
    ``optimizer_escape_time(..., optimizer=Optimizer("gd", lr=step))``
    (:mod:`saddle_escape.numeric.optimizers`, which also has minibatch SGD and momentum).

    Examples
    --------
    >>> net = manifold_network([0.2, 0.2, 0.2], 4)
    >>> run = gradient_descent_escape(net, population_dataset(16), "linear", step=0.05)
    >>> run.status.value, run.evaluations, round(run.tau, 2)  # the flow's τ★ is 3.740
    ('escaped', 77, 3.8)
    """
    from saddle_escape.numeric.optimizers import Optimizer, optimizer_escape_time

    if not step > 0:
        raise ValueError(f"step must be positive, got {step!r}")
    # The one gradient-descent loop: numeric/optimizers.py.
    return optimizer_escape_time(
        network,
        data,
        activation,
        loss,
        optimizer=Optimizer("gd", lr=step),
        fraction=fraction,
        max_steps=max_steps,
        record=record,
    )


def _flow_settings() -> dict:
    from saddle_escape.numeric.optimizers import Optimizer

    return Optimizer().to_dict()


@dataclass(frozen=True)
class SweepRecord:
    """One simulated escape, carrying every parameter that produced it."""

    activation: str
    widths: tuple[int, ...]
    bottleneck: tuple[int, ...]
    eps: float
    seed: int
    samples: int
    tau: float | None
    evaluations: int
    status: str
    #: The optimizer's settings (``Optimizer.to_dict()``); gradient flow by default.
    optimizer: dict = field(default_factory=_flow_settings)

    def to_dict(self) -> dict:
        return {
            "activation": self.activation,
            "widths": list(self.widths),
            "bottleneck": list(self.bottleneck),
            "eps": self.eps,
            "seed": self.seed,
            "samples": self.samples,
            "tau": self.tau,
            "evaluations": self.evaluations,
            "status": self.status,
            "optimizer": dict(self.optimizer),
        }


def _he_case(case) -> SweepRecord:
    from saddle_escape.numeric.optimizers import optimizer_escape_time

    activation, widths, bottleneck, eps, seed, samples, rtol, optimizer, data, threshold = case
    if data is None:
        data = (
            population_dataset(48)
            if widths[0] == 1
            else sample_dataset(samples, widths[0], seed=10_000 + seed)
        )
    network = he_network(widths, bottleneck, eps, seed=seed)
    if optimizer.kind == "flow":
        run = full_escape_time(network, data, activation, rtol=rtol, record=8, threshold=threshold)
    else:
        if optimizer.stochastic:  # the minibatch stream of case `seed` is seeded by it
            optimizer = replace(optimizer, seed=seed)
        run = optimizer_escape_time(
            network, data, activation, optimizer=optimizer, record=8, threshold=threshold
        )
    return SweepRecord(
        activation.label,
        tuple(widths),
        tuple(bottleneck),
        eps,
        seed,
        samples,
        run.tau,
        run.evaluations,
        run.status.value,
        optimizer.to_dict(),
    )


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def local_executor(workers: int | None = None):
    """A process pool whose workers each use one BLAS thread.

    Several processes with multi-threaded BLAS oversubscribe the cores (measured here:
    the benchmark grid took 92 s that way and 28 s with one thread per worker). Workers are
    spawned with the thread limits in their environment; this process is unaffected.
    """
    workers = workers or os.cpu_count() or 1
    saved = {key: os.environ.get(key) for key in _BLAS_THREADS}
    os.environ.update({key: "1" for key in _BLAS_THREADS})
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            yield pool
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def he_sweep(
    activation,
    widths,
    bottleneck,
    eps_values,
    seeds,
    *,
    samples=256,
    rtol=1e-6,
    executor=None,
    progress=None,
    optimizer=None,
    data: Dataset | None = None,
    threshold: str = "loss",
) -> list[SweepRecord]:
    """Escape times of He-normal networks for every (ε, seed), through any Executor.

    Parameters
    ----------
    activation : str or sympy.Expr
        Through the activation gate, once.
    widths : sequence of int
        Input width first, output (1) last.
    bottleneck : sequence of int
        1-based layers whose He-normal weights are multiplied by ε.
    eps_values : sequence of float
    seeds : int
        Seeds 0, 1, …, seeds − 1 for every ε.
    samples : int
        Data set size P when the input width is above 1.
    executor : concurrent.futures.Executor, optional
        ``None`` runs in this process; a ``ProcessPoolExecutor`` or a
        ``dask.distributed.Client.get_executor()`` spreads the cases.
    progress : callable, optional
        Called with no argument after each finished case (a progress bar's update).
    optimizer : Optimizer, optional
        Gradient flow (the default, at ``rtol``) or a discrete optimizer
        (:mod:`saddle_escape.numeric.optimizers`); a minibatch optimizer's stream is
        seeded by each case's seed (recorded in ``SweepRecord.optimizer``).
    data : Dataset, optional
        The data set of every case (the data set is the population, conventions §5);
        default: ``samples`` seeded Gaussian inputs per seed (teacher ``x_1``), or the exact
        population for an input width of 1. Its inputs' width must be ``widths[0]``.
    threshold : {"loss", "overlap"}
        The escape event (:func:`full_escape_time`).

    Returns
    -------
    list of SweepRecord
        In (ε, seed) order.

    Examples
    --------
    >>> records = he_sweep("tanh", (1, 4, 4, 1), (2,), [0.3], 1)
    >>> records[0].status, records[0].tau > 0
    ('escaped', True)
    """
    # Admitted once, here: workers (Dask threads in daemonic processes) receive the
    # admitted activation and never classify, so no time limit is needed there.
    from saddle_escape.numeric.optimizers import Optimizer

    activation = admit_activation(activation)
    if optimizer is None:
        optimizer = Optimizer()
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be an Optimizer, got {type(optimizer).__name__}")
    cases = [
        (
            activation,
            tuple(widths),
            tuple(bottleneck),
            float(e),
            int(s),
            samples,
            rtol,
            optimizer,
            data,
            threshold,
        )
        for e in eps_values
        for s in range(seeds)
    ]
    step = progress or (lambda: None)
    records = []
    for record in map(_he_case, cases) if executor is None else executor.map(_he_case, cases):
        records.append(record)
        step()
    return records


def records_frame(records: list[SweepRecord]):
    """The records of :func:`he_sweep` as a :class:`pandas.DataFrame` (needs pandas).

    One row per record; the columns are the fields of :class:`SweepRecord` in order
    (``widths`` and ``bottleneck`` as tuples, ``tau`` NaN where the run did not escape).

    Parameters
    ----------
    records : list of SweepRecord

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ImportError
        Without pandas (``pip install pandas``).

    Examples
    --------
    >>> records = he_sweep("tanh", (1, 4, 4, 1), (2,), [0.3, 0.2], 1)
    >>> df = records_frame(records)
    >>> df[["eps", "seed", "status"]].values.tolist()
    [[0.3, 0, 'escaped'], [0.2, 0, 'escaped']]
    >>> df["widths"][0]
    (1, 4, 4, 1)
    """
    columns = [f.name for f in fields(SweepRecord)]
    return frame(
        [
            {**r.to_dict(), "widths": tuple(r.widths), "bottleneck": tuple(r.bottleneck)}
            for r in records
        ],
        columns=columns,
    )


def slope_summary(records: list[SweepRecord]) -> dict:
    """Per seed, the least-squares slope of ln τ★ against ln ε; their mean and spread."""
    by_seed: dict[int, list[SweepRecord]] = {}
    for rec in records:
        by_seed.setdefault(rec.seed, []).append(rec)
    slopes = []
    for recs in by_seed.values():
        eps_ok = [r.eps for r in recs if r.tau is not None]
        tau_ok = [r.tau for r in recs if r.tau is not None]
        if len(tau_ok) >= 2:
            slopes.append(np.polyfit(np.log(eps_ok), np.log(tau_ok), 1)[0])
    eps_values = sorted({r.eps for r in records}, reverse=True)
    points = []
    for e in eps_values:
        taus = [r.tau for r in records if r.eps == e and r.tau is not None]
        points.append(
            {
                "eps": e,
                "tau": float(np.mean(taus)) if taus else None,
                # one seed measures no spread: None, not a zero spread
                "tau_std": float(np.std(taus, ddof=1)) if len(taus) > 1 else None,
                "seeds": len(taus),
            }
        )
    return {
        "points": points,
        "slope": float(np.mean(slopes)) if slopes else None,
        "slope_std": float(np.std(slopes, ddof=1)) if len(slopes) > 1 else None,
        "slopes": [float(s) for s in slopes],
    }
