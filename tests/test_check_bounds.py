"""Work bounded by what a file's own structure says: each hostile input here is small on disk and
would take minutes or gigabytes to expand; it is refused in one line, exit 2, within the 1 GiB and
60 s that tests/test_cli_faults.run_derive allows. Each test builds its own input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from test_check import BOOK, RELS, SHEET_NS, course_sheet, raw_workbook, report_of
from test_cli_faults import one_line, run_derive

pytestmark = pytest.mark.core


def refused(path: Path, says: str, tmp_path: Path, *args: str) -> None:
    done = run_derive(*(args or ("check", str(path))), tmp_path=tmp_path)
    assert (done.code, done.out) == (2, ""), done.err
    assert says in one_line(done.err), done.err


def sheet_part(rows: bytes) -> bytes:
    return (
        f'<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode() + rows + b"</sheetData></worksheet>"
    )


def streamed_workbook(path: Path, rows, strings=None, sheets: int = 1, names: str = "") -> Path:
    """A workbook whose worksheet (and shared strings) parts are written a piece at a time."""
    book = BOOK
    rels = RELS
    if sheets > 1:  # every worksheet listed points at the same part
        listed = "".join(f'<sheet name="S{k}" sheetId="{k}" r:id="rId1"/>' for k in range(sheets))
        book = BOOK.replace('<sheet name="S" sheetId="1" r:id="rId1"/>', listed)
    book = book.replace("</sheets>", f"</sheets>{names}")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", book)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode())
            for piece in rows:
                part.write(piece)
            part.write(b"</sheetData></worksheet>")
        if strings is not None:
            with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'<sst xmlns="{SHEET_NS}">'.encode())
                for piece in strings:
                    part.write(piece)
                part.write(b"</sst>")
    return path


def test_millions_of_empty_cells_in_a_small_file_are_counted_before_parsing(tmp_path):
    path = streamed_workbook(
        tmp_path / "empty.xlsx", (b"<row>" + b"<c/>" * 10_000 + b"</row>" for _ in range(1_600))
    )
    assert path.stat().st_size < 1_000_000
    refused(path, "worksheet 'S' holds 16,000,000 cells, more than the 1,000,000", tmp_path)


def test_cells_without_a_reference_are_placed_in_linear_time(tmp_path):
    row = b"<row>" + b"<c><v>1</v></c>" * 16_384 + b"</row>"
    path = streamed_workbook(tmp_path / "wide.xlsx", [row] * 40)
    refused(path, "no table found", tmp_path)
    past = streamed_workbook(tmp_path / "past.xlsx", [row[:-6] + b"<c><v>1</v></c></row>"])
    refused(past, "a cell past column XFD in row 1", tmp_path)


def test_many_worksheets_are_refused_by_their_count(tmp_path):
    path = streamed_workbook(
        tmp_path / "sheets.xlsx", [b'<row r="1"><c r="A1"><v>1</v></c></row>'], sheets=1_000
    )
    refused(path, "1,000 worksheets, more than the 255 this reads", tmp_path)


def test_worksheets_sharing_one_part_count_its_cells_each_time(tmp_path):
    rows = (
        f'<row r="{r}">'.encode() + b"<c><v>1</v></c>" * 100 + b"</row>" for r in range(1, 5_001)
    )
    path = streamed_workbook(tmp_path / "shared.xlsx", rows, sheets=3)
    refused(path, "its worksheets to 'S2' hold 1,500,000 cells, more than the 1,000,000", tmp_path)


def test_millions_of_shared_strings_are_counted_before_parsing(tmp_path):
    path = streamed_workbook(
        tmp_path / "strings.xlsx",
        [b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'],
        (b"<si><t/></si>" * 10_000 for _ in range(450)),
    )
    refused(
        path, "its shared strings part holds 4,500,000 strings, more than the 1,000,000", tmp_path
    )


def test_a_zip_of_many_members_is_refused_from_its_directory_record(tmp_path):
    path = tmp_path / "members.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", BOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        for k in range(20_000):
            z.writestr(f"m/{k}", b"")
    refused(path, "a zip of 20,002 members", tmp_path)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ('<row r="1"><c r="A0"><v>1</v></c></row>', "cell reference 'A0'"),
        ('<row r="1"><c r="ZZZZ9999999"><v>1</v></c></row>', "cell reference 'ZZZZ9999999'"),
        ('<row r="1"><c r="A1048577"><v>1</v></c></row>', "cell reference 'A1048577'"),
        ('<row r="x"><c><v>1</v></c></row>', "row number 'x'"),
        ('<row r="-3"><c><v>1</v></c></row>', "row number '-3'"),
    ],
)
def test_a_cell_reference_that_is_no_cell_is_one_line(cell, says, tmp_path):
    path = raw_workbook(tmp_path / "refs.xlsx", sheet_part(cell.encode()))
    refused(path, says, tmp_path)


STRICT = {
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": (
        b"http://purl.oclc.org/ooxml/spreadsheetml/main"
    ),
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships"
    ),
}


def test_a_strict_ooxml_workbook_is_read(tmp_path, capsys):
    path = course_sheet(tmp_path / "strict.xlsx", rows=2)
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    for name, data in parts.items():
        for old, new in STRICT.items():
            data = data.replace(old, new)
        parts[name] = data
    assert b"purl.oclc.org" in parts["xl/workbook.xml"]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    code, report = report_of(capsys, path)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert len(report["tables"][0]["columns"]) == 19


def test_a_csv_line_of_a_million_fields_is_refused_before_it_is_split(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(b"w1,w2\n" + b"," * 1_000_000 + b"\n")
    refused(path, "line 2 has more than 32,768 fields", tmp_path)


def test_a_csv_field_past_excels_cell_limit_is_refused(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("w1,w2\n" + "x" * 40_000 + ",1\n")
    refused(path, "row 2, field 1 holds 40,000 characters, more than the 32,767", tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "\\" * (1 << 20),
        '"' + "\\" * ((1 << 20) - 1),
        '"\\"' * ((1 << 20) // 3),
        '"""\\"""' * ((1 << 20) // 7),
        "'''" * ((1 << 20) // 3),
    ],
    ids=[
        "backslashes",
        "an open string of backslashes",
        "escaped quotes",
        "open multi-line strings",
        "literal quotes",
    ],
)
def test_a_megabyte_config_of_escapes_is_refused_in_one_pass(text, tmp_path):
    config = tmp_path / "escapes.toml"
    config.write_text(text)
    refused(config, "not valid TOML", tmp_path, "show", "--config", str(config))


def test_millions_of_other_tags_are_counted_before_parsing(tmp_path):
    path = streamed_workbook(tmp_path / "tags.xlsx", (b"<x/>" * 100_000 for _ in range(110)))
    refused(path, "more than 10,000,000 XML tags", tmp_path)


def test_many_long_defined_names_on_many_worksheets_cost_little(tmp_path):
    """Names are looked up, not compiled into one pattern per worksheet (6 s each at 10,000)."""
    names = "".join(
        f'<definedName name="n{k}_{"x" * 200}">S0!$A$1</definedName>' for k in range(10_000)
    )
    row = b'<row r="1"><c r="A1"><f>n1_' + b"x" * 200 + b"*2</f><v>2</v></c></row>"
    path = streamed_workbook(
        tmp_path / "names.xlsx", [row], sheets=200, names=f"<definedNames>{names}</definedNames>"
    )
    refused(path, "no table found", tmp_path)


def test_many_labels_outside_the_table_are_read_in_linear_time(tmp_path):
    """Each label's value is found through an index of the rows, not a scan of every cell (it
    was: 100,000 labels x 200,000 cells)."""
    path = tmp_path / "labels.csv"
    done = run_derive("table", "--steps", "2", "--lr", "0.5", "--out", str(path), tmp_path=tmp_path)
    assert done.code == 0, done.err
    lines = path.read_text().splitlines()
    pad = "," * 60
    lines += [""] * 5 + [f"{pad}η,0.5" for _ in range(100_000)]
    path.write_text("\n".join(lines) + "\n")
    done = run_derive("check", str(path), tmp_path=tmp_path)
    assert done.code == 0, done.err


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return course_sheet(tmp_path_factory.mktemp("course") / "course.xlsx", rows=2)


@pytest.mark.parametrize(
    "formula",
    [
        "=" + "(" * 500 + "1" + ")" * 500,  # nested past Python's recursion
        "=" + "-" * 3000 + "1",
        "=2" + "^2" * 3000,  # squares its way to billions of digits
        "=POWER(10,POWER(10,10))",
        "=EXP(EXP(EXP(EXP(100))))",  # a number of 10^43 digits, exactly
    ],
    ids=["parentheses", "minus signs", "powers", "POWER", "EXP"],
)
def test_a_formula_too_deep_or_too_large_to_work_out_is_a_finding(formula, course, tmp_path):
    import openpyxl

    path = tmp_path / "formula.xlsx"
    book = openpyxl.load_workbook(course)
    book["Backprop"]["I6"] = formula  # h1 of the second row
    book.save(path)
    done = run_derive("check", str(path), "--format", "json", tmp_path=tmp_path)
    assert done.code == 1 and "Traceback" not in done.err, done.err
    assert '"cell": "I6"' in done.out
