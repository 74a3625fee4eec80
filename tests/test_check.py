"""derive check: the project's own exports check clean; planted mistakes are found where made.

Sheets with planted mistakes are the project's XLSX export with one column (or cell) rewritten as
a student would write it, recomputed by an independent spreadsheet engine (the `formulas`
package), whose results are stored as the cells' cached values, as Excel does on saving. The
correct values the tests expect are computed here from the sheet's own cells with math and SymPy.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import formulas  # the independent spreadsheet engine (test extra)
import numpy as np
import openpyxl
import pytest
import sympy as sp
from openpyxl.utils import get_column_letter

from derive.__main__ import main
from derive.check import check_file, differs
from derive.config import load_config
from derive.functions import sigmoid
from derive.labels import aliases, normalize
from derive.network import build_network
from derive.table import csv_text, iteration_table
from derive.xlsx import write_workbook

pytestmark = pytest.mark.core

CONFIG = load_config()
LEARNING_RATES = (0.5, 1.0)
STEPS = 3
PLANTED_SHEET = "lr 0.5"


def run_check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def findings_of(capsys, path: Path) -> list[dict]:
    code, out, _ = run_check(capsys, path, "--format", "json")
    report = json.loads(out)
    assert code == (1 if report["findings"] else 0)
    return report["findings"]


@pytest.fixture(scope="module")
def table():
    return iteration_table(CONFIG, LEARNING_RATES, STEPS)


@pytest.fixture(scope="module")
def export_xlsx(table, tmp_path_factory) -> Path:
    return write_workbook(table, tmp_path_factory.mktemp("export") / "export.xlsx")


@pytest.fixture(scope="module")
def export_csv(table, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "export.csv"
    path.write_text(csv_text(table), encoding="utf-8")
    return path


# A workbook recomputed by an independent engine -------------------------------------------

FORMULA_CELL = re.compile(r'<c r="([A-Z]+\d+)"([^>]*)><f>([^<]*)</f><v\s*/>(?:</v>)?</c>')
SOLUTION_KEY = re.compile(r"^'?\[[^\]]+\](.+?)'?!([A-Z]+\d+)$")


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
                    value = computed[title, m[1]]
                    return f'<c r="{m[1]}"{m[2]}><f>{m[3]}</f><v>{value!r}</v></c>'

                data = FORMULA_CELL.sub(cache, data.decode("utf-8")).encode("utf-8")
            dest.writestr(item, data)
    return path


def header(sheet) -> dict[str, int]:
    return {cell.value: cell.column for cell in sheet[1] if cell.value is not None}


def student_formula(template: str, columns: dict[str, int], row: int) -> str:
    """The formula with {a_o1} as this row's a_o1 cell and {w5@} as the row above's w5 cell."""

    def cell(m: re.Match) -> str:
        name, above = m[1].removesuffix("@"), m[1].endswith("@")
        return f"{get_column_letter(columns[name])}{row - 1 if above else row}"

    return "=" + re.sub(r"\{([^}]+)\}", cell, template)


def row_values(sheet, columns: dict[str, int], row: int) -> dict[str, float]:
    return {name: sheet.cell(row, column).value for name, column in columns.items()}


# Planted mistakes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plant:
    column: str  # the export's header
    template: str | None  # the student's formula, None for a typed number
    first_row: int  # first planted row (row 2 holds step 0)
    formula: str  # the correct formula the finding must give (the right side, or all of it)
    correct: object  # (this row's values, the row above's) -> the correct value, by hand


HIDDEN = "(({a_o1}-{t1})*{a_o1}*(1-{a_o1})*{w5}+({a_o2}-{t2})*{a_o2}*(1-{a_o2})*{w7})"
HIDDEN_2 = "(({a_o1}-{t1})*{a_o1}*(1-{a_o1})*{w6}+({a_o2}-{t2})*{a_o2}*(1-{a_o2})*{w8})"
DELTA_H1 = "((a_o1 - t1)*a_o1*(1 - a_o1)*w5 + (a_o2 - t2)*a_o2*(1 - a_o2)*w7)"
DELTA_H2 = "((a_o1 - t1)*a_o1*(1 - a_o1)*w6 + (a_o2 - t2)*a_o2*(1 - a_o2)*w8)"


def by_hand(expr: str):
    """The correct value of `expr` (SymPy syntax) at a row's own values."""
    parsed = sp.sympify(expr, locals={"sigmoid": lambda x: 1 / (1 + sp.exp(-x))})
    return lambda here, above: float(parsed.subs({sp.Symbol(k): v for k, v in here.items()}))


