"""derive check on nets other than the classic 2-2-2: an export of derive's own past the
closed-form limit (4-12-12-2, 242 trained parameters) is checked against the backward program,
clean, and a mistake planted in it is found and named."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from test_site import write_large_config

from derive.__main__ import main
from derive.check import check_file
from derive.config import load_config

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def large_export(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("large")
    config, _, _ = write_large_config(folder)
    path = folder / "large.xlsx"
    args = ["table", "--config", str(config), "--steps", "3", "--lr", "0.5"]
    assert main([*args, "--format", "xlsx", "--out", str(path)]) == 0
    return config, path


def test_a_4_12_12_2_export_checks_clean(large_export):
    config, path = large_export
    report = check_file(path, load_config(config))
    assert (report.findings, report.unchecked, report.notes) == ((), (), ())
    (table,) = report.tables
    assert table.updates == "3 update row(s) checked, lr from lr (column)"
    # 4 rows x (52 nets and activations, E1, E2, E_total, 26 deltas, 242 gradients), and 3
    # update rows x 242 parameters
    assert report.cells_checked == 4 * (52 + 3 + 26 + 242) + 3 * 242


def test_a_mistake_planted_in_a_4_12_12_2_export_is_found(large_export, tmp_path):
    """dE/dw1 (= delta_h1 x i1) made to read i2, in the worksheet's XML (its cached values kept,
    as a spreadsheet program saving the edit would leave the other cells)."""
    config, path = large_export
    sheet = openpyxl.load_workbook(path, read_only=True)["lr 0.5"]
    header = {c.value: c.column_letter for c in next(sheet.iter_rows(max_row=1))}
    column, i1, i2 = header["dE/dw1"], header["i1"], header["i2"]
    planted = tmp_path / "planted.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(planted, "w") as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":  # 'lr 0.5', after 'Summary'
                cell = rf'(<c r="{column}(\d+)"[^>]*><f>[^<]*)\*{i1}\2</f>'
                data, count = re.subn(cell, rf"\1*{i2}\2</f>", data.decode())
                assert count == 4
                data = data.encode()
            dest.writestr(item, data)
    report = check_file(planted, load_config(config))
    (finding,) = report.findings
    assert (finding.cell, finding.kind, finding.count) == (f"{column}2", "wrong formula", 4)
    assert finding.diagnosis == "dE/dw1 uses i2 where i1 belongs"
    assert finding.sheet_formula == f"={header['delta_h1']}2*{i2}2"
