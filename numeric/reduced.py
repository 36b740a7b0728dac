r"""The reduced dynamics in numbers: loss, gradient and Hessian of :math:`\mathcal L(Y)`.

Compiled from the SymPy objects of :mod:`saddle_escape.symbolic.reduction` (one expression, two
backends): the exact polynomial loss when σ is a polynomial, otherwise
:math:`F(Y; g)` with its first and second Y-derivatives, averaged over a half-range
Gauss rule in g (:mod:`saddle_escape.numeric.gaussian`).
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from saddle_escape.numeric.functions import compile_expressions
from saddle_escape.numeric.gaussian import half_range_rule, half_range_rule_mp
from saddle_escape.symbolic.reduction import G, ReducedModel

__all__ = ["ReducedDynamics", "to_mpf"]


def _lambdify(args, exprs, backend):
    return compile_expressions(args, list(exprs), backend)


def to_mpf(value) -> mpmath.mpf:
    """An exact SymPy number, int, float or mpf as an mpf at the current precision."""
    if isinstance(value, sp.Basic):
        if value.is_Rational:
            return mpmath.mpf(int(value.p)) / int(value.q)
        return mpmath.mpmathify(str(sp.N(value, mpmath.mp.dps + 5)))
    return mpmath.mpf(value)


class ReducedDynamics:
    r"""Numeric :math:`\mathcal L(Y)`, :math:`\nabla_Y\mathcal L`, :math:`\nabla^2_Y\mathcal L`.

    Parameters
    ----------
    model : ReducedModel
        Its width must be a number.
    nodes : int
        Half-range Gauss nodes in float64 (ignored for polynomial σ, which is exact).

    Examples
    --------
    >>> from saddle_escape.symbolic.parsing import X
    >>> from saddle_escape.symbolic.reduction import reduced_model
    >>> dyn = ReducedDynamics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    >>> float(dyn.loss([0.5] * 4))  # ½(1 − y⁴)²
    0.439453125
    """

    def __init__(self, model: ReducedModel, *, nodes: int = 48):
        if model.width.free_symbols:
            raise ValueError("numbers need a numeric width N, not a symbol")
        self.model = model
        self.nodes = nodes
        Y = model.Y
        n = len(Y)
        exact = model.loss_expression()
        self.exact = exact is not None
        if self.exact:
            grad = [sp.diff(exact, y) for y in Y]
            hess = [sp.diff(gr, y) for gr in grad for y in Y]
            exprs = [exact, *grad, *hess]
            self._np = _lambdify(Y, exprs, "numpy")
            self._mp = _lambdify(Y, exprs[: 1 + n], "mpmath")
        else:
            F = model.output()
            dF = [sp.diff(F, y) for y in Y]
            self._np_grad = _lambdify((*Y, G), [F, *dF], "numpy")
            self._hessian_exprs = (F, dF)
            self._np = None  # with second derivatives: compiled on first use
            self._mp = _lambdify((*Y, G), [F, *dF], "mpmath")
        # The balanced scalar reduction: F(y; g) and dF/dy with the other layers folded in.
        y = sp.Symbol("y", positive=True)
        scalar = model.output().xreplace(model.scalar_substitution(y))
        self._scalar_exact = exact is not None
        if self._scalar_exact:
            P = exact.xreplace(model.scalar_substitution(y))
            self._scalar_mp = _lambdify((y,), [P, sp.diff(P, y)], "mpmath")
        else:
            self._scalar_mp = _lambdify((y, G), [scalar, sp.diff(scalar, y)], "mpmath")
        self._teacher = float(model.teacher)
        self._teacher_expr = model.teacher

    # -- float64 ----------------------------------------------------------------------
    def _nodes(self):
        g, w = half_range_rule(self.nodes)
        return np.concatenate([g, -g]), np.concatenate([w, w])

    def _values(self, function, Y, g):
        with np.errstate(over="ignore", invalid="ignore"):
            return [np.broadcast_to(v, g.shape) for v in function(*Y, g)]

    def evaluate(self, Y, *, hessian: bool = True) -> tuple:
        """Loss, gradient and (unless ``hessian=False``: ``None``) Hessian at ``Y`` (float64)."""
        n = self.model.depth
        Y = [float(v) for v in Y]
        if self.exact:
            values = [float(v) for v in self._np(*Y)]
            hess = np.array(values[1 + n :]).reshape(n, n) if hessian else None
            return values[0], np.array(values[1 : 1 + n]), hess
        g, w = self._nodes()
        if hessian and self._np is None:
            F, dF = self._hessian_exprs
            d2F = [sp.diff(d, y) for d in dF for y in self.model.Y]
            self._np = _lambdify((*self.model.Y, G), [F, *dF, *d2F], "numpy")
        values = self._values(self._np if hessian else self._np_grad, Y, g)
        F = values[0]
        dF = np.array(values[1 : 1 + n])
        residual = F - self._teacher * g
        loss = 0.5 * (w * residual**2).sum()
        if not np.isfinite(loss):
            raise FloatingPointError(f"the reduced loss overflowed at Y = {Y}")
        grad = (dF * (w * residual)).sum(axis=1)
        hess = None
        if hessian:
            d2F = np.array(values[1 + n :]).reshape(n, n, -1)
            hess = np.einsum("ip,jp,p->ij", dF, dF, w) + (d2F * (w * residual)).sum(axis=2)
        return float(loss), grad, hess

    def loss(self, Y) -> float:
        return self.evaluate(Y, hessian=False)[0]

    def gradient(self, Y) -> np.ndarray:
        return self.evaluate(Y, hessian=False)[1]

    # -- mpmath -----------------------------------------------------------------------
    def evaluate_mp(self, Y, *, nodes: int | None = None, rule=None) -> tuple:
        """Loss and gradient at the current mpmath precision.

        ``rule`` (nodes, weights) may be passed to reuse a rule computed once.
        """
        n = self.model.depth
        Y = [to_mpf(v) for v in Y]
        if self.exact:
            values = self._mp(*Y)
            return mpmath.mpf(values[0]), [mpmath.mpf(v) for v in values[1:]]
        if rule is None:
            rule = half_range_rule_mp(nodes or self.nodes)
        s = to_mpf(self._teacher_expr)
        loss = mpmath.mpf(0)
        grad = [mpmath.mpf(0)] * n
        for gi, wi in zip(*rule, strict=True):
            for g in (gi, -gi):
                values = self._mp(*Y, g)
                residual = values[0] - s * g
                loss += wi * residual**2 / 2
                factor = wi * residual
                grad = [acc + factor * d for acc, d in zip(grad, values[1:], strict=True)]
        return loss, grad

    def scalar_mp(self, y, *, rule) -> tuple:
        """``P(y)`` and ``P'(y)`` on the balanced scalar reduction (mpmath)."""
        y = to_mpf(y)
        if self._scalar_exact:
            P, dP = self._scalar_mp(y)
            return mpmath.mpf(P), mpmath.mpf(dP)
        s = to_mpf(self._teacher_expr)
        P = dP = mpmath.mpf(0)
        for gi, wi in zip(*rule, strict=True):
            for g in (gi, -gi):
                F, dF = self._scalar_mp(y, g)
                residual = F - s * g
                P += wi * residual**2 / 2
                dP += wi * residual * dF
        return P, dP

    def scalar_point(self, y) -> list:
        """``Y`` on the balanced scalar reduction at bottleneck value ``y``."""
        return [y if v is None else v for v in self.model.init]
