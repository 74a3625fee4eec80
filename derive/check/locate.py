"""Find the tables in a sheet's rows: the header row, each column's key and numbers, then each
table's learning rate (learning_rate.py). Rows stream in from read.py; a table's columns are kept as
arrays (table.py), so a large export is held in little memory; cells outside tables are kept as they
are, within MAX_KEPT_CELLS cells and MAX_KEPT_CHARACTERS characters.

A table is a header row with a label for every weight and at least one computed column, and the rows
under it that hold a number, an error value or a formula in its columns; a worksheet without one
whose labels name every weight and something computed, each beside its value, is a form of one
iteration (form.py).
"""

from __future__ import annotations

from derive.check.form import form_table
from derive.check.grid import Cell, SheetError, Worksheet
from derive.check.learning_rate import learning_rate
from derive.check.table import Column, Sheet, Table, cell_name
from derive.check.transpose import transposed_rows
from derive.labels import Labels
from derive.network import Network

MAX_KEPT_CELLS = 2_000_000  # cells kept as they are: outside tables, text or a new formula in one
MAX_KEPT_CHARACTERS = 200_000_000  # the characters of those cells' texts and formulas
MAX_GAP = 3  # blank rows a table may have inside it


class Locator:
    def __init__(self, network: Network, path: str):
        self.labels = Labels(network)
        self.path = path
        self.weights = [s.name for s in network.weight_symbols]
        self.computed = {s.name for s, _ in network.equations} | set(self.labels.trained.values())
        self.kept = self.characters = 0

    def header(self, cells: dict[int, Cell]) -> dict[int, str | None] | None:
        """The row's columns -> keys when it is a table's header, else None."""
        keys = {
            column: self.labels.key(cell.value)
            for column, cell in cells.items()
            if isinstance(cell.value, str) and cell.formula is None
        }
        found = set(keys.values())
        if not all(w in found for w in self.weights):
            return None
        return keys

    def valued(self, cells: dict[int, Cell], keys: dict[int, str | None]) -> bool:
        """Each weight's label has its number beside it ('w1 | 0.3' in a list of givens, as a
        1-1 net's has all its weights in one row): labelled values, not a header."""
        return all(
            isinstance(cells[c + 1].value, float) if c + 1 in cells else False
            for c, key in keys.items()
            if key in self.weights
        )

    def sheet(self, worksheet: Worksheet, turned: bool = False) -> Sheet:
        """The worksheet's tables by rows, else by columns (transpose.py), else a form of one
        iteration (form.py); `turned`: the worksheet is already read by columns."""
        tables: list[Table] = []
        loose: dict[tuple[int, int], Cell] = {}
        header_like = []
        table: Table | None = None
        last = 0
        for row, cells in worksheet.rows:
            keys = self.header(cells)
            if keys is not None and self.computed & set(keys.values()):
                table = Table(worksheet.name, row, self.columns(keys, cells))
                tables.append(table)
                rest = cells
            elif table is not None and row - last <= MAX_GAP + 1 and self.belongs(table, cells):
                self.count(*table.add(row, cells))
                inside = table.indexes
                rest = {c: cell for c, cell in cells.items() if c not in inside}
            else:
                if keys is not None and not self.valued(cells, keys):
                    header_like.append(f"{worksheet.name}!{cell_name(row, min(keys))}")
                table = None
                rest = cells
            last = row
            self.keep(loose, row, rest)
        tables = [t for t in tables if t.rows]
        if turned or tables:
            return Sheet(worksheet.name, tables, loose, header_like, worksheet.notes, turned)
        rows = transposed_rows(loose)
        if rows is not None:
            by_columns = self.sheet(Worksheet(worksheet.name, iter(rows), worksheet.notes), True)
            if any(len(t.rows) > 1 for t in by_columns.tables):
                for table in by_columns.tables:
                    table.transposed = True
                    table.formulas_as_written = {
                        (r, c): loose[c, r].formula
                        for r in table.rows
                        for c in table.indexes
                        if (c, r) in loose and loose[c, r].formula
                    }
                return by_columns
        form = form_table(worksheet.name, loose, self.labels, self.weights, self.computed)
        tables = [form] if form is not None else []
        return Sheet(worksheet.name, tables, loose, header_like, worksheet.notes)

    def count(self, kept: int, characters: int) -> None:
        """Count cells kept as they are (each a Python object, not 8 bytes) against the bounds."""
        self.kept += kept
        self.characters += characters
        if self.kept > MAX_KEPT_CELLS:
            raise SheetError(
                f"{self.path}: more than {MAX_KEPT_CELLS:,} cells of text, different formulas "
                "or cells outside any table, the most this reads"
            )
        if self.characters > MAX_KEPT_CHARACTERS:
            raise SheetError(
                f"{self.path}: more than {MAX_KEPT_CHARACTERS:,} characters of text and "
                "different formulas, the most this reads"
            )

    def keep(self, loose: dict, row: int, cells: dict[int, Cell]) -> None:
        self.count(
            len(cells),
            sum(len(c.value) if c.value.__class__ is str else 0 for c in cells.values())
            + sum(len(c.formula) for c in cells.values() if c.formula is not None),
        )
        for column, cell in cells.items():
            loose[row, column] = cell

    def columns(self, keys: dict[int, str | None], cells: dict[int, Cell]) -> list[Column]:
        taken: set[str] = set()
        columns = []
        for index in sorted(keys):
            key = keys[index]
            if key in taken:
                key = None  # a second column with the same label: its formulas may tell
            taken.add(key)
            columns.append(Column(key, str(cells[index].value), index))
        return columns

    @staticmethod
    def belongs(table: Table, cells: dict[int, Cell]) -> bool:
        """A row of the table: a number, an error value or a formula in one of its columns."""
        for column in table.columns:
            cell = cells.get(column.index)
            if cell is None:
                continue
            if cell.formula is not None or isinstance(cell.value, float):
                return True
            if cell.value.startswith("#") or cell.value.lower() in ("nan", "inf", "-inf"):
                return True
        return False


def locate(worksheets: list[Worksheet], network: Network, path: str) -> list[Sheet]:
    locator = Locator(network, path)
    sheets = [locator.sheet(w) for w in worksheets]
    for sheet in sheets:
        for table in sheet.tables:
            table.learning_rate = learning_rate(sheet, table)
    return sheets
