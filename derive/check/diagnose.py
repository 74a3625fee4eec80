"""Compare each table cell with what it must hold, and say what is wrong where it is made.

- A cell with a formula: the formula, translated into SymPy over the table's columns, is compared
  with the derived expression for its column (a weight after the first row: the row above's
  weight minus lr times the row above's gradient), whatever the size of its values. A wrong formula
  is named (explain.py); the same formula down a column is one finding.
- A cell with a typed or pasted number (or a formula this cannot read): its value is compared with
  the derived expression evaluated at the same row's sheet values, within the precision the numbers
  carry (half a unit of their last digit, carried through the expression) plus `tolerance` times
  the value; no fixed floor, so a wrong value is found however small it is.
- An error value (#N/A, #DIV/0!, NaN) in a table is a finding at its cell; the cells computed from
  it are compared with what they would be had it been right, so it is reported once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.check.explain import explain
from derive.check.locate import Column, Formula, Sheet, Table, cell_name, labelled_value
from derive.check.model import (
    LEARNING_RATE,
    Equation,
    Model,
    equivalent,
    previous,
    update_expr,
)
from derive.check.translate import Unsupported, translate
from derive.labels import LR, STEP, Labels

WRONG_FORMULA = "wrong formula"
WRONG_VALUE = "wrong value"
WRONG_UPDATE = "wrong update"
TYPED_NUMBER = "typed number"
NOT_A_NUMBER = "not a number"
WRONG_RATE = "wrong learning-rate cell"
MAX_INLINE = 6  # references followed through cells of unknown columns
MAX_LISTED = 1_000  # cells listed for one finding; the rest are counted (a large wrong table)
MAX_JUDGED = 10_000  # different formulas a table's cells are judged by (~10 ms each); then values


@dataclass(frozen=True)
class Issue:
    """One wrong cell, before cells with the same mistake are grouped."""

    key: str
    label: str
    row: int
    column: int
    kind: str
    sheet_value: float | str | None
    correct_value: float | None
    correct_formula: str
    formula: int  # the formula's index in the table, -1 for a typed value
    diagnosis: str


@dataclass
class Verdict:
    """What one table's check found and covered."""

    issues: list[Issue] = field(default_factory=list)  # at most MAX_LISTED a finding
    unlisted: Counter = field(default_factory=Counter)  # finding key -> wrong cells past those
    checked: int = 0
    columns: list[str] = field(default_factory=list)  # labels of the columns checked
    updates: str = ""  # how the weight updates were checked, or why not
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Judgement:
    ok: bool
    diagnosis: str = ""
    unsupported: str = ""
    # An update right but for the cell it takes the learning rate from: (row, column, whether
    # the reference moves down with the formula's row).
    rate_cell: tuple[int, int, bool] | None = None


def display_name(symbol: sp.Symbol, update: bool) -> str:
    name = symbol.name.replace("dE_total/d", "dE/d")
    if name.endswith("@prev"):
        return name[:-5] if update else f"{name[:-5]} of the row above"
    if "@row" in name:
        base, _, row = name.partition("@row")
        return f"{base} of row {row}"
    if symbol == LEARNING_RATE:
        return "lr"
    return f"this row's {name}" if update and not name.startswith("cell ") else name


