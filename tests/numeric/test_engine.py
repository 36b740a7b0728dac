"""The escape engine on systems with closed-form answers."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.engine import (
    Budget,
    EscapeEvent,
    GradientSystem,
    Tolerances,
    integrate_to_escape,
)
from saddle_escape.numeric.escape import build_model, system_for
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
    assert run.status.exit_code == 3 and "stationary point" in run.message


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
