import contextlib
import importlib.metadata
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saddle_escape.symbolic.outcomes import Status

from saddle_escape import commands
from saddle_escape.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_classify_json_contract(capsys):
    status, out, err = run(capsys, "classify", "gelu", "--json")
    assert status == 0 and err == ""
    data = json.loads(out)
    assert data["name"] == "gelu" and data["class"] == "C" and data["q"] == 2
    assert data["leading_coefficient"] == "sqrt(2)/(2*sqrt(pi))"
    assert data["leading_coefficient_value"] == pytest.approx((2 * 3.141592653589793) ** -0.5)
    assert data["alpha"] == "1/2" and data["sigma0"] == "0" and data["sigma0_value"] == 0.0
    assert data["smoothness"] == "analytic" and data["sides"] is None
    assert data["conditions"] == [] and data["warnings"] == []
    assert [t["order"] for t in data["phi_series"]] == [2, 4, 6]


def test_classify_order_controls_the_series(capsys):
    _, out, _ = run(capsys, "classify", "tanh", "--order", "9", "--json")
    assert [t["order"] for t in json.loads(out)["phi_series"]] == [3, 5, 7, 9]


def test_classify_sides_and_conditions_in_json(capsys):
    _, out, _ = run(capsys, "classify", "elu", "--json")
    sides = json.loads(out)["sides"]
    assert (sides["left"]["class"], sides["left"]["q"], sides["right"]["class"]) == ("C", 2, "A")
    _, out, _ = run(capsys, "classify", "x + a*x**2", "--json")
    assert [c["class"] for c in json.loads(out)["conditions"]] == ["C", "A"]


def test_classify_text_output(capsys):
    status, out, _ = run(capsys, "classify", "x + a*x**2")
    assert status == 0
    assert "class       C" in out and "Ne(a, 0)" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["classify", "__import__('os').system('echo hacked')"], "only calls of listed function"),
        (["classify", "__import__('os')"], "unknown function '__import__'"),
        (["classify", "1/x"], "singular"),
        (["classify", "x +"], "not valid syntax"),
        (["classify", "tanh", "--order", "99"], "order must be"),
        (["classify"], "required"),
        (["nonsense"], "invalid choice"),
        (["classify", "tanh", "--time-limit", "-1"], "positive seconds"),
    ],
)
def test_bad_input_is_one_error_line_and_status_2(capsys, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err
    status, out, err = run(capsys, *argv, "--json")
    assert status == 2 and json.loads(out)["error"] and err.startswith("error: ")


def test_classes_lists_the_four_classes(capsys):
    status, out, _ = run(capsys, "classes", "--json")
    data = json.loads(out)
    assert status == 0
    assert [c["class"] for c in data["classes"]] == ["A", "B", "C", "D"]
    assert "sigmoid" in data["classes"][3]["members"] and "relu" in data["classes"][0]["members"]


def test_report_has_the_registry_table_the_identity_and_every_asymptotics_row(capsys):
    # One report run (about 50 s: every registry entry is expanded) serves three checks.
    status, out, _ = run(capsys, "report", "--no-figures", "--json")
    data = json.loads(out)
    assert status == 0
    mish = next(r for r in data["activations"] if r["name"] == "mish")
    assert mish["leading_coefficient"] == "8/25"
    assert data["identity"]["exact"]["verified"] is True
    assert data["identity"]["numeric"]["max_relative_difference"] < 1e-25
    rows = {r["activation"]: r for r in data["asymptotics"]}
    assert rows["relu"]["prefactor"] == "2" and rows["relu"]["regime"] == "power"
    assert rows["sigmoid"]["regime"] == "none" and rows["tanh"]["exponent"] == 1
    biased = rows["sigmoid + output bias"]
    assert biased["regime"] == "power" and biased["biases"] == [4] and biased["lambda"] == "5"


@settings(max_examples=30)
@given(st.text(min_size=1, max_size=40))
def test_no_input_makes_a_traceback(text):
    out_buffer, err_buffer = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out_buffer), contextlib.redirect_stderr(err_buffer):
        status = main(["classify", text, "--json"])
    out, err = out_buffer.getvalue(), err_buffer.getvalue()
    assert status in (0, 2)
    assert "Traceback" not in err
    if status == 2:
        assert json.loads(out)["error"]


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "saddle_escape", "classify", "sigmoid", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["class"] == "D"


