"""Read a CSV file (or a ;- or tab-separated one) as one worksheet of rows of cells, a row at a
time: at most MAX_CELLS non-empty fields (grid.py), each at most MAX_TEXT characters; a field that
is a number (a decimal comma too, in ;-separated files) is one, else text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from derive.check.grid import MAX_CELLS, Cell, Row, SheetError, number


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
        reader = csv.reader(text, dialect)
        try:
            for row, line in enumerate(reader, start=1):
                found = {}
                for column, field in enumerate(line, start=1):
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


def csv_cell(field: str, delimiter: str) -> Cell:
    """A number where the field is one (a decimal comma too, in ;-separated files), else text."""
    text = field.strip()
    candidates = [text] if delimiter == "," else [text, text.replace(",", ".")]
    for candidate in candidates:
        cell = number(candidate)
        if cell is not None:
            return cell
    return Cell(text, None)
