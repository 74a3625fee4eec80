"""A worksheet laid out as a form, not a table: each quantity's label with its value beside it
(Mazur's own layout: net(h1), out(h1), Etotal, dEtotal/dw5 ... down a column, the new weights
beside their gradients, one iteration per worksheet). It is read as a table of one iteration: a
row of the quantities, each a column, and a row of the new weights below it, its formulas
rewritten to read those columns; the table keeps where each of its cells stands in the sheet, so
what the check says names the sheet's own cells.
"""

from __future__ import annotations

import re

from openpyxl.utils import column_index_from_string, get_column_letter

from derive.check.grid import Cell
from derive.check.table import REFERENCE, Column, Table
from derive.labels import LR, STEP, Labels

MAX_FORM_CELLS = 10_000  # a worksheet read as a form: one iteration holds a few dozen cells
MAX_REACH = 2  # columns right of its label a value may stand ("w5", blank, value)


def labelled_cells(loose: dict[tuple[int, int], Cell], labels: Labels) -> list[tuple]:
    """(key, label text, the cell its value stands in) of every label with a number or a formula
    at most MAX_REACH cells to its right, in reading order."""
    found = []
    for (row, column), cell in sorted(loose.items()):
        if not isinstance(cell.value, str) or cell.formula is not None:
            continue
        key = labels.key(cell.value)
        if key is None or key in (LR, STEP):
            continue
        for reach in range(1, MAX_REACH + 1):
            value = loose.get((row, column + reach))
            if value is None:
                continue
            if value.formula is not None or isinstance(value.value, float):
                found.append((key, cell.value, (row, column + reach)))
            break
    return found


def form_table(name: str, loose: dict, labels: Labels, weights: list[str], computed: set[str]):
    """The worksheet's one iteration as a Table, or None when its labels do not name every weight
    and something computed from them."""
    if len(loose) > MAX_FORM_CELLS:
        return None
    now: dict[str, tuple[str, tuple[int, int]]] = {}
    after: dict[str, tuple[str, tuple[int, int]]] = {}
    for key, label, place in labelled_cells(loose, labels):
        if key not in now:
            now[key] = (label, place)
        elif key in weights and key not in after:
            after[key] = (label, place)  # the weight again, further down: the new weight
    if not all(w in now for w in weights) or not computed & set(now):
        return None
    header = max(row for row, _ in loose) + 2
    columns = [Column(key, label, k) for k, (key, (label, _)) in enumerate(now.items(), 1)]
    index = {key: k for k, key in enumerate(now, 1)}
    places = {place: (header + 1, index[key]) for key, (_, place) in now.items()}
    places |= {place: (header + 2, index[key]) for key, (_, place) in after.items()}
    table = Table(name, header, columns)
    table.origin = {new: old for old, new in places.items()}
    for row, found in ((header + 1, now), (header + 2, after)):
        if found:
            cells = {}
            for _, place in found.values():
                cell = loose[place]
                formula = rewritten(cell.formula, places) if cell.formula else None
                cells[places[place][1]] = Cell(cell.value, formula, cell.digits)
                if cell.formula:
                    table.formulas_as_written[places[place]] = cell.formula
            table.add(row, cells)
    return table


def rewritten(formula: str, places: dict[tuple[int, int], tuple[int, int]]) -> str:
    """The formula reading the table's cells where it read the sheet's: a reference to a placed
    cell becomes one to its place in the table (relative, as a table's formulas are written);
    any other reference, to this worksheet or another, is left as written."""

    def ref(m: re.Match) -> str:
        place = places.get((int(m[4]), column_index_from_string(m[2])))
        if place is None:
            return m[0]
        return f"{get_column_letter(place[1])}{place[0]}"

    return REFERENCE.sub(ref, formula)
