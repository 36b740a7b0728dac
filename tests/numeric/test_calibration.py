"""The calibration protocol: τ_pred = τ_cal·Γ_cal/Γ, across ε by the critical-depth law."""

from __future__ import annotations

import math

import numpy as np
import pytest
from saddle_escape.numeric.calibration import (
    R1_MESSAGE,
    Architecture,
    calibrate,
    depth_factor,
    escape_fraction,
    first_order_drive,
    held_out_table,
    householder,
    predict_tau,
    simulate_task,
    task_network,
)
from saddle_escape.numeric.data import DataTask, load_data, task_from_arrays

# --------------------------------------------------------------------- the formula


@pytest.mark.parametrize(
    "r, eps, expected",
    [
        (3, 0.001, 20.0 * 2.0 / 0.5 * 10.0),  # τ ∝ 1/(Γ ε)
        (5, 0.005, 20.0 * 2.0 / 0.5 * 8.0),  # τ ∝ ε^-3
        (2, 1e-4, 20.0 * 2.0 / 0.5 * 2.0),  # τ ∝ ln(1/ε): ln(1e4)/ln(1e2) = 2
        (4, 0.01, 20.0 * 2.0 / 0.5),  # the same ε: the Γ ratio alone
    ],
)
def test_predict_tau(r, eps, expected):
    cal = calibrate(20.0, 2.0, 0.01)
    assert predict_tau(cal, 0.5, eps, r) == pytest.approx(expected, rel=1e-12)


def test_r1_has_no_gamma_prediction():
    with pytest.raises(ValueError, match="r = 1"):
        predict_tau(calibrate(1.0, 1.0, 0.1), 2.0, 0.1, 1)
    with pytest.raises(ValueError, match="r = 1"):
        depth_factor(0.1, 1)
    assert "rescaling y leaves τ★ unchanged" in R1_MESSAGE


@pytest.mark.parametrize(
    "args, match",
    [
        ((0.0, 1.0, 0.1), "tau_cal"),
        ((1.0, math.inf, 0.1), "gamma_cal"),
        ((1.0, 1.0, 1.0), "eps_cal must be in"),
        ((1.0, 1.0, -0.1), "eps_cal"),
        (("1", 1.0, 0.1), "tau_cal must be a number"),
    ],
)
def test_calibrate_validates(args, match):
    with pytest.raises(ValueError, match=match):
        calibrate(*args)


def test_predict_tau_validates():
    cal = calibrate(1.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="gamma"):
        predict_tau(cal, 0.0, 0.1, 3)
    with pytest.raises(ValueError, match="whole number"):
        predict_tau(cal, 1.0, 0.1, 2.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bottleneck": ()}, "at least one layer"),
        ({"bottleneck": (0, 1)}, "must be in 1..5"),
        ({"bottleneck": (1, 1)}, "twice"),
        ({"width": 0}, "width must be from 1"),
        ({"depth": 1, "bottleneck": (1,)}, "depth must be from 2"),
        ({"width": 2.5}, "whole number"),
    ],
)
def test_architecture_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Architecture(**{"activation": "tanh", "width": 4, "depth": 5, **kwargs})


# --------------------------------------------------------------------- pieces


def test_householder_is_an_orthogonal_map_of_the_drive():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5), rng.normal(size=5)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    H = householder(a, b)
    assert H @ a == pytest.approx(b, abs=1e-12)
    assert H @ H.T == pytest.approx(np.eye(5), abs=1e-12)
    assert np.array_equal(householder(a, a), np.eye(5))


def test_aligned_network_meets_the_same_weights_along_its_drive():
    task = load_data("wine", labels="ovr:1")
    cal = load_data("gaussian:13:200")
    arch = Architecture("tanh", 6, 4, (1, 2))
    c_task = np.array(task.gamma(bootstrap=0).direction)
    c_cal = np.array(cal.gamma(bootstrap=0).direction)
    aligned = task_network(task, arch, 0.1, 3, align_to=c_cal)
    plain = task_network(cal, arch, 0.1, 3)
    assert aligned.weights[0] @ c_task == pytest.approx(plain.weights[0] @ c_cal, abs=1e-12)
    assert all(
        np.array_equal(a, b) for a, b in zip(aligned.weights[1:], plain.weights[1:], strict=True)
    )
    assert np.linalg.norm(aligned.weights[0]) == pytest.approx(np.linalg.norm(plain.weights[0]))


def test_first_order_drive_is_gamma_through_linear_layers():
    task = load_data("iris", labels="ovr:2")
    c = task.targets[:, 0] @ task.inputs / task.n
    inner = Architecture("linear", 5, 4, (2, 3))
    net = task_network(task, inner, 0.1, 0)
    # σ = identity: h = W_1 x, so E[y h] = W_1 c (an independent computation)
    assert first_order_drive(task, net, inner) == pytest.approx(np.linalg.norm(net.weights[0] @ c))
    first = Architecture("tanh", 5, 4, (1, 2))
    net = task_network(task, first, 0.1, 0)
    assert first_order_drive(task, net, first) == pytest.approx(np.linalg.norm(c), rel=1e-12)


