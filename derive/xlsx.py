"""The iteration table as a live workbook: every table cell a formula printed from the SymPy
expressions, so a student who edits an input (blue cell on the Summary sheet) sees every sheet
recompute. The computed numbers are stored as the formulas' cached values too, for viewers
without a calculation engine.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openpyxl
import sympy as sp
from openpyxl.chart import LineChart, Reference, Series
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter, quote_sheetname
from openpyxl.xml.functions import tostring

from derive.spreadsheet import spreadsheet_formula
from derive.table import CONSTANT, COUNTER, FORWARD, GRADIENT, LR, PARAMETER, RATE, Table
from safeio.atomic import OutputError, scratch_folder, write_atomic
from safeio.inputs import InputError

SUMMARY = "Summary"
CHART_TITLE = "Total Error at Learning Rates"
INPUT_FILL = PatternFill("solid", fgColor="DDEBF7")
FIRST_INPUT_ROW = 5
MAX_COLUMNS = 16_384  # a worksheet's last column, XFD
MAX_FORMULA = 8_192  # characters in one cell formula (Excel's limit; LibreOffice's too)
# Formula cells in a workbook: openpyxl writes 15,000 to 50,000 a second and holds each in memory
# (about 0.5 KB), so this keeps a workbook under about 15 s and 150 MB. The classic table at 50
# steps and 6 learning rates has 11,000; a 10-8-2 network's, about 80,000.
MAX_CELLS = 250_000
CORE_PROPERTIES = "docProps/core.xml"  # where a workbook says when it was created and saved
# The earliest and the latest time a zip member can record.
ZIP_TIMES = (datetime.datetime(1980, 1, 1), datetime.datetime(2107, 12, 31, 23, 59, 58))


def sheet_title(lr: float) -> str:
    return f"lr {lr!r}"


def input_rows(table: Table) -> list[tuple[sp.Symbol | None, str, float, str]]:
    """(symbol, label, value, meaning) for each input cell of the Summary sheet, in order;
    symbol None for a learning rate."""
    network, values = table.evaluator.network, table.config.values
    bias_of = {n.bias: n.name for n in network.neurons if n.bias is not None}
    trained = set(network.trained)
    rows = [(s, s.name, v, "input") for s, v in zip(network.inputs, values.inputs, strict=True)]
    rows += [(s, s.name, v, "target") for s, v in zip(network.targets, values.targets, strict=True)]
    for w, v in zip(network.weights, values.weights, strict=True):
        source = w.source.name.removeprefix("a_")
        rows.append((w.symbol, w.symbol.name, v, f"initial weight, {source} -> {w.dest.name}"))
    for b, v in zip(network.biases, values.biases, strict=True):
        what = "initial bias" if b in trained else "bias (fixed)"
        rows.append((b, b.name, v, f"{what} of {bias_of[b]}"))
    rows += [
        (None, "lr", lr, f"learning rate of sheet '{sheet_title(lr)}'")
        for lr in table.learning_rates
    ]
    return rows


def helper_symbols(table: Table) -> tuple[sp.Symbol, ...]:
    """The program's assignments that are not table columns: the deltas (and a softmax's shared
    sum). They get columns after the table's, so each formula refers to them and stays short."""
    shown = {c.symbol for c in table.columns}
    return tuple(s for s, _ in table.evaluator.program if s not in shown)


def sheet_names(table: Table) -> tuple[str, ...]:
    """The header of a learning rate sheet: the table's columns, then the helper columns."""
    return table.names + tuple(s.name for s in helper_symbols(table))


def check_size(table: Table) -> None:
    """OutputError, before any work, for a sheet wider or a workbook larger than allowed."""
    width = len(sheet_names(table))
    if width > MAX_COLUMNS:
        raise OutputError(
            f"a sheet would have {width} columns and a worksheet holds at most {MAX_COLUMNS}; "
            f"use --format csv for this network"
        )
    cells = width * (table.steps + 1) * len(table.learning_rates)
    if cells > MAX_CELLS:
        raise OutputError(
            f"the workbook would have {cells:,} formula cells, more than the {MAX_CELLS:,} a "
            f"workbook is written with; use fewer steps or learning rates, or --format csv"
        )


def column_letters(table: Table) -> dict[sp.Symbol, str]:
    """The worksheet column of each table column, then of each helper: A, B, ..., Z, AA, ..."""
    symbols = (*(c.symbol for c in table.columns), *helper_symbols(table))
    return {s: get_column_letter(k + 1) for k, s in enumerate(symbols)}


