"""Value comparison: each symbol's numbers in use per row (the sheet's, else computed), and a typed
or pasted number (or a formula this cannot read) compared with the derived expression evaluated at
the same row's sheet values, within the precision the numbers carry (half a unit of their last
digit, carried through the expression) plus `tolerance` times the value; no fixed floor, so a wrong
value is found however small it is.
"""

from __future__ import annotations

import numpy as np

from derive.check.model import Equation, Model
from derive.check.table import Column, Sheet, Table
from derive.labels import LR

NOT_A_NUMBER = "not a number"
ROUNDED_GIVEN = 4  # decimals from which a given's numbers are taken for rounded ones (pasted)


class ValueComparison:
    """TableCheck's (diagnose.py) numbers: what each cell must hold, and how near is right; a
    wrong cell goes to TableCheck.add."""

    sheet: Sheet
    table: Table
    model: Model
    keyed: dict[str, Column]
    rows: np.ndarray
    updates: np.ndarray
    givens: dict[tuple[int, int], str]

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
        """Half a unit of the last digit of a column's numbers, a given's too: an input or weight
        pasted rounded carries its rounding into every cell computed from it; 0 where the sheet
        has no column (the config's number, exact)."""
        column = self.keyed.get(key)
        if column is None:
            return 0.0
        if key in self.model.givens and column.decimals < ROUNDED_GIVEN:
            return 0.0  # i1 = 0.05 or w1 = 0.15 as typed: exact, not 0.0512 rounded
        return column.units()

    def carried_units(self, equation: Equation, used) -> np.ndarray:
        """Half a unit of the last digit of each argument, carried through the equation."""
        units = [self.own_units(a) for a in equation.args]
        carried = equation.carried([used[a] for a in equation.args], units)
        return np.broadcast_to(carried, (len(self.rows),))

    def given_value(self, key: str) -> float:
        for cell, found in self.givens.items():
            if found == key and isinstance(self.sheet.loose[cell].value, float):
                return self.sheet.loose[cell].value
        return self.model.defaults[key]

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
        return f"{self.table.worksheet}!{self.table.place(int(self.rows[i]), column.index)}"

    def rate_values(self, used) -> np.ndarray:
        rate, n = self.table.learning_rate, len(self.rows)
        if rate is None:
            return np.full(n, np.nan)
        if rate.source == "column":
            return self.keyed[LR].values()
        return np.full(n, np.nan if rate.value is None else rate.value)


def filled(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The sheet's numbers, `fallback` where it has none; the sheet's array itself when whole."""
    finite = np.isfinite(values)
    return values if finite.all() else np.where(finite, values, fallback)
