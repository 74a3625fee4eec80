"""derive check: find the mistakes in a hand-made backpropagation sheet (.xlsx or .csv).

The pipeline: read (the file -> rows of cells, within stated bounds; read_xlsx, read_csv, grid),
locate (rows -> tables, their columns and learning rates; table, learning_rate), diagnose (formulas
and values -> findings, each mistake named where it is made; formulas, values, updates, with
translate, model and explain serving them), report (text, md, json).
"""

from __future__ import annotations

from pathlib import Path

from derive.check.blocks import check_block, side_block
from derive.check.diagnose import TableCheck, finding_key
from derive.check.formulas import shifted
from derive.check.grid import SheetError
from derive.check.iterations import check_links
from derive.check.locate import locate
from derive.check.net import shared_biases, sheet_net
from derive.check.program import model_of
from derive.check.read import read_sheets
from derive.check.report import (
    Finding,
    Report,
    TableInfo,
    render,
    render_markdown,
    render_text,
)
from derive.check.table import Sheet, Table
from derive.check.updates import WRONG_RATE
from derive.check.verdict import Issue
from derive.config import Config
from derive.labels import Labels
from derive.limits import DEFAULT_TOLERANCE
from derive.network import build_network

__all__ = [
    "DEFAULT_TOLERANCE",
    "Finding",
    "Report",
    "SheetError",
    "check_file",
    "render",
    "render_markdown",
    "render_text",
]


def check_file(path: str | Path, config: Config, tolerance: float = DEFAULT_TOLERANCE) -> Report:
    """Check every table in the sheet at `path` against the network of `config`."""
    path = Path(path)
    sheets = locate(read_sheets(path), build_network(config.network), str(path))
    net = sheet_net(sheets, config, lambda network: locate(read_sheets(path), network, str(path)))
    sheets, assumed = net.sheets, net.note
    model = model_of(net.config)  # made once, for the net the sheet is checked as
    model = shared_biases(model) if net.shared else model
    tables = [(s, t) for s in sheets for t in s.tables]
    if not tables:
        raise SheetError(f"{path}: no table found: {missing(sheets, model)}")
    findings, infos, unchecked, checked, judged = [], [], [], 0, {}
    notes = [assumed] if assumed else []
    for sheet, table in tables:
        verdict = TableCheck(sheet, table, model, tolerance, judged).run()
        where = f"{table.worksheet}!{table.span}"
        findings += group(table, verdict.issues, verdict.unlisted)
        infos.append(
            TableInfo(
                table.worksheet,
                table.span,
                len(table.rows),
                tuple(verdict.columns),
                verdict.updates,
            )
        )
        notes += [f"{where}: {note}" for note in verdict.notes]
        unchecked += verdict.unchecked
        checked += verdict.checked
    found, links = check_links([t for _, t in tables if t.origin is not None])
    findings, checked = findings + found, checked + links
    labels = Labels(model.network)
    for sheet in sheets:
        block = side_block(sheet, labels, model)
        if block:
            used = TableCheck(sheet, sheet.tables[0], model, tolerance, judged).values_in_use()
            found, count, left, said = check_block(sheet, sheet.tables[0], block, used, tolerance)
            findings, checked, unchecked = findings + found, checked + count, unchecked + left
            notes += said
    if checked == 0:
        raise SheetError(
            f"{path}: the table has no column to check (only inputs, targets or weights); "
            "add computed columns such as h1, a_h1, E_total or dE/dw1"
        )
    for sheet in sheets:
        notes += [f"{where}: a header of weights alone, not a table" for where in sheet.header_like]
        notes += [f"{sheet.name}: {note}" for note in sheet.notes]
    return Report(str(path), tuple(infos), tuple(findings), checked, tuple(notes), tuple(unchecked))


def missing(sheets: list[Sheet], model) -> str:
    weights = ", ".join(s.name for s in model.network.weight_symbols)
    if any(s.header_like for s in sheets):
        return (
            f"the rows with the labels {weights} have no computed column (h1, a_h1, E_total, "
            "dE/dw1 ...) under them"
        )
    return f"no row has the labels {weights} and a computed column (h1, a_h1, E_total, dE/dw1 ...)"


def group(table: Table, issues: list[Issue], unlisted: dict[tuple, int]) -> list[Finding]:
    """One finding per column, kind and formula: the same mistake down a column is one finding.
    It lists its first MAX_LISTED cells; `unlisted` counts the rest."""
    groups: dict[tuple, list[Issue]] = {}
    for issue in issues:
        key = finding_key(issue.column, issue.kind, issue.formula, issue.diagnosis)
        groups.setdefault(key, []).append(issue)
    findings = []  # (where its first cell stands, the finding)
    for key, members in groups.items():
        members.sort(key=lambda m: m.row)
        first = members[0]
        diagnosis = first.diagnosis
        if first.kind == WRONG_RATE:
            diagnosis = rate_diagnosis(table, first.key, members)
        formula = None
        if first.formula >= 0:
            formula = table.formulas_as_written.get((first.row, first.column))
            formula = formula or shifted(table.formulas[first.formula], first.row)
        finding = Finding(
            worksheet=table.worksheet,
            cell=table.place(first.row, first.column),
            label=first.label,
            kind=first.kind,
            diagnosis=diagnosis,
            sheet_value=first.sheet_value,
            correct_value=first.correct_value,
            correct_formula=first.correct_formula,
            sheet_formula=formula,
            count=len(members) + unlisted.get(key, 0),
            cells=tuple(table.place(m.row, m.column) for m in members),
        )
        findings.append((table.position(first.row, first.column), finding))
    return [finding for _, finding in sorted(findings, key=lambda pair: pair[0])]


def rate_diagnosis(table: Table, key: str, members: list[Issue]) -> str:
    """Where the update takes its learning rate from, cell by cell, and where it stands."""
    read = list(dict.fromkeys(f"{m.diagnosis} in {table.place(m.row, m.column)}" for m in members))
    shown = ", ".join(read[:3]) + (", …" if len(read) > 3 else "")
    rate = table.learning_rate
    sliding = len({m.diagnosis for m in members}) > 1
    how = "a reference that slides down the rows: " if sliding else ""
    where = f" where {rate.where.partition('!')[2]} belongs" if rate and rate.cell else ""
    return f"the {key} update takes the learning rate from {how}{shown}{where}"
