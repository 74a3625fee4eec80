"""Update checks: which rows follow an update of the row above (not a restart of a run), and each
weight's update there, judged by its formula or compared by its value with the row above's weight
minus lr times its gradient, lr being where the table's learning rate stands (learning_rate.py).
"""

from __future__ import annotations

import numpy as np

from derive.check.formulas import Judgement
from derive.check.model import Model, update_expr
from derive.check.table import Column, Table
from derive.labels import LR, STEP

WRONG_UPDATE = "wrong update"
WRONG_RATE = "wrong learning-rate cell"


class UpdateChecks:
    """TableCheck's (diagnose.py) checks of the weight updates, through its by_formula (a formula
    judged) and by_value (a number compared)."""

    table: Table
    model: Model
    keyed: dict[str, Column]
    rows: np.ndarray
    updates: np.ndarray
    tolerance: float

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
