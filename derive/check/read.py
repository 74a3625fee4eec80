"""Read an .xlsx workbook or a CSV file as rows of cells, within bounds checked before and while
reading (never after loading), so a hostile file is refused in one line, fast and in little memory.

Here: the file itself, at most MAX_FILE_BYTES on disk, and which reader its suffix calls for. The
rest of the bounds (each refusal names the one it hit) are the readers': read_xlsx.py (a workbook's
parts, a worksheet's cells, a cell's text) and read_csv.py (its fields); grid.py holds what they
share.
"""

from __future__ import annotations

from pathlib import Path

from derive.check.grid import SheetError, Worksheet
from derive.check.read_csv import csv_rows
from derive.check.read_xlsx import Workbook

MAX_FILE_BYTES = 1 * 2**30  # derive table's largest CSV (100,000 steps at 6 rates) is 349 MB
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def read_sheets(path: Path) -> list[Worksheet]:
    """The worksheets of the file, each a stream of rows; refused in one line past any bound."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SheetError(f"{path}: not a regular file")
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise SheetError(f"{path}: no such file") from None
    except OSError as exc:
        raise SheetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise SheetError(f"{path}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} this reads")
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return Workbook(path).worksheets()
    if suffix in CSV_SUFFIXES:
        return [Worksheet(path.name, csv_rows(path))]
    raise SheetError(
        f"{path}: not a spreadsheet this can read ({suffix or 'no extension'}); "
        f"give {', '.join(XLSX_SUFFIXES + CSV_SUFFIXES)} (save .xls or .ods as .xlsx)"
    )
