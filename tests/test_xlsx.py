"""The workbook: recomputed by an independent engine (the `formulas` package) it equals the CSV;
every table cell is a live formula; cached values are stored; editing an input recomputes."""

import csv
import datetime
import io
import re
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import formulas
import numpy as np
import openpyxl
import pytest
import sympy as sp

from derive.__main__ import main
from derive.config import load_config
from derive.functions import FUNCTIONS, linear, logsumexp, relu, sigmoid, step
from derive.spreadsheet import spreadsheet_formula
from derive.table import csv_text, iteration_table
from derive.xlsx import CHART_TITLE, SUMMARY, sheet_title, write_workbook

pytestmark = pytest.mark.core

CONFIGS = Path(__file__).parent / "configs"
ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    "classic": None,
    "deep_softmax": CONFIGS / "table_deep_softmax.toml",
    "fixed_bias": CONFIGS / "table_fixed_bias.toml",
}


def recompute(path: Path) -> dict[tuple[str, str], object]:
    """Every cell's value as the `formulas` engine computes it: {(SHEET, "A1"): value}."""
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    cells = {}
    for key, value in solution.items():
        match = re.fullmatch(r"'\[[^\]]+\](.+)'!([A-Z]+\d+)", key)
        if match:
            cells[match.groups()] = value.value[0, 0]
    return cells


def csv_numbers(table) -> np.ndarray:
    """The table as `derive table` writes it to CSV, read back: (rows, columns)."""
    rows = list(csv.reader(io.StringIO(csv_text(table))))[1:]
    return np.array([[float(v) for v in row] for row in rows])


def sheet_values(cells, lr: float, shape: tuple[int, int]) -> np.ndarray:
    """The sheet of learning rate `lr` as (steps + 1, columns) floats from recomputed cells."""
    title = sheet_title(lr).upper()
    letters = [openpyxl.utils.get_column_letter(c + 1) for c in range(shape[1])]
    return np.array(
        [[float(cells[title, f"{c}{r + 2}"]) for c in letters] for r in range(shape[0])]
    )


@pytest.fixture(scope="module", params=SHAPES.values(), ids=SHAPES.keys())
def written(request, tmp_path_factory):
    table = iteration_table(load_config(request.param), [0.5, 2.0], 3)
    path = tmp_path_factory.mktemp("xlsx") / "table.xlsx"
    write_workbook(table, path)
    return table, path


def test_independent_engine_recomputes_the_csv(written):
    table, path = written
    cells = recompute(path)
    expected = csv_numbers(table).reshape(table.values.shape)
    for k, lr in enumerate(table.learning_rates):
        got = sheet_values(cells, lr, expected[k].shape)
        np.testing.assert_allclose(got, expected[k], rtol=1e-9, atol=0)


def header(path: Path, lr: float) -> list[str]:
    return [c.value for c in openpyxl.load_workbook(path)[sheet_title(lr)][1]]


def test_every_table_cell_is_a_live_formula(written):
    table, path = written
    book = openpyxl.load_workbook(path)
    deltas = [f"delta_{n.name}" for n in table.evaluator.network.neurons]
    for lr in table.learning_rates:
        sheet = book[sheet_title(lr)]
        names = [c.value for c in sheet[1]]
        # The table's columns, then one delta per neuron (and a softmax's shared lse_o, s_o).
        assert names[: len(table.names)] == list(table.names)
        assert sorted(set(names[len(table.names) :]) - {"lse_o", "s_o"}) == sorted(deltas)
        body = [c for row in sheet.iter_rows(min_row=2) for c in row]
        assert len(body) == (table.steps + 1) * len(names)
        # The one plain number: step 0.
        assert [c.coordinate for c in body if c.data_type != "f"] == ["B2"]
        assert sheet["B2"].value == 0


def test_cached_values_are_what_an_engine_computes(written):
    """Viewers without a calculation engine show the cache: it must be what the formulas give."""
    table, path = written
    cells = recompute(path)
    book = openpyxl.load_workbook(path, data_only=True)
    for lr in table.learning_rates:
        cached = np.array(
            list(book[sheet_title(lr)].iter_rows(min_row=2, values_only=True)), dtype=float
        )
        np.testing.assert_allclose(
            sheet_values(cells, lr, cached.shape), cached, rtol=1e-9, atol=1e-300
        )


