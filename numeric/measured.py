r"""The asymptotics of τ★(ε) stated by the normal form and measured by numbers, in one result.

:func:`measure_asymptotics` computes the normal form and the singular expansion
(:func:`saddle_escape.symbolic.asymptotics.asymptotics`), τ★ on a geometric sequence of ε
(:func:`saddle_escape.numeric.escape.escape_time`), and the exponent and prefactor of
those numbers by Richardson extrapolation
(:func:`saddle_escape.numeric.extrapolation.extrapolate`). The command line, the figures,
the tests and the benchmarks all call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import SupportsFloat, cast

import numpy as np
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import (
    EscapePoint,
    EscapeResult,
    escape_time,
    halfway_fraction,
    system_for,
)
from saddle_escape.numeric.extrapolation import Extrapolation, extrapolate
from saddle_escape.symbolic.asymptotics import Asymptotics, asymptotics
from saddle_escape.symbolic.bias import BiasLaw, bias_law
from saddle_escape.symbolic.display import frame, html_section, html_table
from saddle_escape.symbolic.outcomes import ConvergenceError, Status
from saddle_escape.symbolic.reduction import ReducedModel

__all__ = ["BIASED_EPS", "DEFAULT_EPS", "MeasuredAsymptotics", "measure_asymptotics"]

#: Twelve values of ε from 0.1 to 1e-4, geometric (decimal strings, exact at any precision).
DEFAULT_EPS = tuple(f"{v:.6g}" for v in np.geomspace(0.1, 1e-4, 12))
#: With an output bias: five halvings from 0.02 (the bias's slow-manifold prefactor is
#: approached as O(ε); smaller ε cost ~10⁵ evaluations each on the stiff biased flow).
BIASED_EPS = ("0.02", "0.01", "0.005", "0.0025", "0.00125")


@dataclass(frozen=True)
class MeasuredAsymptotics:
    """Theory and numbers for one reduced model.

    Attributes
    ----------
    theory : Asymptotics or BiasLaw
        Normal form, regime, singular terms (with an output bias: the centred law).
    escape : EscapeResult or None
        τ★ at each ε (``None`` when the theory says the flow does not escape).
    fit : Extrapolation or None
        Exponent and prefactor from the numbers (at least 4 escaped points).
    status : Status
        ``success``, or why the numbers do not confirm the theory (``no_escape`` …).
    notes : tuple of str
    """

    theory: Asymptotics | BiasLaw
    escape: EscapeResult | None
    fit: Extrapolation | None
    status: Status
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready: the theory's fields, the escape points and the fit under ``"fit"``.

        The fit's exponent is given only in the power regime; in the log regime its
        prefactor is the coefficient of ln(1/ε) (``log_coefficient``).
        """
        points = [] if self.escape is None else self.escape.to_dict()["points"]
        return {
            **self.theory.to_dict(),
            "status": self.status.value,
            "system": None if self.escape is None else self.escape.system,
            "fraction": None if self.escape is None else self.escape.fraction,
            "points": points,
            "fit": None if self.fit is None else _fit_dict(self.fit),
            "measured_notes": list(self.notes),
        }

    def to_frame(self):
        """The escape points as a :class:`pandas.DataFrame`, one row per ε (needs pandas).

        The columns are the keys of :meth:`EscapePoint.to_dict
        <saddle_escape.numeric.escape.EscapePoint.to_dict>` (``eps``, ``eps_value``,
        ``tau``, ``tau_value``, ``digits``, ``status``, …); no rows when the theory says
        the flow does not escape.

        Needs pandas (an ImportError says how to install it without).

        Examples
        --------
        >>> eps = ["0.04", "0.02", "0.01", "0.005"]
        >>> df = measure_asymptotics("linear", 4, 16, "eps,eps,eps,eps", eps=eps).to_frame()
        >>> df["eps"].tolist(), set(df["status"])
        ([0.04, 0.02, 0.01, 0.005], {'escaped'})
        """
        points = () if self.escape is None else self.escape.points
        dps = None if self.escape is None else self.escape.dps
        return frame([p.to_dict(dps) for p in points], columns=_POINT_COLUMNS)

    def _repr_html_(self) -> str:
        """Theory against fit, and the escape points, as HTML tables (Jupyter).

        Examples
        --------
        >>> eps = ["0.04", "0.02", "0.01", "0.005"]
        >>> page = measure_asymptotics("linear", 4, 16, "eps,eps,eps,eps", eps=eps)._repr_html_()
        >>> "<tr><td>theory</td><td>power</td><td>2</td><td>1/2</td></tr>" in page
        True
        >>> page.count("<td>escaped</td>")
        4
        """
        theory, fit = self.theory, self.fit
        rows = [["theory", theory.regime, theory.exponent, theory.prefactor]]
        if fit is not None:
            exponent = _with_error(fit.exponent, fit.exponent_error)
            prefactor = _with_error(fit.prefactor, fit.prefactor_error)
            rows.append(["fit", fit.regime, exponent if fit.regime == "power" else None, prefactor])
        tables = [
            html_table(
                ["", "regime", "exponent", "prefactor"],
                rows,
                caption="τ★ ≈ prefactor·ε^(−exponent) (power) or prefactor·ln(1/ε) (log)",
            )
        ]
        if self.escape is not None:
            escape = self.escape
            precision = "float64" if escape.dps is None else f"mpmath, {escape.dps} digits"
            tables.append(
                html_table(
                    ["ε", "τ★", "digits", "status"],
                    [
                        [d["eps"], d["tau"], d["digits"], d["status"]]
                        for d in (p.to_dict(escape.dps) for p in escape.points)
                    ],
                    caption=f"{escape.system} system, {precision}, "
                    f"threshold {escape.fraction:g}·𝓛(0)",
                )
            )
        d = theory.model.to_dict()
        init = ",".join(str(v) for v in d.get("init") or ())
        return html_section(
            f"{theory.model.label}, L = {d.get('depth')}, width {d.get('width')}, init {init}: "
            f"{self.status.value}",
            *tables,
            notes=list(theory.notes) + list(self.notes),
        )


