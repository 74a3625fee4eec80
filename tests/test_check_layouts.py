"""derive check on layouts other than one row per update: Mazur's own (one iteration per
worksheet, quantities down a column, each label beside its value, his biases b1 and b2), with no
--config; a table laid out by columns; a mistake in each named at the sheet's own cell.

Workbooks are written with openpyxl and recomputed by the `formulas` engine (save_recalculated);
the expected verdicts and Mazur's published E_total are written out here by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import column_index_from_string, get_column_letter
from test_check import MISTAKES, course_sheet, report_of, save_recalculated

pytestmark = pytest.mark.core

GIVENS = {"i1": 0.05, "i2": 0.1, "w1": 0.15, "w2": 0.2, "w3": 0.25, "w4": 0.3, "w5": 0.4}
GIVENS |= {"w6": 0.45, "w7": 0.5, "w8": 0.55, "b1": 0.35, "b2": 0.6}
# label -> (cell, formula), as Mazur's layout writes them (B labels, C values; E/F for outputs).
FORWARD = {
    "net(h1)": ("C17", "=(C5*C3+C6*C4)+C13"),
    "net(h2)": ("C18", "=(C7*C3+C8*C4)+C13"),
    "out(h1)": ("C19", "=1/(1+EXP(-1*C17))"),
    "out(h2)": ("C20", "=1/(1+EXP(-1*C18))"),
    "net(o1)": ("F17", "=C9*C19+C10*C20+C14"),
    "net(o2)": ("F18", "=C11*C19+C12*C20+C14"),
    "out(o1)": ("F19", "=1/(1+EXP(-1*F17))"),
    "out(o2)": ("F20", "=1/(1+EXP(-1*F18))"),
    "E(o1)": ("C22", "=POWER(I19-F19,2)/2"),
    "E(o2)": ("C23", "=POWER(I20-F20,2)/2"),
    "Etotal": ("C24", "=C22+C23"),
}
PATH_O1, PATH_O2 = "(-(I19-F19)*F19*(1-F19))", "(-(I20-F20)*F20*(1-F20))"
GRADIENTS = {  # weight -> (row, its source's cell, the path's factor)
    "w5": (29, "C19", PATH_O1),
    "w6": (30, "C20", PATH_O1),
    "w7": (31, "C19", PATH_O2),
    "w8": (32, "C20", PATH_O2),
    "w1": (38, "C3", f"({PATH_O1}*C9+{PATH_O2}*C11)*(C19*(1-C19))"),
    "w2": (39, "C4", f"({PATH_O1}*C9+{PATH_O2}*C11)*(C19*(1-C19))"),
    "w3": (40, "C3", f"({PATH_O1}*C10+{PATH_O2}*C12)*(C20*(1-C20))"),
    "w4": (41, "C4", f"({PATH_O1}*C10+{PATH_O2}*C12)*(C20*(1-C20))"),
}


def mazur_workbook(
    path: Path,
    iterations: int = 2,
    change: dict[str, str] | None = None,
    later: dict[str, str] | None = None,
) -> Path:
    """Mazur's layout, one iteration per worksheet ('iter 1', 'iter 2' ...), each iteration's
    weights read from the previous worksheet's new weights; `change` replaces a cell's formula
    in the first worksheet, `later` in the others."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for n in range(1, iterations + 1):
        sheet = book.create_sheet(f"iter {n}")
        sheet["B2"], sheet["E2"], sheet["E3"] = "Initial conditions", "learning rate", 0.5
        for row, (name, value) in enumerate(GIVENS.items(), 3):
            sheet.cell(row, 2, name)
            old = GRADIENTS.get(name)
            sheet.cell(row, 3, value if n == 1 or old is None else f"='iter {n - 1}'!E{old[0]}")
        sheet["H19"], sheet["I19"], sheet["H20"], sheet["I20"] = "target1", 0.01, "target2", 0.99
        for label, (cell, formula) in FORWARD.items():
            column = "B" if cell[0] == "C" else "E"
            sheet[f"{column}{cell[1:]}"], sheet[cell] = label, formula
        for weight, (row, source, factor) in GRADIENTS.items():
            sheet[f"B{row}"], sheet[f"C{row}"] = f"dEtotal/d{weight}", f"={factor}*{source}"
            given = 5 + int(weight[1:]) - 1
            sheet[f"D{row}"], sheet[f"E{row}"] = weight, f"=C{given}-$E$3*C{row}"
        for cell, formula in ((change if n == 1 else later) or {}).items():
            sheet[cell] = formula
    return save_recalculated(book, path)


def test_mazurs_layout_with_his_biases_checks_clean_without_a_config(tmp_path, capsys):
    code, report = report_of(capsys, mazur_workbook(tmp_path / "mazur.xlsx"))
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["notes"] == [
        "the net from the sheet: 2-2-2, sigmoid, half_sse, biases b1, b2, one per layer shared by "
        "its neurons, held fixed (give --config to check against another net)"
    ]
    assert [(t["worksheet"], t["span"]) for t in report["tables"]] == [
        ("iter 1", "C3:I41"),
        ("iter 2", "C3:I41"),
    ]
    assert all(t["updates"].startswith("1 update row(s) checked") for t in report["tables"])
    # 19 quantities and 8 new weights each, and iter 2's 8 weights read from iter 1's new ones
    assert report["cells_checked"] == 2 * (19 + 8) + 8
    values = openpyxl.load_workbook(tmp_path / "mazur.xlsx", data_only=True)
    assert round(values["iter 1"]["C24"].value, 9) == 0.298371109  # Mazur's published E_total


