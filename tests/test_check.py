"""derive check on course-style sheets the tests build: every label and learning-rate variant, each
classic mistake found where it is made and named, honest verdicts, and the project's own export.

Workbooks are written with openpyxl as a student would (formulas typed per cell), recomputed by an
independent spreadsheet engine (the `formulas` package), whose results are stored as the cells'
cached values, as Excel does on saving. Expected diagnoses are written out here by hand.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import formulas  # the independent spreadsheet engine (test extra)
import numpy as np
import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from test_cli_faults import run_derive

from derive.__main__ import main
from derive.check import check_file
from derive.config import load_config
from derive.labels import Labels
from derive.network import build_network

pytestmark = pytest.mark.core

CONFIG = load_config()
LABELS = Labels(build_network(CONFIG.network))
WEIGHTS = [f"w{j}" for j in range(1, 9)]
GIVENS = {"t1": 0.01, "t2": 0.99, "i1": 0.05, "i2": 0.1}
FIRST_WEIGHTS = [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]
PATH_O1 = "({a_o1}-{t1})*{a_o1}*(1-{a_o1})"
PATH_O2 = "({a_o2}-{t2})*{a_o2}*(1-{a_o2})"
COLUMNS = {
    "h1": "{w1}*{i1}+{w2}*{i2}",
    "a_h1": "1/(1+EXP(-{h1}))",
    "h2": "{w3}*{i1}+{w4}*{i2}",
    "a_h2": "1/(1+EXP(-{h2}))",
    "o1": "{w5}*{a_h1}+{w6}*{a_h2}",
    "a_o1": "1/(1+EXP(-{o1}))",
    "o2": "{w7}*{a_h1}+{w8}*{a_h2}",
    "a_o2": "1/(1+EXP(-{o2}))",
    "E1": "0.5*({t1}-{a_o1})^2",
    "E2": "0.5*({t2}-{a_o2})^2",
    "E_total": "{E1}+{E2}",
    "dE/dw1": f"({PATH_O1}*{{w5}}+{PATH_O2}*{{w7}})*{{a_h1}}*(1-{{a_h1}})*{{i1}}",
    "dE/dw2": f"({PATH_O1}*{{w5}}+{PATH_O2}*{{w7}})*{{a_h1}}*(1-{{a_h1}})*{{i2}}",
    "dE/dw3": f"({PATH_O1}*{{w6}}+{PATH_O2}*{{w8}})*{{a_h2}}*(1-{{a_h2}})*{{i1}}",
    "dE/dw4": f"({PATH_O1}*{{w6}}+{PATH_O2}*{{w8}})*{{a_h2}}*(1-{{a_h2}})*{{i2}}",
    "dE/dw5": PATH_O1 + "*{a_h1}",
    "dE/dw6": PATH_O1 + "*{a_h2}",
    "dE/dw7": PATH_O2 + "*{a_h1}",
    "dE/dw8": PATH_O2 + "*{a_h2}",
}
UPDATE = "{w@}-{lr}*{g@}"
SOLUTION_KEY = re.compile(r"^'?\[[^\]]+\](.+?)'?!([A-Z]+\d+)$")
FORMULA_CELL = re.compile(r'<c r="([A-Z]+\d+)"([^>]*)><f>([^<]*)</f><v\s*/>(?:</v>)?</c>')


def run_check(capsys, *args) -> tuple[int, str, str]:
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def report_of(capsys, path: Path) -> tuple[int, dict]:
    code, out, _ = run_check(capsys, path, "--format", "json")
    return code, json.loads(out)


def save_recalculated(book: openpyxl.Workbook, path: Path) -> Path:
    """Save `book`, compute every formula with `formulas`, and cache the results in the file."""
    book.save(path)
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    computed: dict[tuple[str, str], float] = {}
    for key, value in solution.items():
        match = SOLUTION_KEY.match(key)
        number = np.asarray(getattr(value, "value", value)).ravel()[0] if match else None
        if isinstance(number, int | float | np.number):
            computed[match[1].upper(), match[2]] = float(number)
    parts = {f"xl/worksheets/sheet{k}.xml": ws.title.upper() for k, ws in enumerate(book, 1)}
    raw = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w") as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename in parts:
                title = parts[item.filename]

                def cache(m: re.Match, title=title) -> str:
                    if (title, m[1]) not in computed:  # text in arithmetic, as Excel says
                        return f'<c r="{m[1]}"{m[2]} t="e"><f>{m[3]}</f><v>#VALUE!</v></c>'
                    value = computed[title, m[1]]
                    return f'<c r="{m[1]}"{m[2]}><f>{m[3]}</f><v>{value!r}</v></c>'

                data = FORMULA_CELL.sub(cache, data.decode("utf-8")).encode("utf-8")
            dest.writestr(item, data)
    return path


def course_sheet(
    path: Path,
    *,
    labels: dict[str, str] | None = None,
    change: dict[str, str] | None = None,
    lr_label: tuple[str, int] = ("η =", 1),
    lr_ref: str = "$LR$",
    rows: int = 6,
    typed: bool = False,
    unfinished: bool = False,
) -> Path:
    """A course-style sheet: a title, the learning rate in a labelled cell above the table (its
    value `lr_label[1]` cells to the right), then t1 t2 i1 i2 w1..w4 h1 .. dE/dw8, one row per
    update; `change` replaces a column's formula template; `typed` pastes values over formulas."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Backprop"
    sheet["A1"] = "Backpropagation by hand"
    label, offset = lr_label
    sheet.cell(3, 2, label)
    sheet.cell(3, 2 + offset, 0.5)
    lr_cell = f"${get_column_letter(2 + offset)}$3"
    names = [*GIVENS, *WEIGHTS[:4], "h1", "a_h1", "h2", "a_h2", *WEIGHTS[4:], *list(COLUMNS)[4:]]
    columns = {name: k for k, name in enumerate(names, 1)}
    top = 4
    for name, column in columns.items():
        sheet.cell(top, column, (labels or {}).get(name, name))
    templates = COLUMNS | (change or {})
    last = top + rows + (1 if unfinished else 0)
    for row in range(top + 1, last + 1):
        for name, value in GIVENS.items():
            sheet.cell(row, columns[name], value)
        for j, weight in enumerate(WEIGHTS):
            if row == top + 1:
                sheet.cell(row, columns[weight], FIRST_WEIGHTS[j])
                continue
            update = templates.get(weight, UPDATE).replace("{w@}", f"{{{weight}@}}")
            update = update.replace("{g@}", f"{{dE/d{weight}@}}").replace("{lr}", lr_ref)
            formula = fill(update.replace("$LR$", lr_cell), columns, row)
            sheet.cell(row, columns[weight], formula)
        if row == last and unfinished:
            continue
        for name, template in templates.items():
            if name in columns and name not in WEIGHTS:
                sheet.cell(row, columns[name], fill(template, columns, row))
    save_recalculated(book, path)
    if typed:
        paste_values(path, decimals=None)
    return path


