"""
The deep linear network, exactly
================================

For a linear network (σ(z) = z) with all four layers starting at ε the reduced dynamics
has a closed-form solution, in the spirit of the exact solutions of Saxe, McClelland &
Ganguli (2014) for deep linear networks: :math:`P(y) = \\tfrac12(1 - y^4)^2`,
:math:`\\dot y = y^3(1 - y^4)`, and the loss halves at (conventions §3)

.. math::

   \\tau_\\star(\\varepsilon) = \\frac{1}{2\\varepsilon^2} - \\frac{1}{2y_\\star^2}
   + \\frac14\\ln\\frac{1 + y_\\star^2}{1 - y_\\star^2}
   - \\frac14\\ln\\frac{1 + \\varepsilon^2}{1 - \\varepsilon^2},
   \\qquad y_\\star^4 = 1 - \\frac{1 - \\varepsilon^4}{\\sqrt2}.

The toolkit's escape times must agree with it to the digits they claim.
"""

import math

import matplotlib.pyplot as plt
import mpmath
import numpy as np

import saddle_escape as se


def tau_exact(eps: float) -> float:
    y4 = 1 - (1 - eps**4) / math.sqrt(2)
    y2 = math.sqrt(y4)
    return (
        1 / (2 * eps**2)
        - 1 / (2 * y2)
        + 0.25 * math.log((1 + y2) / (1 - y2))
        - 0.25 * math.log((1 + eps**2) / (1 - eps**2))
    )


eps = [0.3, 0.2, 0.1, 0.05, 0.03]
result = se.escape_time("linear", 4, 16, "eps,eps,eps,eps", eps)
for p in result.points:
    exact = tau_exact(float(p.eps))
    error = abs(float(p.tau) - exact) / exact
    print(
        f"ε = {float(p.eps):<5} τ★ = {float(p.tau):.13g}  exact {exact:.13g}  "
        f"relative error {error:.1e}  ({p.digits} digits claimed)"
    )
    assert error < 10.0 ** (1 - p.digits)

# %%
# The same check at 30 digits, with mpmath (``dps=30``; the balanced scalar reduction is
# exact here because all four layers start at ε).

precise = se.escape_time("linear", 4, 16, "eps,eps,eps,eps", ["0.1"], dps=30, system="scalar")
with mpmath.workdps(40):
    e = mpmath.mpf("0.1")
    y2 = mpmath.sqrt(1 - (1 - e**4) / mpmath.sqrt(2))
    exact = (
        1 / (2 * e**2)
        - 1 / (2 * y2)
        + mpmath.log((1 + y2) / (1 - y2)) / 4
        - mpmath.log((1 + e**2) / (1 - e**2)) / 4
    )
    print(
        "τ★(0.1) =", mpmath.nstr(precise.points[0].tau, 30), f"({precise.points[0].digits} digits)"
    )
    print("exact   =", mpmath.nstr(exact, 30))

# %%
# The loss curve from ε = 0.1: a long plateau, then a sharp drop — the saddle escape.
# Along the balanced flow :math:`y(t)` the loss is :math:`P(y) = \tfrac12(1 - y^4)^2`;
# inverting :math:`t(y) = \int_\varepsilon^y dy'/(y'^3(1 - y'^4))` gives the curve.

y = np.linspace(0.1, 0.999, 400)
t = (
    1 / (2 * 0.1**2)
    - 1 / (2 * y**2)
    + 0.25 * np.log((1 + y**2) / (1 - y**2))
    - 0.25 * math.log((1 + 0.1**2) / (1 - 0.1**2))
)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(t, 0.5 * (1 - y**4) ** 2)
ax.axvline(float(result.points[2].tau), color="0.5", ls="--", label="τ★(0.1)")
ax.set_xlabel("gradient-flow time t")
ax.set_ylabel("loss")
ax.legend()
fig.tight_layout()
