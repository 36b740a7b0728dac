"""Discrete optimizers: settings, the exact discrete identity, agreement with the flow.

Tolerances of the agreement tests, derived (numeric/optimizers.py has the details):

* GD. Gradient descent is the flow of the modified loss 𝓛 + (η/4)‖∇𝓛‖² to O(η²), whose
  velocity along the escape is slower by the factor 1 − (η/2)·d ln‖∇𝓛‖/dt; integrated,
  τ_GD − τ_flow ≈ (η/2)·ln(‖∇𝓛(τ★)‖/‖∇𝓛(0)‖) (GD is later), plus the step grid, which
  puts τ_GD up to one step η late. So τ_GD − τ_flow − (η/2)ln(g★/g₀) ∈ [0, η) to leading
  order; the test allows [−η/2, 2η] (measured: [0.30η, 1.37η] over 18 cases, width 32).
* SGD. Along the escape dy = y^{r−1}(k dt + s dW) with s² = ηV/B, so
  sd(τ★) ≈ noise·√(ητ★/B) (:func:`sgd_spread`, with replacement; without replacement the
  noise cancels over each epoch and this is an upper bound). The test allows 4 sd plus the
  GD allowance; the noise law itself is checked against the spread over 10 seeds.
"""

import json
import math
import re

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.identity import identity_sides, imbalances
from saddle_escape.numeric.network import Dataset, Network, backprop, random_network
from saddle_escape.numeric.optimizers import (
    DiscreteIdentity,
    Optimizer,
    OptimizerEscape,
    default_check_every,
    gradient_noise,
    optimizer_escape_time,
    sgd_spread,
)
from saddle_escape.numeric.simulate import (
    full_escape_time,
    he_network,
    he_sweep,
    manifold_network,
    population_dataset,
    sample_dataset,
    slope_summary,
)
from saddle_escape.symbolic.outcomes import Status

TANH, SQUARED = compile_activation("tanh"), get_loss("squared")
U = 2.0**-53  # unit roundoff of float64


def random_problem(*, bias=False, weighted=False, rows=64, seed=0):
    rng = np.random.default_rng(seed)
    weights = None
    if weighted:
        weights = rng.random(rows) + 0.5
        weights /= weights.sum()
    data = Dataset(rng.normal(size=(rows, 4)), rng.normal(size=(rows, 1)), weights)
    return random_network((4, 6, 6, 1), seed=seed + 2, bias=bias), data


