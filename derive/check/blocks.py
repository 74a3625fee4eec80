"""Blocks beside a table: labelled values outside it (a worked first row written down a column,
h1 0.0275, a_h1 0.5069, ...) are never passed over. Such a block is compared with the table row
whose values it holds (the row most of its cells agree with, at the precision each is written
with): a cell that differs is a finding at its own cell; a block that agrees with no row is listed
as unchecked (fewer than MIN_BLOCK values, a figure's annotations, in a note).
"""

from __future__ import annotations

import numpy as np

from derive.check.form import labelled_cells
from derive.check.grid import Cell
from derive.check.model import Model
from derive.check.report import Finding
from derive.check.table import Sheet, Table, cell_name
from derive.labels import Labels

WRONG_VALUE = "wrong value"  # as diagnose.WRONG_VALUE
MIN_BLOCK = 3  # labelled values that make a block; fewer, such as a figure's labels, are a note


def side_block(sheet: Sheet, labels: Labels, model: Model) -> list[tuple[str, str, tuple]]:
    """(key, label, cell) of each labelled number or formula outside the sheet's tables whose
    label names a computed quantity; none for a form or a table read by columns (its cells are
    the table's own)."""
    if any(t.origin is not None or t.transposed for t in sheet.tables):
        return []
    found = labelled_cells(sheet.loose, labels)
    return [(k, label, place) for k, label, place in found if k in model.equations]


def half_unit(cell: Cell) -> float:
    """Half a unit in the last digit the cell's number is written with."""
    significant, decimals = cell.digits
    if not significant:
        return 0.0
    value = abs(float(cell.value))
    magnitude = np.floor(np.log10(value)) if value > 0 else -300
    return max(0.5 * 10.0 ** (magnitude - significant + 1), 0.5 * 10.0**-decimals)


def check_block(sheet: Sheet, table: Table, block, used: dict[str, np.ndarray], tolerance: float):
    """(findings, cells checked, unchecked lines, notes) of the block against the table's rows."""
    cells = [(key, label, place, sheet.loose[place]) for key, label, place in block]
    cells = [c for c in cells if isinstance(c[3].value, float)]
    if not cells:
        return [], 0, [], []
    values = np.array([c[3].value for c in cells])
    allowed = np.array([1.5 * half_unit(c[3]) + tolerance * abs(c[3].value) for c in cells])
    rows = np.array([used[key] for key, *_ in cells])  # one row per cell, one column per table row
    with np.errstate(invalid="ignore"):
        agree = np.abs(rows - values[:, None]) <= allowed[:, None] + 1e-12
    best = int(np.argmax(agree.sum(axis=0)))
    first, last = cells[0][2], cells[-1][2]
    where = f"{sheet.name}!{cell_name(*first)}:{cell_name(*last)}"
    if agree[:, best].sum() * 2 < len(cells) or agree[:, best].sum() < 2:
        said = (
            f"{where}: {len(cells)} labelled value(s) beside the table that match no row of "
            f"{table.worksheet}!{table.span}"
        )
        if len(cells) < MIN_BLOCK:  # a figure's annotation, said in a note
            return [], 0, [], [f"{said} (not checked)"]
        return [], 0, [said], []
    row = int(table.rows[best])
    findings = [
        Finding(
            sheet.name,
            cell_name(*place),
            label,
            WRONG_VALUE,
            f"{label} beside the table is not the table's {key} of row {row}",
            cell.value,
            float(rows[k, best]),
            f"{key} of row {row}",
            cell.formula,
            1,
            (cell_name(*place),),
        )
        for k, (key, label, place, cell) in enumerate(cells)
        if not agree[k, best]
    ]
    return findings, len(cells), [], []
