"""The ``saddle-escape`` command line.

Every command prints a human-readable table by default and one JSON object with
``--json`` (strict JSON: a non-finite number is printed as ``null`` and listed under
``"non_finite"``). Exit statuses: 0 success, 2 bad input, 3 no escape / not converged,
4 budget or time limit, 130 interrupted (Ctrl-C). A failure prints one line ``error: …``
on stderr (and ``{"error": "…"}`` on stdout with ``--json``), never a traceback; Python
warnings raised while a command runs are printed as one ``warning: …`` line each.

``--time-limit SECONDS`` before the command (or after it, for every command but
``classify``, whose own ``--time-limit`` bounds its symbolic work) bounds the whole command
by wall clock, enforced with ``SIGALRM`` in the main thread (exit status 4 on expiry).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from saddle_escape import commands
from saddle_escape.numeric.optimizers import KINDS
from saddle_escape.symbolic.outcomes import ConvergenceError, Status, TimeLimitError
from saddle_escape.symbolic.timeouts import time_limit

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    pass


#: Exit status after Ctrl-C (128 + SIGINT) and after the reader of stdout went away
#: (128 + SIGPIPE), as a shell reports a process killed by those signals.
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
#: At most this many ``warning: …`` lines are printed after a command.
_MAX_WARNING_LINES = 5

_DASH_HINT = (
    "; an expression that starts with '-' can be written --activation=-tanh(x), or put "
    "after '--' (classify -- '-tanh(x)')"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit status 2
        if "unrecognized arguments: -" in message or "expected one argument" in message:
            message += _DASH_HINT
        raise _UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _count(text: str) -> int:
    """A whole number of at least 1 (seeds, widths, samples)."""
    value = _positive_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected positive seconds, got {text!r}")
    return value


def _widths(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers, every entry present (``3,,3,1`` is refused)."""
    parts = [p.strip() for p in text.split(",")]
    for position, part in enumerate(parts, 1):
        if not part:
            raise argparse.ArgumentTypeError(
                f"{text!r} has an empty entry at position {position}; give comma-separated "
                "whole numbers, e.g. 3,3,3,1"
            )
        if not part.isdigit():
            raise argparse.ArgumentTypeError(
                f"{text!r}: entry {part!r} is not a whole number; give e.g. 3,3,3,1"
            )
    return tuple(int(p) for p in parts)


def _version() -> str:
    try:
        return importlib.metadata.version("saddle-escape")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown (not installed)"