def gradient_norm(network, data) -> float:
    out = backprop(network, data, TANH, SQUARED)
    return math.sqrt(sum(float((g * g).sum()) for g in out.grad_weights))


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "adam"}, "flow, gd, sgd, momentum"),
        ({"kind": "flow", "lr": 0.1}, "takes no lr"),
        ({"kind": "gd"}, "needs lr"),
        ({"kind": "gd", "lr": -1.0}, "positive"),
        ({"kind": "gd", "lr": float("nan")}, "positive"),
        ({"kind": "gd", "lr": True}, "number"),
        ({"kind": "gd", "lr": 0.1, "batch_size": 8}, "use kind 'sgd'"),
        ({"kind": "gd", "lr": 0.1, "momentum": 0.9}, "takes no momentum"),
        ({"kind": "sgd", "lr": 0.1}, "needs batch_size"),
        ({"kind": "sgd", "lr": 0.1, "batch_size": 0}, "≥ 1"),
        ({"kind": "sgd", "lr": 0.1, "batch_size": 2.5}, "whole number"),
        ({"kind": "momentum", "lr": 0.1}, "needs momentum"),
        ({"kind": "momentum", "lr": 0.1, "momentum": 1.0}, r"\[0, 1\)"),
        ({"kind": "gd", "lr": 0.1, "replacement": True}, "needs a batch_size"),
        ({"kind": "sgd", "lr": 0.1, "batch_size": 4, "replacement": "yes"}, "True or False"),
        ({"kind": "sgd", "lr": 0.1, "batch_size": 4, "seed": -1}, "≥ 0"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Optimizer(**kwargs)


def test_settings_round_trip_and_time_scale():
    opt = Optimizer("momentum", lr=0.01, momentum=0.75, batch_size=16, replacement=True, seed=3)
    assert opt.to_dict() == {
        "kind": "momentum",
        "lr": 0.01,
        "batch_size": 16,
        "momentum": 0.75,
        "replacement": True,
        "seed": 3,
    }
    assert Optimizer(**opt.to_dict()) == opt
    assert opt.time_scale == pytest.approx(4.0) and opt.stochastic
    assert Optimizer().label == "gradient flow" and Optimizer().time_scale == 1.0
    assert default_check_every(256, 64) == 12 and default_check_every(10, None) == 1


def test_bad_run_options_are_refused():
    net, data = random_problem()
    gd = Optimizer("gd", lr=0.1)
    with pytest.raises(ValueError, match="fraction"):
        optimizer_escape_time(net, data, optimizer=gd, fraction=1.5)
    with pytest.raises(ValueError, match="max_steps"):
        optimizer_escape_time(net, data, optimizer=gd, max_steps=0)
    with pytest.raises(ValueError, match="larger than the data set"):
        optimizer_escape_time(net, data, optimizer=Optimizer("sgd", lr=0.1, batch_size=65))
    with pytest.raises(ValueError, match="continuous one"):
        optimizer_escape_time(net, data, optimizer=Optimizer(), identity=True)
    with pytest.raises(ValueError, match="must be an Optimizer"):
        optimizer_escape_time(net, data, optimizer="gd")


# -- the exact discrete identity ----------------------------------------------------------


def test_gd_discrete_identity_holds_per_step_to_rounding():
    net, data = random_problem()
    eta = 0.05
    run = optimizer_escape_time(net, data, optimizer=Optimizer("gd", lr=eta), identity=True)
    terms = run.discrete_identity
    assert run.escaped and terms is not None and terms.steps.size == run.steps > 100
    assert terms.max_relative_residual < 1e-12
    assert np.all(terms.momentum == 0)
    # the terms, rebuilt independently for the first steps by plain GD
    weights = [w.copy() for w in net.weights]
    for k in range(20):
        before = Network(tuple(weights))
        grads = backprop(before, data, TANH, SQUARED).grad_weights
        rhs = np.array([float(r.rhs) for r in identity_sides(before, data, TANH, SQUARED)])
        weights = [w - eta * g for w, g in zip(weights, grads, strict=True)]
        after = Network(tuple(weights))
        squares = np.array([float((g * g).sum()) for g in grads])
        np.testing.assert_allclose(terms.first_order[k], eta * rhs, rtol=1e-13)
        np.testing.assert_allclose(
            terms.second_order[k], eta**2 * (squares[1:] - squares[:-1]), rtol=1e-13
        )
        # the change of the stored weights, as a difference of imbalances (which loses
        # the digits of ‖W‖² it subtracts: an absolute u·‖W‖² allowance)
        norms = after.norms_squared() + before.norms_squared()
        np.testing.assert_allclose(
            terms.change[k],
            imbalances(after) - imbalances(before),
            rtol=0,
            atol=8 * U * norms.max(),
        )
        assert np.all(np.abs(terms.rounding[k]) <= 8 * U * (norms[1:] + norms[:-1]))
    # without the update's rounding the equality holds to that rounding alone
    gap = np.abs(terms.change - terms.first_order - terms.second_order)
    assert np.all(gap <= np.abs(terms.rounding) + 1e-12 * terms.scale)
    # summed over the run: the whole drift of the imbalance
    total = imbalances(run.final) - imbalances(net)
    np.testing.assert_allclose(terms.change.sum(axis=0), total, rtol=1e-12, atol=1e-13)


def test_one_gd_step_obeys_the_identity_exactly_at_50_digits():
    net, data = random_problem(bias=True)
    eta = mpmath.mpf(1) / 7
    with mpmath.workdps(60):
        mnet, mdata = net.to_mpmath(), data.to_mpmath()
        out = backprop(mnet, mdata, TANH, SQUARED)
        rhs = [r.rhs for r in identity_sides(mnet, mdata, TANH, SQUARED)]
        weights = [w - eta * g for w, g in zip(mnet.weights, out.grad_weights, strict=True)]
        grad_b = out.grad_biases
        biases = [b - eta * g for b, g in zip(mnet.biases, grad_b, strict=True)]
        change = imbalances(Network(tuple(weights), tuple(biases))) - imbalances(mnet)
        sq_w = [(g * g).sum() for g in out.grad_weights]
        sq_b = [(g * g).sum() for g in grad_b]
        for l in range(net.depth - 1):
            predicted = eta * rhs[l] + eta**2 * (sq_w[l + 1] - sq_w[l] - sq_b[l])
            assert abs(change[l] - predicted) < mpmath.mpf(10) ** -50 * abs(change[l])


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("bias, weighted", [(False, False), (True, True)])
def test_sgd_discrete_identity_holds_per_step(replacement, bias, weighted):
    net, data = random_problem(bias=bias, weighted=weighted, seed=1)
    sgd = Optimizer("sgd", lr=0.05, batch_size=16, replacement=replacement, seed=4)
    run = optimizer_escape_time(net, data, optimizer=sgd, identity=True)
    terms = run.discrete_identity
    assert run.escaped and terms.steps.tolist() == list(range(run.steps))
    assert terms.max_relative_residual < 1e-12
    total = imbalances(run.final) - imbalances(net)
    np.testing.assert_allclose(terms.change.sum(axis=0), total, rtol=1e-12, atol=1e-13)


def test_momentum_decomposition_and_its_gd_limit():
    net, data = random_problem(bias=True)
    heavy = optimizer_escape_time(
        net, data, optimizer=Optimizer("momentum", lr=0.02, momentum=0.5), identity=True
    )
    terms = heavy.discrete_identity
    assert heavy.escaped and terms.max_relative_residual < 1e-12
    assert np.abs(terms.momentum).max() > 1e-3 * np.abs(terms.first_order).max()
    total = imbalances(heavy.final) - imbalances(net)
    np.testing.assert_allclose(terms.change.sum(axis=0), total, rtol=1e-12, atol=1e-13)
    # μ = 0 is gradient descent, step for step
    still = optimizer_escape_time(
        net, data, optimizer=Optimizer("momentum", lr=0.02, momentum=0.0), identity=True
    )
    gd = optimizer_escape_time(net, data, optimizer=Optimizer("gd", lr=0.02), identity=True)
    assert still.steps == gd.steps and still.tau == gd.tau
    np.testing.assert_allclose(
        still.discrete_identity.second_order, gd.discrete_identity.second_order, rtol=1e-12
    )


def test_discrete_identity_record_arithmetic():
    one = np.ones((2, 1))
    rec = DiscreteIdentity(np.arange(2), one, 0.5 * one, 0.25 * one, 0.25 * one, 0 * one, one)
    assert rec.max_relative_residual == 0
    assert rec.to_dict()["total_change"] == [2.0]
    empty = DiscreteIdentity(np.arange(0), *(np.empty((0, 1)),) * 6)
    assert empty.max_relative_residual == 0.0


# -- runs: statuses, cadence, determinism ---------------------------------------------------


def test_flow_delegates_to_full_escape_time():
    net, data = manifold_network([0.2, 0.2, 0.2], 4), population_dataset(16)
    run = optimizer_escape_time(net, data, "linear", optimizer=Optimizer(), rtol=1e-9)
    assert isinstance(run, OptimizerEscape) and run.steps is None
    assert run.tau == full_escape_time(net, data, "linear", rtol=1e-9).tau
    assert run.to_dict()["optimizer"]["kind"] == "flow"


def test_budget_and_divergence_end_with_a_status():
    net, data = random_problem()
    short = optimizer_escape_time(net, data, optimizer=Optimizer("gd", lr=1e-4), max_steps=30)
    assert short.status is Status.BUDGET_EXHAUSTED and short.tau is None
    assert short.steps == 30 and short.times[-1] == pytest.approx(30e-4)
    wild = optimizer_escape_time(net, data, "exp(x)", optimizer=Optimizer("gd", lr=100.0))
    assert wild.status is Status.NON_FINITE and "too large" in wild.message


def test_minibatch_crossing_is_resolved_to_one_step():
    net, data = random_problem(seed=3)
    sgd = Optimizer("sgd", lr=0.02, batch_size=16, seed=1)
    every = optimizer_escape_time(net, data, optimizer=sgd, check_every=1)
    refined = optimizer_escape_time(net, data, optimizer=sgd, check_every=50)
    coarse = optimizer_escape_time(net, data, optimizer=sgd, check_every=50, refine=False)
    assert every.tau == refined.tau and refined.resolution == 0.02
    assert coarse.tau >= refined.tau and coarse.resolution == pytest.approx(1.0)
    assert coarse.steps % 50 == 0
    assert refined.loss_checks < every.loss_checks / 10
    assert refined.loss[-1] <= 0.5 * refined.loss[0]  # the state at τ★ is recorded last
    # A noisy run's loss can dip below the threshold and come back between two checks:
    # τ★ is the first crossing among the steps checked, never before the true first one.
    noisy = Optimizer("sgd", lr=0.05, batch_size=8, seed=1)
    first = optimizer_escape_time(net, data, optimizer=noisy, check_every=1).tau
    assert first <= optimizer_escape_time(net, data, optimizer=noisy, check_every=50).tau


def test_minibatch_streams_are_seeded_and_full_batches_are_gd():
    net, data = random_problem(seed=5)
    runs = [
        optimizer_escape_time(net, data, optimizer=Optimizer("sgd", lr=0.05, batch_size=8, seed=s))
        for s in (0, 0, 1)
    ]
    assert runs[0].tau == runs[1].tau
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    assert not np.array_equal(runs[0].loss, runs[2].loss)
    whole = Optimizer("sgd", lr=0.05, batch_size=data.size)  # every epoch is one full batch
    gd = Optimizer("gd", lr=0.05)
    assert optimizer_escape_time(net, data, optimizer=whole).tau == pytest.approx(
        optimizer_escape_time(net, data, optimizer=gd).tau
    )


def test_sweeps_take_an_optimizer_and_seed_each_case():
    opt = Optimizer("sgd", lr=0.02, batch_size=16, seed=99)
    records = he_sweep("tanh", (4, 6, 6, 1), (2,), [0.3], 2, samples=32, optimizer=opt)
    assert [r.optimizer["seed"] for r in records] == [0, 1]
    assert all(r.optimizer["kind"] == "sgd" and r.status == "escaped" for r in records)
    assert he_sweep("tanh", (1, 4, 4, 1), (2,), [0.3], 1)[0].optimizer["kind"] == "flow"


# -- agreement with the flow -----------------------------------------------------------------


def _simulate(capsys, *extra):
    from saddle_escape.cli import main

    argv = ["simulate", "--depth", "5", "--width", "16", "--eps", "0.3,0.1", "--seeds", "2"]
    argv += ["--samples", "128", "--workers", "1", "--quiet", "--json", *extra]
    status = main(argv)
    assert status == 0
    return json.loads(capsys.readouterr().out)


def _gd_allowance(network, data, final, eta) -> tuple[float, float]:
    """The [low, high] window of τ_GD − τ_flow derived in the module docstring."""
    shift = eta / 2 * math.log(gradient_norm(final, data) / gradient_norm(network, data))
    return shift - eta / 2, shift + 2 * eta


def _case(rec):
    widths, bottleneck = rec["widths"], rec["bottleneck"]
    net = he_network(widths, bottleneck, rec["eps"], seed=rec["seed"])
    return net, sample_dataset(rec["samples"], widths[0], seed=10_000 + rec["seed"])


def test_simulate_gd_matches_the_flow_within_the_derived_tolerance(capsys):
    flow = _simulate(capsys)
    gd = _simulate(capsys, "--optimizer", "gd", "--lr", "0.01")
    assert gd["optimizer"] == Optimizer("gd", lr=0.01).to_dict()
    for f, g in zip(flow["records"], gd["records"], strict=True):
        net, data = _case(g)
        run = optimizer_escape_time(net, data, optimizer=Optimizer("gd", lr=0.01), record=4)
        assert run.tau == g["tau"]  # the command runs this library call
        low, high = _gd_allowance(net, data, run.final, 0.01)
        assert low <= g["tau"] - f["tau"] <= high, (g["eps"], g["seed"], g["tau"], f["tau"])


def test_simulate_sgd_matches_the_flow_within_the_derived_tolerance(capsys):
    flow = _simulate(capsys)
    sgd = _simulate(capsys, "--optimizer", "sgd", "--batch-size", "64")
    assert sgd["optimizer"]["batch_size"] == 64 and sgd["optimizer"]["lr"] == 0.01
    for f, s in zip(flow["records"], sgd["records"], strict=True):
        net, data = _case(s)
        opt = Optimizer("sgd", lr=0.01, batch_size=64, seed=s["seed"])
        run = optimizer_escape_time(net, data, optimizer=opt, record=4)
        assert run.tau == s["tau"]
        spread = sgd_spread(gradient_noise(net, data), f["tau"], lr=0.01, batch_size=64)
        low, high = _gd_allowance(net, data, run.final, 0.01)
        assert low - 4 * spread <= s["tau"] - f["tau"] <= high + 4 * spread


def test_sgd_spread_over_seeds_follows_the_noise_law():
    """With replacement, sd(τ★) over 10 seeds within a factor 2 of noise·√(ητ/B)
    (the sample sd of 10 draws is within ±3 of its standard errors there)."""
    width, eps = 32, 0.1
    net = he_network((width,) * 5 + (1,), (2, 3, 4), eps, seed=1)
    data = sample_dataset(256, width, seed=10_001)
    flow = full_escape_time(net, data, "tanh", rtol=1e-10).tau
    noise = gradient_noise(net, data)
    taus = [
        optimizer_escape_time(
            net,
            data,
            optimizer=Optimizer("sgd", lr=0.01, batch_size=16, replacement=True, seed=s),
            record=2,
        ).tau
        for s in range(10)
    ]
    predicted = sgd_spread(noise, flow, lr=0.01, batch_size=16)
    assert 0.5 < np.std(taus, ddof=1) / predicted < 2.0
    assert abs(np.mean(taus) - flow) < 3 * predicted / np.sqrt(10) + 3 * 0.01 * np.log(1 / eps)


def test_overlap_threshold_under_every_optimizer():
    net = he_network((8, 8, 8, 8, 1), (2, 3), 0.1, seed=1)
    data = sample_dataset(128, 8, seed=3)
    flow = full_escape_time(net, data, "tanh", threshold="overlap", rtol=1e-10).tau
    assert flow > full_escape_time(net, data, "tanh", rtol=1e-10).tau  # a later event here
    gd = optimizer_escape_time(net, data, optimizer=Optimizer("gd", lr=0.01), threshold="overlap")
    low, high = _gd_allowance(net, data, gd.final, 0.01)
    assert gd.escaped and low <= gd.tau - flow <= high
    assert "overlap" in gd.message and gd.loss_checks == gd.steps + 1
    sgd = Optimizer("sgd", lr=0.01, batch_size=16)
    every = optimizer_escape_time(net, data, optimizer=sgd, threshold="overlap", check_every=1)
    refined = optimizer_escape_time(net, data, optimizer=sgd, threshold="overlap")
    assert every.tau == refined.tau and refined.loss_checks < every.loss_checks
    with pytest.raises(ValueError, match="threshold must be one of"):
        optimizer_escape_time(net, data, optimizer=sgd, threshold="accuracy")


def test_momentum_approaches_the_flow_at_first_order():
    net = he_network((8,) * 4 + (1,), (2, 3), 0.2, seed=0)
    data = sample_dataset(64, 8, seed=1)
    flow = full_escape_time(net, data, "tanh", rtol=1e-10).tau
    errors = []
    for lr in (0.004, 0.002):
        opt = Optimizer("momentum", lr=lr, momentum=0.5)
        run = optimizer_escape_time(net, data, optimizer=opt, record=2)
        errors.append(abs(run.tau * opt.time_scale - flow))
    assert 0.35 < errors[1] / errors[0] < 0.65


@pytest.mark.slow
@pytest.mark.parametrize("r, eps", [(3, (0.05, 0.02, 0.01)), (5, (0.15, 0.12, 0.1))])
@pytest.mark.parametrize(
    "optimizer", [Optimizer("gd", lr=0.01), Optimizer("sgd", lr=0.01, batch_size=64)]
)
def test_discrete_slopes_follow_the_critical_depth_law(r, eps, optimizer):
    """GD at η = 0.01 and SGD at B = 64: slope of ln τ★ vs ln ε within 0.15 of −(r − 2)
    (N = 16, P = 256, 3 seeds; measured: r = 3 −1.03, r = 5 −2.98 for both)."""
    widths = (16,) * (r + 2) + (1,)
    records = he_sweep(
        "tanh", widths, tuple(range(2, r + 2)), eps, 3, samples=256, optimizer=optimizer
    )
    summary = slope_summary(records)
    assert all(rec.status == "escaped" for rec in records)
    assert summary["slope"] == pytest.approx(-(r - 2), abs=0.15)


# -- the robustness figure's table --------------------------------------------------------


def test_robustness_table_fits_exponent_and_constant(monkeypatch):
    from saddle_escape import figures_optimizers as fo

    monkeypatch.setattr(fo, "ROBUSTNESS_GRIDS", {3: (0.2, 0.1, 0.05)})
    monkeypatch.setattr(fo, "ROBUSTNESS_WIDTH", 8)
    monkeypatch.setattr(fo, "ROBUSTNESS_SAMPLES", 64)
    conditions = (
        ("flow, ½", Optimizer(), 0.5, (3,)),
        ("flow, ¾", Optimizer(), 0.75, (3,)),
        ("GD η=0.1", Optimizer("gd", lr=0.1), 0.5, (3,)),
    )
    monkeypatch.setattr(fo, "CONDITIONS", conditions)
    table = fo.robustness_table(workers=1, seeds=2)
    rows = {row["condition"]: row for row in table["rows"]}
    assert rows["flow, ½"]["constant_ratio"] == 1.0 and rows["flow, ½"]["law"] == -1
    assert rows["flow, ¾"]["constant_ratio"] < 1 < rows["GD η=0.1"]["constant_ratio"]
    assert all(abs(row["deviation"]) < 0.3 for row in rows.values())
    assert table["max_deviation"] == max(abs(row["deviation"]) for row in rows.values())


@pytest.mark.slow
def test_robustness_figure_keeps_every_exponent_within_the_band(tmp_path):
    """The full figure (about 2 minutes on 2 cores): every fitted exponent within 0.15."""
    from saddle_escape.figures_optimizers import optimizers

    table = optimizers([tmp_path / "optimizers.png"])
    assert table["all_within_band"] and (tmp_path / "optimizers.png").stat().st_size > 0
    gd = [row for row in table["rows"] if row["condition"] in ("GD η=0.01", "SGD B=64")]
    assert {row["r"] for row in gd} == {3, 5}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lr", "0.1"], "needs a discrete optimizer"),
        (["--optimizer", "sgd"], "needs --batch-size"),
        (["--optimizer", "sgd", "--batch-size", "500"], "larger than the data set"),
        (["--optimizer", "momentum", "--momentum", "1.5"], r"\[0, 1\)"),
        (["--optimizer", "gd", "--lr", "-1"], "positive"),
    ],
)
def test_simulate_refuses_bad_optimizer_flags(extra, message, capsys):
    from saddle_escape.cli import main

    argv = ["simulate", "--depth", "3", "--width", "4", "--bottleneck", "2", "--eps", "0.3"]
    assert main([*argv, "--seeds", "1", "--samples", "32", "--workers", "1", *extra]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_simulate_momentum_defaults_and_text(capsys):
    from saddle_escape.cli import main

    argv = ["simulate", "--depth", "3", "--width", "4", "--bottleneck", "2", "--eps", "0.3"]
    argv += ["--seeds", "1", "--samples", "32", "--workers", "1", "--quiet"]
    assert main([*argv, "--optimizer", "momentum"]) == 0
    assert "momentum (η = 0.01, μ = 0.9)" in capsys.readouterr().out
