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
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import G, ReducedModel
from saddle_escape.symbolic.taylor import has_piecewise

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
        self._root_width = float(sp.sqrt(model.width))
        self._teacher = float(model.teacher)
        self._teacher_expr = model.teacher
        if exact is not None:
            grad = [sp.diff(exact, y) for y in Y]
            hess = [sp.diff(gr, y) for gr in grad for y in Y]
            exprs = [exact, *grad, *hess]
            self._np = _lambdify(Y, exprs, "numpy")
            self._mp = _lambdify(Y, exprs[: 1 + n], "mpmath")
            y = sp.Symbol("y", positive=True)
            P = exact.xreplace(model.scalar_substitution(y))
            self._scalar_mp = _lambdify((y,), [P, sp.diff(P, y)], "mpmath")
        elif has_piecewise(model.sigma):
            # Piecewise σ: σ, σ', σ'' of one variable, and F with its Y-derivatives layer by
            # layer. Compiled whole, the nested Max/Min/Piecewise expression F(Y; g) grows
            # exponentially with the depth (hardswish at L = 4 took 0.1 s per evaluation).
            sigma = model.sigma
            d1 = sp.diff(sigma, X)
            self._sigma_np = _lambdify((X,), [sigma, d1, sp.diff(d1, X)], "numpy")
            self._sigma_mp = _lambdify((X,), [sigma, d1], "mpmath")
        else:
            # Smooth σ: the nested F(Y; g) and its derivatives compiled once with common
            # subexpressions (several times faster than the layer-by-layer evaluation).
            F = model.output()
            dF = [sp.diff(F, y) for y in Y]
            self._full_np = _lambdify((*Y, G), [F, *dF], "numpy")
            self._full_exprs = (F, dF)
            self._full_np_hessian = None  # with second derivatives: compiled on first use
            self._full_mp = _lambdify((*Y, G), [F, *dF], "mpmath")
            # The balanced reduction directly in y (two outputs instead of L + 1).
            y = sp.Symbol("y", positive=True)
            scalar = F.xreplace(model.scalar_substitution(y))
            self._scalar_full_mp = _lambdify((y, G), [scalar, sp.diff(scalar, y)], "mpmath")
        self._layered = not self.exact and has_piecewise(model.sigma)

    # -- float64 ----------------------------------------------------------------------
    def _nodes(self):
        g, w = half_range_rule(self.nodes)
        return np.concatenate([g, -g]), np.concatenate([w, w])

    def _sigma_values(self, z, order):
        values = self._sigma_np(z)
        return [np.broadcast_to(np.asarray(v, dtype=float), z.shape) for v in values[: order + 1]]

    def _node_values(self, Y, g, order):
        """F, ∂F/∂Y and (order 2) ∂²F/∂Y² on the nodes ``g`` (float64)."""
        if self._layered:
            return _forward(Y, g / self._root_width, self._root_width, self._sigma_values, order)
        n = len(Y)
        if order >= 2 and self._full_np_hessian is None:
            F, dF = self._full_exprs
            d2F = [sp.diff(d, y) for d in dF for y in self.model.Y]
            self._full_np_hessian = _lambdify((*self.model.Y, G), [F, *dF, *d2F], "numpy")
        function = self._full_np_hessian if order >= 2 else self._full_np
        values = [np.broadcast_to(v, g.shape) for v in function(*Y, g)]
        d2F = None
        if order >= 2:
            d2F = [values[1 + n + i * n : 1 + n + (i + 1) * n] for i in range(n)]
        return values[0], values[1 : 1 + n], d2F

    def _node_values_mp(self, Y, g, root):
        """F and ∂F/∂Y at one node (mpmath)."""
        if self._layered:
            F, dF, _ = _forward(Y, g / root, root, self._sigma_values_mp, 1)
            return F, dF
        values = self._full_mp(*Y, g)
        return mpmath.mpf(values[0]), [mpmath.mpf(v) for v in values[1:]]

    def evaluate(self, Y, *, hessian: bool = True) -> tuple:
        """Loss, gradient and (unless ``hessian=False``: ``None``) Hessian at ``Y`` (float64)."""
        n = self.model.depth
        Y = [float(v) for v in Y]
        if self.exact:
            values = [float(v) for v in self._np(*Y)]
            hess = np.array(values[1 + n :]).reshape(n, n) if hessian else None
            return values[0], np.array(values[1 : 1 + n]), hess
        g, w = self._nodes()
        with np.errstate(over="ignore", invalid="ignore"):
            F, dF, d2F = self._node_values(Y, g, 2 if hessian else 1)
        dF = np.array(dF)
        residual = F - self._teacher * g
        loss = 0.5 * (w * residual**2).sum()
        if not np.isfinite(loss):
            raise FloatingPointError(f"the reduced loss overflowed at Y = {Y}")
        grad = (dF * (w * residual)).sum(axis=1)
        hess = None
        if hessian:
            d2F = np.array([[np.broadcast_to(v, g.shape) for v in row] for row in d2F])
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
        root = mpmath.sqrt(to_mpf(self.model.width))
        loss = mpmath.mpf(0)
        grad = [mpmath.mpf(0)] * n
        for gi, wi in zip(*rule, strict=True):
            for g in (gi, -gi):
                F, dF = self._node_values_mp(Y, g, root)
                residual = F - s * g
                loss += wi * residual**2 / 2
                factor = wi * residual
                grad = [acc + factor * d for acc, d in zip(grad, dF, strict=True)]
        return loss, grad

    def _sigma_values_mp(self, z, order):
        return [mpmath.mpf(v) for v in self._sigma_mp(z)]

    def scalar_mp(self, y, *, rule) -> tuple:
        """``P(y)`` and ``P'(y)`` on the balanced scalar reduction (mpmath)."""
        y = to_mpf(y)
        if self.exact:
            P, dP = self._scalar_mp(y)
            return mpmath.mpf(P), mpmath.mpf(dP)
        s = to_mpf(self._teacher_expr)
        root = mpmath.sqrt(to_mpf(self.model.width))
        Y = [y if v is None else to_mpf(v) for v in self.model.init]
        bottleneck = self.model.bottleneck
        P = dP = mpmath.mpf(0)
        for gi, wi in zip(*rule, strict=True):
            for g in (gi, -gi):
                if self._layered:
                    F, dF = self._node_values_mp(Y, g, root)
                    dF_dy = sum(dF[b] for b in bottleneck)
                else:
                    F, dF_dy = self._scalar_full_mp(y, g)
                residual = F - s * g
                P += wi * residual**2 / 2
                dP += wi * residual * dF_dy
        return P, dP


