"""Handlers of the command-line commands: each returns ``(json_payload, text)``."""

from __future__ import annotations

import sympy as sp

from classes import REGISTRY, UniversalityClass, classify
from classes.universality import Classification
from saddle_escape.tables import format_table

__all__ = ["classify_command", "classes_command", "report_command", "render_classification"]


def _number(expr) -> str:
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


def render_classification(result: Classification) -> str:
    """The text form of a :class:`~classes.Classification`.

    Examples
    --------
    >>> print(render_classification(classify("sigmoid")))  # doctest: +ELLIPSIS
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
        ("h_σ", _number(result.leading_coefficient)),
        ("alpha", _number(result.alpha)),
        ("sigma(0)", _number(result.sigma0)),
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
                        _number(s.leading_coefficient)
                        if s.leading_coefficient is not None
                        else None,
                        _number(s.alpha),
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
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def classify_command(args):
    result = classify(args.activation, order=args.order, time_limit_seconds=args.time_limit)
    return result.to_dict(), render_classification(result)


def registry_classifications() -> list[Classification]:
    """Classify every registry entry (canonical names, registry order)."""
    return [classify(name) for name in REGISTRY]


_CONDITIONS = {
    UniversalityClass.A: "φ_σ ≡ 0 near 0",
    UniversalityClass.B: "σ(0) = 0, q odd",
    UniversalityClass.C: "σ(0) = 0, q even",
    UniversalityClass.D: "σ(0) ≠ 0 (q = 0)",
}


def classes_command(args):
    results = registry_classifications()
    payload = {"classes": []}
    rows = []
    for klass in UniversalityClass:
        members = [r.name for r in results if r.class_ is klass]
        payload["classes"].append(
            {
                "class": klass.value,
                "condition": _CONDITIONS[klass],
                "description": klass.description,
                "members": members,
            }
        )
        rows.append([klass.value, _CONDITIONS[klass], ", ".join(members)])
    text = format_table(["class", "condition", "registry members"], rows)
    return payload, text


def registry_table(results: list[Classification]) -> tuple[list[dict], str]:
    """The registry's classification as JSON records and as a text table."""
    records, rows = [], []
    for r in results:
        entry = REGISTRY[r.name]
        records.append({**entry.to_dict(), **r.to_dict()})
        rows.append(
            [
                r.name,
                None if r.class_ is None else r.class_.value,
                r.q,
                _number(r.leading_coefficient) if r.leading_coefficient is not None else None,
                _number(r.alpha),
                _number(r.sigma0),
                r.smoothness,
            ]
        )
    text = format_table(
        ["activation", "class", "q", "h_σ", "alpha", "sigma(0)", "smoothness"], rows
    )
    return records, text


def report_command(args):
    records, table = registry_table(registry_classifications())
    text = "\n".join(
        [
            "saddle-escape report",
            "",
            "Universality classes of the named activations (DESIGN §2):",
            table,
        ]
    )
    return {"activations": records}, text
