"""Find the tables in a sheet's rows: the header row, each column's key and numbers, each table's
learning rate. Rows stream in from read.py; a table's columns are kept as arrays (8 bytes a number),
so a large export is held in little memory; cells outside tables are kept as they are (bounded).

A table is a header row with a label for every weight and at least one computed column, and the rows
under it that hold a number, an error value or a formula in its columns. Its learning rate is read
the way a person reads the sheet: the cell its update formulas multiply the gradient by, else a
labelled cell on the same worksheet (nearest above the table; the value anywhere right of the label
on its row, or just below it), else an lr column. Never from another worksheet.
"""

from __future__ import annotations

import functools
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from openpyxl.utils import column_index_from_string, get_column_letter

from derive.check.read import Cell, SheetError, Worksheet
from derive.labels import LR, Labels, is_learning_rate
from derive.network import Network

MAX_KEPT_CELLS = 2_000_000  # cells kept as they are: outside tables, text or a new formula in one
MAX_KEPT_CHARACTERS = 200_000_000  # the characters of those cells' texts and formulas
MAX_GAP = 3  # blank rows a table may have inside it
TYPED = array("i", [-1])
NAN = float("nan")
# A cell reference in a formula: $A$1, A1, not LOG10( nor Sheet2!A1.
REFERENCE = re.compile(r"(?<![A-Za-z0-9_.!$'])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\w(!])")


def cell_name(row: int, column: int) -> str:
    return f"{get_column_letter(column)}{row}"


@dataclass
class Column:
    """One table column: its numbers (NaN where none), the texts shown where not a number, and
    each row's formula as an index into the table's formulas (-1: typed). `formulas` stops at the
    last formula seen, so a column of typed numbers (a CSV file) holds 8 bytes a row, not 12."""

    key: str | None  # a symbol name, "lr" or "step"; None for a label this does not know
    label: str
    index: int  # the sheet's column number
    numbers: array = field(default_factory=lambda: array("d"))
    formulas: array = field(default_factory=lambda: array("i"))
    texts: dict[int, str] = field(default_factory=dict)  # row position -> text or error value
    significant: int = 0  # the most significant digits any of its numbers is written with
    decimals: int = -99  # the most decimals any of its numbers is written with

    def values(self) -> np.ndarray:
        return np.frombuffer(self.numbers, dtype=float) if len(self.numbers) else np.zeros(0)

    def formula(self, position: int) -> int:
        return self.formulas[position] if position < len(self.formulas) else -1

    def formula_ids(self) -> np.ndarray:
        """Each row's formula index, -1 where typed."""
        ids = np.full(len(self.numbers), -1, dtype=np.int32)
        if len(self.formulas):
            ids[: len(self.formulas)] = np.frombuffer(self.formulas, dtype=np.int32)
        return ids

    def units(self) -> np.ndarray:
        """Half a unit in the last digit each number carries: the column written to a fixed number
        of decimals or significant digits (a typed or pasted value) passes within it."""
        values = self.values()
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.floor(np.log10(np.abs(values)))
        magnitude = np.where(np.isfinite(magnitude), magnitude, -300)
        by_digits = 0.5 * 10.0 ** (magnitude - self.significant + 1)
        return np.maximum(by_digits, 0.5 * 10.0 ** (-self.decimals))


@dataclass(frozen=True)
class Formula:
    """A formula as written in its first cell; the same formula down a column is one Formula."""

    text: str
    row: int
    column: int


@dataclass
class Table:
    worksheet: str
    header_row: int
    columns: list[Column]
    rows: array = field(default_factory=lambda: array("i"))  # sheet row numbers
    formulas: list[Formula] = field(default_factory=list)
    learning_rate: LearningRate | None = None
    _ids: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def indexes(self) -> frozenset[int]:
        """The sheet's column numbers of the table's columns."""
        return frozenset(c.index for c in self.columns)

    @property
    def keyed(self) -> dict[str, Column]:
        return {c.key: c for c in self.columns if c.key is not None}

    @property
    def span(self) -> str:
        left = min(c.index for c in self.columns)
        right = max(c.index for c in self.columns)
        bottom = self.rows[-1] if self.rows else self.header_row
        return f"{cell_name(self.header_row, left)}:{cell_name(bottom, right)}"

    def add(self, row: int, cells: dict[int, Cell]) -> tuple[int, int]:
        """Append the row's cells to the columns; the texts and new formulas kept as they are
        (not as numbers): how many, and their characters."""
        position = len(self.rows)
        self.rows.append(row)
        known = len(self.formulas)
        texts = characters = 0
        for column in self.columns:  # run for every cell of a large table: kept plain
            cell = cells.get(column.index)
            if cell is None:
                column.numbers.append(NAN)
                continue
            value, formula, (significant, decimals) = cell
            if formula is not None:
                missing = position - len(column.formulas)
                if missing:
                    column.formulas.extend(TYPED * missing)
                column.formulas.append(self.formula_id(formula, row, column.index))
            if value.__class__ is float:
                column.numbers.append(value)
                if significant > column.significant:
                    column.significant = significant
                if decimals > column.decimals:
                    column.decimals = decimals
            else:
                column.numbers.append(NAN)
                column.texts[position] = value
                texts += 1
                characters += len(value)
        for formula in self.formulas[known:]:
            texts += 1
            characters += len(formula.text)
        return texts, characters

    def formula_id(self, text: str, row: int, column: int) -> int:
        key = f"{column}|{relative(text, row, column, (self.header_row, self.indexes))}"
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.formulas)
            self.formulas.append(Formula(text, row, column))
        return found


