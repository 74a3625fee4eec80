"""Values a worksheet states outside its tables: each table's learning rate, read the way a person
reads the sheet (the cell its update formulas multiply the gradient by, else a labelled cell on the
same worksheet, nearest above the table, its value anywhere right of the label on its row or just
below it, else an lr column; never from another worksheet), and the cells a label names as givens.
"""

from __future__ import annotations

import bisect
from collections import Counter

import numpy as np
from openpyxl.utils import column_index_from_string

from derive.check.grid import is_error_value
from derive.check.table import REFERENCE, LearningRate, Sheet, Table
from derive.labels import LR, Labels, is_learning_rate


def learning_rate(sheet: Sheet, table: Table) -> LearningRate | None:
    """The table's learning rate: from its update formulas, its own lr column, or a labelled
    cell (a block below another with its own lr column reads that, not the label above). Update
    formulas that read a cell no label names while a labelled cell holds the learning rate take
    it from the wrong cell: the labelled one is the rate, and they are findings."""
    referenced = update_references(table)
    labelled = labelled_rates(sheet, table)
    if referenced:
        (row, column), _ = Counter(referenced).most_common(1)[0]
        if labelled and all(rate.cell != (row, column) for _, rate in labelled):
            return labelled[0][1]
        cell = sheet.loose.get((row, column))
        value = cell.value if cell is not None and isinstance(cell.value, float) else None
        return LearningRate(
            "formula", f"{sheet.name}!{sheet.place(row, column)}", (row, column), value
        )
    column = table.keyed.get(LR)
    if column is not None and np.isfinite(column.values()).any():  # the table's own, first
        return LearningRate("column", column.label, None, None)
    if labelled:
        return confirmed(sheet, table, labelled[0][1])
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


def labelled_rates(sheet: Sheet, table: Table) -> list[tuple[float, LearningRate]]:
    """Learning rates in labelled cells, the one nearest above the table's header row first."""
    found = []
    for row, (vr, vc), number in rate_labels(sheet):
        distance = table.header_row - row if row <= table.header_row else 1e6 + row
        where = f"{sheet.name}!{sheet.place(vr, vc)}"
        found.append((distance, LearningRate("label", where, (vr, vc), number)))
    return sorted(found, key=lambda pair: pair[0])


def rate_labels(sheet: Sheet) -> list[tuple[int, tuple[int, int], float | None]]:
    """(the label's row, the cell it names, its number or None for an error value) of every
    learning-rate label on the worksheet, worked out once for all its tables."""
    if "rates" not in sheet.memo:
        found = []
        for (row, column), cell in sheet.loose.items():
            if not isinstance(cell.value, str) or cell.formula is not None:
                continue
            if not is_learning_rate(cell.value, beside_number=True):
                continue
            value = labelled_value(sheet, row, column)
            if value is not None:
                number = value[1] if isinstance(value[1], float) else None  # an error: a finding
                found.append((row, value[0], number))
        sheet.memo["rates"] = found
    return sheet.memo["rates"]


def next_in_row(sheet: Sheet, row: int, column: int) -> int | None:
    """The first column right of `column` that holds a loose cell in `row` (an index of the
    worksheet's rows is made once: a scan of every cell for each label would be quadratic)."""
    if "rows" not in sheet.memo:
        rows: dict[int, list[int]] = {}
        for r, c in sheet.loose:
            rows.setdefault(r, []).append(c)
        for columns in rows.values():
            columns.sort()
        sheet.memo["rows"] = rows
    columns = sheet.memo["rows"].get(row, [])
    k = bisect.bisect_right(columns, column)
    return columns[k] if k < len(columns) else None


def labelled_value(sheet: Sheet, row: int, column: int):
    """The number a label names: the first filled cell right of it on its row, else below it; an
    error value there (#DIV/0!) is named too, so that it is a finding, not passed over."""
    right = next_in_row(sheet, row, column)
    if right is not None:
        cell = sheet.loose[row, right]
        if isinstance(cell.value, float) or is_error_value(cell.value):
            return (row, right), cell.value
    below = sheet.loose.get((row + 1, column))
    if below is not None and (isinstance(below.value, float) or is_error_value(below.value)):
        return (row + 1, column), below.value
    return None


def given_cells(sheet: Sheet, labels: Labels) -> dict[tuple[int, int], str]:
    """Cells outside tables that a label names as a given: i1 0.05, t1 0.01, η = 0.5 (worked out
    once for all the worksheet's tables)."""
    if "givens" not in sheet.memo:
        sheet.memo["givens"] = labelled_givens(sheet, labels)
    return sheet.memo["givens"]


def labelled_givens(sheet: Sheet, labels: Labels) -> dict[tuple[int, int], str]:
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


def listed(sheet: Sheet, first: tuple[int, int]) -> list[tuple[tuple[int, int], float]]:
    """The numbers in a run from `first` (a labelled cell) rightwards on its row, else downwards:
    a list of rates under one label (0.1 0.2 0.5 0.8 1 2)."""
    for step in ((0, 1), (1, 0)):
        found, (row, column) = [], first
        while isinstance(getattr(sheet.loose.get((row, column)), "value", None), float):
            found.append(((row, column), sheet.loose[row, column].value))
            row, column = row + step[0], column + step[1]
        if len(found) > 1:
            return found
    return []


def confirmed(sheet: Sheet, table: Table, rate: LearningRate) -> LearningRate:
    """Of a list of rates under the label, the one the table's weight updates use: the median of
    (w above - w) / gradient above over its rows, within 1%; the first when none is."""
    choices = listed(sheet, rate.cell) if rate.cell else []
    estimates = []
    for key, column in table.keyed.items():
        gradient = table.keyed.get(f"dE_total/d{key}")
        if gradient is None:
            continue
        weights, slopes = column.values(), gradient.values()[:-1]
        with np.errstate(all="ignore"):
            ratio = (weights[:-1] - weights[1:]) / slopes
        estimates += list(ratio[np.isfinite(ratio) & (np.abs(slopes) > 1e-12)])
    if not choices or not estimates:
        return rate
    estimate = float(np.median(estimates))
    (row, column), value = min(choices, key=lambda choice: abs(choice[1] - estimate))
    if abs(value - estimate) > 0.01 * abs(value):
        return rate
    where = f"{sheet.name}!{sheet.place(row, column)}"
    return LearningRate("label, the one of its list the updates use", where, (row, column), value)