def fill(template: str, columns: dict[str, int], row: int) -> str:
    """{a_o1} -> this row's a_o1 cell, {w5@} -> the row above's, {ROW} -> this row number."""

    def cell(m: re.Match) -> str:
        name, above = m[1].removesuffix("@"), m[1].endswith("@")
        return f"{get_column_letter(columns[name])}{row - 1 if above else row}"

    return "=" + re.sub(r"\{([^}]+)\}", cell, template.replace("{ROW}", str(row)))


def paste_values(path: Path, decimals: int | None) -> None:
    """Replace every formula by its value (rounded to `decimals`), as 'paste values' does."""
    values = openpyxl.load_workbook(path, data_only=True)
    book = openpyxl.load_workbook(path)
    for sheet in book:
        for line in sheet.iter_rows():
            for c in line:
                if isinstance(c.value, str) and c.value.startswith("="):
                    value = values[sheet.title][c.coordinate].value
                    c.value = value if decimals is None else round(value, decimals)
    book.save(path)


def column_cells(path: Path, label: str, first: int = 5, last: int = 10) -> list[str]:
    sheet = openpyxl.load_workbook(path)["Backprop"]
    column = next(c.column for c in sheet[4] if c.value == label)
    return [f"{get_column_letter(column)}{row}" for row in range(first, last + 1)]


