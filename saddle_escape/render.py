"""Text and Markdown for the command line: every function takes results, returns a string.

Nothing here computes science; :mod:`saddle_escape.commands` calls the library and hands
its results to these functions.
"""

from __future__ import annotations

import json
import math

import sympy as sp

from saddle_escape.classes import UniversalityClass
from saddle_escape.classes.universality import Classification
from saddle_escape.symbolic.bias import BiasLaw
from saddle_escape.tables import format_table

__all__ = [
    "number",
    "classification",
    "classes",
    "registry",
    "verification",
    "identity_check",
    "reduced_system",
    "normal_form",
    "escape",
    "asymptotics",
    "simulation",
    "mean_spread",
    "report",
    "summary_markdown",
    "CONDITIONS",
]

#: What puts an activation in each class (for the ``classes`` table).
CONDITIONS = {
    UniversalityClass.A: "φ_σ ≡ 0 near 0",
    UniversalityClass.B: "σ(0) = 0, q odd",
    UniversalityClass.C: "σ(0) = 0, q even",
    UniversalityClass.D: "σ(0) ≠ 0 (q = 0)",
}


def number(expr) -> str:
    """An exact number, or its first 15 digits and an ellipsis when it is long.

    Examples
    --------
    >>> number(sp.Rational(1, 3)), number(sp.sqrt(2) / sp.pi**3 + sp.E**7 / 12345)
    ('1/3', '0.134442729004917…')
    """
    if expr is None:
        return "-"
    text = sp.sstr(expr)
    if expr.free_symbols or len(text) <= 24:
        return text
    return f"{float(sp.N(expr, 17)):.15g}…"


def _term(order, coefficient) -> str:
    power = "" if order == 0 else "x" if order == 1 else f"x^{order}"
    coeff = sp.sstr(coefficient)
    if " " in coeff:
        coeff = f"({coeff})"
    return f"{coeff}·{power}" if power else coeff