def test_escape_fraction_by_hand():
    r3 = np.sqrt(3)
    x = np.array([[r3, 0], [-r3, 0], [0, r3], [0, -r3], [0, 0], [0, 0]])  # Σ = I
    z = np.array([0.0, 0.0, 0.0, 0.0, 1.0, -1.0])  # E[z x] = 0: invisible at first order
    task = DataTask(x, x[:, 0] + z)
    # c = e_0, Γ = 1, E y² = 4/3: the first mode removes 3/4 of the loss
    assert escape_fraction(task) == pytest.approx(1 - 0.5 * 0.75, rel=1e-12)
    assert escape_fraction(DataTask(x, x[:, 0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="share"):
        escape_fraction(task, share=1.5)


# --------------------------------------------------------------------- τ★ ∝ 1/Γ, simulated

ARCH3 = Architecture("tanh", 8, 5, (1, 2, 3))


@pytest.mark.parametrize("eps", [0.01, 0.005])
def test_rescaling_y_by_two_halves_tau_on_real_data(eps):
    task = load_data("digits", labels="parity", subsample=200)
    doubled = task.scaled_targets(2.0)
    assert doubled.gamma(bootstrap=0).gamma == pytest.approx(2 * task.gamma(bootstrap=0).gamma)
    for seed in (0, 1):
        one = simulate_task(task, ARCH3, eps, seed)
        two = simulate_task(doubled, ARCH3, eps, seed)
        assert one.status == two.status == "escaped"
        assert two.tau / one.tau == pytest.approx(0.5, rel=0.03)


def test_anisotropic_inputs_speed_the_escape_by_the_gamma_ratio():
    # Σ = diag(4, 1, ..., 1) vs I, teacher x_0: c = Σ e_0, so Γ grows 4× (issue 11).
    rng = np.random.default_rng(5)
    z = rng.normal(size=(256, 8))
    stretched = z * np.array([2.0] + [1.0] * 7)
    iso = task_from_arrays(z, z[:, 0], center=False, scale=None)
    aniso = task_from_arrays(stretched, stretched[:, 0], center=False, scale=None)
    ratio = aniso.gamma(bootstrap=0).gamma / iso.gamma(bootstrap=0).gamma
    assert ratio == pytest.approx(4.0, rel=0.1)
    arch = Architecture("tanh", 8, 5, (1, 2, 3))
    for eps in (0.01, 0.003):
        slow = simulate_task(iso, arch, eps, 0)
        fast = simulate_task(aniso, arch, eps, 0)
        assert slow.tau / fast.tau == pytest.approx(ratio, rel=0.03)


def test_held_out_predictions_on_digits():
    cal = load_data("gaussian:64:200", seed=0)
    tasks = [load_data("digits", labels=lab, subsample=200) for lab in ("parity", "ovr:0")]
    table = held_out_table(cal, tasks, ARCH3, [0.01], seeds=1)
    assert len(table.rows) == 2 and not table.failures
    for row in table.rows:
        assert row.tau_pred == pytest.approx(row.tau_cal * row.gamma_cal / row.gamma)
        assert abs(math.log(row.ratio)) < 0.03
        assert row.tau_pred_drive == pytest.approx(row.tau_pred)  # layer 1 in the bottleneck
    assert table.median_abs_log_ratio < 0.03
    payload = table.to_dict()
    assert payload["points"][0]["condition"] == "digits:parity"
    assert payload["architecture"]["bottleneck"] == [1, 2, 3]


def test_calibration_at_one_eps_is_carried_by_the_law():
    x = np.vstack([np.eye(2), -np.eye(2)])
    cal, other = DataTask(x, x[:, 0], "cal"), DataTask(x, 2 * x[:, 1], "other")
    arch = Architecture("tanh", 4, 4, (1, 2, 3))
    table = held_out_table(cal, [other], arch, [0.02, 0.01], seeds=1, calibrate_eps=0.02)
    assert [r.eps_cal for r in table.rows] == [0.02, 0.02] and len(table.calibration_runs) == 1
    first, second = table.rows
    assert second.tau_pred == pytest.approx(2 * first.tau_pred)  # r = 3: τ ∝ 1/ε
    predicted_only = held_out_table(cal, [other], arch, [0.02], seeds=1, observe=False)
    assert predicted_only.rows[0].tau_obs is None and predicted_only.runs == ()
    assert predicted_only.median_abs_log_ratio is None


@pytest.mark.parametrize(
    "change, match",
    [
        ({"architecture": Architecture("tanh", 4, 3, (1,))}, "r = 1"),
        ({"coupling": "rotated"}, "coupling must be one of"),
        ({"eps": [0.5, 2.0]}, "eps must be in"),
        ({"eps": []}, "at least one value"),
        ({"seeds": 0}, "seeds"),
        ({"held_out": [DataTask(np.eye(3), [1.0, -1.0, 0.5])]}, "d = 3"),
        ({"held_out": [DataTask(np.eye(2), [1.0, 1.0])]}, "constant"),
    ],
)
def test_held_out_table_refuses_bad_input(change, match):
    x = np.vstack([np.eye(2), -np.eye(2)])
    kwargs = {
        "calibration": DataTask(x, x[:, 0]),
        "held_out": [DataTask(x, x[:, 1])],
        "architecture": Architecture("tanh", 3, 3, (1, 2)),
        "eps": [0.1],
        **change,
    }
    with pytest.raises(ValueError, match=match):
        held_out_table(**kwargs)


def test_inner_bottleneck_reports_both_clocks():
    x = np.random.default_rng(1).normal(size=(64, 3))
    cal = task_from_arrays(x, x[:, 0], name="cal")
    other = task_from_arrays(x, np.tanh(2 * x[:, 1]) + x[:, 2], name="other")
    arch = Architecture("tanh", 6, 4, (2, 3))
    table = held_out_table(cal, [other], arch, [0.05], seeds=1)
    row = table.rows[0]
    net = task_network(other, arch, 0.05, 0, align_to=cal.gamma(bootstrap=0).direction)
    assert row.drive == pytest.approx(first_order_drive(other, net, arch))
    assert row.tau_pred_drive == pytest.approx(row.tau_cal * row.drive_cal / row.drive)
    assert row.drive != pytest.approx(row.gamma)
