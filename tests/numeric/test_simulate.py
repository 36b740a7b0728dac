import json
import sys

import numpy as np
import pytest
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.network import Network
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.numeric.simulate import (
    SweepRecord,
    full_escape_time,
    gradient_descent_escape,
    he_network,
    he_sweep,
    manifold_distance,
    manifold_network,
    population_dataset,
    records_frame,
    sample_dataset,
    slope_summary,
)
from scipy.integrate import cumulative_trapezoid, solve_ivp

CASES = [
    ("tanh", "1,eps,eps,eps", [1.0, 0.1, 0.1, 0.1]),
    ("gelu", "eps,eps,eps,1", [0.1, 0.1, 0.1, 1.0]),
]


@pytest.mark.parametrize("activation, init, scales", CASES)
def test_full_network_on_the_manifold_follows_the_reduced_ode(activation, init, scales):
    width = 8
    run = full_escape_time(
        manifold_network(scales, width), population_dataset(48), activation, rtol=1e-12
    )
    reduced = escape_time(activation, 4, width, init, [0.1]).points[0].tau
    assert run.tau == pytest.approx(reduced, rel=1e-6)
    # Every Y_l(t) and the loss, through the escape.
    dyn = ReducedDynamics(build_model(activation, 4, width, init))
    sol = solve_ivp(
        lambda t, Y: -dyn.gradient(Y),
        (0, run.times[-1]),
        scales,
        method="DOP853",
        t_eval=run.times,
        rtol=1e-12,
        atol=1e-15,
    )
    np.testing.assert_allclose(run.norms, sol.y.T, rtol=1e-6)
    losses = [dyn.loss(Y) for Y in sol.y.T]
    np.testing.assert_allclose(run.loss, losses, rtol=1e-6)
    assert run.distance.max() < 1e-12  # the manifold is invariant


def test_the_manifold_is_not_attracting():
    net = manifold_network([1.0, 0.1, 0.1, 0.1], 8)
    rng = np.random.default_rng(0)
    nudged = Network(tuple(w + 1e-6 * rng.normal(size=w.shape) for w in net.weights))
    run = full_escape_time(nudged, population_dataset(48), "tanh")
    assert run.distance[-1] > 1.1 * run.distance[0] > 0


@pytest.mark.parametrize(
    "bottleneck, eps, expected",
    [((2, 3, 4), (0.3, 0.1, 0.03), -1), ((2, 3, 4, 5, 6), (0.2, 0.1, 0.05), -3)],
)
def test_he_normal_slope_follows_the_critical_depth_law(bottleneck, eps, expected):
    depth = len(bottleneck) + 2
    widths = (16,) * depth + (1,)
    summary = slope_summary(he_sweep("tanh", widths, bottleneck, eps, 2, samples=128))
    assert summary["slope"] == pytest.approx(expected, abs=0.3)
    assert len(summary["slopes"]) == 2 and all(p["tau"] > 0 for p in summary["points"])


def test_datasets_and_initializations():
    data = population_dataset(16, teacher=2.0)
    assert float((data.weights * data.inputs[:, 0] ** 4).sum()) == pytest.approx(3.0)
    np.testing.assert_allclose(data.targets, 2.0 * data.inputs)
    assert sample_dataset(5, 3, seed=1).targets.shape == (5, 1)
    net = he_network((4, 4, 1), (2,), 0.01, seed=0)
    assert np.abs(net.weights[1]).max() < 0.1 < np.abs(net.weights[0]).max()
    assert manifold_distance(manifold_network([1, 1, 1], 3)) == 0
    with pytest.raises(ValueError, match="depth"):
        manifold_network([1.0], 3)


def test_simulate_cli_contract(capsys):
    from saddle_escape.cli import main

    status = main(
        [
            "simulate",
            "--activation",
            "tanh",
            "--depth",
            "5",
            "--width",
            "12",
            "--bottleneck",
            "2,3,4",
            "--eps",
            "0.3,0.1",
            "--seeds",
            "2",
            "--workers",
            "1",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [p["eps"] for p in data["points"]] == [0.3, 0.1]
    assert {"tau", "tau_std", "seeds"} <= set(data["points"][0])
    assert data["expected_slope"] == -1 and data["slope"] < 0 and data["slope_std"] >= 0


def test_gradient_descent_converges_to_the_flow_as_the_step_shrinks():
    net = manifold_network([1.0, 0.2, 0.2], 4)
    data = population_dataset(24)
    flow = full_escape_time(net, data, "tanh", rtol=1e-10).tau
    errors = [
        abs(gradient_descent_escape(net, data, "tanh", step=h).tau - flow) / flow
        for h in (0.1, 0.05)
    ]
    assert 0.4 < errors[1] / errors[0] < 0.6  # first order in the step


def test_recorded_imbalance_drift_matches_the_identity():
    rng = np.random.default_rng(0)
    net = Network(tuple(0.5 * rng.normal(size=s) for s in ((6, 3), (6, 6), (1, 6))))
    run = full_escape_time(net, sample_dataset(32, 3, seed=0), "gelu", rtol=1e-11, record=800)
    # Δ_l(t) − Δ_l(0) equals the integral of the recorded right-hand side.
    integral = cumulative_trapezoid(run.drift, run.times, axis=0, initial=0)
    change = run.imbalance - run.imbalance[0]
    assert np.abs(change).max() > 1e-2
    np.testing.assert_allclose(change, integral, atol=2e-3 * np.abs(change).max())


def test_networks_with_biases_escape_in_both_integrators():
    net = he_network((3, 6, 6, 1), (2,), 0.1, seed=1)
    rng = np.random.default_rng(1)
    net = Network(net.weights, tuple(0.1 * rng.normal(size=w.shape[0]) for w in net.weights))
    data = sample_dataset(32, 3, seed=2)
    flow = full_escape_time(net, data, "tanh", rtol=1e-10)
    gd = gradient_descent_escape(net, data, "tanh", step=0.005)
    assert flow.escaped and gd.escaped
    assert gd.tau == pytest.approx(flow.tau, rel=0.02)


# -- notebook display (issue 9 item 7) ---------------------------------------------------

_RECORDS = [
    SweepRecord("tanh", (1, 4, 4, 1), (2,), 0.3, 0, 48, 12.5, 300, "escaped"),
    SweepRecord("tanh", (1, 4, 4, 1), (2,), 0.1, 1, 48, None, 9000, "budget_exhausted"),
]


def test_records_frame_columns_and_values():
    pytest.importorskip("pandas")
    df = records_frame(_RECORDS)
    assert list(df.columns) == [
        "activation",
        "widths",
        "bottleneck",
        "eps",
        "seed",
        "samples",
        "tau",
        "evaluations",
        "status",
        "optimizer",
    ]
    assert df["eps"].tolist() == [0.3, 0.1] and df["seed"].tolist() == [0, 1]
    assert df["widths"].tolist() == [(1, 4, 4, 1), (1, 4, 4, 1)]
    assert df["tau"].tolist()[0] == 12.5 and np.isnan(df["tau"].tolist()[1])
    assert df["status"].tolist() == ["escaped", "budget_exhausted"]
    assert list(records_frame([]).columns) == list(df.columns)


def test_records_frame_of_a_sweep():
    pytest.importorskip("pandas")
    records = he_sweep("tanh", (1, 4, 4, 1), (2,), [0.3, 0.2], 1)
    df = records_frame(records)
    assert df["tau"].tolist() == [r.tau for r in records]


def test_records_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_frame\(\) needs pandas: pip install pandas"):
        records_frame(_RECORDS)