def _section(text: str) -> int:
    from saddle_escape.conventions import SECTION_COUNT

    try:
        n = int(text.lstrip("§"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"section must be a number, got {text!r}") from None
    if not 1 <= n <= SECTION_COUNT:
        raise argparse.ArgumentTypeError(f"section must be from 1 to {SECTION_COUNT}, got {n}")
    return n


FRACTION_HELP = (
    "escape at this fraction of 𝓛(0) (default 0.5, or halfway to a proven loss floor the "
    "flow approaches, e.g. ReLU's s²/4; the output says which)"
)


#: ``figure NAME`` choices: the keys of :data:`saddle_escape.figures.FIGURES` (a test
#: checks), listed here so that building the parser does not import matplotlib.
FIGURE_NAMES = (
    "scalar-reduction",
    "universality",
    "critical-depth",
    "off-manifold",
    "imbalance",
    "signal-geometry",
    "anisotropy",
    "mode-ratios",
    "staircase",
    "real-covariates",
    "optimizers",
)

#: Modules whose ``register(add)`` adds their commands (``predict --torch`` is in
#: ``commands_data``) (``add(name, handler, help)``
#: returns the subparser with ``--json`` and ``--time-limit`` already on it). None of them
#: imports an optional extra at import time.
_COMMAND_MODULES = (
    "saddle_escape.commands_data",
    "saddle_escape.commands_sweep",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``saddle-escape`` (for documentation tools and tests)."""
    parser = _Parser(
        prog="saddle-escape",
        description="Saddle escape in deep nonlinear networks (Rawal & DeWeese, "
        "arXiv:2605.01288): universality classes, the imbalance identity, escape times.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--time-limit",
        dest="global_time_limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="wall-clock limit on the whole command (exit status 4 when reached)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--json", action="store_true", help="print one JSON object")
        if name != "classify":  # classify's own --time-limit bounds its symbolic work
            command.add_argument(
                "--time-limit",
                dest="command_time_limit",
                type=_seconds,
                default=None,
                metavar="SECONDS",
                help="wall-clock limit on the whole command (exit status 4 when reached)",
            )
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
        type=_widths,
        default=(3, 3, 3, 1),
        metavar="D,N1,...,DOUT",
        help="layer widths, input first (default 3,3,3,1)",
    )
    identity.add_argument("--bias", action="store_true", help="networks with biases")
    identity.add_argument("--neuronwise", action="store_true", help="one identity per hidden unit")
    identity.add_argument(
        "--latex", action="store_true", help="print LaTeX (with the derivation); not with --check"
    )
    identity.add_argument(
        "--check",
        action="store_true",
        help="evaluate both sides numerically on a random network instead",
    )
    # The options of --check default to None so that giving one without --check is an error.
    identity.add_argument("--activation", default=None, help="for --check (default tanh)")
    identity.add_argument(
        "--loss",
        default=None,
        help="for --check: squared (default), logistic, cross_entropy, huber, or an "
        "expression in f, y",
    )
    identity.add_argument(
        "--dps", type=_positive_int, default=None, help="for --check: digits (mpmath)"
    )
    identity.add_argument(
        "--seed", type=_positive_int, default=None, help="for --check: random network seed (0)"
    )
    identity.add_argument(
        "--samples", type=_count, default=None, help="for --check: batch size P (default 8)"
    )

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

    def escape_arguments(command, *, eps, eps_help, system, system_help):
        command.add_argument("--eps", default=eps, help=eps_help)
        command.add_argument(
            "--system", choices=("manifold", "scalar"), default=system, help=system_help
        )
        command.add_argument("--fraction", type=float, default=None, help=FRACTION_HELP)
        command.add_argument(
            "--biases",
            default=None,
            help="trainable biases starting at 0: output, all, or 1-based layers (manifold "
            "system; the output bias lets class D escape)",
        )

    ode = add("ode", commands.ode_command, "the reduced system, P(y) and the normal form")
    reduced_arguments(ode)
    escape = add("escape", commands.escape_command, "escape times τ★(ε) of the reduced flow")
    reduced_arguments(escape)
    escape_arguments(
        escape,
        eps="0.1,0.03",
        eps_help="comma-separated values of ε (default 0.1,0.03)",
        system="manifold",
        system_help="the exact L-dimensional flow (default) or the balanced scalar reduction",
    )
    escape.add_argument("--dps", type=_positive_int, default=None, help="digits (mpmath)")
    asym = add(
        "asymptotics",
        commands.asymptotics_command,
        "the regime, exponent, prefactor and singular expansion of τ★(ε), checked by numbers",
    )
    reduced_arguments(asym)
    escape_arguments(
        asym,
        eps=None,
        eps_help="values of ε for the numeric check (default: 12 from 0.1 to 1e-4)",
        system="scalar",
        system_help="system for the numeric check (default scalar, which the expansion describes)",
    )
    asym.add_argument("--quiet", action="store_true", help="no progress bar")
    sim = add(
        "simulate",
        commands.simulate_command,
        "full-network gradient flow from He-normal init with bottleneck layers × ε",
    )
    sim.add_argument("--activation", default="tanh")
    sim.add_argument("--depth", type=_positive_int, default=5, help="L (default 5)")
    sim.add_argument("--width", default="32", help="N: an integer (default 32)")
    sim.add_argument(
        "--init",
        default=None,
        help="per layer, as in ode/escape: he (He-normal) or he*eps (He-normal times ε; "
        "'eps' means the same), e.g. he,he*eps,he*eps,he*eps,he (default: from --bottleneck)",
    )
    sim.add_argument(
        "--bottleneck",
        default=None,
        help="shorthand for --init: the 1-based layers at he*eps (default 2,3,4)",
    )
    sim.add_argument("--eps", default="0.3,0.1,0.03", help="values of ε")
    sim.add_argument("--seeds", type=_count, default=3, help="number of seeds (at least 1)")
    sim.add_argument(
        "--input-dim",
        type=_count,
        default=None,
        help="d (default N); d = 1 uses the exact population loss",
    )
    sim.add_argument("--samples", type=_count, default=256, help="P for d > 1 (default 256)")
    sim.add_argument(
        "--data",
        default=None,
        metavar="SOURCE",
        help="train on a data set instead of Gaussian samples (the data set is the "
        "population): a .npz/.npy/.csv file, a bundled scikit-learn set (digits, wine, …; "
        "extra 'data') or gaussian:D:N; d and P come from it",
    )
    sim.add_argument("--target", default=None, metavar="COLUMN", help="with --data: the target")
    sim.add_argument(
        "--labels",
        default="centred",
        metavar="ENCODING",
        help="with --data: the target encoding (centred, ovr:K, parity, linear:J, …)",
    )
    sim.add_argument(
        "--threshold",
        choices=("loss", "overlap"),
        default="loss",
        help="escape when the loss falls to 1/2 of its start (default) or when the overlap "
        "E[f·ĉᵀx] reaches 1/2 of Γ (conventions §5)",
    )
    sim.add_argument(
        "--optimizer",
        choices=KINDS,
        default="flow",
        help="flow (default: gradient flow, adaptive), gd, sgd (minibatches) or momentum "
        "(heavy ball); τ★ is in gradient-flow time, steps × η",
    )
    sim.add_argument(
        "--lr",
        type=float,
        default=None,
        help="the step η of gd, sgd and momentum (default 0.01)",
    )
    sim.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="minibatch size B (sgd; optional for momentum)",
    )
    sim.add_argument(
        "--momentum", type=float, default=None, help="heavy-ball μ in [0, 1) (default 0.9)"
    )
    sim.add_argument(
        "--replacement",
        action="store_true",
        help="draw minibatch rows with replacement (default: without, epoch by epoch)",
    )
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
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
        "(default ./saddle-escape-report; created if its parent directory exists)",
    )
    report.add_argument(
        "--no-figures", action="store_true", help="tables only: no simulations, no files"
    )
    report.add_argument(
        "--quiet", action="store_true", help="no progress bar (off anyway when not a terminal)"
    )
    conventions = add(
        "conventions",
        commands.conventions_command,
        "print the conventions (model, classes, τ★, digits, statuses) that outputs cite as §N",
    )
    conventions.add_argument(
        "section",
        nargs="?",
        type=_section,
        default=None,
        metavar="N",
        help="print only section §N (1-8)",
    )
    figure = add("figure", commands.figure_command, "draw one of the paper's figures")
    figure.add_argument("--quiet", action="store_true", help="no progress bar")
    figure.add_argument(
        "name",
        choices=FIGURE_NAMES,
    )
    figure.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="file .png or .svg, in an existing directory (default ./NAME.png)",
    )
    for name in _COMMAND_MODULES:  # commands of the data, sweep and torch sides
        importlib.import_module(name).register(add)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _lookup(options: dict, token: str):
    """The action of option ``token`` (exact, or an unambiguous ``--long`` prefix), or None."""
    if token in options:
        return options[token]
    if token.startswith("--") and "=" not in token:
        matches = {a for name, a in options.items() if name.startswith(token)}
        if len(matches) == 1:
            return matches.pop()
    return None


def _dash_expressions(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Let an expression that starts with '-' reach its positional or its option.

    argparse takes ``-tanh(x)`` for an unknown option. After a command, a value of an
    option (``--activation -tanh(x)``) is joined to it (``--activation=-tanh(x)``), and a
    positional (``classify -tanh(x)``) is moved to the end after ``--``. Known options
    keep their meaning; an argv that already has ``--`` is left alone.
    """
    if "--" in argv:
        return argv
    commands_by_name = _subcommands(parser)
    i = 0
    while i < len(argv) and argv[i] not in commands_by_name:
        action = _lookup(parser._option_string_actions, argv[i])
        i += 2 if action is not None and action.nargs != 0 and "=" not in argv[i] else 1
    if i >= len(argv):
        return argv
    command = commands_by_name[argv[i]]
    options = command._option_string_actions
    wants_positional = any(not a.option_strings for a in command._actions)
    out, moved, positional_seen = argv[: i + 1], [], False
    j = i + 1
    while j < len(argv):
        token = argv[j]
        action = _lookup(options, token)
        if action is not None:
            if action.nargs != 0 and j + 1 < len(argv):  # an option with a value
                value = argv[j + 1]
                starts_with_dash = value.startswith("-") and len(value) > 1
                if starts_with_dash and _lookup(options, value) is None:
                    out.append(f"{token}={value}")
                else:
                    out += [token, value]
                j += 2
                continue
            out.append(token)
        elif (
            wants_positional
            and not positional_seen
            and token.startswith("-")
            and not token.startswith("--")
            and len(token) > 1
        ):
            moved.append(token)
            positional_seen = True
        else:
            positional_seen = positional_seen or not token.startswith("-")
            out.append(token)
        j += 1
    return out + (["--", *moved] if moved else [])


def _strict_json(value, path: str, notes: list[str]):
    """``value`` with every non-finite float replaced by ``None`` (its path noted)."""
    if isinstance(value, dict):
        return {
            k: _strict_json(v, f"{path}.{k}" if path else str(k), notes) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_strict_json(v, f"{path}[{n}]", notes) for n, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _strict_json(value.tolist(), path, notes)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{path or 'value'} is {value!r}, printed as null")
        return None
    return value


def _dumps(payload) -> str:
    """Strict JSON (``allow_nan=False``): non-finite numbers become null, listed in a note."""
    notes: list[str] = []
    data = _strict_json(payload, "", notes)
    if notes and isinstance(data, dict):
        data["non_finite"] = notes
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


def _fail(message: str, as_json: bool, status: int = 2, command: str | None = None) -> int:
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        payload = {"version": _version(), "command": command, "error": message}
        print(json.dumps(payload, ensure_ascii=False))
    return status


def _warning_lines(caught) -> list[str]:
    """One tidy line per distinct warning message (no category, no source line)."""
    lines: list[str] = []
    for w in caught:
        text = " ".join(str(w.message).split())
        text = text if len(text) <= 300 else text[:299] + "…"
        line = f"warning: {text}"
        if line not in lines:
            lines.append(line)
    if len(lines) > _MAX_WARNING_LINES:
        hidden = len(lines) - _MAX_WARNING_LINES
        lines = lines[:_MAX_WARNING_LINES] + [f"warning: {hidden} more warning(s) not shown"]
    return lines


def _run(args) -> tuple[int, object, str, str | None, list]:
    """Run the handler of ``args``: ``(exit status, payload, text, error, warnings)``.

    A handler returns ``(payload, text)``, or ``(payload, text, status)`` with a
    :class:`Status`; a failed status keeps its payload and text (they are printed) and
    gives the exit status and the error line. An exception gives only the error line.
    """
    limits = [
        t
        for t in (args.global_time_limit, getattr(args, "command_time_limit", None))
        if t is not None
    ]
    what = f"the command '{args.command}'"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each warning once per place it is raised from
        try:
            with time_limit(min(limits) if limits else None, what):
                payload, text, *rest = args.handler(args)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except (RecursionError, MemoryError) as exc:
            return 2, None, "", f"input too large to process ({type(exc).__name__})", caught
        except TimeLimitError as exc:
            return exc.status.exit_code, None, "", str(exc), caught
        except ConvergenceError as exc:  # the numbers did not converge, or a budget ran out
            return exc.status.exit_code, None, "", str(exc), caught
        except KeyError as exc:
            return 2, None, "", str(exc.args[0]) if exc.args else "missing key", caught
        except ValueError as exc:  # ExpressionError and friends: bad input
            return 2, None, "", str(exc), caught
        except ArithmeticError as exc:  # float64 overflow
            return Status.NON_FINITE.exit_code, None, "", str(exc), caught
        except OSError as exc:  # a file that cannot be written, a service that does not answer
            where = f": {exc.filename}" if exc.filename else ""
            return 2, None, "", f"{exc.strerror or exc}{where}", caught
        except Exception as exc:  # a bug of ours: say so in one line, still no traceback
            message = f"internal error ({type(exc).__name__}: {exc}); please report it"
            return 1, None, "", message, caught
    status = rest[0] if rest else Status.SUCCESS
    if status.ok:
        return 0, payload, text, None, caught
    return status.exit_code, payload, text, status.message, caught


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _main(argv: list[str], as_json: bool) -> int:
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    try:
        args = parser.parse_args(_dash_expressions(parser, argv))
    except _UsageError as exc:
        return _fail(str(exc), as_json)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    status, payload, text, error, caught = _run(args)
    if payload is None and error is not None:  # an exception: the error line only
        return _fail(_one_line(error), as_json, status, args.command)
    if isinstance(payload, dict):  # JSON contract v1: who made it, and which command
        payload = {"version": _version(), "command": args.command, **payload}
    try:
        output = _dumps(payload) if args.json else text
    except (TypeError, ValueError) as exc:
        return _fail(f"internal error (JSON: {exc}); please report it", as_json, 1, args.command)
    if error is None:
        for line in _warning_lines(caught):
            print(line, file=sys.stderr)
    else:  # a failed status: the result is printed, the error line says why
        print(f"error: {_one_line(error)}", file=sys.stderr)
    print(output)
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
    return status


def _stdout_to_devnull() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests, notebooks)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Exit statuses: 0 success, 2 bad input, 3 no escape or not converged, 4 budget or time
    limit, 130 interrupted, 141 stdout closed by its reader (``| head``), 1 a bug.

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
    try:
        return _main(argv, as_json)
    except KeyboardInterrupt:
        try:
            print("error: interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
