"""The ``gamma`` and ``predict`` commands: JSON contract, text tables, one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from saddle_escape.numeric.data import load_data

from saddle_escape.cli import main
from tests.saddle_escape.test_json_contract import _violations


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _contract(payload: dict, command: str) -> None:
    assert payload["command"] == command and "version" in payload
    problems: list[str] = []
    _violations(payload, "", problems)
    assert not problems, problems


def test_gamma_json_contract(capsys):
    status, out, err = run(capsys, "gamma", "--data", "iris", "--labels", "ovr:0", "--json")
    assert status == 0 and err == ""
    payload = json.loads(out)
    _contract(payload, "gamma")
    for key in ("gamma", "gamma_stderr", "n", "d", "direction", "singular_values", "preprocessing"):
        assert key in payload
    library = load_data("iris", labels="ovr:0").gamma()
    assert payload["gamma"] == pytest.approx(library.gamma, rel=1e-14)
    assert payload["gamma_stderr"] == pytest.approx(library.stderr, rel=1e-12)
    assert (payload["n"], payload["d"], len(payload["direction"])) == (150, 4, 4)
    assert payload["preprocessing"]["scale"] == "global" and payload["preprocessing"]["center"]


def test_gamma_on_a_file_with_options(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    np.savez(tmp_path / "d.npz", x=x, y=np.stack([x[:, 0], 0.5 * x[:, 1]], axis=1))
    argv = ["gamma", "--data", str(tmp_path / "d.npz"), "--labels", "raw", "--scale", "none"]
    status, out, _ = run(capsys, *argv, "--no-center", "--bootstrap", "0", "--json")
    payload = json.loads(out)
    assert status == 0 and payload["m"] == 2 and payload["gamma_stderr"] is None
    C = np.stack([x[:, 0], 0.5 * x[:, 1]], axis=1).T @ x / 80
    assert payload["singular_values"] == pytest.approx(np.linalg.svd(C, compute_uv=False))
    assert payload["preprocessing"]["center"] is False and payload["preprocessing"]["scale"] is None


def test_gamma_text_table(capsys):
    status, out, _ = run(capsys, "gamma", "--data", "wine", "--labels", "parity")
    assert status == 0
    assert "Γ̂ = ‖E[y x]‖" in out and "bootstrap s.e. (200 resamples)" in out
    assert "n = 178, d = 13" in out and "labels parity" in out


def _npz(tmp_path, x, y):
    path = tmp_path / f"bad{len(list(tmp_path.iterdir()))}.npz"
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "finite"),
        ("unknown", "unknown data source"),
        ("column", "no column 'z'"),
        ("constant", "constant"),
        ("zero", "no first-order drive: escape happens at higher order on another clock"),
        ("labels", "not understood"),
        ("scale", "expected global, feature or none"),
        ("shape", "rows"),
    ],
)
def test_gamma_errors_exit_2_with_one_line(capsys, tmp_path, case, message):
    x = np.linspace(-1, 1, 11)[:, None] * np.ones((1, 2))
    sources = {
        "nan": ["--data", _npz(tmp_path, np.where(x > 0.5, np.nan, x), x[:, 0])],
        "unknown": ["--data", "imagenet"],
        "column": ["--data", str(tmp_path / "t.csv"), "--target", "z"],
        "constant": ["--data", _npz(tmp_path, x, np.ones(11))],
        "zero": ["--data", _npz(tmp_path, x, x[:, 0] ** 2)],
        "labels": ["--data", "iris", "--labels", "open('x')"],
        "scale": ["--data", "iris", "--scale", "minmax"],
        "shape": ["--data", _npz(tmp_path, x, np.ones(7))],
    }
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    for as_json in (False, True):
        argv = ["gamma", *sources[case]] + (["--json"] if as_json else [])
        status, out, err = run(capsys, *argv)
        assert status == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
        if as_json:
            assert message in json.loads(out)["error"]


PREDICT = [
    "predict",
    *("--data", "digits", "--labels", "parity", "--subsample", "150"),
    *("--calibrate-on", "gaussian", "--width", "6", "--seeds", "1", "--workers", "1"),
]


def test_predict_json_with_simulation(capsys):
    status, out, err = run(capsys, *PREDICT, "--eps", "0.02,0.01", "--simulate", "--json")
    assert status == 0, err
    payload = json.loads(out)
    _contract(payload, "predict")
    assert payload["architecture"]["bottleneck"] == [1, 2, 3] and payload["r"] == 3
    assert payload["calibration"]["name"].startswith("gaussian:64:150")
    assert payload["simulated"] is True and payload["eps_cal"] is None
    assert [p["eps"] for p in payload["points"]] == [0.02, 0.01]
    for point in payload["points"]:
        assert point["tau_pred"] > 0 and point["tau_obs"] > 0
        assert abs(math.log(point["ratio"])) < 0.05
        assert point["tau_pred"] == pytest.approx(
            point["tau_cal"] * payload["calibration"]["gamma"] / payload["gamma"]
        )
    assert payload["median_abs_log_ratio"] < 0.05


def test_predict_without_simulation_and_across_eps(capsys):
    argv = [*PREDICT, "--eps", "0.02,0.01", "--calibrate-eps", "0.02", "--json"]
    status, out, _ = run(capsys, *argv)
    payload = json.loads(out)
    assert status == 0 and payload["simulated"] is False and payload["eps_cal"] == 0.02
    first, second = payload["points"]
    assert second["tau_pred"] == pytest.approx(2 * first["tau_pred"])  # r = 3: τ ∝ 1/ε
    assert first["tau_obs"] is None and payload["median_abs_log_ratio"] is None
    assert len(payload["calibration_runs"]) == 1


def test_predict_text_reports_both_clocks_without_layer_1(capsys):
    status, out, _ = run(capsys, *PREDICT, "--eps", "0.05", "--bottleneck", "2,3", "--simulate")
    assert status == 0
    assert "tau_pred (drive)" in out and "pred/obs (drive)" in out
    assert "bottleneck (2, 3)" in out and "median |ln(τ_pred/τ_obs)|" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--bottleneck", "1", "--depth", "3"], "r = 1"),
        (["--calibrate-on", "gaussian:5:100"], "d = 64"),
        (["--eps", "0.5,1.5"], "must be in (0, 1)"),
        (["--calibrate-eps", "0.1,0.2"], "one value"),
        (["--bottleneck", "1,9"], "--bottleneck layers must be in 1..5"),
        (["--coupling", "rotated"], "invalid choice"),
    ],
)
def test_predict_errors_exit_2_with_one_line(capsys, extra, message):
    status, out, err = run(capsys, *PREDICT, *extra)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_real_covariates_figure_on_a_small_grid(tmp_path, monkeypatch):
    from saddle_escape import figures_data

    monkeypatch.setattr(figures_data, "REAL_COVARIATES_TARGETS", {"wine": ("ovr:0", "centred")})
    monkeypatch.setattr(figures_data, "REAL_COVARIATES_EPS", {3: (0.02,), 4: (0.1,)})
    monkeypatch.setattr(figures_data, "REAL_COVARIATES_SEEDS", 1)
    monkeypatch.setattr(figures_data, "REAL_COVARIATES_WORKERS", 1)
    out = tmp_path / "rc.png"
    data = figures_data.real_covariates([out])
    assert out.stat().st_size > 10_000
    first, inner = data["first"], data["inner"]
    assert first["rows"] == inner["rows"] == 4 and first["failures"] == 0
    assert set(first["by_r"]) == {3, 4} and first["median_abs_log_ratio"] < 0.05
    assert inner["median_abs_log_ratio_drive"] is not None
    assert json.dumps(data)


def test_real_covariates_tables_record_their_conditions():
    from saddle_escape.figures_data import real_covariates_tables

    tables = real_covariates_tables(
        targets={"digits": ("parity",)}, eps={2: (0.01,)}, seeds=1, width=4, workers=1
    )
    assert set(tables) == {("first", "digits", 2), ("inner", "digits", 2)}
    table = tables[("first", "digits", 2)]
    assert table.calibration["name"] == "gaussian:64:600:centred"
    assert table.architecture.bottleneck == (1, 2)
    assert tables[("inner", "digits", 2)].architecture.bottleneck == (2, 3)
    row = table.rows[0]
    assert row.condition == "digits:parity" and row.tau_obs is not None


def test_predict_torch_reads_the_saved_model(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8, bias=False),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 8, bias=False),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 1, bias=False),
    ).double()
    with torch.no_grad():  # layers 2 and 3 at 0.05 of the He scale: r = 2
        for layer in (model[2], model[4]):
            layer.weight.normal_(0.0, 0.05 * (2.0 / layer.in_features) ** 0.5)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    code, out, _ = run(
        capsys, "predict", "--torch", str(path), "--data", "gaussian:4:256", "--lr", "0.1", "--json"
    )
    payload = json.loads(out)
    assert code == 0 and payload["r"] == 2 and payload["regime"] == "log"
    assert payload["steps"] == pytest.approx(payload["tau"] / payload["time_per_step"])
    code, _, err = run(capsys, "predict", "--torch", str(path), "--data", "gaussian:4:256")
    assert code == 2 and "--lr" in err
    code, _, err = run(capsys, "predict", "--data", "gaussian:4:256", "--lr", "0.1")
    assert code == 2 and "--torch" in err


def test_simulate_on_data_follows_the_clock(capsys, tmp_path):
    # The same inputs with the target doubled: Γ doubles, so τ★ halves (r = 3, layer 1 in
    # the bottleneck; conventions §5), under the overlap threshold too.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 6))
    y = np.tanh(x[:, 0]) + 0.5 * x[:, 1]
    taus = {}
    for factor in (1.0, 2.0):
        path = tmp_path / f"data{factor:g}.npz"
        np.savez(path, x=x, y=factor * y)
        argv = ["simulate", "--data", str(path), "--labels", "raw", "--depth", "4", "--width"]
        argv += ["8", "--bottleneck", "1,2,3", "--eps", "0.01", "--seeds", "1", "--quiet"]
        code, out, _ = run(capsys, *argv, "--threshold", "overlap", "--json")
        payload = json.loads(out)
        assert code == 0 and payload["threshold"] == "overlap"
        assert payload["widths"][0] == 6 and payload["data"]["n"] == 200
        taus[factor] = payload["points"][0]["tau"]
    assert taus[2.0] / taus[1.0] == pytest.approx(0.5, rel=0.03)
    code, _, err = run(capsys, "simulate", "--target", "y", "--quiet")
    assert code == 2 and "--data" in err