def expression_templates(table: Table) -> dict[sp.Symbol, str]:
    """The formula of each forward, gradient and helper column, "{row}" for the row number:
    the evaluator's program, one assignment per column."""
    here = {symbol: f"{letter}{{row}}" for symbol, letter in column_letters(table).items()}
    equations = dict(table.evaluator.program)
    computed = [c.symbol for c in table.columns if c.kind in (FORWARD, GRADIENT)]
    templates = {
        s: spreadsheet_formula(equations[s], here) for s in (*computed, *helper_symbols(table))
    }
    for symbol, template in templates.items():
        if len(template.format(row=table.steps + 2)) > MAX_FORMULA:
            raise OutputError(
                f"the formula of {symbol.name} would have over {MAX_FORMULA} characters, more "
                f"than a spreadsheet cell holds; use --format csv for this network"
            )
    return templates


def sheet_values(table: Table, run: int) -> np.ndarray:
    """One learning rate's numbers, (steps + 1, sheet columns): the table's, then the helpers'
    from the evaluator at each row's values."""
    values = table.values[run]
    helpers = helper_symbols(table)
    if not helpers:
        return values
    names = table.names
    args = [values[:, names.index(s.name)] for s in table.evaluator.network.values_args]
    computed = table.evaluator(*args)
    return np.column_stack([values, *(computed[s] for s in helpers)])


def row_templates(
    table: Table, expressions: Mapping[sp.Symbol, str], inputs: Mapping[sp.Symbol, str], lr: str
) -> tuple[list, list]:
    """The first row's cells and every later row's, "{row}" and "{above}" standing for the row
    numbers: the first row starts from the Summary's values, later ones update from above."""
    letter = column_letters(table)
    gradient = {c.parameter: letter[c.symbol] for c in table.columns if c.kind == GRADIENT}
    first, later = [], []
    for column in table.columns:
        symbol = column.symbol
        if column.kind == RATE:
            first.append(f"={lr}")
            later.append(f"={lr}")
        elif column.kind == COUNTER:
            first.append(0)
            later.append(f"={letter[symbol]}{{above}}+1")
        elif column.kind == CONSTANT:
            first.append(f"={inputs[symbol]}")
            later.append(f"={inputs[symbol]}")
        elif column.kind == PARAMETER:
            # p(step n+1) = p(step n) - lr * dE_total/dp(step n), all from the row above.
            first.append(f"={inputs[symbol]}")
            p, a, g = letter[symbol], letter[LR], gradient[symbol]
            later.append(f"={p}{{above}}-{a}{{above}}*{g}{{above}}")
        else:
            first.append(expressions[symbol])
            later.append(expressions[symbol])
    for symbol in helper_symbols(table):
        first.append(expressions[symbol])
        later.append(expressions[symbol])
    return first, later


def workbook(table: Table) -> tuple[openpyxl.Workbook, int]:
    """The Summary sheet (inputs, chart) and one live-formula sheet per learning rate; and the
    number of formula cells on those sheets."""
    book = openpyxl.Workbook()
    summary = book.active
    summary.title = SUMMARY
    check_size(table)
    inputs, lr_cells = write_summary(summary, table)
    expressions = expression_templates(table)
    names = sheet_names(table)
    sheets, formulas = [], 0
    for lr, lr_cell in zip(table.learning_rates, lr_cells, strict=True):
        sheet = book.create_sheet(sheet_title(lr))
        first, later = row_templates(table, expressions, inputs, lr_cell)
        sheet.append(names)
        sheet.append([t.format(row=2) if isinstance(t, str) else t for t in first])
        for row in range(3, table.steps + 3):
            sheet.append([t.format(row=row, above=row - 1) for t in later])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "C2"
        formulas += sum(isinstance(t, str) for t in first) + len(later) * table.steps
        sheets.append(sheet)
    loss, step = table.names.index("E_total") + 1, table.names.index("step") + 1
    chart = error_chart(table.learning_rates, table.steps, sheets, loss, step, "E_total")
    summary.add_chart(chart, "E4")
    book.calculation.fullCalcOnLoad = True  # engines recompute on opening; the rest show caches
    return book, formulas


def write_summary(sheet, table: Table) -> tuple[dict[sp.Symbol, str], list[str]]:
    """Title, labelled input cells and divergence notes; the input and learning rate cells."""
    spec = table.config.network
    sheet["A1"] = "Backpropagation, update by update"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = (
        f"Network {'-'.join(map(str, spec.layers))}, activation {', '.join(spec.activations)}, "
        f"loss {spec.loss}, bias {spec.bias}; {table.steps} steps. "
        "Blue cells are inputs: change one and every sheet recomputes."
    )
    for cell, text in zip(("A4", "B4", "C4"), ("symbol", "value", "meaning"), strict=True):
        sheet[cell] = text
        sheet[cell].font = Font(bold=True)
    inputs: dict[sp.Symbol, str] = {}
    lr_cells: list[str] = []
    row = FIRST_INPUT_ROW
    for row, (symbol, label, value, meaning) in enumerate(input_rows(table), FIRST_INPUT_ROW):
        sheet.cell(row, 1, label)
        sheet.cell(row, 2, value).fill = INPUT_FILL
        sheet.cell(row, 3, meaning)
        reference = f"{quote_sheetname(SUMMARY)}!$B${row}"
        if symbol is None:
            lr_cells.append(reference)
        else:
            inputs[symbol] = reference
    for offset, divergence in enumerate(table.divergences, 2):
        sheet.cell(row + offset, 1, f"Warning: {divergence.message}").font = Font(color="C00000")
    sheet.column_dimensions["A"].width = 10
    sheet.column_dimensions["B"].width = 14
    sheet.column_dimensions["C"].width = 28
    return inputs, lr_cells