def _forward(Y, a0, root, sigma_values, order):
    r"""F, ∂F/∂Y_k and (``order`` 2) ∂²F/∂Y_j∂Y_k by the chain rule through the layers.

    :math:`z_1 = Y_1 a_0`, :math:`z_l = Y_l\,\sigma(z_{l-1})`, :math:`F = \sqrt N z_L`;
    works on numpy arrays of nodes and on mpmath numbers alike.
    """
    L = len(Y)
    z = Y[0] * a0
    dz = [a0] + [0] * (L - 1)
    d2z = [[0] * L for _ in range(L)] if order >= 2 else None
    for l in range(1, L):
        values = sigma_values(z, order)
        h, h1 = values[0], values[1]
        new_dz = [Y[l] * h1 * dz[k] if k < l else 0 for k in range(L)]
        new_dz[l] = h
        if order >= 2:
            h2 = values[2]
            new_d2z = [[0] * L for _ in range(L)]
            for j in range(l):
                for k in range(j, l):
                    value = Y[l] * (h2 * dz[j] * dz[k] + h1 * d2z[j][k])
                    new_d2z[j][k] = new_d2z[k][j] = value
                new_d2z[j][l] = new_d2z[l][j] = h1 * dz[j]
            d2z = new_d2z
        z, dz = Y[l] * h, new_dz
    d2F = None if d2z is None else [[root * v for v in row] for row in d2z]
    return root * z, [root * d for d in dz], d2F
