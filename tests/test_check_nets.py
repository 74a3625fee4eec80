"""derive check on nets other than the classic 2-2-2: an export of derive's own past the
closed-form limit (4-12-12-2, 242 trained parameters) is checked against the backward program,
clean, and a mistake planted in it is found and named."""

from __future__ import annotations

import itertools
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import openpyxl
import pytest

from derive.__main__ import main
from derive.check import check_file
from derive.config import load_config

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def large_export(tmp_path_factory) -> Path:
    """derive's own export of a 4-12-12-2 net with trained biases (242 parameters)."""
    return export(tmp_path_factory.mktemp("large"), [4, 12, 12, 2], "trained")


def test_a_4_12_12_2_export_checks_clean(large_export):
    report = check_file(large_export, load_config(large_export.with_suffix(".toml")))
    assert (report.findings, report.unchecked, report.notes) == ((), (), ())
    assert [t.updates for t in report.tables] == [
        "4 update row(s) checked, lr from lr (column)"
    ] * 2
    # per table, 5 rows x (52 nets and activations, E1, E2, E_total, 26 deltas, 242 gradients)
    # and 4 update rows x 242 parameters
    assert report.cells_checked == 2 * (5 * (52 + 3 + 26 + 242) + 4 * 242)


def planted(path: Path, folder: Path, sheet: str, rows: int) -> tuple[Path, dict[str, str]]:
    """The export with dE/dw1 (= delta_h1 x i1) made to read i2 in worksheet `sheet` (the
    second part, after 'Summary'), in its XML: the cached values kept, as a spreadsheet program
    saving the edit would leave the other cells. Also the header's column letters."""
    values = openpyxl.load_workbook(path, read_only=True)[sheet]
    header = {c.value: c.column_letter for c in next(values.iter_rows(max_row=1))}
    column, i1, i2 = header["dE/dw1"], header["i1"], header["i2"]
    cell = rf'(<c r="{column}(\d+)"[^>]*><f>[^<]*)\*{i1}\2</f>'
    return edited(path, folder / "planted.xlsx", cell, rf"\1*{i2}\2</f>", rows), header