# A clean sheet, and each label and learning-rate variant -----------------------------------


def test_course_sheet_checks_clean_with_every_column_and_update(tmp_path, capsys):
    code, report = report_of(capsys, course_sheet(tmp_path / "clean.xlsx"))
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    (table,) = report["tables"]
    assert len(table["columns"]) == 19
    assert table["updates"] == "5 update row(s) checked, lr from Backprop!C3 (formula)"
    # 6 rows x 19 computed columns, 5 update rows x 8 weights
    assert report["cells_checked"] == 6 * 19 + 5 * 8


LABEL_SETS = {
    "δE_tot/δw": {f"dE/dw{j}": f"δE_tot/δw{j}" for j in range(1, 9)},
    "∂E∂W": {f"dE/dw{j}": f"∂E∂W{j}" for j in range(1, 9)},
    "Etotaldw": {f"dE/dw{j}": f"Etotaldw{j}" for j in range(1, 9)},
    "dE_T/dw": {f"dE/dw{j}": f"dE_T/dw{j}" for j in range(1, 9)},
    "bare dw": {f"dE/dw{j}": f"dw{j}" for j in range(1, 9)},
    "𝟃E/𝟃w": {f"dE/dw{j}": f"𝟃E/𝟃w{j}" for j in range(1, 9)},  # U+1D7C3, a mathematical ∂
    "grad w": {f"dE/dw{j}": f"grad w{j}" for j in range(1, 9)},
    "act_": {"a_h1": "act_h1", "a_h2": "act_h2", "a_o1": "act_o1", "a_o2": "act_o2"},
    "out_": {"a_h1": "out_h1", "a_h2": "OUT_H2", "a_o1": "out_o1", "a_o2": "out_o2"},
    "σ()": {"a_h1": "σ(h1)", "a_h2": "σ(h2)", "a_o1": "sigmoid(o1)", "a_o2": "sigmoid(o2)"},
    "E_T": {"E_total": "E_T", "t1": "T1", "t2": "T2", "i1": "I1", "i2": "I2"},
    "Etotal": {"E_total": "Etotal"},
    "Total Error": {"E_total": "Total Error", "E1": "E_o1", "E2": "E_o2"},
}


@pytest.mark.parametrize("name", LABEL_SETS)
def test_every_label_variant_is_checked(name, tmp_path, capsys):
    labels = LABEL_SETS[name]
    path = course_sheet(tmp_path / "labels.xlsx", labels=labels, rows=3)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert set(labels.values()) - set(GIVENS) - {"T1", "T2", "I1", "I2"} <= set(
        report["tables"][0]["columns"]
    )


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("δE_tot/δw1", "dE_total/dw1"),
        ("∂E∂W1", "dE_total/dw1"),
        ("𝟃E/𝟃w1", "dE_total/dw1"),
        ("𝜕E_tot/𝜕w7", "dE_total/dw7"),
        ("Etotaldw1", "dE_total/dw1"),
        ("E∂w5", "dE_total/dw5"),
        ("dE_total / dw8", "dE_total/dw8"),
        ("dw2", "dE_total/dw2"),
        ("grad w3", "dE_total/dw3"),
        ("Etotal_w4", "dE_total/dw4"),
        ("E_w6", "dE_total/dw6"),
        ("act_h1", "a_h1"),
        ("sigmoid(h2)", "a_h2"),
        ("E_T", "E_total"),
        ("TOTAL ERROR", "E_total"),
        ("net_h1", "h1"),
        ("LR (η)", "lr"),
        ("ͷ", "lr"),
        ("Δw1", None),  # the change of w1, not its gradient
        ("old_w1", None),
    ],
)
def test_labels(label, key):
    assert LABELS.key(label) == key


@pytest.mark.parametrize(
    ("label", "offset"),
    [
        ("η =", 1),
        ("LR (η) =", 1),
        ("learningRate=", 2),  # a blank cell before the value
        ("learning rate:  η =", 3),
        ("α = ", 1),
        ("h", 1),  # η typed in the Symbol font is stored as h
        ("ͷ", 1),  # a look-alike of η (U+0377)
    ],
)
def test_learning_rate_from_a_labelled_cell_checks_typed_updates(label, offset, tmp_path, capsys):
    """Values pasted over the formulas: the updates can only be checked with the labelled lr."""
    path = course_sheet(tmp_path / "lr.xlsx", lr_label=(label, offset), typed=True, rows=4)
    code, report = report_of(capsys, path)
    cell = f"Backprop!{get_column_letter(2 + offset)}3"
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["tables"][0]["updates"] == f"3 update row(s) checked, lr from {cell} (label)"


