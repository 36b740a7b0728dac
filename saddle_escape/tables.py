"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, markdown: bool = False
) -> str:
    """Align ``rows`` under ``headers`` in columns separated by two spaces.

    ``None`` prints as ``-``. With ``markdown``, a Markdown (GitHub) table instead.

    Examples
    --------
    >>> print(format_table(["name", "q"], [["tanh", 3], ["relu", None]]))
    name  q
    ----  -
    tanh  3
    relu  -
    >>> print(format_table(["name", "q"], [["tanh", 3]], markdown=True))
    | name | q |
    | ---- | - |
    | tanh | 3 |
    """
    cells = [[str(h) for h in headers]]
    cells += [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if markdown:
        cells = [[c.replace("|", "\\|") for c in row] for row in cells]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        lines = [
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
            for row in cells
        ]
        lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
        return "\n".join(lines)
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