def test_identity_symbolic_json_contract(capsys):
    status, out, _ = run(capsys, "identity", "--widths", "3,3,3,1", "--json")
    data = json.loads(out)
    assert status == 0 and data["verified"] is True and data["widths"] == [3, 3, 3, 1]
    assert data["layers"] == [
        {"layer": 1, "residual": "0", "residual_value": 0.0},
        {"layer": 2, "residual": "0", "residual_value": 0.0},
    ]
    assert data["seconds"] >= 0


def test_identity_neuronwise_bias_latex(capsys):
    status, out, _ = run(
        capsys, "identity", "--widths", "2,3,1", "--neuronwise", "--bias", "--latex"
    )
    assert status == 0
    assert "\\begin{align*}" in out and "b_{l,j}" in out
    _, out, _ = run(capsys, "identity", "--widths", "2,3,1", "--neuronwise", "--json")
    assert [(row["layer"], row["unit"]) for row in json.loads(out)["layers"]] == [
        (1, 1),
        (1, 2),
        (1, 3),
    ]


def test_identity_numeric_check_json_contract(capsys):
    argv = [
        "identity",
        "--check",
        "--activation",
        "tanh",
        "--loss",
        "squared",
        "--widths",
        "5,4,4,1",
        "--dps",
        "50",
        "--seed",
        "3",
        "--json",
    ]
    status, out, _ = run(capsys, *argv)
    data = json.loads(out)
    assert status == 0
    assert [row["layer"] for row in data["layers"]] == [1, 2]
    for row in data["layers"]:
        assert row["lhs"][:45] == row["rhs"][:45]
    assert data["max_relative_difference"] < 1e-40


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["identity", "--widths", "3,1"], "at least two"),
        (["identity", "--check", "--loss", "f.x"], "not allowed"),
        (["identity", "--check", "--activation", "x + a*x"], "free parameter"),
        (["identity", "--check", "--dps", "5"], "dps must be"),
    ],
)
def test_identity_bad_input(capsys, argv, fragment):
    status, _, err = run(capsys, *argv)
    assert status == 2 and fragment in err


def test_escape_json_contract(capsys):
    argv = [
        "escape",
        "--activation",
        "linear",
        "--depth",
        "4",
        "--width",
        "16",
        "--init",
        "eps,eps,eps,eps",
        "--eps",
        "0.1,0.03",
        "--dps",
        "30",
        "--system",
        "scalar",
        "--json",
    ]
    status, out, _ = run(capsys, *argv)
    data = json.loads(out)
    assert status == 0
    assert [p["eps"] for p in data["points"]] == ["0.1", "0.03"]
    assert data["points"][1]["tau"].startswith("554.93415009967473056052187")
    assert all(p["digits"] >= 27 for p in data["points"])


def test_asymptotics_json_contract(capsys):
    argv = [
        "asymptotics",
        "--activation",
        "tanh",
        "--depth",
        "4",
        "--width",
        "16",
        "--init",
        "1,eps,eps,eps",
        "--eps",
        "0.05,0.025,0.0125,0.00625,0.003125,0.0015625",
        "--json",
    ]
    status, out, _ = run(capsys, *argv)
    data = json.loads(out)
    assert status == 0
    assert (data["r"], data["regime"], data["exponent"]) == (3, "power", 1)
    assert data["terms"][0]["eps_power"] == -1 and data["terms"][0]["log_power"] == 0
    assert data["fit"]["prefactor"] == pytest.approx(data["prefactor_value"], rel=1e-6)
    assert data["fit"]["exponent"] == pytest.approx(1, abs=1e-4)
    assert len(data["points"]) == 6 and all(
        isinstance(p["tau_value"], float) for p in data["points"]
    )


def test_relu_asymptotics_are_exact_and_confirmed_by_escape_times(capsys):
    # ReLU at L = 4, 1,eps,eps,eps: each small layer acts with its one-sided slope, so
    # P(y) has exact half-line moments and the prefactor is exactly 2.
    eps = "0.02,0.01,0.005,0.0025,0.00125"
    status, out, _ = run(capsys, "asymptotics", "--activation", "relu", "--eps", eps, "--json")
    data = json.loads(out)
    assert status == 0 and (data["regime"], data["exponent"], data["prefactor"]) == (
        "power",
        1,
        "2",
    )
    fit = data["fit"]
    assert abs(fit["prefactor"] - 2) <= fit["prefactor_error"] and abs(fit["exponent"] - 1) < 1e-3


