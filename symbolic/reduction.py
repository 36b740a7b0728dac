r"""Reduced dynamics on the permutation-symmetric manifold, as SymPy objects (conventions §3).

On the manifold every weight matrix has identical rows aligned with the teacher, and in
Frobenius-norm coordinates :math:`Y_l = \|W_l\|_F` gradient flow is plain gradient flow
on the reduced loss

.. math::

    \mathcal L(Y) = \tfrac12\,\mathbb E_g\big[(F(Y; g) - s g)^2\big],\qquad
    F(Y; g) = \sqrt N\, Y_L\,\sigma(Y_{L-1}\sigma(\cdots\sigma(Y_2\,\sigma(Y_1 g/\sqrt N)))),

:math:`g \sim N(0, 1)`. A bottleneck set B of r layers starts at ε; the balanced scalar
reduction is :math:`P(y) = \mathcal L(Y_b = y,\ b\in B)`, :math:`\dot y = -P'(y)/r`.

Gaussian expectations are exact (moments :math:`\mathbb E g^{2m} = (2m-1)!!`) when the
integrand is a polynomial in g; otherwise the caller evaluates them by quadrature
(:mod:`saddle_escape.numeric.gaussian`), which :class:`ReducedModel` leaves open by
returning ``None``
for :meth:`ReducedModel.loss_expression`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, parse_expression
from saddle_escape.symbolic.taylor import has_piecewise

__all__ = [
    "G",
    "ReducedModel",
    "reduced_model",
    "parse_init",
    "parse_biases",
    "parse_width",
    "parse_teacher",
    "LossBound",
    "gaussian_moment",
    "gaussian_expectation",
]

#: The scalar Gaussian input g = uᵀx.
G = sp.Symbol("g", real=True)
#: The common value of the bottleneck layers in the scalar reduction.
Y_SCALAR = sp.Symbol("y", positive=True)

_MAX_DEPTH = 64
#: Largest degree of F(Y; g) in g for which the loss is expanded exactly by moments
#: (σ of degree q composed L − 1 times has degree q^(L−1)); beyond it, quadrature.
MAX_EXACT_DEGREE = 256


def gaussian_moment(m: int) -> sp.Integer:
    """:math:`\\mathbb E g^m` for standard normal g: 0 for odd m, (m−1)!! for even m.

    Examples
    --------
    >>> [gaussian_moment(m) for m in range(7)]
    [1, 0, 1, 0, 3, 0, 15]
    """
    if m % 2:
        return sp.Integer(0)
    return sp.factorial2(m - 1) if m else sp.Integer(1)


def gaussian_expectation(expr: sp.Expr, variable: sp.Symbol = G) -> sp.Expr | None:
    """Exact :math:`\\mathbb E_g[\\text{expr}]` if ``expr`` is a polynomial in g, else ``None``.

    Examples
    --------
    >>> a = sp.Symbol("a")
    >>> gaussian_expectation((a*G - 1)**2)
    a**2 + 1
    >>> gaussian_expectation(sp.tanh(G)**2) is None
    True
    """
    expr = sp.expand(expr)
    if not expr.is_polynomial(variable):
        return None
    poly = sp.Poly(expr, variable)
    return sp.expand(sum(c * gaussian_moment(m) for (m,), c in poly.terms()))


_MIN_SCALE, _MAX_SCALE = 1e-6, 1e6


def parse_teacher(teacher) -> sp.Expr:
    """The teacher strength s: a real, finite, non-zero constant of moderate size, exact.

    Strings are parsed safely (``"1/2"``, ``"sqrt(2)"``); floats are taken as the decimal
    written.

    Examples
    --------
    >>> parse_teacher("0.5"), parse_teacher(2), parse_teacher("sqrt(2)")
    (1/2, 2, sqrt(2))
    >>> parse_teacher("1/0")
    Traceback (most recent call last):
    ...
    ValueError: teacher strength must be a real number between ... got '1/0' (...)
    """
    problem = None
    value: sp.Expr | None = None
    try:
        if isinstance(teacher, str):
            value = parse_expression(teacher, {}).expr
        elif isinstance(teacher, (int, float, np.integer, np.floating)) and not isinstance(
            teacher, bool
        ):
            value = sp.Rational(str(teacher)) if np.isfinite(teacher) else None
        elif isinstance(teacher, sp.Expr):
            value = teacher
    except (ExpressionError, ValueError, TypeError) as exc:
        problem = str(exc)
    ok = (
        value is not None
        and not value.free_symbols
        and value.is_real is True
        and value.is_finite is True
        and value != 0
    )
    if ok:
        magnitude = abs(sp.N(value, 20))
        ok = bool(_MIN_SCALE <= magnitude <= _MAX_SCALE)
    if not ok:
        raise ValueError(
            f"teacher strength must be a real number between {_MIN_SCALE:g} and "
            f"{_MAX_SCALE:g} in magnitude, got {teacher!r}"
            + (f" ({problem})" if problem else "")
            + ("" if problem else " (s = 0 leaves nothing to learn)" if value == 0 else "")
        )
    return value


def parse_init(init, depth: int) -> tuple[sp.Expr | None, ...]:
    """Parse initial scales: a sequence or ``"1,eps,eps,eps"``; ``None`` marks an ε layer.

    Entries are ``eps`` or real constant expressions (``0.5``, ``sqrt(2)``), parsed safely.

    Raises
    ------
    ValueError
        When the count differs from ``depth``, an entry is not a real constant, or no
        layer is ``eps``.

    Examples
    --------
    >>> parse_init("1,eps,eps,0.5", 4)
    (1, None, None, 1/2)
    """
    parts = [p.strip() for p in init.split(",")] if isinstance(init, str) else list(init)
    if len(parts) != depth:
        raise ValueError(
            f"init {init!r} gives {len(parts)} scales but the depth is {depth}: give one per layer"
        )
    out: list[sp.Expr | None] = []
    for part in parts:
        if part is None or (isinstance(part, str) and part.lower() in ("eps", "epsilon", "ε")):
            out.append(None)
            continue
        if isinstance(part, str):
            value = parse_expression(part, {}).expr
        else:
            if isinstance(part, (int, float)) and not isinstance(part, bool):
                value = sp.Rational(str(part))
            elif isinstance(part, sp.Basic):
                value = part
            else:
                raise ValueError(f"init entry {part!r} must be 'eps' or a real number")
        if value.free_symbols or not value.is_real or not value.is_finite:
            raise ValueError(f"init entry {part!r} must be 'eps' or a real number")
        if value == 0:
            raise ValueError(
                f"init entry {part!r} is 0: a layer at scale 0 is neither an O(1) layer nor "
                "one at scale ε (write eps for a small layer)"
            )
        if not _MIN_SCALE <= abs(value) <= _MAX_SCALE:
            raise ValueError(
                f"init entry {part!r} must have magnitude between {_MIN_SCALE:g} and "
                f"{_MAX_SCALE:g} (an O(1) scale; write eps for a small layer)"
            )
        out.append(value)
    if all(v is not None for v in out):
        raise ValueError(f"init {init!r} has no 'eps' layer: the bottleneck set is empty")
    return tuple(out)


def parse_biases(biases, depth: int) -> tuple[int, ...]:
    r"""The layers with a trainable bias, 0-based and sorted: ``"output"``, ``"all"``,
    ``"none"``, or 1-based layer numbers (``"2,4"`` or a sequence).

    On the manifold the bias of hidden layer l is :math:`b_l = (B_l/\sqrt N)\,1_N`
    (so :math:`\|b_l\| = |B_l|`) and the output's is the scalar :math:`B_L`; each
    starts at 0 and is one more coordinate of the gradient flow.

    Examples
    --------
    >>> parse_biases("output", 4), parse_biases("all", 3), parse_biases("2, 4", 4)
    ((3,), (0, 1, 2), (1, 3))
    >>> parse_biases(None, 4)
    ()
    >>> parse_biases("5", 4)
    Traceback (most recent call last):
    ...
    ValueError: biases '5': layer 5 is not one of the layers 1..4
    """
    if biases is None:
        return ()
    if isinstance(biases, str):
        text = biases.strip().lower()
        if text in ("", "none"):
            return ()
        if text == "output":
            return (depth - 1,)
        if text == "all":
            return tuple(range(depth))
        parts: list = [p.strip() for p in text.split(",")]
    else:
        try:
            parts = list(biases)
        except TypeError:
            raise ValueError(
                f"biases {biases!r}: give 'output', 'all', 'none' or layer numbers"
            ) from None
    layers = set()
    for part in parts:
        text = str(part)
        if isinstance(part, bool) or not text.isdigit():
            raise ValueError(
                f"biases {biases!r}: {part!r} is not a layer number (or 'output', 'all', 'none')"
            )
        if not 1 <= int(text) <= depth:
            raise ValueError(f"biases {biases!r}: layer {text} is not one of the layers 1..{depth}")
        layers.add(int(text) - 1)
    return tuple(sorted(layers))


def _one_signed(sigma: sp.Expr) -> int | None:
    """1 if σ ≥ 0 on the real line is proven, −1 if σ ≤ 0 is, else ``None``."""
    candidates = [sigma]
    if sigma.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        candidates.append(sigma.rewrite(sp.Piecewise))
    for candidate in candidates:
        if candidate.is_nonnegative:
            return 1
        if candidate.is_nonpositive:
            return -1
    return None


@dataclass(frozen=True)
class LossBound:
    """A proven lower bound on the reduced loss.

    Attributes
    ----------
    value : sympy.Expr
        The bound (exact).
    reason : str
        Why it holds.
    attained : bool
        Whether the flow can reach it (so every level above it is reachable).
    """

    value: sp.Expr
    reason: str
    attained: bool


@dataclass(frozen=True)
class ReducedModel:
    r"""The reduced model of conventions §3 for one activation, depth, width, init and teacher.

    Attributes
    ----------
    sigma : sympy.Expr
        σ in :data:`saddle_escape.symbolic.parsing.X`.
    label : str
        Registry name or expression.
    depth : int
        L, the number of weight layers.
    width : sympy.Expr
        N (an integer or a symbol).
    init : tuple
        Initial scale per layer; ``None`` for the bottleneck layers (scale ε).
    teacher : sympy.Expr
        s.
    biases : tuple of int
        0-based layers with a trainable bias (:func:`parse_biases`), each starting at 0;
        empty for the bias-free network of the conventions.
    """

    sigma: sp.Expr
    label: str
    depth: int
    width: sp.Expr
    init: tuple
    teacher: sp.Expr = sp.Integer(1)
    biases: tuple[int, ...] = ()
    Y: tuple[sp.Symbol, ...] = field(init=False, repr=False)
    B: tuple[sp.Symbol, ...] = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(
            self, "Y", tuple(sp.Symbol(f"Y{l + 1}", real=True) for l in range(self.depth))
        )
        object.__setattr__(self, "B", tuple(sp.Symbol(f"B{l + 1}", real=True) for l in self.biases))

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """The flow's coordinates: the scales Y_1 … Y_L, then the biases B_l (if any)."""
        return self.Y + self.B

    @property
    def bottleneck(self) -> tuple[int, ...]:
        """0-based indices of the ε layers."""
        return tuple(i for i, v in enumerate(self.init) if v is None)

    @property
    def r(self) -> int:
        """Number of bottleneck layers."""
        return len(self.bottleneck)

    def output(self) -> sp.Expr:
        """:math:`F(Y; g)`."""
        N = self.width
        bias = dict(zip(self.biases, self.B, strict=True))
        z = self.Y[0] * G / sp.sqrt(N) + bias.get(0, 0) / sp.sqrt(N)
        for l in range(1, self.depth - 1):
            z = self.Y[l] * self.sigma.xreplace({X: z}) + bias.get(l, 0) / sp.sqrt(N)
        # The output carries √N (N identical units) and the scalar output bias.
        last = self.depth - 1
        return sp.sqrt(N) * self.Y[last] * self.sigma.xreplace({X: z}) + bias.get(last, 0)

    def integrand(self) -> sp.Expr:
        r""":math:`\tfrac12(F - s g)^2`."""
        return (self.output() - self.teacher * G) ** 2 / 2

    def loss_expression(self) -> sp.Expr | None:
        r"""Exact :math:`\mathcal L(Y)` when σ is a polynomial (Gaussian moments), else ``None``."""
        if not self.sigma.is_polynomial(X):
            return None
        degree = max(int(sp.degree(self.sigma, X)), 1)
        if degree ** (self.depth - 1) > MAX_EXACT_DEGREE:
            return None  # the composed polynomial is too large to expand: use quadrature
        return gaussian_expectation(self.integrand())

    def initial_point(self, eps) -> tuple:
        """The coordinates at t = 0 (:attr:`parameters`): ``Y(0)`` with the bottleneck layers
        at ``eps``, then the biases at 0."""
        return tuple(eps if v is None else v for v in self.init) + (0,) * len(self.biases)

    def scalar_substitution(self, y=Y_SCALAR) -> dict:
        """``{Y_b: y for b in B} ∪ {Y_l: init_l otherwise}``."""
        return {self.Y[i]: (y if v is None else v) for i, v in enumerate(self.init)}

    def scalar_output(self) -> sp.Expr:
        """:math:`F` on the balanced scalar reduction, in ``y``."""
        return self.output().xreplace(self.scalar_substitution())

    def scalar_output_factored(self) -> tuple[sp.Expr, sp.Symbol, sp.Expr]:
        """``(F, h, h_value)``: F on the scalar reduction with the y-independent prefix (the
        layers before the first bottleneck) replaced by the symbol ``h``, and its value in g.

        Series in y are much cheaper with ``h`` opaque.
        """
        first = self.bottleneck[0]
        N = self.width
        h = sp.Symbol("h", real=True)
        if first == 0:
            prefix, z = G, self.Y[0] * h / sp.sqrt(N)
        else:
            prefix = self.Y[0] * G / sp.sqrt(N)
            for l in range(1, first):
                prefix = self.Y[l] * self.sigma.xreplace({X: prefix})
            prefix = self.sigma.xreplace({X: prefix})
            z = self.Y[first] * h
        for l in range(first + 1, self.depth):
            z = self.Y[l] * self.sigma.xreplace({X: z})
        subs = self.scalar_substitution()
        return (sp.sqrt(N) * z).xreplace(subs), h, prefix.xreplace(subs)

    def loss_lower_bound(self) -> LossBound | None:
        r"""A lower bound on :math:`\mathcal L` over the manifold, when σ is even or one-signed.

        On the manifold :math:`F = a\,\varphi(g)` with :math:`a = \sqrt N Y_L` and
        :math:`\varphi = \sigma(z_{L-1}(g))`. If σ ≥ 0 (or ≤ 0) everywhere, then
        :math:`\mathbb E[\varphi g]^2 \le \mathbb E[\varphi^2]\,\mathbb E[(g^\pm)^2]
        = \mathbb E[\varphi^2]/2`, so
        :math:`\min_a \tfrac12\mathbb E[(a\varphi - sg)^2] \ge s^2/4` for every Y.
        The bound is attained when σ is a ReLU (:math:`\varphi = c\,g^+`).

        Returns
        -------
        LossBound or None
            ``None`` when SymPy cannot prove σ one-signed, or the model has biases.

        Examples
        --------
        >>> m = reduced_model(sp.Max(0, X), 4, 16, "1,eps,eps,eps")
        >>> bound = m.loss_lower_bound()
        >>> bound.value, bound.attained
        (1/4, True)
        >>> reduced_model(sp.tanh(X), 4, 16, "1,eps,eps,eps").loss_lower_bound() is None
        True
        >>> reduced_model(sp.Abs(X), 4, 16, "1,eps,eps,eps").loss_lower_bound().value  # even σ
        1/2
        """
        if self.biases:
            return None  # the bounds below are for the bias-free network
        if sp.expand(self.sigma.xreplace({X: -X}) - self.sigma) == 0:
            return LossBound(
                self.teacher**2 / 2,
                "σ is even, so F(Y; g) is even in g and uncorrelated with the odd teacher: "
                "𝓛 = ½E[F²] + s²/2",
                False,
            )
        sign = _one_signed(self.sigma)
        if sign is None:
            return None
        t = sp.Symbol("t", positive=True)
        right = sp.expand(self.sigma.xreplace({X: t}))
        attained = (
            sp.expand(self.sigma.xreplace({X: -t})) == 0
            and right.is_polynomial(t)
            and sp.degree(right, t) == 1
            and right.coeff(t, 0) == 0
        )
        relation = "≥" if sign > 0 else "≤"
        return LossBound(
            self.teacher**2 / 4,
            f"σ {relation} 0 everywhere, so on the manifold F = a·φ(g) with φ one-signed and "
            "E[φg]² ≤ E[φ²]/2 (Cauchy–Schwarz on a half-line)",
            bool(attained),
        )

    def ode(self) -> tuple[sp.Expr, ...] | None:
        r"""Exact :math:`-\partial\mathcal L/\partial Y_l` for polynomial σ, else ``None``."""
        loss = self.loss_expression()
        if loss is None:
            return None
        return tuple(-sp.diff(loss, y) for y in self.parameters)

    def to_dict(self) -> dict:
        return {
            "activation": self.label,
            "depth": self.depth,
            # JSON contract v1: a whole number is a number; exact values get a float twin.
            "width": int(self.width) if self.width.is_Integer else sp.sstr(self.width),
            "init": ["eps" if v is None else sp.sstr(v) for v in self.init],
            "init_value": [None if v is None else float(v) for v in self.init],
            "teacher": sp.sstr(self.teacher),
            "teacher_value": float(self.teacher),
            "bottleneck": [b + 1 for b in self.bottleneck],
            "r": self.r,
            "biases": [l + 1 for l in self.biases],
        }


