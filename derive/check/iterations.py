"""One iteration per worksheet (form.py): an iteration whose weights are formulas reading another
worksheet (='iter 1'!E38) must read that worksheet's new weight of the same name; one that reads
another cell there is a finding at its own cell.
"""

from __future__ import annotations

import re

from openpyxl.utils import column_index_from_string

from derive.check.report import Finding
from derive.check.table import Table, cell_name

LINK = re.compile(r"^=\s*\+?\s*(?:'((?:[^']|'')+)'|([^'!\s]+))!\$?([A-Za-z]{1,3})\$?(\d+)\s*$")
WRONG_LINK = "wrong reference"


def new_weights(table: Table) -> dict[str, tuple[int, int]]:
    """A form's new weights: name -> the sheet cell it stands in."""
    after = table.header_row + 2
    return {
        c.key: table.origin[after, c.index]
        for c in table.columns
        if (after, c.index) in table.origin and c.key is not None
    }


def check_links(forms: list[Table]) -> tuple[list[Finding], int]:
    """(findings, links checked) of the weights each form reads from another form's worksheet."""
    by_name = {t.worksheet: t for t in forms}
    findings, checked = [], 0
    for table in forms:
        now = table.header_row + 1
        for column in table.columns:
            formula = table.formulas_as_written.get((now, column.index))
            link = LINK.match(formula or "")
            source = by_name.get((link[1] or "").replace("''", "'") or link[2]) if link else None
            if source is None or column.key not in new_weights(source):
                continue
            checked += 1
            read = (int(link[4]), column_index_from_string(link[3].upper()))
            belongs = new_weights(source)[column.key]
            if read == belongs:
                continue
            named = {place: key for key, place in new_weights(source).items()}
            what = f"the new {named[read]} there" if read in named else "no new weight"
            right = f"{source.worksheet}!{cell_name(*belongs)}"
            findings.append(
                Finding(
                    table.worksheet,
                    table.place(now, column.index),
                    column.label,
                    WRONG_LINK,
                    f"{column.key} reads {source.worksheet}!{cell_name(*read)} ({what}) where "
                    f"{right}, the new {column.key}, belongs",
                    float(column.values()[0]),
                    None,
                    f"='{source.worksheet}'!{cell_name(*belongs)}",
                    formula,
                    1,
                    (table.place(now, column.index),),
                )
            )
    return findings, checked
