"""Handlers of the command-line commands: each returns ``(json_payload, text)``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

import numpy as np
import sympy as sp

from saddle_escape.classes import REGISTRY, UniversalityClass, classify
from saddle_escape.classes.universality import Classification
from saddle_escape.numeric.escape import build_model, escape_time
from saddle_escape.numeric.functions import compile_activation
from saddle_escape.numeric.identity import check_identity
from saddle_escape.numeric.measured import DEFAULT_EPS, measure_asymptotics
from saddle_escape.numeric.network import Dataset, example_targets, random_network
from saddle_escape.numeric.simulate import he_sweep, local_executor, slope_summary
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.imbalance import (
    derive_identity,
    parse_widths,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.outcomes import Status
from saddle_escape.tables import format_table

__all__ = [
    "classify_command",
    "classes_command",
    "identity_command",
    "ode_command",
    "escape_command",
    "asymptotics_command",
    "simulate_command",
    "figure_command",
    "report_command",
    "render_classification",
]


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
    """The text form of a :class:`~saddle_escape.classes.Classification`.

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
        entry = REGISTRY[str(r.name)]  # registry classifications always carry their name
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


def identity_command(args):
    if args.check:
        if args.latex:
            raise ValueError(
                "--latex excludes --check: LaTeX is printed for the exact verification only; "
                "drop --latex or --check"
            )
        return identity_check_command(args)
    check_options = ("activation", "loss", "dps", "seed", "samples")  # used by --check only
    given = [f"--{name}" for name in check_options if getattr(args, name, None) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --check: the exact "
            "verification holds for every σ and loss; add --check for the numeric check, or "
            "drop the option"
        )
    start = time.perf_counter()
    result = verify_identity(args.widths, neuronwise=args.neuronwise, bias=args.bias)
    payload = result.to_dict()
    headers = ["layer", "unit", "residual"] if args.neuronwise else ["layer", "residual"]
    rows = [
        ([r.layer, r.unit] if args.neuronwise else [r.layer]) + [sp.sstr(r.residual)]
        for r in result.layers
    ]
    lines = [
        statement(neuronwise=args.neuronwise, bias=args.bias),
        f"for any smooth σ and any differentiable ℓ; exact check on widths "
        f"{','.join(map(str, result.widths))} (generic σ, generic ℓ):",
        format_table(headers, rows),
        f"{'verified' if result.verified else 'NOT verified'}: every residual is "
        f"{'exactly 0' if result.verified else 'not 0'} ({result.seconds:.2f} s)",
    ]
    if args.latex:
        derivation = derive_identity(neuronwise=args.neuronwise, bias=args.bias)
        payload["latex"] = statement(neuronwise=args.neuronwise, bias=args.bias, latex=True)
        payload["derivation"] = derivation.to_dict()
        lines += ["", payload["latex"], "", "width-generic derivation:", derivation.latex()]
    payload["seconds"] = time.perf_counter() - start
    return payload, "\n".join(lines)


#: Bounds of the numeric identity check (mpmath backprop is O(samples·weights) per digit).
MAX_IDENTITY_SAMPLES, MAX_IDENTITY_DPS = 100_000, 1000


def identity_check_command(args):
    widths = parse_widths(args.widths)
    activation = "tanh" if args.activation is None else args.activation
    loss = "squared" if args.loss is None else args.loss
    seed = 0 if args.seed is None else args.seed
    samples = 8 if args.samples is None else args.samples
    if samples < 1:
        raise ValueError(f"--samples must be at least 1, got {samples}")
    if not 1 <= samples <= MAX_IDENTITY_SAMPLES:
        raise ValueError(f"--samples must be at most {MAX_IDENTITY_SAMPLES}, got {samples}")
    if args.dps is not None and not 10 <= args.dps <= MAX_IDENTITY_DPS:
        raise ValueError(f"--dps must be from 10 to {MAX_IDENTITY_DPS}, got {args.dps}")
    network = random_network(widths, seed=seed, bias=args.bias)
    rng = np.random.default_rng(seed + 1)
    inputs = rng.normal(size=(samples, widths[0]))
    targets = example_targets(rng, samples, widths[-1], loss)
    start = time.perf_counter()
    check = check_identity(
        network,
        Dataset(inputs, targets),
        activation,
        loss,
        dps=args.dps,
        neuronwise=args.neuronwise,
    )
    payload = check.to_dict()
    payload["seed"] = seed
    payload["samples"] = samples
    payload["seconds"] = time.perf_counter() - start
    digits = args.dps or 17
    headers = (
        ["layer", "unit", "lhs", "rhs", "rel. diff"]
        if args.neuronwise
        else ["layer", "lhs", "rhs", "rel. diff"]
    )
    rows = []
    for t in check.terms:
        row = [t.layer, t.unit] if args.neuronwise else [t.layer]
        d = t.to_dict(digits)
        rows.append(row + [d["lhs"], d["rhs"], f"{t.relative_difference:.2e}"])
    text = "\n".join(
        [
            statement(neuronwise=args.neuronwise, bias=args.bias),
            f"numeric check: σ = {check.activation}, loss = {check.loss}, widths "
            f"{','.join(map(str, widths))}, P = {samples}, seed {seed}, "
            f"{payload['precision']}",
            format_table(headers, rows),
            f"max relative difference {check.max_relative_difference:.2e}",
        ]
    )
    return payload, text