PLANTS = {
    "sigmoid without its minus sign": Plant(
        "a_h1", "1/(1+EXP({h1}))", 2, "sigmoid(h1)", lambda r, _: 1 / (1 + math.exp(-r["h1"]))
    ),
    "dE/dw2 without i2": Plant(
        "dE/dw2",
        HIDDEN + "*{a_h1}*(1-{a_h1})",
        2,
        f"{DELTA_H1}*a_h1*(1 - a_h1)*i2",
        by_hand(f"{DELTA_H1}*a_h1*(1 - a_h1)*i2"),
    ),
    "dE/dw2 without a_h1*(1-a_h1)": Plant(
        "dE/dw2",
        HIDDEN + "*{i2}",
        2,
        f"{DELTA_H1}*a_h1*(1 - a_h1)*i2",
        by_hand(f"{DELTA_H1}*a_h1*(1 - a_h1)*i2"),
    ),
    "dE/dw3 through w5 and w7": Plant(
        "dE/dw3",
        HIDDEN + "*{a_h2}*(1-{a_h2})*{i1}",
        2,
        f"{DELTA_H2}*a_h2*(1 - a_h2)*i1",
        by_hand(f"{DELTA_H2}*a_h2*(1 - a_h2)*i1"),
    ),
    "dE/dw6 with an extra w6": Plant(
        "dE/dw6",
        "({a_o1}-{t1})*{a_o1}*(1-{a_o1})*{a_h2}*{w6}",
        2,
        "(a_o1 - t1)*a_o1*(1 - a_o1)*a_h2",
        by_hand("(a_o1 - t1)*a_o1*(1 - a_o1)*a_h2"),
    ),
    "a number typed over o1": Plant(
        "o1", None, 4, "a_h1*w5 + a_h2*w6", by_hand("a_h1*w5 + a_h2*w6")
    ),
    "w5 updated with + instead of -": Plant(
        "w5",
        "{w5@}+{lr@}*{dE/dw5@}",
        3,
        "w5 = w5 - lr*dE_total/dw5 (the row above's values)",
        lambda _, above: above["w5"] - above["lr"] * above["dE/dw5"],
    ),
}


def planted_sheet(export_xlsx: Path, plant: Plant, path: Path) -> Path:
    book = openpyxl.load_workbook(export_xlsx)
    sheet = book[PLANTED_SHEET]
    columns = header(sheet)
    column = columns[plant.column]
    if plant.template is None:
        # The student pasted the row above's value, rounded to 4 digits, over the formula.
        computed = openpyxl.load_workbook(export_xlsx, data_only=True)[PLANTED_SHEET]
        above = computed.cell(plant.first_row - 1, column).value
        sheet.cell(plant.first_row, column).value = round(above, 4)
    else:
        for row in range(plant.first_row, sheet.max_row + 1):
            sheet.cell(row, column).value = student_formula(plant.template, columns, row)
    return save_recalculated(book, path)


@pytest.mark.parametrize("name", PLANTS)
def test_planted_mistake_is_found_where_it_is_made(name, export_xlsx, tmp_path, capsys):
    plant = PLANTS[name]
    path = planted_sheet(export_xlsx, plant, tmp_path / "planted.xlsx")
    found = findings_of(capsys, path)
    assert len(found) == 1, found
    finding = found[0]
    sheet = openpyxl.load_workbook(path, data_only=True)[PLANTED_SHEET]
    columns = header(sheet)
    rows = range(plant.first_row, sheet.max_row + 1) if plant.template else [plant.first_row]
    letter = get_column_letter(columns[plant.column])
    assert finding["worksheet"] == PLANTED_SHEET
    assert finding["label"] == plant.column
    assert finding["cells"] == [f"{letter}{row}" for row in rows]
    assert finding["cell"] == f"{letter}{plant.first_row}"
    assert finding["count"] == len(rows)
    here = row_values(sheet, columns, plant.first_row)
    above = row_values(sheet, columns, plant.first_row - 1)
    assert finding["sheet_value"] == here[plant.column]
    assert finding["correct_value"] == pytest.approx(plant.correct(here, above), rel=1e-12)
    assert not math.isclose(finding["sheet_value"], finding["correct_value"], rel_tol=1e-6)
    assert_formula(finding["correct_formula"], plant.formula)
    formula = openpyxl.load_workbook(path)[PLANTED_SHEET].cell(
        plant.first_row, columns[plant.column]
    )
    assert finding["sheet_formula"] == (formula.value if plant.template else None)
    assert finding["kind"] == {"o1": "typed number", "w5": "wrong update"}.get(
        plant.column, "wrong value"
    )


