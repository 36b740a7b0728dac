import json

import numpy as np
import pytest
from saddle_escape.numeric.escape import build_model, escape_time
from saddle_escape.numeric.network import Network
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.numeric.simulate import (
    full_escape_time,
    gradient_descent_escape,
    he_network,
    he_sweep,
    manifold_distance,
    manifold_network,
    population_dataset,
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
    assert len(summary["slopes"]) == 2 and all(p["t_esc"] > 0 for p in summary["points"])


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
    assert {"t_esc", "t_esc_std"} <= set(data["points"][0])
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
