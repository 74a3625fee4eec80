"""derive check on the CSV derive writes for a net too wide for any worksheet (64-64-64: 16,835
columns, past XFD's 16,384): it checks clean, and a wrong number planted in a gradient column
past XFD is one finding, named at its cell. Not marked core, so CI runs it once (about 13 s);
the widest, 64-64-64-64 with biases, is measured by benchmarks/check_speed.py."""

from __future__ import annotations

from openpyxl.utils import get_column_letter
from test_check_sizes import sized_export

from derive.check import check_file
from derive.config import load_config


def test_a_csv_too_wide_for_a_worksheet_checks_clean_and_a_planted_value_is_found(tmp_path):
    path = sized_export(tmp_path, [64, 64, 64], "none", "csv")
    spec = load_config(path.with_suffix(".toml"))
    report = check_file(path, spec)
    assert (report.findings, report.unchecked, report.notes) == ((), (), ())
    # 2 rows of 64 + 64 net inputs and activations each, 64 errors, E_total and 8,192 gradients,
    # and one row of 8,192 updates.
    assert report.cells_checked == 2 * (4 * 64 + 64 + 1 + 8_192) + 8_192

    lines = path.read_text().splitlines()
    header, last = lines[0].split(","), lines[-1].split(",")
    column = header.index("dE/dw8000")
    assert column + 1 > 16_384  # past XFD
    last[column] = repr(float(last[column]) + 1e-3)
    path.write_text("\n".join([*lines[:-1], ",".join(last)]) + "\n")
    (finding,) = check_file(path, spec).findings
    assert (finding.cell, finding.label, finding.kind) == (
        f"{get_column_letter(column + 1)}3",
        "dE/dw8000",
        "wrong value",
    )
