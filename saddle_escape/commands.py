"""Handlers of the command-line commands: parse options, call the library, render.

Each returns ``(json_payload, text)`` or ``(json_payload, text, status)``; computing is the
library's (:mod:`saddle_escape.report`, :mod:`saddle_escape.numeric`, ...), text is
:mod:`saddle_escape.render`'s.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np
import sympy as sp

from saddle_escape import render
from saddle_escape.classes import UniversalityClass, classify
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import escape_time
from saddle_escape.numeric.functions import compile_activation
from saddle_escape.numeric.identity import check_identity
from saddle_escape.numeric.measured import measure_asymptotics
from saddle_escape.numeric.network import Dataset, example_targets, random_network
from saddle_escape.numeric.optimizers import Optimizer
from saddle_escape.numeric.simulate import he_sweep, local_executor, slope_summary
from saddle_escape.report import (
    REPORT_REDUCED,
    build_report,
    registry_classifications,
    report_steps,
)
from saddle_escape.symbolic.asymptotics import asymptotics, critical_depth_law, expected_slope
from saddle_escape.symbolic.identity import (
    derive_identity,
    parse_widths,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.outcomes import ExpressionError, Status
from saddle_escape.symbolic.reduction import parse_width

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
    "conventions_command",
]

#: Bounds of the numeric identity check (mpmath backprop is O(samples·weights) per digit).
MAX_IDENTITY_SAMPLES, MAX_IDENTITY_DPS = 100_000, 1000
#: Largest full networks the command simulates (the reduced theory goes to depth 64 too).
MAX_SIMULATE_DEPTH, MAX_SIMULATE_WIDTH = 64, 4096


def classify_command(args):
    result = classify(args.activation, order=args.order, time_limit_seconds=args.time_limit)
    return result.to_dict(), render.classification(result)


def classes_command(args):
    results = registry_classifications()
    members = {k: [str(r.name) for r in results if r.class_ is k] for k in UniversalityClass}
    payload = {
        "classes": [
            {
                "class": k.value,
                "condition": render.CONDITIONS[k],
                "description": k.description,
                "members": members[k],
            }
            for k in UniversalityClass
        ]
    }
    return payload, render.classes(members)


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
    result = verify_identity(args.widths, neuronwise=args.neuronwise, bias=args.bias, throw=False)
    payload = result.to_dict()
    text = render.verification(
        result, statement(neuronwise=args.neuronwise, bias=args.bias), neuronwise=args.neuronwise
    )
    if args.latex:
        derivation = derive_identity(neuronwise=args.neuronwise, bias=args.bias)
        payload["latex"] = statement(neuronwise=args.neuronwise, bias=args.bias, latex=True)
        payload["derivation"] = derivation.to_dict()
        text += "\n".join(["", "", payload["latex"], "", "width-generic derivation:"])
        text += "\n" + derivation.latex()
    payload["seconds"] = time.perf_counter() - start
    return payload, text, result.status


def identity_check_command(args):
    widths = parse_widths(args.widths)
    activation = "tanh" if args.activation is None else args.activation
    loss = "squared" if args.loss is None else args.loss
    seed = 0 if args.seed is None else args.seed
    samples = 8 if args.samples is None else args.samples
    if not 1 <= samples <= MAX_IDENTITY_SAMPLES:
        raise ValueError(f"--samples must be from 1 to {MAX_IDENTITY_SAMPLES}, got {samples}")
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
        throw=False,
    )
    payload = {
        **check.to_dict(),
        "seed": seed,
        "samples": samples,
        "seconds": time.perf_counter() - start,
    }
    text = render.identity_check(
        check,
        statement(neuronwise=args.neuronwise, bias=args.bias),
        widths=widths,
        samples=samples,
        seed=seed,
        neuronwise=args.neuronwise,
        dps=args.dps,
    )
    if not check.status.ok:
        text += f"\n{check.message}"
    return payload, text, check.status


def _model(args):
    return build_model(
        args.activation,
        args.depth,
        args.width,
        args.init,
        teacher=args.teacher,
        biases=getattr(args, "biases", None),
    )


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
    try:
        asym = asymptotics(model, throw=False)
    except ExpressionError as exc:  # e.g. a symbolic width where quadrature is needed
        asym, unexpanded = None, str(exc)
    payload = {
        **model.to_dict(),
        "output": sp.sstr(model.output()),
        "loss": None if loss is None else sp.sstr(loss),
        "loss_is_exact": loss is not None,
        "ode": None if odes is None else [sp.sstr(e) for e in odes],
        "scalar_loss": None
        if loss is None
        else sp.sstr(sp.factor(loss.xreplace(model.scalar_substitution(y)))),
        "normal_form": None if asym is None else asym.to_dict(),
    }
    if asym is None:
        payload["normal_form_error"] = unexpanded
    return payload, render.reduced_system(model, payload, asym)


def escape_command(args):
    result = escape_time(
        _model(args),
        eps=_eps_list(args.eps),
        system=args.system,
        dps=args.dps,
        fraction=args.fraction,
        throw=False,
    )
    return result.to_dict(), render.escape(result), result.status


def asymptotics_command(args):
    eps = _eps_list(args.eps) if args.eps else None
    with _progress_bar(1, args.quiet, "expansion and escape times") as bar:
        measured = measure_asymptotics(
            _model(args), eps=eps, system=args.system, fraction=args.fraction, throw=False
        )
        bar.update(1)
    status = measured.status if not measured.status.ok else Status.SUCCESS
    return measured.to_dict(), render.asymptotics(measured, args.system), status


_HE_SCALED = ("he*eps", "eps*he", "eps")


def _simulate_width(args) -> int:
    try:
        width = parse_width(args.width)
    except ValueError:
        raise ValueError(
            f"--width must be a whole number, at least 1, got {args.width!r}"
        ) from None
    if not width.is_Integer:
        raise ValueError(
            f"--width {args.width!r}: a full network needs a number (a symbolic width is "
            "for the reduced model: ode, escape, asymptotics)"
        )
    return int(width)


def _bottleneck(args) -> tuple[int, ...]:
    """The layers at He-normal × ε, from ``--init`` (per layer) or ``--bottleneck``."""
    if not 2 <= args.depth <= MAX_SIMULATE_DEPTH:
        raise ValueError(f"--depth must be from 2 to {MAX_SIMULATE_DEPTH}, got {args.depth}")
    if not 1 <= _simulate_width(args) <= MAX_SIMULATE_WIDTH:
        raise ValueError(f"--width must be from 1 to {MAX_SIMULATE_WIDTH}, got {args.width}")
    if args.init is not None:
        if args.bottleneck is not None:
            raise ValueError(
                "give --init or --bottleneck, not both (--bottleneck is its shorthand)"
            )
        entries = [v.strip().lower().replace(" ", "") for v in args.init.split(",")]
        if len(entries) != args.depth:
            raise ValueError(
                f"--init lists {len(entries)} layers but --depth is {args.depth}: give one "
                "entry per layer (he or he*eps)"
            )
        for entry in entries:
            if entry != "he" and entry not in _HE_SCALED:
                raise ValueError(
                    f"--init entry {entry!r} is not he or he*eps: full networks start from "
                    "He-normal weights, optionally times ε (fixed layer scales are the reduced "
                    "model's: use ode, escape or asymptotics)"
                )
        bottleneck = tuple(n for n, e in enumerate(entries, 1) if e in _HE_SCALED)
        if not bottleneck:
            raise ValueError("--init has no layer at he*eps: nothing starts small")
        return bottleneck
    text = "2,3,4" if args.bottleneck is None else args.bottleneck
    try:
        bottleneck = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--bottleneck {text!r} must list layer numbers") from None
    if not bottleneck or any(not 1 <= b <= args.depth for b in bottleneck):
        raise ValueError(f"--bottleneck layers must be in 1..{args.depth}, got {text!r}")
    if len(set(bottleneck)) != len(bottleneck):
        raise ValueError(f"--bottleneck lists a layer twice: {text!r}")
    return bottleneck


@contextlib.contextmanager
def _executor(args):
    """Local processes, a dask scheduler (``--scheduler``), or none (one worker)."""
    workers = args.workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
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
            yield client.get_executor()
        elif workers > 1:
            yield stack.enter_context(local_executor(workers))
        else:
            yield None


#: Defaults of ``simulate --lr`` (discrete optimizers) and ``--momentum`` (heavy ball).
DEFAULT_LR, DEFAULT_MOMENTUM = 0.01, 0.9


def _optimizer(args) -> Optimizer:
    """The optimizer of ``simulate --optimizer/--lr/--batch-size/--momentum``."""
    kind = args.optimizer
    if kind == "flow":
        given = [
            flag
            for flag, value in (
                ("--lr", args.lr),
                ("--batch-size", args.batch_size),
                ("--momentum", args.momentum),
            )
            if value is not None
        ]
        if given or args.replacement:
            raise ValueError(
                f"{', '.join(given) or '--replacement'} needs a discrete optimizer: add "
                "--optimizer gd, sgd or momentum (the default, flow, integrates gradient flow)"
            )
        return Optimizer()
    if kind == "sgd" and args.batch_size is None:
        raise ValueError("--optimizer sgd needs --batch-size B (e.g. --batch-size 64)")
    momentum = args.momentum
    if kind == "momentum" and momentum is None:
        momentum = DEFAULT_MOMENTUM
    try:
        return Optimizer(
            kind,
            lr=DEFAULT_LR if args.lr is None else args.lr,
            batch_size=args.batch_size,
            momentum=momentum,
            replacement=args.replacement,
        )
    except ValueError as exc:
        raise ValueError(f"--optimizer {kind}: {exc}") from None


def simulate_command(args):
    bottleneck = _bottleneck(args)
    eps = [float(v) for v in _eps_list(args.eps)]
    width = _simulate_width(args)
    data, samples = None, args.samples
    if args.data is not None:
        from saddle_escape.numeric.data import load_data

        if args.input_dim is not None:
            raise ValueError("--input-dim comes from --data (its number of columns)")
        task = load_data(args.data, target=args.target, labels=args.labels)
        if task.m != 1:
            raise ValueError(
                f"--data {args.data}: {task.m} target columns; simulate fits a scalar output"
            )
        data, samples, d = task.dataset(), task.n, task.d
    elif args.target is not None or args.labels != "centred":
        raise ValueError("--target and --labels are for --data SOURCE")
    else:
        d = args.input_dim or width
    widths = (d,) + (width,) * (args.depth - 1) + (1,)
    optimizer = _optimizer(args)
    if optimizer.batch_size is not None and d > 1 and optimizer.batch_size > samples:
        raise ValueError(
            f"--batch-size {optimizer.batch_size} is larger than the data set ({samples} samples)"
        )
    compile_activation(args.activation)  # fail fast on a bad activation
    start = time.perf_counter()
    bar = _progress_bar(len(eps) * args.seeds, args.quiet, "full-network escapes")
    with _executor(args) as executor, bar:
        records = he_sweep(
            args.activation,
            widths,
            bottleneck,
            eps,
            args.seeds,
            samples=samples,
            executor=executor,
            progress=bar.update,
            optimizer=optimizer,
            data=data,
            threshold=args.threshold,
        )
    summary = slope_summary(records)
    r = len(bottleneck)
    payload = {
        "activation": args.activation,
        "widths": list(widths),
        "bottleneck": list(bottleneck),
        "r": r,
        "optimizer": optimizer.to_dict(),
        "threshold": args.threshold,
        "data": None if args.data is None else task.to_dict(),
        **summary,
        "expected_slope": expected_slope(r),
        "law": critical_depth_law(r),
        "records": [rec.to_dict() for rec in records],
        "seconds": time.perf_counter() - start,
    }
    text = render.simulation(payload, seeds=args.seeds, samples=samples, law=critical_depth_law(r))
    if args.data is not None:
        text = f"data {task.name}: n = {task.n}, d = {task.d}\n{text}"
    if optimizer.kind != "flow":
        text += f"\noptimizer: {optimizer.label}; τ★ in gradient-flow time (steps × η)" + (
            ", the minibatch seed of each run is its seed" if optimizer.stochastic else ""
        )
    return payload, text


def figure_command(args):
    from saddle_escape.figures import draw

    out = args.out or f"{args.name}.png"
    start = time.perf_counter()
    with _progress_bar(1, args.quiet, f"figure {args.name}") as bar:
        data = draw(args.name, out)
        bar.update(1)
    payload = {
        "figure": args.name,
        "path": out,
        "data": data,
        "seconds": time.perf_counter() - start,
    }
    return payload, f"wrote {out} ({payload['seconds']:.1f} s)"


def _progress_bar(total: int, quiet: bool, label: str = ""):
    """A tqdm bar on stderr, off with ``--quiet`` or when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=label,
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
        leave=False,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
    )


def _steps(bar):
    """A step function for a library ``progress`` callback: count a finished step, name it."""

    def step(label: str) -> None:
        bar.update(1)
        bar.set_description_str(label)

    return step


def report_command(args):
    out = None if args.no_figures else args.out
    with _progress_bar(report_steps(out is not None), args.quiet) as bar:
        result = build_report(out, progress=_steps(bar))
    text = render.report(result, statement(), REPORT_REDUCED)
    payload = result.to_dict()
    if out is not None:
        path = os.path.join(out, "summary.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render.summary_markdown(result, statement(), REPORT_REDUCED))
        payload["summary"] = path
        text += f"\n\nwrote {len(result.figures)} figures and {path}"
    return payload, text


def conventions_command(args):
    from saddle_escape.conventions import conventions_text, section

    text = conventions_text() if args.section is None else section(args.section)
    return {"section": args.section, "text": text}, text