def edited(path: Path, changed: Path, cell: str, formula: str, rows: int) -> Path:
    """The export with the formulas matching `cell` in its first learning rate's worksheet (the
    second part, after 'Summary') rewritten to `formula`, in its XML (re.sub's pattern and
    replacement): in `rows` rows, the cached values kept."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(changed, "w") as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                data, count = re.subn(cell, formula, data.decode())
                assert count == rows
                data = data.encode()
            dest.writestr(item, data)
    return changed


def test_a_mistake_planted_in_a_4_12_12_2_export_is_found(large_export, tmp_path):
    changed, header = planted(large_export, tmp_path, "lr 0.5", rows=5)
    report = check_file(changed, load_config(large_export.with_suffix(".toml")))
    (finding,) = report.findings
    assert (finding.cell, finding.kind, finding.count) == (
        f"{header['dE/dw1']}2",
        "wrong formula",
        5,
    )
    assert finding.diagnosis == "dE/dw1 uses i2 where i1 belongs"
    assert finding.sheet_formula == f"={header['delta_h1']}2*{header['i2']}2"


def export(
    folder: Path,
    layers: list[int],
    bias: str = "none",
    activation: str = '"sigmoid"',
    loss="half_sse",
) -> Path:
    """derive's own export of a small net with seeded random values, as a course might hand out
    (`activation` as the TOML writes it: "tanh" or ["tanh", "softmax"])."""
    rng = np.random.default_rng(len(layers) * 10 + layers[1])
    weights = rng.uniform(-0.8, 0.8, sum(a * b for a, b in itertools.pairwise(layers)))
    biases = rng.uniform(-0.3, 0.3, sum(layers[1:])) if bias != "none" else np.zeros(0)
    config = folder / "net.toml"  # beside net.xlsx: path.with_suffix(".toml")
    config.write_text(
        f'[network]\nlayers = {layers}\nactivation = {activation}\nloss = "{loss}"\n'
        f'bias = "{bias}"\n\n[values]\n'
        f"inputs = {rng.uniform(0, 1, layers[0]).tolist()}\n"
        f"targets = {rng.uniform(0, 1, layers[-1]).tolist()}\n"
        f"weights = {weights.tolist()}\n" + (f"biases = {biases.tolist()}\n" if len(biases) else "")
    )
    path = folder / "net.xlsx"
    args = ["table", "--config", str(config), "--steps", "4", "--lr", "0.5", "1.0"]
    assert main([*args, "--format", "xlsx", "--out", str(path)]) == 0
    return path


SOFTMAX = ('["tanh", "softmax"]', "cross_entropy")  # with the lse_o and s_o columns it writes
DEEP = ('["tanh", "tanh", "softmax"]', "cross_entropy")  # 228 weights: the backward program


@pytest.mark.parametrize(
    ("layers", "bias", "said", "net"),
    [
        ([2, 3, 1], "none", "2-3-1, sigmoid, half_sse, no biases", ()),
        ([2, 3, 2], "none", "2-3-2, tanh then softmax, cross_entropy, no biases", SOFTMAX),
        (
            [4, 12, 12, 3],
            "none",
            "4-12-12-3, tanh then tanh then softmax, cross_entropy, no biases",
            DEEP,
        ),
        (
            [2, 3, 1],
            "none",
            "2-3-1, relu then sigmoid, mse, no biases",
            ('["relu", "sigmoid"]', "mse"),
        ),
        ([2, 4, 1], "none", "2-4-1, sigmoid, half_sse, no biases", ()),
        (
            [2, 2, 2],
            "trained",
            "2-2-2, sigmoid, half_sse, biases b1, b2, b3, b4, one per neuron, trained",
            (),
        ),
        (
            [3, 2, 2, 2],
            "fixed",
            "3-2-2-2, sigmoid, half_sse, biases b1, b2, b3, b4, b5, b6, one per neuron, held fixed",
            (),
        ),
    ],
)
def test_the_net_is_read_from_the_sheet_without_a_config(layers, bias, said, net, tmp_path, capsys):
    path = export(tmp_path, layers, bias, *net)
    code = main(["check", str(path), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["findings"], report["unchecked"]) == (0, [], [])
    assert report["notes"] == [
        f"the net from the sheet: {said} (give --config to check against another net)"
    ]
    assert [t["updates"] for t in report["tables"]] == [
        "4 update row(s) checked, lr from lr (column)"
    ] * 2


@pytest.mark.parametrize(
    ("layers", "net"),
    [([2, 3, 1], ()), ([2, 4, 1], ()), ([2, 3, 2], SOFTMAX), ([4, 12, 12, 3], DEEP)],
)
def test_a_mistake_planted_in_a_net_read_from_the_sheet_is_found(layers, net, tmp_path, capsys):
    changed, header = planted(export(tmp_path, layers, "none", *net), tmp_path, "lr 0.5", rows=5)
    assert main(["check", str(changed), "--format", "json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["worksheet"], finding["cell"]) == ("lr 0.5", f"{header['dE/dw1']}2")
    assert (finding["kind"], finding["count"]) == ("wrong formula", 5)
    assert finding["diagnosis"] == "dE/dw1 uses i2 where i1 belongs"


@pytest.mark.parametrize(
    ("activation", "belongs"),
    [('["relu", "sigmoid"]', "Max(0, h1)"), ('["leaky_relu", "sigmoid"]', "Max(h1, 0.01·h1)")],
)
def test_an_activation_left_out_of_a_relu_formula_is_found(activation, belongs, tmp_path, capsys):
    """a_h1 = h1 where a_h1 = MAX(0, h1) belongs: the same wherever h1 > 0, so the formulas
    are compared where h1 is negative too (the cached values kept, as in `planted`)."""
    path = export(tmp_path, [2, 3, 1], "none", activation)
    values = openpyxl.load_workbook(path, read_only=True)["lr 0.5"]
    header = {c.value: c.column_letter for c in next(values.iter_rows(max_row=1))}
    cell = rf'(<c r="{header["a_h1"]}(\d+)"[^>]*><f>)[^<]*</f>'
    changed = edited(path, tmp_path / "linear.xlsx", cell, rf"\g<1>{header['h1']}\2</f>", 5)
    assert (
        main(["check", str(changed), "--config", str(tmp_path / "net.toml"), "--format", "json"])
        == 1
    )
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["cell"], finding["kind"], finding["count"]) == (
        f"{header['a_h1']}2",
        "wrong formula",
        5,
    )
    assert finding["diagnosis"] == f"a_h1 uses h1 where {belongs} belongs"


@pytest.mark.parametrize(
    ("written", "right"),
    [
        ("IF({h}>0,{h},0)", True),
        ("IF({h}<=0,0,{h})", True),
        ("({h}>0)*{h}", True),  # TRUE is 1 in a product
        ("IF({h}>0,{h},{h}/2)", False),  # a leaky ReLU's slope where ReLU's 0 belongs
        ("IF({h}>=1,{h},0)", False),
    ],
)
def test_relu_written_with_if_is_judged_as_a_formula(written, right, tmp_path, capsys):
    path = export(tmp_path, [2, 3, 1], "none", '["relu", "sigmoid"]')
    values = openpyxl.load_workbook(path, read_only=True)["lr 0.5"]
    header = {c.value: c.column_letter for c in next(values.iter_rows(max_row=1))}
    cell = rf'(<c r="{header["a_h1"]}(\d+)"[^>]*><f>)[^<]*</f>'
    formula = escape(written.format(h=header["h1"] + r"\2"))  # in XML, < is &lt;
    changed = edited(path, tmp_path / "if.xlsx", cell, rf"\g<1>{formula}</f>", 5)
    code = main(["check", str(changed), "--config", str(tmp_path / "net.toml"), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if right else 1)
    found = [(f["cell"], f["kind"], f["count"]) for f in report["findings"]]
    assert found == ([] if right else [(f"{header['a_h1']}2", "wrong formula", 5)])
