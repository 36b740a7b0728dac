"""The escape engine on systems with closed-form answers."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.engine import (
    Budget,
    EscapeEvent,
    GradientSystem,
    Tolerances,
    integrate_to_escape,
)
from saddle_escape.numeric.escape import system_for
from saddle_escape.symbolic.outcomes import Status

from tests.problems import linear_escape_time


class Saddle(GradientSystem):
    """P(y) = ½ − y³/3 on y > 0: dy/dt = y², τ to y★ is 1/y0 − 1/y★ (a plateau, r = 3)."""

    name = "test-saddle"

    def __init__(self, y0):
        self.y0 = y0

    def initial_state(self):
        return np.array([self.y0])

    def loss(self, state):
        return 0.5 - state[0] ** 3 / 3

    def gradient(self, state):
        return np.array([-(state[0] ** 2)])

    def hessian(self, state):
        return np.array([[-2 * state[0]]])


class Bowl(GradientSystem):
    """𝓛 = 1 + ½|θ − c|²: a strict minimum with loss 1, never below it."""

    name = "test-bowl"

    def __init__(self, with_hessian=True):
        self.with_hessian = with_hessian

    def initial_state(self):
        return np.zeros(3)

    def loss(self, state):
        return 1 + 0.5 * float(((state - np.array([1.0, 2.0, 3.0])) ** 2).sum())

    def gradient(self, state):
        return state - np.array([1.0, 2.0, 3.0])

    def hessian(self, state):
        return np.eye(3) if self.with_hessian else None


def test_a_long_plateau_is_crossed_not_mistaken_for_a_stationary_point():
    y0 = 1e-6  # τ ≈ 1e6: the gradient is 1e-12 at the start
    run = integrate_to_escape(Saddle(y0), event=EscapeEvent(0.5))
    y_star = (3 * 0.25) ** (1 / 3)  # P(y★) = ½·P(y0) ≈ ¼
    exact = 1 / y0 - 1 / y_star
    assert run.status is Status.ESCAPED
    assert run.tau == pytest.approx(exact, rel=1e-9)
    assert run.evaluations < 20_000


def test_exact_linear_case_through_the_engine():
    model = build_model("linear", 4, 16, "eps,eps,eps,eps")
    for system in ("manifold", "scalar"):
        run = integrate_to_escape(system_for(model, 0.03, system))
        assert run.tau == pytest.approx(float(linear_escape_time(0.03, mpmath)), rel=1e-10)


@pytest.mark.parametrize("with_hessian", [True, False])
def test_a_strict_minimum_above_the_threshold_is_no_escape(with_hessian):
    run = integrate_to_escape(Bowl(with_hessian), event=EscapeEvent(0.1))
    assert run.status is Status.NO_ESCAPE and run.tau is None
    # L(0) = 1 + 7 = 8, threshold 0.8; the floor is exactly 1.
    assert run.loss_floor == pytest.approx(1.0, rel=1e-6)
    assert run.status.exit_code == 3 and "above the threshold 0.1·𝓛(0)" in run.message


def test_a_reachable_minimum_escapes():
    run = integrate_to_escape(Bowl(), event=EscapeEvent(0.9))
    # 1 + 7 e^{−2t} = 7.2 → t = ½ ln(7/6.2)
    assert run.tau == pytest.approx(0.5 * math.log(7 / 6.2), rel=1e-9)


def test_a_proven_lower_bound_refuses_without_integrating():
    class Bounded(Bowl):
        def loss_lower_bound(self):
            return 1.0, "it is a bowl"

    run = integrate_to_escape(Bounded(), event=EscapeEvent(0.1))
    assert run.status is Status.NO_ESCAPE and run.evaluations == 1
    assert run.loss_floor == 1.0 and "it is a bowl" in run.message


def test_budgets_end_the_run_with_a_status():
    run = integrate_to_escape(Saddle(1e-6), budget=Budget(max_evaluations=100))
    assert run.status is Status.BUDGET_EXHAUSTED and run.evaluations == 101
    assert run.status.exit_code == 4
    horizon = integrate_to_escape(Saddle(1e-6), budget=Budget(t_max=1e3))
    assert horizon.status is Status.BUDGET_EXHAUSTED and horizon.t_final == pytest.approx(1e3)


def test_non_finite_gradients_are_a_status():
    class Broken(Saddle):
        def gradient(self, state):
            return np.array([math.nan])

    run = integrate_to_escape(Broken(0.1))
    assert run.status is Status.NON_FINITE and run.tau is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tolerances(rtol=1e-20),
        lambda: Tolerances(rtol="1e-6"),
        lambda: Tolerances(method="Euler"),
        lambda: EscapeEvent(1.0),
        lambda: EscapeEvent(True),
        lambda: Budget(max_evaluations=0),
        lambda: Budget(t_max=math.inf),
    ],
)
def test_options_are_validated(make):
    with pytest.raises((ValueError, TypeError)):
        make()


def test_dense_output_covers_the_run():
    run = integrate_to_escape(Saddle(1e-2), dense_output=True)
    assert run.segments[0][0] == 0 and run.segments[-1][1] == pytest.approx(run.tau)
    t0, t1, solution = run.segments[-1]
    assert solution(t1)[0] == pytest.approx(run.state[0])


class Runaway(GradientSystem):
    """𝓛 = c + e^{−θ}: the state runs off to infinity and 𝓛 − c = 1/(t + 1) (from θ = 0)."""

    name = "test-runaway"

    def __init__(self, floor):
        self.floor = floor

    def initial_state(self):
        return np.zeros(1)

    def loss(self, state):
        return self.floor + math.exp(-state[0])

    def gradient(self, state):
        return np.array([-math.exp(-state[0])])

    def hessian(self, state):
        return np.array([[math.exp(-state[0])]])


def test_a_floor_at_infinity_ends_as_no_escape_with_that_floor():
    # 𝓛(0) = 2, threshold 0.8 < floor 1: no escape, ever; the floor is approached like
    # 1/t, so no Newton step or geometric gradient decay can see it, only the loss.
    run = integrate_to_escape(Runaway(1.0), event=EscapeEvent(0.4))
    assert run.status is Status.NO_ESCAPE
    assert run.loss_floor == pytest.approx(1.0, abs=1e-3)
    assert run.loss_floor < run.loss_final  # the floor lies below every loss seen
    assert run.evaluations < 20_000


def test_a_floor_at_infinity_below_the_threshold_is_escaped():
    run = integrate_to_escape(Runaway(0.2), event=EscapeEvent(0.5))  # 𝓛(0) = 1.2
    assert run.status is Status.ESCAPED
    assert run.tau == pytest.approx(1 / (0.6 - 0.2) - 1, rel=1e-8)  # 𝓛 − c = 1/(t + 1)


def test_a_deep_plateau_with_a_tiny_gradient_is_not_called_stationary():
    # Regression: r = 5 at ε = 1e-3 on the scalar system has |P'(y)| ~ 1e-12 for ~3e8 time
    # units; a rule that took such a gradient for rounding reported "no escape".
    model = build_model("tanh", 7, 16, "1,eps,eps,eps,eps,eps,1")
    run = integrate_to_escape(system_for(model, 1e-3, "scalar"))
    assert run.status is Status.ESCAPED and run.tau > 1e8


def test_class_D_sigmoid_is_trapped_above_the_threshold_after_a_stiff_start():
    # sigmoid with the output layer at ε: the output scale collapses (rate ~4), then the
    # flow creeps for ~1e8 time units (an explicit method alone would need ~1e8 steps).
    # Once 𝓛 < s²/2, Y_3 > 0 for good, and σ ∈ [1/2, 1) on z ≥ 0 bounds the loss below by
    # ½(1 − (1 − 1/2)²/(2π·(1/2)²)) = ½(1 − 1/(2π)), written out here by hand.
    model = build_model("sigmoid", 4, 16, "1,eps,eps,eps")
    run = integrate_to_escape(
        system_for(model, 0.01, "manifold"), budget=Budget(max_evaluations=20_000)
    )
    assert run.status is Status.NO_ESCAPE
    assert run.loss_floor == pytest.approx(0.5 * (1 - 1 / (2 * math.pi)), rel=1e-12)
    assert run.loss_final >= run.loss_floor and run.state[2] > 0
    assert run.t_final > 1e7  # got past the stiff start instead of crawling


def test_the_trap_needs_a_positive_bounded_sigma_and_a_positive_last_hidden_scale():
    tanh = system_for(build_model("tanh", 4, 16, "1,eps,eps,eps"), 0.01, "manifold")
    assert tanh.trapped_floor(np.array([1.0, 0.1, 0.1, 0.1]), 0.1) is None  # σ changes sign
    sigmoid = system_for(build_model("sigmoid", 4, 16, "1,eps,eps,eps"), 0.01, "manifold")
    assert sigmoid.trapped_floor(np.array([1.0, 0.1, -0.1, 0.1]), 0.4) is None  # Y_3 < 0
    assert sigmoid.trapped_floor(np.array([1.0, 0.1, 0.1, 0.1]), 0.5) is None  # 𝓛 ≥ s²/2
    shallow = system_for(build_model("sigmoid", 2, 16, "1,eps"), 0.01, "manifold")
    assert shallow.trapped_floor(np.array([1.0, 0.1]), 0.4) is None  # no hidden σ∘σ