def assert_formula(given: str, expected: str) -> None:
    """The finding's formula equals `expected`: as text for an update, else as an expression."""
    if "lr" in expected:
        assert given == expected
        return
    _, right = given.split(" = ")
    names = {"sigmoid": sigmoid}
    difference = sp.sympify(right, locals=names) - sp.sympify(expected, locals=names)
    assert sp.expand(difference) == 0, (given, expected)


# Clean sheets ------------------------------------------------------------------------------


def test_project_xlsx_export_checks_clean(export_xlsx, capsys):
    code, out, err = run_check(capsys, export_xlsx)
    assert (code, err) == (0, "")
    # Both learning rate sheets are tables; every forward value, gradient and update is checked.
    rows = STEPS + 1
    assert f"{len(LEARNING_RATES) * (rows * 19 + STEPS * 8)} cells checked in 2 table(s)" in out


def test_project_xlsx_recalculated_by_another_engine_checks_clean(export_xlsx, tmp_path, capsys):
    path = save_recalculated(openpyxl.load_workbook(export_xlsx), tmp_path / "again.xlsx")
    assert findings_of(capsys, path) == []


def test_project_csv_export_checks_clean(export_csv, capsys):
    code, out, _ = run_check(capsys, export_csv)
    assert code == 0
    assert "1 table(s)" in out


@pytest.mark.parametrize("layout", ["reordered", "aliases", "extra columns", "title block"])
def test_layout_does_not_matter(layout, export_csv, tmp_path, capsys):
    """A values-only sheet made from the CSV export, laid out differently; one E_total is off."""
    lines = list(csv.reader(export_csv.read_text().splitlines()))
    names, rows = lines[0], [[float(v) for v in line] for line in lines[1:]]
    order = list(range(len(names)))
    if layout == "reordered":
        order = list(np.random.default_rng(4).permutation(len(names)))
    labels = list(names)
    if layout == "aliases":
        renamed = {"lr": "Learning Rate", "h1": "net_h1", "a_h1": "out_h1", "a_o2": "σ(o2)"}
        renamed |= {"E_total": "Total Error", "dE/dw1": "∂E/∂w1", "dE/dw5": "dE_total/dw5"}
        labels = [renamed.get(n, n) for n in names]
    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active["A1"] = "my backprop homework; the table is on the next sheet"
    sheet = book.create_sheet("table")
    top = 1
    if layout == "title block":
        sheet["A1"], sheet["A2"], top = "Backpropagation by hand", "lr and weights below", 4
    left = 3 if layout == "extra columns" else 1
    if layout == "extra columns":
        sheet.cell(top, 1, "comment")
        sheet.cell(top, len(names) + left + 1, "Δw1")
    for k, j in enumerate(order):
        sheet.cell(top, left + k, labels[j])
        for i, row in enumerate(rows, 1):
            sheet.cell(top + i, left + k, row[j])
    loss = left + order.index(names.index("E_total"))
    off = sheet.cell(top + 3, loss)
    correct = off.value
    off.value = correct * (1 + 2e-4)
    if layout == "extra columns":
        for i in range(1, len(rows) + 1):
            sheet.cell(top + i, 1, "ok")
            sheet.cell(top + i, len(names) + left + 1, 0.123)
    path = tmp_path / "layout.xlsx"
    book.save(path)
    found = findings_of(capsys, path)
    assert [(f["worksheet"], f["cell"], f["count"]) for f in found] == [
        ("table", off.coordinate, 1)
    ]
    assert found[0]["correct_value"] == pytest.approx(correct, rel=1e-12)


HAND_MADE = {
    "h1": "{w1}*{i1}+{w2}*{i2}",
    "a_h1": "1/(1+EXP(-{h1}))",
    "h2": "{w3}*{i1}+{w4}*{i2}",
    "a_h2": "1/(1+EXP(-{h2}))",
    "o1": "{w5}*{a_h1}+{w6}*{a_h2}",
    "a_o1": "1/(1+EXP(-{o1}))",
    "o2": "{w7}*{a_h1}+{w8}*{a_h2}",
    "a_o2": "1/(1+EXP(-{o2}))",
    "E_o1": "0.5*({t1}-{a_o1})^2",
    "E_o2": "0.5*({t2}-{a_o2})^2",
    "E total": "{E_o1}+{E_o2}",
    "dE/dw1": HIDDEN + "*{a_h1}*(1-{a_h1})*{i1}",
    "dE/dw2": HIDDEN + "*{a_h1}*(1-{a_h1})*{i2}",
    "dE/dw3": HIDDEN_2 + "*{a_h2}*(1-{a_h2})*{i1}",
    "dE/dw4": HIDDEN_2 + "*{a_h2}*(1-{a_h2})*{i2}",
    "dE/dw5": "({a_o1}-{t1})*{a_o1}*(1-{a_o1})*{a_h1}",
    "dE/dw6": "({a_o1}-{t1})*{a_o1}*(1-{a_o1})*{a_h2}",
    "dE/dw7": "({a_o2}-{t2})*{a_o2}*(1-{a_o2})*{a_h1}",
    "dE/dw8": "({a_o2}-{t2})*{a_o2}*(1-{a_o2})*{a_h2}",
}


