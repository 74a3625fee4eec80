"""Find the mistakes in a hand-made backpropagation sheet (.xlsx or .csv).

The table is found by its header labels (see labels.py) on any worksheet. Each cell is checked
against its own equation evaluated on the same row's sheet values of the cells it depends on
(a_h1 from that row's h1, dE_total/dw6 from that row's a_o1, t1 and a_h2), so a mistake is
reported where it is made, not again in every cell computed from it. Where a row's learning
rate is known, the next row's weights are checked against w - lr * dE_total/dw computed from
the row above's sheet values. A column the sheet lacks is computed from the row's other values.

Tolerance: a value passes when |sheet - correct| <= tolerance * max(|correct|, ABSOLUTE_FLOOR).
Relative, so rounding to the displayed digits passes and a wrong fourth significant digit does
not; below ABSOLUTE_FLOOR (values near 0, such as gradients late in training) the comparison
is absolute, tolerance * ABSOLUTE_FLOOR, since a relative error of a value near 0 means nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import openpyxl
import sympy as sp
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter

from derive.chain import gradients
from derive.config import Config
from derive.evaluate import NUMPY_FUNCTIONS, gradient_symbol, values_args
from derive.labels import LR, STEP, aliases, normalize
from derive.latex import text_expr
from derive.network import Network, build_network

DEFAULT_TOLERANCE = 1e-6
ABSOLUTE_FLOOR = 1e-3
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# A formula moved to this row, to compare formulas of different rows (A5 in row 5 ~ A9 in row 9).
ANCHOR_ROW = 100_000

WRONG_VALUE = "wrong value"
WRONG_UPDATE = "wrong update"
TYPED_NUMBER = "typed number"
NOT_A_NUMBER = "not a number"


class SheetError(ValueError):
    """A sheet that cannot be checked; the message is one line saying why."""


@dataclass(frozen=True)
class Grid:
    """One worksheet (or the CSV file): cell values and, where a cell has one, its formula."""

    name: str
    values: dict[tuple[int, int], object]  # (row, column), 1-based, non-empty cells only
    formulas: dict[tuple[int, int], str]

    @cached_property
    def rows(self) -> dict[int, dict[int, object]]:
        by_row: dict[int, dict[int, object]] = {}
        for (row, column), value in sorted(self.values.items()):
            by_row.setdefault(row, {})[column] = value
        return by_row

    def number(self, row: int, column: int) -> float:
        """The cell's value as a float; NaN when it is empty or not a finite number."""
        value = self.values.get((row, column))
        if is_number(value):
            return float(value)
        return math.nan


@dataclass(frozen=True)
class Table:
    grid: Grid
    header_row: int
    columns: dict[str, int]  # key (symbol name, "lr", "step") -> column
    labels: dict[str, str]  # key -> the label as the sheet writes it
    rows: tuple[int, ...]  # data rows, top to bottom

    @property
    def span(self) -> str:
        """The table's range, e.g. A4:AK9."""
        first, last = min(self.columns.values()), max(self.columns.values())
        bottom = self.rows[-1] if self.rows else self.header_row
        return f"{cell_name(self.header_row, first)}:{cell_name(bottom, last)}"

    def numbers(self, key: str) -> np.ndarray:
        column = self.columns[key]
        return np.array([self.grid.number(row, column) for row in self.rows])


@dataclass(frozen=True)
class Equation:
    """One column's equation as a NumPy function of the columns it depends on (`args`)."""

    key: str
    args: tuple[str, ...]
    function: Callable
    text: str  # "a_h1 = sigmoid(h1)"


@dataclass(frozen=True)
class Finding:
    """One mistake: where it is first made, how many cells repeat it, the sheet's and the right."""

    worksheet: str
    cell: str  # the first cell with this mistake, e.g. "M33"
    label: str  # the column's label as the sheet writes it
    kind: str  # wrong value | wrong update | typed number | not a number
    sheet_value: float | str | None
    correct_value: float
    correct_formula: str  # plain text, e.g. "a_h1 = sigmoid(h1)"
    sheet_formula: str | None  # the first cell's formula, e.g. "=1/(1+EXP(H5))"
    count: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    worksheet: str
    span: str
    rows: int


