"""Checks shared by the notebook-display tests: well-formed HTML, its tables and cells."""

from __future__ import annotations

from html.parser import HTMLParser

#: Elements that have no end tag.
_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "wbr"}


class _Tables(HTMLParser):
    """Collects every table (caption, header row, body rows) and checks the nesting."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: list[dict] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": None, "headers": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "caption"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        assert self.stack, f"</{tag}> closes nothing"
        opened = self.stack.pop()
        assert opened == tag, f"<{opened}> closed by </{tag}>"
        if tag in ("td", "th", "caption"):
            text = "".join(self._cell or [])
            self._cell = None
            if tag == "caption":
                self.tables[-1]["caption"] = text
            else:
                assert self._row is not None, f"<{tag}> outside a row"
                self._row.append(text)
        elif tag == "tr":
            row, self._row = self._row, None
            if "thead" in self.stack:
                self.tables[-1]["headers"] = row
            else:
                self.tables[-1]["rows"].append(row)

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_html(page: str) -> _Tables:
    """Parse ``page``; assert that every element is closed in order. Returns the parser,
    whose ``tables`` lists ``{"caption", "headers", "rows"}`` (text unescaped)."""
    parser = _Tables()
    parser.feed(page)
    parser.close()
    assert not parser.stack, f"unclosed elements: {parser.stack}"
    return parser


def check_table_rows(table: dict) -> None:
    """Every body row has one cell per header."""
    for row in table["rows"]:
        assert len(row) == len(table["headers"]), (row, table["headers"])
