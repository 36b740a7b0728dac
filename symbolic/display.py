r"""Notebook display helpers: HTML tables, LaTeX math and optional pandas DataFrames.

The result types of the package render themselves in Jupyter through ``_repr_html_``
and ``_repr_latex_``, and the numeric results convert to a :class:`pandas.DataFrame`
with ``to_frame()``. They all build on the helpers here:

* :func:`html_table`, :func:`html_section` — well-formed HTML; every piece of text is
  escaped with :func:`html.escape` (SymPy prints ``x < 0``, titles contain ``<W, …>``);
* :func:`latex_math`, :func:`latex_sum` — LaTeX in ``$ … $``, as Jupyter expects;
* :func:`frame` — a DataFrame from a list of dicts. pandas is optional: it is imported
  only when :func:`frame` is called, never when a module of the package is imported,
  and its absence raises an :class:`ImportError` that says what to install.
"""

from __future__ import annotations

import enum
import html
import math
from collections.abc import Iterable, Sequence

import sympy as sp

__all__ = [
    "MISSING",
    "PANDAS_MESSAGE",
    "cell_text",
    "frame",
    "html_section",
    "html_table",
    "latex_math",
    "latex_sum",
    "text_sum",
]

#: How a missing value (``None``) is shown in a table.
MISSING = "—"
#: The message of the ImportError raised by :func:`frame` without pandas.
PANDAS_MESSAGE = "to_frame() needs pandas: pip install pandas"


def cell_text(value) -> str:
    """The plain text of one table cell (not yet escaped).

    SymPy objects print as :func:`sympy.sstr`, enums (statuses, classes) as their value,
    floats with 10 significant digits, ``None`` as :data:`MISSING`.

    Examples
    --------
    >>> cell_text(sp.Rational(-2, 3)), cell_text(None), cell_text(0.1 + 0.2)
    ('-2/3', '—', '0.3')
    """
    if value is None:
        return MISSING
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, sp.Basic):
        return sp.sstr(_short(value), full_prec=False)
    if isinstance(value, float):
        return format(value, ".10g") if math.isfinite(value) else str(value)
    return str(value)


def html_table(headers: Sequence, rows: Iterable[Sequence], *, caption: str | None = None) -> str:
    """An HTML table; every header and cell is converted by :func:`cell_text` and escaped.

    Parameters
    ----------
    headers : sequence
        Column titles.
    rows : iterable of sequence
        One sequence of cells per row, as long as ``headers``.
    caption : str, optional
        A caption (escaped too).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When a row does not have one cell per header.

    Examples
    --------
    >>> print(html_table(["σ", "class"], [["Piecewise((0, x < 0), (x, True))", "A"]]))
    <table>
    <thead><tr><th>σ</th><th>class</th></tr></thead>
    <tbody>
    <tr><td>Piecewise((0, x &lt; 0), (x, True))</td><td>A</td></tr>
    </tbody>
    </table>
    """
    headers = list(headers)
    lines = ["<table>"]
    if caption is not None:
        lines.append(f"<caption>{html.escape(caption)}</caption>")
    lines.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(cell_text(h))}</th>" for h in headers)
        + "</tr></thead>"
    )
    lines.append("<tbody>")
    for number, row in enumerate(rows):
        cells = list(row)
        if len(cells) != len(headers):
            raise ValueError(
                f"row {number} has {len(cells)} cells but the table has {len(headers)} columns"
            )
        lines.append(
            "<tr>" + "".join(f"<td>{html.escape(cell_text(c))}</td>" for c in cells) + "</tr>"
        )
    lines.append("</tbody>")
    lines.append("</table>")
    return "\n".join(lines)


def html_section(title: str, *parts: str, notes: Iterable[str] = ()) -> str:
    """A ``<div>``: an escaped bold title, HTML ``parts`` (tables) and escaped notes.

    Parameters
    ----------
    title : str
        Plain text.
    *parts : str
        HTML already built (by :func:`html_table`); inserted as they are.
    notes : iterable of str
        Plain text, shown as a list under the parts.

    Examples
    --------
    >>> print(html_section("tanh: class B", notes=["q = 3 < 4"]))
    <div>
    <p><strong>tanh: class B</strong></p>
    <ul><li>q = 3 &lt; 4</li></ul>
    </div>
    """
    lines = ["<div>", f"<p><strong>{html.escape(title)}</strong></p>", *parts]
    notes = [n for n in notes if n]
    if notes:
        lines.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    lines.append("</div>")
    return "\n".join(lines)


def latex_math(expr_or_str) -> str:
    r"""Inline math for ``_repr_latex_``: ``$ … $`` around a SymPy object or a LaTeX string.

    A SymPy object is printed with :func:`sympy.latex`; a string is taken as LaTeX already.

    Examples
    --------
    >>> latex_math(sp.Rational(-2, 3))
    '$- \\frac{2}{3}$'
    >>> latex_math(r"q = 3")
    '$q = 3$'
    """
    body = expr_or_str if isinstance(expr_or_str, str) else sp.latex(expr_or_str)
    return f"${body}$"