def test_ode_prints_the_system(capsys):
    status, out, _ = run(capsys, "ode", "--activation", "linear", "--init", "eps,eps,eps,eps")
    assert status == 0
    assert "P(y) = (y - 1)**2*(y + 1)**2*(y**2 + 1)**2/2" in out
    assert "dy/dt = y**3*(1 - y**4)" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["escape", "--eps", "2"], "must be in (0, 1)"),
        (["escape", "--eps", "abc"], "not a number"),
        (["escape", "--init", "1,1,1,1"], "no 'eps'"),
        (["escape", "--depth", "3"], "depth is 3"),
        (["ode", "--activation", "x + a*x"], "free parameter"),
    ],
)
def test_reduced_commands_bad_input(capsys, argv, fragment):
    status, _, err = run(capsys, *argv)
    assert status == 2 and fragment in err


@pytest.mark.parametrize("name, ext", [("imbalance", "svg"), ("scalar-reduction", "png")])
def test_figure_command_writes_a_file(capsys, tmp_path, name, ext):
    path = tmp_path / f"{name}.{ext}"
    status, out, _ = run(capsys, "figure", name, "--out", str(path), "--json")
    assert status == 0 and path.stat().st_size > 1000
    data = json.loads(out)["data"]
    if name == "imbalance":
        assert data["max_gap"] < 1e-6  # the drift is the integral of the identity
    else:
        assert data["max_manifold_distance"] < 1e-12


def test_figure_choices_are_the_registered_figures():
    from saddle_escape.cli import FIGURE_NAMES
    from saddle_escape.figures import FIGURES, REPORT_FIGURES
    from saddle_escape.render import CAPTIONS

    assert FIGURE_NAMES == tuple(FIGURES) and set(CAPTIONS) == set(FIGURES)
    assert set(REPORT_FIGURES) < set(FIGURES)


def test_figure_bad_path(capsys, tmp_path):
    status, _, err = run(capsys, "figure", "imbalance", "--out", str(tmp_path / "x.pdf"))
    assert status == 2 and ".png or .svg" in err


@pytest.mark.slow
def test_report_writes_every_figure_and_a_summary(capsys, tmp_path):
    status, _, _ = run(capsys, "report", "--out", str(tmp_path))
    assert status == 0
    from saddle_escape.figures import REPORT_FIGURES

    for name in REPORT_FIGURES:
        assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.svg").exists()
    assert "## Agreement with full networks" in (tmp_path / "summary.md").read_text()


# -- CLI robustness (issue 14 items 8, 9, 10, 18, 20, 21) --------------------------------


def _strict_loads(text):
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def _replace_handler(monkeypatch, name, handler):
    """Make command ``name`` run ``handler`` (the parser is built on each call of main)."""
    monkeypatch.setattr(commands, f"{name}_command", handler)


def test_json_never_prints_non_finite_tokens(capsys, monkeypatch):
    payload = {"tau": float("inf"), "points": [{"x": float("nan")}, {"x": -np.inf}], "ok": 1.5}
    _replace_handler(monkeypatch, "classes", lambda args: (payload, "text"))
    status, out, err = run(capsys, "classes", "--json")
    assert status == 0 and err == ""
    assert "Infinity" not in out and "NaN" not in out
    data = _strict_loads(out)
    assert data["tau"] is None and data["points"] == [{"x": None}, {"x": None}]
    assert data["ok"] == 1.5
    assert data["non_finite"] == [
        "tau is inf, printed as null",
        "points[0].x is nan, printed as null",
        "points[1].x is -inf, printed as null",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["classify", "x + exp(1000)*x**2", "--json"],
        ["identity", "--check", "--activation", "exp(1/x)", "--json"],
    ],
)
def test_json_of_issue_14_item_8_is_strict(capsys, argv):
    status, out, _ = run(capsys, *argv)
    assert status in (0, 2)
    _strict_loads(out)


