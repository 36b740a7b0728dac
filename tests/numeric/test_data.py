"""Finite data sets and the empirical clock Γ̂ (conventions §5)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from saddle_escape.numeric.data import (
    BUNDLED,
    NO_DRIVE_MESSAGE,
    DataTask,
    MissingExtraError,
    empirical_gamma,
    load_data,
    task_from_arrays,
)


def _gaussian(n, sigma, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, len(sigma))) @ np.linalg.cholesky(sigma).T


# ----------------------------------------------------------------------- Γ̂ on samples


def test_gamma_matches_the_closed_form_of_a_linear_teacher():
    # x ~ N(0, Σ), y = uᵀx: c = E[yx] = Σu exactly (independent of the estimator).
    sigma = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    u = np.array([0.6, -0.8, 0.0])
    c = sigma @ u
    x = _gaussian(4000, sigma, seed=1)
    est = empirical_gamma(x, x @ u, bootstrap=200, seed=2)
    assert abs(est.gamma - np.linalg.norm(c)) < 4 * est.stderr
    assert np.dot(est.direction, c / np.linalg.norm(c)) > 0.99
    assert est.n == 4000 and est.d == 3 and est.m == 1
    assert np.linalg.norm(est.direction) == pytest.approx(1.0, abs=1e-12)


def test_bootstrap_error_agrees_with_isserlis_and_with_independent_samples():
    # Var Γ̂ ≈ [(uᵀΣu)(ĉᵀΣĉ) + Γ²]/n for a Gaussian linear teacher (Isserlis' theorem).
    sigma = np.diag([3.0, 1.0, 0.5, 0.5])
    u = np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2)
    c = sigma @ u
    chat = c / np.linalg.norm(c)
    n = 400
    closed = np.sqrt(((u @ sigma @ u) * (chat @ sigma @ chat) + c @ c) / n)
    gammas, errors = [], []
    for seed in range(60):
        x = _gaussian(n, sigma, seed=100 + seed)
        est = empirical_gamma(x, x @ u, bootstrap=100, seed=seed)
        gammas.append(est.gamma)
        errors.append(est.stderr)
    spread = np.std(gammas, ddof=1)
    assert np.mean(errors) == pytest.approx(closed, rel=0.1)
    assert spread == pytest.approx(closed, rel=0.25)  # 60 sets: ±9% sampling error of a std
    assert abs(np.mean(gammas) - np.linalg.norm(c)) < 4 * closed / np.sqrt(60)


def test_exact_value_on_a_symmetric_design():
    x = np.vstack([np.eye(3), -np.eye(3)])
    est = empirical_gamma(x, 2 * x[:, 1] - x[:, 2], bootstrap=0)
    # c = (0, 2, -1)/3
    assert est.gamma == pytest.approx(np.sqrt(5) / 3, rel=1e-14)
    assert est.direction == pytest.approx((0.0, 2 / np.sqrt(5), -1 / np.sqrt(5)), abs=1e-14)
    assert est.stderr is None


def test_vector_targets_report_the_singular_values_of_C():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 4))
    q, _ = np.linalg.qr(z - z.mean(0))
    x = q * np.sqrt(500)  # exactly white: xᵀx/n = I, so C = A
    A = np.array([[3.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    A = A @ rotation
    est = empirical_gamma(x, x @ A.T, bootstrap=20)
    assert est.m == 2 and est.gamma == pytest.approx(3.0, rel=1e-12)
    assert est.singular_values == pytest.approx((3.0, 1.0), rel=1e-12)
    assert abs(np.dot(est.direction, rotation[0])) == pytest.approx(1.0, abs=1e-12)
    assert max(est.output_direction, key=abs) > 0
    assert set(est.to_dict()) >= {"gamma", "gamma_stderr", "n", "d", "direction"}


def test_the_bootstrap_is_seeded():
    x = _gaussian(100, np.eye(2), seed=3)
    a = empirical_gamma(x, x[:, 0], bootstrap=50, seed=7).stderr
    assert a == empirical_gamma(x, x[:, 0], bootstrap=50, seed=7).stderr
    assert a != empirical_gamma(x, x[:, 0], bootstrap=50, seed=8).stderr


@pytest.mark.parametrize(
    "inputs, targets, match",
    [
        ([[np.nan, 1.0], [1.0, 2.0]], [1.0, 2.0], "finite"),
        ([[np.inf, 1.0], [1.0, 2.0]], [1.0, 2.0], "finite"),
        ([[1.0, 1.0], [1.0, 2.0]], [1.0, np.nan], "targets must be finite"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "shape"),
        ([[1.0], [2.0], [3.0]], [1.0, 2.0], "rows"),
        ([[1.0, 2.0]], [1.0], "at least 2 rows"),
        ([[1.0], [2.0], [3.0]], [5.0, 5.0, 5.0], "constant"),
        ([["a"], ["b"]], [1.0, 2.0], "real numbers"),
    ],
)
def test_bad_data_is_refused_clearly(inputs, targets, match):
    with pytest.raises(ValueError, match=match):
        empirical_gamma(inputs, targets)


def test_zero_drive_says_the_escape_is_at_higher_order():
    x = np.linspace(-1, 1, 21)[:, None]
    with pytest.raises(ValueError, match=NO_DRIVE_MESSAGE):
        empirical_gamma(x, x[:, 0] ** 2 - (x[:, 0] ** 2).mean())
    with pytest.raises(ValueError, match="bootstrap"):
        empirical_gamma(x, x[:, 0], bootstrap=1)


# ----------------------------------------------------------------------- tasks and loaders


def test_task_dataset_weights_each_row_equally():
    task = DataTask(np.arange(8.0).reshape(4, 2), [1.0, 0.0, -1.0, 2.0], name="t")
    data = task.dataset()
    assert data.weights.tolist() == [0.25] * 4 and data.targets.shape == (4, 1)
    info = task.to_dict()
    assert info == {"name": "t", "n": 4, "d": 2, "m": 1, "preprocessing": {}}
    assert json.dumps(info)
    doubled = task.scaled_targets(2.0)
    assert doubled.gamma(bootstrap=0).gamma == pytest.approx(2 * task.gamma(bootstrap=0).gamma)
    assert doubled.preprocessing["target_factor"] == 2.0
    with pytest.raises(ValueError, match="read-only"):
        task.inputs[0, 0] = 1.0


def test_npz_round_trip_and_preprocessing_record(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4))
    y = x[:, 1] + 0.1 * rng.normal(size=50)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    task = load_data(str(tmp_path / "d.npz"), labels="raw")
    centred = x - x.mean(0)
    rms = np.sqrt((centred**2).mean())
    assert task.inputs == pytest.approx(centred / rms, abs=1e-12)
    assert task.targets[:, 0] == pytest.approx(y, abs=0)
    record = task.preprocessing
    assert record["kind"] == "npz" and record["center"] is True and record["scale"] == "global"
    assert record["scale_factor"] == pytest.approx(1 / rms)
    assert record["rows_in_source"] == 50 and record["subsample"] is None
    json.dumps(task.to_dict())
    plain = load_data(str(tmp_path / "d.npz"), labels="raw", center=False, scale=None)
    assert plain.inputs == pytest.approx(x, abs=0)
    feature = load_data(str(tmp_path / "d.npz"), scale="feature")
    assert (feature.inputs**2).mean(axis=0) == pytest.approx(np.ones(4))
    assert feature.targets.mean() == pytest.approx(0, abs=1e-12)  # centred (the default)


def test_npy_pair_either_file(tmp_path):
    x = np.random.default_rng(1).normal(size=(30, 3))
    np.save(tmp_path / "run_x.npy", x)
    np.save(tmp_path / "run_y.npy", x[:, :2])  # vector targets
    a = load_data(str(tmp_path / "run_x.npy"))
    b = load_data(str(tmp_path / "run_y.npy"))
    assert a.m == 2 and np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
    with pytest.raises(ValueError, match="PREFIX_x.npy"):
        np.save(tmp_path / "other.npy", x)
        load_data(str(tmp_path / "other.npy"))


def test_csv_with_target_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n2,0,1\n3,1,0\n0,5,1\n")
    task = load_data(str(path), target="label", labels="raw", center=False, scale=None)
    assert task.inputs.tolist() == [[1, 2], [2, 0], [3, 1], [0, 5]]
    assert task.targets[:, 0].tolist() == [0, 1, 0, 1]
    assert task.preprocessing["columns"] == ["a", "b"] and task.name.startswith("t.csv[label]")
    ovr = load_data(str(path), target="label", labels="ovr:1")
    assert ovr.targets[:, 0].tolist() == [-1, 1, -1, 1]
    covariate = load_data(str(path), labels="linear:1")  # no target column needed
    assert covariate.d == 3 and np.array_equal(covariate.targets[:, 0], covariate.inputs[:, 1])


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        ("a,b\n1,2\n3,4\n", {"target": "c"}, "no column 'c'"),
        ("a,b\n1,2\n3,4\n", {}, "target=COLUMN"),
        ("1,2\n3,4\n5,6\n", {"target": "1"}, "no header"),
        ("a,b\n1,\n3,4\n", {"target": "b"}, "row 2, column 'b': missing value"),
        ("a,b\n1,x\n3,4\n", {"target": "b"}, "'x' is not a number"),
        ("a,b\n1,nan\n3,4\n", {"target": "b"}, "finite"),
        ("a,b\n1,2,3\n3,4\n", {"target": "b"}, "3 fields"),
    ],
)
def test_csv_errors(tmp_path, text, kwargs, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_data(str(path), **kwargs)


def test_unknown_sources_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown data source 'mnist'.*digits"):
        load_data("mnist")
    with pytest.raises(ValueError, match="does not exist"):
        load_data(str(tmp_path / "nothing.npz"))
    np.savez(tmp_path / "nox.npz", inputs=np.ones((3, 2)))
    with pytest.raises(ValueError, match="no array 'x'"):
        load_data(str(tmp_path / "nox.npz"))
    np.savez(tmp_path / "noy.npz", x=np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match="needs targets"):
        load_data(str(tmp_path / "noy.npz"))
    with pytest.raises(ValueError, match="own target"):
        load_data("digits", target="label")


@pytest.mark.parametrize(
    "name, shape, m",
    [
        ("digits", (1797, 64), 1),
        ("breast_cancer", (569, 30), 1),
        ("wine", (178, 13), 1),
        ("iris", (150, 4), 1),
        ("diabetes", (442, 10), 1),
        ("linnerud", (20, 3), 3),
    ],
)
def test_bundled_data_sets(name, shape, m):
    task = load_data(name)
    assert (task.n, task.d, task.m) == (*shape, m)
    assert task.preprocessing["kind"] == "sklearn" and task.preprocessing["source"] == name
    assert task.inputs.mean(axis=0) == pytest.approx(np.zeros(shape[1]), abs=1e-12)
    assert (task.inputs**2).mean() == pytest.approx(1.0, rel=1e-12)
    assert task.targets.mean(axis=0) == pytest.approx(np.zeros(m), abs=1e-9)
    assert task.gamma(bootstrap=0).gamma > 0


def test_label_encodings_on_digits():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    ovr = load_data("digits", labels="ovr:3").targets[:, 0]
    assert (ovr == 1).sum() == (labels == 3).sum() and set(ovr) == {-1.0, 1.0}
    parity = load_data("digits", labels="parity").targets[:, 0]
    assert np.array_equal(parity == 1, labels % 2 == 0)
    centred = load_data("digits").targets[:, 0]
    assert centred == pytest.approx(labels - labels.mean())
    onehot = load_data("digits", labels="onehot")
    assert onehot.m == 10 and onehot.preprocessing["classes"] == list(range(10))
    assert onehot.targets.sum(axis=1) == pytest.approx(np.zeros(1797), abs=1e-12)
    feature = load_data("digits", labels="tanh:10")
    assert feature.targets[:, 0] == pytest.approx(np.tanh(feature.inputs[:, 10]))
    standard = load_data("diabetes", labels="standard").targets[:, 0]
    assert standard.std() == pytest.approx(1.0) and abs(standard.mean()) < 1e-12
    # Γ̂ does not see the mean of y once x is centred
    raw = load_data("digits", labels="raw").gamma(bootstrap=0).gamma
    assert raw == pytest.approx(load_data("digits").gamma(bootstrap=0).gamma, rel=1e-10)


@pytest.mark.parametrize(
    "source, labels, match",
    [
        ("digits", "ovr:12", "class 12 does not occur"),
        ("diabetes", "parity", "regression target"),
        ("diabetes", "ovr:3", "regression target"),
        ("digits", "linear:64", "column 64 does not exist"),
        ("digits", "__import__('os')", "not understood"),
        ("digits", "tanh:1 + 1", "not understood"),
        ("digits", "exp:3", "not understood"),
    ],
)
def test_bad_label_encodings(source, labels, match):
    with pytest.raises(ValueError, match=match):
        load_data(source, labels=labels)


def test_bad_preprocessing_options():
    with pytest.raises(ValueError, match="scale must be one of"):
        load_data("iris", scale="minmax")
    with pytest.raises(ValueError, match="center must be True or False"):
        load_data("iris", center="yes")
    with pytest.raises(ValueError, match="subsample must keep at least 2"):
        load_data("iris", subsample=1)


def test_subsample_is_seeded_and_recorded():
    a = load_data("digits", labels="parity", subsample=300, seed=4)
    b = load_data("digits", labels="parity", subsample=300, seed=4)
    c = load_data("digits", labels="parity", subsample=300, seed=5)
    assert a.n == 300 and np.array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)
    assert a.preprocessing["subsample"] == {"rows": 300, "of": 1797, "seed": 4}
    assert (a.inputs**2).mean() == pytest.approx(1.0)  # scaled after subsampling


def test_gaussian_source_is_an_isotropic_single_mode_condition():
    task = load_data("gaussian:5:4000", seed=1)
    assert (task.n, task.d) == (4000, 5)
    est = task.gamma()
    # y = x_0 of a white sample: c ≈ e_0 (times the scale factor ≈ 1)
    assert abs(est.gamma - 1.0) < 0.05 and est.direction[0] > 0.999
    with pytest.raises(ValueError, match="N ≥ 2"):
        load_data("gaussian:3:1")


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'saddle-escape\[data\]'"):
        load_data("digits")
    assert "wine" in BUNDLED


def test_task_from_arrays_validates():
    with pytest.raises(ValueError, match="one target row per input row"):
        task_from_arrays(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="constant"):
        task_from_arrays(np.ones((3, 2)), np.arange(3.0))
