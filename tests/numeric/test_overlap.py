"""The overlap threshold (DESIGN §5): escape when E[f(x)·ĉᵀx] reaches a fraction of Γ.

Checked against exact integrals of the balanced linear flow, shown not to move the
singular terms of τ★, shown immune to the loss-floor machinery, and used to measure the
feature overlaps that grow through one shared amplitude.
"""

import math

import mpmath
import numpy as np
import pytest
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.engine import EscapeEvent, integrate_to_escape
from saddle_escape.numeric.escape import system_for
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.network import Dataset
from saddle_escape.numeric.simulate import (
    full_escape_time,
    he_network,
    manifold_network,
    population_dataset,
    sample_dataset,
)
from saddle_escape.numeric.systems import FullNetworkSystem
from saddle_escape.numeric.teachers import GaussianTask, overlap_trajectory
from saddle_escape.symbolic.outcomes import Status

# -- the event --------------------------------------------------------------------------


def test_event_measure_is_validated():
    assert EscapeEvent().measure == "loss"
    with pytest.raises(ValueError, match="measure must be one of"):
        EscapeEvent(0.5, measure="norm")


def test_a_system_without_an_overlap_measure_is_refused():
    system = system_for(build_model("linear", 3, 4, "eps,eps,eps"), 0.1, "manifold")
    with pytest.raises(ValueError, match="no overlap measure"):
        integrate_to_escape(system, event=EscapeEvent(measure="overlap"))


def test_no_first_order_drive_is_refused_with_the_reason():
    # y = x² on symmetric inputs: E[y x] = 0.
    x = np.array([[-1.0], [1.0], [2.0], [-2.0]])
    system = FullNetworkSystem(
        manifold_network([0.1, 0.1], 2),
        Dataset(x, x**2),
        compile_activation("tanh"),
        get_loss("squared"),
    )
    with pytest.raises(ValueError, match="no first-order drive"):
        integrate_to_escape(system, event=EscapeEvent(measure="overlap"))


def test_an_overlap_already_reached_escapes_at_time_zero():
    run = full_escape_time(
        manifold_network([1.0, 1.0], 2), population_dataset(8), "linear", threshold="overlap"
    )
    assert run.status is Status.ESCAPED and run.tau == 0.0


# -- exact checks: the balanced linear flow dy/dt = y²(1 − y³) ---------------------------


def _linear_time(eps: float, y_star_cubed: float) -> float:
    """τ = ∫_ε^{y★} dy / (y²(1 − y³)): three linear layers at ε on the manifold, s = 1."""
    with mpmath.workdps(30):
        y_star = mpmath.cbrt(mpmath.mpf(y_star_cubed))
        return float(mpmath.quad(lambda y: 1 / (y**2 * (1 - y**3)), [eps, y_star]))


def _loss_star(eps: float) -> float:
    """y★³ where ½(1 − y³)² = ½·½(1 − ε³)²."""
    return 1 - (1 - eps**3) / math.sqrt(2)


@pytest.mark.parametrize("eps", [0.04, 0.01, 0.005])
def test_both_thresholds_match_the_exact_linear_escape(eps):
    net, data = manifold_network([eps] * 3, 4), population_dataset(16)
    loss = full_escape_time(net, data, "linear", rtol=1e-11, record=4)
    overlap = full_escape_time(net, data, "linear", rtol=1e-11, record=4, threshold="overlap")
    assert loss.tau == pytest.approx(_linear_time(eps, _loss_star(eps)), rel=1e-8)
    assert overlap.tau == pytest.approx(_linear_time(eps, 0.5), rel=1e-8)


def test_singular_terms_do_not_depend_on_the_threshold_linear():
    """τ★ grows as 1/(3ε) while τ_overlap − τ_loss stays at the exact constant.

    The difference is ∫ dy/(y²(1 − y³)) between the two thresholds' y★, which tends to
    Δ₀ = ∫_{(1−1/√2)^{1/3}}^{2^{−1/3}} as ε → 0 (measured: 0.4030, 0.40313, 0.403139,
    0.4031403 at ε = 0.04 … 0.005; Δ₀ = 0.40314).
    """
    data = population_dataset(16)
    with mpmath.workdps(30):
        limit = float(
            mpmath.quad(
                lambda y: 1 / (y**2 * (1 - y**3)),
                [mpmath.cbrt(1 - 1 / mpmath.sqrt(2)), mpmath.cbrt(mpmath.mpf(0.5))],
            )
        )
    taus, gaps = [], []
    for eps in (0.04, 0.02, 0.01, 0.005):
        net = manifold_network([eps] * 3, 4)
        loss = full_escape_time(net, data, "linear", rtol=1e-11, record=4)
        overlap = full_escape_time(net, data, "linear", rtol=1e-11, record=4, threshold="overlap")
        taus.append(loss.tau)
        gaps.append(overlap.tau - loss.tau)
        exact = _linear_time(eps, 0.5) - _linear_time(eps, _loss_star(eps))
        assert gaps[-1] == pytest.approx(exact, abs=1e-7)
    assert taus[-1] / taus[0] > 7.9  # τ★ ~ 1/(3ε) diverges
    assert abs(gaps[-1] - limit) < 1e-5 and abs(gaps[0] - limit) < 2e-4