class TableCheck:
    def __init__(self, sheet: Sheet, table: Table, model: Model, tolerance: float):
        self.sheet, self.table, self.model, self.tolerance = sheet, table, model, tolerance
        self.keyed = table.keyed
        self.by_index = {c.index: c for c in table.columns}
        self.rows = np.asarray(table.rows, dtype=np.int64)
        self.row_set = set(table.rows)
        self.verdict = Verdict()
        self.judged: dict[tuple[int, str], Judgement] = {}
        self.too_many = False  # past MAX_JUDGED formulas
        self.listed: Counter = Counter()  # finding key -> cells listed
        self.expected: dict[tuple[str, sp.Expr], str] = {}
        self.uses: Counter[int] = Counter()  # formula index -> cells using it
        for column in table.columns:
            ids, counts = np.unique(column.formula_ids(), return_counts=True)
            self.uses.update({int(f): int(c) for f, c in zip(ids, counts, strict=True) if f >= 0})
        self.givens = given_cells(sheet, Labels(model.network))
        self.updates = self.update_positions()
        self.last = len(self.rows) - (1 if self.unfinished() else 0)

    # Where things are -------------------------------------------------------------------

    def unfinished(self) -> bool:
        """The last row holds only the next weights: a row not yet done, not a column of errors."""
        if len(self.rows) < 2:
            return False
        computed = [c for k, c in self.keyed.items() if k in self.model.equations]
        end = len(self.rows) - 1
        return bool(computed) and all(
            np.isnan(c.values()[end]) and end not in c.texts and c.formula(end) < 0
            for c in computed
        )

    def update_positions(self) -> np.ndarray:
        """Positions i whose weights are one update after row i - 1 (not a restart of a run)."""
        step, lr = self.keyed.get(STEP), self.keyed.get(LR)
        follows = np.ones(max(len(self.rows) - 1, 0), dtype=bool)
        if step is not None:
            follows &= step.values()[1:] == step.values()[:-1] + 1
        if lr is not None:
            follows &= lr.values()[1:] == lr.values()[:-1]
        return np.flatnonzero(follows) + 1

    # Formulas ---------------------------------------------------------------------------

    def resolver(self, formula: Formula, state: dict, depth: int = 0):
        shared = self.uses.get(self.table.formulas.index(formula), 1) > 1 if depth == 0 else True

        def resolve(row: int, column: int, absolute: bool) -> sp.Expr:
            target = self.by_index.get(column) if row in self.row_set else None
            if target is not None:
                return self.table_reference(target, formula, row, absolute and shared, state, depth)
            return self.outside_reference(formula, row, column, absolute, shared, state, depth)

        return resolve

    def table_reference(self, target: Column, formula, row, fixed, state, depth) -> sp.Expr:
        if target.key == LR:
            return LEARNING_RATE
        offset = row - formula.row
        if target.key is None or fixed or offset not in (0, -1):
            if target.key is not None:
                symbol = sp.Symbol(f"{target.key}@row{row}", real=True)
                state[symbol] = (row, target.index, not fixed and depth == 0)
                return symbol
            return self.inline(row, target.index, state, depth, f"column {target.label!r}")
        return sp.Symbol(target.key, real=True) if offset == 0 else previous(target.key)

    def outside_reference(self, formula, row, column, absolute, shared, state, depth) -> sp.Expr:
        rate = self.table.learning_rate
        state[sp.Symbol(f"cell {cell_name(row, column)}", real=True)] = (row, column, False)
        if rate is not None and rate.cell == (row, column):
            return LEARNING_RATE
        if (row, column) in self.givens:
            key = self.givens[row, column]
            return LEARNING_RATE if key == LR else sp.Symbol(key, real=True)
        cell = self.sheet.loose.get((row, column))
        if cell is not None and cell.formula is not None:
            return self.inline(row, column, state, depth, cell_name(row, column))
        return sp.Symbol(f"cell {cell_name(row, column)}", real=True)

    def inline(self, row: int, column: int, state: dict, depth: int, what: str) -> sp.Expr:
        """A cell this does not know the meaning of: its own formula, followed (a few deep)."""
        text = self.formula_at(row, column)
        if text is None or depth >= MAX_INLINE:
            raise Unsupported(f"it refers to {what}, which this does not know")
        inner = Formula(text, row, column)
        return translate(text, row, column, self.resolver(inner, state, depth + 1))

    def formula_at(self, row: int, column: int) -> str | None:
        target = self.by_index.get(column) if row in self.row_set else None
        if target is not None:
            positions = np.flatnonzero(self.rows == row)
            if not len(positions) or target.formula(positions[0]) < 0:
                return None
            return shifted(self.table.formulas[target.formula(positions[0])], row)
        cell = self.sheet.loose.get((row, column))
        return cell.formula if cell is not None else None

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
            self.judged[cache] = self._judge(self.table.formulas[formula_id], key, expected)
        return self.judged[cache]

    def _judge(self, formula: Formula, key: str, expected: sp.Expr) -> Judgement:
        state: dict = {}
        try:
            sheet = translate(
                formula.text, formula.row, formula.column, self.resolver(formula, state)
            )
        except Unsupported as exc:
            return Judgement(False, unsupported=str(exc))
        update = key in self.model.givens
        if update and LEARNING_RATE not in sheet.free_symbols:
            sheet = sheet.xreplace({s: LEARNING_RATE for s in literal_rate(sheet, key)})
        if equivalent(sheet, expected, self.model):
            return Judgement(True)
        if update:
            for symbol in sorted(set(state) & sheet.free_symbols, key=lambda s: s.name):
                if equivalent(sheet.xreplace({symbol: LEARNING_RATE}), expected, self.model):
                    return Judgement(False, rate_cell=state[symbol])
        names = {s: display_name(s, update) for s in sheet.free_symbols | expected.free_symbols}
        what = f"the {key} update" if update else display_name(sp.Symbol(key), False)
        return Judgement(False, explain(sheet, expected, what, self.model, names))

    # Running ----------------------------------------------------------------------------

    def run(self) -> Verdict:
        used = self.values_in_use()
        for key, equation in self.model.equations.items():
            if key in self.keyed:
                self.check_column(self.keyed[key], equation, used)
        self.check_updates(used)
        self.check_givens()
        if self.last < len(self.rows):
            row = int(self.rows[-1])
            self.verdict.notes.append(f"row {row} holds only the next weights (an unfinished row)")
        return self.verdict

    def values_in_use(self) -> dict[str, np.ndarray]:
        """Each symbol's numbers per row: the sheet's where it has them, else computed. A column
        without a gap is used as it stands (no copy): a large table is held once."""
        n = len(self.rows)
        used: dict[str, np.ndarray] = {}
        for symbol in self.model.network.values_args:
            column = self.keyed.get(symbol.name)
            fallback = self.given_value(symbol.name)
            if column is None:
                used[symbol.name] = np.full(n, fallback)
            else:
                used[symbol.name] = filled(column.values(), np.full(n, fallback))
        self.forward(used, n)
        # A weight that is not a number (#N/A) stands for what its update gives, so the cells
        # computed from it are judged as if it were right: the mistake is reported once.
        lr = self.rate_values(used)
        for parameter in self.model.network.trained:
            column = self.keyed.get(parameter.name)
            if column is None:
                continue
            before = self.updates - 1
            gaps = self.updates[
                ~np.isfinite(column.values()[self.updates]) & np.isfinite(lr[before])
            ]
            if not len(gaps):
                continue
            weight = used[parameter.name] = np.array(used[parameter.name])  # a copy to write in
            gradient = used["dE_total/d" + parameter.name]
            for i in gaps:  # in order: a gap after a gap takes the update of the first
                weight[i] = weight[i - 1] - lr[i - 1] * gradient[i - 1]
        self.forward(used, n)
        return used

    def forward(self, used: dict[str, np.ndarray], n: int) -> None:
        """Each computed symbol's numbers: the sheet's column where it is whole (no copy, nothing
        computed), else what the equation gives where the sheet has no number."""
        for key, equation in self.model.equations.items():
            column = self.keyed.get(key)
            if column is not None and np.isfinite(column.values()).all():
                used[key] = column.values()
                continue
            correct = self.computed(equation, used)
            used[key] = correct if column is None else filled(column.values(), correct)

    def computed(self, equation: Equation, used: dict[str, np.ndarray]) -> np.ndarray:
        """The equation at each row's numbers in use."""
        with np.errstate(all="ignore"):
            value = np.asarray(equation.function(*(used[a] for a in equation.args)), dtype=float)
        return value if value.shape == self.rows.shape else np.full(self.rows.shape, value)

    def own_units(self, key: str) -> np.ndarray | float:
        """Half a unit of the last digit of a computed column's numbers; 0 for the givens."""
        column = self.keyed.get(key)
        if column is None or key not in self.model.equations:
            return 0.0
        return column.units()

    def carried_units(self, equation: Equation, used) -> np.ndarray:
        """Half a unit of the last digit of each argument, carried through the equation."""
        n = len(self.rows)
        total = np.zeros(n)
        for arg, slope in zip(equation.args, equation.slopes, strict=True):
            units = self.own_units(arg)
            if np.isscalar(units):
                continue  # an exact argument carries nothing
            with np.errstate(all="ignore"):
                s = np.broadcast_to(np.asarray(slope(*(used[a] for a in equation.args))), (n,))
                total += np.nan_to_num(np.abs(s) * units, nan=0.0, posinf=0.0)
        return total

    def given_value(self, key: str) -> float:
        for cell, found in self.givens.items():
            if found == key and isinstance(self.sheet.loose[cell].value, float):
                return self.sheet.loose[cell].value
        return self.model.defaults[key]

    def check_column(self, column: Column, equation: Equation, used) -> None:
        key, expected = column.key, equation.expr
        correct = self.computed(equation, used)  # made here, not kept: a large table is held once

        def wrong(at: np.ndarray, _formula: int, judgement: Judgement) -> None:
            for i in at:
                self.add(column, i, WRONG_FORMULA, correct[i], expected, judgement)

        # A formula showing an error value is judged by its formula: a right one shows the
        # error of a cell it reads, which is reported there.
        rest = self.by_formula(column, np.arange(self.last), key, expected, wrong)
        if len(rest):
            units = column.units()[rest] + self.carried_units(equation, used)[rest]
            allowed = 1.5 * units + self.tolerance * np.abs(correct[rest])
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

    def by_value(self, column, positions, correct, allowed, expected, typed, other) -> None:
        """Compare the numbers at `positions` with `correct` (one per position) within `allowed`;
        a wrong typed number in a column of formulas is of kind `typed`, else `other`."""
        exact = np.isfinite(correct)
        if not exact.all():
            skipped = positions[~exact]
            more = f" and {len(skipped) - 1:,} more cell(s)" if len(skipped) > 1 else ""
            where = self.where(column, skipped[0])
            self.verdict.unchecked.append(f"{where}{more}: its inputs are not numbers")
        positions, correct, allowed = positions[exact], correct[exact], allowed[exact]
        self.verdict.checked += len(positions)
        values = column.values()[positions]
        missing = ~np.isfinite(values)
        with np.errstate(invalid="ignore"):
            off = ~missing & (np.abs(values - correct) > allowed)
        formulas = column.formula_ids()[positions]
        for k in np.flatnonzero(missing | off):
            kind = NOT_A_NUMBER if missing[k] else typed if formulas[k] < 0 else other
            self.add(column, positions[k], kind, correct[k], expected)

    @staticmethod
    def mostly_formulas(column: Column) -> bool:
        return int((column.formula_ids() >= 0).sum()) * 2 > len(column.numbers)

    def where(self, column: Column, i: int) -> str:
        return f"{self.table.worksheet}!{cell_name(int(self.rows[i]), column.index)}"

    def check_updates(self, used) -> None:
        weights = [p.name for p in self.model.network.trained if p.name in self.keyed]
        if not weights or not len(self.updates):
            self.verdict.updates = "no update rows"
            return
        rate = self.table.learning_rate
        lr = self.rate_values(used)
        if not all([self.check_update_column(self.keyed[name], used, lr) for name in weights]):
            self.verdict.updates = "typed updates not checked: no learning rate found"
            self.verdict.unchecked.append(
                f"{self.table.worksheet}!{self.table.span}: weight updates (no learning rate: no "
                "update formula names its cell, no cell labelled η, lr or learning rate on this "
                "worksheet, no lr column)"
            )
        else:
            source = f"lr from {rate.where} ({rate.source})" if rate else "lr in the formulas"
            self.verdict.updates = f"{len(self.updates)} update row(s) checked, {source}"

    def check_update_column(self, column: Column, used, lr: np.ndarray) -> bool:
        """Check one weight's updates; False where a typed update lacks a learning rate."""
        name = column.key
        expected = update_expr(name, self.model)
        gradient = "dE_total/d" + name
        before = self.updates - 1
        correct = np.full(len(self.rows), np.nan)
        correct[self.updates] = used[name][before] - lr[before] * used[gradient][before]

        def wrong(at: np.ndarray, formula: int, judgement: Judgement) -> None:
            kind = WRONG_RATE if judgement.rate_cell else WRONG_UPDATE
            for i in at:
                said = self.rate_read(judgement, formula, i) if judgement.rate_cell else judgement
                self.add(column, i, kind, correct[i], expected, said)

        rest = self.by_formula(column, self.updates, name, expected, wrong)
        rated = np.isfinite(lr[rest - 1])
        rest = rest[rated]
        if len(rest):
            # The row above's weight is a given (exact); its gradient carries its own digits.
            gradient_units = np.broadcast_to(self.own_units(gradient), lr.shape)[rest - 1]
            units = column.units()[rest] + np.abs(lr[rest - 1]) * gradient_units
            allowed = 1.5 * units + self.tolerance * np.abs(correct[rest])
            self.by_value(
                column, rest, correct[rest], allowed, expected, WRONG_UPDATE, WRONG_UPDATE
            )
        return bool(rated.all())

    def rate_read(self, judgement: Judgement, formula: int, i: int) -> Judgement:
        """The cell this row's update reads the learning rate from, named in the diagnosis."""
        row, column, moves = judgement.rate_cell
        if moves:
            row += int(self.rows[i]) - self.table.formulas[formula].row
        return Judgement(False, cell_name(row, column), rate_cell=judgement.rate_cell)

    def rate_values(self, used) -> np.ndarray:
        rate, n = self.table.learning_rate, len(self.rows)
        if rate is None:
            return np.full(n, np.nan)
        if rate.source == "column":
            return self.keyed[LR].values()
        return np.full(n, np.nan if rate.value is None else rate.value)

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

    @property
    def trained_names(self) -> set[str]:
        return {p.name for p in self.model.network.trained}

    def add(self, column, i, kind, correct, expected, judgement: Judgement | None = None) -> None:
        row = int(self.rows[i])
        value = column.values()[i]
        shown = column.texts.get(i) if not np.isfinite(value) else float(value)
        formula = column.formula(i)
        diagnosis = judgement.diagnosis if judgement else ""
        key = finding_key(column.index, kind, formula, diagnosis)
        if self.listed[key] >= MAX_LISTED:
            self.verdict.unlisted[key] += 1
            return
        self.listed[key] += 1
        if (column.key, expected) not in self.expected:  # printed once: SymPy prints slowly
            self.expected[column.key, expected] = expected_text(column.key, expected, self.model)
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


