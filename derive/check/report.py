"""The check's result as data, and as text, Markdown or JSON (always valid JSON: no NaN or inf).

Exit codes (derive check): 0 every computed column and update checked, no mistake; 1 mistakes
found; 2 the sheet cannot be read; 3 no mistake found but something was left unchecked (said why).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

from safeio.cli import visible

CLEAN, MISTAKES, UNREADABLE, UNCHECKED = 0, 1, 2, 3


@dataclass(frozen=True)
class Finding:
    """One mistake: where it is first made, how many cells repeat it, the sheet's and the right."""

    worksheet: str
    cell: str  # the first cell with this mistake, e.g. "M33"
    label: str  # the column's label as the sheet writes it
    kind: str  # wrong formula | wrong value | wrong update | typed number | not a number | ...
    diagnosis: str  # the mistake named, e.g. "dE/dw3 uses a_h1·(1 − a_h1) where ... belongs"
    sheet_value: float | str | None
    correct_value: float | None
    correct_formula: str  # plain text, e.g. "a_h1 = sigmoid(h1)"
    sheet_formula: str | None  # the first cell's formula, e.g. "=1/(1+EXP(H5))"
    count: int  # cells with this mistake
    cells: tuple[str, ...]  # the first of them, at most diagnose.MAX_LISTED (1,000)


@dataclass(frozen=True)
class TableInfo:
    worksheet: str
    span: str
    rows: int
    columns: tuple[str, ...]  # the labels of the columns checked
    updates: str  # how the weight updates were checked, or that there are none


@dataclass(frozen=True)
class Report:
    path: str
    tables: tuple[TableInfo, ...]
    findings: tuple[Finding, ...]
    cells_checked: int
    notes: tuple[str, ...]
    unchecked: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        if self.findings:
            return MISTAKES
        return UNCHECKED if self.unchecked else CLEAN

    @property
    def summary(self) -> str:
        where = f"{self.cells_checked} cells checked in {len(self.tables)} table(s)"
        if self.findings:
            cells = sum(f.count for f in self.findings)
            return f"{self.path}: {len(self.findings)} finding(s) in {cells} cell(s); {where}"
        if self.unchecked:
            return (
                f"{self.path}: no mistakes in what was checked, but {len(self.unchecked)} "
                f"part(s) were left unchecked; {where}"
            )
        return f"{self.path}: no mistakes found; {where}"


def number_text(value: float | str | None) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.10g}"
    return repr(value)


MOST_NAMED = 40  # columns named on a table's "checked" line; a wide net's thousands are counted


def column_names(columns: tuple[str, ...]) -> str:
    if len(columns) <= MOST_NAMED:
        return ", ".join(columns)
    shown = MOST_NAMED - 1
    return ", ".join(columns[:shown]) + f", ... and {len(columns) - shown:,} more"


def render_text(report: Report) -> str:
    lines = [report.path]
    for f in report.findings:
        more = f" ({f.count} cells: {_cells_text(f)})" if f.count > 1 else ""
        lines.append(f"{f.worksheet}!{f.cell}  {f.label}  {f.kind}{more}")
        if f.diagnosis:
            lines.append(f"  {f.diagnosis}")
        sheet_formula = f"  {f.sheet_formula}" if f.sheet_formula else ""
        lines.append(f"  sheet    {number_text(f.sheet_value)}{sheet_formula}")
        lines.append(f"  correct  {number_text(f.correct_value)}  {f.correct_formula}")
    for table in report.tables:
        lines.append(
            f"checked: {table.worksheet}!{table.span}: {len(table.columns):,} column(s) "
            f"({column_names(table.columns)}); updates: {table.updates}"
        )
    lines += [f"note: {note}" for note in report.notes]
    lines += [f"unchecked: {item}" for item in report.unchecked]
    lines.append(report.summary)
    return "".join(visible(line) + "\n" for line in lines)


def _cells_text(finding: Finding, shown: int = 4) -> str:
    if finding.count <= shown:
        return ", ".join(finding.cells)
    return f"{', '.join(finding.cells[:shown])} and {finding.count - shown} more"


def render_markdown(report: Report) -> str:
    """The findings as a Markdown table, then what was checked, the notes and the summary."""
    head = [
        "| Worksheet | Cell | Column | Mistake | Cells | Diagnosis | Sheet value | Sheet formula "
        "| Correct value | Correct formula |",
        "|---|---|---|---|---:|---|---:|---|---:|---|",
    ]
    rows = [
        f"| {_md(f.worksheet)} | {f.cell} | {_md(f.label)} | {f.kind} | {f.count} "
        f"| {_md(f.diagnosis)} | {_md(number_text(f.sheet_value))} | {_code(f.sheet_formula)} "
        f"| {number_text(f.correct_value)} | {_code(f.correct_formula)} |"
        for f in report.findings
    ]
    lines = [*head, *rows, ""] if rows else []
    items = [f"checked: {t.worksheet}!{t.span}, updates: {t.updates}" for t in report.tables]
    items += list(report.notes) + [f"unchecked: {u}" for u in report.unchecked]
    lines += [f"- {_md(item)}" for item in items] + ([""] if items else [])
    lines.append(_md(report.summary))
    return "".join(visible(line) + "\n" for line in lines)


def _md(text: str) -> str:
    """Text from the sheet as Markdown shows it: no cell border, no HTML tag."""
    return text.replace("\\", "\\\\").replace("|", r"\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str | None) -> str:
    """A formula in a code span: one more backtick around it than it holds in a row."""
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if fence != "`" else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _json_safe(value: object) -> object:
    """JSON has no inf or nan: such a number is written as text ("inf", "nan")."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def report_dict(report: Report) -> dict:
    findings = [{k: _json_safe(v) for k, v in asdict(f).items()} for f in report.findings]
    return {
        "file": report.path,
        "tables": [asdict(t) for t in report.tables],
        "findings": findings,
        "cells_checked": report.cells_checked,
        "notes": list(report.notes),
        "unchecked": list(report.unchecked),
        "summary": report.summary,
        "exit_code": report.exit_code,
    }


def render(report: Report, style: str) -> str:
    """The report as text, md or json."""
    if style == "json":
        return json.dumps(report_dict(report), indent=2, allow_nan=False) + "\n"
    if style == "md":
        return render_markdown(report)
    return render_text(report)
