"""derive check knows a column by what it computes, not by its label: helper columns a careful
student adds beside the gradients are identified (by their values, their label a hint), checked,
and a mistake in one is found; what matches nothing is listed with its label and first cell.

Sheets are course_sheet's (test_check.py), recomputed by the `formulas` engine; the expected
quantities and diagnoses are written out here by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import sympy as sp
from test_check import (
    COLUMNS,
    FIRST_WEIGHTS,
    GIVENS,
    UPDATE,
    WEIGHTS,
    course_sheet,
    fill,
    paste_values,
    report_of,
    run_check,
    save_recalculated,
)

from derive.__main__ import main
from derive.check.helpers import MAX_UNKNOWN
from derive.check.model import equation

pytestmark = pytest.mark.core

# course_sheet's columns: t1 A, t2 B, i1 C, i2 D, w1..w4 E..H, h1 I, a_h1 J, h2 K, a_h2 L,
# w5..w8 M..P, o1 Q, a_o1 R, o2 S, a_o2 T, E1 U, E2 V, E_total W, dE/dw1..8 X..AE.
HELPERS = {
    "AF": ("∂a_h1/∂h1", "=J{r}*(1-J{r})"),
    "AG": ("δ_o1", "=(R{r}-A{r})*R{r}*(1-R{r})"),
    "AH": ("local", "=M{r}"),  # w5, the factor ∂o1/∂a_h1
    "AI": ("∂E/∂a_h2", "=(R{r}-A{r})*R{r}*(1-R{r})*N{r}+(T{r}-B{r})*T{r}*(1-T{r})*P{r}"),
}


def with_columns(path: Path, columns: dict[str, tuple[str, str]], rows: int = 3) -> Path:
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    for letter, (label, template) in columns.items():
        sheet[f"{letter}4"] = label
        for r in range(5, 5 + rows):
            sheet[f"{letter}{r}"] = template.format(r=r)
    save_recalculated(book, path)
    return path


def test_helper_columns_are_known_by_what_they_compute(tmp_path, capsys):
    path = with_columns(course_sheet(tmp_path / "helpers.xlsx", rows=3), HELPERS)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["tables"][0]["columns"][-4:] == [
        "∂a_h1/∂h1",
        "δ_o1 (as delta_o1)",
        "local (as ∂o1/∂a_h1)",
        "∂E/∂a_h2 (as ∂E_total/∂a_h2)",
    ]
    assert report["cells_checked"] == 3 * 23 + 2 * 8


def test_helper_columns_pasted_as_values_are_known_by_their_values(tmp_path, capsys):
    path = with_columns(course_sheet(tmp_path / "typed.xlsx", rows=3), HELPERS)
    paste_values(path, decimals=6)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert "local (as ∂o1/∂a_h1)" in report["tables"][0]["columns"]


def test_a_mistake_in_a_helper_column_is_a_finding_where_its_label_names_it(tmp_path, capsys):
    wrong = {"AF": ("∂a_o2/∂o2", "=T{r}*(1-R{r})")}  # a_o1 where a_o2 belongs, in one factor
    path = with_columns(course_sheet(tmp_path / "wrong.xlsx", rows=3), wrong)
    code, report = report_of(capsys, path)
    assert code == 1
    ((finding),) = report["findings"]
    assert (finding["cell"], finding["kind"], finding["count"]) == ("AF5", "wrong formula", 3)
    assert finding["diagnosis"] == "∂a_o2/∂o2 uses 1 − a_o1 where 1 − a_o2 belongs"


def test_a_column_that_computes_nothing_known_is_unchecked_with_its_first_cell(tmp_path, capsys):
    scratch = {"AF": ("scratch", "=J{r}*2")}
    path = with_columns(course_sheet(tmp_path / "scratch.xlsx", rows=3), scratch)
    code, report = report_of(capsys, path)
    assert (code, report["findings"]) == (3, [])
    assert report["unchecked"] == [
        "Backprop!A4:AF7: column 'scratch' (from AF5): a label this does not know, and its "
        "numbers are none of the quantities this computes"
    ]


def with_rounded_givens(path: Path, decimals: int) -> Path:
    """Every formula pasted as its value at full precision, then the inputs, targets and weights
    rounded to `decimals`, as a sheet whose givens were pasted from elsewhere holds them."""
    paste_values(path, decimals=None)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    for column in (*range(1, 9), *range(13, 17)):  # t1 t2 i1 i2 w1..w4, w5..w8
        for row in range(5, sheet.max_row + 1):
            sheet.cell(row, column).value = round(sheet.cell(row, column).value, decimals)
    book.save(path)
    return path


@pytest.mark.parametrize("decimals", [4, 6])
def test_givens_pasted_rounded_carry_their_rounding(decimals, tmp_path, capsys):
    path = with_rounded_givens(course_sheet(tmp_path / "givens.xlsx", rows=6), decimals)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])


@pytest.mark.parametrize(("decimals", "off"), [(4, 2e-6), (6, 2e-8)])
def test_a_wrong_cell_beside_rounded_givens_is_still_found(decimals, off, tmp_path, capsys):
    """dE/dw1 of the last row (X10, -1.9e-4, read by no other cell) off by 1% at 4 decimals and
    0.01% at 6, a little more than the givens' rounding can move it: found, and only it."""
    path = with_rounded_givens(course_sheet(tmp_path / "givens.xlsx", rows=6), decimals)
    book = openpyxl.load_workbook(path)
    book["Backprop"]["X10"] = book["Backprop"]["X10"].value + off
    book.save(path)
    code, report = report_of(capsys, path)
    assert code == 1
    assert [(f["cell"], f["kind"], f["count"]) for f in report["findings"]] == [
        ("X10", "wrong value", 1)
    ]


