import contextlib
import io
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_report_has_the_registry_table(capsys):
    status, out, _ = run(capsys, "report", "--no-figures")
    assert status == 0
    assert "mish" in out and "8/25" in out


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
    assert data["layers"] == [{"layer": 1, "residual": "0"}, {"layer": 2, "residual": "0"}]
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


def test_report_has_the_identity_section(capsys):
    status, out, _ = run(capsys, "report", "--no-figures", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["identity"]["exact"]["verified"] is True
    assert data["identity"]["numeric"]["max_relative_difference"] < 1e-25


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
    assert data["prefactor_numeric"] == pytest.approx(data["prefactor_value"], rel=1e-6)
    assert len(data["tau"]) == len(data["eps"]) == 6


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
        (["ode", "--activation", "x + a*x"], "free parameters"),
        (["asymptotics", "--activation", "relu", "--init", "eps,eps,eps,1"], "piecewise"),
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


def test_figure_bad_path(capsys, tmp_path):
    status, _, err = run(capsys, "figure", "imbalance", "--out", str(tmp_path / "x.pdf"))
    assert status == 2 and ".png or .svg" in err


@pytest.mark.slow
def test_report_writes_every_figure_and_a_summary(capsys, tmp_path):
    status, _, _ = run(capsys, "report", "--out", str(tmp_path))
    assert status == 0
    for name in ("scalar-reduction", "universality", "critical-depth", "off-manifold", "imbalance"):
        assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.svg").exists()
    assert "## Agreement with full networks" in (tmp_path / "summary.md").read_text()
