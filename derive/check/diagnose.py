"""Compare each table cell with what it must hold, and say what is wrong where it is made.

- A cell with a formula: its formula is compared with the derived expression for its column (a
  weight after the first row: the row above's weight minus lr times the row above's gradient);
  formulas.py reads it, judged once per different formula, at most MAX_JUDGED a table.
- A cell with a typed or pasted number (or a formula this cannot read): its value is compared with
  what it must hold within the precision the numbers carry (values.py).
- The weight updates: updates.py.
- An error value (#N/A, #DIV/0!, NaN) in a table, or in a cell outside it that the table takes a
  given or its learning rate from, is a finding at its cell whatever its formula says: a sheet that
  shows one is never clean. The cells computed from it are compared with what they would be had it
  been right, so a wrong value is not reported again for each error it causes (errors.py).
- A column whose label this does not know: known by what it computes, or by the catalogued
  mistake its numbers hold (helpers.py, mistakes.py).
Here: the run over a table's columns, and each wrong cell made an Issue (same mistake, one key).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import sympy as sp

from derive.check.errors import ERROR_VALUE, ErrorValues
from derive.check.formulas import FormulaReading, Judgement
from derive.check.helpers import MIN_ROWS, UnknownColumns
from derive.check.learning_rate import given_cells
from derive.check.model import Equation, Model, update_expr
from derive.check.table import REFERENCE, Column, Sheet, Table
from derive.check.updates import WRONG_RATE, UpdateChecks
from derive.check.values import NOT_A_NUMBER, ValueComparison
from derive.check.verdict import Issue, Verdict
from derive.labels import Labels

WRONG_FORMULA = "wrong formula"
WRONG_VALUE = "wrong value"
TYPED_NUMBER = "typed number"
MAX_LISTED = 1_000  # cells listed for one finding; the rest are counted (a large wrong table)
MAX_JUDGED = 10_000  # different formulas a table's cells are judged by (~10 ms each); then values


class TableCheck(FormulaReading, ValueComparison, UpdateChecks, UnknownColumns, ErrorValues):
    """One table's check: its state here, the formula reading, value comparison and update checks
    in the modules of the classes it is made of."""

    def __init__(
        self, sheet: Sheet, table: Table, model: Model, tolerance: float, shared: dict | None = None
    ):
        self.sheet, self.table, self.model, self.tolerance = sheet, table, model, tolerance
        # Judgements of formulas that read only their own table's cells, shared by tables of the
        # same columns (an export's worksheets, one per learning rate): each is judged once.
        self.shared = {} if shared is None else shared
        # A frozenset keeps its hash: a tuple of thousands of columns was hashed at every judge.
        self.signature = frozenset((c.index, c.key) for c in table.columns)
        self.keyed = table.keyed
        self.by_index = {c.index: c for c in table.columns}
        self.rows = np.asarray(table.rows, dtype=np.int64)
        self.row_set = set(table.rows)
        self.verdict = Verdict()
        self.judged: dict[tuple[int, str], Judgement] = {}
        self.too_many = False  # past MAX_JUDGED formulas
        self.listed: Counter = Counter()  # finding key -> cells listed
        self.expected: dict[tuple[str, sp.Expr], str] = {}
        self.reported: set[tuple[int, int]] = set()  # (row, column) of texts already a finding
        self.traced: dict[int, tuple[int, list]] = {}  # formula -> its row, its references
        self.uses: Counter[int] = Counter()  # formula index -> cells using it
        for column in table.columns:
            ids, counts = np.unique(column.formula_ids(), return_counts=True)
            self.uses.update({int(f): int(c) for f, c in zip(ids, counts, strict=True) if f >= 0})
        self.givens = given_cells(sheet, Labels(model.network))
        self.updates = self.update_positions()
        self.partial: list[Column] = []  # an unfinished last row's computed cells
        self.last = len(self.rows) - (1 if self.unfinished() else 0)
        self.mistaken: dict[int, str] = {}  # column index -> the mistake its values hold

    def unfinished(self) -> bool:
        """The last row holds the next weights and none or only some of its computed cells, below
        a row that holds them all: a row not yet done, not a column of errors. The cells it has
        are checked (`positions`)."""
        if len(self.rows) < 2:
            return False
        computed = [c for k, c in self.keyed.items() if k in self.model.equations]
        end = len(self.rows) - 1
        self.partial = [c for c in computed if not self.empty(c, end)]
        return (
            bool(computed)
            and len(self.partial) < len(computed)
            and not any(self.empty(c, end - 1) for c in computed)
        )

    @staticmethod
    def empty(column: Column, i: int) -> bool:
        return np.isnan(column.values()[i]) and i not in column.texts and column.formula(i) < 0

    def positions(self, column: Column) -> np.ndarray:
        """The rows of `column` to check: all, but an unfinished last row's empty cell."""
        if self.last == len(self.rows) or self.empty(column, self.last):
            return np.arange(len(self.rows) if self.last == len(self.rows) else self.last)
        return np.arange(self.last + 1)

    def judge(self, formula_id: int, key: str, expected: sp.Expr) -> Judgement:
        cache = (formula_id, key)
        if cache not in self.judged:
            if len(self.judged) >= MAX_JUDGED:  # bounded work: the rest compared by value
                if not self.too_many:
                    self.too_many = True
                    self.verdict.notes.append(
                        f"more than {MAX_JUDGED:,} different formulas: the cells of the rest are "
                        "compared by their values"
                    )
                return Judgement(False, unsupported="one of too many different formulas")
            text = self.table.formula_keys[formula_id].partition("|")[2]
            if REFERENCE.search(text):  # it reads a cell outside the table: judged here
                self.judged[cache] = self._judge(formula_id, key, expected)
            else:
                alike = (self.signature, self.table.formula_keys[formula_id], key)
                alike += (self.uses.get(formula_id, 1) > 1, self.distribution)
                if alike not in self.shared:
                    self.shared[alike] = self._judge(formula_id, key, expected)
                self.judged[cache] = self.shared[alike]
        return self.judged[cache]

    def run(self) -> Verdict:
        used = self.values_in_use()
        self.distribution = sums_to_one([used[t.name] for t in self.model.network.targets])
        for key, equation in self.model.equations.items():
            if key in self.keyed:
                self.check_column(self.keyed[key], equation, used)
        self.check_unknown(used)
        self.check_updates(used)
        self.check_givens()
        self.check_error_values(used)
        if self.last < len(self.rows) and self.table.origin is None:  # a form's is its output
            row, held = int(self.rows[-1]), len(self.partial)
            computed = sum(1 for k in self.keyed if k in self.model.equations)
            what = f"the next weights and {held} of its {computed} computed cells" if held else ""
            self.verdict.notes.append(
                f"row {row} holds {what or 'only the next weights'} (an unfinished row)"
            )
        return self.verdict

    def check_column(self, column: Column, equation: Equation, used) -> None:
        key, expected = column.key, equation.expr
        correct = self.computed(equation, used)  # made here, not kept: a large table is held once

        def wrong(at: np.ndarray, _formula: int, judgement: Judgement) -> None:
            for i in at:
                self.add(column, i, WRONG_FORMULA, correct[i], expected, judgement)

        # A formula showing an error value is judged by its formula: a right one shows the
        # error of a cell it reads, which is reported there.
        rest = self.by_formula(column, self.positions(column), key, expected, wrong)
        if len(rest):
            units = column.units()[rest] + self.carried_units(equation, used)[rest]
            allowed = 1.5 * units + self.tolerance * np.abs(correct[rest])
            with np.errstate(invalid="ignore"):
                wrong = rest[np.abs(column.values()[rest] - correct[rest]) > allowed]
            if len(wrong) >= MIN_ROWS and column.index not in self.mistaken:
                self.name_mistake(column, wrong, used)  # typed numbers holding a known mistake
            typed = TYPED_NUMBER if self.mostly_formulas(column) else WRONG_VALUE
            self.by_value(column, rest, correct[rest], allowed, expected, typed, WRONG_VALUE)
        self.verdict.columns.append(column.label)

    def by_formula(
        self,
        column: Column,
        positions: np.ndarray,
        key: str,
        expected: sp.Expr,
        wrong: Callable[[np.ndarray, int, Judgement], None],
    ) -> np.ndarray:
        """Judge the cells at `positions` that hold a formula this reads, each formula once, and
        hand the wrong ones to `wrong`; the positions left to compare by value (typed numbers,
        formulas this cannot read)."""
        ids = column.formula_ids()[positions]
        if not (ids >= 0).any():
            return positions
        order = np.argsort(ids, kind="stable")
        starts = np.flatnonzero(np.diff(ids[order])) + 1
        rest = []
        for group in np.split(order, starts):
            at, formula = positions[group], int(ids[group[0]])
            judgement = self.judge(formula, key, expected) if formula >= 0 else None
            if judgement is None or not (judgement.ok or not judgement.unsupported):
                rest.append(at)
                continue
            self.verdict.checked += len(at)
            if not judgement.ok:
                wrong(at, formula, judgement)
        return np.sort(np.concatenate(rest)) if rest else positions[:0]

    def check_givens(self) -> None:
        """Error values where an input, target or first weight belongs are findings too."""
        for key, column in self.keyed.items():
            if key not in self.model.givens:
                continue
            for i, text in column.texts.items():
                if i < self.last and (i == 0 or key not in self.trained_names):
                    self.verdict.checked += 1
                    self.add(column, i, NOT_A_NUMBER, self.model.defaults[key], sp.Symbol(key))
                    del text

    def expected_expr(self, key: str | None, i: int) -> sp.Expr | None:
        """What the cell at position i of column `key` must hold, if this knows."""
        if key in self.model.equations:
            return self.model.equations[key].expr
        k = int(np.searchsorted(self.updates, i))
        if key in self.trained_names and k < len(self.updates) and self.updates[k] == i:
            return update_expr(key, self.model)
        return sp.Symbol(key) if key in self.model.givens else None

    @property
    def trained_names(self) -> set[str]:
        return {p.name for p in self.model.network.trained}

    def add(self, column, i, kind, correct, expected, judgement: Judgement | None = None) -> None:
        row = int(self.rows[i])
        value = column.values()[i]
        shown = column.texts.get(i) if not np.isfinite(value) else float(value)
        if isinstance(shown, str):
            self.reported.add((row, column.index))
        formula = column.formula(i)
        diagnosis = judgement.diagnosis if judgement else self.mistaken.get(column.index, "")
        if kind == ERROR_VALUE:
            diagnosis = f"the cell shows the error value {shown}"
        key = finding_key(column.index, kind, formula, diagnosis)
        if self.listed[key] >= MAX_LISTED:
            self.verdict.unlisted[key] += 1
            return
        self.listed[key] += 1
        if (column.key, expected) not in self.expected:  # printed once: SymPy prints slowly
            self.expected[column.key, expected] = expected_text(column, expected, self.model)
        self.verdict.issues.append(
            Issue(
                column.key,
                column.label,
                row,
                column.index,
                kind,
                shown,
                float(correct) if correct is not None and np.isfinite(correct) else None,
                self.expected[column.key, expected],
                formula,
                diagnosis,
            )
        )


def finding_key(column: int, kind: str, formula: int, diagnosis: str) -> tuple:
    """Cells with the same key are one finding: the same mistake down a column; a wrong
    learning-rate cell is one finding however many cells it wanders over."""
    if kind == WRONG_RATE:
        return (column, kind)
    return (column, kind, formula, diagnosis)


def expected_text(column: Column, expected: sp.Expr | None, model: Model) -> str:
    key = column.key
    if expected is None:
        return f"{column.label}: a number"
    if key in model.givens and expected != sp.Symbol(key):
        return f"{key} = {key} - lr*dE_total/d{key} (the row above's values)"
    return f"{key} = {sp.sstr(expected, order='none')}"


def sums_to_one(targets: list[np.ndarray]) -> bool:
    """Every row's targets add up to 1 (to the digits a typed 0.01 and 0.99 carry)."""
    return bool(np.all(np.abs(np.sum(targets, axis=0) - 1) < 1e-9))