#: Columns of :meth:`MeasuredAsymptotics.to_frame` (the keys of ``EscapePoint.to_dict``).
_POINT_COLUMNS = tuple(EscapePoint(0.0, None, 0).to_dict(None))


def _with_error(value: float | None, error: float | None) -> str | None:
    """``value ± error`` (10 and 2 significant digits); the error only when it is finite."""
    if value is None:
        return None
    if error is None or not math.isfinite(error):
        return f"{value:.10g}"
    return f"{value:.10g} ± {error:.2g}"


def _fit_dict(fit: Extrapolation) -> dict:
    d = fit.to_dict()
    if fit.regime != "power":
        d.pop("exponent"), d.pop("exponent_error")
    if fit.regime == "log":
        d["log_coefficient"], d["log_coefficient_error"] = (
            d.pop("prefactor"),
            d.pop("prefactor_error"),
        )
    return d


def measure_asymptotics(
    activation,
    depth: int | None = None,
    width=None,
    init=None,
    *,
    eps=None,
    system: str = "scalar",
    teacher=1,
    dps: int | None = None,
    fraction: float | None = None,
    throw: bool = True,
    biases=None,
) -> MeasuredAsymptotics:
    r"""Normal form and singular expansion of τ★(ε), confirmed by escape times.

    Parameters
    ----------
    activation, depth, width, init, teacher
        As :func:`~saddle_escape.numeric.escape.escape_time` (or a ready ReducedModel).
    eps : sequence, optional
        Decreasing geometric values of ε for the numbers (default :data:`DEFAULT_EPS`;
        :data:`BIASED_EPS` with an output bias).
    system : {"scalar", "manifold"}
        The system the numbers come from (the expansion describes the scalar one).
    dps : int, optional
        Digits of mpmath escape times (default float64), as in ``escape_time``.
    fraction : float, optional
        Escape threshold as a fraction of 𝓛(0), as in ``escape_time`` (default: chosen
        there for the largest ε and kept for the others).
    throw : bool
        Raise :class:`ConvergenceError` when the numbers do not confirm the theory
        (the flow does not escape, a point fails), or return the result with its status.
    biases : str or sequence, optional
        An output bias (``"output"``) makes the theory the slow-manifold law
        (:func:`~saddle_escape.symbolic.bias.bias_law`) and the numbers the manifold
        system's.

    Returns
    -------
    MeasuredAsymptotics

    References
    ----------
    conventions §4 (normal form, critical-depth law).

    Examples
    --------
    >>> eps = ["0.04", "0.02", "0.01", "0.005"]
    >>> m = measure_asymptotics("linear", 4, 16, "eps,eps,eps,eps", eps=eps)
    >>> m.theory.regime, str(m.theory.prefactor), round(m.fit.prefactor, 6)
    ('power', '1/2', 0.5)
    """
    model: ReducedModel = build_model(
        activation, depth, width, init, teacher=teacher, biases=biases
    )
    notes: list[str] = []
    theory: Asymptotics | BiasLaw
    if model.biases:
        theory = bias_law(model, throw=False)
        if system != "manifold":
            system = "manifold"
            notes.append(
                "the numbers come from the manifold system: the balanced scalar reduction "
                "has no bias coordinate"
            )
    else:
        theory = asymptotics(model, throw=False)
    if eps is None:
        eps = BIASED_EPS if model.biases else DEFAULT_EPS
    if theory.regime == "none":
        # The theory's notes say why; they are not repeated as notes of the numbers.
        result = MeasuredAsymptotics(theory, None, None, Status.NO_ESCAPE)
        return _finish(result, throw)
    # The largest ε first: if it does not escape, the smaller ones are not tried. The rest
    # reuse its threshold, so every point is measured at the same fraction of 𝓛(0).
    escape = escape_time(
        model, eps=list(eps)[:1], system=system, dps=dps, fraction=fraction, throw=False
    )
    # A floor after a saddle escape (power, log regimes); in the finite regime a shallow
    # minimum near y = 0 moves with ε, and no one threshold serves every point.
    retry = None
    if fraction is None and theory.regime in ("power", "log"):
        retry = _reachable_fraction(model, escape, system)
    if retry is not None:
        fraction, note = retry
        notes.append(note)
        escape = escape_time(
            model, eps=list(eps)[:1], system=system, dps=dps, fraction=fraction, throw=False
        )
    if escape.status.ok and len(eps) > 1:
        rest = escape_time(
            model,
            eps=list(eps)[1:],
            system=system,
            dps=dps,
            fraction=escape.fraction,
            throw=False,
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
            rtol=10.0 ** -min(max(digits, 1), 15),  # the fit runs in float64
            throw=False,
        )
        if not fit.status.ok:
            status = fit.status
            notes.append(
                f"the escape times do not resolve the regime (extrapolation: {fit.regime}); "
                "use smaller or more values of ε, or more digits"
            )
    return _finish(MeasuredAsymptotics(theory, escape, fit, status, tuple(notes)), throw)


