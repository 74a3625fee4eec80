"""Error values (#DIV/0!, #N/A ...): each one in a table, or in a cell outside it the table takes
a given or its learning rate from, is a finding at its cell; one computed from a cell that shows an
error is counted in a note (its error comes from there)."""

from __future__ import annotations

import itertools

import numpy as np
from openpyxl.utils import column_index_from_string

from derive.check.grid import is_error_value
from derive.check.table import REFERENCE, Column, Sheet, Table
from derive.check.verdict import Issue
from derive.labels import LR

ERROR_VALUE = "error value"
MAX_TRACED = 64  # references of one formula followed to find where an error value comes from


class ErrorValues:
    """TableCheck's (diagnose.py) error values, each made an Issue through its `add`."""

    sheet: Sheet
    table: Table
    rows: np.ndarray

    def check_error_values(self, used: dict[str, np.ndarray]) -> None:
        """Every error value in the table not yet a finding, in any column, and in the cells
        outside it the table takes a given or its learning rate from. A cell whose formula reads
        a cell that shows an error is counted in a note (its error comes from there), unless no
        cell of the table is a finding (errors that only read each other)."""
        caused = []
        for column in self.table.columns:
            for i, text in sorted(column.texts.items()):
                row = int(self.rows[i])
                if not is_error_value(text) or (row, column.index) in self.reported:
                    continue
                if self.reads_an_error(column, i):
                    caused.append((column, i))
                    continue
                self.add_error(column, i, used)
        self.check_outside_errors()
        if caused and not self.verdict.issues:
            for column, i in caused:
                self.add_error(column, i, used)
        elif caused:
            first = min(self.table.place(int(self.rows[i]), c.index) for c, i in caused)
            self.verdict.notes.append(
                f"{len(caused):,} more cell(s) show an error value computed from a cell that shows "
                f"one (the first: {first})"
            )

    def add_error(self, column: Column, i: int, used: dict[str, np.ndarray]) -> None:
        self.verdict.checked += 1
        key = column.key
        correct = used[key][i] if key in used else None
        self.add(column, i, ERROR_VALUE, correct, self.expected_expr(key, i))

    def check_outside_errors(self) -> None:
        """An error value where the table takes a given or its learning rate from."""
        rate = self.table.learning_rate
        outside = dict(self.givens)
        if rate is not None and rate.cell is not None:
            outside[rate.cell] = LR
        for (row, index), key in sorted(outside.items()):
            cell = self.sheet.loose.get((row, index))
            if cell is None or not is_error_value(cell.value):
                continue
            self.verdict.checked += 1
            what = "the learning rate" if key == LR else key
            diagnosis = f"{what} shows the error value {cell.value}"
            self.verdict.issues.append(
                Issue(
                    key,
                    key,
                    row,
                    index,
                    ERROR_VALUE,
                    cell.value,
                    self.model.defaults.get(key),
                    f"{what}: a number",
                    -1,
                    diagnosis,
                )
            )

    def reads_an_error(self, column: Column, i: int) -> bool:
        """The cell's formula reads a cell (of the table or outside it) that shows an error; of
        a formula's references the first MAX_TRACED are followed (past them a cell is taken for
        a source of its error: a finding too many, never one too few)."""
        formula_id = column.formula(i)
        if formula_id < 0:
            return False
        if formula_id not in self.traced:
            formula = self.table.formulas[formula_id]
            found = []
            for m in itertools.islice(REFERENCE.finditer(formula.text), MAX_TRACED):
                found.append((int(m[4]), bool(m[3]), column_index_from_string(m[2])))
            self.traced[formula_id] = (formula.row, found)
        origin, references = self.traced[formula_id]
        shift = int(self.rows[i]) - origin
        return any(
            self.shows_error(row if fixed else row + shift, index)
            for row, fixed, index in references
        )

    def shows_error(self, row: int, index: int) -> bool:
        k = int(np.searchsorted(self.rows, row))
        target = self.by_index.get(index)
        if target is not None and k < len(self.rows) and self.rows[k] == row:
            return is_error_value(target.texts.get(k))
        cell = self.sheet.loose.get((row, index))
        return cell is not None and is_error_value(cell.value)