def test_gradient_formulas_use_the_delta_columns(written):
    """dE/dw = delta of its neuron x the activation it multiplies: one product per cell."""
    table, path = written
    book = openpyxl.load_workbook(path)
    names = header(path, table.learning_rates[0])
    letter = {n: openpyxl.utils.get_column_letter(k + 1) for k, n in enumerate(names)}
    sheet = book[sheet_title(table.learning_rates[0])]
    for w in table.evaluator.network.weights:
        formula = sheet[f"{letter['dE/d' + w.symbol.name]}3"].value
        expected = {f"{letter['delta_' + w.dest.name]}3", f"{letter[w.source.name]}3"}
        assert set(formula.lstrip("=").split("*")) == expected


def test_summary_chart_plots_each_learning_rate(written):
    table, path = written
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        chart = ElementTree.fromstring(archive.read(charts[0]))
    ns = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}
    texts = [t.text for t in chart.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}t")]
    assert CHART_TITLE in texts and "step" in texts and "E_total" in texts
    series = chart.findall(".//c:lineChart/c:ser", ns)
    assert len(series) == len(table.learning_rates)
    loss = openpyxl.utils.get_column_letter(table.names.index("E_total") + 1)
    for lr, ser in zip(table.learning_rates, series, strict=True):
        assert ser.find("c:tx//c:v", ns).text == f"lr = {lr!r}"
        reference = ser.find("c:val/c:numRef/c:f", ns).text
        assert reference == f"'{sheet_title(lr)}'!${loss}$2:${loss}${table.steps + 2}"


def test_editing_inputs_recomputes_everything(tmp_path):
    config = load_config()
    table = iteration_table(config, [0.5, 1.0], 3)
    path = tmp_path / "edited.xlsx"
    write_workbook(table, path)
    book = openpyxl.load_workbook(path)
    summary = book[SUMMARY]
    labels = {summary.cell(r, 1).value: r for r in range(1, summary.max_row + 1)}
    summary.cell(labels["i1"], 2).value = 0.7
    summary.cell(labels["w6"], 2).value = -0.3
    lr_rows = [r for r in range(1, summary.max_row + 1) if summary.cell(r, 1).value == "lr"]
    summary.cell(lr_rows[1], 2).value = 1.7
    book.save(path)

    edited = replace(
        config,
        values=replace(
            config.values,
            inputs=(0.7, config.values.inputs[1]),
            weights=(*config.values.weights[:5], -0.3, *config.values.weights[6:]),
        ),
    )
    expected = iteration_table(edited, [0.5, 1.7], 3)
    cells = recompute(path)
    for k, lr in enumerate(table.learning_rates):  # sheets keep the names they were made with
        got = sheet_values(cells, lr, expected.values[k].shape)
        np.testing.assert_allclose(got, expected.values[k], rtol=1e-9, atol=0)


x, y, z = sp.symbols("x y z", real=True)
leaky_relu = FUNCTIONS["leaky_relu"]
VALUES = {x: 1.5, y: -0.75, z: 1000.0}  # z: where a naive e^-z or e^z overflows
EXPRESSIONS = [
    -(x**2),  # spreadsheets read -A1^2 as (-A1)^2
    (x - y) ** -2,
    2 ** (x**2),  # and 2^3^2 as (2^3)^2
    (-y) ** 3,
    -1 / (x * y),
    sp.sqrt(x) - sp.Rational(1, 3) * y,
    sp.Rational(1, 2) * (x - y) ** 2,
    sp.Float("1e-5") * x - sp.Float("2.5e10") / z,
    sp.exp(-x) * sp.log(x) + sp.tanh(y),
    sigmoid(z) + sigmoid(-z) + sigmoid(x - y),
    1 / sigmoid(y),
    x - relu(y) * relu(x) + step(y) + 2 * step(x),
    logsumexp(z, x, y),
    logsumexp(-z, -z - 1),
    sp.exp(x - logsumexp(x, y, z)),
    2 * linear(x - y) / linear(x + y),
    leaky_relu(x - 2 * y) + 3 * leaky_relu(y - x) - leaky_relu(-z),
    FUNCTIONS["tanh"](x - y) * 2,
    sp.Max(x, y) - sp.Min(x, y) + sp.Abs(y),
]