def test_learning_rate_of_another_worksheet_is_never_used(tmp_path, capsys):
    path = course_sheet(tmp_path / "other.xlsx", lr_label=("notes", 1), typed=True, rows=3)
    book = openpyxl.load_workbook(path)
    book.create_sheet("settings")["A1"], book["settings"]["B1"] = "η =", 0.5
    book.save(path)
    code, report = report_of(capsys, path)
    assert code == 3 and report["findings"] == []
    assert "weight updates (no learning rate" in report["unchecked"][0]
    assert "left unchecked" in report["summary"]


# Classic mistakes, each named ------------------------------------------------------------

MISTAKES = {
    "a_h1 where a_h2 belongs": (
        "dE/dw3",
        f"({PATH_O1}*{{w6}}+{PATH_O2}*{{w8}})*{{a_h1}}*(1-{{a_h1}})*{{i1}}",
        "dE/dw3 uses a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs",
    ),
    "wrong weight in the hidden sum": (
        "dE/dw1",
        f"({PATH_O1}*{{w5}}+{PATH_O2}*{{w6}})*{{a_h1}}*(1-{{a_h1}})*{{i1}}",
        "dE/dw1 uses w6 where w7 belongs",
    ),
    "dropped minus": ("a_h2", "1/(1+EXP({h2}))", "sigmoid of h2 is missing its minus sign"),
    "missing factor": (
        "dE/dw2",
        f"({PATH_O1}*{{w5}}+{PATH_O2}*{{w7}})*{{a_h1}}*(1-{{a_h1}})",
        "dE/dw2 is missing the factor i2",
    ),
    "output path twice": (
        "dE/dw4",
        f"({PATH_O1}*{{w6}}+{PATH_O1}*{{w6}})*{{a_h2}}*(1-{{a_h2}})*{{i2}}",
        "dE/dw4: the o1 path appears twice (the o2 path is missing)",
    ),
    "net input for activation": (
        "dE/dw6",
        PATH_O1 + "*{h2}",
        "dE/dw6 uses h2 where a_h2 belongs",
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_classic_mistake_is_found_in_every_row_and_named(name, tmp_path, capsys):
    column, template, diagnosis = MISTAKES[name]
    path = course_sheet(tmp_path / "mistake.xlsx", change={column: template})
    code, report = report_of(capsys, path)
    assert code == 1
    (finding,) = report["findings"]
    assert finding["diagnosis"] == diagnosis
    assert finding["kind"] == "wrong formula"
    assert finding["cells"] == column_cells(path, column)


def test_fixed_first_row_gradient_in_an_update_is_named(tmp_path, capsys):
    path = course_sheet(tmp_path / "w4.xlsx", change={"w4": "{w@}-$LR$*Z$5"})
    code, report = report_of(capsys, path)
    (finding,) = report["findings"]
    assert (code, finding["kind"]) == (1, "wrong update")
    assert finding["diagnosis"] == "the w4 update uses dE/dw3 of row 5 where dE/dw4 belongs"
    assert finding["cells"] == column_cells(path, "w4", 6)


def test_sliding_learning_rate_reference_is_one_finding(tmp_path, capsys):
    path = course_sheet(tmp_path / "slide.xlsx")
    sheet = openpyxl.load_workbook(path)["Backprop"]
    # Written as a student copies =G5-$C3*... down: the row of the lr cell moves with the row.
    for row in range(6, 11):
        sheet.cell(row, 7).value = f"=G{row - 1}-$C{row - 3}*Z{row - 1}"
    sheet.parent.save(path)
    save_recalculated(openpyxl.load_workbook(path), path)
    code, report = report_of(capsys, path)
    (finding,) = report["findings"]
    assert (code, finding["kind"]) == (1, "wrong learning-rate cell")
    assert finding["cells"] == ["G7", "G8", "G9", "G10"]  # G6 reads C3, the learning rate
    assert finding["diagnosis"] == (
        "the w3 update takes the learning rate from a reference that slides down the rows: "
        "C4 in G7, C5 in G8, C6 in G9, … where C3 belongs"
    )


# Values ---------------------------------------------------------------------------------


def test_values_pasted_rounded_to_6_decimals_pass(tmp_path, capsys):
    path = course_sheet(tmp_path / "rounded.xlsx", rows=30)
    paste_values(path, decimals=6)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])