def test_singular_terms_do_not_depend_on_the_threshold_tanh_off_manifold():
    """He-normal tanh network, r = 3 (layers 1–3 at ε), d = 8: the gap between the two
    thresholds converges (O(ε)) while τ★ doubles with every halving of ε.

    Measured: gaps 0.3684, 0.3646, 0.3627, 0.3618 at ε = 0.04 … 0.005 (increments
    −0.0038, −0.0019, −0.0009); τ★·ε = 0.552, 0.574, 0.585, 0.591.
    """
    data = sample_dataset(256, 8, seed=1)
    taus, gaps = [], []
    for eps in (0.04, 0.02, 0.01, 0.005):
        net = he_network((8, 16, 16, 16, 1), (1, 2, 3), eps, seed=0)
        loss = full_escape_time(net, data, "tanh", rtol=1e-9, record=4)
        overlap = full_escape_time(net, data, "tanh", rtol=1e-9, record=4, threshold="overlap")
        assert loss.escaped and overlap.escaped
        taus.append(loss.tau)
        gaps.append(overlap.tau - loss.tau)
    increments = np.diff(gaps)
    assert all(t2 / t1 > 1.9 for t1, t2 in zip(taus, taus[1:], strict=False))
    # Each halving of ε halves the change of the gap (O(ε) remainder) ...
    for a, b in zip(increments, increments[1:], strict=False):
        assert 0.3 < b / a < 0.7
    # ... and the gap is a vanishing share of τ★'s growth.
    assert abs(increments[-1]) < 1e-4 * (taus[-1] - taus[-2])


# -- the loss floor must not misfire for the overlap -------------------------------------


def test_overlap_escapes_where_the_loss_fraction_is_out_of_reach():
    """y = g + g² for a linear network: the best linear fit leaves 𝓛 = ¾𝓛(0), so the loss
    never halves (the engine says no escape), while the overlap sees only E[yg] = 1 and
    escapes exactly when it does for y = g (the overlap machinery never consults the loss
    floors)."""
    eps = 0.05
    net = manifold_network([eps] * 3, 4)
    both = GaussianTask(np.eye(1), features=[(1.0, "linear", [1.0]), (1.0, "x**2", [1.0])])
    data = both.population(16)
    loss = full_escape_time(net, data, "linear", rtol=1e-10, record=4, t_max=2000.0)
    assert not loss.escaped  # no escape, or the horizon spent: the loss never halves
    # the best linear fit f = g leaves ½E[g⁴] = 3/2 (𝓛(0) ≈ ½E[(g + g²)²] = 2)
    assert loss.loss[-1] == pytest.approx(1.5, rel=1e-9) and loss.loss[0] < 2
    overlap = full_escape_time(net, data, "linear", rtol=1e-10, record=4, threshold="overlap")
    assert overlap.status is Status.ESCAPED
    assert overlap.tau == pytest.approx(_linear_time(eps, 0.5), rel=1e-8)


# -- one direction grows: the feature overlaps -------------------------------------------

MODE_TASK = GaussianTask(
    np.array([[2.0, 0.5], [0.5, 1.0]]),
    features=[(1.0, "erf", [1.0, 0.0]), (1.0, "sin", [0.6, 0.8]), (0.5, "x**3", [0.0, 1.0])],
)
LEVELS = (1e-3, 3e-3, 1e-2, 3e-2, 0.5)


def _ratio_errors(run, kind: str) -> np.ndarray:
    """Largest relative error of the overlap ratios at every recorded time."""
    overlaps = run.function_overlaps if kind == "function" else run.direction_overlaps
    predicted = run.predicted_function if kind == "function" else run.predicted_direction
    return np.abs(overlaps / overlaps[:, :1] / predicted - 1).max(axis=1)


def _at_level(run, level: float) -> int:
    index = int(np.argmin(np.abs(run.drive - level)))
    assert run.drive[index] == pytest.approx(level, rel=1e-6)
    return index


def test_feature_overlaps_grow_through_one_amplitude_with_predicted_ratios():
    """Ratios fixed by ĉ and Σ (nothing fitted), not by the initialization.

    tanh, widths (2, 16, 16, 16, 1), layers 1–3 at ε = 1e-3, population quadrature. Measured
    (seeds 0–2): direction overlaps within 0.5% of the prediction from drive 1e-3·Γ to
    3e-2·Γ and within 4.7% at the escape (½Γ); function overlaps within 1.4% at 1e-3·Γ and
    3e-3·Γ; at t = 0 the ratios are off by 30–160%.
    """
    data = MODE_TASK.population(16)
    for seed in range(3):
        net = he_network((2, 16, 16, 16, 1), (1, 2, 3), 1e-3, seed=seed)
        run = overlap_trajectory(net, MODE_TASK, data, "tanh", points=2, levels=LEVELS)
        assert run.status is Status.ESCAPED
        direction, function = _ratio_errors(run, "direction"), _ratio_errors(run, "function")
        for level in (1e-3, 3e-3, 1e-2, 3e-2):
            assert direction[_at_level(run, level)] < 0.01, (seed, level)
        assert direction[_at_level(run, 0.5)] < 0.05
        for level in (1e-3, 3e-3):
            assert function[_at_level(run, level)] < 0.02, (seed, level)
        assert run.times[0] == 0 and direction[0] > 0.1  # the start does not set them


def test_ratio_errors_shrink_with_eps():
    """The share of the random start left in the first layer falls with ε (leading order)."""
    data = MODE_TASK.population(16)
    errors = []
    for eps in (1e-2, 1e-3):
        net = he_network((2, 16, 16, 16, 1), (1, 2, 3), eps, seed=1)
        run = overlap_trajectory(net, MODE_TASK, data, "tanh", points=2, levels=(1e-2,))
        errors.append(_ratio_errors(run, "direction")[_at_level(run, 1e-2)])
    assert errors[1] < errors[0] / 4  # measured 0.0223 → 0.0009