def relative(text: str, row: int, column: int, inside: tuple[int, frozenset[int]]) -> str:
    """The formula with each reference into the table written relative to its cell, as R1C1
    notation does, and each reference outside it as the cell it names; spaces dropped. So the same
    formula down a column is one text, and one that reads another cell in some rows is another."""
    header, columns = inside

    def ref(m: re.Match) -> str:
        c = column_index_from_string(m[2])
        r = int(m[4])
        if c not in columns or r <= header:
            return cell_name(r, c)
        return (
            f"R{'' if m[3] else '['}{r if m[3] else r - row}{'' if m[3] else ']'}"
            f"C{'' if m[1] else '['}{c if m[1] else c - column}{'' if m[1] else ']'}"
        )

    return REFERENCE.sub(ref, text.replace(" ", ""))


@dataclass(frozen=True)
class LearningRate:
    """Where a table's learning rate stands and its value (NaN per row where a column lacks it)."""

    source: str  # "formula", "label" or "column"
    where: str  # "Sheet1!E47", or the column's label
    cell: tuple[int, int] | None  # (row, column) of the cell, None for a column
    value: float | None


@dataclass
class Sheet:
    """One worksheet after locating: its tables and the cells outside them."""

    name: str
    tables: list[Table]
    loose: dict[tuple[int, int], Cell]
    header_like: list[str]  # headers with every weight but nothing computed: not tables


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

    def sheet(self, worksheet: Worksheet) -> Sheet:
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
                if keys is not None:
                    header_like.append(f"{worksheet.name}!{cell_name(row, min(keys))}")
                table = None
                rest = cells
            last = row
            self.keep(loose, row, rest)
        tables = [t for t in tables if t.rows]
        return Sheet(worksheet.name, tables, loose, header_like)

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


def learning_rate(sheet: Sheet, table: Table) -> LearningRate | None:
    """The table's learning rate: from its update formulas, a labelled cell, or a column."""
    referenced = update_references(table)
    if referenced:
        (row, column), _ = Counter(referenced).most_common(1)[0]
        cell = sheet.loose.get((row, column))
        value = cell.value if cell is not None and isinstance(cell.value, float) else None
        return LearningRate(
            "formula", f"{sheet.name}!{cell_name(row, column)}", (row, column), value
        )
    labelled = labelled_rate(sheet, table)
    if labelled is not None:
        return labelled
    column = table.keyed.get(LR)
    if column is not None:
        return LearningRate("column", column.label, None, None)
    return None


def update_references(table: Table) -> list[tuple[int, int]]:
    """The cells outside the table that weight-update formulas refer to, one per formula cell."""
    inside = table.indexes
    rows = set(table.rows)
    found = []
    for column in table.columns:
        if column.key is None or not column.key.startswith("w"):
            continue
        ids = column.formula_ids()
        for position in np.flatnonzero(ids[1:] >= 0) + 1:
            formula = int(ids[position])
            row = table.rows[position]
            text = table.formulas[formula]
            shifted = row - text.row
            for m in REFERENCE.finditer(text.text):
                c = column_index_from_string(m[2])
                r = int(m[4]) + (0 if m[3] else shifted)
                if c not in inside or r not in rows:
                    found.append((r, c))
    return found


def labelled_rate(sheet: Sheet, table: Table) -> LearningRate | None:
    """A learning rate in a labelled cell: the one nearest above the table's header row."""
    best: tuple[float, LearningRate] | None = None
    for (row, column), cell in sheet.loose.items():
        if not isinstance(cell.value, str) or cell.formula is not None:
            continue
        if not is_learning_rate(cell.value, beside_number=True):
            continue
        value = labelled_value(sheet, row, column)
        if value is None:
            continue
        (vr, vc), number = value
        distance = table.header_row - row if row <= table.header_row else 1e6 + row
        rate = LearningRate("label", f"{sheet.name}!{cell_name(vr, vc)}", (vr, vc), number)
        if best is None or distance < best[0]:
            best = (distance, rate)
    return best[1] if best else None


def labelled_value(sheet: Sheet, row: int, column: int):
    """The number a label names: the first filled cell right of it on its row, else below it."""
    right = sorted(c for (r, c) in sheet.loose if r == row and c > column)
    if right:
        cell = sheet.loose[row, right[0]]
        if isinstance(cell.value, float):
            return (row, right[0]), cell.value
    below = sheet.loose.get((row + 1, column))
    if below is not None and isinstance(below.value, float):
        return (row + 1, column), below.value
    return None


def locate(worksheets: list[Worksheet], network: Network, path: str) -> list[Sheet]:
    locator = Locator(network, path)
    sheets = [locator.sheet(w) for w in worksheets]
    for sheet in sheets:
        for table in sheet.tables:
            table.learning_rate = learning_rate(sheet, table)
    return sheets