def test_small_wrong_values_are_found_in_every_row(tmp_path, capsys):
    """a_h1 where a_h2 belongs, pasted at full precision: a relative error of ~1e-4 on gradients
    of ~1e-5 late in training is found in every row (no absolute floor lets it pass)."""
    template = MISTAKES["a_h1 where a_h2 belongs"][1]
    path = course_sheet(tmp_path / "small.xlsx", change={"dE/dw3": template}, rows=30)
    paste_values(path, decimals=None)
    code, report = report_of(capsys, path)
    (finding,) = report["findings"]
    assert (code, finding["kind"], finding["count"]) == (1, "wrong value", 30)


def test_error_value_is_a_finding_and_the_table_goes_on(tmp_path, capsys):
    """#N/A in a weight: a finding at its cell; a later row's 50% wrong h1 is still found."""
    path = course_sheet(tmp_path / "na.xlsx", typed=True, rows=6)
    sheet = openpyxl.load_workbook(path)["Backprop"]
    sheet["E7"] = "#N/A"
    sheet["I9"] = sheet["I9"].value * 1.5
    sheet.parent.save(path)
    code, report = report_of(capsys, path)
    assert code == 1
    found = {(f["cell"], f["kind"]) for f in report["findings"]}
    assert ("E7", "not a number") in found and ("I9", "wrong value") in found


def test_unfinished_last_row_is_one_note(tmp_path, capsys):
    path = course_sheet(tmp_path / "unfinished.xlsx", rows=2, unfinished=True)
    code, report = report_of(capsys, path)
    assert (code, report["findings"]) == (0, [])
    assert report["notes"] == [
        "Backprop!A4:AE7: row 7 holds only the next weights (an unfinished row)"
    ]
    assert report["tables"][0]["updates"].startswith("2 update row(s) checked")


def test_weights_header_alone_is_not_a_table(tmp_path, capsys):
    path = course_sheet(tmp_path / "header.xlsx", rows=2)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    for j, weight in enumerate(WEIGHTS):
        sheet.cell(1, 40 + j, weight)
        sheet.cell(2, 40 + j, FIRST_WEIGHTS[j])
    book.save(path)
    code, report = report_of(capsys, path)
    assert code == 0 and len(report["tables"]) == 1
    assert "a header of weights alone, not a table" in report["notes"][0]


def test_unknown_column_with_formulas_is_left_unchecked_exit_3(tmp_path, capsys):
    path = course_sheet(tmp_path / "extra.xlsx", rows=2)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    sheet.cell(4, 40, "my column")
    sheet.cell(5, 40, "=I5*2")
    book.save(path)
    save_recalculated(openpyxl.load_workbook(path), path)
    code, out, _ = run_check(capsys, path)
    assert code == 3
    assert "unchecked: Backprop!A4:AN6: column 'my column'" in out


# The project's own export ----------------------------------------------------------------


def test_default_export_checks_clean(tmp_path, capsys):
    path = tmp_path / "export.xlsx"
    assert main(["table", "--format", "xlsx", "--out", str(path)]) == 0
    report = check_file(path, CONFIG)
    assert report.findings == () and report.unchecked == ()
    assert len(report.tables) == 6
    assert all(t.updates == "50 update row(s) checked, lr from lr (column)" for t in report.tables)


def test_csv_export_checks_clean(tmp_path, capsys):
    path = tmp_path / "export.csv"
    assert main(["table", "--steps", "5", "--out", str(path)]) == 0
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])


# Hostile files: refused in one line, fast, within 1 GiB ------------------------------------

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
BOOK = (
    f'<workbook xmlns="{SHEET_NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>'
)