def test_figure_does_not_create_a_missing_directory(capsys, tmp_path):
    target = tmp_path / "missing" / "deeper" / "a.png"
    start = time.monotonic()
    status, _, err = run(capsys, "figure", "imbalance", "--out", str(target))
    assert status == 2 and time.monotonic() - start < 5
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(tmp_path / "missing" / "deeper") in err and "does not exist" in err
    assert not (tmp_path / "missing").exists()
    status, _, err = run(capsys, "figure", "imbalance", "--out", "/nonexistent_dir/a.png")
    assert status == 2 and "'/nonexistent_dir'" in err
    assert not os.path.exists("/nonexistent_dir")


@pytest.fixture
def no_figure_work(monkeypatch):
    """Fail the test if a figure (or the report's tables) would be computed."""
    from saddle_escape import figures

    def refuse(*args, **kwargs):
        raise AssertionError("computation started before the output path was checked")

    for name in figures.FIGURES:
        monkeypatch.setitem(figures.FIGURES, name, refuse)
    from saddle_escape import report

    monkeypatch.setattr(report, "registry_classifications", refuse)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
@pytest.mark.usefixtures("no_figure_work")
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["figure", "imbalance", "--out", "/proc/a.png"], "cannot write '/proc/a.png'"),
        (["report", "--out", "/proc/saddle-report"], "cannot write '/proc/saddle-report'"),
        (["report", "--out", "/proc/self/nonexistent/x"], "does not exist"),
        (["report", "--out", "/etc/hostname"], "is an existing file"),
    ],
)
def test_unwritable_outputs_fail_before_any_work(capsys, argv, fragment):
    start = time.monotonic()
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err
    assert time.monotonic() - start < 5


@pytest.mark.usefixtures("no_figure_work")
def test_report_out_onto_an_existing_file_or_missing_parent(capsys, tmp_path):
    existing = tmp_path / "summary.txt"
    existing.write_text("keep me")
    status, _, err = run(capsys, "report", "--out", str(existing))
    assert status == 2 and "is an existing file" in err
    assert existing.read_text() == "keep me"
    status, _, err = run(capsys, "report", "--out", str(tmp_path / "a" / "b"))
    assert status == 2 and "does not exist" in err and not (tmp_path / "a").exists()


