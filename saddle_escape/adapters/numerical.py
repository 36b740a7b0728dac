r"""Numerical classification of an activation given only as a callable.

An activation with no exact expression (a Python function, a module the adapters do not
know) is classified from its values: the Taylor coefficients :math:`a_k` of σ at 0, one
side at a time, give :math:`c_k = (k-1)a_k` of :math:`\varphi_\sigma = z\sigma' - \sigma`,
and the class follows from the first non-zero :math:`c_k` as in DESIGN §2.

Two methods, chosen by what the callable accepts:

* ``"mpmath"``: when σ takes and returns ``mpmath.mpf`` numbers, one-sided high-precision
  differentiation (:func:`mpmath.taylor` with ``direction=±1``) at ``dps`` and at
  ``2·dps`` digits; the difference of the two is each coefficient's error estimate.
* ``"float64-fit"``: otherwise (numpy arrays, torch float64 tensors, or float scalars),
  one-sided Chebyshev least-squares fits on ``[0, h]`` and ``[-h, 0]`` with five
  (``h``, degree) pairs (:data:`FIT_CONFIGS`); the median is reported and the largest
  deviation from it is each coefficient's error estimate.

A coefficient counts as non-zero only when it exceeds ten error estimates and the
method's floor (:data:`MPMATH_FLOOR` digits, :data:`FIT_FLOOR`); this is a numerical
decision, never a proof, and the result says so in its ``warnings`` and ``confidence``.
When every coefficient through :data:`SEARCH_ORDER` is zero, φ_σ itself is evaluated at
small points: a non-zero value there means a flat (non-analytic) term or a zero of higher
order, which is reported as no class rather than class A (DESIGN §2).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

from saddle_escape.classes.universality import UniversalityClass
from saddle_escape.symbolic.outcomes import ExpressionError, Status

__all__ = [
    "NumericalClassificationWarning",
    "NumericalTerm",
    "NumericalSide",
    "NumericalClassification",
    "classify_numerically",
    "SEARCH_ORDER",
    "FIT_SEARCH_ORDER",
    "MPMATH_FLOOR",
    "FIT_FLOOR",
    "FIT_CONFIGS",
]

#: Highest order of φ_σ searched for its first non-zero coefficient (mpmath method).
SEARCH_ORDER = 12
#: The same for the float64 method: beyond order 6 the fitted coefficients carry errors
#: above 1e-5 (measured on tanh: 5e-9 at order 3, 5e-6 at 6, 1e-3 at 8).
FIT_SEARCH_ORDER = 6
#: mpmath method: a coefficient below ``10**-(dps // 2)`` counts as zero.
MPMATH_FLOOR = 0.5
#: float64 method: a coefficient of φ_σ below this counts as zero (float64 rounding
#: amplified by the one-sided fit: measured ~1e-12 for c_2 and ~1e-9 for c_6 on tanh).
FIT_FLOOR = 1e-7
#: float64 method: the (h, degree) of the one-sided fits on ``[0, h]``; the value reported
#: is their median, the error their largest deviation from it.
FIT_CONFIGS = ((0.5, 14), (0.5, 12), (0.25, 14), (0.25, 10), (1.0, 16))
_FIT_POINTS = 200
#: A coefficient is resolved when its error estimate is below this share of its size.
_RESOLVED = {"mpmath": 1e-8, "float64-fit": 1e-3}
_SIGMAS = 10.0

NUMERICAL_NOTE = (
    "classified numerically from values of the callable, not from an exact expression: "
    "a coefficient below the stated precision is taken as zero, so the class is a numerical "
    "verdict, not a proof; give a SymPy expression (or a module the adapter knows) for an "
    "exact decision"
)


class NumericalClassificationWarning(UserWarning):
    """Issued whenever a class is decided numerically (from function values)."""


@dataclass(frozen=True)
class NumericalTerm:
    """One coefficient ``c_k`` of φ_σ (or ``a_k`` of σ) with its error estimate."""

    order: int
    value: float
    error: float

    def to_dict(self) -> dict:
        return {"order": self.order, "value": _json(self.value), "error": _json(self.error)}


@dataclass(frozen=True)
class NumericalSide:
    """The numerical verdict on one side of 0 (``"both"`` when the two sides agree)."""

    side: str
    sigma_terms: tuple[NumericalTerm, ...]
    phi_terms: tuple[NumericalTerm, ...]
    class_: UniversalityClass | None
    q: int | None
    leading_coefficient: float | None
    leading_error: float | None
    notes: tuple[str, ...] = ()
    constant: bool = False
    search_order: int = SEARCH_ORDER

    @property
    def alpha(self) -> float:
        return self.sigma_terms[1].value

    @property
    def sigma0(self) -> float:
        return self.sigma_terms[0].value

    def to_dict(self) -> dict:
        return {
            "side": self.side,
            "class": None if self.class_ is None else self.class_.value,
            "q": self.q,
            "leading_coefficient": _json(self.leading_coefficient),
            "leading_error": _json(self.leading_error),
            "alpha": _json(self.alpha),
            "sigma0": _json(self.sigma0),
            "sigma_series": [t.to_dict() for t in self.sigma_terms],
            "phi_series": [t.to_dict() for t in self.phi_terms],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class NumericalClassification:
    r"""Result of :func:`classify_numerically`: the class, with its error bars.

    Attributes
    ----------
    source : str
        The callable, as ``repr`` shows it.
    method : {"mpmath", "float64-fit"}
    precision : str
        How the coefficients were computed and how their errors were estimated.
    class_ : UniversalityClass or None
        ``None`` when the coefficients do not converge (σ not analytic at 0) or φ_σ is
        non-zero near 0 although its series vanishes through :data:`SEARCH_ORDER`.
    q : int or None
    leading_coefficient, leading_error : float or None
        :math:`h_\sigma = c_q` and its error estimate.
    leading_guess : str or None
        A closed form that matches ``h_σ`` to its digits (``mpmath.identify``; mpmath
        method only). A guess, not a proof.
    alpha, sigma0 : float
        σ'(0) (right side) and σ(0).
    phi_series : tuple of NumericalTerm
        c_0..c_order of the side that sets the class.
    sides : tuple of NumericalSide or None
        ``(left, right)`` when the one-sided expansions differ.
    confidence : str
        Why the class holds, in numbers: the margin of ``h_σ`` over its error, and the
        bound below which the lower coefficients were taken as zero.
    warnings : tuple of str
        Always includes :data:`NUMERICAL_NOTE`.
    order : int
    """

    source: str
    method: str
    precision: str
    class_: UniversalityClass | None
    q: int | None
    leading_coefficient: float | None
    leading_error: float | None
    leading_guess: str | None
    alpha: float
    sigma0: float
    phi_series: tuple[NumericalTerm, ...]
    sides: tuple[NumericalSide, NumericalSide] | None
    confidence: str
    warnings: tuple[str, ...]
    order: int

    @property
    def status(self) -> Status:
        """Always success: a callable that cannot be evaluated raises instead."""
        return Status.SUCCESS

    @property
    def numerical(self) -> bool:
        """``True``: this class was decided from function values (see ``warnings``)."""
        return True

    def to_dict(self) -> dict:
        """JSON-ready form (the fields of ``classify --json`` that apply, plus errors).

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     out = classify_numerically(lambda z: z * mpmath.tanh(z)).to_dict()
        >>> out["class"], out["q"], out["method"], out["numerical"]
        ('C', 2, 'mpmath', True)
        """
        return {
            "status": self.status.value,
            "numerical": True,
            "source": self.source,
            "method": self.method,
            "precision": self.precision,
            "class": None if self.class_ is None else self.class_.value,
            "q": self.q,
            "leading_coefficient": _json(self.leading_coefficient),
            "leading_error": _json(self.leading_error),
            "leading_guess": self.leading_guess,
            "alpha": _json(self.alpha),
            "sigma0": _json(self.sigma0),
            "phi_series": [t.to_dict() for t in self.phi_series],
            "sides": None if self.sides is None else {s.side: s.to_dict() for s in self.sides},
            "confidence": self.confidence,
            "order": self.order,
            "warnings": list(self.warnings),
        }


def _json(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# -- evaluating the callable ------------------------------------------------------------


def _mpmath_capable(fn: Callable, dps: int) -> bool:
    """Whether ``fn`` maps mpf to real mpf with more than float64 digits.

    A function that goes through float64 inside (``x * math.tanh(x)``) still returns
    mpf, but its slope over a step of ``10**-dps`` differs from its slope over ``1e-10``
    (the float64 part does not move); a true arbitrary-precision function has the same
    slope over both steps, to the accuracy of the coarser one.
    """
    try:
        with mpmath.workdps(2 * dps):
            fine_step = mpmath.mpf(10) ** (-dps)
            coarse_step = mpmath.mpf(10) ** (-10)
            for x in (mpmath.mpf(1) / 7, -mpmath.mpf(2) / 9):
                values = [fn(x), fn(x + fine_step), fn(x + coarse_step), fn(x - coarse_step)]
                for i, value in enumerate(values):
                    if isinstance(value, mpmath.mpc) and value.imag == 0:
                        values[i] = value = value.real
                    if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
                        return False
                fine = (values[1] - values[0]) / fine_step
                coarse = (values[2] - values[3]) / (2 * coarse_step)
                if abs(fine - coarse) > mpmath.mpf(10) ** -8 * (1 + abs(coarse)):
                    return False
            return True
    except Exception:  # any failure: the callable does not take mpf numbers
        return False


def _array_evaluator(fn: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """A float64 evaluator of ``fn`` on 1-D arrays: torch tensors, numpy arrays or scalars."""
    probe = np.array([-0.5, -0.125, 0.0, 0.25, 0.5])

    def with_numpy(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x), dtype=float)

    # numpy first (a numpy function given a tensor goes through torch's array protocol,
    # with deprecation warnings); torch when the callable refuses numpy arrays.
    attempts: list[Callable[[np.ndarray], np.ndarray]] = [with_numpy]
    torch = sys.modules.get("torch")
    if torch is not None:

        def with_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = fn(torch.as_tensor(x, dtype=torch.float64))
            return np.asarray(out.detach().cpu().numpy(), dtype=float)

        attempts.append(with_torch)

    def with_scalars(x: np.ndarray) -> np.ndarray:
        return np.array([float(fn(float(v))) for v in x])

    attempts.append(with_scalars)
    reasons = []
    for attempt in attempts:
        try:
            with np.errstate(all="ignore"):
                out = attempt(probe)
            if out.shape != probe.shape:
                reasons.append(f"{attempt.__name__}: output shape {out.shape} for {probe.shape}")
                continue
            with np.errstate(all="ignore"):
                halves = np.concatenate([attempt(probe[:2]), attempt(probe[2:])])
            if not np.allclose(halves, out, rtol=1e-12, atol=1e-300, equal_nan=True):
                # It takes arrays and mixes their entries (softmax, normalization): calling
                # it one number at a time would hide that.
                raise ExpressionError(
                    f"activation {fn!r} is not elementwise: its value at a point depends on "
                    "the other entries of the array (like softmax); an activation maps each "
                    "real input to one real output"
                )
            return attempt
        except ExpressionError:
            raise
        except Exception as exc:  # try the next way of calling it
            reasons.append(f"{attempt.__name__}: {type(exc).__name__}: {exc}")
    raise ExpressionError(
        f"activation {fn!r} cannot be evaluated elementwise on float64 numbers "
        f"({'; '.join(reasons)}); an activation maps each real input to one real output"
    )


# -- coefficients ---------------------------------------------------------------------


def _mpmath_coefficients(fn, sign: int, dps: int, order: int) -> tuple[list, list]:
    """One-sided Taylor coefficients a_k at ``dps`` digits, with errors from ``2·dps``."""
    runs = []
    for digits in (dps, 2 * dps):
        with mpmath.workdps(digits):
            coefficients = mpmath.taylor(fn, 0, order, direction=sign)
            runs.append([mpmath.mpf(c) for c in coefficients])
    with mpmath.workdps(2 * dps):
        values = [float(c) for c in runs[1]]
        errors = [float(abs(a - b)) for a, b in zip(runs[0], runs[1], strict=True)]
    return values, errors


def _fit_coefficients(evaluate, sign: int, order: int) -> tuple[list, list]:
    """One-sided Taylor coefficients from Chebyshev least squares on ``[0, h]`` (x = sign·t)."""
    fits = []
    for h, degree in FIT_CONFIGS:
        t = h * (1 - np.cos(np.pi * (np.arange(_FIT_POINTS) + 0.5) / _FIT_POINTS)) / 2
        with np.errstate(all="ignore"):
            y = evaluate(sign * t)
        if not np.all(np.isfinite(y)):
            raise ExpressionError(
                f"activation is not finite on [{min(0, sign * h)}, {max(0, sign * h)}]: "
                "an activation must be finite near 0"
            )
        series = np.polynomial.Chebyshev.fit(t, y, degree, domain=[0, h])
        fits.append(
            [float(series.deriv(k)(0.0)) / math.factorial(k) * sign**k for k in range(order + 1)]
        )
    table = np.array(fits)
    values = np.median(table, axis=0)
    errors = np.abs(table - values).max(axis=0)
    return [float(v) for v in values], [float(e) for e in errors]


# -- the decision ---------------------------------------------------------------------


def _decide(a, errors, floor, resolved, side_label):
    """First non-zero c_k: (class, q, h, error, phi terms, notes)."""
    phi_terms = []
    for k, (value, error) in enumerate(zip(a, errors, strict=True)):
        factor = k - 1
        phi_terms.append(
            NumericalTerm(k, -value if k == 0 else factor * value, abs(factor) * error)
        )
    notes = []
    where = "" if side_label == "both" else f" on the {side_label} side"
    for term in phi_terms:
        if term.order == 1:
            continue
        scale = max(1.0, abs(term.value))
        if not term.error <= resolved * scale:
            notes.append(
                f"the coefficient c_{term.order} of φ_σ{where} does not converge (estimates "
                f"differ by {term.error:.1e}): σ is not analytic at 0 there (a fractional "
                "power or a kink at 0?), or varies on a scale finer than the method resolves; "
                "no class is reported"
            )
            return None, None, None, None, phi_terms, notes
        if abs(term.value) > max(_SIGMAS * term.error, floor):
            q = term.order
            return (
                UniversalityClass.from_order(q),
                q,
                term.value,
                term.error,
                phi_terms,
                notes,
            )
    return UniversalityClass.A, None, None, None, phi_terms, notes


def _phi_at(fn_value, fn_derivative, points) -> list[float]:
    return [float(x * fn_derivative(x) - fn_value(x)) for x in points]


def _flat_check(method, fn, evaluate, dps, side_label, search):
    """For a side whose series vanishes: is φ_σ really zero at small points?"""
    signs = {"both": (1, -1), "right": (1,), "left": (-1,)}[side_label]
    points = [s * p for s in signs for p in (0.05, 0.1, 0.25)]
    if method == "mpmath":
        with mpmath.workdps(dps):
            values = _phi_at(fn, lambda x: mpmath.diff(fn, x), [mpmath.mpf(p) for p in points])
        tolerance = 10.0 ** (-(dps // 2))
    else:
        step = 1e-5

        def derivative(x):
            return (evaluate(np.array([x + step]))[0] - evaluate(np.array([x - step]))[0]) / (
                2 * step
            )

        values = _phi_at(lambda x: evaluate(np.array([x]))[0], derivative, points)
        tolerance = 1e-8  # central differences with step 1e-5: error ~1e-10 · σ'''
    worst = max(range(len(points)), key=lambda i: abs(values[i]))
    if abs(values[worst]) > tolerance:
        return (
            f"φ_σ has a vanishing series through order {search} (numerically) but "
            f"φ_σ({points[worst]:g}) = {values[worst]:.3e} ≠ 0: a flat, non-analytic term "
            f"(like exp(-1/x**2)) or a zero of order above {search}; this is none of "
            "the four classes"
        )
    return None


def _side(method, fn, evaluate, sign, dps, order, label) -> NumericalSide:
    search = max(order, SEARCH_ORDER if method == "mpmath" else FIT_SEARCH_ORDER)
    if method == "mpmath":
        a, errors = _mpmath_coefficients(fn, sign, dps, search)
        floor = 10.0 ** (-(dps * MPMATH_FLOOR))
    else:
        a, errors = _fit_coefficients(evaluate, sign, search)
        floor = FIT_FLOOR
    class_, q, lead, lead_error, phi_terms, notes = _decide(
        a, errors, floor, _RESOLVED[method], label
    )
    constant = all(
        abs(v) <= max(_SIGMAS * e, floor) for v, e in zip(a[1:], errors[1:], strict=True)
    )
    if class_ is UniversalityClass.A and not constant:
        flat = _flat_check(method, fn, evaluate, dps, label, search)
        if flat is not None:
            class_ = None
            notes.append(flat)
    return NumericalSide(
        side=label,
        sigma_terms=tuple(NumericalTerm(k, a[k], errors[k]) for k in range(order + 1)),
        phi_terms=tuple(phi_terms[: order + 1]),
        class_=class_,
        q=q,
        leading_coefficient=lead,
        leading_error=lead_error,
        notes=tuple(notes),
        constant=constant,
        search_order=search,
    )


def _same(left: NumericalSide, right: NumericalSide, floor: float) -> bool:
    for a, b in zip(left.sigma_terms, right.sigma_terms, strict=True):
        if abs(a.value - b.value) > _SIGMAS * (a.error + b.error) + floor:
            return False
    return left.class_ == right.class_ and left.q == right.q


def _dominant(left: NumericalSide, right: NumericalSide) -> NumericalSide:
    for side in (right, left):
        if side.class_ is None:
            return side
    if left.q is None:
        return right
    if right.q is None or left.q < right.q:
        return left
    return right


def _guess(value: float, error: float) -> str | None:
    """A short closed form equal to ``value`` to 14 digits (``mpmath.identify``), if any."""
    if value == 0 or not error < 1e-15 * abs(value):
        return None
    for constants in ([], ["pi"], ["log(2)"], ["e"]):
        try:
            found = mpmath.identify(value, constants, tol=1e-14)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if found is not None and len(found) <= 30:
            return found
    return None


def _describe(side: NumericalSide) -> str:
    if side.class_ is None:
        return "no class"
    if side.q is None:
        return "class A"
    return f"class {side.class_.value} (q={side.q}, h≈{side.leading_coefficient:.6g})"


def classify_numerically(
    fn: Callable, *, order: int = 6, dps: int = 30, source: str | None = None
) -> NumericalClassification:
    r"""Classify an activation given as a callable, from its values near 0.

    Parameters
    ----------
    fn : callable
        σ, elementwise. If it accepts and returns ``mpmath.mpf`` (with more than float64
        digits) the mpmath method is used; otherwise float64 values from a torch float64
        tensor (when torch is imported), a numpy array, or float scalars.
    order : int, optional
        Highest order of φ_σ listed (the search for q goes to :data:`SEARCH_ORDER`).
    dps : int, optional
        Digits of the mpmath method (errors from a second run at ``2·dps``).
    source : str, optional
        How to name the callable in the result (default ``repr(fn)``).

    Returns
    -------
    NumericalClassification
        Always with a warning that the class is numerical; a
        :class:`NumericalClassificationWarning` is also issued.

    Raises
    ------
    ExpressionError
        When ``fn`` cannot be evaluated elementwise, is not finite near 0, or is constant
        near 0.
    ValueError
        For a bad ``order`` or ``dps``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", NumericalClassificationWarning)
    ...     result = classify_numerically(lambda z: z * mpmath.tanh(mpmath.log(1 + mpmath.exp(z))))
    >>> result.class_.value, result.q, round(result.leading_coefficient, 12), result.leading_guess
    ('C', 2, 0.32, '(8/25)')
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", NumericalClassificationWarning)
    ...     relu = classify_numerically(lambda z: np.maximum(z, 0.0))
    >>> relu.method, relu.class_.value, relu.sides is None
    ('float64-fit', 'A', False)
    """
    if not callable(fn):
        raise ExpressionError(f"activation must be callable, got {type(fn).__name__} {fn!r}")
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= SEARCH_ORDER:
        raise ValueError(f"order must be an int in [0, {SEARCH_ORDER}], got {order!r}")
    if isinstance(dps, bool) or not isinstance(dps, int) or not 15 <= dps <= 200:
        raise ValueError(f"dps must be an int in [15, 200], got {dps!r}")
    label = source or repr(fn)
    if _mpmath_capable(fn, dps):
        method, evaluate = "mpmath", None
        precision = (
            f"one-sided mpmath.taylor at {dps} and {2 * dps} digits; error = their difference; "
            f"zero below 1e-{int(dps * MPMATH_FLOOR)}"
        )
    else:
        method, evaluate = "float64-fit", _array_evaluator(fn)
        precision = (
            f"one-sided Chebyshev least squares in float64 on [0, h] and [-h, 0] "
            f"({_FIT_POINTS} points; (h, degree) = {', '.join(map(str, FIT_CONFIGS))}); "
            f"value = median of the fits, error = largest deviation from it; "
            f"zero below {FIT_FLOOR:g}"
        )
    try:
        right = _side(method, fn, evaluate, 1, dps, order, "right")
        left = _side(method, fn, evaluate, -1, dps, order, "left")
    except ExpressionError:
        raise
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ExpressionError(
            f"activation {label}: cannot be differentiated at 0 ({type(exc).__name__}: {exc}); "
            "an activation must be defined and finite near 0"
        ) from None
    if left.constant and right.constant:
        raise ExpressionError(
            f"activation {label} is constant near 0 (numerically: σ = {right.sigma0:.6g} and "
            "every derivative computed on both sides is below its threshold): it does not "
            "depend on x there"
        )
    floor = 10.0 ** (-(dps * MPMATH_FLOOR)) if method == "mpmath" else FIT_FLOOR
    notes = [NUMERICAL_NOTE]
    if _same(left, right, floor):
        decisive = NumericalSide(
            "both",
            right.sigma_terms,
            right.phi_terms,
            right.class_,
            right.q,
            right.leading_coefficient,
            right.leading_error,
            right.notes,
        )
        sides = None
        notes += list(right.notes)
    else:
        sides = (left, right)
        decisive = _dominant(left, right)
        notes += list(left.notes) + list(right.notes)
        if left.class_ != right.class_ or left.q != right.q:
            notes.append(
                f"the two sides of 0 differ: left {_describe(left)}, right {_describe(right)}; "
                f"the class reported is that of the {decisive.side} side, which dominates near 0"
            )
    if abs(left.alpha) <= floor and abs(right.alpha) <= floor:
        notes.append(
            "alpha = σ'(0) = 0 (numerically): σ has no linear response at the origin; "
            "escape-time results that assume alpha ≠ 0 do not apply as stated"
        )
    confidence = _confidence(decisive, floor)
    guess = (
        _guess(decisive.leading_coefficient, decisive.leading_error or 0.0)
        if method == "mpmath" and decisive.leading_coefficient is not None
        else None
    )
    warnings.warn(f"{label}: {NUMERICAL_NOTE}", NumericalClassificationWarning, stacklevel=2)
    return NumericalClassification(
        source=label,
        method=method,
        precision=precision,
        class_=decisive.class_,
        q=decisive.q,
        leading_coefficient=decisive.leading_coefficient,
        leading_error=decisive.leading_error,
        leading_guess=guess,
        alpha=right.alpha,
        sigma0=right.sigma0,
        phi_series=decisive.phi_terms,
        sides=sides,
        confidence=confidence,
        warnings=tuple(dict.fromkeys(notes)),
        order=order,
    )


def _confidence(side: NumericalSide, floor: float) -> str:
    """The numbers behind the verdict of the side that sets the class."""
    lower = [t for t in side.phi_terms if t.order != 1 and (side.q is None or t.order < side.q)]
    bound = max([max(_SIGMAS * t.error, floor) for t in lower], default=floor)
    if side.class_ is None:
        return "no class: " + (side.notes[-1] if side.notes else "the coefficients do not converge")
    if side.q is None:
        return (
            f"class A: every c_k of φ_σ through order {side.search_order} is below its threshold "
            f"(largest threshold {bound:.1e}) and φ_σ vanishes at ±0.05, ±0.1, ±0.25"
        )
    lead, error = side.leading_coefficient or 0.0, side.leading_error or 0.0
    margin = abs(lead) / error if error > 0 else math.inf
    margin_text = "exactly reproduced by both estimates" if error == 0 else f"{margin:.1e} errors"
    lower_text = (
        f"c_0..c_{side.q - 1} were taken as zero: each is below {bound:.1e}"
        if side.q > 0
        else "σ(0) ≠ 0"
    )
    return (
        f"class {side.class_.value}: h_σ = c_{side.q} = {lead:.12g} ± {error:.1e} "
        f"(non-zero by {margin_text}); {lower_text}"
    )
