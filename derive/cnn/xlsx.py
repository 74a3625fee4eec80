"""A small CNN's gradient descent as a live workbook: "backprop in Excel", convolutional.

One sheet per learning rate, one row per step. Every forward value, delta and gradient of the
scalar derivation (derive/cnn/symbolic.py) is a column whose cells are spreadsheet formulas
printed from its SymPy expression, referring to the same row; each trained parameter starts from
the Summary sheet (blue input cells: the image, the target, the initial parameters, the learning
rates) and then updates from the row above, p - lr dE/dp. The numbers are cached in the cells
too, for viewers without a calculation engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import sympy as sp
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname

from derive.cnn.spec import CNNConfig
from derive.cnn.symbolic import Backprop, backprop, delta_symbol, scalar_network
from derive.descent import SCALAR_FUNCTIONS, ScalarPrinter
from derive.spreadsheet import spreadsheet_formula
from derive.table import check_settings
from derive.xlsx import (
    FIRST_INPUT_ROW,
    INPUT_FILL,
    MAX_CELLS,
    MAX_COLUMNS,
    SUMMARY,
    cached_workbook_bytes,
    error_chart,
    sheet_title,
)
from safeio.atomic import OutputError, write_atomic


def scalar_maximum(*xs: float) -> float:
    return max(xs)  # the first of equal values, as the window's winner


def scalar_winner(k, *xs: float) -> float:
    k = int(k)
    first = max(range(len(xs)), key=lambda j: (xs[j], -j))
    return 1.0 if first == k else 0.0


class NamedPrinter(ScalarPrinter):
    """derive.descent's float printer, each symbol printed as the variable `names` gives it."""

    def __init__(self, names: dict[sp.Symbol, str]):
        super().__init__()
        self.names = names

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self.names[expr]


def scalar_program(back: Backprop) -> Callable[..., list[float]]:
    """program(*net.arguments) -> the value of every assignment (forward, then backward)."""
    net = back.net
    steps = (*net.equations, *back.steps())
    symbols = (*net.arguments, *(s for s, _ in steps))
    names = {s: f"v{k}" for k, s in enumerate(symbols)}
    printer = NamedPrinter(names)
    lines = [f"def program({', '.join(names[a] for a in net.arguments)}):"]
    lines += [f"    {names[s]} = {printer._print(e)}" for s, e in steps]
    lines.append(f"    return [{', '.join(names[s] for s, _ in steps)}]")
    namespace = {
        **SCALAR_FUNCTIONS,
        "math": math,  # E = -t ln p prints as math.log
        "maximum": scalar_maximum,
        "winner": scalar_winner,
    }
    exec(compile("\n".join(lines) + "\n", "<derived cnn program>", "exec"), namespace)
    return namespace["program"]


def descent_rows(back: Backprop, lr: float, steps: int) -> np.ndarray:
    """(steps + 1, trained parameters + assignments): each row's parameters and every value."""
    net = back.net
    program = scalar_program(back)
    values = dict(zip(net.arguments, net.argument_values(), strict=True))
    assigned = [s for s, _ in (*net.equations, *back.steps())]
    position = {s: k for k, s in enumerate(assigned)}
    gradient_of = [position[delta_symbol(p)] for p in net.parameters]
    rows = []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            row = program(*(values[a] for a in net.arguments))
            rows.append([*(values[p] for p in net.parameters), *row])
            for p, g in zip(net.parameters, gradient_of, strict=True):
                values[p] = values[p] - lr * row[g]
    return np.array(rows, dtype=float)


def summary_rows(back: Backprop, learning_rates) -> list[tuple[sp.Symbol | None, str, float, str]]:
    """(symbol, label, value, meaning) of each Summary input cell; symbol None for a rate."""
    net = back.net
    trained = set(net.parameters)
    values = dict(zip(net.arguments, net.argument_values(), strict=True))
    rows = [(s, s.name, values[s], "input pixel") for s in net.pixels.ravel()]
    rows += [(s, s.name, values[s], "target probability") for s in net.targets]
    for array in net.arrays.values():
        what = "initial parameter" if array.flat[0] in trained else "held (running statistic)"
        rows += [(s, s.name, values[s], what) for s in array.ravel()]
    rows += [
        (None, "lr", lr, f"learning rate of sheet '{sheet_title(lr)}'") for lr in learning_rates
    ]
    return rows