def raw_workbook(path: Path, sheet: str | bytes, strings: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", BOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        if strings is not None:
            z.writestr("xl/sharedStrings.xml", strings)
    return path


def corner_cells(path: Path) -> Path:
    return raw_workbook(
        path,
        f'<worksheet xmlns="{SHEET_NS}"><dimension ref="A1:XFD1048576"/><sheetData>'
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData></worksheet>',
    )


def long_string(path: Path) -> Path:
    return raw_workbook(
        path,
        f'<worksheet xmlns="{SHEET_NS}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
        "</row></sheetData></worksheet>",
        f'<sst xmlns="{SHEET_NS}"><si><t>' + "x" * 100_000_000 + "</t></si></sst>",
    )


def zip_bomb(path: Path) -> Path:
    """A worksheet part that inflates to 1.1 GiB of blanks (about 1 MB in the zip)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", BOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode())
            blank = b" " * 2**24
            for _ in range(70):
                part.write(blank)
            part.write(b"</sheetData></worksheet>")
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (corner_cells, "spans A1:XFD1048576 (17,179,869,184 cells), more than the 25,000,000"),
        (long_string, "holds more than 32,767 characters"),
        (zip_bomb, "more than the 1,073,741,824 this reads"),
    ],
)
def test_hostile_workbook_refused_fast_within_1_gib(make, says, tmp_path):
    path = make(tmp_path / "hostile.xlsx")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "derive", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert time.monotonic() - start < 60
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and says in done.stderr and str(path) in done.stderr


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.xlsx", b"just some text\n", "not an .xlsx workbook"),
        ("broken.xlsx", None, "not an .xlsx workbook this can read"),
        ("picture.csv", b"\x89PNG\r\n\x1a\n\0\0\0IHDR", "not a CSV file"),
        ("report.pdf", b"%PDF-1.4", "not a spreadsheet"),
        ("empty.csv", b"", "no table found"),
        ("header.csv", b"w1,w2,w3,w4,w5,w6,w7,w8\n1,2,3,4,5,6,7,8\n", "no computed column"),
        ("huge.csv", b"w1,w2\n" + b"1" * 200_000 + b"\n", "not a CSV file this can read"),
    ],
)
def test_unreadable_file_is_one_line_and_exit_2(name, content, says, tmp_path, capsys):
    path = tmp_path / name
    if content is None:  # well-formed zip, malformed worksheet XML
        raw_workbook(path, "<worksheet><sheetData><row>")
    else:
        path.write_bytes(content)
    code, out, err = run_check(capsys, path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and says in err and str(path) in err


def test_directory_and_missing_file_are_one_line(tmp_path, capsys):
    (tmp_path / "dir.xlsx").mkdir()
    for path, says in (
        (tmp_path / "dir.xlsx", "not a regular file"),
        (tmp_path / "no.xlsx", "no such file"),
    ):
        code, _, err = run_check(capsys, path)
        assert code == 2 and err.count("\n") == 1 and says in err


# The project's own large exports: bounded memory -----------------------------------------


def test_large_export_checked_in_memory_that_grows_by_the_cell(tmp_path):
    """A 20,004-row CSV export (660,132 cells) with one a_h1 planted 0.1% off: the mistake is found
    at its cell, and beyond what a 2-row export takes the check uses at most 40 bytes a cell (the
    numbers alone take 8). Its CPU time, and the 600,006-row export: benchmarks/check_speed.py."""
    tiny, large = tmp_path / "tiny.csv", tmp_path / "large.csv"
    assert main(["table", "--steps", "1", "--out", str(tiny)]) == 0
    assert main(["table", "--steps", "3333", "--out", str(large)]) == 0
    lines = large.read_text().splitlines()
    header = lines[0].split(",")
    row = 15_000  # the sheet's row 15,001
    fields = lines[row].split(",")
    h1 = float(fields[header.index("h1")])
    fields[header.index("a_h1")] = repr(1.001 / (1 + math.exp(-h1)))
    lines[row] = ",".join(fields)
    large.write_text("\n".join(lines) + "\n")
    cells = len(lines) * len(header)

    # Each under 1 GiB, measured by tests/limited_run.py (a child of pytest would count pytest's
    # own pages in its peak).
    base = run_derive("check", str(tiny), "--format", "json", tmp_path=tmp_path)
    done = run_derive("check", str(large), "--format", "json", tmp_path=tmp_path)
    assert (base.code, done.code) == (0, 1)
    first = json.loads(done.out)["findings"][0]
    column = get_column_letter(header.index("a_h1") + 1)
    assert (first["cell"], first["kind"], first["count"]) == (f"{column}15001", "wrong value", 1)
    assert first["correct_value"] == pytest.approx(1 / (1 + math.exp(-h1)), rel=1e-12)
    grown = (done.peak_mb - base.peak_mb) * 2**20
    assert grown < 40 * cells, f"{grown / cells:.1f} bytes a cell"


NOBODY = 65534
AS_NOBODY = """
import contextlib, io, os, sys
from derive.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):  # as root: every module the check imports loaded
    assert main(["check", sys.argv[1]]) == 0