def _short(value: sp.Basic) -> sp.Basic:
    """``value`` with its Floats rounded to 10 digits (for display only)."""
    return value.evalf(10) if value.has(sp.Float) else value


def _as_number(value) -> sp.Basic:
    """A coefficient as a SymPy object: ints and floats converted, SymPy objects kept.

    Strings are refused: display code never parses text.
    """
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a coefficient must be a number or a SymPy object, got {value!r}")
    return sp.Integer(value) if isinstance(value, int) else sp.Float(value)


def _coefficient_latex(coefficient) -> str:
    coefficient = _short(_as_number(coefficient))
    text = sp.latex(coefficient)
    if isinstance(coefficient, sp.Add):
        text = rf"\left({text}\right)"
    return text


def latex_sum(terms: Iterable[tuple[object, str]], *, empty: str = "0") -> str:
    r"""LaTeX of ``Σ coefficient·factor`` in the order given (no ``$``).

    Parameters
    ----------
    terms : iterable of (coefficient, factor)
        ``coefficient`` a number or SymPy expression (a sum gets parentheses; Floats are
        shown to 10 digits), ``factor`` a LaTeX string such as ``"x^{3}"`` (``""`` for
        none).
    empty : str
        What an empty sum prints as.

    Examples
    --------
    >>> latex_sum([(sp.Rational(-2, 3), "x^{3}"), (sp.Rational(8, 15), "x^{5}")])
    '- \\frac{2}{3}\\,x^{3} + \\frac{8}{15}\\,x^{5}'
    >>> latex_sum([(1, r"\varepsilon^{-1}"), (sp.Symbol("a") - 1, r"\ln(1/\varepsilon)")])
    '\\varepsilon^{-1} + \\left(a - 1\\right)\\,\\ln(1/\\varepsilon)'
    """

    def term(coefficient, factor: str) -> str:
        return _coefficient_latex(coefficient) + (rf"\,{factor}" if factor else "")

    return _signed_sum(terms, term, empty)


def text_sum(terms: Iterable[tuple[object, str]], *, empty: str = "0") -> str:
    """Plain text of ``Σ coefficient·factor`` in the order given (the HTML twin of
    :func:`latex_sum`).

    Parameters
    ----------
    terms : iterable of (coefficient, factor)
        ``coefficient`` a number or SymPy expression, printed by :func:`cell_text`;
        ``factor`` plain text such as ``"ε^-2"`` (``""`` for none).
    empty : str
        What an empty sum prints as.

    Examples
    --------
    >>> text_sum([(sp.Rational(1, 2), "ε^-2"), (-1, "ln(1/ε)"), (sp.Symbol("a") + 1, "")])
    '1/2·ε^-2 - ln(1/ε) + (a + 1)'
    """

    def term(coefficient, factor: str) -> str:
        text = cell_text(coefficient)
        if isinstance(coefficient, sp.Add):
            text = f"({text})"
        return text + (f"·{factor}" if factor else "")

    return _signed_sum(terms, term, empty)


def _signed_sum(terms, term, empty: str) -> str:
    """Join ``term(coefficient, factor)`` with signs; ±1 coefficients print as signs only."""
    pieces: list[str] = []
    for coefficient, factor in terms:
        coefficient = _as_number(coefficient)
        if coefficient == 0:
            continue
        if factor and coefficient in (1, -1):
            text = ("-" if coefficient == -1 else "") + factor
        else:
            text = term(coefficient, factor)
        if pieces:
            pieces.append(f"- {text[1:].lstrip()}" if text.startswith("-") else f"+ {text}")
        else:
            pieces.append(text)
    return " ".join(pieces) if pieces else empty


def frame(records: list[dict], columns: Sequence[str] | None = None):
    """A :class:`pandas.DataFrame` with one row per record (pandas imported only here).

    Parameters
    ----------
    records : list of dict
        The rows (the ``to_dict()`` forms of the results).
    columns : sequence of str, optional
        Column order; also the columns of an empty frame.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ImportError
        When pandas is not installed: ``to_frame() needs pandas: pip install pandas``.

    Examples
    --------
    >>> df = frame([{"eps": 0.1, "tau": 2.5}, {"eps": 0.01, "tau": None}])
    >>> list(df.columns), df["eps"].tolist()
    (['eps', 'tau'], [0.1, 0.01])
    >>> list(frame([], columns=["eps", "tau"]).columns)
    ['eps', 'tau']
    """
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(PANDAS_MESSAGE) from exc
    return pandas.DataFrame.from_records(
        list(records), columns=None if columns is None else list(columns)
    )
