"""The conventions every number of the toolkit is printed in, shipped with the package.

The document ``conventions.md`` (installed next to this module) defines the model, the
universality classes, the reduced dynamics and the escape time τ★, the asymptotics, the
imbalance identity, the full-network simulations, what a digit count means and the
statuses and exit codes, in numbered sections §1–§8. Docstrings and messages cite them as
"conventions §N".

Examples
--------
>>> from saddle_escape.conventions import section, section_titles
>>> section_titles()[3]
'§3 Reduced dynamics and the escape time τ★'
>>> print(section(8).splitlines()[0])
## §8 Statuses and exit codes
"""

from __future__ import annotations

import functools
import re
from importlib import resources

__all__ = ["conventions_text", "section", "section_titles", "SECTION_COUNT"]

#: Number of sections; they are numbered §1 to §SECTION_COUNT.
SECTION_COUNT = 8
_HEADING = re.compile(r"^## §(\d+) (.+)$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def conventions_text() -> str:
    """The whole conventions document, as Markdown.

    Returns
    -------
    str
        The text of ``saddle_escape/conventions.md`` as installed.

    Examples
    --------
    >>> text = conventions_text()
    >>> text.splitlines()[0]
    '# Conventions of saddle-escape'
    >>> "arXiv:2605.01288" in text
    True
    """
    return resources.files("saddle_escape").joinpath("conventions.md").read_text(encoding="utf-8")


def section_titles() -> dict[int, str]:
    """The section headings, by number.

    Returns
    -------
    dict of int to str
        ``{n: "§n Title"}`` for n = 1, …, :data:`SECTION_COUNT`.

    Examples
    --------
    >>> section_titles()[1]
    '§1 The model'
    >>> sorted(section_titles()) == list(range(1, SECTION_COUNT + 1))
    True
    """
    return {
        int(m.group(1)): f"§{m.group(1)} {m.group(2)}"
        for m in _HEADING.finditer(conventions_text())
    }


def section(n: int) -> str:
    """Section §n of the conventions, from its heading to the next one.

    Parameters
    ----------
    n : int
        Section number, 1 to :data:`SECTION_COUNT`.

    Returns
    -------
    str
        The section as Markdown, starting with its ``## §n`` heading, without trailing
        blank lines.

    Raises
    ------
    TypeError
        If `n` is not an int.
    ValueError
        If there is no section `n`.

    Examples
    --------
    >>> text = section(3)
    >>> text.splitlines()[0]
    '## §3 Reduced dynamics and the escape time τ★'
    >>> "min { t ≥ 0 : 𝓛(t) ≤ f · 𝓛(0) }" in text
    True
    >>> section(9)
    Traceback (most recent call last):
    ...
    ValueError: the conventions have no §9: their sections are §1 to §8
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (a section number), got {n!r}")
    text = conventions_text()
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        if int(heading.group(1)) == n:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return text[heading.start() : end].rstrip()
    raise ValueError(f"the conventions have no §{n}: their sections are §1 to §{SECTION_COUNT}")
