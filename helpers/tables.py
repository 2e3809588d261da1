"""Small tables that render as HTML in Jupyter and as aligned text in logs."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any


class Table:
    """A titled table of rows; ``_repr_html_`` for notebooks, ``str`` for logs.

    Args:
        columns: column headings.
        rows: one sequence of cell values per row, in column order.
        title: optional caption.
    """

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = ""):
        self.columns = list(columns)
        self.rows = [["" if v is None else v for v in row] for row in rows]
        self.title = title

    def column(self, name: str) -> list[Any]:
        """Return every value of one column."""
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def as_dicts(self) -> list[dict[str, Any]]:
        """Return the rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        cells = [self.columns] + [[str(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title] if self.title else []
        for n, row in enumerate(cells):
            lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{_cell(v)}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_COLOURS = {"ok": "#2e7d32", "pass": "#2e7d32", "changed": "#ef6c00", "failed": "#c62828",
            "fail": "#c62828", "skipped": "#757575"}


def _cell(value: Any) -> str:
    text = html.escape(str(value)).replace("\n", "<br>")
    colour = _COLOURS.get(str(value).lower())
    return f"<span style='color:{colour};font-weight:bold'>{text}</span>" if colour else text