def with_partial_last_row(path: Path, cells: dict[str, str]) -> Path:
    """course_sheet(rows=2, unfinished=True) with some of its last row's computed cells filled."""
    book = openpyxl.load_workbook(path)
    for cell, formula in cells.items():
        book["Backprop"][cell] = formula
    return save_recalculated(book, path)


def test_an_unfinished_row_with_a_few_computed_cells_is_one_note(tmp_path, capsys):
    path = course_sheet(tmp_path / "partial.xlsx", rows=2, unfinished=True)
    path = with_partial_last_row(path, {"I7": "=E7*C7+F7*D7", "J7": "=1/(1+EXP(-I7))"})
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["notes"] == [
        "Backprop!A4:AE7: row 7 holds the next weights and 2 of its 19 computed cells "
        "(an unfinished row)"
    ]
    assert report["cells_checked"] == 2 * 19 + 2 + 2 * 8  # the two cells of row 7 included


def test_a_mistake_in_an_unfinished_rows_computed_cell_is_found(tmp_path, capsys):
    path = course_sheet(tmp_path / "partial.xlsx", rows=2, unfinished=True)
    path = with_partial_last_row(path, {"I7": "=E7*C7+G7*D7"})  # w3 where w2 belongs
    code, report = report_of(capsys, path)
    assert code == 1
    assert [(f["cell"], f["diagnosis"]) for f in report["findings"]] == [
        ("I7", "h1 uses w3 where w2 belongs")
    ]


def test_of_a_list_of_rates_under_one_label_the_one_the_updates_use_is_taken(tmp_path, capsys):
    """Typed updates made with 0.5; the label's row lists 0.1 0.2 0.5 0.8 1 2 (0.1 first)."""
    path = course_sheet(tmp_path / "rates.xlsx", rows=6, typed=True)
    book = openpyxl.load_workbook(path)
    for k, rate in enumerate([0.1, 0.2, 0.5, 0.8, 1, 2]):
        book["Backprop"].cell(3, 3 + k, rate)
    book.save(path)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["tables"][0]["updates"] == (
        "5 update row(s) checked, lr from Backprop!E3 (label, the one of its list the updates use)"
    )