def expected_text(key: str, expected: sp.Expr, model: Model) -> str:
    if key in model.givens and expected != sp.Symbol(key):
        return f"{key} = {key} - lr*dE_total/d{key} (the row above's values)"
    return f"{key} = {sp.sstr(expected, order='none')}"


def literal_rate(sheet: sp.Expr, key: str) -> set[sp.Symbol]:
    """Numbers written into an update formula in place of the learning-rate cell: none here."""
    return set()


def shifted(formula: Formula, row: int) -> str:
    from openpyxl.formula.translate import Translator

    origin = cell_name(formula.row, formula.column)
    return Translator(formula.text, origin=origin).translate_formula(cell_name(row, formula.column))


def given_cells(sheet: Sheet, labels: Labels) -> dict[tuple[int, int], str]:
    """Cells outside tables that a label names as a given: i1 0.05, t1 0.01, η = 0.5."""
    found = {}
    for (row, column), cell in sheet.loose.items():
        if not isinstance(cell.value, str) or cell.formula is not None:
            continue
        key = labels.key(cell.value)
        if key is None or not (key == LR or key in labels.parameters or key[0] in "it"):
            continue
        value = labelled_value(sheet, row, column)
        if value is not None:
            found[value[0]] = key
    return found


def filled(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The sheet's numbers, `fallback` where it has none; the sheet's array itself when whole."""
    finite = np.isfinite(values)
    return values if finite.all() else np.where(finite, values, fallback)
