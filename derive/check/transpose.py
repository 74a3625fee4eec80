"""A table laid out by columns (labels down a column, one iteration per column to their right)
read as the same table by rows: every cell of the worksheet moved from (row, column) to (column,
row) and every reference in its formulas with it ($ marks included), so each column's formula
becomes each row's. The table says it was transposed, so what the check says names the sheet's
own cells (Table.place).
"""

from __future__ import annotations

import re

from openpyxl.utils import column_index_from_string, get_column_letter

from derive.check.grid import Cell, Row
from derive.check.table import REFERENCE

MAX_TRANSPOSED_CELLS = 200_000  # a worksheet turned: its cells are held twice while it is
MAX_TRANSPOSED_ROW = 16_384  # a row past this would be a column past XFD


def transposed_formula(formula: str) -> str:
    """=B3*$B$1 -> =C2*$A$2: each reference's row and column swapped."""

    def ref(m: re.Match) -> str:
        column, row = column_index_from_string(m[2]), int(m[4])
        if row > MAX_TRANSPOSED_ROW:  # no cell of a worksheet: left as written
            return m[0]
        return f"{m[3]}{get_column_letter(row)}{m[1]}{column}"

    return REFERENCE.sub(ref, formula)


def transposed_rows(loose: dict[tuple[int, int], Cell]) -> list[Row] | None:
    """The worksheet's cells turned about the diagonal, as rows; None when it is too large or
    reaches past the last column a worksheet has."""
    if len(loose) > MAX_TRANSPOSED_CELLS or any(r > MAX_TRANSPOSED_ROW for r, _ in loose):
        return None
    rows: dict[int, dict[int, Cell]] = {}
    for (row, column), cell in loose.items():
        formula = transposed_formula(cell.formula) if cell.formula else None
        rows.setdefault(column, {})[row] = Cell(cell.value, formula, cell.digits)
    return sorted(rows.items())