def test_a_mistake_in_mazurs_layout_is_named_at_its_own_cell(tmp_path, capsys):
    wrong = {"C29": f"={PATH_O1}*C20"}  # dE/dw5 with out(h2) where out(h1) belongs
    code, report = report_of(capsys, mazur_workbook(tmp_path / "wrong.xlsx", change=wrong))
    assert code == 1
    found = [(f["worksheet"], f["cell"], f["kind"], f["sheet_formula"]) for f in report["findings"]]
    assert found == [("iter 1", "C29", "wrong formula", "=(-(I19-F19)*F19*(1-F19))*C20")]
    assert report["findings"][0]["diagnosis"] == "dE/dw5 uses a_h2 where a_h1 belongs"


def test_an_iteration_reading_the_wrong_weight_of_the_previous_one_is_found(tmp_path, capsys):
    later = {"C6": "='iter 1'!E40"}  # iter 2's w2 reads the new w3 (E40) where E39 belongs
    code, report = report_of(capsys, mazur_workbook(tmp_path / "link.xlsx", later=later))
    assert code == 1
    (finding,) = report["findings"]  # the rest of iter 2 computes right from the w2 it reads
    assert (finding["worksheet"], finding["cell"], finding["sheet_formula"]) == (
        "iter 2",
        "C6",
        "='iter 1'!E40",
    )
    assert finding["diagnosis"] == (
        "w2 reads iter 1!E40 (the new w3 there) where iter 1!E39, the new w2, belongs"
    )


def transposed_copy(path: Path, to: Path) -> Path:
    """The workbook with every cell of its worksheet moved from (row, column) to (column, row),
    each A1 reference in its formulas turned likewise: a table laid out by columns."""
    source = openpyxl.load_workbook(path)["Backprop"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Backprop"

    def turned(m: re.Match) -> str:
        column, row = column_index_from_string(m[2]), int(m[4])
        return f"{m[3]}{get_column_letter(row)}{m[1]}{column}"

    for line in source.iter_rows():
        for cell in line:
            value = cell.value
            if isinstance(value, str) and value.startswith("="):
                value = re.sub(r"(\$?)([A-Z]{1,3})(\$?)(\d+)", turned, value)
            if value is not None:
                sheet.cell(cell.column, cell.row, value)
    return save_recalculated(book, to)


def test_a_table_laid_out_by_columns_is_checked_at_its_own_cells(tmp_path, capsys):
    path = transposed_copy(course_sheet(tmp_path / "rows.xlsx", rows=4), tmp_path / "cols.xlsx")
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    (table,) = report["tables"]
    assert (table["span"], len(table["columns"])) == ("D1:H31", 19)
    assert table["updates"] == "3 update row(s) checked, lr from Backprop!C3 (formula)"


def test_a_mistake_in_a_table_by_columns_is_named_at_its_own_cell(tmp_path, capsys):
    column, template, diagnosis = MISTAKES["a_h1 where a_h2 belongs"]
    rows = course_sheet(tmp_path / "rows.xlsx", rows=4, change={column: template})
    code, report = report_of(capsys, transposed_copy(rows, tmp_path / "cols.xlsx"))
    assert code == 1
    ((finding),) = report["findings"]
    # dE/dw3 is the sheet's row 26 (column Z of the table by rows); its first iteration column E
    assert (finding["cell"], finding["count"], finding["diagnosis"]) == ("E26", 4, diagnosis)


BLOCK = ["h1", "a_h1", "h2", "a_h2", "o1", "E_total"]  # the first row's values, down a column


def with_block(path: Path, change: dict[str, float] | None = None, row: int = 5) -> Path:
    """Beside course_sheet's table (columns A:AE), a worked row written down a column: labels in
    AH6:AH11, the values of table row `row` typed at 6 decimals in AI6:AI11."""
    values = openpyxl.load_workbook(path, data_only=True)["Backprop"]
    header = {c.value: c.column_letter for c in values[4]}
    book = openpyxl.load_workbook(path)
    for k, name in enumerate(BLOCK, 6):
        book["Backprop"][f"AH{k}"] = name
        value = round(values[f"{header[name]}{row}"].value, 6)
        book["Backprop"][f"AI{k}"] = (change or {}).get(name, value)
    book.save(path)
    return path


def test_a_block_beside_the_table_is_checked_against_its_row(tmp_path, capsys):
    path = with_block(course_sheet(tmp_path / "block.xlsx", rows=3), row=6)
    book = openpyxl.load_workbook(path)  # the formulas' cached values, lost by openpyxl, back
    code, report = report_of(capsys, save_recalculated(book, path))
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["cells_checked"] == 3 * 19 + 2 * 8 + len(BLOCK)


def test_a_wrong_value_in_a_block_beside_the_table_is_found(tmp_path, capsys):
    path = with_block(course_sheet(tmp_path / "block.xlsx", rows=3), change={"o1": 0.9})
    code, report = report_of(capsys, save_recalculated(openpyxl.load_workbook(path), path))
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["cell"], finding["label"], finding["sheet_value"]) == ("AI10", "o1", 0.9)
    assert finding["diagnosis"] == "o1 beside the table is not the table's o1 of row 5"


def test_a_block_that_matches_no_row_is_unchecked(tmp_path, capsys):
    path = course_sheet(tmp_path / "block.xlsx", rows=3)
    wrong = {name: 0.123 * k for k, name in enumerate(BLOCK, 1)}
    path = with_block(path, change=wrong)
    code, report = report_of(capsys, save_recalculated(openpyxl.load_workbook(path), path))
    assert (code, report["findings"]) == (3, [])
    assert report["unchecked"] == [
        "Backprop!AI6:AI11: 6 labelled value(s) beside the table that match no row of "
        "Backprop!A4:AE7"
    ]
