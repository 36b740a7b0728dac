r"""Gaussian expectations :math:`\mathbb E_g[h(g)]`, :math:`g\sim N(0,1)`, by quadrature.

A half-range rule: with :math:`u = g^2/2`,

.. math:: \mathbb E[h(g)] = \frac{1}{2\sqrt\pi}\int_0^\infty u^{-1/2}e^{-u}
          \big(h(\sqrt{2u}) + h(-\sqrt{2u})\big)\,du,

a generalized Gauss–Laguerre rule (α = −1/2; SciPy in float64, mpmath at any
precision). An n-node rule integrates polynomials in g up to degree 4n − 1 exactly and,
unlike Gauss–Hermite, never puts a node at g = 0, where a piecewise σ of a first-layer
pre-activation ``Y₁g/√N`` has its kink. The rule is fast (geometric) when
:math:`h(g) + h(-g)` is smooth and even in g, as for a kink whose two sides are even
(``ReLU(g)²``); a one-sided odd term such as :math:`g^3\mathbf 1_{g>0}` is a half-integer
power of u, and its error falls only like :math:`n^{-2}` (relative 3e-5 at 48 nodes).
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
from scipy.special import roots_genlaguerre

__all__ = [
    "half_range_rule",
    "half_range_rule_mp",
    "expectation",
    "MAX_NODES_FLOAT64",
    "MAX_NODES_MP",
]


#: The most nodes of the float64 rule: SciPy's generalized Laguerre weights underflow to
#: NaN from 364 nodes on.
MAX_NODES_FLOAT64 = 300
#: Work budget of the mpmath rule (its cost grows like n² at every precision).
MAX_NODES_MP = 1000


def _check_nodes(n, limit: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"the number of nodes must be an int from 1 to {limit}, got {n!r}")


@functools.lru_cache(maxsize=16, typed=True)  # typed: True must not hit the entry of 1
def half_range_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``g_i > 0`` and weights ``w_i`` with ``E h ≈ Σ w_i (h(g_i) + h(−g_i))`` (float64).

    Parameters
    ----------
    n : int
        Nodes on the half line, 1 to :data:`MAX_NODES_FLOAT64`; the rule is exact for
        polynomials in g of degree up to 4n − 1.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Nodes and weights, each of length n; ``2 Σ w_i = 1``.

    Raises
    ------
    ValueError
        When ``n`` is not an int in range.

    Examples
    --------
    >>> g, w = half_range_rule(8)
    >>> round(float(2 * w.sum()), 12), round(float(2 * (w * g**4).sum()), 10)
    (1.0, 3.0)
    """
    _check_nodes(n, MAX_NODES_FLOAT64)
    u, v = roots_genlaguerre(n, -0.5)
    return np.sqrt(2 * u), v / (2 * np.sqrt(np.pi))


@functools.lru_cache(maxsize=16)
def _rule_mp(n: int, prec: int):
    with mpmath.workprec(prec):
        u, v = mpmath.gauss_quadrature(n, "glaguerre", alpha=mpmath.mpf(-0.5))
        norm = 2 * mpmath.sqrt(mpmath.pi)
        return tuple(mpmath.sqrt(2 * x) for x in u), tuple(x / norm for x in v)


def half_range_rule_mp(n: int) -> tuple[tuple, tuple]:
    """The same rule in mpmath at the current working precision (cached per precision).

    Parameters
    ----------
    n : int
        Nodes on the half line, 1 to :data:`MAX_NODES_MP`.

    Returns
    -------
    (tuple of mpf, tuple of mpf)
        Nodes and weights.

    Raises
    ------
    ValueError
        When ``n`` is not an int in range.

    Examples
    --------
    >>> with mpmath.workdps(30):
    ...     g, w = half_range_rule_mp(10)
    ...     print(mpmath.nstr(2 * sum(wi * gi**6 for gi, wi in zip(g, w)), 25))
    15.0
    """
    _check_nodes(n, MAX_NODES_MP)
    return _rule_mp(n, mpmath.mp.prec)


def expectation(h, n: int = 48):
    """:math:`\\mathbb E_g[h(g)]` for a vectorized float function ``h``.

    Parameters
    ----------
    h : callable
        Vectorized: takes and returns float arrays.
    n : int
        Nodes of the half-range rule (:func:`half_range_rule`).

    Returns
    -------
    float

    Examples
    --------
    >>> bool(abs(expectation(np.cos) - np.exp(-0.5)) < 1e-13)
    True
    """
    g, w = half_range_rule(n)
    return float((w * (h(g) + h(-g))).sum())
