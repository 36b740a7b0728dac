r"""Normal form of the balanced scalar reduction and the asymptotic expansion of τ★(ε).

With :math:`P(y) = P(0) + \sum_{m\ge1} c_m y^m` (conventions §4) let p be the first m with
:math:`c_m \ne 0` and :math:`k_P = -c_p > 0`. Then

.. math:: \dot y = -P'(y)/r = \kappa\,y^{p-1}\Big(1 + \sum_{j\ge1} b_j y^j\Big),\qquad
          \kappa = p k_P / r,\quad b_j = \frac{(p+j)\,c_{p+j}}{p\,c_p},

and with :math:`1/(1 + \sum b_j y^j) = \sum d_j y^j`,
:math:`\tau_\star = \int_\varepsilon^{y_\star} dy/\dot y` has the singular part

.. math:: \sum_{j=0}^{p-3} \frac{d_j}{\kappa\,(p-2-j)}\,\varepsilon^{-(p-2-j)}
          + \frac{d_{p-2}}{\kappa}\ln\frac1\varepsilon + O(1),

independent of the escape threshold. p = r in the generic case (then κ = k_P = k of
conventions §4); p = 1 gives a finite limit, p = 2 a logarithm, p ≥ 3 the power law
:math:`\varepsilon^{-(p-2)}/((p-2)\kappa)`. A non-zero :math:`d_{p-2}` (e.g. r = q + 1) adds
the resonant :math:`\ln(1/\varepsilon)` term.

The coefficients :math:`c_m` are Gaussian expectations of the y-series of
:math:`(F - sg)^2/2`: exact (moments) when they are polynomials in g, otherwise
evaluated by ``mpmath.quad`` at the requested precision and returned as SymPy Floats.
Piecewise σ: one-sided series per sign region of the layers before the bottleneck, and
half-line moments (or quadrature) per piece of the g-line (see :func:`asymptotics`). In the
finite regime (p = 1) the limit τ★(0⁺) and the slope dτ★/dε(0⁺) are computed too.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from saddle_escape.symbolic.display import html_section, html_table, latex_math, latex_sum, text_sum
from saddle_escape.symbolic.outcomes import ConvergenceError, ExpressionError, Status
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import Y_SCALAR, G, ReducedModel, gaussian_expectation
from saddle_escape.symbolic.taylor import T, expand_side, has_piecewise, kinks, resolve_near_zero
from saddle_escape.symbolic.timeouts import check_time_limit, run_limited

__all__ = [
    "AsymptoticTerm",
    "Asymptotics",
    "asymptotics",
    "expected_slope",
    "critical_depth_law",
    "MIN_DPS",
    "MAX_DPS",
    "MAX_EXTRA_TERMS",
    "MAX_ORDER",
    "MAX_PIECES",
]

_REGIMES = {1: "finite", 2: "log"}
#: Range of ``dps`` (Gaussian expectations by mpmath.quad cost more with every digit).
MIN_DPS, MAX_DPS = 15, 1000
#: Work budget: terms of the normal form beyond those the singular part needs.
MAX_EXTRA_TERMS = 20
#: Work budget: the highest order of the y-series tried when P(y) − P(0) vanishes (α = 0).
MAX_ORDER = 40
#: Work budget: pieces of the g-line (kink crossings of the layers before the bottleneck).
MAX_PIECES = 64
_MAX_LEADING = 12  # powers of σ searched for its leading term (α = 0 orders)
_SCAN_POINTS = 400  # grid of the numeric search for kink crossings


@dataclass(frozen=True)
class AsymptoticTerm:
    """``coefficient · ε^eps_power · ln(1/ε)^log_power``.

    Examples
    --------
    >>> AsymptoticTerm(-2, 0, sp.Rational(1, 2)).to_dict()
    {'eps_power': -2, 'log_power': 0, 'coefficient': '1/2', 'coefficient_value': 0.5}
    """

    eps_power: int
    log_power: int
    coefficient: sp.Expr

    def to_dict(self) -> dict:
        return {
            "eps_power": self.eps_power,
            "log_power": self.log_power,
            "coefficient": sp.sstr(self.coefficient),
            "coefficient_value": _json_float(self.coefficient),
        }


def _json_float(value) -> float | None:
    """``float(value)``, or ``None`` when it is not a finite real (strict JSON)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Asymptotics:
    """The normal form and the singular expansion of τ★(ε) for one reduced model.

    Attributes
    ----------
    model : ReducedModel
        The input model.
    p : int
        Order of the first non-zero term of :math:`P(y) - P(0)`.
    regime : str
        ``"power"``, ``"log"``, ``"finite"``, or ``"none"`` (κ ≤ 0: the flow does not
        escape; then ``status`` is ``no_escape``).
    k : sympy.Expr
        κ of the normal form.
    b : tuple of sympy.Expr
        :math:`b_j` of the normal form.
    terms : tuple of AsymptoticTerm
        The singular part of τ★(ε).
    exact : bool
        Whether every coefficient is exact (else evaluated at ``dps`` digits).
    dps : int
        Digits of the non-exact Gaussian expectations (input).
    coefficients : tuple of sympy.Expr
        :math:`c_0 … c_{order}` of :math:`P(y)`.
    notes : tuple of str
    extra_terms : int
        Input: :math:`b_j` beyond those the singular part needs.
    time_limit_seconds : float or None
        Input: the limit on the symbolic series.
    order : int
        Work counter: the order of the y-series (Gaussian expectations computed).
    quadratures : int
        Work counter: expectations evaluated by ``mpmath.quad`` (not polynomial in g).
    seconds : float
        Wall-clock time.
    limit : sympy.Float or None
        Finite regime (p = 1): τ★(0⁺) = ∫₀^{y★} dy/ẏ of the scalar reduction, with
        P(y★) = ``limit_fraction``·P(0), to ``dps`` digits; else ``None``.
    limit_correction : sympy.Float or None
        Finite regime: dτ★/dε at 0⁺, so τ★(ε) = limit + limit_correction·ε + O(ε²)
        (threshold ``limit_fraction``·𝓛(0), as :func:`~saddle_escape.numeric.escape.escape_time`
        with ``system="scalar"``).
    limit_fraction : float or None
        The loss fraction of the threshold (½, or halfway to a floor the flow approaches).

    Examples
    --------
    >>> from saddle_escape.symbolic.parsing import X
    >>> from saddle_escape.symbolic.reduction import reduced_model
    >>> a = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    >>> a.status.value, a.to_dict()["status"], a.order, a.quadratures
    ('success', 'success', 8, 0)
    """

    model: ReducedModel
    p: int
    regime: str
    k: sp.Expr
    b: tuple[sp.Expr, ...]
    terms: tuple[AsymptoticTerm, ...]
    exact: bool
    dps: int
    coefficients: tuple[sp.Expr, ...] = field(repr=False, default=())
    notes: tuple[str, ...] = ()
    extra_terms: int = 2
    time_limit_seconds: float | None = None
    order: int = 0
    quadratures: int = 0
    seconds: float = 0.0
    limit: sp.Expr | None = None
    limit_correction: sp.Expr | None = None
    limit_fraction: float | None = None

    @property
    def status(self) -> Status:
        """``no_escape`` when the regime is ``"none"``, else ``success``."""
        return Status.NO_ESCAPE if self.regime == "none" else Status.SUCCESS

    @property
    def message(self) -> str:
        """What the status means for this model, and what to do next."""
        if self.status is Status.SUCCESS:
            return f"{self.regime} regime (p = {self.p})"
        return (
            f"no escape: κ = {sp.sstr(self.k)} ≤ 0 for {self.model.label}, the loss increases "
            "as the bottleneck grows and the balanced flow does not escape; choose another "
            "initialization (or activation)"
        )

    @property
    def exponent(self) -> int | None:
        """``p − 2`` in the power regime (τ★ ∝ ε^{−exponent}), else ``None``."""
        return self.p - 2 if self.regime == "power" else None

    @property
    def prefactor(self) -> sp.Expr | None:
        """``1/((p−2)k)`` (power), ``1/k`` (log), ``None`` (finite)."""
        if self.regime == "power":
            return 1 / ((self.p - 2) * self.k)
        if self.regime == "log":
            return 1 / self.k
        return None

    @property
    def k_P(self) -> sp.Expr | None:
        """:math:`k_P = -c_p`, the coefficient of :math:`P(y) = P(0) - k_P y^p + …`
        (conventions §4); equals κ when p = r. ``None`` when no order drives."""
        if self.p < 1 or self.p >= len(self.coefficients):
            return None
        return -self.coefficients[self.p]

    @property
    def limit_value(self) -> float | None:
        """``float(limit)`` (``None`` outside the finite regime)."""
        return None if self.limit is None else float(self.limit)

    def normal_form(self) -> sp.Expr:
        """``dy/dt`` as a truncated series in y."""
        y = Y_SCALAR
        return (
            self.k * y ** (self.p - 1) * (1 + sum(bj * y ** (j + 1) for j, bj in enumerate(self.b)))
        )

    def leading(self, eps) -> float:
        """The singular expansion evaluated at ``eps`` (float)."""
        import math

        return sum(
            float(t.coefficient) * eps**t.eps_power * math.log(1 / eps) ** t.log_power
            for t in self.terms
        )

    def _title(self) -> str:
        """``label, L = …, width …, init …`` for the notebook displays."""
        d = self.model.to_dict()
        init = ",".join(str(v) for v in d.get("init") or ())
        return f"{self.model.label}, L = {d.get('depth')}, width {d.get('width')}, init {init}"

    def _display_parts(self, latex: bool) -> tuple[str, str]:
        """The normal form's right side and τ★'s singular part, in LaTeX or plain text."""
        total = latex_sum if latex else text_sum

        def power(base: str, n: int) -> str:
            if n == 0 or n == 1:
                return "" if n == 0 else base
            return f"{base}^{{{n}}}" if latex else f"{base}^{n}"

        times = r"\," if latex else "·"
        bracket = total([(1, "")] + [(bj, power("y", j)) for j, bj in enumerate(self.b, 1)])
        bracket += f" + O({power('y', len(self.b) + 1)})"
        bracket = rf"\Big({bracket}\Big)" if latex else f"({bracket})"
        lead = power("y", self.p - 1)
        normal = total([(self.k, f"{lead}{times}{bracket}" if lead else bracket)])
        if self.regime == "none":
            return normal, r"\infty" if latex else "∞ (no escape)"
        terms = []
        for t in self.terms:
            eps = power(r"\varepsilon" if latex else "ε", t.eps_power)
            if latex:
                log = {0: "", 1: r"\ln(1/\varepsilon)"}.get(
                    t.log_power, rf"\ln^{{{t.log_power}}}(1/\varepsilon)"
                )
            else:
                log = {0: "", 1: "ln(1/ε)"}.get(t.log_power, f"ln(1/ε)^{t.log_power}")
            terms.append((t.coefficient, times.join(p for p in (eps, log) if p)))
        singular = total(terms, empty="")
        return normal, f"{singular} + O(1)" if singular else "O(1)"

    def _repr_latex_(self) -> str:
        r"""The normal form and τ★'s singular expansion, as inline LaTeX (Jupyter).

        Examples
        --------
        >>> from saddle_escape.symbolic.parsing import X
        >>> from saddle_escape.symbolic.reduction import reduced_model
        >>> print(asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))._repr_latex_())
        $\dot y = y^{3}\,\Big(1 - y^{4} + O(y^{5})\Big),\qquad
        \tau_\star(\varepsilon) = \frac{1}{2}\,\varepsilon^{-2} + O(1)$
        """
        normal, singular = self._display_parts(latex=True)
        return latex_math(rf"\dot y = {normal},\qquad \tau_\star(\varepsilon) = {singular}")

    def _repr_html_(self) -> str:
        """The regime, p, κ, exponent, prefactor, normal form and singular part (Jupyter).

        Examples
        --------
        >>> from saddle_escape.symbolic.parsing import X
        >>> from saddle_escape.symbolic.reduction import reduced_model
        >>> page = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))._repr_html_()
        >>> "<td>power</td><td>4</td><td>1</td><td>2</td><td>1/2</td>" in page
        True
        >>> "<td>y^3·(1 - y^4 + O(y^5))</td><td>1/2·ε^-2 + O(1)</td>" in page
        True
        """
        normal, singular = self._display_parts(latex=False)
        table = html_table(
            ["regime", "p", "κ", "exponent", "prefactor", "dy/dt", "τ★(ε)"],
            [[self.regime, self.p, self.k, self.exponent, self.prefactor, normal, singular]],
            caption=None if self.exact else f"coefficients to {self.dps} digits",
        )
        ok = self.status is Status.SUCCESS
        return html_section(
            f"{self._title()}: {self.message if ok else 'no escape'}",
            table,
            notes=list(self.notes) + ([] if ok else [self.message]),
        )

    def to_dict(self) -> dict:
        return {
            **self.model.to_dict(),
            "p": self.p,
            "status": self.status.value,
            "regime": self.regime,
            "exponent": self.exponent,
            "k": sp.sstr(self.k),
            "k_value": _json_float(self.k),
            "k_P": _json_string(self.k_P),
            "k_P_value": None if self.k_P is None else _json_float(self.k_P),
            "exact": self.exact,
            "digits": None if self.exact else self.dps,
            "prefactor": None if self.prefactor is None else sp.sstr(self.prefactor),
            "prefactor_value": None if self.prefactor is None else _json_float(self.prefactor),
            "normal_form": sp.sstr(self.normal_form()),
            "b": [sp.sstr(v) for v in self.b],
            "terms": [t.to_dict() for t in self.terms],
            "notes": list(self.notes),
            "dps": self.dps,
            "extra_terms": self.extra_terms,
            "time_limit_seconds": self.time_limit_seconds,
            "order": self.order,
            "quadratures": self.quadratures,
            "seconds": self.seconds,
            "limit": _json_string(self.limit),
            "limit_value": _json_float(self.limit) if self.limit is not None else None,
            "limit_correction": _json_string(self.limit_correction),
            "limit_correction_value": (
                _json_float(self.limit_correction) if self.limit_correction is not None else None
            ),
            "limit_fraction": self.limit_fraction,
        }