def elementary(expr: sp.Expr) -> sp.Expr:
    """The network's functions in plain exp, log and Piecewise: the reference the test trusts."""
    expr = expr.replace(linear, lambda a: a)
    return expr.rewrite(sp.exp).rewrite(sp.Piecewise)


def test_printed_formulas_compute_the_expressions(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    cells = {}
    for row, (symbol, value) in enumerate(VALUES.items(), 1):
        sheet.cell(row, 1, value)
        cells[symbol] = f"A{row}"
    for row, expr in enumerate(EXPRESSIONS, 1):
        sheet.cell(row, 2, spreadsheet_formula(expr, cells))
    path = tmp_path / "printer.xlsx"
    book.save(path)
    computed = recompute(path)
    for row, expr in enumerate(EXPRESSIONS, 1):
        expected = float(elementary(expr).subs(VALUES).evalf(30))
        assert float(computed["DATA", f"B{row}"]) == pytest.approx(expected, rel=1e-12), expr


def test_unknown_function_is_refused():
    with pytest.raises(ValueError, match="no spreadsheet formula"):
        spreadsheet_formula(sp.Function("mystery")(x), {x: "A1"})


def test_too_large_a_workbook_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "big.xlsx"
    code = main(["table", "--steps", "8000", "--format", "xlsx", "--out", str(out)])
    err = capsys.readouterr().err
    # 37 columns (the table's 33 and 4 deltas) x 8,001 rows x 6 learning rates.
    assert code == 2 and err == (
        "error: the workbook would have 1,776,222 formula cells, more than the 250,000 a workbook "
        "is written with; use fewer steps or learning rates, or --format csv\n"
    )
    assert list(tmp_path.iterdir()) == []


# 1,700,000,000 s after 1970-01-01 00:00 UTC: 19,675 days (1970-2023 hold 13 leap days: 53 x 365
# + 13 + 317 days into 2023 = 2023-11-14), and 80,000 s more, 22:13:20.
SOURCE_DATE = ("1700000000", datetime.datetime(2023, 11, 14, 22, 13, 20))
CNN_CONFIG = ROOT / "derive" / "configs" / "cnn.toml"


@pytest.mark.parametrize("config", [None, CNN_CONFIG], ids=["dense", "cnn"])
def test_source_date_epoch_makes_the_same_bytes_at_any_time(config, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", SOURCE_DATE[0])
    args = ["table", "--steps", "2", "--lr", "0.5", "--format", "xlsx"]
    args += ["--config", str(config), "--out"] if config else ["--out"]
    assert main([*args, str(tmp_path / "first.xlsx")]) == 0
    time.sleep(1.1)  # the document's times are to the second; a zip member's to two seconds
    monkeypatch.setattr(
        time, "localtime", lambda *_: time.struct_time((2001, 2, 3, 4, 5, 6, 5, 34, 0))
    )
    assert main([*args, str(tmp_path / "second.xlsx")]) == 0
    first = (tmp_path / "first.xlsx").read_bytes()
    assert first == (tmp_path / "second.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(first)) as book:
        assert {info.date_time for info in book.infolist()} == {SOURCE_DATE[1].timetuple()[:6]}
    properties = openpyxl.load_workbook(io.BytesIO(first)).properties
    assert properties.created == properties.modified == SOURCE_DATE[1]


def test_without_source_date_epoch_a_workbook_records_when_it_was_made(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    path = tmp_path / "now.xlsx"
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    assert main(["table", "--steps", "2", "--format", "xlsx", "--out", str(path)]) == 0
    after = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    properties = openpyxl.load_workbook(path).properties
    assert before <= properties.created == properties.modified <= after


@pytest.mark.parametrize("value", ["yesterday", "-5", "1.5e9", "", "99999999999999"])
def test_a_bad_source_date_epoch_is_one_line_exit_2(value, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    # 8,000 steps: a workbook too large to write, refused only once the table is computed.
    code = main(["table", "--steps", "8000", "--format", "xlsx", "--out", str(tmp_path / "t.xlsx")])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 before the year "
        f"10000, got {value!r}\n"
    )
    assert list(tmp_path.iterdir()) == []
