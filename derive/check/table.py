"""What locating makes of a worksheet: its tables, each a header's columns held as arrays (8 bytes a
number), the table's different formulas (the same formula down a column is one), where its learning
rate stands; and the cells outside tables, kept as they are.
"""

from __future__ import annotations

import functools
import re
from array import array
from dataclasses import dataclass, field

import numpy as np
from openpyxl.utils import column_index_from_string

from derive.check.grid import Cell

TYPED = array("i", [-1])
NAN = float("nan")
# A cell reference in a formula: $A$1, A1, not LOG10( nor Sheet2!A1.
REFERENCE = re.compile(r"(?<![A-Za-z0-9_.!$'])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\w(!])")


def cell_name(row: int, column: int) -> str:
    """A1, AB7; past XFD too, for a CSV file's fields (openpyxl's letters stop at ZZZ, 18,278
    columns, and the CSV of derive's widest net, 64-64-64-64 with biases, has 25,539)."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{row}"


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
        of decimals or significant digits (a typed or pasted value) passes within it; 0 where it
        has no number."""
        values = self.values()
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.floor(np.log10(np.abs(values)))
        magnitude = np.where(np.isfinite(magnitude), magnitude, -300)
        by_digits = 0.5 * 10.0 ** (magnitude - self.significant + 1)
        units = np.maximum(by_digits, 0.5 * 10.0 ** (-self.decimals))
        # Where the sheet has no number the value in use is computed: exact.
        return np.where(np.isfinite(values), units, 0.0)


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
    # Each formula's column and text with its references relative (`relative`), by index.
    formula_keys: list[str] = field(default_factory=list)
    # A form read as a table (form.py): each of its cells -> where it stands in the sheet.
    origin: dict[tuple[int, int], tuple[int, int]] | None = None
    formulas_as_written: dict[tuple[int, int], str] = field(default_factory=dict)

    transposed: bool = False  # read by columns (transpose.py): its rows are the sheet's columns

    def place(self, row: int, column: int) -> str:
        """The sheet's name of the table's cell (or a cell beside it) at row, column."""
        return cell_name(*self.position(row, column))

    def position(self, row: int, column: int) -> tuple[int, int]:
        """The sheet's (row, column) of the table's cell (or a cell beside it) at row, column."""
        if self.origin is not None:
            row, column = self.origin.get((row, column), (row, column))
        return (column, row) if self.transposed else (row, column)

    @functools.cached_property
    def indexes(self) -> frozenset[int]:
        """The sheet's column numbers of the table's columns."""
        return frozenset(c.index for c in self.columns)

    @property
    def keyed(self) -> dict[str, Column]:
        return {c.key: c for c in self.columns if c.key is not None}

    @property
    def span(self) -> str:
        if self.origin:
            rows = [r for r, _ in self.origin.values()]
            columns = [c for _, c in self.origin.values()]
            return f"{cell_name(min(rows), min(columns))}:{cell_name(max(rows), max(columns))}"
        left = min(c.index for c in self.columns)
        right = max(c.index for c in self.columns)
        bottom = self.rows[-1] if self.rows else self.header_row
        return f"{self.place(self.header_row, left)}:{self.place(bottom, right)}"

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
            self.formula_keys.append(key)
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
    notes: list[str] = field(default_factory=list)  # what reading it found to say
    transposed: bool = False  # its cells turned about the diagonal (transpose.py)
    # What is worked out once from `loose` (learning_rate.py), not again for each table.
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def place(self, row: int, column: int) -> str:
        """The sheet's own name of the cell at row, column (turned back when transposed)."""
        return cell_name(column, row) if self.transposed else cell_name(row, column)