def test_updates_that_use_no_rate_of_the_list_are_findings(tmp_path, capsys):
    path = course_sheet(tmp_path / "rates.xlsx", rows=3, typed=True)
    book = openpyxl.load_workbook(path)
    for k, rate in enumerate([0.1, 0.2, 0.8]):
        book["Backprop"].cell(3, 3 + k, rate)
    book.save(path)
    code, report = report_of(capsys, path)
    assert code == 1
    assert {(f["kind"], f["count"]) for f in report["findings"]} == {("wrong update", 2)}
    assert len(report["findings"]) == 8  # each weight's two updates, with 0.1 in C3


def test_a_block_with_its_own_lr_column_reads_it_not_the_label_above(tmp_path, capsys):
    """Below course_sheet's table (η = 0.5 in C3, rows 5-7), after two blank rows, a second block
    with its own header and an lr column of 0.8 its updates used; all pasted as values."""
    path = course_sheet(tmp_path / "blocks.xlsx", rows=3)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    names = [c.value for c in sheet[4]] + ["lr"]
    columns = {name: k for k, name in enumerate(names, 1)}
    for name, k in columns.items():
        sheet.cell(10, k, name)
    for row in range(11, 14):
        sheet.cell(row, columns["lr"], 0.8)
        for name, value in GIVENS.items():
            sheet.cell(row, columns[name], value)
        for j, weight in enumerate(WEIGHTS):
            update = UPDATE.replace("{w@}", f"{{{weight}@}}").replace("{g@}", f"{{dE/d{weight}@}}")
            first = row == 11
            sheet.cell(row, columns[weight], FIRST_WEIGHTS[j] if first else "")
            if not first:
                sheet.cell(
                    row, columns[weight], fill(update.replace("{lr}", "{lr@}"), columns, row)
                )
        for name, template in COLUMNS.items():
            sheet.cell(row, columns[name], fill(template, columns, row))
    paste_values(save_recalculated(book, path), decimals=None)  # typed: values tell the rate
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert [t["updates"] for t in report["tables"]] == [
        "2 update row(s) checked, lr from Backprop!C3 (label)",
        "2 update row(s) checked, lr from lr (column)",
    ]


def test_updates_read_a_gradient_column_known_by_its_values(tmp_path, capsys):
    """Gradient columns under labels this does not know ('slope 1'..'slope 8') are identified
    by their values; the weight updates reading them are then judged against those gradients
    (not against the gradients' formulas written out) and the sheet is clean."""
    labels = {f"dE/dw{k}": f"slope {k}" for k in range(1, 9)}
    path = course_sheet(tmp_path / "slopes.xlsx", labels=labels, rows=3)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert "slope 1 (as dE_total/dw1)" in report["tables"][0]["columns"]
    assert report["tables"][0]["updates"].startswith("2 update row(s) checked")


MAZUR = Path(__file__).parents[1] / "derive" / "configs" / "mazur.toml"
CLASSIC = MAZUR.with_name("classic.toml")


@pytest.mark.parametrize(("hidden", "findings"), [("0.35", 0), ("0.36", 2)])
def test_a_fixed_bias_typed_as_its_number_is_right(hidden, findings, tmp_path, capsys):
    """Mazur's fixed biases (0.35 hidden, 0.6 output) typed into the net inputs' formulas: right
    with his config; a hidden bias of 0.36 is a finding in h1 and h2."""
    change = {name: COLUMNS[name] + f"+{bias}" for name, bias in
              (("h1", hidden), ("h2", hidden), ("o1", "0.6"), ("o2", "0.6"))}  # fmt: skip
    path = course_sheet(tmp_path / "biases.xlsx", change=change, rows=3)
    code, out, _ = run_check(capsys, path, "--config", MAZUR, "--format", "json")
    report = json.loads(out)
    assert [f["label"] for f in report["findings"]] == ["h1", "h2"][:findings]
    assert code == (1 if findings else 0)


