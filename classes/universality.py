r"""The four universality classes of activations, decided on exact Taylor coefficients.

Write :math:`\sigma(z) = \sum_k a_k z^k` near 0 and
:math:`\varphi_\sigma(z) = z\sigma'(z) - \sigma(z) = \sum_k c_k z^k` with
:math:`c_k = (k-1)a_k`. With :math:`q` the order of the first non-zero
:math:`c_k` and :math:`h_\sigma = c_q` (DESIGN §2):

* **A** — :math:`\varphi_\sigma \equiv 0` near 0: the imbalance is conserved;
* **B** — :math:`\sigma(0) = 0`, :math:`q` odd;
* **C** — :math:`\sigma(0) = 0`, :math:`q` even;
* **D** — :math:`c_0 = -\sigma(0) \ne 0` (:math:`q = 0`).

Beyond the table the classifier reports one-sided classes for piecewise σ,
conditions on symbolic parameters, :math:`\alpha = 0`, and non-analytic σ (a flat
or fractional-power :math:`\varphi_\sigma` is never reported as class A).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import sympy as sp
from saddle_escape.classes.registry import resolve_activation
from saddle_escape.symbolic.display import html_section, html_table, latex_math, latex_sum
from saddle_escape.symbolic.outcomes import ExpressionError, Status
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.taylor import (
    SideExpansion,
    T,
    expand_side,
    has_piecewise,
    is_zero_number,
    numerically_nonzero,
    phi,
    resolve_near_zero,
    tidy,
)
from saddle_escape.symbolic.timeouts import DEFAULT_TIME_LIMIT, check_time_limit, run_limited

__all__ = [
    "UniversalityClass",
    "PhiTerm",
    "Branch",
    "SideClassification",
    "Classification",
    "classify",
    "DEFAULT_ORDER",
    "SEARCH_ORDER",
]

#: Terms of φ_σ listed by default (orders 0..DEFAULT_ORDER).
DEFAULT_ORDER = 6
#: How far the search for the first non-zero coefficient goes before concluding.
SEARCH_ORDER = 32


class UniversalityClass(str, enum.Enum):
    """The four classes of DESIGN §2."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def description(self) -> str:
        """One line on what the class means."""
        return _DESCRIPTIONS[self]

    @classmethod
    def from_order(cls, q: int) -> UniversalityClass:
        """The class of a leading φ_σ order ``q`` (0 → D, odd → B, even → C).

        Examples
        --------
        >>> UniversalityClass.from_order(3).value
        'B'
        """
        if q == 0:
            return cls.D
        if q < 2:
            raise ValueError(f"φ_σ has no term of order q={q}: c_1 = 0 always")
        return cls.B if q % 2 else cls.C


_DESCRIPTIONS = {
    UniversalityClass.A: "φ_σ ≡ 0 near 0: layer imbalances are conserved (identity, ReLU, ...)",
    UniversalityClass.B: "σ(0) = 0, first non-zero φ_σ term of odd order q ≥ 3 (tanh, sin, erf)",
    UniversalityClass.C: "σ(0) = 0, first non-zero φ_σ term of even order q ≥ 2 (GELU, SiLU)",
    UniversalityClass.D: "σ(0) ≠ 0: φ_σ(0) = −σ(0) drives the imbalance (sigmoid, softplus)",
}