def test_output_checks_create_nothing(tmp_path):
    from saddle_escape.figures import check_output_dir, check_output_file

    check_output_dir(tmp_path / "new")  # its parent exists: accepted, not created
    assert not (tmp_path / "new").exists()
    check_output_file(tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
    existing = tmp_path / "b.svg"
    existing.write_text("old")
    check_output_file(existing)  # an existing file may be overwritten; unchanged for now
    assert existing.read_text() == "old" and list(tmp_path.iterdir()) == [existing]
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        check_output_file(tmp_path / "d.png")


def test_broken_pipe_is_quiet():
    proc = subprocess.Popen(
        [sys.executable, "-m", "saddle_escape", "classify", "tanh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before anything is written (like `| head`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) in (0, 141)
    assert err == ""


def test_classify_into_head_has_no_traceback():
    proc = subprocess.run(
        f"{sys.executable} -m saddle_escape classify tanh | head -3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.count("\n") == 3 and proc.stderr == ""


def test_keyboard_interrupt_is_one_line(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    _replace_handler(monkeypatch, "classes", interrupted)
    status, out, err = run(capsys, "classes")
    assert (status, out, err) == (130, "", "error: interrupted\n")


def test_ctrl_c_in_a_real_process():
    driver = (
        "import sys; from saddle_escape.cli import main; "
        "print('ready', file=sys.stderr, flush=True); "
        "sys.exit(main(['report', '--no-figures']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seen = b""
    while b"ready" not in seen:  # imported; main is about to run
        chunk = proc.stderr.read1(256)
        assert chunk, seen
        seen += chunk
    time.sleep(1.0)  # inside the report's work
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    err = (seen + rest).decode()
    assert proc.returncode == 130
    assert "Traceback" not in err and err.rstrip().endswith("error: interrupted")
    assert err.replace("ready", "").strip() == "error: interrupted"


def test_warnings_are_tidy_lines(capsys, monkeypatch):
    def noisy(args):
        for _ in range(3):
            warnings.warn("overflow encountered in exp", RuntimeWarning, stacklevel=1)
        warnings.warn("Casting complex values to real", np.exceptions.ComplexWarning, stacklevel=1)
        warnings.warn("All components of y0\nmust be finite", UserWarning, stacklevel=1)
        return {"value": 1}, "done"

    _replace_handler(monkeypatch, "classes", noisy)
    status, out, err = run(capsys, "classes")
    assert status == 0 and out == "done\n"
    assert err.splitlines() == [
        "warning: overflow encountered in exp",
        "warning: Casting complex values to real",
        "warning: All components of y0 must be finite",
    ]


def test_a_failure_with_warnings_is_still_one_line(capsys, monkeypatch):
    def noisy_failure(args):
        warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        raise ValueError("bad\ninput")

    _replace_handler(monkeypatch, "classes", noisy_failure)
    status, out, err = run(capsys, "classes", "--json")
    assert status == 2 and err == "error: bad input\n"
    version = importlib.metadata.version("saddle-escape")
    assert _strict_loads(out) == {"version": version, "command": "classes", "error": "bad input"}


def test_a_failed_status_prints_the_result_and_one_error_line(capsys, monkeypatch):
    _replace_handler(
        monkeypatch, "classes", lambda args: ({"status": "no_escape"}, "t", Status.NO_ESCAPE)
    )
    status, out, err = run(capsys, "classes", "--json")
    version = importlib.metadata.version("saddle-escape")
    expected = {"version": version, "command": "classes", "status": "no_escape"}
    assert status == 3 and _strict_loads(out) == expected
    assert err == f"error: {Status.NO_ESCAPE.message}\n"
    _replace_handler(monkeypatch, "classes", lambda args: ({}, "t", Status.BUDGET_EXHAUSTED))
    assert run(capsys, "classes")[0] == 4


def test_os_errors_are_one_line(capsys, monkeypatch):
    def refused(args):
        raise ConnectionRefusedError(111, "Connection refused")

    _replace_handler(monkeypatch, "classes", refused)
    status, _, err = run(capsys, "classes")
    assert status == 2 and err == "error: Connection refused\n"


@pytest.mark.parametrize(
    "argv, expression",
    [
        (["classify", "-tanh(x)"], "-tanh(x)"),
        (["classify", "-tanh(x)", "--json"], "-tanh(x)"),
        (["classify", "--json", "-x**3 + x"], "-x**3 + x"),
        (["classify", "--order", "3", "-sin(x)", "--json"], "-sin(x)"),
        (["--time-limit", "30", "classify", "-tanh(x)", "--json"], "-tanh(x)"),
        (["classify", "--json", "--", "-tanh(x)"], "-tanh(x)"),
    ],
)
def test_an_expression_may_start_with_a_minus(capsys, argv, expression):
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    data = json.loads(out) if "--json" in argv else None
    assert data is None or data["expression"].replace(" ", "") == expression.replace(" ", "")


def test_an_option_value_may_start_with_a_minus(capsys, monkeypatch):
    seen = {}

    def record(args):
        seen.update(vars(args))
        return {}, ""

    _replace_handler(monkeypatch, "ode", record)
    status, _, err = run(capsys, "ode", "--activation", "-tanh(x)", "--teacher", "-1")
    assert status == 0, err
    assert seen["activation"] == "-tanh(x)" and seen["teacher"] == "-1"


def test_a_stray_dash_argument_hints_at_the_double_dash(capsys):
    status, _, err = run(capsys, "classify", "tanh", "-x")
    assert status == 2 and "'--'" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "widths, fragment",
    [
        ("3,,3,1", "empty entry at position 2"),
        ("3,3,1,", "empty entry at position 4"),
        (",3,3,1", "empty entry at position 1"),
        ("3,a,1", "not a whole number"),
        ("3,-3,1", "not a whole number"),
    ],
)
def test_identity_widths_with_holes_are_refused(capsys, widths, fragment):
    status, _, err = run(capsys, "identity", "--widths", widths)
    assert status == 2 and fragment in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["identity", "--activation", "sin"], "--activation needs --check"),
        (["identity", "--loss", "logistic"], "--loss needs --check"),
        (["identity", "--seed", "0", "--dps", "30"], "--dps, --seed need --check"),
        (["identity", "--samples", "4"], "--samples needs --check"),
        (["identity", "--check", "--latex"], "--latex excludes --check"),
    ],
)
def test_identity_options_that_would_be_ignored_are_errors(capsys, argv, fragment):
    status, _, err = run(capsys, *argv)
    assert status == 2 and fragment in err and err.count("\n") == 1


@pytest.mark.parametrize("option", ["--seeds", "--input-dim", "--width", "--samples"])
def test_simulate_counts_must_be_positive(capsys, option):
    status, _, err = run(capsys, "simulate", option, "0")
    assert status == 2 and "at least 1" in err and option in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["classify", "tanh", "--time-limit", "1e300"], 0),
        (["classify", "tanh", "--time-limit", "inf"], 0),
        (["--time-limit", "1e300", "classify", "tanh"], 0),
        (["identity", "--widths", "2,2,1", "--time-limit", "1e300"], 0),
        (["classify", "tanh", "--time-limit", "abc"], 2),
        (["classify", "tanh", "--time-limit", "nan"], 2),
        (["--time-limit", "abc", "classify", "tanh"], 2),
        (["--time-limit", "0", "classes"], 2),
        (["classes", "--time-limit", "-1"], 2),
    ],
)
def test_time_limit_values(capsys, argv, expected):
    status, _, err = run(capsys, *argv)
    assert status == expected, err
    if expected == 2:
        assert "seconds" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--time-limit", "0.5", "asymptotics", "--activation", "tanh"],
        ["asymptotics", "--activation", "tanh", "--time-limit", "0.5"],
        ["asymptotics", "--activation", "tanh", "--time-limit", "0.5", "--json"],
    ],
)
def test_the_whole_command_is_bounded_by_the_time_limit(capsys, argv):
    start = time.monotonic()
    status, out, err = run(capsys, *argv)
    assert status == 4 and time.monotonic() - start < 0.5 + 10
    assert err.startswith("error: the command 'asymptotics' took longer than the time limit")
    assert err.count("\n") == 1
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left behind
    if "--json" in argv:
        assert "time limit" in _strict_loads(out)["error"]


