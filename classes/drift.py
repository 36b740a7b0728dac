r"""What the class of σ predicts for the imbalance drift near the origin.

Scale every weight of a network by λ → 0 (σ(0) = 0, α = σ'(0) ≠ 0). Then
:math:`z_l = O(\lambda^l)`, :math:`\varphi_\sigma(z_l) \approx h_\sigma z_l^q`, and
:math:`W_{l+1}^\top\nabla_{z_{l+1}}\ell = O(\lambda^{L-l})`, so the identity's right-hand
side, the drift :math:`d\Delta_l/dt`, is :math:`O(\lambda^{(L-l) + lq})`. For class D
(σ(0) ≠ 0) every :math:`z_l = O(\lambda)` and :math:`\varphi_\sigma(z_l) \to -\sigma(0)`,
so the drift is :math:`O(\lambda^{L-l})`. Class A has no drift at all.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import cast

import sympy as sp
from saddle_escape.classes.universality import Classification, UniversalityClass, classify
from saddle_escape.symbolic.identity import concrete_rhs
from saddle_escape.symbolic.parsing import X

__all__ = ["DriftLaw", "drift_law"]


@dataclass(frozen=True)
class DriftLaw:
    """φ_σ for a concrete σ, its leading term, and the drift's scaling near the origin.

    Attributes
    ----------
    classification : Classification
    phi : sympy.Expr
        :math:`\\varphi_\\sigma(x)`.
    leading_term : sympy.Expr or None
        :math:`h_\\sigma x^q` (``None`` for class A or unclassifiable σ).
    """

    classification: Classification
    phi: sp.Expr
    leading_term: sp.Expr | None

    def drift_exponent(self, layer: int, depth: int) -> int | None:
        """Power p with drift ∝ λ^p when all weights are scaled by λ → 0.

        ``None`` for class A (no drift), unclassifiable σ, or α = 0 (the scaling
        argument needs a linear response at the origin).

        Parameters
        ----------
        layer : int
            The layer pair ``(layer, layer + 1)``, ``1 ≤ layer < depth``.
        depth : int
            Number of weight layers L (at least 2).

        Returns
        -------
        int or None

        Raises
        ------
        ValueError
            When ``layer`` or ``depth`` is not an int (1.5, True, "2") or out of range.

        Examples
        --------
        >>> drift_law("tanh").drift_exponent(1, 3)
        5
        >>> drift_law("sigmoid").drift_exponent(1, 3)
        2
        """
        for name, value in (("depth", depth), ("layer", layer)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(
                    f"{name} must be an int, got {value!r} ({type(value).__name__}): layers "
                    "are counted 1, 2, …"
                )
        if depth < 2:
            raise ValueError(
                f"depth must be at least 2 (an imbalance needs two layers), got {depth}"
            )
        if not 1 <= layer < depth:
            raise ValueError(f"layer must be in 1..{depth - 1} for depth {depth}, got {layer}")
        layer, depth = int(layer), int(depth)
        c = self.classification
        if c.class_ in (None, UniversalityClass.A) or c.alpha == 0 or c.alpha.free_symbols:
            return None
        if c.class_ is UniversalityClass.D:
            return depth - layer
        return (depth - layer) + layer * cast(int, c.q)  # classes B and C have an order q

    def to_dict(self) -> dict:
        c = self.classification
        return {
            "activation": c.name or c.expression,
            "class": None if c.class_ is None else c.class_.value,
            "phi": sp.sstr(self.phi),
            "leading_term": None if self.leading_term is None else sp.sstr(self.leading_term),
        }


def drift_law(activation) -> DriftLaw:
    r"""The identity's right-hand side for a concrete σ and its behaviour near 0.

    Parameters
    ----------
    activation : str or sympy.Expr
        Registry name or expression in ``x``.

    Returns
    -------
    DriftLaw

    Examples
    --------
    >>> law = drift_law("gelu")
    >>> law.leading_term
    sqrt(2)*x**2/(2*sqrt(pi))
    """
    c = classify(activation)
    leading = None
    if c.q is not None and c.leading_coefficient is not None:
        leading = c.leading_coefficient * X**c.q
    return DriftLaw(classification=c, phi=concrete_rhs(c.sigma, X), leading_term=leading)