def workbook(config: CNNConfig, learning_rates: tuple[float, ...], steps: int):
    """(workbook, formula cells, each sheet's cached numbers)."""
    back = backprop(scalar_network(config))
    net = back.net
    assigned = [s for s, _ in (*net.equations, *back.steps())]
    columns = ["step", *(p.name for p in net.parameters), *(s.name for s in assigned)]
    check_settings(learning_rates, steps, len(columns))
    cells = len(columns) * (steps + 1) * len(learning_rates)
    if len(columns) > MAX_COLUMNS or cells > MAX_CELLS:
        raise OutputError(
            f"the workbook would have {len(columns):,} columns and {cells:,} formula cells; at "
            f"most {MAX_COLUMNS:,} and {MAX_CELLS:,}: use fewer steps or rates, or --format csv"
        )
    book = openpyxl.Workbook()
    summary = book.active
    summary.title = SUMMARY
    summary["A1"] = "Backpropagation through a CNN, update by update"
    summary["A1"].font = Font(bold=True, size=14)
    summary["A2"] = (
        f"{config.source}: {steps} steps. Blue cells are inputs: change one and every sheet "
        "recomputes."
    )
    fixed: dict[sp.Symbol, str] = {}
    rate_cells = []
    for row, (symbol, label, value, meaning) in enumerate(
        summary_rows(back, learning_rates), FIRST_INPUT_ROW
    ):
        summary.cell(row, 1, label)
        summary.cell(row, 2, value).fill = INPUT_FILL
        summary.cell(row, 3, meaning)
        reference = f"{quote_sheetname(SUMMARY)}!$B${row}"
        (rate_cells.append(reference) if symbol is None else fixed.__setitem__(symbol, reference))
    for column, width in (("A", 24), ("B", 12), ("C", 26)):
        summary.column_dimensions[column].width = width  # labels like dense.weight[2,7]
    letter = {name: get_column_letter(k + 1) for k, name in enumerate(columns)}
    here = {**fixed, **{s: f"{letter[s.name]}{{row}}" for s in (*net.parameters, *assigned)}}
    formulas = {s: spreadsheet_formula(e, here) for s, e in (*net.equations, *back.steps())}
    sheets, numbers, count = [], [], 0
    for lr, rate in zip(learning_rates, rate_cells, strict=True):
        sheet = book.create_sheet(sheet_title(lr))
        sheet.append(columns)
        for row in range(2, steps + 3):
            cells = [0 if row == 2 else f"=A{row - 1}+1"]
            for p in net.parameters:
                g = letter[delta_symbol(p).name]
                first = f"={fixed[p]}"
                cells.append(
                    first if row == 2 else f"={letter[p.name]}{row - 1}-{rate}*{g}{row - 1}"
                )
            cells += [formulas[s].format(row=row) for s in assigned]
            sheet.append(cells)
            count += len(cells) - (row == 2)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"
        run = descent_rows(back, lr, steps)
        numbers.append(np.column_stack([np.arange(steps + 1), run]))
        sheets.append(sheet)
    loss = columns.index(net.loss.name) + 1
    summary.add_chart(error_chart(learning_rates, steps, sheets, loss, 1, "E"), "E4")
    book.calculation.fullCalcOnLoad = True
    return book, count, numbers


def write_workbook(config: CNNConfig, learning_rates, steps: int, path: str | Path) -> Path:
    book, count, numbers = workbook(config, tuple(float(lr) for lr in learning_rates), steps)
    data = cached_workbook_bytes(book, count, numbers)
    return write_atomic(path, lambda temp: temp.write_bytes(data))