@dataclass(frozen=True)
class Report:
    path: str
    tables: tuple[TableInfo, ...]
    findings: tuple[Finding, ...]
    cells_checked: int
    notes: tuple[str, ...]

    @property
    def summary(self) -> str:
        where = f"{self.cells_checked} cells checked in {len(self.tables)} table(s)"
        if not self.findings:
            return f"{self.path}: no mistakes found; {where}"
        cells = sum(f.count for f in self.findings)
        return f"{self.path}: {len(self.findings)} finding(s) in {cells} cell(s); {where}"


@dataclass(frozen=True)
class Issue:
    """One wrong cell, before cells repeating the same mistake are grouped."""

    table: Table
    key: str
    row: int
    column: int
    kind: str
    sheet_value: float | str | None
    correct_value: float
    correct_formula: str


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def cell_name(row: int, column: int) -> str:
    return f"{get_column_letter(column)}{row}"


def parse_tolerance(text: str) -> float:
    """--tolerance: a finite number above 0 and below 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a relative tolerance in (0, 1)")
    return value


# Reading -----------------------------------------------------------------------------------


def read_grids(path: Path) -> list[Grid]:
    """The worksheets of an .xlsx workbook, or the one grid of a CSV file."""
    if not path.is_file():
        raise SheetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return read_xlsx(path)
    if suffix in CSV_SUFFIXES:
        return [read_csv(path)]
    raise SheetError(
        f"{path}: not a spreadsheet this can read ({suffix or 'no extension'}); "
        f"give {', '.join(XLSX_SUFFIXES + CSV_SUFFIXES)} (save .xls or .ods as .xlsx)"
    )


def read_xlsx(path: Path) -> list[Grid]:
    try:
        computed = openpyxl.load_workbook(path, data_only=True)
        written = openpyxl.load_workbook(path, data_only=False)
    except zipfile.BadZipFile:
        raise SheetError(f"{path}: not an .xlsx workbook (not a zip archive)") from None
    except Exception as exc:  # openpyxl raises many kinds on a malformed workbook
        raise SheetError(f"{path}: cannot read as an .xlsx workbook: {exc}") from None
    grids = []
    for values_sheet, formulas_sheet in zip(computed.worksheets, written.worksheets, strict=True):
        values, formulas = {}, {}
        for line in formulas_sheet.iter_rows():
            for cell in line:
                formula = formula_text(cell.value)
                if formula is not None:
                    formulas[cell.row, cell.column] = formula
        for line in values_sheet.iter_rows():
            for cell in line:
                if cell.value is not None:
                    values[cell.row, cell.column] = cell.value
        unsaved = [key for key in formulas if key not in values]
        if unsaved:
            first = cell_name(*min(unsaved))
            raise SheetError(
                f"{path}: {len(unsaved)} formula cell(s) have no saved value (first: "
                f"{values_sheet.title}!{first}); open the file in Excel or LibreOffice and save it"
            )
        grids.append(Grid(values_sheet.title, values, formulas))
    return grids


def formula_text(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("="):
        return value
    text = getattr(value, "text", None)  # openpyxl's ArrayFormula
    return text if isinstance(text, str) else None


def read_csv(path: Path) -> Grid:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in raw:
        raise SheetError(f"{path}: not a CSV file (binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetError(f"{path}: not a CSV file (not UTF-8 text)") from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise SheetError(f"{path}: not a CSV file this can read: {exc}") from None
    values: dict[tuple[int, int], object] = {}
    for row, line in enumerate(lines, start=1):
        for column, field in enumerate(line, start=1):
            if field.strip():
                values[row, column] = csv_value(field, dialect.delimiter)
    return Grid(path.name, values, {})


def csv_value(field: str, delimiter: str) -> float | str:
    """A number where the field is one (a decimal comma too, in ;-separated files), else text."""
    text = field.strip()
    candidates = [text] if delimiter == "," else [text, text.replace(",", ".")]
    for candidate in candidates:
        try:
            return float(candidate)
        except ValueError:
            pass
    return text


# Finding the table -------------------------------------------------------------------------


def header_keys(cells: dict[int, object], names: dict[str, str]) -> dict[str, int]:
    """Known labels of one row: key -> column (the first column with that label)."""
    found: dict[str, int] = {}
    for column, value in cells.items():
        if isinstance(value, str) and normalize(value) in names:
            found.setdefault(names[normalize(value)], column)
    return found


def find_tables(grids: list[Grid], network: Network, path: Path) -> list[Table]:
    """Every header row with all the weight labels, each with its rows of numbers below it."""
    names = aliases(network)
    required = [s.name for s in network.weight_symbols]
    tables = []
    best: tuple[int, str, int, set[str]] = (0, "", 0, set())
    for grid in grids:
        for row, cells in grid.rows.items():
            keys = header_keys(cells, names)
            if all(name in keys for name in required):
                labels = {key: str(cells[column]) for key, column in keys.items()}
                tables.append(Table(grid, row, keys, labels, data_rows(grid, row, keys, required)))
            elif len(keys) > best[0]:
                best = (len(keys), grid.name, row, set(keys))
    if not tables:
        raise SheetError(f"{path}: no table found: {missing_labels(best, required)}")
    if not any(table.rows for table in tables):
        table = tables[0]
        raise SheetError(
            f"{path}: the table at {table.grid.name}!{table.span} has no rows with a number "
            f"in every weight column ({', '.join(required)})"
        )
    return [table for table in tables if table.rows]


def missing_labels(best: tuple[int, str, int, set[str]], required: list[str]) -> str:
    count, worksheet, row, keys = best
    if not count:
        return (
            f"no row has the labels {', '.join(required)} (nor lr, i1, a_h1, E_total, dE/dw1 ...)"
        )
    missing = [name for name in required if name not in keys]
    return (
        f"the row with the most known labels ({worksheet}!{row}, {count} labels) lacks "
        f"{', '.join(missing)}"
    )


def data_rows(grid: Grid, header: int, keys: dict[str, int], weights: list[str]) -> tuple[int, ...]:
    """Rows below the header with a number in every weight column; blank rows are skipped."""
    rows = []
    for row in range(header + 1, max(grid.rows) + 1):
        cells = grid.rows.get(row, {})
        if all(is_number(cells.get(keys[name])) for name in weights):
            rows.append(row)
        elif any(column in cells for column in keys.values()):
            break  # text, or another table's header
    return tuple(rows)


def labelled_numbers(grid: Grid, skip_rows: set[int], names: dict[str, str]) -> dict[str, float]:
    """Numbers outside the table with a known label just left of them or above them: lr 0.5.

    A label given twice with different numbers (one lr per sheet listed on a summary sheet)
    says nothing about any one table, and is left out."""
    found: dict[str, set[float]] = {}
    for (row, column), value in grid.values.items():
        if row in skip_rows or not isinstance(value, str) or normalize(value) not in names:
            continue
        for neighbour in ((row, column + 1), (row + 1, column)):
            if is_number(grid.values.get(neighbour)):
                found.setdefault(names[normalize(value)], set()).add(float(grid.values[neighbour]))
                break
    return {key: values.pop() for key, values in found.items() if len(values) == 1}


# Checking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """The network's equations, each a NumPy function of its own free symbols."""

    network: Network
    equations: tuple[Equation, ...]  # forward equations in order, then the gradients
    defaults: dict[str, float]  # the config's inputs, targets, weights and biases