def _model(args):
    return build_model(args.activation, args.depth, args.width, args.init, teacher=args.teacher)


def _eps_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError("--eps needs at least one value")
    for v in values:
        try:
            number = float(v)
        except ValueError:
            raise ValueError(f"--eps value {v!r} is not a number") from None
        if not 0 < number < 1:
            raise ValueError(f"--eps value {v!r} must be in (0, 1)")
    return values


def ode_command(args):
    model = _model(args)
    y = sp.Symbol("y", positive=True)
    loss = model.loss_expression()
    odes = model.ode()
    asym = asymptotics(model)
    payload = {
        **model.to_dict(),
        "output": sp.sstr(model.output()),
        "loss": None if loss is None else sp.sstr(loss),
        "loss_is_exact": loss is not None,
        "ode": None if odes is None else [sp.sstr(e) for e in odes],
        "scalar_loss": None
        if loss is None
        else sp.sstr(sp.factor(loss.xreplace(model.scalar_substitution(y)))),
        "normal_form": asym.to_dict(),
    }
    lines = [
        f"reduced model: σ = {model.label}, L = {model.depth}, N = {sp.sstr(model.width)}, "
        f"s = {sp.sstr(model.teacher)}, init {', '.join(payload['init'])} "
        f"(bottleneck layers {payload['bottleneck']}, r = {model.r})",
        f"F(Y; g) = {sp.sstr(model.output())}",
        "𝓛(Y) = ½ E_g[(F − s g)²]"
        + (f" = {sp.sstr(loss)}" if loss is not None else "  (evaluated by Gauss quadrature in g)"),
        "dY_l/dt = −∂𝓛/∂Y_l",
    ]
    if payload["scalar_loss"]:
        lines.append(f"P(y) = {payload['scalar_loss']}")
    lines += _normal_form_lines(asym)
    return payload, "\n".join(lines)


def _normal_form_lines(asym) -> list[str]:
    exactness = "exact" if asym.exact else f"numeric, {asym.dps} digits"
    lines = [
        f"normal form ({exactness}): dy/dt = {sp.sstr(asym.normal_form())} + …",
        f"regime: {asym.regime}" + (f", τ★ ∝ ε^-{asym.exponent}" if asym.exponent else ""),
    ]
    if asym.terms:
        expansion = " + ".join(
            f"({_number(t.coefficient)})"
            + (f"·ε^{t.eps_power}" if t.eps_power else "")
            + ("·ln(1/ε)" if t.log_power else "")
            for t in asym.terms
        )
        lines.append(f"τ★(ε) = {expansion} + O(1)")
    lines += [f"note: {n}" for n in asym.notes]
    return lines


def escape_command(args):
    model = _model(args)
    result = escape_time(
        model,
        eps=_eps_list(args.eps),
        system=args.system,
        dps=args.dps,
        fraction=args.fraction,
        throw=False,
    )
    payload = result.to_dict()
    rows = [[p["eps"], p["tau"], p["digits"], p["status"]] for p in payload["points"]]
    lines = [
        f"escape times, {args.system} system, σ = {model.label}, L = {model.depth}, "
        f"N = {sp.sstr(model.width)}, init {','.join(payload['init'])}, "
        f"{payload['precision']}, escape at {result.fraction:g}·𝓛(0)",
        format_table(["eps", "tau", "digits", "status"], rows),
    ]
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"eps = {p.eps}: {p.message}" for p in result.points if not p.status.ok]
    return payload, "\n".join(lines), result.status