def _reachable_fraction(model, escape: EscapeResult, system: str) -> tuple[float, str] | None:
    """A reachable threshold when the default one lies below the stationary point the
    flow settles at after escaping (leaky ReLU: 0.5005·𝓛(0) at ε = 0.1), else ``None``.

    Only called when the expansion predicts escape (k > 0), so the floor is where the
    escaped flow stops, not a trap before escape; the singular terms of τ★ do not depend
    on the threshold (conventions §3).
    """
    point = escape.points[0]
    if point.status is not Status.NO_ESCAPE or point.loss_floor is None:
        return None
    dyn = system_for(model, float(point.eps), system)
    loss0 = float(dyn.loss(dyn.initial_state()))
    ratio = point.loss_floor / loss0
    if not 0 < ratio < 1:
        return None
    chosen = halfway_fraction(ratio)
    return chosen, (
        f"the flow escapes but settles at a stationary point with 𝓛 ≈ {ratio:.4f}·𝓛(0), "
        f"above the default threshold {escape.fraction:g}·𝓛(0); escape is measured at "
        f"{chosen:g}·𝓛(0) instead (halfway to that floor; the singular terms of τ★ do not "
        "depend on the threshold). Pass fraction explicitly to choose another."
    )


def _finish(result: MeasuredAsymptotics, throw: bool) -> MeasuredAsymptotics:
    if throw and not result.status.ok:
        reason = "; ".join(result.notes or result.theory.notes) or result.status.message
        raise ConvergenceError(
            f"{result.theory.model.label}: {reason}", status=result.status, result=result
        )
    return result