_MAX_WIDTH = 10**9


def parse_width(width) -> sp.Expr:
    """The width N: a positive whole number (not a float, not a bool) or a symbol name.

    Examples
    --------
    >>> parse_width(16), parse_width("16"), parse_width("N")
    (16, 16, N)
    >>> parse_width(16.7)
    Traceback (most recent call last):
    ...
    ValueError: width must be a positive whole number or a symbol name, got 16.7
    """
    if isinstance(width, sp.Basic) and (width.is_Integer or width.is_Symbol):
        width = int(width) if width.is_Integer else width.name
    if isinstance(width, str):
        text = width.strip()
        if text.isdigit():
            width = int(text)
        elif text.isidentifier() and text.isascii() and not text.startswith("_"):
            return sp.Symbol(text, positive=True, integer=True)
    is_whole = isinstance(width, (int, np.integer)) and not isinstance(width, (bool, np.bool_))
    if not is_whole or not 1 <= int(width) <= _MAX_WIDTH:
        raise ValueError(
            f"width must be a positive whole number or a symbol name, got {width!r}"
            + (f" (at most {_MAX_WIDTH})" if is_whole else "")
        )
    return sp.Integer(int(width))


def reduced_model(
    activation: sp.Expr,
    depth: int,
    width,
    init,
    *,
    teacher=1,
    label: str | None = None,
    biases=None,
) -> ReducedModel:
    """Build a :class:`ReducedModel` from user input (names, strings or numbers).

    Parameters
    ----------
    activation : sympy.Expr
        σ in :data:`saddle_escape.symbolic.parsing.X` (see
        :func:`saddle_escape.classes.registry.resolve_activation`).
    depth : int
        L ≥ 2.
    width : int or str
        N ≥ 1, or a symbol name such as ``"N"``.
    init : str or sequence
        ``"1,eps,eps,eps"``: one entry per layer.
    teacher : number
        s ≠ 0.
    label : str, optional
        How the activation is named in results.
    biases : str or sequence, optional
        Layers with a trainable bias (:func:`parse_biases`): ``"output"``, ``"all"`` or
        1-based layer numbers; none by default (the conventions' bias-free network).

    Raises
    ------
    ValueError
        For invalid depth, width, init or teacher; :class:`ExpressionError` for a bad
        activation (including free parameters).

    Examples
    --------
    >>> m = reduced_model(X, 4, 16, "eps,eps,eps,eps", label="linear")
    >>> m.loss_expression().xreplace(m.scalar_substitution()).factor()
    (y - 1)**2*(y + 1)**2*(y**2 + 1)**2/2
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or not 2 <= depth <= _MAX_DEPTH:
        raise ValueError(f"depth must be an integer from 2 to {_MAX_DEPTH}, got {depth!r}")
    N = parse_width(width)
    s = parse_teacher(teacher)
    if not isinstance(activation, sp.Expr):
        raise ExpressionError(
            "reduced_model takes σ as a SymPy expression in x; resolve names and strings "
            "with saddle_escape.classes.registry.resolve_activation"
        )
    sigma, label = activation, label or sp.sstr(activation)
    extra = sigma.free_symbols - {X}
    if extra:
        raise ExpressionError(
            f"activation {label!r} has free parameters {sorted(s.name for s in extra)}; "
            "substitute numbers for the reduced dynamics"
        )
    layers = parse_biases(biases, depth)
    if layers and has_piecewise(sigma):
        raise ValueError(
            f"biases are supported for σ smooth on the line (the class D activations), not "
            f"for the piecewise {label!r}: its kink crossings move with the biases"
        )
    return ReducedModel(sigma, label, depth, N, parse_init(init, depth), s, layers)