def asymptotics_command(args):
    eps = _eps_list(args.eps) if args.eps else list(DEFAULT_EPS)
    measured = measure_asymptotics(_model(args), eps=eps, system=args.system, throw=False)
    lines = _normal_form_lines(measured.theory)
    fit = measured.fit
    if fit is not None and fit.prefactor is not None and fit.regime == "power":
        lines.append(
            f"from τ★ on {len(eps)} values of ε ({args.system} system): exponent "
            f"{fit.exponent:.10g} ± {fit.exponent_error:.1e}, prefactor "
            f"{fit.prefactor:.14g} ± {fit.prefactor_error:.1e}"
            + (
                f" (normal form: {float(measured.theory.prefactor):.14g})"
                if measured.theory.prefactor is not None
                else ""
            )
        )
    elif fit is not None and fit.prefactor is not None and fit.regime == "log":
        lines.append(
            f"from τ★ on {len(eps)} values of ε ({args.system} system): coefficient of "
            f"ln(1/ε) {fit.prefactor:.12g} ± {fit.prefactor_error:.1e}"
        )
    lines += [f"note: {n}" for n in measured.notes]
    status = measured.status if not measured.status.ok else Status.SUCCESS
    return measured.to_dict(), "\n".join(lines), status


#: The default network of the report's identity section.
REPORT_IDENTITY_WIDTHS = (3, 3, 3, 1)


def identity_report() -> tuple[dict, str]:
    """The identity verified exactly (generic σ, ℓ) and numerically (tanh, 30 digits)."""
    exact = verify_identity(REPORT_IDENTITY_WIDTHS)
    exact_bias = verify_identity(REPORT_IDENTITY_WIDTHS, neuronwise=True, bias=True)
    network = random_network(REPORT_IDENTITY_WIDTHS, seed=0)
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(8, REPORT_IDENTITY_WIDTHS[0])), rng.normal(size=(8, 1)))
    numeric = check_identity(network, data, "tanh", "squared", dps=30)
    payload = {
        "exact": exact.to_dict(),
        "exact_neuronwise_bias": exact_bias.to_dict(),
        "numeric": numeric.to_dict(),
    }
    widths = ",".join(map(str, REPORT_IDENTITY_WIDTHS))
    text = "\n".join(
        [
            statement(),
            f"- exact, generic σ and ℓ, widths {widths}: layer-wise residuals "
            f"{[sp.sstr(r.residual) for r in exact.layers]}, neuron-wise with biases "
            f"{'all 0' if exact_bias.verified else 'NOT all 0'} "
            f"({exact.seconds + exact_bias.seconds:.2f} s)",
            f"- numeric, tanh, squared loss, random network, 8 samples, 30 digits: max "
            f"relative difference {numeric.max_relative_difference:.1e}",
        ]
    )
    return payload, text


#: Largest full networks the command simulates (the reduced theory goes to depth 64 too).
MAX_SIMULATE_DEPTH, MAX_SIMULATE_WIDTH = 64, 4096


def expected_slope(r: int) -> int:
    """The slope of ln τ★ against ln ε that the critical-depth law predicts.

    r = 1: a finite limit; r = 2: ln(1/ε), whose log-log slope tends to 0; r ≥ 3: −(r − 2).

    Examples
    --------
    >>> [expected_slope(r) for r in (1, 2, 3, 5)]
    [0, 0, -1, -3]
    """
    return -(r - 2) if r >= 3 else 0


def critical_depth_law(r: int) -> str:
    """The critical-depth law for r bottleneck layers, in words.

    Examples
    --------
    >>> critical_depth_law(1), critical_depth_law(2), critical_depth_law(4)
    ('finite limit (slope 0)', 'ln(1/ε) (slope → 0)', 'ε^-2 (slope -2)')
    """
    if r == 1:
        return "finite limit (slope 0)"
    if r == 2:
        return "ln(1/ε) (slope → 0)"
    return f"ε^-{r - 2} (slope {-(r - 2)})"


