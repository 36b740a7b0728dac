r"""Activations and losses compiled from SymPy expressions for numpy and mpmath.

One SymPy expression, several backends (PyDy's pattern): σ, σ' and φ_σ come from the
same expression through :func:`sympy.lambdify` with ``cse=True``. ``lambdify`` only
ever sees trees built by :mod:`saddle_escape.symbolic.parsing` (or the registry), never a
user string,
and every free parameter is substituted by a number first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

import mpmath
import numpy as np
import sympy as sp
from saddle_escape.classes.gate import admit_activation
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, parse_expression
from saddle_escape.symbolic.taylor import phi as taylor_phi

__all__ = [
    "CompiledActivation",
    "compile_activation",
    "Loss",
    "LOSSES",
    "get_loss",
    "F",
    "Y",
]

#: Output and target symbols of a per-sample loss expression.
F = sp.Symbol("f", real=True)
Y = sp.Symbol("y", real=True)


def compile_expressions(symbols, exprs, backend: str) -> Callable:
    """``lambdify`` a SymPy expression (or a list of them) for ``"numpy"`` or ``"mpmath"``.

    Only for trees the toolkit built itself (never a user string). Max/Min/Abs/sign/
    Heaviside become Piecewise first, which both printers handle elementwise.
    """

    def prepare(expr):
        # Derivatives of kinks (Heaviside', sign', Abs'') are DiracDelta terms: zero
        # everywhere but at the kink, where no quadrature node and no sample sits.
        if expr.has(sp.DiracDelta):
            expr = expr.replace(sp.DiracDelta, lambda *args: sp.Integer(0))
        if expr.has(sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside):
            return expr.rewrite(sp.Piecewise)
        return expr

    exprs = [prepare(e) for e in exprs] if isinstance(exprs, (list, tuple)) else prepare(exprs)
    modules = [{"select": _select}, "scipy", "numpy"] if backend == "numpy" else "mpmath"
    return sp.lambdify(symbols, exprs, modules=modules, cse=True)


def _select(condlist, choicelist, default=np.nan):
    """``numpy.select`` that accepts scalar conditions and choices (a Piecewise branch whose
    condition is the constant ``True``, or whose value does not depend on the input)."""
    # The first true condition wins: fold from the last branch with ``where``, which
    # broadcasts by itself (4× faster than broadcasting every branch for ``select``).
    shape = np.broadcast_shapes(*(np.shape(v) for v in (*condlist, *choicelist)))
    out = np.full(shape, default, dtype=float)
    for condition, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        out = np.where(np.asarray(condition, dtype=bool), choice, out)
    return out


def _lambdify(expr: sp.Expr, symbols, backend: str) -> Callable:
    return compile_expressions(symbols, expr, backend)


@dataclass(frozen=True)
class CompiledActivation:
    r"""σ, σ' and φ_σ for numpy arrays and for mpmath numbers.

    Attributes
    ----------
    expression : sympy.Expr
        σ in :data:`saddle_escape.symbolic.parsing.X`, parameters substituted.
    name : str or None
        Registry name, if any.
    """

    expression: sp.Expr
    name: str | None
    derivative: sp.Expr = field(repr=False)
    phi_expression: sp.Expr = field(repr=False)
    _numpy: tuple[Callable, Callable, Callable] = field(repr=False, compare=False)
    _mpmath: tuple[Callable, Callable, Callable] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.name or sp.sstr(self.expression)

    def _apply(self, which: int, z):
        if isinstance(z, np.ndarray) and z.dtype == object:
            f = self._mpmath[which]
            return np.vectorize(lambda v: mpmath.mpf(f(v)), otypes=[object])(z)
        if isinstance(z, mpmath.mpf):
            return mpmath.mpf(self._mpmath[which](z))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._numpy[which](np.asarray(z, dtype=float))
        return np.broadcast_to(out, np.shape(z)).astype(float) if np.ndim(out) == 0 else out

    def sigma(self, z):
        """σ(z), elementwise; float arrays use numpy, object arrays of ``mpf`` use mpmath."""
        return self._apply(0, z)

    def dsigma(self, z):
        """σ'(z), elementwise."""
        return self._apply(1, z)

    def phi(self, z):
        """φ_σ(z) = z σ'(z) − σ(z), elementwise."""
        return self._apply(2, z)


def compile_activation(activation, *, parameters: Mapping[str, float] | None = None):
    """Compile an activation (registry name, expression string or SymPy expression).

    Parameters
    ----------
    activation : str or sympy.Expr or CompiledActivation
    parameters : mapping, optional
        Values of the expression's free parameters, e.g. ``{"a": 0.1}``.

    Returns
    -------
    CompiledActivation

    Raises
    ------
    ExpressionError
        For unparsable input, or free parameters without values.

    Examples
    --------
    >>> act = compile_activation("tanh")
    >>> float(act.phi(np.array([0.1]))[0])  # ≈ -2/3 · 0.1³
    -0.00066...
    >>> compile_activation("x + a*x**2", parameters={"a": 0.5}).sigma(np.array([2.0]))
    array([4.])
    """
    if isinstance(activation, CompiledActivation):
        return activation
    # The one gate: refuses exactly what classify refuses, substitutes parameter values.
    admitted = admit_activation(activation, parameters=parameters)
    expr, name = admitted.sigma, admitted.name
    derivative = sp.diff(expr, X)
    phi = taylor_phi(expr)
    return CompiledActivation(
        expression=expr,
        name=name,
        derivative=derivative,
        phi_expression=phi,
        _numpy=(
            _lambdify(expr, [X], "numpy"),
            _lambdify(derivative, [X], "numpy"),
            _lambdify(phi, [X], "numpy"),
        ),
        _mpmath=(
            _lambdify(expr, [X], "mpmath"),
            _lambdify(derivative, [X], "mpmath"),
            _lambdify(phi, [X], "mpmath"),
        ),
    )