def _value(expr: sp.Expr | None) -> float | None:
    """``expr`` as a float64, or ``None`` when it has none (parameters, beyond 1.8e308, NaN).

    JSON output stays strict (no ``Infinity``/``NaN`` tokens); the exact value is always
    printed next to it.
    """
    if expr is None or expr.free_symbols:
        return None
    try:
        approx = sp.N(expr, 20)
        if not approx.is_number or approx.has(sp.nan, sp.zoo, sp.oo, sp.AccumBounds):
            return None
        value = float(sp.re(approx))
    except (ArithmeticError, MemoryError, ValueError, TypeError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class PhiTerm:
    """One term ``coefficient · x**order`` of φ_σ (``|x|**order`` when fractional)."""

    order: sp.Rational
    coefficient: sp.Expr

    def to_dict(self) -> dict:
        order = int(self.order) if self.order.is_Integer else str(self.order)
        return {
            "order": order,
            "coefficient": sp.sstr(self.coefficient),
            "value": _value(self.coefficient),
        }


@dataclass(frozen=True)
class Branch:
    """The class that holds under a condition on the parameters.

    ``class_`` is ``None`` when, under the condition, φ_σ's leading term is a fractional
    power (σ not analytic at 0: no class).
    """

    condition: sp.Basic
    class_: UniversalityClass | None
    q: int | None
    leading_coefficient: sp.Expr | None

    def to_dict(self) -> dict:
        """JSON-ready form.

        Examples
        --------
        >>> classify("x + a*Abs(x)**(5/2)").conditions[0].to_dict()["class"] is None
        True
        """
        return {
            "condition": sp.sstr(self.condition),
            "class": None if self.class_ is None else self.class_.value,
            "q": self.q,
            "leading_coefficient": None
            if self.leading_coefficient is None
            else sp.sstr(self.leading_coefficient),
        }


@dataclass(frozen=True)
class SideClassification:
    """The verdict on one side of 0 (or on both, for an analytic σ)."""

    side: str
    expression: sp.Expr
    class_: UniversalityClass | None
    q: int | None
    leading_coefficient: sp.Expr | None
    alpha: sp.Expr
    sigma0: sp.Expr
    phi_series: tuple[PhiTerm, ...]
    analytic: bool
    conditions: tuple[Branch, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "side": self.side,
            "expression": sp.sstr(self.expression),
            **_class_fields(self.class_, self.q, self.leading_coefficient, self.alpha),
            "phi_series": [t.to_dict() for t in self.phi_series],
            "conditions": [b.to_dict() for b in self.conditions],
        }


def _class_fields(class_, q, leading, alpha) -> dict:
    """The class, q, h_σ and α of a classification or a side, as JSON (contract v1)."""
    return {
        "class": None if class_ is None else class_.value,
        "q": q,
        "leading_coefficient": None if leading is None else sp.sstr(leading),
        "leading_coefficient_value": _value(leading),
        "alpha": sp.sstr(alpha),
        "alpha_value": _value(alpha),
    }


@dataclass(frozen=True)
class Classification:
    r"""Result of :func:`classify`.

    Attributes
    ----------
    expression : str
        σ as SymPy prints it.
    name : str or None
        Registry name, if σ was given by name.
    sigma : sympy.Expr
        σ in the variable :data:`saddle_escape.symbolic.parsing.X`.
    class_ : UniversalityClass or None
        ``None`` only for non-analytic σ whose φ_σ has no integer-order leading term.
    q : int or None
        Order of the first non-zero φ_σ coefficient (``None`` for class A, 0 for D).
    leading_coefficient : sympy.Expr or None
        :math:`h_\sigma = c_q`, exact.
    alpha, sigma0 : sympy.Expr
        :math:`\sigma'(0)` (the right derivative when the sides differ) and :math:`\sigma(0)`.
    phi_series : tuple of PhiTerm
        Non-zero terms of φ_σ through ``order`` (of the side that sets the class).
    smoothness : {"analytic", "piecewise", "non-analytic"}
    sides : tuple of SideClassification or None
        ``(left, right)`` when the two one-sided expansions differ.
    conditions : tuple of Branch
        Classes under conditions on symbolic parameters (empty without parameters).
    warnings : tuple of str
    order : int
    """

    expression: str
    name: str | None
    sigma: sp.Expr
    class_: UniversalityClass | None
    q: int | None
    leading_coefficient: sp.Expr | None
    alpha: sp.Expr
    sigma0: sp.Expr
    phi_series: tuple[PhiTerm, ...]
    smoothness: str
    sides: tuple[SideClassification, SideClassification] | None
    conditions: tuple[Branch, ...]
    warnings: tuple[str, ...]
    order: int
    parameters: tuple[sp.Symbol, ...] = field(default=())

    @property
    def status(self) -> Status:
        """Always success: input that cannot be classified raises instead (bad input,
        or :class:`~saddle_escape.symbolic.outcomes.TimeLimitError`)."""
        return Status.SUCCESS

    def to_dict(self) -> dict:
        """JSON-ready form (the ``classify --json`` contract)."""
        return {
            "status": self.status.value,
            "expression": self.expression,
            "name": self.name,
            **_class_fields(self.class_, self.q, self.leading_coefficient, self.alpha),
            "sigma0": sp.sstr(self.sigma0),
            "sigma0_value": _value(self.sigma0),
            "phi_series": [t.to_dict() for t in self.phi_series],
            "smoothness": self.smoothness,
            "sides": None if self.sides is None else {s.side: s.to_dict() for s in self.sides},
            "conditions": [b.to_dict() for b in self.conditions],
            "parameters": [p.name for p in self.parameters],
            "order": self.order,
            "warnings": list(self.warnings),
        }

    def phi_latex(self) -> str:
        r"""LaTeX of φ_σ's series through ``order`` (no ``$``).

        Examples
        --------
        >>> classify("tanh").phi_latex()
        '\\varphi_\\sigma(x) = - \\frac{2}{3}\\,x^{3} + \\frac{8}{15}\\,x^{5} + O(x^{7})'
        >>> classify("relu").phi_latex()
        '\\varphi_\\sigma(x) \\equiv 0 \\quad (x \\to 0^{\\pm})'
        """
        side = ""
        if self.sides is not None:
            decisive = [s for s in self.sides if s.phi_series == self.phi_series]
            if len(decisive) == 1:
                side = r" \quad (x \to 0^{%s})" % ("-" if decisive[0].side == "left" else "+")
            else:
                side = r" \quad (x \to 0^{\pm})"
        if self.class_ is UniversalityClass.A and not self.phi_series:
            return r"\varphi_\sigma(x) \equiv 0" + side
        series = latex_sum(
            ((t.coefficient, _power_latex(t.order)) for t in self.phi_series), empty=""
        )
        remainder = f"O(x^{{{self.order + 1}}})"
        series = f"{series} + {remainder}" if series else remainder
        return rf"\varphi_\sigma(x) = {series}" + side

    def _repr_latex_(self) -> str:
        r"""σ, its class, q, h_σ, α, σ(0) and φ_σ's series, as inline LaTeX (Jupyter).

        Examples
        --------
        >>> print(classify("tanh")._repr_latex_())
        $\sigma(x) = \tanh{\left(x \right)}:\ \text{class B},\ q = 3,\ h_\sigma = - \frac{2}{3},\
        \alpha = 1,\ \sigma(0) = 0;\quad \varphi_\sigma(x) = - \frac{2}{3}\,x^{3}
        + \frac{8}{15}\,x^{5} + O(x^{7})$
        """
        parts = [
            r"\text{class %s}" % ("none" if self.class_ is None else self.class_.value),
        ]
        if self.q is not None:
            parts.append(f"q = {self.q}")
        if self.leading_coefficient is not None:
            parts.append(rf"h_\sigma = {sp.latex(self.leading_coefficient)}")
        parts.append(rf"\alpha = {sp.latex(self.alpha)}")
        parts.append(rf"\sigma(0) = {sp.latex(self.sigma0)}")
        return latex_math(
            rf"\sigma(x) = {sp.latex(self.sigma)}:\ "
            + r",\ ".join(parts)
            + rf";\quad {self.phi_latex()}"
        )

    def _repr_html_(self) -> str:
        """A table of the class, q, h_σ, α, σ(0) and φ_σ's series (Jupyter).

        Examples
        --------
        >>> page = classify("tanh")._repr_html_()
        >>> page.startswith("<div>"), "<td>tanh(x)</td><td>B</td><td>3</td><td>-2/3</td>" in page
        (True, True)
        """
        label = self.name or self.expression
        verdict = "no class" if self.class_ is None else f"class {self.class_.value}"
        tables = [
            html_table(
                ["σ(x)", "class", "q", "h_σ", "α", "σ(0)", "φ_σ(x)", "smoothness"],
                [
                    [
                        self.expression,
                        self.class_,
                        self.q,
                        self.leading_coefficient,
                        self.alpha,
                        self.sigma0,
                        _phi_text(self.phi_series, self.order, self.class_),
                        self.smoothness,
                    ]
                ],
                caption=None if self.class_ is None else self.class_.description,
            )
        ]
        if self.sides is not None:
            tables.append(
                html_table(
                    ["side", "σ", "class", "q", "h_σ", "σ'(0)", "φ_σ"],
                    [
                        [
                            s.side,
                            s.expression,
                            s.class_,
                            s.q,
                            s.leading_coefficient,
                            s.alpha,
                            _phi_text(s.phi_series, self.order, s.class_),
                        ]
                        for s in self.sides
                    ],
                    caption="the two sides of 0",
                )
            )
        if self.conditions:
            tables.append(
                html_table(
                    ["condition", "class", "q", "h_σ"],
                    [[b.condition, b.class_, b.q, b.leading_coefficient] for b in self.conditions],
                    caption="classes under conditions on the parameters",
                )
            )
        return html_section(f"{label}: {verdict}", *tables, notes=self.warnings)


def _power_latex(order: sp.Rational) -> str:
    """``x^{k}`` for an integer order, ``|x|^{p/q}`` for a fractional one."""
    if not order.is_Integer:
        return f"|x|^{{{order.p}/{order.q}}}"
    return {0: "", 1: "x"}.get(int(order), f"x^{{{int(order)}}}")


def _phi_text(series: tuple[PhiTerm, ...], order: int, class_) -> str:
    """φ_σ's series as plain text (``0`` for class A)."""
    if class_ is UniversalityClass.A and not series:
        return "0"
    terms = [
        sp.sstr(t.coefficient * (X**t.order if t.order.is_Integer else abs(X) ** t.order))
        for t in series
    ]
    return " + ".join([*terms, f"O(x**{order + 1})"]).replace("+ -", "- ")


# -- the decision ---------------------------------------------------------------


def _nonzero_condition(coefficient: sp.Expr) -> sp.Basic:
    """``coefficient ≠ 0`` in its simplest form, or ``sp.true`` when it never vanishes.

    Numeric factors, powers and factors that are provably non-zero for real parameters
    (``exp(a)``, ``a**2 + 1``) are dropped.
    """
    try:
        _, factors = sp.factor_list(coefficient)
    except (sp.PolynomialError, NotImplementedError):
        factors = [(coefficient, 1)]
    core = sp.Mul(*[base for base, _ in factors if base.free_symbols and base.is_zero is not False])
    if core == 1:
        return sp.true
    return sp.Ne(core, 0)


def _first_nonzero(expansion, notes):
    """Walk φ_σ's terms: returns ((order, coefficient) of the generic case, branches)."""
    substitution: dict[sp.Symbol, sp.Expr] = {}
    assumed: list[sp.Basic] = []
    branches: list[Branch] = []
    first = None
    for order, raw in expansion.phi_terms():
        coefficient = tidy(sp.expand(raw.xreplace(substitution)))
        if coefficient == 0:
            continue
        if not coefficient.free_symbols:
            zero = is_zero_number(coefficient)
            if zero is None:
                notes.append(
                    f"the φ_σ coefficient of order {order} ({sp.sstr(coefficient)}) is zero to 60 "
                    "digits but not proven zero; it was taken as zero"
                )
            if zero in (True, None):
                continue
            if first is None:
                first = (order, coefficient)
            if branches:
                branches.append(_branch(sp.And(*assumed), order, coefficient))
            return first, branches
        # Depends on parameters: record the generic branch, then assume it vanishes.
        if first is None:
            first = (order, coefficient)
        condition = _nonzero_condition(coefficient)
        if condition == sp.true:  # never zero for real parameters: the search ends here
            if assumed:
                branches.append(_branch(sp.And(*assumed), order, coefficient))
            return first, branches
        try:
            solutions = sp.solve(coefficient, sorted(coefficient.free_symbols, key=str), dict=True)
        except (NotImplementedError, ValueError, TypeError):
            solutions = None
        if solutions == []:  # no real parameters make it vanish
            if assumed:
                branches.append(_branch(sp.And(*assumed), order, coefficient))
            return first, branches
        branches.append(_branch(sp.And(*assumed, condition), order, coefficient))
        if solutions is None or len(solutions) != 1:
            notes.append(
                f"the φ_σ coefficient {sp.sstr(coefficient)} vanishes on a set that is not a "
                "single substitution; the cases where it vanishes are not analysed further"
            )
            return first, branches
        assumed.extend(sp.Eq(k, v) for k, v in solutions[0].items())
        substitution = {k: v.xreplace(solutions[0]) for k, v in substitution.items()}
        substitution.update(solutions[0])
    if branches:
        branches.append(_branch(sp.And(*assumed), None, None))
    return first, branches


def _branch(condition, order, coefficient) -> Branch:
    if order is None:
        return Branch(condition, UniversalityClass.A, None, None)
    if not order.is_Integer:
        return Branch(condition, None, None, coefficient)
    return Branch(condition, UniversalityClass.from_order(int(order)), int(order), coefficient)


def _classify_side(sigma, side, order, name, notes) -> SideClassification:
    """Classify one side (``side=0``: analytic σ, both sides at once).

    Raises ExpressionError for σ that is not an activation on this side, including σ
    constant near 0 (``side=0``) and coefficients too large to evaluate.
    """
    try:
        result = _classify_one_side(sigma, side, order, name, notes)
    except (OverflowError, MemoryError) as exc:
        raise ExpressionError(
            f"activation {name!r}: a coefficient of its expansion at 0 is too large to "
            f"evaluate ({type(exc).__name__}); use smaller constants"
        ) from None
    if side == 0 and _is_constant(result):
        raise ExpressionError(
            f"activation {name!r} is constant near 0 (σ = {sp.sstr(result.sigma0)}): it does "
            "not depend on x there; write a σ that varies near 0"
        )
    return result


def _is_constant(side: SideClassification) -> bool:
    """Whether σ is constant on this side of 0: exactly through its series, then numerically."""
    expression = side.expression
    if X not in expression.free_symbols:
        return True
    if not side.analytic or not _is_zero_constant(side.alpha):
        return False
    if any(term.order != 0 for term in side.phi_series):
        return False
    sign = -1 if side.side == "left" else 1
    return not numerically_nonzero(sp.diff(expression.xreplace({X: sign * T}), T))


def _infinite_slope(expansion: SideExpansion, sign: int) -> sp.Expr | None:
    """``±oo`` when a fractional power below 1 leads (``cbrt``: σ'(0) is infinite)."""
    for power, coefficient in expansion.fractional:
        if power < 1 and not coefficient.free_symbols and not _is_zero_constant(coefficient):
            return sp.oo * sp.sign(coefficient) * sign
    return None


def _classify_one_side(sigma, side, order, name, notes) -> SideClassification:
    sign = 1 if side >= 0 else -1
    what = f"activation {name!r}"
    branch = (
        resolve_near_zero(sigma, sign) if has_piecewise(sigma) else sigma.xreplace({X: sign * T})
    )
    search = order
    limit = SEARCH_ORDER
    if branch != 0 and branch.is_polynomial(
        T
    ):  # a polynomial is searched to its degree, however high
        limit = max(limit, int(sp.degree(branch, T)))
    while True:
        expansion = expand_side(branch, sign, search, what)
        side_notes: list[str] = []
        first, branches = _first_nonzero(expansion, side_notes)
        if first is not None or search >= limit:
            break
        search = limit  # nothing through `order`: look further before concluding
    notes.extend(side_notes)
    label = {0: "both", 1: "right", -1: "left"}[side]
    analytic = expansion.analytic
    phi_t = phi(branch, T)
    if first is None:
        if sp.expand(phi_t) != 0 and numerically_nonzero(phi_t):
            notes.append(
                f"φ_σ has a vanishing Taylor series through order {search} "
                f"{'' if side == 0 else f'on the {label} side '}but is not zero near 0: a flat, "
                "non-analytic term (like exp(-1/x**2)) or a zero of higher order; this is none "
                "of the four classes"
            )
            class_, q, lead, analytic = None, None, None, False
        else:
            class_, q, lead = UniversalityClass.A, None, None
    elif not first[0].is_Integer:
        notes.append(
            f"φ_σ ≈ {sp.sstr(first[1])}·|x|**{first[0]} near 0"
            f"{'' if side == 0 else f' on the {label} side'}: a fractional power, so σ is not "
            "analytic at 0 and none of the four classes applies"
        )
        class_, q, lead = None, None, first[1]
    else:
        q = int(first[0])
        class_, lead = UniversalityClass.from_order(q), first[1]
    if not analytic and class_ is not None:
        notes.append(
            "σ has non-analytic terms of order "
            f"{', '.join(str(p) for p, _ in expansion.fractional)} beyond the leading one; "
            "the class is read off the leading term"
        )
    shown = [
        PhiTerm(k, tidy(c))
        for k, c in expansion.phi_terms()
        if k <= order and tidy(c) != 0 and not _is_zero_constant(tidy(c))
    ]
    alpha = _infinite_slope(expansion, sign)
    if alpha is not None:
        notes.append(
            f"σ'(0{'' if side == 0 else '⁺' if side > 0 else '⁻'}) is infinite: σ has a "
            "fractional power below 1 at 0 (like cbrt(x)); alpha is reported as ±oo"
        )
    return SideClassification(
        side=label,
        expression=expansion.expression,
        class_=class_,
        q=q,
        leading_coefficient=lead,
        alpha=tidy(expansion.coefficients[1]) if alpha is None else alpha,
        sigma0=tidy(expansion.coefficients[0]),
        phi_series=tuple(shown),
        analytic=analytic,
        conditions=tuple(branches),
    )


def _is_zero_constant(value: sp.Expr) -> bool:
    """``True`` only when ``value`` is a constant proven (or numerically) zero."""
    return not value.free_symbols and is_zero_number(value) is not False


def _differ(a: sp.Expr | None, b: sp.Expr | None) -> bool:
    """Whether two exact coefficients are known to differ."""
    if a is None or b is None:
        return a is not b
    difference = sp.expand(a - b)
    return difference != 0 and (
        bool(difference.free_symbols) or is_zero_number(difference) is False
    )


def _resolve_input(activation) -> tuple[sp.Expr, str | None, tuple[sp.Symbol, ...]]:
    sigma, name = resolve_activation(activation)
    return sigma, name, tuple(sorted(sigma.free_symbols - {X}, key=str))


def classify(
    activation,
    *,
    order: int = DEFAULT_ORDER,
    time_limit_seconds: float | None = DEFAULT_TIME_LIMIT,
) -> Classification:
    r"""Classify an activation into the universality classes A–D.

    The decision uses exact Taylor coefficients :math:`a_k` of σ at 0 (one-sided for
    piecewise σ) and :math:`c_k = (k-1)a_k` of
    :math:`\varphi_\sigma(z) = z\sigma'(z) - \sigma(z)`; no floating-point
    threshold is involved.

    Parameters
    ----------
    activation : str or sympy.Expr
        A registry name (``"gelu"``), an expression string in ``x`` (``"x + a*x**2"``),
        or a SymPy expression in :data:`saddle_escape.symbolic.parsing.X`.
    order : int, optional
        Highest order of φ_σ listed in ``phi_series`` (the search for ``q`` goes on to
        :data:`SEARCH_ORDER` regardless).
    time_limit_seconds : float or None, optional
        Wall-clock limit on the symbolic work; ``None``, ``math.inf`` or more than
        :data:`~saddle_escape.symbolic.timeouts.MAX_TIME_LIMIT` (1e6 s) means no limit.
        In the main thread the work is interrupted with ``SIGALRM``; from a worker thread
        (or when other code uses the interval timer) it runs in a child process, killed at
        the deadline, which adds about 2 s to the first such call (see
        :func:`~saddle_escape.symbolic.timeouts.run_limited`).

    Returns
    -------
    Classification

    Raises
    ------
    ExpressionError
        For unparsable or refused input, and for σ that is not an activation at 0:
        undefined, singular, discontinuous or non-real there.
    TimeLimitError
        When the symbolic work exceeds the limit.
    TypeError, ValueError
        When ``order`` or ``time_limit_seconds`` is not valid.

    References
    ----------
    Rawal & DeWeese, arXiv:2605.01288, the universality classes; DESIGN §2.

    Examples
    --------
    >>> result = classify("tanh")
    >>> result.class_.value, result.q, result.leading_coefficient
    ('B', 3, -2/3)
    >>> classify("x*(1 + erf(x/sqrt(2)))/2").leading_coefficient
    sqrt(2)/(2*sqrt(pi))
    >>> [b.to_dict()["condition"] for b in classify("x + a*x**2").conditions]
    ['Ne(a, 0)', 'Eq(a, 0)']
    """
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= SEARCH_ORDER:
        raise ValueError(f"order must be an int in [0, {SEARCH_ORDER}], got {order!r}")
    seconds = check_time_limit(time_limit_seconds, "time_limit_seconds")
    return run_limited(
        _classify, activation, order, seconds=seconds, what=f"classifying {activation!r}"
    )


def _classify(activation, order: int) -> Classification:
    """The work of :func:`classify`, at module level so that a child process can run it."""
    sigma, name, parameters = _resolve_input(activation)
    label = name or sp.sstr(sigma)
    if X not in sigma.free_symbols:
        raise ExpressionError(
            f"activation {label!r} does not depend on x; write it in x, or use a "
            f"registry name (see 'saddle-escape classes')"
        )
    notes: list[str] = []
    if has_piecewise(sigma):
        left = _classify_side(sigma, -1, order, label, notes)
        right = _classify_side(sigma, 1, order, label, notes)
        _check_continuity(sigma, left, right, label)
        same = sp.expand(left.expression - right.expression) == 0
    else:
        right = _classify_side(sigma, 0, order, label, notes)
        if not right.analytic:
            # A fractional power (e.g. sqrt(x)) may be non-real on the other side.
            _classify_side(sigma, -1, order, label, [])
        left, same = right, True
    return _combine(sigma, name, parameters, left, right, same, order, notes)


def _undefined_at_zero(sigma: sp.Expr) -> bool:
    """Whether some Piecewise in σ has no condition that holds at x = 0 itself."""
    for piecewise in sigma.atoms(sp.Piecewise):
        try:
            held = [c.xreplace({X: sp.Integer(0)}) for _, c in piecewise.args]
        except (TypeError, ValueError):  # a condition undefined at 0 (decided elsewhere)
            continue
        if all(h == sp.false for h in held):
            return True
    return False


def _check_continuity(sigma, left, right, label):
    if _undefined_at_zero(sigma):
        raise ExpressionError(
            f"activation {label!r} is not defined at 0: no Piecewise condition holds at x = 0; "
            "add a default branch (value, True)"
        )
    if _differ(left.sigma0, right.sigma0):
        raise ExpressionError(
            f"activation {label!r} is discontinuous at 0: σ(0⁻) = {sp.sstr(left.sigma0)} but "
            f"σ(0⁺) = {sp.sstr(right.sigma0)}; an activation must be continuous at 0"
        )
    try:
        at_zero = sigma.xreplace({X: sp.Integer(0)})
    except (ValueError, TypeError, ZeroDivisionError):  # pragma: no cover - defensive
        return
    if at_zero.is_number and at_zero.is_finite and is_zero_number(at_zero - right.sigma0) is False:
        raise ExpressionError(
            f"activation {label!r} has σ(0) = {sp.sstr(at_zero)} but its limits at 0 are "
            f"{sp.sstr(right.sigma0)}: it is discontinuous at 0"
        )
    if _is_constant(left) and _is_constant(right):
        raise ExpressionError(
            f"activation {label!r} is constant near 0 (σ = {sp.sstr(right.sigma0)} on both "
            "sides): it does not depend on x there; write a σ that varies near 0"
        )


def _combine(sigma, name, parameters, left, right, same, order, notes) -> Classification:
    warnings = list(dict.fromkeys(notes))
    if same:
        decisive, sides = right, None
        smoothness = "analytic" if right.analytic else "non-analytic"
    else:
        sides = (left, right)
        smoothness = "piecewise" if left.analytic and right.analytic else "non-analytic"
        decisive = _dominant(left, right)
        if left.class_ != right.class_ or left.q != right.q:
            warnings.append(
                f"the two sides of 0 differ: left {_describe(left)}, right {_describe(right)}; "
                f"the class reported is that of the {decisive.side} side, which dominates near 0"
            )
        elif left.class_ is not None and _differ(
            left.leading_coefficient, right.leading_coefficient
        ):
            warnings.append(
                f"h_σ differs between the sides ({sp.sstr(left.leading_coefficient)} left, "
                f"{sp.sstr(right.leading_coefficient)} right); the right side's is reported"
            )
        if _differ_alpha(left.alpha, right.alpha):
            warnings.append(
                f"σ'(0) does not exist: σ'(0⁻) = {sp.sstr(left.alpha)}, σ'(0⁺) = "
                f"{sp.sstr(right.alpha)}; alpha reports the right derivative"
            )
    if left.alpha == 0 and right.alpha == 0:
        warnings.append(
            "alpha = σ'(0) = 0: σ has no linear response at the origin, so a network at small "
            "scale is not close to a linear one; escape-time results that assume alpha ≠ 0 "
            "do not apply as stated"
        )
    else:
        for side, value in (("σ'(0⁻)", left.alpha), ("σ'(0⁺)", right.alpha)):
            if value.free_symbols and left.alpha != right.alpha:
                warnings.append(
                    f"{side} = {sp.sstr(value)} depends on parameters; a value 0 removes the "
                    "linear response on that side of the origin"
                )
        if left.alpha == right.alpha and left.alpha.free_symbols:
            warnings.append(
                f"alpha = {sp.sstr(right.alpha)} depends on parameters; alpha = 0 removes "
                "the linear response at the origin"
            )
    return Classification(
        expression=sp.sstr(sigma),
        name=name,
        sigma=sigma,
        class_=decisive.class_,
        q=decisive.q,
        leading_coefficient=decisive.leading_coefficient,
        alpha=right.alpha,
        sigma0=right.sigma0,
        phi_series=decisive.phi_series,
        smoothness=smoothness,
        sides=sides,
        conditions=decisive.conditions,
        warnings=tuple(warnings),
        order=order,
        parameters=parameters,
    )


def _differ_alpha(left: sp.Expr, right: sp.Expr) -> bool:
    """Whether the one-sided derivatives differ (``oo`` equals ``oo``)."""
    if left == right:
        return False
    if left.is_infinite or right.is_infinite:
        return True
    return sp.expand(left - right) != 0


def _dominant(left: SideClassification, right: SideClassification) -> SideClassification:
    """The side whose φ_σ is larger near 0: unclassifiable first, then lowest q, right on ties."""
    for side in (right, left):
        if side.class_ is None:
            return side
    if left.q is None:
        return right
    if right.q is None or left.q < right.q:
        return left
    return right


def _describe(side: SideClassification) -> str:
    if side.class_ is None:
        return "no class (non-analytic)"
    if side.q is None:
        return "class A"
    return f"class {side.class_.value} (q={side.q}, h={sp.sstr(side.leading_coefficient)})"
