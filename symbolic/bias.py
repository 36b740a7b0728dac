r"""Class D with an output bias: the centred loss and the slow manifold.

A bias-free network with :math:`\sigma(0) \ne 0` carries a constant offset
:math:`\sqrt N\,Y_L\,\mathbb E\sigma(z_{L-1})` in its output that the odd teacher cannot use;
its cost makes the loss rise as the bottleneck grows (``asymptotics`` reports p = 2 with
k ≤ 0 for ``1,eps,eps,eps``). A trainable output bias :math:`B_L` removes it. Writing the
output's mean :math:`m = B_L + \mathbb E F(Y)`, the reduced loss splits exactly as

.. math::

    \mathcal L(Y, B_L) = \tfrac12 m^2 + \mathcal L_c(Y),\qquad
    \mathcal L_c(Y) = \tfrac12\operatorname{Var}(F - s g),

so the flow first fits the mean, at rate :math:`\lambda = 1 + \|\nabla_Y \mathbb E F\|^2`,
then crawls along the slow manifold :math:`m = 0` with the metric it inherits,
:math:`(I + a a^\top)\,\dot Y = -\nabla\mathcal L_c`, :math:`a = \nabla_Y\mathbb E F`.

When the output layer is one of the r bottleneck layers, at small scales
:math:`a = \sqrt N\,\mu\,e_L` with :math:`\mu = \mathbb E\sigma(z_{L-1})` at the origin
(σ(0) when layer L − 1 is small too), so :math:`\lambda = 1 + N\mu^2`, and:

* the fast phase moves only :math:`(Y_L, B_L)`, along :math:`(a, 1)`: :math:`Y_L` drops from
  ε to ε/λ;
* with :math:`\mathcal L_c = \mathcal L_c(0) - k\prod_{b\in B} Y_b + \dots` (k is the
  coefficient of :math:`P_c(y) = P_c(0) - k y^r + \dots`, the centred loss on the balanced
  reduction), :math:`\lambda_b Y_b^2 - \lambda_c Y_c^2` is conserved (:math:`\lambda_b = 1`
  except :math:`\lambda_L = \lambda`), which leaves one quadrature:

.. math::

    \tau_\star = \frac{\sqrt\lambda}{k}\,\varepsilon^{-(r-2)}\int_1^\infty
    \frac{dw}{w^{r-2}\sqrt{w^2 - \beta^2}}\,(1 + o(1))
    = \frac{\sqrt\lambda\;{}_2F_1\!\big(\tfrac12, \tfrac{r-2}2; \tfrac r2; \beta^2\big)}
      {(r-2)\,k}\,\varepsilon^{-(r-2)}\,(1 + o(1)),\qquad \beta^2 = 1 - 1/\lambda,

for r ≥ 3 (:math:`\sqrt\lambda\arcsin\beta/(\beta k\varepsilon)` at r = 3): the slow
rate vanishes at the origin, so the fast-slow split is exact as ε → 0. At r = 2 it is not
(the slow rate stays k/√λ while the bias relaxes at rate λ): the origin is a hyperbolic
saddle and :math:`\tau_\star = \mu^{-1}\ln(1/\varepsilon) + O(1)` with μ its unstable rate
(:func:`saddle_rate`), which tends to k/√λ as k/λ → 0. With λ = 1 (σ(0) = 0) both reduce
to the critical-depth law of conventions §3. The law is checked against the
manifold flow with the bias as a coordinate (``tests/numeric/test_bias.py``).

Hidden-layer biases are simulated (:class:`~saddle_escape.numeric.systems.ManifoldSystem`)
but have no expansion here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import mpmath
import sympy as sp
from saddle_escape.symbolic.asymptotics import (
    MAX_ORDER,
    _check_arguments,
    _coefficients_until_nonzero,
    _expectation,
    _json_string,
)
from saddle_escape.symbolic.outcomes import ConvergenceError, Status
from saddle_escape.symbolic.reduction import ReducedModel

__all__ = ["BiasLaw", "bias_law", "saddle_rate", "slow_factor"]


@dataclass(frozen=True)
class BiasLaw:
    r"""The escape law of a model with a trainable output bias (module docstring).

    Attributes
    ----------
    model : ReducedModel
    p : int or None
        Order of the first non-zero term of the centred :math:`P_c(y) - P_c(0)`
        (``None``: none up to the order budget).
    k : sympy.Expr or None
        :math:`-c_p` of :math:`P_c`.
    lam : sympy.Expr or None
        :math:`\lambda = 1 + N\mu^2`, the slow manifold's metric on :math:`Y_L` (``None``
        when the output layer is not in the bottleneck).
    regime : str
        ``"power"``, ``"log"``, ``"finite"`` or ``"none"``.
    prefactor : sympy.Expr or None
        Power regime: of :math:`\varepsilon^{-(p-2)}`; log regime: of
        :math:`\ln(1/\varepsilon)`; ``None`` where the law does not give it (a note says why).
    exact : bool
    dps : int
    notes : tuple of str
    """

    model: ReducedModel
    p: int | None
    k: sp.Expr | None
    lam: sp.Expr | None
    regime: str
    prefactor: sp.Expr | None
    exact: bool
    dps: int
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        """``no_escape`` when the regime is ``"none"``, else ``success``."""
        return Status.NO_ESCAPE if self.regime == "none" else Status.SUCCESS

    @property
    def exponent(self) -> int | None:
        """``p − 2`` in the power regime, else ``None``."""
        return None if self.regime != "power" or self.p is None else self.p - 2

    @property
    def r(self) -> int:
        """The number of bottleneck layers."""
        return self.model.r

    def leading(self, eps) -> float:
        """The leading term at ``eps`` (float; power or log regime with a prefactor).

        Examples
        --------
        >>> from saddle_escape.classes.gate import build_model
        >>> law = bias_law(build_model("linear", 4, 16, "1,eps,eps,eps", biases="output"))
        >>> law.leading(0.01)  # 1/(k ε) with k = 1
        100.0
        """
        if self.prefactor is None or self.p is None:
            raise ValueError(f"no leading term in the {self.regime} regime here")
        if self.regime == "log":
            return float(self.prefactor) * math.log(1 / eps)
        return float(self.prefactor) * eps ** -(self.p - 2)

    def to_dict(self) -> dict:
        """JSON-ready (the exact values as strings with float twins)."""
        return {
            **self.model.to_dict(),
            "p": self.p,
            "status": self.status.value,
            "regime": self.regime,
            "exponent": self.exponent,
            "k": _json_string(self.k),
            "k_value": None if self.k is None else float(self.k),
            "lambda": _json_string(self.lam),
            "lambda_value": None if self.lam is None else float(self.lam),
            "prefactor": _json_string(self.prefactor) if self.regime == "power" else None,
            "prefactor_value": (
                float(self.prefactor)
                if self.prefactor is not None and self.regime == "power"
                else None
            ),
            "log_coefficient": _json_string(self.prefactor) if self.regime == "log" else None,
            "exact": self.exact,
            "digits": None if self.exact else self.dps,
            "notes": list(self.notes),
        }


def slow_factor(lam: sp.Expr, r: int) -> sp.Expr:
    r"""The factor the output bias puts on the leading term: :math:`\sqrt\lambda\,
    {}_2F_1(\tfrac12, \tfrac{r-2}2; \tfrac r2; 1 - 1/\lambda)` for r ≥ 3, :math:`\sqrt\lambda`
    for r = 2 (the slow-manifold limit of the log coefficient's inverse rate: the exact
    coefficient is ``1/saddle_rate(k, λ)``); exact where SymPy expands ₂F₁.

    Examples
    --------
    >>> slow_factor(sp.Integer(5), 3)  # √5·arcsin(β)/β with β = 2/√5
    5*asin(2*sqrt(5)/5)/2
    >>> slow_factor(sp.Integer(1), 4), slow_factor(sp.Integer(4), 2)
    (1, 2)
    """
    if r == 2:
        return sp.sqrt(lam)
    beta2 = 1 - 1 / lam
    series = sp.hyperexpand(
        sp.hyper([sp.Rational(1, 2), sp.Rational(r - 2, 2)], [sp.Rational(r, 2)], beta2)
    )
    return sp.simplify(sp.sqrt(lam) * series)


def saddle_rate(k: sp.Expr, lam: sp.Expr) -> sp.Expr:
    r"""The unstable rate μ of the saddle with an output bias at r = 2: the positive root of
    :math:`\mu^2(\mu + \lambda) = k^2(\mu + 1)`.

    At r = 2 the origin is a hyperbolic saddle of the flow in :math:`(Y_b, Y_L, B_L)`, whose
    linearization is :math:`\dot x = Mx`, :math:`M = \begin{pmatrix}0&k&0\\k&-a^2&-a\\
    0&-a&-1\end{pmatrix}`, :math:`a^2 = \lambda - 1`; its characteristic polynomial is the
    cubic above (one positive root, by Descartes' rule), and
    :math:`\tau_\star = \mu^{-1}\ln(1/\varepsilon) + O(1)`. The slow-manifold value
    :math:`k/\sqrt\lambda` is its limit as :math:`k/\lambda \to 0`: unlike r ≥ 3, where
    the slow rate vanishes at the origin, here the bias's finite lag shifts the
    coefficient (sigmoid ``1,1,eps,eps``: 154.3012 against 154.7001).

    Examples
    --------
    >>> saddle_rate(sp.Integer(1), sp.Integer(1))  # no bias coupling: μ = k
    1
    >>> mu = saddle_rate(sp.Rational(1, 64), sp.Integer(5))
    >>> round(float(mu), 7), round(float(sp.Rational(1, 64) / sp.sqrt(5)), 7)
    (0.0070072, 0.0069877)
    """
    mu = sp.Symbol("mu", positive=True)
    cubic = sp.Poly(mu**3 + lam * mu**2 - k**2 * mu - k**2, mu)
    if all(c.is_Rational for c in cubic.all_coeffs()):
        roots = [r for r in cubic.real_roots() if r.is_positive]
        return roots[0]
    prec = max(30, *(getattr(c, "_prec", 53) * 3 // 10 for c in cubic.all_coeffs()))
    values = mpmath.polyroots(
        [sp.N(c, prec) for c in cubic.all_coeffs()], maxsteps=200, extraprec=2 * prec
    )
    return sp.Float(max(mpmath.re(v) for v in values), prec)


def _output_mean_slope(model: ReducedModel, dps: int) -> tuple[sp.Expr, bool]:
    r""":math:`\mu = \mathbb E\sigma(z_{L-1})` at the origin of the bottleneck, so that
    :math:`\partial_{Y_L}\mathbb E F = \sqrt N\mu` there."""
    last = model.Y[-1]
    bias_free = replace(model, biases=())
    slope = sp.diff(bias_free.output(), last) / sp.sqrt(model.width)
    at_origin = slope.xreplace(bias_free.scalar_substitution(sp.Integer(0)))
    return _expectation(sp.expand(at_origin), dps)


def bias_law(
    model: ReducedModel,
    *,
    dps: int = 30,
    time_limit_seconds: float | None = 60.0,
    throw: bool = True,
) -> BiasLaw:
    r"""The escape law with a trainable output bias (module docstring): the centred normal
    form and the slow manifold's factor on the leading term.

    Parameters
    ----------
    model : ReducedModel
        With ``biases`` the output layer alone (``build_model(..., biases="output")``).
    dps : int
        Digits of the non-exact Gaussian expectations.
    time_limit_seconds : float or None
        Limit on each symbolic series.
    throw : bool
        Raise :class:`ConvergenceError` when the flow does not escape, or return the result.

    Returns
    -------
    BiasLaw

    Raises
    ------
    ValueError
        When the model has no bias or hidden-layer biases.

    Examples
    --------
    With σ(0) = 0 the bias stays at 0 and the law is the bias-free one (λ = 1):

    >>> from saddle_escape.classes.gate import build_model
    >>> law = bias_law(build_model("linear", 4, 16, "1,eps,eps,eps", biases="output"))
    >>> law.regime, law.p, law.lam, law.prefactor
    ('power', 3, 1, 1)

    Sigmoid at N = 16: λ = 1 + 16/4 = 5, and the bias-free flow does not escape at all.

    >>> law = bias_law(build_model("sigmoid", 4, 16, "1,eps,eps,eps", biases="output"))
    >>> law.regime, law.exponent, law.lam, round(float(law.prefactor), 4)
    ('power', 1, 5, 179.8701)
    """
    _check_arguments(model, 0, dps, "bias_law")
    last = model.depth - 1
    if model.biases != (last,):
        raise ValueError(
            f"the bias law takes a model whose only bias is the output layer's, got biases "
            f"{[b + 1 for b in model.biases]}: hidden-layer biases are simulated "
            "(escape_time, manifold system) but have no expansion"
        )
    bias_free = replace(model, biases=())
    c, exact, _, _, p = _coefficients_until_nonzero(
        bias_free, model.r, 0, dps, time_limit_seconds, False, centred=True
    )
    notes = [
        "an output bias B_L is trained with the weights: the output's mean is fitted at rate "
        "λ = 1 + ‖∇_Y E F‖², and the scales then follow the centred loss ½Var(F − s·g) on the "
        "slow manifold, with metric λ on Y_L (conventions §3 extended; module saddle_escape."
        "symbolic.bias)"
    ]
    if p is None:
        law = BiasLaw(
            model,
            None,
            None,
            None,
            "none",
            None,
            exact,
            dps,
            (
                *notes,
                f"P_c(y) − P_c(0) vanishes to order {MAX_ORDER}: no order of y drives the escape",
            ),
        )
        return _finish(law, throw)
    k = -c[p]
    if not exact:
        k = sp.Float(k, dps)
    if not (k > 0):
        law = BiasLaw(
            model,
            p,
            k,
            None,
            "none",
            None,
            exact,
            dps,
            (
                *notes,
                f"k = {sp.sstr(k)} ≤ 0 at order p = {p} of the centred loss: no escape",
            ),
        )
        return _finish(law, throw)
    regime = "finite" if p == 1 else "log" if p == 2 else "power"
    lam = prefactor = None
    if last not in model.bottleneck:
        notes.append(
            "the output layer is O(1): fitting the mean moves the O(1) layers by O(1), so the "
            "prefactor depends on where they settle; the order p still sets the regime"
        )
    elif p != model.r:
        notes.append(
            f"p = {p} ≠ r = {model.r}: the leading term of the centred loss is not the product "
            "of the bottleneck scales, so the slow-manifold prefactor does not apply"
        )
    elif regime == "finite":
        notes.append("finite regime: τ★(0⁺) with a bias is measured by escape, not expanded")
    else:
        mu, mu_exact = _output_mean_slope(model, dps)
        lam = (
            sp.simplify(1 + model.width * mu**2)
            if mu_exact
            else sp.Float(1 + model.width * mu**2, dps)
        )
        exact = exact and mu_exact
        if p == 2:
            prefactor = 1 / saddle_rate(k, lam)
        else:
            prefactor = slow_factor(lam, p) / ((p - 2) * k)
        prefactor = sp.simplify(prefactor) if exact else sp.Float(sp.N(prefactor, dps), dps)
    law = BiasLaw(model, p, k, lam, regime, prefactor, exact, dps, tuple(notes))
    return _finish(law, throw)


def _finish(law: BiasLaw, throw: bool) -> BiasLaw:
    if throw and not law.status.ok:
        raise ConvergenceError(f"{law.model.label}: {law.notes[-1]}", status=law.status, result=law)
    return law
