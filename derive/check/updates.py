"""Update checks: which rows follow an update of the row above (not a restart of a run), and each
weight's update there, judged by its formula or compared by its value with the row above's weight
minus lr times its gradient, lr being where the table's learning rate stands (learning_rate.py).
A block below another whose first row continues from that block's last row has that first update
judged too, with the block's own learning rate.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from openpyxl.utils import column_index_from_string

from derive.check.explain import explain
from derive.check.formulas import Judgement, display_name
from derive.check.model import LEARNING_RATE, Model, equivalent, previous, update_expr
from derive.check.table import REFERENCE, Column, Sheet, Table
from derive.check.translate import Unsupported, translate
from derive.labels import LR, STEP

WRONG_UPDATE = "wrong update"
WRONG_RATE = "wrong learning-rate cell"


class UpdateChecks:
    """TableCheck's (diagnose.py) checks of the weight updates, through its by_formula (a formula
    judged) and by_value (a number compared)."""

    sheet: Sheet
    table: Table
    model: Model
    keyed: dict[str, Column]
    rows: np.ndarray
    updates: np.ndarray
    tolerance: float
    shared: dict

    def update_positions(self) -> np.ndarray:
        """Positions i whose weights are one update after row i - 1 (not a restart of a run)."""
        step, lr = self.keyed.get(STEP), self.keyed.get(LR)
        follows = np.ones(max(len(self.rows) - 1, 0), dtype=bool)
        if step is not None:
            follows &= step.values()[1:] == step.values()[:-1] + 1
        if lr is not None:
            follows &= lr.values()[1:] == lr.values()[:-1]
        return np.flatnonzero(follows) + 1

    def check_updates(self, used) -> None:
        weights = [p.name for p in self.model.network.trained if p.name in self.keyed]
        if not weights or not len(self.updates):
            self.verdict.updates = "no update rows"
            self.check_continuation(weights)
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
        self.check_continuation(weights)

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
            # The new weight, the row above's and its gradient each carry their own digits.
            gradient_units = np.broadcast_to(self.own_units(gradient), lr.shape)[rest - 1]
            own = column.units()
            units = own[rest] + own[rest - 1] + np.abs(lr[rest - 1]) * gradient_units
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
        return Judgement(False, self.table.place(row, column), rate_cell=judgement.rate_cell)

    def check_continuation(self, weights: list[str]) -> None:
        """A block below another on the worksheet whose first weights continue from that block's
        last row (its formulas read that row, or most of its numbers are its update): each is
        that row's weight minus lr times its gradient, lr being this block's own (its lr column)."""
        above = block_above(self.sheet, self.table)
        if above is None or not weights:
            return
        read = {}
        for name in weights:
            formula = self.keyed[name].formula(0)
            if formula >= 0 and reads_block(self.table.formulas[formula].text, above):
                read[name] = self.read_continuation(formula, above)
        if read and all(expr == previous(name) for name, expr in read.items()):
            return  # the weights carried over from the block above: a new start from them
        expected = {name: update_expr(name, self.model) for name in weights}
        judged = {n: self.judge_continuation(r, n, expected[n]) for n, r in read.items()}
        correct, allowed, last, lr = self.first_update(above, weights)
        typed = [n for n in weights if n not in judged or judged[n].unsupported]
        agree = [n for n in typed if abs(self.keyed[n].values()[0] - correct[n]) <= allowed[n]]
        if not judged and (len(agree) * 2 <= len(typed) or len(agree) < 2):
            taken = self.rate_taken(typed, last, allowed) if np.isfinite(lr) else None
            if taken is None:
                return  # a block that starts afresh, not a continuation
            said = f"the first update takes the learning rate {taken:.6g} where {lr:.6g} belongs"
            judged = {n: Judgement(False, said) for n in typed}
        for name in weights:
            judgement = judged.get(name)
            if judgement is not None and not judgement.unsupported:
                ok = judgement.ok
            elif np.isfinite(correct[name]):
                ok, judgement = name in agree, None
            else:
                continue  # no learning rate or gradient to compare it with
            self.verdict.checked += 1
            if not ok:
                column = self.keyed[name]
                self.add(column, 0, WRONG_UPDATE, correct[name], expected[name], judgement)
        self.verdict.updates += (
            f"; its first row continues from row {above.rows[-1]} of {above.worksheet}!{above.span}"
        )

    def rate_taken(self, typed: list[str], last: dict, allowed: dict) -> float | None:
        """The one learning rate, not 0, that makes every typed first weight the update of the
        block above's last row (last[name]: its weight and gradient), within the digits they
        carry; None where there is none (a block that starts afresh)."""
        rates = {}
        for name in typed:
            weight, gradient = last[name]
            if abs(gradient) > 1e-12:
                rates[name] = (weight - self.keyed[name].values()[0]) / gradient
        if len(rates) < max(2, len(typed) / 2):
            return None
        rate = float(np.median(list(rates.values())))
        for name in typed:
            weight, gradient = last[name]
            if not abs(self.keyed[name].values()[0] - (weight - rate * gradient)) <= allowed[name]:
                return None
        return rate if abs(rate) > 1e-9 else None

    def first_update(self, above: Table, weights: list[str]) -> tuple[dict, dict, dict, float]:
        """(what each weight of the first row must hold, how near is right, the block above's
        last weight and gradient, this block's lr): that weight minus lr times that gradient,
        within the digits they carry."""
        kept = type(self)(self.sheet, above, self.model, self.tolerance, self.shared)
        before = kept.values_in_use()
        end = len(above.rows) - 1
        lr = self.rate_values(before)[0]
        correct, allowed, last = {}, {}, {}
        for name in weights:
            gradient = "dE_total/d" + name
            last[name] = (float(before[name][end]), float(before[gradient][end]))
            correct[name] = before[name][end] - lr * before[gradient][end]
            # This weight, the one above and its gradient each carry their own digits.
            units = self.keyed[name].units()[0]
            units += np.broadcast_to(kept.own_units(name), end + 1)[end]
            units += abs(lr) * np.broadcast_to(kept.own_units(gradient), end + 1)[end]
            allowed[name] = 1.5 * units + self.tolerance * abs(correct[name])
        return correct, allowed, last, float(lr)

    def read_continuation(self, formula_id: int, above: Table) -> sp.Expr | str:
        """A first row's formula, the block above's last row read as the row above (w1@prev);
        or why it cannot be read."""
        formula = self.table.formulas[formula_id]
        inside = self.resolver(formula, {}, uses=1)
        columns = {c.index: c for c in above.columns}
        rows, last = set(above.rows), int(above.rows[-1])

        def resolve(row: int, column: int, absolute: bool) -> sp.Expr:
            target = columns.get(column) if row in rows else None
            if target is None:
                return inside(row, column, absolute)
            if target.key == LR:
                return LEARNING_RATE
            if target.key is None:
                raise Unsupported(f"it refers to column {target.label!r} of the block above")
            return previous(target.key) if row == last else sp.Symbol(f"{target.key}@row{row}")

        try:
            return translate(formula.text, formula.row, formula.column, resolve)
        except Unsupported as exc:
            return str(exc)

    def judge_continuation(self, read: sp.Expr | str, name: str, expected: sp.Expr) -> Judgement:
        if isinstance(read, str):
            return Judgement(False, unsupported=read)
        if equivalent(read, expected, self.model):
            return Judgement(True)
        names = {s: display_name(s, True) for s in read.free_symbols | expected.free_symbols}
        return Judgement(False, explain(read, expected, f"the {name} update", self.model, names))


def block_above(sheet: Sheet, table: Table) -> Table | None:
    """The table this one stands below on its worksheet (the nearest above it in some of its
    columns), if both are plain tables by rows."""
    if table.origin is not None or table.transposed:
        return None
    earlier = [
        t
        for t in sheet.tables
        if t is not table
        and t.origin is None
        and t.rows
        and t.rows[-1] < table.header_row
        and t.indexes & table.indexes
    ]
    return max(earlier, key=lambda t: t.rows[-1], default=None)


def reads_block(text: str, block: Table) -> bool:
    """The formula refers to a cell of `block`."""
    rows = set(block.rows)
    for m in REFERENCE.finditer(text):
        if int(m[4]) in rows and column_index_from_string(m[2]) in block.indexes:
            return True
    return False