def _json_string(value) -> str | None:
    return None if value is None else sp.sstr(value)


def _needs_a_number(expr: sp.Expr, what: str) -> ExpressionError:
    names = sorted(s.name for s in expr.free_symbols - {G})
    return ExpressionError(
        f"{what} depends on {names} and is not a polynomial in g (no Gaussian moment "
        "formula; it needs quadrature): give the width (and every scale) as a number, "
        "e.g. --width 16"
    )


def _expectation(expr: sp.Expr, dps: int) -> tuple[sp.Expr, bool]:
    exact = gaussian_expectation(expr)
    if exact is not None:
        return exact, True
    if expr.free_symbols - {G}:
        raise _needs_a_number(expr, "a Gaussian expectation of the y-series")
    f = sp.lambdify(G, expr, modules="mpmath")
    with mpmath.workdps(dps + 10):
        value = mpmath.quad(
            lambda g: f(g) * mpmath.exp(-g * g / 2), [-mpmath.inf, 0, mpmath.inf]
        ) / mpmath.sqrt(2 * mpmath.pi)
        return sp.Float(str(value), dps + 5), False


def _is_zero(value: sp.Expr, exact: bool, dps: int) -> bool:
    if exact:
        return sp.simplify(value) == 0
    return abs(value) < sp.Float(10) ** (-(dps // 2))


# -- truncated power series in y ------------------------------------------------------------


def _mul(a: list, b: list, order: int) -> list:
    out = [sp.Integer(0)] * (order + 1)
    for i, ai in enumerate(a):
        if ai == 0:
            continue
        for j in range(order + 1 - i):
            if b[j] != 0:
                out[i + j] += ai * b[j]
    return [sp.expand(v) for v in out]


def _compose(coefficients, delta: list, order: int) -> list:
    """``Σ_k a_k δ^k`` truncated at ``y^order`` (δ has no constant term), by Horner."""
    out = [sp.Integer(0)] * (order + 1)
    for a in reversed(coefficients[: order + 1]):
        out = _mul(out, delta, order)
        out[0] = sp.expand(out[0] + a)
    return out


def _side_of(delta: list, what: str) -> int:
    """Sign of ``δ(y)`` for small y > 0 (the lowest non-zero coefficient; ``H > 0``)."""
    for value in delta:
        if value == 0:
            continue
        if value.is_positive:
            return 1
        if value.is_negative:
            return -1
        if value.is_number and value.is_zero:
            continue
        raise ExpressionError(
            f"cannot decide the sign of the small pre-activation {sp.sstr(value)}·y^m in "
            f"{what}: the one-sided expansion needs it"
        )
    return 0


def _layer_series(sigma, c, side, order, piecewise, cache) -> tuple:
    """Coefficients of σ(c + x) in x on ``side`` of 0 (analytic σ: the Taylor series)."""
    key = (c, side, order)
    if key not in cache:
        what = f"σ near {sp.sstr(c)}"
        shifted = sigma.xreplace({X: c + X})
        branch = resolve_near_zero(shifted, side) if piecewise else shifted.xreplace({X: side * T})
        expansion = expand_side(branch, side, order, what)
        if not expansion.analytic:
            raise ExpressionError(
                f"σ has no Taylor expansion at {sp.sstr(c)} from the "
                f"{'right' if side > 0 else 'left'} (a fractional power): no y-series"
            )
        cache[key] = expansion.coefficients
    return cache[key]


def _output_series(model: ReducedModel, h: sp.Expr, order: int, piecewise: bool) -> tuple:
    """Coefficients of :math:`y^0 … y^{order}` of F on the scalar reduction, with the prefix
    (the layers before the first bottleneck) equal to ``h``.

    Layer by layer on truncated series: each pre-activation after the first bottleneck is
    ``c + δ(y)`` with c a constant and δ = O(y); σ acts through its expansion at c, one-sided
    (the side of δ's leading term) for piecewise σ. Module-level with picklable arguments,
    so that :func:`run_limited` can hold it to its time limit.
    """
    first = model.bottleneck[0]
    N = model.width
    values = model.scalar_substitution(Y_SCALAR)
    scale = [values[Y] for Y in model.Y]
    unit = [sp.Integer(0)] * (order + 1)
    z = list(unit)
    if order >= 1:
        z[1] = sp.expand(h / sp.sqrt(N) if first == 0 else h)  # Y_first = y
    cache: dict = {}
    for layer in range(first + 1, model.depth):
        what = f"layer {layer + 1} of {model.label}"
        c, delta = z[0], [sp.Integer(0), *z[1:]]
        side = _side_of(delta[1:], what) if piecewise else 1
        if side == 0:
            delta = list(unit)
            side = 1
            if piecewise:
                out = list(unit)
                out[0] = sp.expand(model.sigma.xreplace({X: c}))
            else:
                out = _compose(_layer_series(model.sigma, c, 1, 0, False, cache), delta, order)
        else:
            coefficients = _layer_series(model.sigma, c, side, order, piecewise, cache)
            out = _compose(coefficients, delta, order)
        if scale[layer] == Y_SCALAR:
            z = [sp.Integer(0), *out[:order]]
        else:
            z = [sp.expand(scale[layer] * v) for v in out]
    return tuple(sp.expand(sp.sqrt(N) * v) for v in z)


def _series_coefficients(f: sp.Expr, h: sp.Symbol, prefix: sp.Expr, order: int) -> tuple:
    """Coefficients of :math:`y^0 … y^{order}` in the y-series of the reduced output ``f``,
    with the opaque prefix ``h`` replaced by its value (``sympy.series``; kept for callers)."""
    y = Y_SCALAR
    series = sp.expand(sp.series(f, y, 0, order + 1).removeO())
    return tuple(series.coeff(y, m).xreplace({h: prefix}) for m in range(order + 1))


def _check_arguments(model, extra_terms, dps, what: str = "asymptotics") -> None:
    if not isinstance(model, ReducedModel):
        raise TypeError(
            f"{what} needs a ReducedModel, got {model!r} ({type(model).__name__}); build "
            "one with saddle_escape.build_model(activation, depth, width, init), e.g. "
            "build_model('tanh', 4, 16, '1,eps,eps,eps')"
        )
    for name, value, low, high in (
        ("dps", dps, MIN_DPS, MAX_DPS),
        ("extra_terms", extra_terms, 0, MAX_EXTRA_TERMS),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{name} must be an int from {low} to {high}, got {value!r} "
                f"({type(value).__name__})"
            )
        if not low <= value <= high:
            raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")


# -- the prefix on the g-line (piecewise σ) -----------------------------------------------


def _tail(dps: int) -> float:
    """|g| beyond which the Gaussian weight is below 10^-(dps+15)."""
    return math.sqrt(2 * math.log(10) * (dps + 15))


def _crossings(z: sp.Expr, level, a, b, dps: int) -> list:
    """Points g in (a, b) where ``z(g)`` crosses ``level`` (exact for polynomials)."""
    if G not in z.free_symbols:
        return []
    expr = sp.expand(z - level)
    if expr.is_polynomial(G) and sp.degree(expr, G) == 1:
        root = sp.simplify(-expr.coeff(G, 0) / expr.coeff(G, 1))
        inside = sp.And(a < root, root < b)
        if inside in (sp.true, sp.false):
            return [root] if inside else []
    if z.free_symbols - {G}:
        names = sorted(s.name for s in z.free_symbols - {G})
        raise ExpressionError(
            f"where the layers before the bottleneck cross a kink of σ depends on {names}: "
            "give the width (and every scale) as a number, e.g. --width 16"
        )
    f = sp.lambdify(G, expr, modules="mpmath")
    tail = _tail(dps)
    low, high = max(float(a), -tail), min(float(b), tail)
    out = []
    with mpmath.workdps(dps + 10):
        grid = [low + (high - low) * i / _SCAN_POINTS for i in range(1, _SCAN_POINTS)]
        values = [f(mpmath.mpf(x)) for x in grid]
        for x0, x1, f0, f1 in zip(grid, grid[1:], values, values[1:], strict=False):
            if f0 * f1 < 0:
                root = mpmath.findroot(f, (mpmath.mpf(x0), mpmath.mpf(x1)), solver="anderson")
                out.append(sp.Float(str(root), dps + 10))
            elif f1 == 0:
                out.append(sp.Float(x1, dps + 10))
    return out


def _representative(a, b) -> sp.Rational:
    if a == -sp.oo:
        return sp.Rational(sp.floor(b)) - 1 if b != sp.oo else sp.Integer(0)
    if b == sp.oo:
        return sp.Rational(sp.ceiling(a)) + 1
    return sp.Rational(sp.Float(sp.N((a + b) / 2, 20), 20))


def _prefix_pieces(model: ReducedModel, dps: int) -> list:
    """``(a, b, h(g), sign)``: the g-line cut so that, on each piece, the prefix h(g) (the
    layers before the first bottleneck) is one analytic branch of constant sign.

    Cuts: g = 0, every g where a pre-activation of those layers crosses a kink of σ (an
    O(1) layer reaching hardswish's ±3, say), and every zero of h.
    """
    first = model.bottleneck[0]
    if first == 0:
        return [(-sp.oo, sp.Integer(0), G, -1), (sp.Integer(0), sp.oo, G, 1)]
    sigma = model.sigma
    corners = kinks(sigma)
    scales = model.init
    z1 = sp.expand(scales[0] * G / sp.sqrt(model.width))
    pieces = [(-sp.oo, sp.Integer(0), z1), (sp.Integer(0), sp.oo, z1)]
    for j in range(first):
        new = []
        for a, b, z in pieces:
            cuts = sorted({x for c in corners for x in _crossings(z, c, a, b, dps)}, key=float)
            bounds = [a, *cuts, b]
            for lo, hi in zip(bounds, bounds[1:], strict=False):
                if G not in z.free_symbols:
                    image = sigma.xreplace({X: z})
                else:
                    point = sp.expand(z.xreplace({G: _representative(lo, hi)}))
                    branch = resolve_near_zero(sigma.xreplace({X: point + X}), 1)
                    image = branch.xreplace({T: z - point})
                image = sp.expand(image if j + 1 == first else scales[j + 1] * image)
                new.append((lo, hi, image))
        pieces = new
        if len(pieces) > MAX_PIECES:
            raise ExpressionError(
                f"the layers before the bottleneck of {model.label} cross the kinks of σ "
                f"more than {MAX_PIECES} times: not supported"
            )
    out = []
    for a, b, h in pieces:
        bounds = [a, *_crossings(h, 0, a, b, dps), b]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            value = sp.expand(h.xreplace({G: _representative(lo, hi)}))
            if value == 0:
                sign = 0
            elif value.is_positive or value.is_negative:
                sign = 1 if value.is_positive else -1
            else:
                value = sp.N(value, dps)
                if not value.is_number:
                    raise _needs_a_number(h, "the sign of the layers before the bottleneck")
                sign = 0 if value == 0 else (1 if value > 0 else -1)
            out.append((lo, hi, h, sign))
    return out


def _half_line_moment(n: int) -> sp.Expr:
    r""":math:`\int_0^\infty g^n\,\varphi(g)\,dg`."""
    return sp.simplify(
        2 ** sp.Rational(n, 2) * sp.gamma(sp.Rational(n + 1, 2)) / (2 * sp.sqrt(sp.pi))
    )


class _PieceMoments:
    r"""Cached :math:`\mathbb E[h(g)^i g^j;\ a < g < b]` for one piece."""

    def __init__(self, a, b, h, dps):
        self.a, self.b, self.h, self.dps = a, b, h, dps
        self.cache: dict = {}
        self.quadratures = 0
        self.exact_ok = (a, b) in ((-sp.oo, 0), (0, sp.oo)) and sp.expand(h).is_polynomial(G)

    def __call__(self, i: int, j: int) -> tuple[sp.Expr, bool]:
        if (i, j) in self.cache:
            return self.cache[i, j]
        integrand = sp.expand(self.h**i * G**j)
        if self.exact_ok:
            sign = 1 if self.a == 0 else -1
            poly = sp.Poly(integrand, G)
            value = sp.expand(sum(c * sign**n * _half_line_moment(n) for (n,), c in poly.terms()))
            result = (value, True)
        else:
            if integrand.free_symbols - {G}:
                raise _needs_a_number(integrand, "a half-line Gaussian expectation")
            f = sp.lambdify(G, integrand, modules="mpmath")
            with mpmath.workdps(self.dps + 10):
                ends = [
                    mpmath.mpf(-mpmath.inf)
                    if e == -sp.oo
                    else mpmath.inf
                    if e == sp.oo
                    else mpmath.mpf(str(sp.N(e, self.dps + 15)))
                    for e in (self.a, self.b)
                ]
                value = mpmath.quad(lambda g: f(g) * mpmath.exp(-g * g / 2), ends)
                value /= mpmath.sqrt(2 * mpmath.pi)
                result = (sp.Float(str(value), self.dps + 5), False)
            self.quadratures += 1
        self.cache[i, j] = result
        return result


def _piecewise_coefficients(model, order, dps, seconds) -> tuple[list, bool, int]:
    """c_1 … c_order of P(y) for piecewise σ: each sign region of the prefix with its
    one-sided y-series, each piece of the g-line with its own Gaussian moments."""
    H = sp.Symbol("H", positive=True)
    h = sp.Symbol("h", real=True)
    s = model.teacher
    pieces = _prefix_pieces(model, dps)
    series = {}
    for sign in sorted({p[3] for p in pieces}):
        A = run_limited(
            _output_series,
            model,
            sign * H,
            order,
            True,
            seconds=seconds,
            what=f"the one-sided y-series of the reduced output for {model.label!r}",
        )
        series[sign] = [sp.expand(v.xreplace({H: sign * h})) for v in A]
    c = [sp.Integer(0)] * (order + 1)
    exact = True
    moments = [_PieceMoments(a, b, hg, dps) for a, b, hg, _ in pieces]
    for m in range(1, order + 1):
        total = sp.Integer(0)
        for (_, _, _, sign), moment in zip(pieces, moments, strict=True):
            A = series[sign]
            integrand = -s * G * A[m] + sum(A[i] * A[m - i] for i in range(m + 1)) / 2
            integrand = sp.expand(integrand)
            if integrand == 0:
                continue
            poly = sp.Poly(integrand, h, G)
            for (i, j), coefficient in poly.terms():
                value, is_exact = moment(i, j)
                exact = exact and is_exact
                total += coefficient * value
        c[m] = sp.simplify(total) if exact else sp.Float(sp.N(total, dps + 5), dps + 5)
    return c, exact, sum(m.quadratures for m in moments)


def _smooth_coefficients(model, order, dps, seconds, centred=False) -> tuple[list, bool, int]:
    r"""c_1 … c_order of P(y) for σ analytic at 0 (and wherever the layers after the
    bottleneck sit); ``centred``: of the loss with the output's mean removed,
    :math:`P_c = P - \tfrac12(\mathbb E F)^2` (an output bias at its optimum)."""
    h = sp.Symbol("h", real=True)
    f, h_factored, prefix = model.scalar_output_factored()
    del f, h_factored
    A = run_limited(
        _output_series,
        model,
        h,
        order,
        False,
        seconds=seconds,
        what=f"the y-series of the reduced output for {model.label!r}",
    )
    return run_limited(
        _smooth_expectations,
        A,
        h,
        prefix,
        model.teacher,
        order,
        dps,
        centred,
        seconds=seconds,
        what=f"the Gaussian expectations of the y-series for {model.label!r}",
    )


#: Operation count above which the exact constants of a y-series coefficient (nested
#: σ(σ(…)) of the O(1) layers after a first-layer bottleneck) are evaluated to ``dps``
#: digits instead: kept exact, expanding their products takes minutes (sigmoid ``eps,1,1,1``).
_EXACT_OPS_LIMIT = 300


def _smooth_expectations(A, h, prefix, s, order, dps, centred=False) -> tuple[list, bool, int]:
    exact, quadratures = True, 0
    series = []
    for v in A:
        v = v.xreplace({h: prefix})
        if sp.count_ops(v) > _EXACT_OPS_LIMIT:
            v, exact = sp.N(v, dps + 10), False
        series.append(sp.expand(v))
    means = []
    if centred:  # E[A_m], for the square of the output's mean
        for v in series:
            value, is_exact = _expectation(v, dps)
            exact = exact and is_exact
            quadratures += not is_exact
            means.append(value)
    c = [sp.Integer(0)]
    for m in range(1, order + 1):
        integrand = -s * G * series[m] + sum(series[i] * series[m - i] for i in range(m + 1)) / 2
        value, is_exact = _expectation(sp.expand(integrand), dps)
        if centred:
            value -= sum(means[i] * means[m - i] for i in range(m + 1)) / 2
        exact = exact and is_exact
        quadratures += not is_exact
        c.append(sp.simplify(value) if exact else sp.Float(sp.N(value, dps + 5), dps + 5))
    return c, exact, quadratures


def _offset_note(model, piecewise: bool, p: int, negative: bool) -> str | None:
    """Class D: why σ(0) ≠ 0 sets the order p and the sign of its term (None otherwise)."""
    values = []
    for side in (1, -1):
        try:
            branch = (
                resolve_near_zero(model.sigma, side)
                if piecewise
                else model.sigma.xreplace({X: side * T})
            )
            values.append(expand_side(branch, side, 1, "σ").coefficients[0])
        except ExpressionError:
            return None
    if values[0] != values[1] or values[0] == 0:
        return None
    why = (
        f"σ(0) = {sp.sstr(values[0])} ≠ 0 (class D): a small layer outputs σ(0) plus a signal "
        "proportional to its scale, so the output carries a constant offset that the odd "
        "teacher s·g cannot use; its square enters P(y) − P(0) with a positive sign, the "
        "correlation with the teacher with a negative one, and the lower order wins: "
        f"p = {p}"
    )
    offset = ""
    if model.depth - 1 not in model.bottleneck:
        offset = (
            " On the manifold, where the O(1) layers move too, the O(1) output layer "
            "carries the offset √N·Y_L·E σ(z_{L−1}) from t = 0: 𝓛(0) is mostly the offset's "
            "cost, and the flow halves it in O(1) time by shrinking Y_L, which fits nothing "
            "of the teacher (not a saddle escape)."
        )
    if negative:
        return (
            f"{why} with c_p > 0 (the offset's cost): the loss rises as the bottleneck grows, so "
            "this bias-free init does not escape; `saddle-escape escape` runs the flow to its "
            "stationary point and proves its loss floor. The output-only bottleneck "
            "(init 1,…,1,eps) has p = 1 with k > 0 and a finite limit where the threshold "
            "is reachable. A trainable output bias removes the offset (`--biases output`, "
            "biases='output'): the centred loss then drives at order r and the flow "
            "escapes with the slow-manifold law of saddle_escape.symbolic.bias." + offset
        )
    return (
        f"{why} with c_p < 0 (the correlation): the loss first falls as the bottleneck "
        "grows; whether it falls to the threshold the escape times say, since the offset's "
        "cost at the next order can stop the flow at a shallow minimum (with an output bias, "
        "`--biases output`, the offset is fitted first and the law is the centred one)." + offset
    )


# -- α = 0: how far to go, and when no order can drive ------------------------------------


def _leading_power(sigma: sp.Expr, piecewise: bool) -> int | None:
    """The lowest power k ≥ 1 of σ's (one-sided) expansion at 0 when σ(0) = 0, else None."""
    powers = []
    for side in (1, -1):
        try:
            branch = resolve_near_zero(sigma, side) if piecewise else sigma.xreplace({X: side * T})
            expansion = expand_side(branch, side, _MAX_LEADING, "σ")
        except ExpressionError:
            return None
        if expansion.coefficients[0] != 0 or not expansion.analytic:
            return None
        nonzero = [k for k, a in enumerate(expansion.coefficients) if a != 0]
        if nonzero:
            powers.append(nonzero[0])
    return min(powers) if powers else None


def _predicted_order(model: ReducedModel, piecewise: bool) -> int | None:
    """The y-order of F's leading term: ``e ← q·e + [bottleneck]`` through the layers."""
    q = _leading_power(model.sigma, piecewise)
    if q is None:
        return None
    e = 1
    for layer in range(model.bottleneck[0] + 1, model.depth):
        e = q * e + (1 if model.init[layer] is None else 0)
        if e > MAX_ORDER:
            return None
    return e


def _no_drive_proof(model: ReducedModel) -> str | None:
    """Why P(y) ≥ P(0) for every y, when that can be proven (σ even with σ(0) = 0)."""
    sigma = model.sigma
    if sp.simplify(sigma.xreplace({X: -X}) - sigma) != 0:
        return None
    if sigma.xreplace({X: sp.Integer(0)}) != 0:
        return None
    return (
        "σ is even, so F(Y; g) is even in g and uncorrelated with the odd teacher sg: "
        "P(y) = s²/2 + ½E[F²]; with σ(0) = 0 the bottleneck gives F = 0 at y = 0, so "
        "P(y) − P(0) = ½E[F(y)²] ≥ 0 for every y: no order of y drives the escape"
    )


def _coefficients_until_nonzero(model, base, extra_terms, dps, seconds, piecewise, centred=False):
    """c_m through the first order p where P(y) − P(0) is non-zero and the
    ``max(p − 2, 0) + extra_terms`` orders after it (orders up to :data:`MAX_ORDER`);
    ``centred``: of the centred loss (smooth σ, :func:`_smooth_coefficients`)."""
    if piecewise:
        compute = _piecewise_coefficients
    else:
        compute = functools.partial(_smooth_coefficients, centred=centred)
    orders = [base]
    predicted = _predicted_order(model, piecewise)
    if predicted is not None:
        # the linear term of P starts at y^e, the quadratic one at y^(2e)
        orders += [m for m in (predicted, 2 * predicted) if base < m <= MAX_ORDER]
    while orders[-1] < MAX_ORDER:
        orders.append(min(MAX_ORDER, 2 * orders[-1]))
    orders = sorted(set(orders))
    for order in orders:
        c, exact, quadratures = compute(model, order, dps, seconds)
        p = next((m for m in range(1, order + 1) if not _is_zero(c[m], exact, dps)), None)
        if p is None:
            continue
        wanted = min(MAX_ORDER, p + max(p - 2, 0) + extra_terms)
        try:
            escapes = bool(c[p] < 0) if exact else float(c[p]) < 0
        except TypeError:  # undecided (a symbolic width)
            escapes = None
        if wanted > order and escapes is not False:  # b_j are needed only when k > 0
            c, exact, quadratures = compute(model, wanted, dps, seconds)
            order = wanted
        return c, exact, quadratures, order, p
    return c, exact, quadratures, order, None


# -- the finite regime: τ★(0⁺) -----------------------------------------------------------


#: The numeric solver of τ★(0⁺) (registered by the numeric layer, which this layer may not
#: import): ``solver(model, kappa, dps) -> (tau, slope, fraction, note)``.
_LIMIT_SOLVER = None


def register_limit_solver(solver) -> None:
    """Register the function that computes τ★(0⁺) in the finite regime (numeric layer).

    Examples
    --------
    >>> import saddle_escape.numeric  # registers its solver on import
    >>> _LIMIT_SOLVER is not None
    True
    """
    global _LIMIT_SOLVER
    _LIMIT_SOLVER = solver


def asymptotics(
    model: ReducedModel,
    *,
    extra_terms: int = 2,
    dps: int = 30,
    time_limit_seconds: float | None = 60.0,
    throw: bool = True,
) -> Asymptotics:
    r"""Normal form and singular expansion of τ★(ε) for the balanced scalar reduction.

    Parameters
    ----------
    model : ReducedModel
        From :func:`saddle_escape.build_model` (or ``reduced_model``).
    extra_terms : int
        How many :math:`b_j` beyond those the singular part needs (0 to
        :data:`MAX_EXTRA_TERMS`).
    dps : int
        Digits for Gaussian expectations that are not polynomial in g (:data:`MIN_DPS`
        to :data:`MAX_DPS`), and of τ★(0⁺) in the finite regime.
    time_limit_seconds : float or None
        Limit on each symbolic series, enforced from any thread (a child process off the
        main thread, see :func:`~saddle_escape.symbolic.timeouts.run_limited`).
    throw : bool
        Raise :class:`ConvergenceError` (status ``no_escape``, carrying the result) when
        the flow does not escape (regime ``"none"``), or return the result with its
        status (``throw=False``: "no escape" is a valid answer of the theory, which
        ``measure_asymptotics`` and the command line report as such).

    Returns
    -------
    Asymptotics
        ``status`` is ``success``, or ``no_escape`` when the regime is ``"none"``.

    Raises
    ------
    TypeError
        When ``model`` is not a ReducedModel (e.g. an activation name), or ``dps``,
        ``extra_terms`` or ``time_limit_seconds`` has the wrong type.
    ValueError
        When ``dps`` or ``extra_terms`` is out of range, or ``time_limit_seconds`` is not
        positive.
    ConvergenceError
        When P(y) − P(0) vanishes through order :data:`MAX_ORDER` and no reason is known
        (status ``budget_exhausted``); with ``throw=True``, also when the flow does not
        escape (``exc.status`` is ``no_escape``, ``exc.result`` the :class:`Asymptotics`).
    TimeLimitError
        When a series takes longer than ``time_limit_seconds``.
    ExpressionError
        When a Gaussian expectation is not a moment and the width is a symbol (give a
        number), or σ has no one-sided Taylor expansion where a layer sits.

    Notes
    -----
    Piecewise σ (Max, Min, Abs, Piecewise, …). The bottleneck's pre-activation is
    ``y·h(g)`` with h the output of the layers before it, so every later pre-activation is
    small with a sign fixed by the sign of h (and by the signs of the scales: negative
    scales are supported, the sign pattern is followed layer by layer). On each sign region
    σ acts through its one-sided expansion, and P(y) is the sum over the pieces of the
    g-line cut at 0, at the zeros of h and wherever an O(1) layer before the bottleneck
    crosses a kink of σ (hardswish at ±3, hardtanh at ±1). The expectations are exact
    half-line moments when h is a polynomial in g (the bottleneck in the first layer; ReLU
    and leaky ReLU in front of it), else ``mpmath.quad`` on the piece at ``dps + 10``
    digits.

    α = 0 (σ'(0) = 0). When P(y) − P(0) vanishes to the order the singular part needs,
    the order is raised (to the order of F's leading term, ``e ← q·e + [bottleneck]``
    through the layers for σ ≈ a z^q, then doubling) up to :data:`MAX_ORDER`. An even σ
    with σ(0) = 0 is proven not to drive: F is even in g, so P(y) − P(0) = ½E[F²] ≥ 0
    (regime ``"none"``, the proof in ``notes``).

    References
    ----------
    conventions §3 (reduced dynamics, piecewise σ) and §4 (normal form, critical-depth
    law).

    Examples
    --------
    >>> from saddle_escape.symbolic.parsing import X
    >>> from saddle_escape.symbolic.reduction import reduced_model
    >>> a = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    >>> a.regime, a.exponent, a.k, a.prefactor
    ('power', 2, 1, 1/2)
    >>> asymptotics(reduced_model(sp.tanh(X), 3, 4, "1,eps,eps")).status.value
    'success'
    >>> relu = asymptotics(reduced_model(sp.Max(0, X), 4, 16, "1,eps,eps,eps"))
    >>> relu.regime, relu.exponent, relu.prefactor, relu.exact
    ('power', 1, 2, True)
    >>> a = asymptotics(reduced_model(X, 3, 4, "1,eps,1"))
    >>> a.regime, round(a.limit_value, 6)  # τ★(0⁺) = ln(2)/2: P(y) = (1 − y)²/2
    ('finite', 0.346574)
    """
    started = time.perf_counter()
    _check_arguments(model, extra_terms, dps)
    if model.biases:
        raise ValueError(
            "asymptotics expands the bias-free balanced reduction; with an output bias use "
            "saddle_escape.symbolic.bias.bias_law (measure_asymptotics chooses it)"
        )
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    time_limit_seconds = check_time_limit(time_limit_seconds, "time_limit_seconds")
    r = model.r
    base = max(2 * r - 2, r) + extra_terms
    piecewise = has_piecewise(model.sigma)
    notes = []
    proof = _no_drive_proof(model)
    c, exact, quadratures, order, p = _coefficients_until_nonzero(
        model, base, extra_terms, dps, time_limit_seconds, piecewise
    )
    if piecewise:
        notes.append(
            "σ is piecewise: P(y) is the sum of the one-sided expansions over the sign "
            "regions of the layers before the bottleneck (half-lines of g, cut at kinks)"
        )
    if order > base:
        notes.append(f"P(y) − P(0) vanishes through order {base}: the order was raised to {order}")
    if proof is not None:
        notes.append(proof)

    def finish(p, kappa, regime, b, terms, limits=(None, None, None)) -> Asymptotics:
        result = Asymptotics(
            model,
            p,
            regime,
            kappa,
            tuple(b),
            tuple(terms),
            exact,
            dps,
            tuple(c),
            tuple(notes),
            extra_terms=extra_terms,
            time_limit_seconds=time_limit_seconds,
            order=order,
            quadratures=quadratures,
            seconds=time.perf_counter() - started,
            limit=limits[0],
            limit_correction=limits[1],
            limit_fraction=limits[2],
        )
        if throw and not result.status.ok:
            raise ConvergenceError(
                f"{model.label}: {result.message}", status=result.status, result=result
            )
        return result

    if p is None:
        if proof is not None:
            return finish(0, sp.Integer(0), "none", (), ())
        raise ConvergenceError(
            f"P(y) − P(0) vanishes through order {order} (the budget MAX_ORDER = {MAX_ORDER}) "
            f"for {model.label}: no escape at any order computed, and no reason known",
            status=Status.BUDGET_EXHAUSTED,
        )
    if p != r:
        notes.append(
            f"the first non-zero term of P(y) − P(0) has order p = {p}, not r = {r}: the "
            f"critical-depth law uses p"
        )
    k_P = -c[p]
    kappa = sp.simplify(p * k_P / r) if exact else p * k_P / r
    try:
        negative = bool(kappa <= 0) if exact else float(kappa) <= 0
    except TypeError:
        raise ExpressionError(
            f"cannot decide the sign of k = {sp.sstr(kappa)} for {model.label}: give the "
            "width as a number"
        ) from None
    offset = _offset_note(model, piecewise, p, negative)
    if offset is not None:
        notes.append(offset)
    if negative:
        notes.append("k ≤ 0: the loss increases as the bottleneck grows; the flow does not escape")
        return finish(p, kappa, "none", (), ())
    J = max(p - 2, 0) + extra_terms
    b = []
    for j in range(1, J + 1):
        m = p + j
        value = (m * c[m]) / (p * c[p]) if m <= order else sp.Integer(0)
        b.append(sp.simplify(value) if exact else value)
    d = [sp.Integer(1)]
    for n in range(1, J + 1):
        d.append(-sum(b[j - 1] * d[n - j] for j in range(1, n + 1)))
    terms = []
    for j in range(0, max(p - 1, 0)):
        if j < p - 2:
            coefficient = d[j] / (kappa * (p - 2 - j))
            term = AsymptoticTerm(-(p - 2 - j), 0, coefficient)
        else:
            term = AsymptoticTerm(0, 1, d[j] / kappa)
        if not _is_zero(term.coefficient, exact, dps):
            terms.append(term)
    if exact:
        terms = [
            AsymptoticTerm(t.eps_power, t.log_power, sp.simplify(t.coefficient)) for t in terms
        ]
    limits = (None, None, None)
    if p == 1:
        if _LIMIT_SOLVER is None:
            tau, slope, fraction, note = (
                None,
                None,
                None,
                "τ★(0⁺) is computed by the numeric layer: import saddle_escape",
            )
        else:
            tau, slope, fraction, note = _LIMIT_SOLVER(model, kappa, dps)
        limits = (tau, slope, fraction)
        if note:
            notes.append(note)
    return finish(p, kappa, _REGIMES.get(p, "power"), b, terms, limits)


def expected_slope(r: int) -> int:
    """The slope of ln τ★ against ln ε that the critical-depth law predicts.

    r = 1: a finite limit; r = 2: ln(1/ε), whose log-log slope tends to 0; r ≥ 3: −(r − 2).

    Examples
    --------
    >>> [expected_slope(r) for r in (1, 2, 3, 5)]
    [0, 0, -1, -3]
    """
    return -(r - 2) if r >= 3 else 0


def critical_depth_law(r: int) -> str:
    """The critical-depth law for r bottleneck layers, in words.

    Examples
    --------
    >>> critical_depth_law(1), critical_depth_law(2), critical_depth_law(4)
    ('finite limit (slope 0)', 'ln(1/ε) (slope → 0)', 'ε^-2 (slope -2)')
    """
    if r == 1:
        return "finite limit (slope 0)"
    if r == 2:
        return "ln(1/ε) (slope → 0)"
    return f"ε^-{r - 2} (slope {-(r - 2)})"
