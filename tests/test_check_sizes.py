"""derive check on derive's own XLSX export of nets of several sizes the spec allows (2 to 4 layers
of 1 to 64 neurons, derive/config.py): the smallest, 4 layers of one, an odd shape with trained
biases, and one past the closed-form limit (checked against the backward program). Each checks
clean, and each with a mistake planted in one formula (dE/dw1 doubled) has that one finding, named.
One learning rate and one step each, so the lot stays under a few seconds; the widest export (about
64-60-64) is measured by benchmarks/check_speed.py, not here."""

from __future__ import annotations

import itertools
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from derive.__main__ import main
from derive.check import check_file
from derive.check.read_csv import MAX_FIELDS
from derive.check.table import cell_name
from derive.config import NetworkSpec, default_config_path, load_config
from derive.network import build_network
from derive.table import table_columns

pytestmark = pytest.mark.core

SIZES = [
    # The Summary sheet's row "w1 | 0.3 | initial weight": a labelled value, not a header.
    ([1, 1], "none", ()),
    ([1, 1, 1, 1], "fixed", ()),
    ([3, 1, 2], "trained", ()),
    ([12, 12, 1], "none", ()),  # 156 weights: past the closed forms' 150
]


def sized_export(folder: Path, layers: list[int], bias: str, form: str = "xlsx") -> Path:
    """derive's own export (`form`: xlsx or csv) of the net with seeded random values, one step
    at lr 0.5; its config beside it, sized.toml."""
    rng = np.random.default_rng(sum(layers))
    weights = rng.uniform(-0.8, 0.8, sum(a * b for a, b in itertools.pairwise(layers)))
    biases = rng.uniform(-0.3, 0.3, sum(layers[1:])).round(3).tolist()
    config = folder / "sized.toml"
    config.write_text(
        f'[network]\nlayers = {layers}\nactivation = "sigmoid"\nbias = "{bias}"\n\n[values]\n'
        f"inputs = {rng.uniform(0, 1, layers[0]).round(3).tolist()}\n"
        f"targets = {rng.uniform(0, 1, layers[-1]).round(3).tolist()}\n"
        f"weights = {weights.round(3).tolist()}\n"
        + (f"biases = {biases}\n" if bias != "none" else "")
    )
    path = folder / f"sized.{form}"
    options = ["--steps", "1", "--lr", "0.5", "--format", form, "--out", str(path)]
    assert main(["table", "--config", str(config), *options]) == 0
    return path


def doubled(path: Path, column: str) -> Path:
    """The export with every formula of `column` on the learning rate's worksheet (the second
    part, after 'Summary') doubled, =P2*D2 -> =2*P2*D2, in its XML: the cached values kept, as a
    spreadsheet program saving the edit would leave the other cells."""
    changed = path.with_name("doubled.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(changed, "w") as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                cell = rf'(<c r="{column}\d+"[^>]*><f>)'.encode()
                data, count = re.subn(cell, rb"\g<1>2*", data)
                assert count == 2  # both rows
            dest.writestr(item, data)
    return changed


@pytest.mark.parametrize(("layers", "bias", "notes"), SIZES)
def test_every_size_checks_clean_and_a_planted_mistake_is_found(layers, bias, notes, tmp_path):
    path = sized_export(tmp_path, layers, bias)
    config = load_config(path.with_suffix(".toml"))
    report = check_file(path, config)
    assert (report.findings, report.unchecked, report.notes) == ((), (), notes)
    assert [t.updates for t in report.tables] == ["1 update row(s) checked, lr from lr (column)"]

    header = next(openpyxl.load_workbook(path, read_only=True)["lr 0.5"].iter_rows(max_row=1))
    column = next(c.column_letter for c in header if c.value == "dE/dw1")
    report = check_file(doubled(path, column), config)
    (finding,) = report.findings
    assert (finding.worksheet, finding.cell, finding.kind, finding.count) == (
        "lr 0.5",
        f"{column}2",
        "wrong formula",
        2,
    )
    assert finding.diagnosis.startswith("dE/dw1 is 2·")
    assert finding.sheet_formula.startswith("=2*")


def test_cell_names_follow_the_spreadsheet_letters_and_go_on_past_zzz():
    # openpyxl names every column a worksheet may have and more, up to ZZZ (18,278) ...
    assert all(cell_name(1, c) == f"{get_column_letter(c)}1" for c in range(1, 18_279))
    # ... and past it, by hand: 18,279 = 26 + 26² + 26³ + 1 is the first of four letters, and
    # 25,539 - 18,278 - 1 = 7,260 = 0·26³ + 10·26² + 19·26 + 6 is A K T G.
    assert (cell_name(2, 18_279), cell_name(3, 25_539)) == ("AAAA2", "AKTG3")


def test_a_csv_reads_as_wide_as_the_widest_net_derive_writes():
    widest = NetworkSpec(
        (64, 64, 64, 64), ("sigmoid", "sigmoid", "softmax"), "cross_entropy", "trained"
    )
    assert len(table_columns(build_network(widest))) <= MAX_FIELDS


def test_a_table_past_column_zzz_of_a_csv_is_checked_and_its_cells_named(tmp_path, capsys):
    """derive's own CSV of the classic net, its columns moved right so that dE/dw1 (the 26th)
    is the 18,279th field, AAAA; a wrong number in its last row is one finding there."""
    assert main(["table", "--steps", "2", "--lr", "0.5", "--out", str(tmp_path / "t.csv")]) == 0
    capsys.readouterr()
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].split(",")[25] == "dE/dw1"
    last = lines[-1].split(",")
    last[25] = repr(2 * float(last[25]))
    lines[-1] = ",".join(last)
    path = tmp_path / "far.csv"
    path.write_text("".join("," * (18_279 - 26) + line + "\n" for line in lines))
    report = check_file(path, load_config(default_config_path()))
    (finding,) = report.findings
    assert (finding.cell, finding.label, finding.kind) == ("AAAA4", "dE/dw1", "wrong value")
    # Each row's 11 forward columns (h1 ... E_total) and 8 gradients, and 2 rows of 8 updates.
    assert report.cells_checked == 3 * (11 + 8) + 2 * 8
