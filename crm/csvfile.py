"""Every CSV the project writes goes through :func:`csv_lines`; imports read through
:func:`read_records`.

Cells come from people outside (names and tags of ingested authors), and a spreadsheet runs
a cell starting with ``=``, ``+``, ``-`` or ``@`` (or tab or carriage return, which some
spreadsheets skip before one of those) as a formula. Following OWASP's advice on CSV
injection, such a cell is written with a single quote in front, which spreadsheets show as
text and do not evaluate; so is a cell where one of those characters follows leading
whitespace. Plain numbers (``-0.5``, ``+4479...``) are left alone: they cannot be formulas.
:func:`restore_cell` takes the quote off again, so an exported file imports as it was.

Reading is strict (a quote left open or followed by stray characters is an error with its
line) and never stops at the first bad record, so an import can report what is wrong with a
file before it writes anything.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Record", "csv_lines", "neutralise_cell", "read_records", "restore_cell", "write_csv"]

#: first characters a spreadsheet may evaluate (OWASP, "CSV Injection")
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _is_formula(cell: str) -> bool:
    if not cell or _PLAIN_NUMBER.fullmatch(cell):
        return False
    return cell[0] in FORMULA_TRIGGERS or cell.lstrip()[:1] in FORMULA_TRIGGERS


def neutralise_cell(cell: str) -> str:
    """``cell`` as a spreadsheet will show it as text: quoted with ``'`` if it would run."""
    return "'" + cell if _is_formula(cell) else cell


def restore_cell(cell: str) -> str:
    """The value :func:`neutralise_cell` was given (a cell it did not quote is unchanged)."""
    return cell[1:] if cell.startswith("'") and _is_formula(cell[1:]) else cell


def csv_lines(rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """Each row as one CSV line (``\\r\\n``-terminated), every cell neutralised; lazily, so an
    export of any size streams."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def write_csv(rows: Iterable[Sequence[str]]) -> str:
    """The whole CSV text of ``rows`` (see :func:`csv_lines`)."""
    return "".join(csv_lines(rows))


@dataclass(frozen=True)
class Record:
    """One record of a CSV file: its cells, or why it could not be read.

    ``line`` is the line the record starts on (1-based; a quoted field may span lines)."""

    line: int
    cells: list[str]
    error: str | None = None


def read_records(text: str) -> Iterator[Record]:
    """The records of ``text``, blank lines skipped; a record that cannot be read (a field over
    the csv module's 128 KiB limit, a quote left open, a NUL character) is yielded with its
    error and reading goes on with the next line.

    Any line ending is a line ending: a lone carriage return (old Mac files) ends a record
    like a newline does, and is kept inside quoted fields. A byte order mark is skipped."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(start, [], str(exc))
        else:
            if any("\x00" in cell for cell in cells):
                yield Record(start, [], "NUL character in a field")
            elif cells:
                yield Record(start, cells)
        start = reader.line_num + 1
