"""MeasuredAsymptotics (and EscapeResult) in a notebook: HTML tables, to_frame()."""

import math
import sys

import pytest
from saddle_escape.numeric.escape import EscapePoint, EscapeResult
from saddle_escape.numeric.extrapolation import Extrapolation
from saddle_escape.numeric.measured import MeasuredAsymptotics, measure_asymptotics
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.outcomes import Status
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import reduced_model

from tests.display_check import check_table_rows, parse_html

_POINT_COLUMNS = [
    "eps",
    "eps_value",
    "tau",
    "tau_value",
    "digits",
    "status",
    "message",
    "evaluations",
    "loss_floor",
]


def _measured() -> MeasuredAsymptotics:
    """A hand-made result: one escaped point, one that failed (message with ``<``)."""
    model = reduced_model(X, 4, 16, "eps,eps,eps,eps")
    theory = asymptotics(model)
    points = (
        EscapePoint(0.1, 50.5, 12, Status.ESCAPED, "escaped", 100),
        EscapePoint(0.05, None, 0, Status.NO_ESCAPE, "loss stays > 𝓛 < 1", 200, 0.25),
    )
    escape = EscapeResult(model, "scalar", None, 0.5, points)
    fit = Extrapolation(2.001, 0.011, 0.5000001, math.inf, "power", points=4)
    return MeasuredAsymptotics(theory, escape, fit, Status.NO_ESCAPE, ("a note < b",))


def test_html_compares_theory_and_fit_and_lists_the_points():
    page = _measured()._repr_html_()
    comparison, points = parse_html(page).tables
    check_table_rows(comparison)
    check_table_rows(points)
    assert comparison["headers"] == ["", "regime", "exponent", "prefactor"]
    assert comparison["rows"] == [
        ["theory", "power", "2", "1/2"],
        ["fit", "power", "2.001 ± 0.011", "0.5000001"],  # an infinite error is not shown
    ]
    assert points["headers"] == ["ε", "τ★", "digits", "status"]
    assert points["rows"] == [["0.1", "50.5", "12", "escaped"], ["0.05", "—", "0", "no_escape"]]
    assert points["caption"] == "scalar system, float64, threshold 0.5·𝓛(0)"
    assert "<strong>x, L = 4, width 16, init eps,eps,eps,eps: no_escape</strong>" in page
    assert "<li>a note &lt; b</li>" in page


def test_html_without_escape_points_or_fit():
    theory = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    page = MeasuredAsymptotics(theory, None, None, Status.NO_ESCAPE)._repr_html_()
    (comparison,) = parse_html(page).tables
    assert comparison["rows"] == [["theory", "power", "2", "1/2"]]


def test_to_frame_gives_one_row_per_point():
    pytest.importorskip("pandas")
    df = _measured().to_frame()
    assert list(df.columns) == _POINT_COLUMNS
    assert df["eps"].tolist() == [0.1, 0.05]
    assert df["tau"].tolist()[0] == 50.5 and math.isnan(df["tau"].tolist()[1])
    assert df["status"].tolist() == ["escaped", "no_escape"]
    assert df["evaluations"].tolist() == [100, 200]
    theory = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))
    empty = MeasuredAsymptotics(theory, None, None, Status.NO_ESCAPE).to_frame()
    assert list(empty.columns) == _POINT_COLUMNS and len(empty) == 0


def test_to_frame_of_a_measurement():
    pytest.importorskip("pandas")
    eps = ["0.04", "0.02", "0.01", "0.005"]
    measured = measure_asymptotics("linear", 4, 16, "eps,eps,eps,eps", eps=eps)
    df = measured.to_frame()
    assert df["eps"].tolist() == [0.04, 0.02, 0.01, 0.005]
    assert df["tau"].tolist() == [float(p.tau) for p in measured.escape.points]
    assert set(df["status"]) == {"escaped"}


def test_to_frame_without_pandas_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_frame\(\) needs pandas: pip install pandas"):
        _measured().to_frame()


# EscapeResult's display methods are pasted into numeric/escape.py (being edited
# elsewhere); these tests run as soon as they exist.
_ESCAPE_DISPLAY = hasattr(EscapeResult, "to_frame")


@pytest.mark.skipif(not _ESCAPE_DISPLAY, reason="EscapeResult has no display methods yet")
def test_escape_result_html():
    page = _measured().escape._repr_html_()
    (table,) = parse_html(page).tables
    check_table_rows(table)
    assert table["headers"] == ["ε", "τ★", "digits", "status", "evaluations"]
    assert table["rows"] == [
        ["0.1", "50.5", "12", "escaped", "100"],
        ["0.05", "—", "0", "no_escape", "200"],
    ]
    assert "<li>ε = 0.05: loss stays &gt; 𝓛 &lt; 1</li>" in page


@pytest.mark.skipif(not _ESCAPE_DISPLAY, reason="EscapeResult has no display methods yet")
def test_escape_result_to_frame():
    pytest.importorskip("pandas")
    df = _measured().escape.to_frame()
    assert list(df.columns) == _POINT_COLUMNS
    assert df["eps"].tolist() == [0.1, 0.05] and df["digits"].tolist() == [12, 0]


@pytest.mark.skipif(not _ESCAPE_DISPLAY, reason="EscapeResult has no display methods yet")
def test_escape_result_to_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_frame\(\) needs pandas: pip install pandas"):
        _measured().escape.to_frame()


def test_a_floor_the_escaped_flow_settles_at_moves_the_default_threshold():
    # Leaky ReLU escapes (k > 0) but settles at 0.5005·𝓛(0): the default ½ is out of reach,
    # so the measurement retries halfway to that floor and confirms the law there.
    eps = ["0.02", "0.01", "0.005", "0.0025"]
    m = measure_asymptotics("leaky_relu", 4, 16, "1,eps,eps,eps", eps=eps)
    assert m.status is Status.SUCCESS and m.escape.fraction == 0.76
    assert any("settles at a stationary point" in n for n in m.notes)
    assert abs(m.fit.prefactor - float(m.theory.prefactor)) <= m.fit.prefactor_error
    # An explicit fraction is the user's: no retry.
    fixed = measure_asymptotics(
        "leaky_relu", 4, 16, "1,eps,eps,eps", eps=eps, fraction=0.5, throw=False
    )
    assert fixed.status is Status.NO_ESCAPE


def test_theory_notes_are_not_repeated_as_notes_of_the_numbers():
    m = measure_asymptotics("sigmoid", 4, 16, "1,eps,eps,eps", throw=False)
    assert m.status is Status.NO_ESCAPE and m.theory.notes and m.notes == ()
    with pytest.raises(Exception, match="class D"):
        measure_asymptotics("sigmoid", 4, 16, "1,eps,eps,eps")