def simulate_command(args):
    try:
        bottleneck = tuple(int(v) for v in args.bottleneck.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--bottleneck {args.bottleneck!r} must list layer numbers") from None
    if not 2 <= args.depth <= MAX_SIMULATE_DEPTH:
        raise ValueError(f"--depth must be from 2 to {MAX_SIMULATE_DEPTH}, got {args.depth}")
    if not 1 <= args.width <= MAX_SIMULATE_WIDTH:
        raise ValueError(f"--width must be from 1 to {MAX_SIMULATE_WIDTH}, got {args.width}")
    if not bottleneck or any(not 1 <= b <= args.depth for b in bottleneck):
        raise ValueError(f"--bottleneck layers must be in 1..{args.depth}, got {args.bottleneck!r}")
    if len(set(bottleneck)) != len(bottleneck):
        raise ValueError(f"--bottleneck lists a layer twice: {args.bottleneck!r}")
    eps = [float(v) for v in _eps_list(args.eps)]
    d = args.input_dim or args.width
    widths = (d,) + (args.width,) * (args.depth - 1) + (1,)
    compile_activation(args.activation)  # fail fast on a bad activation
    workers = args.workers or os.cpu_count() or 1
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        executor = None
        if args.scheduler:
            try:
                from dask.distributed import Client
            except ImportError:
                raise ValueError(
                    "--scheduler needs dask.distributed: pip install 'saddle-escape[dask]'"
                ) from None
            try:
                client = stack.enter_context(Client(args.scheduler, timeout=5))
            except OSError as exc:
                raise ValueError(
                    f"--scheduler {args.scheduler!r}: no dask scheduler answered within 5 s ({exc})"
                ) from None
            executor = client.get_executor()
        elif workers > 1:
            executor = stack.enter_context(local_executor(workers))
        records = he_sweep(
            args.activation,
            widths,
            bottleneck,
            eps,
            args.seeds,
            samples=args.samples,
            executor=executor,
        )
    summary = slope_summary(records)
    r = len(bottleneck)
    payload = {
        "activation": args.activation,
        "widths": list(widths),
        "bottleneck": list(bottleneck),
        "r": r,
        **summary,
        "expected_slope": expected_slope(r),
        "law": critical_depth_law(r),
        "records": [rec.to_dict() for rec in records],
        "seconds": time.perf_counter() - start,
    }
    rows = [[p["eps"], p["t_esc"], p["t_esc_std"]] for p in summary["points"]]
    slope = summary["slope"]
    text = "\n".join(
        [
            f"full network, He-normal, σ = {args.activation}, widths {widths}, bottleneck "
            f"{bottleneck} × ε (r = {r}), {args.seeds} seed(s), "
            + ("population loss (d = 1)" if d == 1 else f"P = {args.samples} samples"),
            format_table(["eps", "t_esc (mean)", "std"], rows),
            "slope of ln τ★ vs ln ε: "
            + ("-" if slope is None else f"{slope:.3f} ± {summary['slope_std']:.3f}")
            + f" (critical-depth law: {critical_depth_law(r)}); {payload['seconds']:.1f} s",
        ]
    )
    return payload, text


#: Default reduced model of the report's asymptotics table: L = 4, N = 16, r = 3 at the end.
REPORT_REDUCED = (4, 16, "1,eps,eps,eps")


def asymptotics_report(results: list[Classification]) -> tuple[list[dict], str]:
    """Regime, exponent and prefactor for the registry's B and C activations."""
    depth, width, init = REPORT_REDUCED
    records, rows = [], []
    for c in results:
        if c.class_ not in (UniversalityClass.B, UniversalityClass.C):
            continue
        try:
            a = asymptotics(build_model(c.name, depth, width, init), time_limit_seconds=30)
        except (ValueError, RuntimeError) as exc:
            message = str(exc)
            reason = (
                "piecewise σ: no y-series (use escape)"
                if "piecewise" in message
                else "P(y) − P(0) ≡ 0 to the order computed"
                if "vanishes" in message
                else message[:40]
            )
            records.append({"activation": c.name, "class": c.class_.value, "error": str(exc)})
            rows.append([c.name, c.class_.value, None, None, None, None, reason[:40]])
            continue
        record = {"activation": c.name, "class": c.class_.value, **a.to_dict()}
        records.append(record)
        rows.append(
            [
                c.name,
                c.class_.value,
                a.regime,
                a.exponent,
                None if a.prefactor is None else f"{float(a.prefactor):.12g}",
                "exact" if a.exact else f"{a.dps} digits",
                "; ".join(a.notes)[:60] or None,
            ]
        )
    table = format_table(
        ["activation", "class", "regime", "exponent", "prefactor", "precision", "note"], rows
    )
    return records, table


def figure_command(args):
    from saddle_escape.figures import draw

    start = time.perf_counter()
    data = draw(args.name, args.out)
    payload = {
        "figure": args.name,
        "path": args.out,
        "data": data,
        "seconds": time.perf_counter() - start,
    }
    return payload, f"wrote {args.out} ({payload['seconds']:.1f} s)"


def _progress(step: int, total: int, label: str) -> None:
    bar = "#" * step + "." * (total - step)
    print(
        f"\r[{bar}] {step}/{total} {label:<40}",
        end="" if step < total else "\n",
        file=sys.stderr,
        flush=True,
    )


def report_command(args):
    figures = not args.no_figures
    if figures:  # fail before minutes of work, not after
        from saddle_escape.figures import check_output_dir

        check_output_dir(args.out)
    total = 4 + (5 if figures else 0)
    _progress(0, total, "classes")
    classifications = registry_classifications()
    _progress(1, total, "asymptotics")
    records, table = registry_table(classifications)
    asym_records, asym_table = asymptotics_report(classifications)
    _progress(2, total, "identity")
    identity_payload, identity_text = identity_report()
    _progress(3, total, "tables")
    text = "\n".join(
        [
            "saddle-escape report",
            "",
            "Universality classes of the named activations (DESIGN §2):",
            table,
            "",
            "The imbalance identity (DESIGN §1):",
            identity_text,
            "",
            f"Escape-time asymptotics τ★ ≈ prefactor·ε^-exponent (DESIGN §3), L = "
            f"{REPORT_REDUCED[0]}, N = {REPORT_REDUCED[1]}, init {REPORT_REDUCED[2]}:",
            asym_table,
        ]
    )
    payload = {"activations": records, "identity": identity_payload, "asymptotics": asym_records}
    if figures:
        payload["figures"] = _write_figures(args.out, total)
        summary = _summary_markdown(table, identity_text, asym_table, payload["figures"])
        path = os.path.join(args.out, "summary.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(summary)
        payload["summary"] = path
        text += f"\n\nwrote {len(payload['figures'])} figures and {path}"
    _progress(total, total, "done")
    return payload, text


def _write_figures(out: str, total: int) -> dict:
    from saddle_escape.figures import FIGURES, draw

    if not os.path.isdir(out):
        os.mkdir(out)  # its parent exists (checked up front); nothing above it is created
    written, step = {}, 4
    for name in FIGURES:
        _progress(step, total, f"figure {name}")
        paths = [os.path.join(out, f"{name}.{ext}") for ext in ("png", "svg")]
        written[name] = {"paths": paths, "data": draw(name, paths)}
        step += 1
    return written


def _summary_markdown(classes_table: str, identity_text: str, asym_table: str, figures) -> str:
    def numbers(name: str) -> str:
        return json.dumps(figures[name]["data"], default=float)[:600]

    parts = [
        "# saddle-escape report",
        "",
        "Conventions: DESIGN.md (Rawal & DeWeese, arXiv:2605.01288).",
        "",
        "## Universality classes of the named activations",
        "",
        "```",
        classes_table,
        "```",
        "",
        "## The imbalance identity",
        "",
        "```",
        identity_text,
        "```",
        "",
        "## Escape-time asymptotics",
        "",
        "```",
        asym_table,
        "```",
        "",
        "## Agreement with full networks",
        "",
    ]
    captions = {
        "scalar-reduction": "Full network started on the manifold (markers) over the reduced ODE "
        "(lines).",
        "universality": "Escape time against ε for B and C activations, raw and rescaled by the "
        "normal-form prefactor.",
        "critical-depth": "τ★ against ε for r = 1..5 with the singular expansion.",
        "off-manifold": "He-normal full networks: fitted slopes against the critical-depth law.",
        "imbalance": "Imbalance drift against the integral of the identity's right-hand side.",
    }
    for name, caption in captions.items():
        parts += [
            f"### {name}",
            "",
            f"![{name}]({name}.png)",
            "",
            caption,
            "",
            f"Numbers: `{numbers(name)}`",
            "",
        ]
    return "\n".join(parts)
