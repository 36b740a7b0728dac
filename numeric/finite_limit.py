r"""τ★(0⁺) in the finite regime (p = 1) of the balanced scalar reduction (conventions §4).

Registered with :func:`saddle_escape.symbolic.asymptotics.register_limit_solver` on import,
so :func:`~saddle_escape.symbolic.asymptotics.asymptotics` reports the limit without the
symbolic layer importing this one.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from saddle_escape.numeric.escape import halfway_fraction
from saddle_escape.numeric.gaussian import half_range_rule_mp
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic.asymptotics import register_limit_solver

__all__ = ["finite_limit"]

_LIMIT_STEP, _LIMIT_MAX_Y = 1.25, 1e4  # geometric search for y★ (budget: y ≤ 1e4)


def _limit_fraction(model, P0: float) -> tuple[float, str | None]:
    """½, or (a floor the flow approaches lies at or above ½P(0)) halfway to the floor —
    the choice of :func:`saddle_escape.numeric.escape.escape_time`."""
    bound = model.loss_lower_bound()
    if bound is None or not bound.attained:
        return 0.5, None
    floor = float(bound.value)
    if 0.5 * P0 > floor:
        return 0.5, None
    chosen = halfway_fraction(floor / P0)
    return chosen, f"the loss cannot fall to ½P(0) ({bound.reason}): the limit uses {chosen:g}·P(0)"


def finite_limit(model, kappa, dps, fraction=None) -> tuple:
    r"""``(τ★(0⁺), dτ★/dε at 0⁺, fraction, note)`` of the scalar reduction (p = 1).

    :math:`\tau_\star(0^+) = \int_0^{y_\star} dy/\dot y` with :math:`P(y_\star) = fP(0)`;
    :math:`d\tau_\star/d\varepsilon(0^+) = -1/\kappa + f\kappa/\dot y(y_\star)^2` (the lower
    end moves, and so does the threshold fP(ε)).
    """
    if model.width.free_symbols:
        return None, None, None, "τ★(0⁺) needs a numeric width: not computed"
    dyn = ReducedDynamics(model)
    r = model.r
    with mpmath.workdps(dps + 10):
        rule = None if dyn.exact else half_range_rule_mp(max(24, int(1.3 * dps) + 24))

        def evaluate(y):
            return dyn.scalar_mp(y, rule=rule)

        def P(y):
            return evaluate(y)[0]

        def speed(y):
            return -evaluate(y)[1] / r

        P0 = P(mpmath.mpf(0))
        note = None
        if fraction is None:
            fraction, note = _limit_fraction(model, float(P0))
        target = fraction * P0
        low, high = mpmath.mpf(0), mpmath.mpf(2) ** -8
        while True:
            value, slope = evaluate(high)
            if slope >= 0:
                return (
                    None,
                    None,
                    fraction,
                    (
                        f"the balanced flow stops below y = {float(high):.6g} before the loss "
                        f"reaches {fraction:g}·P(0): no finite τ★(0⁺)"
                    ),
                )
            if value <= target:
                break
            low, high = high, high * _LIMIT_STEP
            if high > _LIMIT_MAX_Y:
                return (
                    None,
                    None,
                    fraction,
                    (
                        f"the loss does not reach {fraction:g}·P(0) for y up to {_LIMIT_MAX_Y:g}: "
                        "no τ★(0⁺)"
                    ),
                )
        star = mpmath.findroot(lambda u: P(u) - target, (low, high), solver="anderson")
        tau = mpmath.quad(lambda u: 1 / speed(u), [0, star / 4, star], method="gauss-legendre")
        kappa_mp = mpmath.mpf(str(sp.N(kappa, dps + 15)))
        slope = -1 / kappa_mp + fraction * kappa_mp / speed(star) ** 2
        return (
            sp.Float(str(tau), dps),
            sp.Float(str(slope), dps),
            fraction,
            note,
        )


register_limit_solver(finite_limit)
