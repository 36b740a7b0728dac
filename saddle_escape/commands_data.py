"""Command-line commands of the data side (conventions §5): ``gamma`` and ``predict``.

* ``gamma --data SOURCE``: the empirical clock Γ̂ = ‖n⁻¹ Σ y_i x_i‖ of a data set, with its
  bootstrap standard error, direction ĉ and (vector targets) singular values.
* ``predict --data SOURCE --calibrate-on SOURCE2``: τ★ per ε predicted from one
  calibration condition as τ_cal·Γ_cal/Γ (and, with ``--simulate``, observed).

SOURCE is a file (``.npz`` with arrays x, y; a ``.npy`` pair ``PREFIX_x.npy`` /
``PREFIX_y.npy``; a ``.csv`` with a header and ``--target COLUMN``), a data set that
scikit-learn ships inside its package (``digits``, ``breast_cancer``, ``wine``, ``iris``,
``diabetes``, ``linnerud``), or ``gaussian:D:N`` (an isotropic Gaussian sample).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from saddle_escape.cli import _count, _positive_int
from saddle_escape.commands import (
    _bottleneck,
    _eps_list,
    _executor,
    _progress_bar,
    _simulate_width,
)
from saddle_escape.numeric.calibration import COUPLINGS, Architecture, held_out_table
from saddle_escape.numeric.data import BUNDLED, LABEL_GRAMMAR, DataTask, load_data
from saddle_escape.symbolic.asymptotics import critical_depth_law
from saddle_escape.symbolic.outcomes import Status
from saddle_escape.tables import format_table

__all__ = ["register", "gamma_command", "predict_command"]

_SOURCE_HELP = (
    "a .npz (arrays x, y), a .npy pair PREFIX_x.npy/PREFIX_y.npy, a .csv with a header "
    f"(and --target), gaussian:D:N, or a bundled data set: {', '.join(BUNDLED)}"
)
#: The default bottleneck of predict: layer 1 included, where the Γ clock is exact.
PREDICT_BOTTLENECK = "1,2,3"


def _scale(text: str) -> str | None:
    value = text.strip().lower()
    if value == "none":
        return None
    if value not in ("global", "feature"):
        raise argparse.ArgumentTypeError(f"expected global, feature or none, got {text!r}")
    return value


def _data_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--data", required=True, metavar="SOURCE", help=_SOURCE_HELP)
    command.add_argument(
        "--target",
        default=None,
        metavar="COLUMN",
        help="the target column of a .csv (or the targets array of a .npz)",
    )
    command.add_argument(
        "--labels", default="centred", metavar="ENCODING", help=f"targets: {LABEL_GRAMMAR}"
    )
    command.add_argument(
        "--no-center", action="store_true", help="do not subtract the input columns' means"
    )
    command.add_argument(
        "--scale",
        type=_scale,
        default="global",
        metavar="global|feature|none",
        help="divide the inputs by the RMS of all entries (global, default: mean ‖x‖²/d = 1), "
        "each column by its own RMS (feature), or leave them (none)",
    )
    command.add_argument(
        "--subsample", type=_count, default=None, metavar="N", help="keep N rows (seeded)"
    )
    command.add_argument(
        "--seed",
        type=_positive_int,
        default=None,
        help="seed of the subsample, a gaussian:D:N sample and the bootstrap (default 0)",
    )


def _load(args, source: str, target: str | None, labels: str) -> DataTask:
    return load_data(
        source,
        target=target,
        labels=labels,
        center=not args.no_center,
        scale=args.scale,
        subsample=args.subsample,
        seed=args.seed or 0,
    )


def _describe(task: DataTask) -> str:
    record = task.preprocessing
    parts = [f"n = {task.n}, d = {task.d}, m = {task.m}"]
    sub = record.get("subsample")
    if sub:
        parts.append(f"subsample {sub['rows']} of {sub['of']} rows (seed {sub['seed']})")
    parts.append("centred" if record.get("center") else "not centred")
    scale = record.get("scale")
    if scale == "global":
        parts.append(f"scaled ×{record['scale_factor']:.4g} (mean ‖x‖²/d = 1)")
    elif scale == "feature":
        parts.append("each column scaled to RMS 1")
    parts.append(f"labels {record.get('labels')}")
    return ", ".join(parts)


def gamma_command(args):
    task = _load(args, args.data, args.target, args.labels)
    estimate = task.gamma(bootstrap=args.bootstrap, seed=args.seed or 0)
    payload = {**estimate.to_dict(), "name": task.name, "preprocessing": task.preprocessing}
    error = "-" if estimate.stderr is None else f"{estimate.stderr:.4g}"
    top = sorted(range(task.d), key=lambda j: -abs(estimate.direction[j]))[:5]
    rows = [
        ["data", task.name],
        ["", _describe(task)],
        ["Γ̂ = ‖E[y x]‖" if task.m == 1 else "Γ̂ = σ_max(E[y xᵀ])", f"{estimate.gamma:.6g}"],
        [f"bootstrap s.e. ({estimate.bootstrap} resamples)", error],
        ["ĉ, largest entries", ", ".join(f"x{j}: {estimate.direction[j]:+.3f}" for j in top)],
    ]
    if task.m > 1:
        rows.append(["singular values", ", ".join(f"{s:.4g}" for s in estimate.singular_values)])
    text = format_table(["quantity", "value"], rows)
    text += "\n(conventions §5: τ★ of the first escape scales as 1/Γ)"
    return payload, text


def _fmt(value) -> str | None:
    return None if value is None else f"{value:.6g}"


def _predict_torch(args):
    """``predict --torch MODEL.pt --data SOURCE --lr η``: the plateau of a saved model."""
    from saddle_escape.adapters.torch import predict_plateau_from_file

    if args.lr is None:
        raise ValueError("--torch needs --lr η, the learning rate of the training (steps = τ★/η)")
    if not 0 < args.lr < float("inf"):
        raise ValueError(f"--lr must be a positive number, got {args.lr!r}")
    if args.calibrate_on is not None or args.simulate:
        raise ValueError(
            "--torch predicts from the model's own weights: --calibrate-on and --simulate "
            "are for predictions on the toolkit's He-normal networks"
        )
    result = predict_plateau_from_file(
        args.torch, args.data, lr=args.lr, target=args.target, labels=args.labels
    )
    rows = [
        ["activation", f"{result.activation} (class {result.class_ or '-'})"],
        [
            "bottleneck",
            f"layers {list(result.bottleneck)} (r = {result.r}, ε ≈ {_fmt(result.eps)})",
        ],
        [
            "Γ̂",
            f"{result.gamma:.6g}"
            + (f" ± {result.gamma_stderr:.2g}" if result.gamma_stderr else ""),
        ],
        ["regime", f"{result.regime}: τ★ ∝ {result.law}"],
        ["τ★ (gradient-flow time)", _fmt(result.tau) or "-"],
        [f"steps at η = {result.lr:g}", _fmt(result.steps) or "-"],
    ]
    lines = [format_table(["", "prediction"], rows), result.message]
    lines += [f"warning: {w}" for w in result.warnings]
    text = "\n".join(lines)
    if not result.status.ok:
        return result.to_dict(), text, result.status
    return result.to_dict(), text


def predict_command(args):
    if args.torch is not None:
        return _predict_torch(args)
    if args.lr is not None:
        raise ValueError("--lr is for --torch MODEL.pt (the model's learning rate)")
    if args.calibrate_on is None:
        raise ValueError(
            "predict needs --calibrate-on SOURCE (or --torch MODEL.pt --lr η for a saved model)"
        )
    if args.init is None and args.bottleneck is None:
        args.bottleneck = PREDICT_BOTTLENECK
    bottleneck = _bottleneck(args)  # validates --depth, --width, --init/--bottleneck
    architecture = Architecture(args.activation, _simulate_width(args), args.depth, bottleneck)
    eps = [float(v) for v in _eps_list(args.eps)]
    calibrate_eps = None
    if args.calibrate_eps is not None:
        values = _eps_list(args.calibrate_eps)
        if len(values) != 1:
            raise ValueError(f"--calibrate-eps takes one value, got {args.calibrate_eps!r}")
        calibrate_eps = float(values[0])
    task = _load(args, args.data, args.target, args.labels)
    estimate = task.gamma(bootstrap=args.bootstrap, seed=args.seed or 0)
    source = args.calibrate_on
    if source == "gaussian":
        source = f"gaussian:{task.d}:{task.n}"
    calibration = _load(args, source, args.calibrate_target, args.calibrate_labels)
    runs = (1 if calibrate_eps is not None else len(eps)) * args.seeds
    runs += len(eps) * args.seeds if args.simulate else 0
    with _executor(args) as executor, _progress_bar(runs, args.quiet, "escapes") as bar:
        table = held_out_table(
            calibration,
            [task],
            architecture,
            eps,
            seeds=args.seeds,
            calibrate_eps=calibrate_eps,
            observe=args.simulate,
            coupling=args.coupling,
            executor=executor,
            progress=bar.update,
        )
    r = architecture.r
    points = table.points()
    payload = {
        **{k: v for k, v in table.to_dict().items() if k != "points"},
        "data": task.to_dict(),
        "gamma": estimate.gamma,
        "gamma_stderr": estimate.stderr,
        "r": r,
        "law": critical_depth_law(r),
        "seeds": args.seeds,
        "simulated": bool(args.simulate),
        "points": points,
    }
    drive = not architecture.includes_first
    headers = ["eps", "tau_cal", "tau_pred (Γ)"] + (["tau_pred (drive)"] if drive else [])
    if args.simulate:
        headers += ["tau_obs", "pred/obs (Γ)"] + (["pred/obs (drive)"] if drive else [])
    rows = []
    for p in points:
        row = [p["eps"], _fmt(p["tau_cal"]), _fmt(p["tau_pred"])]
        row += [_fmt(p["tau_pred_drive"])] if drive else []
        if args.simulate:
            row += [_fmt(p["tau_obs"]), _fmt(p["ratio"])]
            row += [_fmt(p["ratio_drive"])] if drive else []
        rows.append(row)
    cal = table.calibration
    lines = [
        f"data {task.name}: {_describe(task)}; Γ̂ = {estimate.gamma:.6g}",
        f"calibration {cal['name']}: Γ̂ = {cal['gamma']:.6g}; "
        + (
            "calibrated at every ε"
            if calibrate_eps is None
            else f"calibrated at ε = {calibrate_eps:g}, carried across ε by {critical_depth_law(r)}"
        ),
        f"full network σ = {architecture.activation}, widths "
        f"{architecture.widths(task.d, task.m)}, bottleneck {architecture.bottleneck} × ε "
        f"(r = {r}), He-normal ({table.coupling} coupling), {args.seeds} seed(s); means over "
        "seeds",
        format_table(headers, rows),
    ]
    if args.simulate:
        summary = table.median_abs_log_ratio
        line = "median |ln(τ_pred/τ_obs)| over seeds and ε: " + (
            "-" if summary is None else f"{summary:.3g} (Γ)"
        )
        if drive and table.median_abs_log_ratio_drive is not None:
            line += f", {table.median_abs_log_ratio_drive:.3g} (drive through the O(1) layers)"
        lines.append(line)
    lines.append(f"{table.seconds:.1f} s")
    if table.failures:
        first = table.failures[0]
        lines.append(f"{len(table.failures)} run(s) did not escape; first: {first.message}")
        return payload, "\n".join(lines), Status(first.status)
    return payload, "\n".join(lines)


def register(add: Callable) -> None:
    """Add this module's commands to the parser through ``add(name, handler, help)``."""
    gamma = add(
        "gamma",
        gamma_command,
        "the empirical clock Γ̂ = ‖E[y x]‖ of a data set, with a bootstrap error bar",
    )
    _data_arguments(gamma)
    gamma.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=200,
        metavar="B",
        help="bootstrap resamples for the standard error (default 200; 0: none)",
    )
    predict = add(
        "predict",
        predict_command,
        "τ★ per ε predicted from one calibration condition as τ_cal·Γ_cal/Γ "
        "(--simulate: and observed)",
    )
    _data_arguments(predict)
    predict.add_argument(
        "--torch",
        default=None,
        metavar="MODEL.pt",
        help="a saved PyTorch nn.Sequential (torch.save; extra 'torch'): predict its plateau "
        "from its own weights (with --lr)",
    )
    predict.add_argument(
        "--lr",
        type=float,
        default=None,
        metavar="ETA",
        help="with --torch: the learning rate of the training, to count steps",
    )
    predict.add_argument(
        "--calibrate-on",
        default=None,
        metavar="SOURCE",
        help="the calibration condition (same d and m), e.g. gaussian:D:N, or gaussian for "
        "an isotropic Gaussian sample of the data's d and n (target x_0)",
    )
    predict.add_argument(
        "--calibrate-target", default=None, metavar="COLUMN", help="--target of the calibration"
    )
    predict.add_argument(
        "--calibrate-labels",
        default="centred",
        metavar="ENCODING",
        help="--labels of the calibration (default centred)",
    )
    predict.add_argument(
        "--calibrate-eps",
        default=None,
        metavar="EPS",
        help="calibrate at this one ε and carry the prediction across ε by the critical-depth "
        "law (default: calibrate at every ε)",
    )
    predict.add_argument("--activation", default="tanh")
    predict.add_argument("--depth", type=_positive_int, default=5, help="L (default 5)")
    predict.add_argument("--width", default="16", help="N: an integer (default 16)")
    predict.add_argument(
        "--init",
        default=None,
        help="per layer: he or he*eps, as in simulate (default: from --bottleneck)",
    )
    predict.add_argument(
        "--bottleneck",
        default=None,
        help=f"the 1-based layers at he*eps (default {PREDICT_BOTTLENECK}: layer 1 included, "
        "where the Γ clock is exact; without layer 1 the drive through the O(1) layers is "
        "reported too)",
    )
    predict.add_argument("--eps", default="0.1,0.03,0.01", help="values of ε")
    predict.add_argument("--seeds", type=_count, default=3, help="number of seeds (at least 1)")
    predict.add_argument(
        "--coupling",
        choices=COUPLINGS,
        default="aligned",
        help="aligned (default): each condition's first layer is the calibration's rotated so "
        "that both meet the same weights along their drive ĉ; independent: plain seeded "
        "He-normal weights",
    )
    predict.add_argument(
        "--simulate", action="store_true", help="also simulate the data set (observed τ★)"
    )
    predict.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=200,
        metavar="B",
        help="bootstrap resamples for Γ̂'s error bar (default 200; 0: none)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument(
        "--workers", type=_positive_int, default=0, help="processes (0: all cores)"
    )
    predict.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running dask.distributed scheduler (extra 'dask') instead of local processes",
    )
