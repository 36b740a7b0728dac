"""Command-line commands of experiments at scale: ``sweep`` and ``results``.

``saddle-escape sweep SPEC.toml --store results.sqlite`` runs the cases of a TOML spec
that the store does not hold yet, storing each the moment it finishes
(:func:`saddle_escape.numeric.sweep.run_sweep`); ``saddle-escape results results.sqlite``
lists the records and the slope of ln τ★ against ln ε per group. The store's schema is
documented in ``docs/store.md``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence

from saddle_escape.tables import format_table

__all__ = ["register", "sweep_command", "results_command", "MAX_TEXT_ROWS"]

#: Text output lists at most this many records (``--json``, ``--csv`` list them all).
MAX_TEXT_ROWS = 200


def register(add: Callable) -> None:
    """Add this module's commands to the parser through ``add(name, handler, help)``."""
    from saddle_escape.cli import _positive_int

    sweep = add(
        "sweep",
        sweep_command,
        "run a TOML grid of full-network escapes into an SQLite results store "
        "(finished cases are skipped; each record is stored as it lands)",
    )
    sweep.add_argument("spec", metavar="SPEC.toml", help="the sweep spec (a [grid] table)")
    sweep.add_argument(
        "--store",
        required=True,
        metavar="PATH",
        help="the SQLite results store (created if missing; see docs/store.md)",
    )
    sweep.add_argument(
        "--workers", type=_positive_int, default=0, help="processes (0: all cores; 1: this one)"
    )
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running dask.distributed scheduler (extra 'dask') instead of local processes",
    )
    sweep.add_argument(
        "--retry-failed",
        action="store_true",
        help="also rerun the cases whose record failed (error, no escape, budget)",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    results = add(
        "results",
        results_command,
        "list the records of a results store and the slope of ln τ★ vs ln ε per group",
    )
    results.add_argument("store", metavar="STORE", help="an SQLite results store")
    results.add_argument("--csv", action="store_true", help="print the records as CSV")
    results.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only records with this parameter value (repeat to combine), e.g. depth=5, "
        "activation=tanh, bottleneck=[2,3,4], status=escaped",
    )


def sweep_command(args):
    from saddle_escape.commands import _progress_bar
    from saddle_escape.numeric.sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    with _progress_bar(len(spec), args.quiet, "sweep") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        summary = run_sweep(
            spec,
            args.store,
            workers=args.workers or None,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
            progress=progress,
        )
    text = _sweep_text(args.spec, summary.to_dict())
    if summary.interrupted:  # what finished is stored; say so, then exit as interrupted
        print(text, file=sys.stderr)
        raise KeyboardInterrupt
    return {"spec": str(args.spec), **summary.to_dict()}, text, summary.status


def _sweep_text(spec: str, s: dict) -> str:
    rate = s["cases_per_second"]
    rows = [
        ["cases in the spec", s["cases"]],
        ["skipped (already stored)", s["skipped"]],
        ["recorded now", s["recorded"]],
        ["  escaped", s["escaped"]],
        ["  failed", s["failed"]],
        ["unfinished", s["unfinished"]],
        ["lost to a dead worker, retried", s["retried"]],
        ["process pool restarts", s["restarts"]],
    ]
    where = f"scheduler {s['scheduler']}" if s["scheduler"] else f"{s['workers']} process(es)"
    lines = [
        f"sweep {spec} into {s['store']} ({where})",
        format_table(["", "cases"], rows),
        f"{s['seconds']:.1f} s" + ("" if rate is None else f", {rate:.2f} cases/s"),
    ]
    if s["failed"]:
        lines.append("failed cases are kept; rerun with --retry-failed to run them again")
    if s["unfinished"]:
        lines.append("unfinished cases have no record: rerun the same command to run them")
    lines.append(f"list them: saddle-escape results {s['store']}")
    return "\n".join(lines)


def results_command(args):
    from saddle_escape.numeric.store import ResultsStore, parse_where
    from saddle_escape.numeric.sweep import summarize

    if args.json and args.csv:
        raise ValueError("give --json or --csv, not both")
    where = parse_where(args.where)
    with ResultsStore(args.store, create=False) as store:
        records = store.records(where)
    groups = summarize(records)
    payload = {
        "store": str(args.store),
        "where": where,
        "records": [r.to_dict() for r in records],
        "groups": [g.to_dict() for g in groups],
    }
    if args.csv:
        return payload, _csv(payload["records"])
    return payload, _results_text(str(args.store), payload["records"], payload["groups"])


_RECORD_COLUMNS = ("status", "tau", "evaluations", "seconds", "version", "started", "finished")


def _cell(value) -> object:
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _csv(records: Sequence[dict]) -> str:
    names = sorted({name for r in records for name in r["params"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", *names, *_RECORD_COLUMNS, "attempts", "message"])
    for r in records:
        params = r["params"]
        writer.writerow(
            [
                r["key"],
                *(_cell(params.get(n)) if n in params else "" for n in names),
                *(r[c] if r[c] is not None else "" for c in _RECORD_COLUMNS),
                r["attempts"],
                r["message"],
            ]
        )
    return out.getvalue().rstrip("\n")


def _varying(dicts: Sequence[dict]) -> tuple[list[str], dict]:
    """Names whose value differs between ``dicts`` (or is missing in some), and the rest."""
    names = sorted({n for d in dicts for n in d})
    constant = {}
    varying = []
    for n in names:
        values = {json.dumps(d.get(n, "<missing>"), sort_keys=True) for d in dicts}
        if len(values) == 1 and all(n in d for d in dicts):
            constant[n] = dicts[0][n]
        else:
            varying.append(n)
    return varying, constant


def _number(value, digits: int = 6) -> object:
    return f"{value:.{digits}g}" if isinstance(value, float) else value


def _results_text(store: str, records: Sequence[dict], groups: Sequence[dict]) -> str:
    from saddle_escape.render import mean_spread

    if not records:
        return f"no records in {store} match"
    escaped = sum(r["status"] in ("escaped", "success") for r in records)
    varying, constant = _varying([r["params"] for r in records])
    shown = [n for n in varying if n not in ("eps", "seed")] + ["eps", "seed"]
    shown = [n for n in shown if n in varying or n in constant]
    lines = [
        f"{len(records)} record(s) in {store}: {escaped} escaped, {len(records) - escaped} not",
        "the same in every record: "
        + (", ".join(f"{k}={_cell(v)}" for k, v in constant.items() if k not in shown) or "-"),
    ]
    rows = [
        [r["key"][:12]]
        + [_cell(r["params"].get(n)) for n in shown]
        + [r["status"], _number(r["tau"]), r["evaluations"], f"{r['seconds']:.2f}"]
        for r in records[:MAX_TEXT_ROWS]
    ]
    lines.append(format_table(["key", *shown, "status", "tau", "evaluations", "seconds"], rows))
    if len(records) > MAX_TEXT_ROWS:
        lines.append(
            f"… {len(records) - MAX_TEXT_ROWS} more record(s): use --where, --json or --csv"
        )
    group_varying, _ = _varying([g["params"] for g in groups])
    group_rows = [
        [_cell(g["params"].get(n)) for n in group_varying]
        + [
            g["cases"],
            g["escaped"],
            len(g["slopes"]),
            mean_spread(g["slope"], g["slope_std"]),
            g["expected_slope"],
        ]
        for g in groups
    ]
    lines.append("")
    lines.append("slope of ln τ★ vs ln ε per group (mean ± sd over seeds):")
    lines.append(
        format_table(
            [*group_varying, "cases", "escaped", "seeds", "slope", "law slope"], group_rows
        )
    )
    return "\n".join(lines)