def test_the_rounding_carried_into_a_quantity_is_its_slopes_times_each_arguments(tmp_path):
    """Equation.carried (central differences) against sympy.diff at the same point: the rounding
    of a_o1, t1 and w5 carried into a chain factor, an argument typed exactly carrying none."""
    a, t, w = sp.symbols("a_o1 t1 w5", real=True)
    expr = (a - t) * a * (1 - a) * w + sp.exp(w) / 4
    made = equation("factor", expr)
    point = {"a_o1": np.array([0.75, 0.2]), "t1": np.array([0.01, 0.99]), "w5": np.array([0.4, -1])}
    units = {"a_o1": np.array([5e-7, 5e-5]), "t1": 0.0, "w5": np.array([5e-5, 5e-3])}
    carried = made.carried([point[k] for k in made.args], [units[k] for k in made.args])
    for row in range(2):
        at = {sp.Symbol(k, real=True): v[row] for k, v in point.items()}
        slopes = {k: float(sp.diff(expr, sp.Symbol(k, real=True)).subs(at)) for k in ("a_o1", "w5")}
        by_hand = sum(abs(slopes[k]) * units[k][row] for k in slopes)
        assert carried[row] == pytest.approx(by_hand, rel=1e-6)


def wide_csv(folder: Path, unknown: int) -> Path:
    """derive's CSV of the classic net (3 rows) with `unknown` columns x1, x2 ... of numbers
    beside it, none of them a quantity of the net."""
    assert main(["table", "--steps", "2", "--lr", "0.5", "--out", str(folder / "t.csv")]) == 0
    lines = (folder / "t.csv").read_text().splitlines()
    extra = [",".join(f"x{k}" for k in range(1, unknown + 1))]
    extra += [",".join(f"{1000 + row + k}.5" for k in range(unknown)) for row in range(3)]
    path = folder / "wide.csv"
    path.write_text("".join(f"{line},{more}\n" for line, more in zip(lines, extra, strict=True)))
    return path


def test_past_max_unknown_columns_they_are_one_unchecked_line_not_minutes(tmp_path, capsys):
    path = wide_csv(tmp_path, MAX_UNKNOWN + 1)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["cells_checked"]) == (3, [], 3 * (11 + 8) + 2 * 8)
    # 33 columns of the net and 1,001 more: the last, 1,034 = 1·26² + 13·26 + 20, is AMT.
    assert report["unchecked"] == [
        f"wide.csv!A1:AMT4: {MAX_UNKNOWN + 1:,} columns with labels this does not know (the "
        f"first 'x1', from AH2): more than the {MAX_UNKNOWN:,} it identifies by their numbers; "
        "the sheet may model another net than the one it is checked as (give --config for its "
        "net)"
    ]


def test_a_sheet_whose_labels_show_another_net_than_the_config_says_so(tmp_path, capsys):
    config = tmp_path / "232.toml"
    config.write_text(
        "[network]\nlayers = [2, 3, 2]\n\n[values]\ninputs = [0.05, 0.1]\ntargets = [0.01, 0.99]"
        "\nweights = [0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]\n"
    )
    path = tmp_path / "232.csv"
    assert main(["table", "--config", str(config), "--steps", "1", "--out", str(path)]) == 0
    capsys.readouterr()
    given = tmp_path / "mine.toml"  # derive's own default config is read as "from the sheet"
    given.write_text(CLASSIC.read_text())
    code, out, _ = run_check(capsys, path, "--config", given, "--format", "json")
    assert code == 1  # as 2-2-2: o1, o2 and the gradients, which h3 changes, are wrong
    assert json.loads(out)["notes"][0] == (
        f"the sheet's labels show a 2-3-2 net; it is checked as {given}'s 2-2-2"
    )


@pytest.mark.parametrize("decimals", [None, 6])
def test_typed_numbers_of_a_labelled_column_holding_a_known_mistake_name_it(
    decimals, tmp_path, capsys
):
    """dE/dw1 worked out with i2 where i1 belongs, then every formula pasted as its value (in
    full, or to 6 decimals): the column's numbers are that mistake's, named as the formula is."""
    change = {"dE/dw1": COLUMNS["dE/dw1"].replace("{i1}", "{i2}")}
    path = course_sheet(tmp_path / "typed.xlsx", change=change, rows=4)
    paste_values(path, decimals)
    code, report = report_of(capsys, path)
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["cell"], finding["kind"], finding["count"]) == ("X5", "wrong value", 4)
    assert finding["diagnosis"] == "dE/dw1 uses i2 where i1 belongs"
