r"""Exact (one-sided) Taylor expansions of an activation and of :math:`\varphi_\sigma`.

For an activation :math:`\sigma(z) = \sum_k a_k z^k` near 0,
:math:`\varphi_\sigma(z) = z\sigma'(z) - \sigma(z) = \sum_k (k-1) a_k z^k`, so the
coefficients of :math:`\varphi_\sigma` follow from those of :math:`\sigma` without
ever simplifying :math:`\varphi_\sigma` itself (conventions §2).

Piecewise activations (``Piecewise``, ``Abs``, ``Max``, ``Min``, ``sign``,
``Heaviside``) are expanded on each side of 0: writing :math:`x = s\,t` with
:math:`t > 0` small and :math:`s = \pm 1`, every branch is decided by the sign of
the leading term of its condition, exactly.

This module is the one place where φ_σ (:func:`phi`), its coefficients
(:meth:`SideExpansion.phi_terms`) and "is σ piecewise?" (:func:`has_piecewise`,
:data:`PIECEWISE_HEADS`) are defined; other modules call them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError, TimeLimitError
from saddle_escape.symbolic.parsing import X
from sympy.functions.elementary.hyperbolic import HyperbolicFunction
from sympy.functions.elementary.trigonometric import TrigonometricFunction

__all__ = [
    "T",
    "PIECEWISE_HEADS",
    "SideExpansion",
    "resolve_near_zero",
    "has_piecewise",
    "numerically_nonzero",
    "expand_side",
    "phi",
    "is_zero_number",
    "tidy",
]

#: Distance from the origin on one side, ``x = side * T``.
T = sp.Symbol("t", positive=True)

#: The SymPy heads that make an expression piecewise (non-smooth at the switch points).
PIECEWISE_HEADS = (sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.sign, sp.Heaviside)
_PIECEWISE_HEADS = PIECEWISE_HEADS
#: SymPy's failures when an expression has no expansion at a point (internal types).
_NO_EXPANSION = (
    sp.PoleError,
    NotImplementedError,
    ValueError,
    TypeError,
    ZeroDivisionError,
    AttributeError,
)
_NOT_FINITE = (sp.nan, sp.zoo, sp.oo, sp.AccumBounds)
#: What SymPy and mpmath raise when a number is too large to evaluate.
_UNEVALUABLE = (ArithmeticError, MemoryError, ValueError, TypeError)


def has_piecewise(expr: sp.Basic) -> bool:
    """Whether ``expr`` contains a piecewise construct (Piecewise, Abs, Max, Min, sign, Heaviside).

    Examples
    --------
    >>> has_piecewise(sp.Max(0, X)), has_piecewise(sp.tanh(X))
    (True, False)
    """
    return expr.has(*PIECEWISE_HEADS)


def phi(sigma: sp.Expr, variable: sp.Symbol = X) -> sp.Expr:
    r"""Return :math:`\varphi_\sigma(x) = x\,\sigma'(x) - \sigma(x)`, unsimplified.

    Examples
    --------
    >>> phi(X**3)
    2*x**3
    """
    return variable * sp.diff(sigma, variable) - sigma


def is_zero_number(value: sp.Expr, *, dps: int = 60) -> bool | None:
    """Decide exactly whether a constant SymPy expression is zero.

    ``True``/``False`` are certain: a non-zero value is certified by a
    numerical evaluation whose magnitude exceeds its error bound, zero by
    simplification. ``None`` means numerically zero to ``dps`` digits but not
    proven (the caller says so in a warning).

    Raises
    ------
    ExpressionError
        When ``value`` is too large to evaluate (SymPy or mpmath overflows), so that
        nothing is decided silently.

    Examples
    --------
    >>> is_zero_number(sp.tanh(sp.log(2)) - sp.Rational(3, 5))
    True
    >>> is_zero_number(sp.sqrt(2) - 1)
    False
    """
    if value == 0:
        return True
    try:
        known = value.is_zero
        if known is not None:
            return bool(known)
        approx = value.evalf(dps, chop=False)
    except _UNEVALUABLE as exc:
        raise ExpressionError(
            f"cannot decide whether {sp.sstr(value, order='none')} is zero: it is too large "
            f"to evaluate ({type(exc).__name__})"
        ) from None
    if approx.is_number and approx != 0 and abs(approx) > sp.Float(10) ** (-(dps - 10)):
        return False
    candidate = sp.simplify(value.rewrite(sp.exp))
    if candidate == 0:
        return True
    return None


def tidy(value: sp.Expr) -> sp.Expr:
    """Put an exact constant into a readable canonical form (cheaply).

    ``tanh(log(2))`` becomes ``3/5``; irrational constants stay exact.

    Examples
    --------
    >>> tidy(1/sp.Integer(2) - sp.tanh(sp.log(2))**2/2)
    8/25
    """
    if value.is_Rational or not value.free_symbols and value.is_Atom:
        return value
    if value.has(HyperbolicFunction, TrigonometricFunction) and value.is_number:
        candidate = sp.expand(value.rewrite(sp.exp))
        if sp.count_ops(candidate) <= sp.count_ops(value):
            value = candidate
    return sp.expand(value)


# -- one-sided resolution -----------------------------------------------------


def _leading_sign(u: sp.Expr, what: str) -> int:
    """Sign of ``u(t)`` for small ``t > 0``: -1, 0 (``u`` vanishes identically) or 1."""
    if u == 0:
        return 0
    try:
        positive, negative = u.is_positive, u.is_negative
    except _UNEVALUABLE as exc:
        raise ExpressionError(
            f"cannot decide the sign of {sp.sstr(u, order='none')} in {what} near 0: it is "
            f"too large to evaluate ({type(exc).__name__})"
        ) from None
    if positive:
        return 1
    if negative:
        return -1
    if not u.has(T):
        if u.is_number and is_zero_number(u):
            return 0
        names = sorted(s.name for s in u.free_symbols)
        reason = f"it depends on parameters {names}; fix them" if names else "it is not real"
        raise ExpressionError(f"cannot decide the sign of {sp.sstr(u)} in {what} near 0: {reason}")
    shown = sp.sstr(u)
    try:
        lead = u.as_leading_term(T)
    except TimeLimitError:
        raise
    except _NO_EXPANSION as exc:
        raise ExpressionError(
            f"cannot decide the sign of {shown} in {what} near 0: it has no leading term "
            f"there (it oscillates, or is singular or flat; {exc})"
        ) from None
    if lead.has(*_NOT_FINITE):
        raise ExpressionError(
            f"cannot decide the sign of {shown} in {what} near 0: it has no limit there "
            "(it oscillates or is singular), so no branch holds on a whole side of 0"
        )
    if lead == 0 and sp.expand(u) == 0:
        return 0
    coefficient, rest = sp.factor_terms(lead).as_independent(T, as_Add=False)
    if rest != 1 and not rest.is_positive:
        raise ExpressionError(f"cannot decide the sign of {sp.sstr(u)} in {what} near 0")
    return _leading_sign(coefficient, what)


def _holds_near_zero(condition, what: str) -> bool:
    if condition in (sp.true, True):
        return True
    if condition in (sp.false, False):
        return False
    if isinstance(condition, sp.And):
        return all(_holds_near_zero(c, what) for c in condition.args)
    if isinstance(condition, sp.Or):
        return any(_holds_near_zero(c, what) for c in condition.args)
    if isinstance(condition, sp.Not):
        return not _holds_near_zero(condition.args[0], what)
    if isinstance(condition, sp.core.relational.Relational):
        sign = _leading_sign(condition.lhs - condition.rhs, what)
        return {
            sp.core.relational.StrictGreaterThan: sign > 0,
            sp.core.relational.GreaterThan: sign >= 0,
            sp.core.relational.StrictLessThan: sign < 0,
            sp.core.relational.LessThan: sign <= 0,
            sp.core.relational.Equality: sign == 0,
            sp.core.relational.Unequality: sign != 0,
        }[type(condition)]
    raise ExpressionError(f"cannot decide the condition {sp.sstr(condition)} in {what} near 0")


def _pick_extreme(args, what: str, largest: bool):
    best = args[0]
    for candidate in args[1:]:
        sign = _leading_sign(candidate - best, what)
        if (sign > 0) if largest else (sign < 0):
            best = candidate
    return best


def _resolve(expr: sp.Basic, what: str) -> sp.Basic:
    if not expr.args or not expr.has(*_PIECEWISE_HEADS):
        return expr
    if isinstance(expr, sp.Piecewise):
        for value, condition in expr.args:
            if condition.has(*_PIECEWISE_HEADS):
                condition = condition.func(*[_resolve(a, what) for a in condition.args])
            if _holds_near_zero(condition, what):
                return _resolve(value, what)
        raise ExpressionError(f"no branch of {what} applies near 0 (Piecewise has no default)")
    args = [_resolve(a, what) for a in expr.args]
    if isinstance(expr, sp.Abs):
        return args[0] * _leading_sign(args[0], what)
    if isinstance(expr, sp.sign):
        return sp.Integer(_leading_sign(args[0], what))
    if isinstance(expr, sp.Heaviside):
        sign = _leading_sign(args[0], what)
        return sp.Integer(1) if sign > 0 else sp.Integer(0) if sign < 0 else sp.Rational(1, 2)
    if isinstance(expr, sp.Max):
        return _pick_extreme(args, what, largest=True)
    if isinstance(expr, sp.Min):
        return _pick_extreme(args, what, largest=False)
    return expr.func(*args)


def resolve_near_zero(sigma: sp.Expr, side: int, variable: sp.Symbol = X) -> sp.Expr:
    """Replace every piecewise construct by the branch that holds on one side of 0.

    Parameters
    ----------
    sigma : sympy.Expr
        Expression in ``variable``.
    side : {1, -1}
        ``1`` for ``x → 0⁺``, ``-1`` for ``x → 0⁻``.

    Returns
    -------
    sympy.Expr
        An expression in :data:`T` (``x = side * t``, ``t > 0``) free of
        ``Piecewise``, ``Abs``, ``Max``, ``Min``, ``sign`` and ``Heaviside``.

    Raises
    ------
    ExpressionError
        When a branch cannot be decided (e.g. it depends on a parameter's sign).

    Examples
    --------
    >>> elu = sp.Piecewise((X, X > 0), (sp.exp(X) - 1, True))
    >>> resolve_near_zero(elu, -1)
    -1 + exp(-t)
    >>> resolve_near_zero(sp.Max(-1, sp.Min(1, X)), 1)
    t
    """
    if side not in (1, -1):
        raise ValueError(f"side must be 1 or -1, got {side!r}")
    what = "the activation's " + ("right side (x = t" if side > 0 else "left side (x = -t") + ")"
    return _resolve(sigma.xreplace({variable: side * T}), what)


@dataclass(frozen=True)
class SideExpansion:
    """Expansion of σ on one side of 0, in powers of ``x`` (``|x|`` for Puiseux terms).

    Attributes
    ----------
    side : int
        ``1`` (right, ``x > 0``) or ``-1`` (left).
    expression : sympy.Expr
        The branch of σ that holds on this side, in ``x``.
    order : int
        Integer powers ``0..order`` are exact in ``coefficients``.
    coefficients : tuple of sympy.Expr
        ``a_0 .. a_order``, coefficients of ``x**k``.
    fractional : tuple of (sympy.Rational, sympy.Expr)
        Non-integer powers ``p`` with coefficients of ``|x|**p`` (non-analytic σ).
    """

    side: int
    expression: sp.Expr
    order: int
    coefficients: tuple[sp.Expr, ...]
    fractional: tuple[tuple[sp.Rational, sp.Expr], ...] = ()

    @property
    def analytic(self) -> bool:
        """Whether the expansion has only integer powers (a Taylor series)."""
        return not self.fractional

    def phi_terms(self) -> tuple[tuple[sp.Rational, sp.Expr], ...]:
        r"""The terms of :math:`\varphi_\sigma` on this side, ``(order, coefficient)`` pairs.

        :math:`c_k = (k-1)\,a_k` for every power ``k`` (integer or fractional) except
        ``k = 1``, where :math:`c_1 = 0` always; in increasing order, zeros not removed.
        This is the one place where φ_σ's coefficients are computed from σ's.

        Examples
        --------
        >>> expand_side(sp.Rational(1, 2) + 3*T + 5*T**2 - T**3, 1, 3, "cubic").phi_terms()
        ((0, -1/2), (2, 5), (3, -2))
        """
        terms = [(sp.Integer(k), (k - 1) * a) for k, a in enumerate(self.coefficients) if k != 1]
        terms += [(p, (p - 1) * a) for p, a in self.fractional]
        return tuple(sorted(terms, key=lambda pair: pair[0]))


def _in_x(term: sp.Expr, side: int) -> str:
    """A term in ``t`` shown in ``x`` (``x = side * t``)."""
    return sp.sstr(term.xreplace({T: side * X}))


def expand_side(branch_t: sp.Expr, side: int, order: int, what: str) -> SideExpansion:
    """Expand a resolved branch (an expression in :data:`T`) to ``order`` in ``x``.

    Raises
    ------
    ExpressionError
        When the branch is singular at 0 (negative powers, ``log``), oscillates or has
        an essential singularity there (``sin(1/x)``, ``exp(1/x)``), or is not real on
        this side. Never SymPy's internal exception types.

    Examples
    --------
    >>> expand_side(sp.exp(T) - 1, 1, 3, "exp(x)-1").coefficients
    (0, 1, 1/2, 1/6)
    >>> expand_side(sp.sin(1/T), 1, 3, "sin(1/x)")
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: sin(1/x) has no expansion ... oscillates ...
    """
    side_name = "right" if side > 0 else "left"
    try:
        series = sp.expand(sp.series(branch_t, T, 0, order + 1).removeO())
    except TimeLimitError:
        raise
    except _NO_EXPANSION as exc:
        raise ExpressionError(
            f"{what} has no expansion in powers of x at 0 from the {side_name}: it is not "
            f"analytic there (it oscillates or has an essential singularity; {exc})"
        ) from None
    integer: dict[int, sp.Expr] = {}
    fractional: dict[sp.Rational, sp.Expr] = {}
    for term in sp.Add.make_args(series):
        if term == 0:
            continue
        coefficient, rest = term.as_independent(T, as_Add=False)
        if rest == 1:
            power = sp.Integer(0)
        elif rest == T:
            power = sp.Integer(1)
        elif isinstance(rest, sp.Pow) and rest.base == T and rest.exp.is_Rational:
            power = rest.exp
        else:
            raise ExpressionError(
                f"{what} has no expansion in powers of x at 0 from the {side_name}: it is "
                f"singular or not analytic there (its expansion contains "
                f"{sp.sstr(rest.xreplace({T: side * X}))})"
            )
        if power < 0:
            raise ExpressionError(
                f"{what} is singular at 0 from the {side_name} (term {_in_x(term, side)})"
            )
        if coefficient.has(*_NOT_FINITE):
            raise ExpressionError(
                f"{what} is not finite just {side_name} of 0 (term {_in_x(term, side)})"
            )
        if coefficient.has(sp.I) or coefficient.is_extended_real is False:
            why = "" if power.is_Integer else ": a fractional power of x, so not analytic at 0"
            raise ExpressionError(
                f"{what} is not real just {side_name} of 0 (term {_in_x(term, side)}{why})"
            )
        if power.is_Integer:
            integer[int(power)] = integer.get(int(power), 0) + coefficient * side ** int(power)
        elif power <= order:
            fractional[power] = fractional.get(power, 0) + coefficient
    coefficients = tuple(sp.expand(integer.get(k, sp.Integer(0))) for k in range(order + 1))
    return SideExpansion(
        side=side,
        expression=branch_t.xreplace({T: side * X}),
        order=order,
        coefficients=coefficients,
        fractional=tuple(sorted(fractional.items())),
    )


def numerically_nonzero(function_t: sp.Expr, *, dps: int = 40) -> bool:
    """Whether ``function_t`` (in :data:`T`) is visibly non-zero at small ``t > 0``.

    Used to catch flat, non-analytic terms such as ``exp(-1/x**2)`` whose Taylor
    series vanishes although the function does not.

    Examples
    --------
    >>> numerically_nonzero(sp.exp(-1/T**2))
    True
    >>> numerically_nonzero(T*sp.diff(sp.sin(T)**2 + sp.cos(T)**2, T))
    False
    """
    if function_t == 0:
        return False
    if function_t.free_symbols - {T}:
        return True  # parameter-dependent: not identically zero as written
    threshold = sp.Float(10, dps) ** (-(dps - 8))
    for point in (sp.Rational(1, 2), sp.Rational(3, 10), sp.Rational(1, 5), sp.Rational(1, 8)):
        try:
            value = function_t.evalf(dps, subs={T: point})
        except _UNEVALUABLE:
            return True  # too large to evaluate: not zero as far as can be told
        if not value.is_number or abs(value) > threshold:
            return True
    return False


def kinks(sigma: sp.Expr) -> tuple:
    """The real points where a piecewise σ may switch branch (sorted, exact SymPy numbers).

    Zeros of the differences of Max/Min arguments, of Abs/sign/Heaviside arguments and of
    Piecewise conditions (``lhs − rhs``); solution sets that are not finite are skipped.

    Parameters
    ----------
    sigma : sympy.Expr
        σ in the variable ``x``.

    Returns
    -------
    tuple of sympy.Expr

    Examples
    --------
    >>> from saddle_escape.symbolic.parsing import X
    >>> kinks(X * sp.Min(sp.Max(0, X + 3), 6) / 6)  # hardswish
    (-3, 3)
    >>> kinks(sp.Max(0, X) + sp.Min(0, sp.exp(X) - 1))  # celu
    (0,)
    """
    equations = []
    for node in sp.preorder_traversal(sigma):
        if isinstance(node, (sp.Max, sp.Min)):
            args = node.args
            equations += [a - b for i, a in enumerate(args) for b in args[i + 1 :]]
        elif isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            equations.append(node.args[0])
        elif isinstance(node, sp.Piecewise):
            for _, condition in node.args:
                equations += [r.lhs - r.rhs for r in condition.atoms(sp.core.relational.Relational)]
    points: set = set()
    for equation in equations:
        if X not in equation.free_symbols:
            continue
        solutions = sp.solveset(equation, X, sp.Reals)
        if isinstance(solutions, sp.FiniteSet):
            points.update(v for v in solutions if v.is_real and v.is_number)
    return tuple(sorted(points, key=lambda v: float(v)))
