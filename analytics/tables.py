"""A table of figures, rendered as CSV (formula-safe, ``crm.csvfile``) or as an HTML table.

Every analytics answer is a :class:`Table`, so the API can serve it as JSON or CSV and the
report can print it, from one definition of its columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from crm.csvfile import csv_lines

__all__ = ["Cell", "Table", "format_cell"]

Cell = str | int | float | datetime | None


def format_cell(value: Cell) -> str:
    """A cell as text: times in ISO 8601 UTC, floats with up to 3 decimals, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else ""
    return str(value)


@dataclass(frozen=True)
class Table:
    """Named columns and rows of cells; ``note`` says how the figures were computed."""

    name: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    note: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.name}: a row has {len(row)} cells for {len(self.columns)} columns"
                )

    def records(self) -> list[dict[str, Cell]]:
        """The rows as column → value mappings (the JSON form)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self) -> str:
        """The table as CSV text with a header row; cells that a spreadsheet would run as
        formulas are neutralised."""
        lines = [list(self.columns), *([format_cell(cell) for cell in row] for row in self.rows)]
        return "".join(csv_lines(lines))

    def to_html(self) -> str:
        """The table as an escaped HTML ``<table>``."""
        head = "".join(f"<th>{escape(column)}</th>" for column in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(format_cell(cell))}</td>" for cell in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{escape(self.note)}</caption>" if self.note else ""
        return f'<table class="figures">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
