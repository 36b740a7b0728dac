r"""The reduced dynamics in numbers: loss, gradient and Hessian of :math:`\mathcal L(Y)`.

Compiled from the SymPy objects of :mod:`saddle_escape.symbolic.reduction` (one expression, two
backends): the exact polynomial loss when σ is a polynomial, otherwise
:math:`F(Y; g)` with its first and second Y-derivatives, averaged over a Gauss rule in g
(:mod:`saddle_escape.numeric.gaussian`).

Smooth σ: the half-range rule in :math:`u = g^2/2` (exact to degree 4n − 1 in g).
Piecewise σ (:func:`~saddle_escape.symbolic.taylor.has_piecewise`): every pre-activation
:math:`z_l(g)` is only piecewise smooth in g, so each half line g > 0, g < 0 is integrated
on its own with the half-line rule in g (:func:`~saddle_escape.numeric.gaussian.half_line_rule`),
and cut wherever some pre-activation :math:`z_l`, l < L, crosses a kink c of σ (the real
switch points of its Max/Min/Abs/Piecewise/…, :func:`kinks`): the crossings are bracketed on
the nodes of the plain rule (and t = 0), refined by safeguarded Newton (bisection fallback,
at most :data:`ROOT_STEPS` steps), and the pieces integrated by
:func:`~saddle_escape.numeric.gaussian.split_half_line_rule` (Gauss–Legendre on finite
pieces, the shifted half-line rule on the tail). Crossings beyond :math:`|g| = T` with
:math:`\varphi(T)` below the working precision are ignored.

Assumptions: σ is continuous, so the integrand is continuous at a moving cut and the
loss's gradient is the integral of the pointwise gradient (the endpoint terms of adjacent
pieces cancel). σ' jumps at a kink, so the Hessian gets an endpoint term per cut,
:math:`\varphi(g_*)\,(F - sg_*)\,[\partial_j F]_{+}^{-}\,\partial_k t_*` with
:math:`\partial_k t_* = -\partial_{Y_k} z_l / \partial_t z_l` (one-sided values taken
1e-9 away from the cut). A crossing where :math:`z_l - c` touches zero without changing
sign, or two crossings between neighbouring nodes, is not cut (the integrand is then C¹,
or the kinks are closer than the rule resolves).
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from saddle_escape.numeric.functions import compile_expressions
from saddle_escape.numeric.gaussian import (
    MAX_CUTS,
    half_line_rule,
    half_line_rule_mp,
    half_range_rule,
    half_range_rule_mp,
    split_half_line_rule,
)
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import G, ReducedModel
from saddle_escape.symbolic.taylor import has_piecewise, kinks

__all__ = ["ReducedDynamics", "to_mpf", "kinks", "ROOT_STEPS", "TAIL_FLOAT64"]

#: Newton/bisection steps allowed per kink crossing (bisection alone needs 53 in float64).
ROOT_STEPS = 80
#: |g| beyond which crossings are ignored in float64: φ(9.5) ≈ 1.0e-20.
TAIL_FLOAT64 = 9.5
#: One-sided offset (relative) for σ' on either side of a cut (Hessian endpoint term).
_SIDE_OFFSET = 1e-9


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
        Y = model.parameters  # the scales, then the biases (if any)
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
            if not model.biases:  # the balanced scalar reduction has no bias coordinate
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
            self._sigma_np1 = _lambdify((X,), [sigma, d1], "numpy")
            self._sigma_mp = _lambdify((X,), [sigma, d1], "mpmath")
            self._kinks_expr = kinks(sigma)
            self._kinks = np.array([float(c) for c in self._kinks_expr])
        else:
            # Smooth σ: the nested F(Y; g) and its derivatives compiled once with common
            # subexpressions (several times faster than the layer-by-layer evaluation).
            F = model.output()
            dF = [sp.diff(F, y) for y in Y]
            self._full_np = _lambdify((*Y, G), [F, *dF], "numpy")
            self._full_exprs = (F, dF)
            self._full_np_hessian = None  # with second derivatives: compiled on first use
            self._full_mp = _lambdify((*Y, G), [F, *dF], "mpmath")
            if not model.biases:
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
        function = self._sigma_np if order >= 2 else self._sigma_np1
        values = function(z)
        return [np.broadcast_to(np.asarray(v, dtype=float), z.shape) for v in values[: order + 1]]

    def _node_values(self, Y, g, order):
        """F, ∂F/∂Y and (order 2) ∂²F/∂Y² on the nodes ``g`` (float64)."""
        if self._layered:
            return _forward(Y, g / self._root_width, self._root_width, self._sigma_values, order)
        n = len(Y)
        if order >= 2 and self._full_np_hessian is None:
            F, dF = self._full_exprs
            parameters = self.model.parameters
            d2F = [sp.diff(d, y) for d in dF for y in parameters]
            self._full_np_hessian = _lambdify((*parameters, G), [F, *dF, *d2F], "numpy")
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

    def _assemble(self, Y, F, dF, d2F, g, w, hessian: bool) -> tuple:
        """𝓛, ∇𝓛 and (``hessian``) ∇²𝓛 from F and its Y-derivatives on the nodes ``g``."""
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

    def evaluate(self, Y, *, hessian: bool = True) -> tuple:
        """Loss, gradient and (unless ``hessian=False``: ``None``) Hessian at ``Y`` (float64)."""
        n = len(self.model.parameters)
        Y = [float(v) for v in Y]
        if self.exact:
            values = [float(v) for v in self._np(*Y)]
            hess = np.array(values[1 + n :]).reshape(n, n) if hessian else None
            return values[0], np.array(values[1 : 1 + n]), hess
        if self._layered:
            return self._evaluate_layered(Y, hessian)
        g, w = self._nodes()
        with np.errstate(over="ignore", invalid="ignore"):
            F, dF, d2F = self._node_values(Y, g, 2 if hessian else 1)
        loss, grad, hess = self._assemble(Y, F, np.array(dF), d2F, g, w, hessian)
        return loss, grad, hess

    def _evaluate_layered(self, Y, hessian):
        """Piecewise σ: each half line on its own, cut at the kink crossings (float64)."""
        order = 2 if hessian else 1
        t, v = half_line_rule(self.nodes)
        root = self._root_width
        # Plain rule on both half lines, plus t = 0 (weight 0) to bracket from the origin.
        grid = np.concatenate([[0.0], t])
        g = np.concatenate([grid, -grid])
        w = np.concatenate([[0.0], v, [0.0], v])
        trace = []
        with np.errstate(over="ignore", invalid="ignore"):
            values = _forward(Y, g / root, root, self._sigma_values, order, trace)
            cuts = [[], []]
            if trace and self._kinks.size and self._may_cross(trace, grid):
                cuts = self._cuts(Y, grid, trace)
            if cuts[0] or cuts[1]:
                pieces = [split_half_line_rule([c[0] for c in cs], self.nodes) for cs in cuts]
                g = np.concatenate([pieces[0][0], -pieces[1][0]])
                w = np.concatenate([pieces[0][1], pieces[1][1]])
                values = _forward(Y, g / root, root, self._sigma_values, order)
        F, dF, d2F = values
        F = np.broadcast_to(F, g.shape)
        dF = np.array([np.broadcast_to(d, g.shape) for d in dF])
        loss, grad, hess = self._assemble(Y, F, dF, d2F, g, w, hessian)
        if hess is not None:
            if cuts[0] or cuts[1]:
                hess += self._cut_terms(Y, cuts)
            hess = (hess + hess.T) / 2
        return loss, grad, hess

    def _may_cross(self, trace, grid) -> bool:
        """Whether some pre-activation changes sides of a kink between grid points."""
        z = np.array([np.broadcast_to(v, (2 * len(grid),)) for v in trace])
        f = z.reshape(len(trace), 2, len(grid))[None] - self._kinks[:, None, None, None]
        f = f[..., : np.searchsorted(grid, TAIL_FLOAT64, side="right") + 1]
        if (f[..., :-1] * f[..., 1:] < 0).any():
            return True
        return bool(((f[..., 1:-1] == 0) & (f[..., :-2] * f[..., 2:] < 0)).any())

    def _cuts(self, Y, grid, trace) -> list:
        """Kink crossings ``(t, layer)`` on each half line (``g = t``, ``g = −t``; float64).

        ``trace[l - 1]`` holds the pre-activation z_l on ``[grid, −grid]`` (``grid``: t ≥ 0,
        increasing); all brackets of one layer are refined at once.
        """
        size = len(grid)
        inside = grid <= TAIL_FLOAT64
        found: tuple[list, list] = ([], [])
        for layer, z in enumerate(trace, start=1):
            z = np.broadcast_to(z, (2 * size,)).reshape(2, size)
            f = z[None] - self._kinks[:, None, None]  # (kink, side, node)
            exact = (f[..., 1:-1] == 0) & (f[..., :-2] * f[..., 2:] < 0) & inside[1:-1]
            for _, side, i in zip(*np.nonzero(exact), strict=True):
                found[side].append((float(grid[i + 1]), layer))
            k, side, i = np.nonzero((f[..., :-1] * f[..., 1:] < 0) & inside[:-1])
            if k.size == 0:
                continue
            signs = np.where(side == 0, 1.0, -1.0)
            roots = _bracketed_roots(
                Y[:layer],
                signs,
                self._kinks[k],
                grid[i],
                grid[i + 1],
                f[k, side, i],
                self._root_width,
                self._sigma_values,
            )
            for which, t in zip(side, roots, strict=True):
                found[which].append((float(t), layer))
        cuts = []
        for side_found in found:
            side_found.sort()
            merged: list = []
            for t, layer in side_found:  # a crossing of two layers at one point is one cut
                if not merged or t > merged[-1][0] * (1 + 1e-12):
                    merged.append((t, layer))
            if len(merged) > MAX_CUTS:
                raise FloatingPointError(
                    f"more than {MAX_CUTS} kink crossings on one half line at Y = {list(Y)}"
                )
            cuts.append(merged)
        return cuts

    def _cut_terms(self, Y, cuts) -> np.ndarray:
        """The Hessian's endpoint terms of the moving cuts (σ' jumps there), summed."""
        root = self._root_width
        L = len(Y)
        t = np.array([c[0] for side in cuts for c in side])
        layers = np.array([c[1] for side in cuts for c in side])
        g = t * np.repeat([1.0, -1.0], [len(cuts[0]), len(cuts[1])])
        m = len(t)
        points = np.concatenate([g * (1 - _SIDE_OFFSET), g * (1 + _SIDE_OFFSET), g])
        F, dF, _ = _forward(Y, points / root, root, self._sigma_values, 1)
        dF = np.array([np.broadcast_to(d, points.shape) for d in dF])
        jump = dF[:, :m] - dF[:, m : 2 * m]  # ∂F/∂Y just inside minus just outside
        residual = np.broadcast_to(F, points.shape)[2 * m :] - self._teacher * g
        dz = np.zeros((L, m))  # ∂z_l/∂Y_k of each cut's layer l
        for layer in np.unique(layers):
            chosen = layers == layer
            _, d, _ = _forward(Y[:layer], g[chosen] / root, 1.0, self._sigma_values, 1)
            for k in range(layer):
                dz[k, chosen] = np.broadcast_to(d[k], (int(chosen.sum()),))
        slope = Y[0] / t * dz[0]  # ∂z_l/∂t along g = ±t
        with np.errstate(divide="ignore", invalid="ignore"):
            moves = np.where(slope != 0, -dz / slope, 0.0)  # ∂t/∂Y_k
        density = np.exp(-t * t / 2) / np.sqrt(2 * np.pi)
        return np.einsum("jc,kc,c->jk", jump, moves, density * residual)

    def loss(self, Y) -> float:
        return self.evaluate(Y, hessian=False)[0]

    def gradient(self, Y) -> np.ndarray:
        return self.evaluate(Y, hessian=False)[1]

    # -- mpmath -----------------------------------------------------------------------
    def evaluate_mp(self, Y, *, nodes: int | None = None, rule=None) -> tuple:
        """Loss and gradient at the current mpmath precision.

        ``rule`` (nodes, weights of :func:`half_range_rule_mp`) may be passed to reuse a
        rule computed once; for piecewise σ only its node count is used (the half-line
        rule with as many nodes, cut at the kink crossings of ``Y``).
        """
        n = len(self.model.parameters)
        Y = [to_mpf(v) for v in Y]
        if self.exact:
            values = self._mp(*Y)
            return mpmath.mpf(values[0]), [mpmath.mpf(v) for v in values[1:]]
        s = to_mpf(self._teacher_expr)
        root = mpmath.sqrt(to_mpf(self.model.width))
        loss = mpmath.mpf(0)
        grad = [mpmath.mpf(0)] * n
        if self._layered:
            count = len(rule[0]) if rule is not None else nodes or self.nodes
            for g, w, F, dF in self._layered_values_mp(Y, count, root):
                residual = F - s * g
                loss += w * residual**2 / 2
                grad = [acc + w * residual * d for acc, d in zip(grad, dF, strict=True)]
            return loss, grad
        if rule is None:
            rule = half_range_rule_mp(nodes or self.nodes)
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
        if self._layered:
            for g, w, F, dF in self._layered_values_mp(Y, len(rule[0]), root):
                residual = F - s * g
                P += w * residual**2 / 2
                dP += w * residual * sum(dF[b] for b in bottleneck)
            return P, dP
        for gi, wi in zip(*rule, strict=True):
            for g in (gi, -gi):
                F, dF_dy = self._scalar_full_mp(y, g)
                residual = F - s * g
                P += wi * residual**2 / 2
                dP += wi * residual * dF_dy
        return P, dP

    def _layered_values_mp(self, Y, n, root) -> list:
        """``(g, w, F, ∂F/∂Y)`` on the half-line rule cut at the kink crossings (mpmath)."""
        t, v = half_line_rule_mp(n)
        tail = mpmath.sqrt(2 * mpmath.log(10) * (mpmath.mp.dps + 10))
        kinks_mp = [to_mpf(c) for c in self._kinks_expr]
        grid = [mpmath.mpf(0), *t]
        out = []
        for side in (1, -1):
            rows, zs = [], []
            for x, w in zip(grid, [mpmath.mpf(0), *v], strict=True):
                trace: list = []
                F, dF, _ = _forward(Y, side * x / root, root, self._sigma_values_mp, 1, trace)
                rows.append((side * x, w, F, dF))
                zs.append(trace)
            found = []
            for layer in range(1, len(Y)):
                for c in kinks_mp:
                    f = [z[layer - 1] - c for z in zs]
                    for i in range(len(grid) - 1):
                        if grid[i] > tail:
                            break
                        if f[i] * f[i + 1] < 0:
                            x = _root_mp(
                                Y[:layer],
                                side,
                                c,
                                grid[i],
                                grid[i + 1],
                                f[i],
                                root,
                                self._sigma_values_mp,
                            )
                            found.append(x)
                        elif f[i + 1] == 0 and i + 2 < len(grid) and f[i] * f[i + 2] < 0:
                            found.append(grid[i + 1])
            found.sort()
            cuts: list = []
            for x in found:
                if not cuts or x > cuts[-1] * (1 + mpmath.mpf(2) ** (8 - mpmath.mp.prec)):
                    cuts.append(x)
            if not cuts:
                out += rows[1:]
                continue
            if len(cuts) > MAX_CUTS:
                raise FloatingPointError(f"more than {MAX_CUTS} kink crossings on one half line")
            for x, w in zip(*split_half_line_rule(cuts, n, mp=True), strict=True):
                F, dF, _ = _forward(Y, side * x / root, root, self._sigma_values_mp, 1)
                out.append((side * x, w, F, dF))
        return out


def _forward(Y, a0, root, sigma_values, order, trace=None):
    r"""F, ∂F/∂Y_k and (``order`` 2) ∂²F/∂Y_j∂Y_k by the chain rule through the layers.

    :math:`z_1 = Y_1 a_0`, :math:`z_l = Y_l\,\sigma(z_{l-1})`, :math:`F = \sqrt N z_L`;
    works on numpy arrays of nodes and on mpmath numbers alike. ``trace`` (a list) receives
    the pre-activations z_1, …, z_{L−1} that σ is applied to.
    """
    L = len(Y)
    z = Y[0] * a0
    dz = [a0] + [0] * (L - 1)
    d2z = [[0] * L for _ in range(L)] if order >= 2 else None
    for l in range(1, L):
        if trace is not None:
            trace.append(z)
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


def _bracketed_roots(Y, side, c, a, b, fa, root, sigma_values):
    """Roots t of ``z_l(side·t) = c``, one in each bracket ``(a_i, b_i)`` (float64).

    ``Y`` holds Y_1..Y_l; safeguarded Newton (bisection when a step leaves the bracket),
    all brackets at once, at most :data:`ROOT_STEPS` steps.
    """
    a, b, fa = a.astype(float), b.astype(float), fa.astype(float)
    if len(Y) == 1:  # z_1 = Y_1·side·t/√N is linear: the root in closed form
        return np.clip(c * root / (Y[0] * side), a, b)
    x = (a + b) / 2
    for _ in range(ROOT_STEPS):
        with np.errstate(all="ignore"):
            z, dz, _ = _forward(Y, side * x / root, 1.0, sigma_values, 1)
            f = np.broadcast_to(z, x.shape) - c
            slope = Y[0] / x * np.broadcast_to(dz[0], x.shape)
            same = np.sign(f) == np.sign(fa)
            a, fa, b = np.where(same, x, a), np.where(same, f, fa), np.where(same, b, x)
            newton = x - f / slope
        inside = np.isfinite(newton) & (newton > a) & (newton < b)
        new = np.where(f == 0, x, np.where(inside, newton, (a + b) / 2))
        # A Newton step below 1e-9·t leaves an error ~1e-18·t, and a cut misplaced by δ
        # costs O(δ²) (the integrand is continuous there): stop.
        if np.all(np.abs(new - x) <= 1e-9 * x):
            return new
        x = new
    return x


def _root_mp(Y, side, c, a, b, fa, root, sigma_values):
    """The root t of ``z_l(side·t) = c`` in ``(a, b)`` (mpmath, safeguarded Newton)."""
    x = (a + b) / 2
    tol = mpmath.mpf(2) ** (4 - mpmath.mp.prec)
    for _ in range(ROOT_STEPS):
        z, dz, _ = _forward(Y, side * x / root, 1, sigma_values, 1)
        f = z - c
        if f == 0:
            return x
        if (f > 0) == (fa > 0):
            a, fa = x, f
        else:
            b = x
        slope = Y[0] / x * dz[0]
        new = x - f / slope if slope != 0 else (a + b) / 2
        if not a < new < b:
            new = (a + b) / 2
        if abs(new - x) <= tol * x:
            return new
        x = new
    return x
