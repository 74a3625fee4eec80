"""derive check never calls a sheet clean that shows something wrong, and its report cannot be
forged by what the file holds: each test builds its own hostile sheet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from test_check import course_sheet, report_of, run_check, save_recalculated

pytestmark = pytest.mark.core

ERRORS = ["#DIV/0!", "#N/A", "#REF!", "#NAME?", "#VALUE!", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"]
# In course_sheet: h1 in I, E_total in W, w1 in E (an update formula from row 6), the learning
# rate in C3 (labelled "η =" in B3, read by every update formula).
CELLS = {"h1": "I7", "E_total": "W5", "weight": "E6", "learning rate": "C3"}


@pytest.fixture(scope="module")
def clean_sheet(tmp_path_factory) -> Path:
    return course_sheet(tmp_path_factory.mktemp("sheet") / "clean.xlsx", rows=3)


def with_saved_value(path: Path, ref: str, value: str, error: bool = True) -> Path:
    """The workbook with the value saved in cell `ref` replaced (as an error value, t="e"), its
    formula, if any, kept: what Excel saves when the cell shows that error."""
    raw = zipfile.ZipFile(path)
    parts = {i.filename: raw.read(i.filename) for i in raw.infolist()}
    raw.close()
    name = "xl/worksheets/sheet1.xml"
    xml = parts[name].decode()
    cell = re.compile(rf'<c r="{ref}"([^>]*?)(/>|>(.*?)</c>)', re.S)
    match = cell.search(xml)
    assert match, f"no cell {ref}"
    attrs = re.sub(r'\s+t="[^"]*"', "", match[1]) + (' t="e"' if error else ' t="str"')
    formula = re.search(r"<f[^>]*>.*?</f>|<f[^>]*/>", match[3] or "", re.S)
    body = f"{formula[0] if formula else ''}<v>{value}</v>"
    parts[name] = (
        xml[: match.start()] + f'<c r="{ref}"{attrs}>{body}</c>' + xml[match.end() :]
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for part, data in parts.items():
            out.writestr(part, data)
    return path


def test_the_unchanged_sheet_is_clean(clean_sheet, capsys):
    code, report = report_of(capsys, clean_sheet)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])


@pytest.mark.parametrize("where", CELLS)
@pytest.mark.parametrize("error", ERRORS)
def test_an_error_value_is_a_finding_at_its_cell_whatever_its_formula(
    where, error, clean_sheet, tmp_path, capsys
):
    path = shutil.copy(clean_sheet, tmp_path / "error.xlsx")
    with_saved_value(Path(path), CELLS[where], error)
    code, report = report_of(capsys, path)
    assert code == 1, report["summary"]
    found = {(f["cell"], f["kind"], f["sheet_value"]) for f in report["findings"]}
    assert (CELLS[where], "error value", error) in found


def test_an_error_value_in_a_column_this_does_not_know_is_a_finding(clean_sheet, tmp_path, capsys):
    path = tmp_path / "extra.xlsx"
    book = openpyxl.load_workbook(clean_sheet)
    sheet = book["Backprop"]
    sheet["AN4"], sheet["AN5"], sheet["AN6"] = "my note", "#DIV/0!", "#DIV/0!"
    book.save(path)
    code, report = report_of(capsys, path)
    assert code == 1
    assert [f["cell"] for f in report["findings"]] == ["AN5"]
    assert report["findings"][0]["count"] == 2


def test_a_column_of_numbers_under_an_unknown_label_is_unchecked_exit_3(
    clean_sheet, tmp_path, capsys
):
    path = tmp_path / "unknown.xlsx"
    book = openpyxl.load_workbook(clean_sheet)
    sheet = book["Backprop"]
    sheet["AN4"] = "net_h9"  # no such neuron: not a label this knows
    for row in (5, 6, 7):
        sheet[f"AN{row}"] = 123.0 * row  # numbers no one checks
    book.save(path)
    code, out, _ = run_check(capsys, path)
    assert code == 3
    assert (
        "unchecked: Backprop!A4:AN7: column 'net_h9' (from AN5): a label this does not know, "
        "and its numbers are none of the quantities this computes"
    ) in out
    assert "no mistakes found" not in out


def named_rate_sheet(path: Path, target: str, extra: dict[str, float] | None = None) -> Path:
    """course_sheet with every update reading the learning rate through the defined name eta."""
    from openpyxl.workbook.defined_name import DefinedName

    course_sheet(path, rows=3, lr_ref="eta")
    book = openpyxl.load_workbook(path)
    for ref, value in (extra or {}).items():
        book["Backprop"][ref] = value
    book.defined_names["eta"] = DefinedName("eta", attr_text=target)
    book.save(path)
    return save_recalculated(openpyxl.load_workbook(path), path)


def test_a_learning_rate_through_a_defined_name_is_resolved(tmp_path, capsys):
    code, report = report_of(capsys, named_rate_sheet(tmp_path / "eta.xlsx", "Backprop!$C$3"))
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert (
        report["tables"][0]["updates"] == "2 update row(s) checked, lr from Backprop!C3 (formula)"
    )


def test_a_defined_name_pointing_at_the_wrong_cell_is_a_finding(tmp_path, capsys):
    # D1 holds the same 0.5 as the labelled C3: the values agree, the cell is still wrong.
    path = named_rate_sheet(tmp_path / "eta.xlsx", "Backprop!$D$1", {"D1": 0.5})
    code, report = report_of(capsys, path)
    assert code == 1
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds == {"wrong learning-rate cell"}
    assert "where C3 belongs" in report["findings"][0]["diagnosis"]


def test_a_defined_name_this_cannot_follow_is_reported(tmp_path, capsys):
    path = tmp_path / "eta.xlsx"
    named_rate_sheet(path, "Backprop!$C$3")
    book = openpyxl.load_workbook(path)
    book.create_sheet("settings")["A1"] = 0.5
    book.defined_names["eta"].attr_text = "settings!$A$1"
    book.save(path)
    save_recalculated(openpyxl.load_workbook(path), path)
    code, report = report_of(capsys, path)
    assert code == 0
    assert any("the defined name 'eta' refers to 'settings!$A$1'" in n for n in report["notes"])


# Reports that cannot be forged -------------------------------------------------------------

FORGED = "Backprop\nclean.xlsx: no mistakes found; 99 cells checked in 1 table(s)\u202e"


def test_a_worksheet_name_cannot_add_a_line_to_the_report(tmp_path, capsys):
    path = course_sheet(tmp_path / "forged.xlsx", rows=2, change={"a_h2": "1/(1+EXP({h2}))"})
    raw = zipfile.ZipFile(path)
    parts = {i.filename: raw.read(i.filename) for i in raw.infolist()}
    raw.close()
    name = FORGED.replace("\n", "&#10;").encode()
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b'name="Backprop"', b'name="' + name + b'"'
    )
    with zipfile.ZipFile(path, "w") as out:
        for part, data in parts.items():
            out.writestr(part, data)
    for style in ("text", "md"):
        code, out, _ = run_check(capsys, path, "--format", style)
        assert code == 1
        lines = out.splitlines()
        assert not any(line.startswith("clean.xlsx") for line in lines), out
        assert "\u202e" not in out and "Backprop\\nclean.xlsx" in out and "\\u202e" in out
        assert lines[-1].startswith(str(path)) and "finding(s)" in lines[-1]
    code, report = report_of(capsys, path)
    assert {f["worksheet"] for f in report["findings"]} == {FORGED}


def test_labels_and_file_names_from_a_csv_are_shown_escaped(tmp_path, capsys):
    from derive.__main__ import main

    source = tmp_path / "export.csv"
    assert main(["table", "--steps", "2", "--out", str(source)]) == 0
    lines = source.read_text().splitlines()
    lines[0] += ',"\x1b[2Jmy\rnumbers"'
    lines[1:] = [line + ",1.5" for line in lines[1:]]
    path = tmp_path / "odd\x1bname.csv"
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    code, out, _ = run_check(capsys, path)
    assert code == 3
    assert "\x1b" not in out and "\r" not in out
    assert "\\x1b[2Jmy\\rnumbers" in out


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "utf-8"])
def test_any_file_name_on_any_standard_output_encoding(encoding, tmp_path):
    """A file name that is not UTF-8 (or not ASCII) on an ASCII or Latin-1 terminal: the report
    and the error line are written with escapes, never a traceback."""
    from derive.__main__ import main

    path = tmp_path / os.fsdecode(b"\xff-\xce\xb7-\xe9.csv")
    assert main(["table", "--steps", "1", "--out", str(path)]) == 0
    env = {**os.environ, "PYTHONIOENCODING": encoding, "LC_ALL": "C"}
    for target, code in ((path, 0), (tmp_path / os.fsdecode(b"missing-\xff.csv"), 2)):
        done = subprocess.run(
            [sys.executable, "-m", "derive", "check", os.fsencode(target)],
            capture_output=True,
            env=env,
            cwd=Path(__file__).parent.parent,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        assert b"Traceback" not in done.stderr
        assert done.stderr.count(b"\n") == (code == 2)
