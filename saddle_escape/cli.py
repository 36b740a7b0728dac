"""The ``saddle-escape`` command line.

Every command prints a human-readable table by default and one JSON object with
``--json``. Bad input exits with status 2 and one line ``error: …`` on stderr
(and ``{"error": "…"}`` on stdout with ``--json``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from saddle_escape import commands
from saddle_escape.symbolic.outcomes import ConvergenceError, Status, TimeLimitError

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit status 2
        raise _UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected positive seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``saddle-escape`` (for documentation tools and tests)."""
    parser = _Parser(
        prog="saddle-escape",
        description="Saddle escape in deep nonlinear networks (Rawal & DeWeese, "
        "arXiv:2605.01288): universality classes, the imbalance identity, escape times.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--json", action="store_true", help="print one JSON object")
        command.set_defaults(handler=handler)
        return command

    classify = add("classify", commands.classify_command, "classify an activation (A/B/C/D)")
    classify.add_argument(
        "activation",
        metavar="EXPR_OR_NAME",
        help="a registry name (tanh, gelu, ...) or an expression in x, e.g. 'x + a*x**2'",
    )
    classify.add_argument(
        "--order",
        type=_positive_int,
        default=6,
        metavar="K",
        help="list φ_σ's terms through order K (default 6)",
    )
    classify.add_argument(
        "--time-limit",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="limit on the symbolic work (default 5)",
    )
    identity = add(
        "identity",
        commands.identity_command,
        "the imbalance identity: exact symbolic verification, or a numeric check (--check)",
    )
    identity.add_argument(
        "--widths",
        default="3,3,3,1",
        metavar="D,N1,...,DOUT",
        help="layer widths, input first (default 3,3,3,1)",
    )
    identity.add_argument("--bias", action="store_true", help="networks with biases")
    identity.add_argument("--neuronwise", action="store_true", help="one identity per hidden unit")
    identity.add_argument("--latex", action="store_true", help="print LaTeX (with the derivation)")
    identity.add_argument(
        "--check",
        action="store_true",
        help="evaluate both sides numerically on a random network instead",
    )
    identity.add_argument("--activation", default="tanh", help="for --check (default tanh)")
    identity.add_argument(
        "--loss",
        default="squared",
        help="for --check: squared, logistic, cross_entropy, huber, or an expression in f, y",
    )
    identity.add_argument("--dps", type=_positive_int, default=None, help="digits (mpmath)")
    identity.add_argument("--seed", type=_positive_int, default=0, help="random network seed")
    identity.add_argument("--samples", type=_positive_int, default=8, help="batch size P")

    def reduced_arguments(command, *, default_init="1,eps,eps,eps"):
        command.add_argument("--activation", default="tanh", help="name or expression in x")
        command.add_argument("--depth", type=_positive_int, default=4, help="L (default 4)")
        command.add_argument("--width", default="16", help="N: an integer or a symbol (default 16)")
        command.add_argument(
            "--init",
            default=default_init,
            help=f"initial scale per layer, numbers or eps (default {default_init})",
        )
        command.add_argument("--teacher", default="1", help="teacher strength s (default 1)")

    ode = add("ode", commands.ode_command, "the reduced system, P(y) and the normal form")
    reduced_arguments(ode)
    escape = add("escape", commands.escape_command, "escape times τ★(ε) of the reduced flow")
    reduced_arguments(escape)
    escape.add_argument(
        "--eps", default="0.1,0.03", help="comma-separated values of ε (default 0.1,0.03)"
    )
    escape.add_argument("--dps", type=_positive_int, default=None, help="digits (mpmath)")
    escape.add_argument(
        "--system",
        choices=("manifold", "scalar"),
        default="manifold",
        help="the exact L-dimensional flow (default) or the balanced scalar reduction",
    )
    escape.add_argument(
        "--fraction", type=float, default=0.5, help="escape at this fraction of 𝓛(0)"
    )
    asym = add(
        "asymptotics",
        commands.asymptotics_command,
        "the regime, exponent, prefactor and singular expansion of τ★(ε), checked by numbers",
    )
    reduced_arguments(asym)
    asym.add_argument(
        "--eps",
        default=None,
        help="values of ε for the numeric check (default: 12 from 0.1 to 1e-4)",
    )
    asym.add_argument(
        "--system",
        choices=("manifold", "scalar"),
        default="scalar",
        help="system for the numeric check (default scalar, which the expansion describes)",
    )
    sim = add(
        "simulate",
        commands.simulate_command,
        "full-network gradient flow from He-normal init with bottleneck layers × ε",
    )
    sim.add_argument("--activation", default="tanh")
    sim.add_argument("--depth", type=_positive_int, default=5, help="L (default 5)")
    sim.add_argument("--width", type=_positive_int, default=32, help="N (default 32)")
    sim.add_argument("--init", choices=("he",), default="he", help="initialization (he)")
    sim.add_argument("--bottleneck", default="2,3,4", help="1-based layers scaled by ε")
    sim.add_argument("--eps", default="0.3,0.1,0.03", help="values of ε")
    sim.add_argument("--seeds", type=_positive_int, default=3, help="number of seeds")
    sim.add_argument(
        "--input-dim",
        type=_positive_int,
        default=None,
        help="d (default N); d = 1 uses the exact population loss",
    )
    sim.add_argument("--samples", type=_positive_int, default=256, help="P for d > 1")
    sim.add_argument("--workers", type=_positive_int, default=0, help="processes (0: all cores)")
    sim.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running dask.distributed scheduler (extra 'dask') instead of local processes",
    )
    add("classes", commands.classes_command, "the four classes and the registry's members")
    report = add("report", commands.report_command, "the main report on built-in defaults")
    report.add_argument(
        "--out",
        default="saddle-escape-report",
        metavar="DIR",
        help="where to write the figures (PNG and SVG) and summary.md "
        "(default ./saddle-escape-report)",
    )
    report.add_argument(
        "--no-figures", action="store_true", help="tables only: no simulations, no files"
    )
    figure = add("figure", commands.figure_command, "draw one of the paper's figures")
    figure.add_argument(
        "name",
        choices=("scalar-reduction", "universality", "critical-depth", "off-manifold", "imbalance"),
    )
    figure.add_argument("--out", required=True, metavar="PATH", help="file .png or .svg")
    return parser


def _fail(message: str, as_json: bool, status: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message}, ensure_ascii=False))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["classify", "sin", "--json"])  # doctest: +ELLIPSIS
    {...
      "class": "B",
      "q": 3,
    ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc), as_json)
    try:
        payload, text = args.handler(args)
    except (RecursionError, MemoryError) as exc:
        return _fail(f"input too large to process ({type(exc).__name__})", as_json)
    except TimeLimitError as exc:
        return _fail(str(exc), as_json, status=exc.status.exit_code)
    except ConvergenceError as exc:  # the numbers did not converge, or a budget ran out
        return _fail(str(exc), as_json, status=exc.status.exit_code)
    except KeyError as exc:
        return _fail(str(exc.args[0]) if exc.args else "missing key", as_json)
    except ValueError as exc:  # ExpressionError and friends: bad input
        return _fail(str(exc), as_json)
    except ArithmeticError as exc:  # float64 overflow
        return _fail(str(exc), as_json, status=Status.NON_FINITE.exit_code)
    except Exception as exc:  # a bug of ours: say so in one line, still no traceback
        return _fail(f"internal error ({type(exc).__name__}: {exc}); please report it", as_json, 1)
    if args.json:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