def test_hand_made_sheet_with_labelled_inputs_checks_clean(tmp_path, capsys):
    """A course-style sheet: a title, inputs and learning rate in labelled cells above the
    table, no lr, i or t columns, E_o1 for E1; written here by hand, computed by `formulas`."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Backprop"
    sheet["A1"] = "Backpropagation step by step"
    givens = {"i1": 0.05, "i2": 0.1, "t1": 0.01, "t2": 0.99, "learning rate": 0.5}
    cells = {}
    for k, (label, value) in enumerate(givens.items()):
        sheet.cell(2, 1 + 2 * k, label)
        sheet.cell(2, 2 + 2 * k, value)
        cells[label] = f"${get_column_letter(2 + 2 * k)}$2"
    weights = [f"w{j}" for j in range(1, 9)]
    names = [*weights, *HAND_MADE]
    columns = {name: k for k, name in enumerate(names, 1)}
    top = 4
    for name, column in columns.items():
        sheet.cell(top, column, name)
    for row in range(top + 1, top + 6):
        for name, template in HAND_MADE.items():
            template = re.sub(r"\{(i\d|t\d)\}", lambda m: cells[m[1]], template)
            sheet.cell(row, columns[name], student_formula(template, columns, row))
        for j, weight in enumerate(weights):
            first = CONFIG.values.weights[j]
            update = f"{{{weight}@}}-{cells['learning rate']}*{{dE/d{weight}@}}"
            value = first if row == top + 1 else student_formula(update, columns, row)
            sheet.cell(row, columns[weight], value)
    path = save_recalculated(book, tmp_path / "hand.xlsx")
    code, out, _ = run_check(capsys, path)
    assert code == 0, out
    assert f"{5 * 19 + 4 * 8} cells checked in 1 table(s)" in out


# Tolerance ---------------------------------------------------------------------------------


def rewritten_csv(export_csv: Path, path: Path, column: str, row: int, change) -> str:
    lines = list(csv.reader(export_csv.read_text().splitlines()))
    k = lines[0].index(column)
    lines[row - 1][k] = repr(change(float(lines[row - 1][k])))
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return f"{get_column_letter(k + 1)}{row}"


@pytest.mark.parametrize(
    ("change", "tolerance", "found"),
    [
        (lambda v: float(f"{v:.8g}"), None, False),  # rounded to the displayed digits
        (lambda v: v * (1 + 1e-3), None, True),  # the fourth significant digit off
        (lambda v: v * (1 + 1e-3), "1e-2", False),
    ],
)
def test_tolerance(change, tolerance, found, export_csv, tmp_path, capsys):
    path = tmp_path / "sheet.csv"
    # E_total feeds no other cell: the change is the only difference.
    cell = rewritten_csv(export_csv, path, "E_total", 3, change)
    extra = ["--tolerance", tolerance] if tolerance else []
    code, out, _ = run_check(capsys, path, *extra, "--format", "json")
    cells = [c for f in json.loads(out)["findings"] for c in f["cells"]]
    assert cells == ([cell] if found else [])
    assert code == (1 if found else 0)


def test_absolute_floor_near_zero():
    correct = np.array([1e-9, 0.5])
    assert not differs(np.array([1.5e-9, 0.5 + 4e-7]), correct, 1e-6).any()
    assert differs(np.array([3e-9, 0.5 + 6e-7]), correct, 1e-6).all()


# Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.xlsx", b"just some text\n", "not an .xlsx workbook"),
        ("picture.csv", b"\x89PNG\r\n\x1a\n\0\0\0IHDR", "not a CSV file"),
        ("report.pdf", b"%PDF-1.4", "not a spreadsheet"),
        ("empty.csv", b"", "no table found"),
        ("half.csv", b"lr,w1,w2,w3,w4,h1\n0.5,1,2,3,4,5\n", "lacks w5, w6, w7, w8"),
        ("header.csv", b"w1,w2,w3,w4,w5,w6,w7,w8\nx,,,,,,,\n", "no rows with a number"),
        ("huge.csv", b"w1,w2\n" + b"1" * 200_000 + b"\n", "not a CSV file this can read"),
        ("weights.csv", b"w1,w2,w3,w4,w5,w6,w7,w8\n1,2,3,4,5,6,7,8\n", "no column to check"),
    ],
)
def test_unreadable_file_is_one_line_and_exit_2(name, content, says, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run_check(capsys, path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and says in err and str(path) in err


def test_missing_file_and_bad_tolerance(tmp_path, capsys):
    code, _, err = run_check(capsys, tmp_path / "nope.xlsx")
    assert code == 2 and "no such file" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(tmp_path / "x.csv"), "--tolerance", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_formulas_without_saved_values_exit_2(tmp_path, capsys):
    book = openpyxl.Workbook()
    for k, name in enumerate(["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "h1"], 1):
        book.active.cell(1, k, name)
        book.active.cell(2, k, "=1+1")
    path = tmp_path / "unsaved.xlsx"
    book.save(path)
    code, _, err = run_check(capsys, path)
    assert code == 2 and "no saved value" in err and "Sheet!A2" in err


# Output formats and labels ---------------------------------------------------------------


def test_text_and_markdown_reports(export_xlsx, tmp_path, capsys):
    path = planted_sheet(
        export_xlsx, PLANTS["sigmoid without its minus sign"], tmp_path / "planted.xlsx"
    )
    code, text, _ = run_check(capsys, path)
    assert code == 1
    assert "lr 0.5!L2  a_h1  wrong value (4 cells: L2, L3, L4, L5)" in text
    assert "a_h1 = sigmoid(h1)" in text and "=1/(1+EXP(K2))" in text
    summary = text.rstrip().splitlines()[-1]
    assert summary.endswith("1 finding(s) in 4 cell(s); 200 cells checked in 2 table(s)")
    code, md, _ = run_check(capsys, path, "--format", "md")
    assert code == 1
    assert md.startswith("| Worksheet | Cell | Column |")
    assert "| lr 0.5 | L2 | a_h1 | wrong value | 4 |" in md
    assert "`a_h1 = sigmoid(h1)`" in md


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("LR", "lr"),
        ("eta", "lr"),
        ("Learning rate", "lr"),
        ("η", "lr"),
        ("net_h1", "h1"),
        ("out_h1", "a_h1"),
        ("sigma_h1", "a_h1"),
        ("σ(o2)", "a_o2"),
        ("E_o1", "E1"),
        ("E_tot", "E_total"),
        ("E total", "E_total"),
        ("Total Error", "E_total"),
        ("dE/dw1", "dE_total/dw1"),
        ("dE_total/dw1", "dE_total/dw1"),
        ("dE_t/dw8", "dE_total/dw8"),
        ("∂E/∂w3", "dE_total/dw3"),
        (" D E / d W 2 ", "dE_total/dw2"),
    ],
)
def test_labels(label, key):
    assert aliases(build_network(CONFIG.network))[normalize(label)] == key


def test_check_file_returns_findings_as_data(export_xlsx):
    report = check_file(export_xlsx, CONFIG)
    assert report.findings == ()
    assert [(t.worksheet, t.span, t.rows) for t in report.tables] == [
        ("lr 0.5", "A1:AG5", 4),
        ("lr 1.0", "A1:AG5", 4),
    ]


def test_error_value_is_not_a_number_and_nothing_downstream(export_csv, tmp_path, capsys):
    """#NUM! where a number belongs: reported there; the cells computed from it are not."""
    path = tmp_path / "error.csv"
    lines = list(csv.reader(export_csv.read_text().splitlines()))
    k = lines[0].index("a_o1")
    lines[2][k] = "#NUM!"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    found = findings_of(capsys, path)
    assert [(f["cell"], f["kind"], f["sheet_value"]) for f in found] == [
        (f"{get_column_letter(k + 1)}3", "not a number", "#NUM!")
    ]


def test_json_report_is_valid_json_with_text_and_infinite_cells(tmp_path, capsys):
    rows = csv_text(iteration_table(CONFIG, (0.5,), 2)).splitlines()
    header = rows[0].split(",")
    cells = rows[1].split(",")
    cells[header.index("a_h1")] = "inf"
    cells[header.index("E1")] = "n/a"
    path = tmp_path / "odd.csv"
    path.write_text("\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n")
    code, out, _ = run_check(capsys, path, "--format", "json")
    assert code == 1
    report = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    values = {f["label"]: f["sheet_value"] for f in report["findings"]}
    assert values == {"a_h1": "inf", "E1": "n/a"}