# -- losses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    r"""A per-sample loss :math:`\ell(f, y)` and its gradient in the output ``f``.

    Elementwise losses (an expression in ``f`` and ``y``) are summed over output
    units. ``cross_entropy`` is the softmax cross-entropy for several outputs and the
    binary one (``softplus(f) − y f``) for a single output.

    Attributes
    ----------
    name : str
    expression : sympy.Expr or None
        The elementwise expression in :data:`F` and :data:`Y`; ``None`` for the softmax
        cross-entropy.
    """

    name: str
    expression: sp.Expr | None
    _numpy: tuple[Callable, Callable] | None = field(default=None, repr=False, compare=False)
    _mpmath: tuple[Callable, Callable] | None = field(default=None, repr=False, compare=False)

    def _elementwise(self, which: int, f, y):
        # Only for elementwise losses (expression set), which carry both compiled pairs.
        if isinstance(f, np.ndarray) and f.dtype == object:
            func = cast("tuple[Callable, Callable]", self._mpmath)[which]
            return np.vectorize(lambda a, b: mpmath.mpf(func(a, b)), otypes=[object])(f, y)
        numpy_func = cast("tuple[Callable, Callable]", self._numpy)[which]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = numpy_func(np.asarray(f, float), np.asarray(y, float))
        return np.broadcast_to(out, np.broadcast(f, y).shape).astype(float)

    def value(self, f, y):
        """Per-sample loss ``(P,)`` for outputs ``f`` and targets ``y`` of shape ``(P, m)``."""
        if self.expression is None:
            return _softmax_ce(f, y)[0]
        return self._elementwise(0, f, y).sum(axis=1)

    def gradient(self, f, y):
        r""":math:`\partial\ell/\partial f`, shape ``(P, m)``."""
        if self.expression is None:
            return _softmax_ce(f, y)[1]
        return self._elementwise(1, f, y)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "expression": None if self.expression is None else sp.sstr(self.expression),
        }


def _softmax_ce(f, y):
    """Softmax cross-entropy for m > 1 outputs, binary (sigmoid) for m = 1."""
    if f.dtype == object:
        exp = np.vectorize(mpmath.exp, otypes=[object])
        log = np.vectorize(mpmath.log, otypes=[object])
    else:
        exp, log = np.exp, np.log
    if f.shape[1] == 1:
        # ℓ = softplus(f) − y f, written stably for large |f|.
        m = np.maximum(f, 0 * f)
        value = (m + log(exp(-m) + exp(f - m)) - y * f).sum(axis=1)
        return value, 1 / (1 + exp(-f)) - y
    shift = f.max(axis=1, keepdims=True)
    e = exp(f - shift)
    total = e.sum(axis=1, keepdims=True)
    mass = y.sum(axis=1, keepdims=True)
    value = (mass * (shift + log(total)) - (y * f).sum(axis=1, keepdims=True))[:, 0]
    return value, mass * e / total - y


def _expression_loss(name: str, expr: sp.Expr) -> Loss:
    derivative = sp.diff(expr, F)
    return Loss(
        name=name,
        expression=expr,
        _numpy=(_lambdify(expr, [F, Y], "numpy"), _lambdify(derivative, [F, Y], "numpy")),
        _mpmath=(_lambdify(expr, [F, Y], "mpmath"), _lambdify(derivative, [F, Y], "mpmath")),
    )


_BUILTIN = {
    "squared": (F - Y) ** 2 / 2,
    "logistic": sp.log(1 + sp.exp(-Y * F)),
    "huber": sp.sqrt(1 + (F - Y) ** 2) - 1,  # pseudo-Huber with δ = 1: smooth everywhere
}

#: Built-in loss names (``get_loss`` also takes an expression in ``f`` and ``y``).
LOSSES = ("squared", "logistic", "cross_entropy", "huber")


@functools.lru_cache(maxsize=64)
def _cached_loss(text: str) -> Loss:
    key = text.strip().lower().replace("-", "_")
    if key == "cross_entropy":
        return Loss("cross_entropy", None)
    if key in _BUILTIN:
        return _expression_loss(key, _BUILTIN[key])
    parsed = parse_expression(text, {"f": F, "y": Y})
    if parsed.parameters:
        names = [p.name for p in parsed.parameters]
        raise ExpressionError(
            f"loss {parsed.text!r} uses unknown names {names}; a loss is an expression in f "
            f"(the output) and y (the target), or one of {', '.join(LOSSES)}"
        )
    if F not in parsed.expr.free_symbols:
        raise ExpressionError(f"loss {parsed.text!r} does not depend on the output f")
    return _expression_loss(parsed.text, parsed.expr)


def get_loss(loss) -> Loss:
    """A built-in loss by name, or a per-output loss from an expression in ``f`` and ``y``.

    Parameters
    ----------
    loss : str or Loss
        ``"squared"`` (½(f − y)², the default of conventions §1), ``"logistic"``
        (log(1 + e^{−yf}), targets ±1), ``"cross_entropy"``, ``"huber"`` (pseudo-Huber,
        √(1 + (f − y)²) − 1), or an expression such as ``"log(cosh(f - y))"``.

    Raises
    ------
    ExpressionError
        For an unparsable expression, or one with other free names.

    Examples
    --------
    >>> loss = get_loss("log(cosh(f - y))")
    >>> loss.gradient(np.array([[0.0]]), np.array([[0.0]]))
    array([[0.]])
    """
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise ExpressionError(f"loss must be a name or an expression string, got {loss!r}")
    return _cached_loss(loss)