def classification(result: Classification) -> str:
    """The text form of a :class:`~saddle_escape.classes.Classification`.

    Examples
    --------
    >>> from saddle_escape.classes import classify
    >>> print(classification(classify("sigmoid")))  # doctest: +ELLIPSIS
    activation  1/(1 + exp(-x))  [sigmoid]
    class       D: σ(0) ≠ 0: φ_σ(0) = −σ(0) drives the imbalance (sigmoid, softplus)
    q           0
    h_σ         -1/2
    ...
    """
    klass = result.class_
    rows = [
        ("activation", result.expression + (f"  [{result.name}]" if result.name else "")),
        ("class", "none of A-D" if klass is None else f"{klass.value}: {klass.description}"),
        ("q", "-" if result.q is None else str(result.q)),
        ("h_σ", number(result.leading_coefficient)),
        ("alpha", number(result.alpha)),
        ("sigma(0)", number(result.sigma0)),
        ("smoothness", result.smoothness),
        (
            "φ_σ",
            " + ".join(_term(t.order, t.coefficient) for t in result.phi_series) or "0",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if result.sides is not None:
        lines += ["", "one-sided expansions:"]
        lines.append(
            format_table(
                ["side", "branch", "class", "q", "h_σ", "alpha"],
                [
                    [
                        s.side,
                        sp.sstr(s.expression),
                        None if s.class_ is None else s.class_.value,
                        s.q,
                        None if s.leading_coefficient is None else number(s.leading_coefficient),
                        number(s.alpha),
                    ]
                    for s in result.sides
                ],
            )
        )
    if result.conditions:
        lines += ["", "by parameter values:"]
        lines.append(
            format_table(
                ["condition", "class", "q", "h_σ"],
                [
                    [
                        sp.sstr(b.condition),
                        None if b.class_ is None else b.class_.value,
                        b.q,
                        None if b.leading_coefficient is None else sp.sstr(b.leading_coefficient),
                    ]
                    for b in result.conditions
                ],
            )
        )
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def classes(members: dict[UniversalityClass, list[str]], *, markdown: bool = False) -> str:
    """The four classes, what defines each, and the registry's members.

    Examples
    --------
    >>> print(classes({UniversalityClass.B: ["tanh"]}).splitlines()[3])
    B      σ(0) = 0, q odd    tanh
    """
    rows = [[k.value, CONDITIONS[k], ", ".join(members.get(k, []))] for k in UniversalityClass]
    return format_table(["class", "condition", "registry members"], rows, markdown=markdown)


def registry(results: list[Classification], *, markdown: bool = False) -> str:
    """The classification of several activations as one table.

    Examples
    --------
    >>> from saddle_escape.classes import classify
    >>> print(registry([classify("tanh")]))
    activation  class  q  h_σ   alpha  sigma(0)  smoothness
    ----------  -----  -  ----  -----  --------  ----------
    tanh        B      3  -2/3  1      0         analytic
    """
    rows = [
        [
            r.name,
            None if r.class_ is None else r.class_.value,
            r.q,
            None if r.leading_coefficient is None else number(r.leading_coefficient),
            number(r.alpha),
            number(r.sigma0),
            r.smoothness,
        ]
        for r in results
    ]
    headers = ["activation", "class", "q", "h_σ", "alpha", "sigma(0)", "smoothness"]
    return format_table(headers, rows, markdown=markdown)


def verification(result, statement_text: str, *, neuronwise: bool) -> str:
    """The exact verification of the identity: the statement and the residual table."""
    headers = ["layer", "unit", "residual"] if neuronwise else ["layer", "residual"]
    rows = [
        ([r.layer, r.unit] if neuronwise else [r.layer]) + [sp.sstr(r.residual)]
        for r in result.layers
    ]
    return "\n".join(
        [
            statement_text,
            "for any smooth σ and any differentiable ℓ; exact check on widths "
            f"{','.join(map(str, result.widths))} (generic σ, generic ℓ):",
            format_table(headers, rows),
            f"{'verified' if result.verified else 'NOT verified'}: every residual is "
            f"{'exactly 0' if result.verified else 'not 0'} ({result.seconds:.2f} s)",
        ]
    )


def identity_check(check, statement_text: str, *, widths, samples, seed, neuronwise, dps) -> str:
    """Both sides of the identity evaluated on a random network, layer by layer."""
    headers = (
        ["layer", "unit", "lhs", "rhs", "rel. diff"]
        if neuronwise
        else ["layer", "lhs", "rhs", "rel. diff"]
    )
    rows = []
    for t in check.terms:
        d = t.to_dict(dps or 17)
        rows.append(
            ([t.layer, t.unit] if neuronwise else [t.layer])
            + [d["lhs"], d["rhs"], f"{t.relative_difference:.2e}"]
        )
    precision = "float64" if dps is None else f"mpmath, {dps} digits"
    return "\n".join(
        [
            statement_text,
            f"numeric check: σ = {check.activation}, loss = {check.loss}, widths "
            f"{','.join(map(str, widths))}, P = {samples}, seed {seed}, {precision}",
            format_table(headers, rows),
            f"max relative difference {check.max_relative_difference:.2e}",
        ]
    )


def normal_form(asym) -> list[str]:
    """Lines for an :class:`~saddle_escape.symbolic.asymptotics.Asymptotics` (or a
    :class:`~saddle_escape.symbolic.bias.BiasLaw`)."""
    exactness = "exact" if asym.exact else f"numeric, {asym.dps} digits"
    if isinstance(asym, BiasLaw):
        form = "≡ P_c(0) to the order computed" if asym.p is None else f"= P_c(0) − k·y^{asym.p}"
        lines = [
            f"centred loss ({exactness}): P_c(y) {form}, k = "
            + ("-" if asym.k is None else number(asym.k))
            + (f"; slow-manifold metric λ = {number(asym.lam)}" if asym.lam is not None else ""),
            f"regime: {asym.regime}" + (f", τ★ ∝ ε^-{asym.exponent}" if asym.exponent else ""),
        ]
        if asym.prefactor is not None:
            power = f"·ε^-{asym.exponent} · (1 + o(1))"
            term = "·ln(1/ε) + O(1)" if asym.regime == "log" else power
            lines.append(f"τ★(ε) = ({number(asym.prefactor)}){term}")
        return lines + [f"note: {n}" for n in asym.notes]
    lines = [
        f"normal form ({exactness}): dy/dt = {sp.sstr(asym.normal_form())} + …",
        f"regime: {asym.regime}" + (f", τ★ ∝ ε^-{asym.exponent}" if asym.exponent else ""),
    ]
    if asym.terms:
        expansion = " + ".join(
            f"({number(t.coefficient)})"
            + (f"·ε^{t.eps_power}" if t.eps_power else "")
            + ("·ln(1/ε)" if t.log_power else "")
            for t in asym.terms
        )
        lines.append(f"τ★(ε) = {expansion} + O(1)")
    if getattr(asym, "limit", None) is not None:
        correction = asym.limit_correction
        lines.append(
            f"τ★(0⁺) = {number(asym.limit)}"
            + ("" if correction is None else f", τ★(ε) = τ★(0⁺) + ({number(correction)})·ε + …")
            + f" (escape at {asym.limit_fraction:g}·𝓛(0))"
        )
    lines += [f"note: {n}" for n in asym.notes]
    return lines


def _model_line(model) -> str:
    return (
        f"σ = {model.label}, L = {model.depth}, N = {sp.sstr(model.width)}, "
        f"s = {sp.sstr(model.teacher)}"
    )


def reduced_system(model, payload: dict, asym) -> str:
    """The reduced system of ``ode``: F, 𝓛, the ODE, P(y) and the normal form."""
    loss = payload["loss"]
    lines = [
        f"reduced model: {_model_line(model)}, init {', '.join(payload['init'])} "
        f"(bottleneck layers {payload['bottleneck']}, r = {model.r})",
        f"F(Y; g) = {payload['output']}",
        "𝓛(Y) = ½ E_g[(F − s g)²]"
        + (f" = {loss}" if loss is not None else "  (evaluated by Gauss quadrature in g)"),
        "dY_l/dt = −∂𝓛/∂Y_l",
    ]
    if payload["scalar_loss"]:
        lines.append(f"P(y) = {payload['scalar_loss']}")
    if asym is None:
        return "\n".join(lines + [f"normal form: not computed ({payload['normal_form_error']})"])
    return "\n".join(lines + normal_form(asym))


def escape(result) -> str:
    """Escape times at each ε, with their digits and statuses."""
    payload = result.to_dict()
    rows = [[p["eps"], p["tau"], p["digits"], p["status"]] for p in payload["points"]]
    lines = [
        f"escape times, {result.system} system, {_model_line(result.model)}, init "
        f"{','.join(payload['init'])}, {payload['precision']}, escape at "
        f"{result.fraction:g}·𝓛(0)",
        format_table(["eps", "tau", "digits", "status"], rows),
    ]
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"eps = {p.eps}: {p.message}" for p in result.points if not p.status.ok]
    return "\n".join(lines)


def asymptotics(measured, system: str) -> str:
    """The theory's expansion and what the escape times say about it."""
    lines = normal_form(measured.theory)
    fit, count = measured.fit, 0 if measured.escape is None else len(measured.escape.points)
    system = system if measured.escape is None else measured.escape.system
    if fit is not None and fit.prefactor is not None and fit.regime == "power":
        theory = measured.theory.prefactor
        lines.append(
            f"from τ★ on {count} values of ε ({system} system): exponent "
            f"{fit.exponent:.10g} ± {fit.exponent_error:.1e}, prefactor "
            f"{fit.prefactor:.14g} ± {fit.prefactor_error:.1e}"
            + (f" (theory: {float(theory):.14g})" if theory is not None else "")
        )
    elif fit is not None and fit.prefactor is not None and fit.regime == "log":
        lines.append(
            f"from τ★ on {count} values of ε ({system} system): coefficient of ln(1/ε) "
            f"{fit.prefactor:.12g} ± {fit.prefactor_error:.1e}"
        )
    lines += [f"note: {n}" for n in measured.notes]
    return "\n".join(lines)


def mean_spread(mean: float | None, spread: float | None) -> str:
    """``mean ± spread`` with the spread to 3 significant figures and the mean to match;
    the mean alone (6 significant figures) when no spread was measured (one seed).

    Examples
    --------
    >>> mean_spread(123.456789, 0.0123456), mean_spread(123.456789, None)
    ('123.4568 ± 0.0123', '123.457')
    >>> mean_spread(-2.0104, 0.51234), mean_spread(None, None)
    ('-2.010 ± 0.512', '-')
    """
    if mean is None:
        return "-"
    if spread is None or not math.isfinite(spread):
        return f"{mean:.6g}"
    if spread == 0:
        return f"{mean:.6g} ± 0"
    decimals = max(0, 2 - math.floor(math.log10(abs(spread))))
    return f"{mean:.{decimals}f} ± {spread:.{decimals}f}"


def simulation(payload: dict, *, seeds: int, samples: int, law: str) -> str:
    """The full-network sweep: mean τ★ per ε and the fitted slope against the law."""
    rows = [[p["eps"], mean_spread(p["tau"], p["tau_std"]), p["seeds"]] for p in payload["points"]]
    slope = payload["slope"]
    d = payload["widths"][0]
    return "\n".join(
        [
            f"full network, He-normal, σ = {payload['activation']}, widths "
            f"{tuple(payload['widths'])}, bottleneck {tuple(payload['bottleneck'])} × ε "
            f"(r = {payload['r']}), {seeds} seed(s), "
            + ("population loss (d = 1)" if d == 1 else f"P = {samples} samples"),
            format_table(["eps", "tau (mean ± sd over seeds)", "seeds"], rows),
            "slope of ln τ★ vs ln ε: "
            + ("-" if slope is None else mean_spread(slope, payload["slope_std"]))
            + f" (critical-depth law: {law}); {payload['seconds']:.1f} s",
        ]
    )


def _identity_summary(identity) -> str:
    exact, bias, numeric = identity.exact, identity.exact_neuronwise_bias, identity.numeric
    widths = ",".join(map(str, identity.widths))
    return "\n".join(
        [
            f"- exact, generic σ and ℓ, widths {widths}: layer-wise residuals "
            f"{[sp.sstr(r.residual) for r in exact.layers]}, neuron-wise with biases "
            f"{'all 0' if bias.verified else 'NOT all 0'} "
            f"({exact.seconds + bias.seconds:.2f} s)",
            f"- numeric, tanh, squared loss, random network, 8 samples, 30 digits: max "
            f"relative difference {numeric.max_relative_difference:.1e}",
        ]
    )


def _asymptotics_table(rows, *, markdown: bool = False) -> str:
    table = []
    for row in rows:
        a = row.result
        if a is None:
            reason = row.reason or ""
            reason = (
                "piecewise σ: no y-series (use escape)"
                if "piecewise" in reason
                else "P(y) − P(0) ≡ 0 to the order computed"
                if "vanishes" in reason
                else reason
            )
            table.append([row.activation, row.class_.value, None, None, None, None, reason[:40]])
            continue
        table.append(
            [
                row.activation,
                row.class_.value,
                a.regime,
                a.exponent,
                None if a.prefactor is None else f"{float(a.prefactor):.12g}",
                "exact" if a.exact else f"{a.dps} digits",
                "; ".join(a.notes)[:60] or None,
            ]
        )
    headers = ["activation", "class", "regime", "exponent", "prefactor", "precision", "note"]
    return format_table(headers, table, markdown=markdown)


def report(result, statement_text: str, reduced: tuple, *, markdown: bool = False) -> str:
    """The report's tables: classes, the identity, the escape-time asymptotics."""
    depth, width, init = reduced
    return "\n".join(
        [
            "saddle-escape report",
            "",
            "Universality classes of the named activations (conventions §2):",
            registry(list(result.classifications), markdown=markdown),
            "",
            "The imbalance identity (conventions §5):",
            statement_text,
            _identity_summary(result.identity),
            "",
            f"Escape-time asymptotics τ★ ≈ prefactor·ε^-exponent (conventions §4), L = "
            f"{depth}, N = {width}, init {init}:",
            _asymptotics_table(result.asymptotics, markdown=markdown),
        ]
    )


#: One line on each figure of the report.
CAPTIONS = {
    "scalar-reduction": "Full network started on the manifold (markers) over the reduced ODE "
    "(lines).",
    "universality": "Escape time against ε for B and C activations, raw and rescaled by the "
    "normal-form prefactor.",
    "critical-depth": "τ★ against ε for r = 1..5 with the singular expansion.",
    "off-manifold": "He-normal full networks: fitted slopes against the critical-depth law.",
    "imbalance": "Imbalance drift against the integral of the identity's right-hand side.",
    "signal-geometry": "Two equal features rotated toward cancellation: the slowdown follows "
    "the vector drive 1/‖Σ_k β_k μ_k Σ v_k‖, not the sum of the strengths.",
    "anisotropy": "Anisotropic inputs and rotated teachers: τ★ predicted as τ_cal·Γ_cal/Γ "
    "from one calibration.",
    "mode-ratios": "Overlaps with different features grow through one amplitude; their "
    "ratios are predicted from ĉ and Σ alone.",
    "staircase": "Vector outputs: one escape per singular value (the deep-linear staircase "
    "of Saxe et al. 2014).",
    "real-covariates": "Real data sets: predicted against observed escape times (open: "
    "calibration, filled: held out).",
    "optimizers": "The critical-depth exponent under flow, GD, SGD and three thresholds: "
    "the exponent stays, the constant moves.",
}


def summary_markdown(result, statement_text: str, reduced: tuple) -> str:
    """``summary.md``: the report's tables as Markdown tables, then each figure."""
    depth, width, init = reduced
    parts = [
        "# saddle-escape report",
        "",
        "Conventions: `saddle-escape conventions` (Rawal & DeWeese, arXiv:2605.01288).",
        "",
        "## Universality classes of the named activations",
        "",
        registry(list(result.classifications), markdown=True),
        "",
        "## The imbalance identity",
        "",
        statement_text,
        "",
        _identity_summary(result.identity),
        "",
        f"## Escape-time asymptotics (L = {depth}, N = {width}, init {init})",
        "",
        _asymptotics_table(result.asymptotics, markdown=True),
        "",
        "## Agreement with full networks",
        "",
    ]
    for name, figure in result.figures.items():
        numbers = json.dumps(figure["data"], default=float)[:600]
        parts += [
            f"### {name}",
            "",
            f"![{name}]({name}.png)",
            "",
            CAPTIONS.get(name, ""),
            "",
            f"Numbers: `{numbers}`",
            "",
        ]
    return "\n".join(parts)
