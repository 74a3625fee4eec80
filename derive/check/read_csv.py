"""Read a CSV file (or a ;- or tab-separated one) as one worksheet of rows of cells, a row at a
time: at most MAX_CELLS non-empty fields (grid.py), each at most MAX_TEXT characters; a line at
most MAX_LINE characters with at most MAX_FIELDS separators, checked before the line is split (a
line of millions of fields is refused, not made into a list); a field that is a number (a decimal
comma too, in ;-separated files) is one, else text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from derive.check.grid import MAX_CELLS, MAX_TEXT, Cell, Row, SheetError, number

# Fields in a row: more than a worksheet's 16,384 columns (A to XFD), as derive writes a CSV for
# a net too wide for a worksheet (64-64-64-64 with trained biases: 25,539 columns).
MAX_FIELDS = 32_768
MAX_LINE = 16 << 20  # characters in one line of the file


def csv_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as raw:
        head = raw.read(8192)
    if b"\0" in head:
        raise SheetError(f"{path}: not a CSV file (binary data)")
    try:
        dialect = csv.Sniffer().sniff(head.decode("utf-8-sig", "ignore"), delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    cells = 0
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(bounded_lines(path, text, dialect.delimiter), dialect)
        try:
            for row, line in enumerate(reader, start=1):
                found = {}
                for column, field in enumerate(line, start=1):
                    if len(field) > MAX_TEXT:
                        raise SheetError(
                            f"{path}: row {row}, field {column} holds {len(field):,} characters, "
                            f"more than the {MAX_TEXT:,} a cell holds"
                        )
                    if field.strip():
                        found[column] = csv_cell(field, dialect.delimiter)
                cells += len(found)
                if cells > MAX_CELLS:
                    raise SheetError(f"{path}: more than {MAX_CELLS:,} cells, the most this reads")
                if found:
                    yield row, found
        except UnicodeDecodeError:
            raise SheetError(f"{path}: not a CSV file (not UTF-8 text)") from None
        except csv.Error as exc:
            raise SheetError(f"{path}: not a CSV file this can read: {exc}") from None


def bounded_lines(path: Path, text, delimiter: str) -> Iterator[str]:
    """The file's lines, each refused past MAX_LINE characters or MAX_FIELDS separators."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise SheetError(f"{path}: line {number:,} is longer than {MAX_LINE:,} characters")
        if line.count(delimiter) >= MAX_FIELDS:
            raise SheetError(
                f"{path}: line {number:,} has more than {MAX_FIELDS:,} fields, the most a row has"
            )
        yield line


def csv_cell(field: str, delimiter: str) -> Cell:
    """A number where the field is one (a decimal comma too, in ;-separated files), else text."""
    text = field.strip()
    candidates = [text] if delimiter == "," else [text, text.replace(",", ".")]
    for candidate in candidates:
        cell = number(candidate)
        if cell is not None:
            return cell
    return Cell(text, None)
