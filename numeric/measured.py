r"""The asymptotics of τ★(ε) stated by the normal form and measured by numbers, in one result.

:func:`measure_asymptotics` computes the normal form and the singular expansion
(:func:`saddle_escape.symbolic.asymptotics.asymptotics`), τ★ on a geometric sequence of ε
(:func:`saddle_escape.numeric.escape.escape_time`), and the exponent and prefactor of
those numbers by Richardson extrapolation
(:func:`saddle_escape.numeric.extrapolation.extrapolate`). The command line, the figures,
the tests and the benchmarks all call it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import SupportsFloat, cast

import numpy as np
from saddle_escape.numeric.escape import EscapeResult, build_model, escape_time
from saddle_escape.numeric.extrapolation import Extrapolation, extrapolate
from saddle_escape.symbolic.asymptotics import Asymptotics, asymptotics
from saddle_escape.symbolic.outcomes import ConvergenceError, Status
from saddle_escape.symbolic.reduction import ReducedModel

__all__ = ["DEFAULT_EPS", "MeasuredAsymptotics", "measure_asymptotics"]

#: Twelve values of ε from 0.1 to 1e-4, geometric (decimal strings, exact at any precision).
DEFAULT_EPS = tuple(f"{v:.6g}" for v in np.geomspace(0.1, 1e-4, 12))


@dataclass(frozen=True)
class MeasuredAsymptotics:
    """Theory and numbers for one reduced model.

    Attributes
    ----------
    theory : Asymptotics
        Normal form, regime, singular terms.
    escape : EscapeResult or None
        τ★ at each ε (``None`` when the theory says the flow does not escape).
    fit : Extrapolation or None
        Exponent and prefactor from the numbers (at least 4 escaped points).
    status : Status
        ``success``, or why the numbers do not confirm the theory (``no_escape`` …).
    notes : tuple of str
    """

    theory: Asymptotics
    escape: EscapeResult | None
    fit: Extrapolation | None
    status: Status
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready: the theory's fields plus the measured ones."""
        points = [] if self.escape is None else self.escape.to_dict()["points"]
        fit = self.fit
        power_fit = fit if self.theory.regime == "power" else None
        return {
            **self.theory.to_dict(),
            "status": self.status.value,
            "system": None if self.escape is None else self.escape.system,
            "fraction": None if self.escape is None else self.escape.fraction,
            "eps": [p["eps"] for p in points],
            "tau": [p["tau"] for p in points],
            "tau_value": [p["tau_value"] for p in points],
            "points": points,
            "prefactor_numeric": None if fit is None else fit.prefactor,
            "prefactor_error": None if fit is None else fit.prefactor_error,
            "exponent_numeric": None if power_fit is None else power_fit.exponent,
            "exponent_error": None if power_fit is None else power_fit.exponent_error,
            "measured_notes": list(self.notes),
        }


def measure_asymptotics(
    activation,
    depth: int | None = None,
    width=None,
    init=None,
    *,
    eps=DEFAULT_EPS,
    system: str = "scalar",
    teacher=1,
    throw: bool = True,
) -> MeasuredAsymptotics:
    r"""Normal form and singular expansion of τ★(ε), confirmed by escape times.

    Parameters
    ----------
    activation, depth, width, init, teacher
        As :func:`~saddle_escape.numeric.escape.escape_time` (or a ready ReducedModel).
    eps : sequence
        Decreasing geometric values of ε for the numbers (default :data:`DEFAULT_EPS`).
    system : {"scalar", "manifold"}
        The system the numbers come from (the expansion describes the scalar one).
    throw : bool
        Raise :class:`ConvergenceError` when the numbers do not confirm the theory
        (the flow does not escape, a point fails), or return the result with its status.

    Returns
    -------
    MeasuredAsymptotics

    References
    ----------
    DESIGN §3 (normal form, critical-depth law).

    Examples
    --------
    >>> eps = ["0.04", "0.02", "0.01", "0.005"]
    >>> m = measure_asymptotics("linear", 4, 16, "eps,eps,eps,eps", eps=eps)
    >>> m.theory.regime, str(m.theory.prefactor), round(m.fit.prefactor, 6)
    ('power', '1/2', 0.5)
    """
    model: ReducedModel = build_model(activation, depth, width, init, teacher=teacher)
    theory = asymptotics(model)
    notes: list[str] = []
    if theory.regime == "none":
        result = MeasuredAsymptotics(theory, None, None, Status.NO_ESCAPE, tuple(theory.notes))
        return _finish(result, throw)
    # The largest ε first: if it does not escape, the smaller ones are not tried. The rest
    # reuse its threshold, so every point is measured at the same fraction of 𝓛(0).
    escape = escape_time(model, eps=list(eps)[:1], system=system, throw=False)
    if escape.status.ok and len(eps) > 1:
        rest = escape_time(
            model, eps=list(eps)[1:], system=system, fraction=escape.fraction, throw=False
        )
        escape = replace(escape, points=escape.points + rest.points)
    status = Status.SUCCESS if escape.status.ok else escape.status
    if not escape.status.ok:
        failed = next(p for p in escape.points if not p.status.ok)
        notes.append(
            f"the numbers do not confirm the expansion: at eps = {failed.eps} {failed.message}"
        )
    fit = None
    taus = [p.tau for p in escape.points]
    if escape.status.ok and len(taus) >= 4:
        # every point escaped, so every tau is a number
        # The data are accurate to the digits the two computations agree on.
        digits = min(p.digits for p in escape.points)
        fit = extrapolate(
            [float(e) for e in eps],
            [float(cast(SupportsFloat, t)) for t in taus],
            rtol=10.0 ** -max(digits, 1),
            throw=False,
        )
        if not fit.status.ok:
            status = fit.status
            notes.append(
                f"the escape times do not resolve the regime (extrapolation: {fit.regime}); "
                "use smaller or more values of ε, or more digits"
            )
    return _finish(MeasuredAsymptotics(theory, escape, fit, status, tuple(notes)), throw)


def _finish(result: MeasuredAsymptotics, throw: bool) -> MeasuredAsymptotics:
    if throw and not result.status.ok:
        reason = "; ".join(result.notes) or result.status.message
        raise ConvergenceError(
            f"{result.theory.model.label}: {reason}", status=result.status, result=result
        )
    return result
