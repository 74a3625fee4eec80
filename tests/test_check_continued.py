"""derive check on blocks that continue one another: below course_sheet's table (test_check.py,
rows 5-7, η = 0.5 in C3), after two blank rows, a block with its own header and lr column (0.8)
whose first weights are the row above's update, the last row of the block above (=E7-AF11*X7);
below it, a third block (lr 0.2) continuing the second the same way. The first update of each is
judged against the block above's last weights minus this block's lr times their gradients: a
wrong one (w3 taking dE/dw1's gradient) is found, right ones are clean. A fourth block that
carries the third's last weights over (=E19), a new start from them, is no update to judge.

Recomputed by the `formulas` engine, once with formulas and once pasted as values; the expected
weight is worked out here from the engine's cells.
"""

from __future__ import annotations

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from test_check import (
    COLUMNS,
    GIVENS,
    UPDATE,
    WEIGHTS,
    course_sheet,
    fill,
    paste_values,
    save_recalculated,
)
from test_check_mistaken import checked

pytestmark = pytest.mark.core

# Header row, learning rate and first weights of each block below the table: the update of the
# block above's last row, or its weights carried over (=E19), a new start from them.
BLOCKS = ((10, 0.8, "update"), (16, 0.2, "update"), (22, 0.5, "carried"))


def continued(path, wrong: dict[str, str]):
    """course_sheet(rows=3) and two blocks below it, each first row continuing the one above;
    `wrong`: a weight's first formula in the second block, in place of the right one."""
    course_sheet(path, rows=3)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    names = [c.value for c in sheet[4]] + ["lr"]
    columns = {name: k for k, name in enumerate(names, 1)}
    letter = {name: get_column_letter(k) for name, k in columns.items()}
    last = 7
    for header, rate, how in BLOCKS:
        for name, k in columns.items():
            sheet.cell(header, k, name)
        for row in range(header + 1, header + 4):
            sheet.cell(row, columns["lr"], rate)
            for name, value in GIVENS.items():
                sheet.cell(row, columns[name], value)
            for weight in WEIGHTS:
                if row == header + 1:
                    first = f"={letter[weight]}{last}"
                    if how == "update":
                        first += f"-{letter['lr']}{row}*{letter['dE/d' + weight]}{last}"
                    formula = wrong.get(weight, first) if header == BLOCKS[0][0] else first
                else:
                    update = UPDATE.replace("{w@}", f"{{{weight}@}}").replace("{lr}", "{lr@}")
                    formula = fill(update.replace("{g@}", f"{{dE/d{weight}@}}"), columns, row)
                sheet.cell(row, columns[weight], formula)
            for name, template in COLUMNS.items():
                sheet.cell(row, columns[name], fill(template, columns, row))
        last = header + 3
    return save_recalculated(book, path)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """(report, report pasted as values, the engine's cells) of a sheet whose second block's
    first w3 takes dE/dw1 (X7) where dE/dw3 (Z7) belongs."""
    path = continued(tmp_path_factory.mktemp("continued") / "blocks.xlsx", {"w3": "=G7-AF11*X7"})
    values = openpyxl.load_workbook(path, data_only=True)["Backprop"]
    formulas = checked(path)
    paste_values(path, decimals=None)
    return formulas, checked(path), values


@pytest.mark.parametrize("typed", [False, True])
def test_a_continuation_blocks_first_update_is_judged_with_its_own_lr(typed, reports):
    (code, report), values = reports[typed], reports[2]
    assert code == 1
    ((finding),) = report["findings"]
    assert (finding["cell"], finding["kind"], finding["count"]) == ("G11", "wrong update", 1)
    said = "" if typed else "the w3 update uses dE/dw1 where dE/dw3 belongs"
    assert finding["diagnosis"] == said
    # w3 of row 7 (G7) minus the second block's lr (0.8) times dE/dw3 of row 7 (Z7).
    assert finding["correct_value"] == pytest.approx(values["G7"].value - 0.8 * values["Z7"].value)
    rate = "Backprop!C3 (label)" if typed else "Backprop!C3 (formula)"
    assert [t["updates"] for t in report["tables"]] == [
        f"2 update row(s) checked, lr from {rate}",
        "2 update row(s) checked, lr from lr (column); its first row continues from row 7 of "
        "Backprop!A4:AE7",
        "2 update row(s) checked, lr from lr (column); its first row continues from row 13 of "
        "Backprop!A10:AF13",
        "2 update row(s) checked, lr from lr (column)",
    ]
    assert report["unchecked"] == []
    assert report["cells_checked"] == 3 * 19 + 2 * 8 + 2 * (3 * 19 + 3 * 8) + 3 * 19 + 2 * 8


def test_a_continuation_typed_with_another_learning_rate_is_found(tmp_path):
    """The second block's first weights typed as the first block's last ones updated with lr
    0.5 (C3's, the table above's) where the block's own 0.8 belongs: none agrees with 0.8, but
    all with one other rate, so it is a continuation with that rate, not a new start."""
    # w1..w4 are E..H, w5..w8 M..P; their gradients X..AE (test_check.COLUMNS' order).
    weights = [*"EFGH", *"MNOP"]
    gradients = ["X", "Y", "Z", "AA", "AB", "AC", "AD", "AE"]
    pairs = zip(weights, gradients, strict=True)
    wrong = {f"w{k}": f"={w}7-0.5*{g}7" for k, (w, g) in enumerate(pairs, start=1)}
    path = continued(tmp_path / "rate.xlsx", wrong)
    values = openpyxl.load_workbook(path, data_only=True)["Backprop"]
    paste_values(path, decimals=None)
    code, report = checked(path)
    assert code == 1
    found = report["findings"]
    assert [(f["cell"], f["kind"], f["count"]) for f in found] == [
        (f"{w}11", "wrong update", 1) for w in weights
    ]
    assert {f["diagnosis"] for f in found} == {
        "the first update takes the learning rate 0.5 where 0.8 belongs"
    }
    # w1 of row 7 (E7) minus the block's own lr (0.8) times dE/dw1 of row 7 (X7).
    assert found[0]["correct_value"] == pytest.approx(values["E7"].value - 0.8 * values["X7"].value)