os.setegid(NOBODY)
os.seteuid(NOBODY)  # the effective user: the one the kernel checks a file's permissions against
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["check", sys.argv[1]]) == 0  # a readable sheet beside it is still read
sys.exit(main(["check", sys.argv[2]]))
""".replace("NOBODY", str(NOBODY))


def test_sheet_the_user_may_not_read_is_one_line_exit_2(tmp_path, capsys):
    """A sheet with mode 000. Root reads any file, so as root the check runs in a child process
    whose effective user is nobody (the interpreter itself may live where nobody may not run it)."""
    if os.geteuid() != 0:
        path = tmp_path / "private.csv"
        assert main(["table", "--steps", "1", "--out", str(path)]) == 0
        path.chmod(0)
        code, out, err = run_check(capsys, path)
    else:
        with tempfile.TemporaryDirectory() as folder:
            os.chmod(folder, 0o755)  # nobody may look in the folder; only the sheet is closed
            readable, path = Path(folder) / "open.csv", Path(folder) / "private.csv"
            for sheet in (readable, path):
                assert main(["table", "--steps", "1", "--out", str(sheet)]) == 0
                sheet.chmod(0o644)
            path.chmod(0)
            done = subprocess.run(
                [sys.executable, "-c", AS_NOBODY, str(readable), str(path)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            code, out, err = done.returncode, done.stdout, done.stderr
    assert (code, out) == (2, "")
    assert err == f"error: {path}: cannot read: Permission denied\n"


def test_past_the_formula_budget_cells_are_compared_by_value(tmp_path, capsys, monkeypatch):
    """Each row's h1 also adds a different blank cell (BZ5, BZ6, ...), so every row holds another
    formula. Past MAX_JUDGED different formulas (2 here) the rest are compared by their values,
    which are right: the first two rows are found by formula, every cell is still checked."""
    from derive.check import diagnose

    monkeypatch.setattr(diagnose, "MAX_JUDGED", 2)
    path = course_sheet(tmp_path / "many.xlsx", change={"h1": "{w1}*{i1}+{w2}*{i2}+BZ{ROW}"})
    code, report = report_of(capsys, path)
    assert code == 1
    assert [(f["cell"], f["kind"]) for f in report["findings"]] == [
        ("I5", "wrong formula"),
        ("I6", "wrong formula"),
    ]
    assert "cell BZ5" in report["findings"][0]["diagnosis"]
    assert report["cells_checked"] == 6 * 19 + 5 * 8
    assert report["notes"] == [
        "Backprop!A4:AE10: more than 2 different formulas: the cells of the rest are compared by "
        "their values"
    ]


def test_text_kept_past_its_bound_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    """Texts and formulas are kept as Python strings: their characters are bounded too."""
    locate = importlib.import_module("derive.check.locate")  # the module, not the function
    monkeypatch.setattr(locate, "MAX_KEPT_CHARACTERS", 1_000)
    path = tmp_path / "notes.csv"
    path.write_text("".join(f"note {k}: {'x' * 90}\n" for k in range(20)))
    code, out, err = run_check(capsys, path)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {path}: more than 1,000 characters of text and different formulas, the most "
        "this reads\n"
    )