def build_model(config: Config) -> Model:
    network = build_network(config.network)
    pairs = list(network.equations)
    pairs += [(gradient_symbol(g.parameter), g.closed_form) for g in gradients(network)]
    equations = []
    for symbol, expr in pairs:
        args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
        function = sp.lambdify(args, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
        text = f"{symbol.name} = {text_expr(expr)}"
        equations.append(Equation(symbol.name, tuple(a.name for a in args), function, text))
    numbers = values_args(config.values)
    defaults = {s.name: v for s, v in zip(network.values_args, numbers, strict=True)}
    return Model(network, tuple(equations), defaults)


def update_text(parameter: str) -> str:
    return f"{parameter} = {parameter} - lr*dE_total/d{parameter} (the row above's values)"


def differs(sheet: np.ndarray, correct: np.ndarray, tolerance: float) -> np.ndarray:
    scale = np.maximum(np.abs(correct), ABSOLUTE_FLOOR)
    return np.isfinite(correct) & (np.abs(sheet - correct) > tolerance * scale)


class TableCheck:
    """The checks of one table; `issues` and `checked` fill as `run` goes."""

    def __init__(self, table: Table, model: Model, constants: dict[str, float], tolerance: float):
        self.table = table
        self.model = model
        self.constants = constants
        self.tolerance = tolerance
        self.issues: list[Issue] = []
        self.checked = 0

    def run(self) -> None:
        used = {s.name: self.free_values(s.name) for s in self.model.network.values_args}
        for equation in self.model.equations:
            with np.errstate(all="ignore"):
                correct = equation.function(*(used[a] for a in equation.args))
            correct = np.broadcast_to(np.asarray(correct, dtype=float), (len(self.table.rows),))
            used[equation.key] = self.compare(equation.key, correct, equation.text)
        self.check_updates(used)

    def free_values(self, key: str) -> np.ndarray:
        """An input, target, weight or bias: its column, else its labelled cell, else the config."""
        fallback = self.constants.get(key, self.model.defaults[key])
        if key not in self.table.columns:
            return np.full(len(self.table.rows), fallback)
        sheet = self.table.numbers(key)
        for i in np.flatnonzero(~np.isfinite(sheet)):
            self.add(key, int(i), NOT_A_NUMBER, fallback, f"{key} = {fallback!r}")
        return np.where(np.isfinite(sheet), sheet, fallback)

    def compare(self, key: str, correct: np.ndarray, text: str) -> np.ndarray:
        """The sheet's column where it holds numbers, else `correct`; wrong cells become issues."""
        if key not in self.table.columns:
            return correct
        sheet = self.table.numbers(key)
        wrong = differs(sheet, correct, self.tolerance)
        typed = self.typed_numbers(key, range(len(sheet)))
        checked = np.isfinite(correct)
        self.checked += int(checked.sum())
        for i in np.flatnonzero(checked & (~np.isfinite(sheet) | typed | wrong)):
            if not np.isfinite(sheet[i]):
                self.add(key, int(i), NOT_A_NUMBER, correct[i], text)
            elif typed[i] or wrong[i]:
                self.add(key, int(i), TYPED_NUMBER if typed[i] else WRONG_VALUE, correct[i], text)
        return np.where(np.isfinite(sheet), sheet, correct)

    def typed_numbers(self, key: str, indices) -> np.ndarray:
        """Cells without a formula in a column where most of these cells have one."""
        column = self.table.columns[key]
        rows = [self.table.rows[i] for i in indices]
        has_formula = np.array([(row, column) in self.table.grid.formulas for row in rows])
        typed = np.zeros(len(self.table.rows), bool)
        if has_formula.sum() * 2 > len(rows):
            typed[list(indices)] = ~has_formula
        return typed

    def learning_rates(self) -> np.ndarray:
        if LR in self.table.columns:
            return self.table.numbers(LR)
        return np.full(len(self.table.rows), self.constants.get(LR, math.nan))

    def update_pairs(self) -> list[int]:
        """Indices i whose row i + 1 follows row i by one update with a known learning rate."""
        rows, lr = self.table.rows, self.learning_rates()
        step = self.table.numbers(STEP) if STEP in self.table.columns else None
        pairs = []
        for i in range(len(rows) - 1):
            same_run = rows[i + 1] == rows[i] + 1 and np.isfinite(lr[i])
            if LR in self.table.columns:
                same_run = same_run and lr[i + 1] == lr[i]
            if step is not None:
                same_run = same_run and step[i + 1] == step[i] + 1
            if same_run:
                pairs.append(i)
        return pairs

    def check_updates(self, used: dict[str, np.ndarray]) -> None:
        pairs = self.update_pairs()
        if not pairs:
            return
        lr = self.learning_rates()
        before = np.array(pairs)
        after = before + 1
        for parameter in self.model.network.trained:
            key = parameter.name
            if key not in self.table.columns:
                continue
            gradient = used[gradient_symbol(parameter).name]
            correct = used[key][before] - lr[before] * gradient[before]
            sheet = self.table.numbers(key)[after]
            bad = differs(sheet, correct, self.tolerance)
            typed = self.typed_numbers(key, after)[after]
            self.checked += len(after)
            for j in np.flatnonzero(typed | bad):
                kind = TYPED_NUMBER if typed[j] else WRONG_UPDATE
                self.add(key, int(after[j]), kind, correct[j], update_text(key))

    def add(self, key: str, i: int, kind: str, correct: float, text: str) -> None:
        row, column = self.table.rows[i], self.table.columns[key]
        value = self.table.grid.values.get((row, column))
        if not (value is None or is_number(value)):
            value = str(value)  # a date, text or inf: kept as the sheet shows it, JSON-safe
        self.issues.append(Issue(self.table, key, row, column, kind, value, float(correct), text))


def relative_formula(issue: Issue) -> str | None:
    """The cell's formula moved to ANCHOR_ROW, so the same formula down a column compares equal."""
    formula = issue.table.grid.formulas.get((issue.row, issue.column))
    if formula is None:
        return None
    origin = cell_name(issue.row, issue.column)
    try:
        return Translator(formula, origin=origin).translate_formula(
            cell_name(ANCHOR_ROW, issue.column)
        )
    except Exception:  # a formula the translator cannot parse: compare it as written
        return formula


def group(issues: list[Issue]) -> list[Finding]:
    """One finding per column, kind and formula: the same mistake down a column is one finding."""
    groups: dict[tuple, list[Issue]] = {}
    for issue in issues:
        table = issue.table
        key = (table.grid.name, table.header_row, issue.key, issue.kind, relative_formula(issue))
        groups.setdefault(key, []).append(issue)
    findings = []
    for members in groups.values():
        first = min(members, key=_row_of)
        findings.append(
            Finding(
                worksheet=first.table.grid.name,
                cell=cell_name(first.row, first.column),
                label=first.table.labels[first.key],
                kind=first.kind,
                sheet_value=first.sheet_value,
                correct_value=first.correct_value,
                correct_formula=first.correct_formula,
                sheet_formula=first.table.grid.formulas.get((first.row, first.column)),
                count=len(members),
                cells=tuple(cell_name(m.row, m.column) for m in sorted(members, key=_row_of)),
            )
        )
    return findings


def _row_of(issue: Issue) -> int:
    return issue.row


def check_file(path: str | Path, config: Config, tolerance: float = DEFAULT_TOLERANCE) -> Report:
    """Check every table in the sheet at `path` against the network of `config`."""
    path = Path(path)
    grids = read_grids(path)
    model = build_model(config)
    tables = find_tables(grids, model.network, path)
    names = aliases(model.network)
    constants_keys = {LR, *(s.name for s in model.network.values_args)}
    by_grid = {}
    for grid in grids:
        headers = {t.header_row for t in tables if t.grid is grid}
        found = labelled_numbers(grid, headers, names)
        by_grid[grid.name] = {k: v for k, v in found.items() if k in constants_keys}
    issues: list[Issue] = []
    checked = 0
    notes = []
    for table in tables:
        constants = workbook_constants(by_grid, table.grid.name)
        run = TableCheck(table, model, constants, tolerance)
        run.run()
        issues += run.issues
        checked += run.checked
        notes += table_notes(table, model, constants)
    if checked == 0:
        raise SheetError(
            f"{path}: the table has no column to check (only inputs, targets or weights); "
            f"add computed columns such as h1, a_h1, E_total or dE/dw1"
        )
    findings = sorted(group(issues), key=lambda f: _order(f, tables))
    infos = tuple(TableInfo(t.grid.name, t.span, len(t.rows)) for t in tables)
    return Report(str(path), infos, tuple(findings), checked, tuple(notes))


def workbook_constants(by_grid: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    """Labelled numbers of the table's own worksheet, else those only one worksheet gives."""
    merged: dict[str, float] = {}
    others = [found for grid, found in by_grid.items() if grid != name]
    for key in {k for found in others for k in found}:
        values = {found[key] for found in others if key in found}
        if len(values) == 1:
            merged[key] = values.pop()
    return merged | by_grid[name]


def table_notes(table: Table, model: Model, constants: dict[str, float]) -> list[str]:
    where = f"{table.grid.name}!{table.span}"
    network = model.network
    notes = []
    from_config = [
        s.name
        for s in network.inputs + network.targets + network.biases
        if s.name not in table.columns and s.name not in constants
    ]
    if from_config:
        used = ", ".join(f"{k} = {model.defaults[k]!r}" for k in from_config)
        notes.append(f"{where}: not on the sheet, the config's values used: {used}")
    if LR not in table.columns and LR not in constants:
        notes.append(f"{where}: no learning rate on the sheet: weight updates not checked")
    known = set(aliases(network))
    ignored = [
        str(v)
        for (row, _), v in table.grid.values.items()
        if row == table.header_row and isinstance(v, str) and normalize(v) not in known
    ]
    if ignored:
        notes.append(
            f"{where}: columns not checked: {', '.join(ignored)} "
            "(if they are the network's, give its --config)"
        )
    return notes


def _order(finding: Finding, tables: list[Table]) -> tuple:
    sheets = list(dict.fromkeys(t.grid.name for t in tables))
    row, column = openpyxl.utils.cell.coordinate_to_tuple(finding.cell)
    return (sheets.index(finding.worksheet), row, column)


# Rendering ---------------------------------------------------------------------------------


def number_text(value: float | str | None) -> str:
    if value is None:
        return "(empty)"
    if is_number(value):
        return f"{value:.10g}"
    return repr(value)


def render_text(report: Report) -> str:
    lines = [f"{report.path}"]
    for f in report.findings:
        more = f" ({f.count} cells: {_cells_text(f)})" if f.count > 1 else ""
        lines.append(f"{f.worksheet}!{f.cell}  {f.label}  {f.kind}{more}")
        sheet_formula = f"  {f.sheet_formula}" if f.sheet_formula else ""
        lines.append(f"  sheet    {number_text(f.sheet_value)}{sheet_formula}")
        lines.append(f"  correct  {number_text(f.correct_value)}  {f.correct_formula}")
    lines += [f"note: {note}" for note in report.notes]
    lines.append(report.summary)
    return "\n".join(lines) + "\n"


def _cells_text(finding: Finding, shown: int = 4) -> str:
    if finding.count <= shown:
        return ", ".join(finding.cells)
    return f"{', '.join(finding.cells[:shown])} and {finding.count - shown} more"


def render_markdown(report: Report) -> str:
    """The findings as a Markdown table, then the notes and the summary line."""
    head = (
        "| Worksheet | Cell | Column | Mistake | Cells | Sheet value | Sheet formula "
        "| Correct value | Correct formula |\n"
        "|---|---|---|---|---:|---:|---|---:|---|\n"
    )
    rows = [
        f"| {_md(f.worksheet)} | {f.cell} | {_md(f.label)} | {f.kind} | {f.count} "
        f"| {_md(number_text(f.sheet_value))} | {_code(f.sheet_formula)} "
        f"| {number_text(f.correct_value)} | {_code(f.correct_formula)} |\n"
        for f in report.findings
    ]
    table = head + "".join(rows) + "\n" if rows else ""
    notes = "".join(f"- {_md(note)}\n" for note in report.notes)
    return table + (notes + "\n" if notes else "") + _md(report.summary) + "\n"


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def _code(text: str | None) -> str:
    return f"`{_md(text)}`" if text else ""


def _finite_or_text(value: object) -> object:
    """JSON has no inf or nan: such a number is written as text ("inf", "nan")."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def report_dict(report: Report) -> dict:
    findings = [{k: _finite_or_text(v) for k, v in asdict(f).items()} for f in report.findings]
    return {
        "file": report.path,
        "tables": [asdict(t) for t in report.tables],
        "findings": findings,
        "cells_checked": report.cells_checked,
        "notes": list(report.notes),
        "summary": report.summary,
    }


def render(report: Report, style: str) -> str:
    """The report as text, md or json."""
    if style == "json":
        return json.dumps(report_dict(report), indent=2, allow_nan=False) + "\n"
    if style == "md":
        return render_markdown(report)
    return render_text(report)
