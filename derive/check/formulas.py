"""Formula diagnosis: a table cell's formula, translated into SymPy over the table's columns (the
cells it reads followed, a few deep, where their column is not known), compared with the derived
expression for its column, whatever the size of its values; a wrong one is named (explain.py), and
an update right but for the cell it takes the learning rate from says which cell that is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.check.explain import explain
from derive.check.model import LEARNING_RATE, Model, equivalent, evaluated, previous
from derive.check.table import Column, Formula, Sheet, Table, cell_name
from derive.check.translate import Unsupported, translate
from derive.labels import LR

MAX_INLINE = 6  # references followed through cells of unknown columns


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


class FormulaReading:
    """TableCheck's (diagnose.py) reading of formulas: what each reference in one stands for."""

    sheet: Sheet
    table: Table
    model: Model
    by_index: dict[int, Column]
    row_set: set[int]
    rows: np.ndarray
    uses: dict[int, int]  # formula index -> cells using it
    givens: dict[tuple[int, int], str]
    distribution = False  # the targets sum to 1 in every row (a softmax's one-hot labels)

    def resolver(self, formula: Formula, state: dict, depth: int = 0, uses: int = 2):
        """Each reference of `formula` (used by `uses` cells) as what it stands for."""
        shared = uses > 1 if depth == 0 else True

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
        name = self.table.place(row, column)
        state[sp.Symbol(f"cell {name}", real=True)] = (row, column, False)
        if rate is not None and rate.cell == (row, column):
            return LEARNING_RATE
        if (row, column) in self.givens:
            key = self.givens[row, column]
            return LEARNING_RATE if key == LR else sp.Symbol(key, real=True)
        cell = self.sheet.loose.get((row, column))
        if cell is not None and cell.formula is not None:
            return self.inline(row, column, state, depth, name)
        return sp.Symbol(f"cell {name}", real=True)

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

    def same_expression(self, sheet: sp.Expr, expected: sp.Expr) -> bool:
        """The formula is the derived expression itself as SymPy builds it, or is once the deltas
        it reads are written out (a closed form reads none): the same function, known without
        comparing the two at points (model.equivalent: SymPy arithmetic, from a millisecond to
        seconds each where it writes out a large net, for thousands of columns)."""
        target = evaluated(expected)
        if sheet == target:
            return True
        written = deltas_written_out(sheet, expected, self.model)
        return written is not sheet and evaluated(written) == target

    def _judge(self, formula_id: int, key: str, expected: sp.Expr) -> Judgement:
        formula = self.table.formulas[formula_id]
        state: dict = {}
        resolve = self.resolver(formula, state, uses=self.uses.get(formula_id, 1))
        try:
            sheet = translate(formula.text, formula.row, formula.column, resolve)
        except Unsupported as exc:
            return Judgement(False, unsupported=str(exc))
        update = key in self.model.givens
        if update and LEARNING_RATE not in sheet.free_symbols:
            sheet = sheet.xreplace({s: LEARNING_RATE for s in literal_rate(sheet, key)})
        if self.same_expression(sheet, expected) or equivalent(
            sheet, expected, self.model, self.distribution
        ):
            return Judgement(True)
        if update:
            for symbol in sorted(set(state) & sheet.free_symbols, key=lambda s: s.name):
                if equivalent(
                    sheet.xreplace({symbol: LEARNING_RATE}), expected, self.model, self.distribution
                ):
                    return Judgement(False, rate_cell=state[symbol])
        what = f"the {key} update" if update else display_name(sp.Symbol(key), False)
        if self.model.target_sum and equivalent(sheet, expected, self.model, True):
            return Judgement(
                False,
                f"{what} holds only where the targets sum to 1, as a one-hot "
                "label's do (a_o − t), and this sheet's do not",
            )
        sheet = deltas_written_out(sheet, expected, self.model)
        if not sheet.free_symbols & set(self.model.fixed_biases):  # biases typed as numbers
            expected = expected.xreplace(self.model.fixed_biases)
        names = {s: display_name(s, update) for s in sheet.free_symbols | expected.free_symbols}
        return Judgement(False, explain(sheet, expected, what, self.model, names))


def deltas_written_out(sheet: sp.Expr, expected: sp.Expr, model: Model) -> sp.Expr:
    """The sheet's formula with each delta it reads (a delta column, delta_h1 x i1) written out
    as `expected` is (a closed form), so the one change between them can be named."""
    for symbol in sorted(sheet.free_symbols - expected.free_symbols, key=lambda s: s.name):
        if symbol.name.startswith("delta_") and symbol in model.definitions:
            sheet = sheet.xreplace({symbol: model.definitions[symbol]})
    return sheet


def literal_rate(sheet: sp.Expr, key: str) -> set[sp.Symbol]:
    """Numbers written into an update formula in place of the learning-rate cell: none here."""
    return set()


def shifted(formula: Formula, row: int) -> str:
    from openpyxl.formula.translate import Translator

    origin = cell_name(formula.row, formula.column)
    return Translator(formula.text, origin=origin).translate_formula(cell_name(row, formula.column))
