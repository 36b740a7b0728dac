"""Vector outputs: each singular value of C = E[y xᵀ] has its own escape (Saxe et al. 2014).

The closed form (:func:`saxe_escape_time`) is checked against direct quadrature of the
mode ODE ȧ = a^{L−1}(s − a^L), and the full-network simulator against the closed form
from the balanced, decoupled start; from a He-normal start the escapes stay ordered by
the singular values and each obeys the critical-depth law in ε.
"""

import math

import numpy as np
import pytest
from saddle_escape.numeric.simulate import he_network
from saddle_escape.numeric.teachers import (
    GaussianTask,
    mode_escape_times,
    saxe_escape_time,
    saxe_leading_time,
    saxe_network,
)
from scipy.integrate import quad
from scipy.stats import special_ortho_group

STRENGTHS = np.array([3.0, 1.5, 0.75])


def _task() -> GaussianTask:
    """d = m = 3, whitened inputs, C = A with rotated singular vectors."""
    U = special_ortho_group.rvs(3, random_state=1)
    V = special_ortho_group.rvs(3, random_state=2)
    return GaussianTask(np.eye(3), teacher=U @ np.diag(STRENGTHS) @ V.T)


@pytest.mark.parametrize(
    "s, eps, depth, fraction",
    [(2.0, 1e-3, 3, 0.5), (1.5, 0.1, 4, 0.5), (0.7, 0.05, 5, 0.3), (3.0, 0.2, 2, 0.9)],
)
def test_closed_form_matches_quadrature_of_the_mode_ode(s, eps, depth, fraction):
    a_star = (fraction * s) ** (1 / depth)
    reference, error = quad(
        lambda a: 1 / (a ** (depth - 1) * (s - a**depth)), eps, a_star, epsabs=0, epsrel=1e-13
    )
    assert saxe_escape_time(s, eps, depth, fraction=fraction) == pytest.approx(reference, rel=1e-11)


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_leading_term_is_the_critical_depth_law(depth):
    # τ − ε^{−(L−2)}/((L−2)s) stays bounded while the leading term diverges.
    s = 1.7
    remainders = [
        saxe_escape_time(s, eps, depth) - saxe_leading_time(s, eps, depth)
        for eps in (1e-2, 1e-3, 1e-4)
    ]
    assert saxe_leading_time(s, 1e-4, depth) > 5000
    assert abs(remainders[2] - remainders[1]) < 1e-2 * abs(remainders[1]) + 1e-3


def test_closed_form_validation():
    with pytest.raises(ValueError, match="depth"):
        saxe_escape_time(1.0, 0.1, 1)
    with pytest.raises(ValueError, match="already"):
        saxe_escape_time(0.001, 0.5, 2)
    with pytest.raises(ValueError, match="positive"):
        saxe_escape_time(-1.0, 0.1, 3)
    with pytest.raises(ValueError, match="width"):
        saxe_network(np.eye(3), 3, 2, 0.1)


@pytest.mark.parametrize("depth, eps", [(2, 0.1), (2, 0.01), (3, 0.1), (3, 0.01)])
def test_full_network_staircase_matches_saxe_closed_form(depth, eps):
    """Balanced decoupled start: every mode's escape matches the closed form to 1e-8.

    Measured: relative differences below 6e-11 at rtol = 1e-10.
    """
    task = _task()
    data = task.population(2)  # exact second moments: E[xxᵀ] = I, E[yxᵀ] = A
    run = mode_escape_times(saxe_network(task.correlation(), depth, 8, eps), data, rtol=1e-10)
    assert run.status.value == "escaped", run.message
    np.testing.assert_allclose(run.singular_values, STRENGTHS, rtol=1e-12)
    predicted = [saxe_escape_time(s, eps, depth) for s in STRENGTHS]
    np.testing.assert_allclose(run.times, predicted, rtol=1e-8)
    assert run.times[0] < run.times[1] < run.times[2]
    if depth == 3:  # leading order: t_k ∝ 1/s_k
        ratios = np.array(run.times) * STRENGTHS / (run.times[0] * STRENGTHS[0])
        np.testing.assert_allclose(ratios, 1, atol=0.05 if eps == 0.01 else 0.3)


def test_he_normal_staircase_is_ordered_and_each_mode_follows_the_law():
    """From a random (He-normal × ε) start, L = 3: modes escape in the order of s_k, and each
    mode's time scales as ε^{−(L−2)} (the random projections set O(1) prefactors).

    Measured (seeds 0–2): τ_k(ε/3)/τ_k(ε) at ε = 0.01 between 3.017 and 3.028 (the O(ε)
    remainder); τ_k·s_k/(τ_1·s_1) = 0.94–1.00 (mode 2), 1.11–1.24 (mode 3): the per-mode
    prefactors carry the random start's projections, so only the order and the ε-law are
    asserted here (the singular-value law is exact from the balanced start, above).
    """
    task = _task()
    data = task.population(2)
    for seed in range(3):
        times = {}
        for eps in (0.01, 0.01 / 3):
            net = he_network((3, 16, 16, 3), (1, 2, 3), eps, seed=seed)
            run = mode_escape_times(net, data, rtol=1e-9)
            assert run.status.value == "escaped", run.message
            assert run.times[0] < run.times[1] < run.times[2]
            times[eps] = np.array(run.times)
        np.testing.assert_allclose(times[0.01 / 3] / times[0.01], 3, rtol=0.015)


def test_a_scalar_output_has_one_mode():
    task = GaussianTask(np.eye(2), features=[(1.0, "tanh", [1.0, 0.0]), (1.0, "x**3", [0.0, 1.0])])
    assert task.singular_values().shape == (1,)
    run = mode_escape_times(
        he_network((2, 8, 8, 1), (1, 2, 3), 0.05, seed=0), task.population(8), "tanh"
    )
    assert len(run.times) == 1 and run.times[0] is not None
    data = task.population(8)
    gamma_hat = np.linalg.norm(data.targets[:, 0] * data.weights @ data.inputs)
    assert math.isclose(run.singular_values[0], gamma_hat, rel_tol=1e-12)
    assert math.isclose(gamma_hat, task.gamma(), rel_tol=1e-5)  # quadrature of tanh