def test_bare_command_prints_the_help(capsys):
    status, out, err = run(capsys)
    assert status == 2 and out == ""
    assert err.startswith("usage: saddle-escape") and "classify" in err


def test_version_and_help(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert out.strip() == f"saddle-escape {importlib.metadata.version('saddle-escape')}"
    status, out, _ = run(capsys, "classify", "--help")
    assert status == 0 and "EXPR_OR_NAME" in out


def test_simulate_refuses_a_bottleneck_layer_listed_twice(capsys):
    # It used to report r = 3 and slope −1 while scaling only layer 2 (issue 14 item 4).
    status, _, err = run(capsys, "simulate", "--bottleneck", "2,2,2", "--eps", "0.3,0.1")
    assert status == 2 and "twice" in err and err.count("\n") == 1


def test_simulate_states_the_law_for_one_bottleneck_layer(capsys):
    argv = ["simulate", "--depth", "3", "--width", "4", "--bottleneck", "2", "--eps", "0.3,0.1"]
    status, out, _ = run(capsys, *argv, "--seeds", "1", "--workers", "1", "--json")
    data = _strict_loads(out)
    # r = 1: a finite limit, slope 0 (it used to say +1).
    assert status == 0 and data["expected_slope"] == 0 and data["law"].startswith("finite")


def test_escape_refuses_a_layer_at_scale_zero(capsys):
    # It used to "escape" at τ = 99.6 while ode and asymptotics said no escape (item 7).
    status, _, err = run(capsys, "escape", "--init=0,eps,eps,eps", "--eps", "0.1")
    assert status == 2 and "scale 0" in err


def test_an_unreachable_scheduler_fails_fast(capsys):
    start = time.monotonic()
    argv = ["simulate", "--scheduler", "tcp://127.0.0.1:1", "--seeds", "1", "--eps", "0.3,0.1"]
    status, _, err = run(capsys, *argv)
    assert status == 2 and "no dask scheduler answered" in err
    assert time.monotonic() - start < 20  # it used to wait 30 s, then an internal error