def error_chart(
    learning_rates: tuple[float, ...], steps: int, sheets: list, loss: int, step: int, name: str
) -> LineChart:
    """The loss against step, one line per learning rate, read from the learning rate sheets'
    columns `loss` and `step` (numbered from 1)."""
    chart = LineChart()
    chart.title = CHART_TITLE
    chart.x_axis.title = "step"
    chart.y_axis.title = name
    # openpyxl 3.1 hides both axes unless told otherwise.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.width, chart.height = 22, 12
    last = steps + 2
    for lr, sheet in zip(learning_rates, sheets, strict=True):
        values = Reference(sheet, min_col=loss, min_row=2, max_row=last)
        series = Series(values, title=f"lr = {lr!r}")
        series.smooth = False
        chart.series.append(series)
    chart.set_categories(Reference(sheets[0], min_col=step, min_row=2, max_row=last))
    return chart


# openpyxl writes a formula cell as <c r="K2"><f>...</f><v/></c>, without a cached value.
FORMULA_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"([^>]*)><f>([^<]*)</f><v\s*/>(?:</v>)?</c>')


def with_cached_values(sheet_xml: str, values) -> tuple[str, int]:
    """The sheet's XML with each formula cell's value (values[row - 2, column - 1]) cached."""

    def cache(match: re.Match) -> str:
        letters, row, attributes, formula = match.groups()
        value = float(values[int(row) - 2, column_index_from_string(letters) - 1])
        if math.isfinite(value):
            return f'<c r="{letters}{row}"{attributes}><f>{formula}</f><v>{value!r}</v></c>'
        # A spreadsheet has no inf or nan: an overflowed cell shows #NUM!, as it would there.
        return f'<c r="{letters}{row}"{attributes} t="e"><f>{formula}</f><v>#NUM!</v></c>'

    return FORMULA_CELL.subn(cache, sheet_xml)


def workbook_bytes(table: Table) -> bytes:
    """The .xlsx file: openpyxl's workbook with the table's numbers as cached formula values."""
    book, formulas = workbook(table)
    values = [sheet_values(table, k) for k in range(len(table.learning_rates))]
    return cached_workbook_bytes(book, formulas, values)


def saved_at() -> datetime.datetime:
    """The time (UTC) a workbook records as its creation and last save: SOURCE_DATE_EPOCH's where
    that is set, as reproducible builds set it (MkDocs reads it too), so that two builds of the
    same sources give the same bytes; else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    if not (epoch.isascii() and epoch.isdigit() and int(epoch) < 253_402_300_800):
        raise InputError(
            f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 before the year "
            f"10000, got {epoch!r}"
        )
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).replace(tzinfo=None)


def cached_workbook_bytes(book: openpyxl.Workbook, formulas: int, values: list) -> bytes:
    """The saved workbook with each formula cell's value cached: values[k] holds the numbers of
    the k-th sheet after the first, (rows from row 2, columns from A). Every time in it, the
    document's and the zip members', is saved_at()'s."""
    stamp = saved_at()
    raw = io.BytesIO()
    with scratch_folder(prefix="openpyxl-"):  # its per-sheet scratch files, whatever happens
        book.save(raw)
    parts = {
        sheet.path.lstrip("/"): numbers  # sheet.path is set by save()
        for sheet, numbers in zip(book.worksheets[1:], values, strict=True)
    }
    book.properties.created = book.properties.modified = stamp  # save() set them to now
    zip_time = min(max(stamp, ZIP_TIMES[0]), ZIP_TIMES[1]).timetuple()[:6]
    out = io.BytesIO()
    cached = 0
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename in parts:
                text, count = with_cached_values(data.decode("utf-8"), parts[item.filename])
                data, cached = text.encode("utf-8"), cached + count
            elif item.filename == CORE_PROPERTIES:
                data = tostring(book.properties.to_tree())  # as openpyxl's save() writes it
            item.date_time = zip_time
            dest.writestr(item, data)
    if cached != formulas:
        raise RuntimeError(f"cached {cached} of {formulas} formula cells; openpyxl's XML changed?")
    return out.getvalue()


def write_workbook(table: Table, path: str | Path) -> Path:
    """Write the workbook to `path` atomically (a temp file, then a rename)."""
    return write_atomic(path, lambda temp: temp.write_bytes(workbook_bytes(table)))
