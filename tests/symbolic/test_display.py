"""Notebook display helpers (issue 9 item 7): HTML tables, LaTeX, optional pandas."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sympy as sp
from saddle_escape.symbolic import display
from saddle_escape.symbolic.asymptotics import Asymptotics, asymptotics
from saddle_escape.symbolic.display import (
    MISSING,
    PANDAS_MESSAGE,
    cell_text,
    frame,
    html_section,
    html_table,
    latex_math,
    latex_sum,
    text_sum,
)
from saddle_escape.symbolic.outcomes import Status
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import reduced_model

from tests.display_check import check_table_rows, parse_html


def test_html_table_is_well_formed_with_the_cells_given():
    page = html_table(["ε", "τ★", "status"], [[0.1, 2.5, Status.ESCAPED], [0.01, None, "x"]])
    (table,) = parse_html(page).tables
    assert table["headers"] == ["ε", "τ★", "status"]
    assert table["rows"] == [["0.1", "2.5", "escaped"], ["0.01", MISSING, "x"]]
    assert table["caption"] is None


def test_html_table_escapes_every_cell_header_and_caption():
    piecewise = sp.Piecewise((0, X < 0), (X, True))
    page = html_table(["a<b", "&"], [[piecewise, "<script>"]], caption="x < 0 & y > 1")
    assert "<script>" not in page
    assert "Piecewise((0, x &lt; 0), (x, True))" in page
    assert "<th>a&lt;b</th><th>&amp;</th>" in page
    (table,) = parse_html(page).tables  # unescaped by the parser, back to the text
    assert table["rows"] == [["Piecewise((0, x < 0), (x, True))", "<script>"]]
    assert table["headers"] == ["a<b", "&"]
    assert table["caption"] == "x < 0 & y > 1"


def test_html_table_refuses_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match="row 1 has 1 cells but the table has 2 columns"):
        html_table(["a", "b"], [[1, 2], [3]])


def test_html_section_escapes_title_and_notes_and_keeps_the_tables():
    inner = html_table(["q"], [[3]])
    page = html_section("σ < 0 <b>", inner, notes=["a < b", ""])
    parsed = parse_html(page)
    assert [t["rows"] for t in parsed.tables] == [[["3"]]]
    assert "σ &lt; 0 &lt;b&gt;" in page and "<li>a &lt; b</li>" in page
    assert page.count("<li>") == 1  # empty notes are dropped
    assert "<ul>" not in html_section("t")


def test_cell_text():
    assert cell_text(sp.Rational(-2, 3)) == "-2/3"
    assert cell_text(Status.NO_ESCAPE) == "no_escape"
    assert cell_text(None) == MISSING
    assert cell_text(1 / 3) == "0.3333333333"
    assert cell_text(float("inf")) == "inf"
    assert cell_text(sp.Float("1.0591226745197710092648103829514189", 34)) == "1.059122675"
    assert cell_text(sp.Float(0.125, 30)) == "0.125"


def test_latex_math_wraps_sympy_and_strings():
    assert latex_math(sp.Rational(-2, 3)) == r"$- \frac{2}{3}$"
    assert latex_math(sp.tanh(X)) == r"$\tanh{\left(x \right)}$"
    assert latex_math("q = 3") == "$q = 3$"


def test_latex_sum_signs_units_parentheses_and_floats():
    a = sp.Symbol("a")
    assert latex_sum([(sp.Rational(-2, 3), "x^{3}"), (sp.Rational(8, 15), "x^{5}")]) == (
        r"- \frac{2}{3}\,x^{3} + \frac{8}{15}\,x^{5}"
    )
    assert latex_sum([(1, "y"), (-1, "y^{2}"), (0, "y^{3}"), (2, "")]) == "y - y^{2} + 2"
    assert latex_sum([(a - 1, "y")]) == r"\left(a - 1\right)\,y"
    assert latex_sum([]) == "0" and latex_sum([], empty="") == ""
    assert latex_sum([(sp.Float("0.94417768975951864974", 30), "y")]) == r"0.9441776898\,y"


def test_text_sum():
    a = sp.Symbol("a")
    assert text_sum([(sp.Rational(1, 2), "ε^-2"), (-1, "ln(1/ε)")]) == "1/2·ε^-2 - ln(1/ε)"
    assert text_sum([(-2, "y"), (a + 1, "")]) == "-2·y + (a + 1)"
    assert text_sum([(0, "y")], empty="") == ""


def test_frame_has_the_columns_and_values():
    pytest.importorskip("pandas")
    df = frame([{"eps": 0.1, "tau": 2.5, "status": "escaped"}, {"eps": 0.01, "tau": None}])
    assert list(df.columns) == ["eps", "tau", "status"]
    assert df["eps"].tolist() == [0.1, 0.01]
    assert df["tau"].isna().tolist() == [False, True]
    ordered = frame([{"a": 1, "b": 2}], columns=["b", "a"])
    assert list(ordered.columns) == ["b", "a"] and ordered.values.tolist() == [[2, 1]]
    empty = frame([], columns=["eps", "tau"])
    assert list(empty.columns) == ["eps", "tau"] and len(empty) == 0


def test_frame_without_pandas_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    with pytest.raises(ImportError, match=r"^to_frame\(\) needs pandas: pip install pandas$"):
        frame([{"eps": 0.1}])
    assert PANDAS_MESSAGE == "to_frame() needs pandas: pip install pandas"


def test_no_module_imports_pandas_at_import_time():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import saddle_escape
        assert "pandas" not in sys.modules, "import saddle_escape imported pandas"
        for package in ("symbolic", "classes", "numeric"):
            module = importlib.import_module(f"saddle_escape.{package}")
            for info in pkgutil.walk_packages(module.__path__, module.__name__ + "."):
                importlib.import_module(info.name)
                assert "pandas" not in sys.modules, f"{info.name} imported pandas"
        importlib.import_module("saddle_escape.cli")
        assert "pandas" not in sys.modules, "saddle_escape.cli imported pandas"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_display_module_is_in_the_symbolic_layer_only():
    """display imports nothing from the higher layers (symbolic → classes → numeric)."""
    source = Path(display.__file__).read_text(encoding="utf-8")
    for higher in ("saddle_escape.classes", "saddle_escape.numeric", "saddle_escape.cli"):
        assert f"from {higher}" not in source and f"import {higher}" not in source


# -- Asymptotics and EscapeResult: their display methods are pasted into modules that are
# -- being edited elsewhere; these tests run as soon as the methods exist.

_ASYMPTOTICS_DISPLAY = hasattr(Asymptotics, "_repr_latex_")


@pytest.mark.skipif(not _ASYMPTOTICS_DISPLAY, reason="Asymptotics has no display methods yet")
def test_asymptotics_latex_states_normal_form_and_singular_expansion():
    text = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))._repr_latex_()
    assert text.startswith("$") and text.endswith("$")
    assert r"\dot y = y^{3}\,\Big(1 - y^{4} + O(y^{5})\Big)" in text
    assert r"\tau_\star(\varepsilon) = \frac{1}{2}\,\varepsilon^{-2} + O(1)" in text


@pytest.mark.skipif(not _ASYMPTOTICS_DISPLAY, reason="Asymptotics has no display methods yet")
def test_asymptotics_html_table():
    page = asymptotics(reduced_model(X, 4, 16, "eps,eps,eps,eps"))._repr_html_()
    (table,) = parse_html(page).tables
    check_table_rows(table)
    assert table["headers"] == ["regime", "p", "κ", "exponent", "prefactor", "dy/dt", "τ★(ε)"]
    assert table["rows"] == [
        ["power", "4", "1", "2", "1/2", "y^3·(1 - y^4 + O(y^5))", "1/2·ε^-2 + O(1)"]
    ]
