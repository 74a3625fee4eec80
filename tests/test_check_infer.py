"""derive check with no --config reads the activations, the loss and biases typed as numbers from
the sheet's formulas, else from its numbers: a tanh or ReLU hidden layer, softmax outputs with
cross-entropy, Mazur's 0.35 and 0.6 typed into the weighted inputs (no bias cells). Each sheet
checks clean, a mistake planted in each is found and named, and what the sheet does not show is
said in the note, with how to override it.

Workbooks are written with openpyxl as a student would and recomputed by the `formulas` engine
(test_check.save_recalculated); the formulas and the expected diagnoses are written out by hand.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from test_check import fill, paste_values, save_recalculated

from derive.check import check_file
from derive.check.infer import shown
from derive.check.locate import locate
from derive.check.read import read_sheets
from derive.config import load_config
from derive.network import build_network

pytestmark = pytest.mark.core

GIVENS = {"t1": 0.01, "t2": 0.99, "i1": 0.05, "i2": 0.1}
WEIGHTS = {"w1": 0.15, "w2": -0.2, "w3": 0.25, "w4": 0.3}  # h1 < 0 < h2: ReLU is not the identity
WEIGHTS |= {"w5": 0.4, "w6": 0.45, "w7": 0.5, "w8": 0.55}
HOW = "give --config to check against another net"
SIGMOID = "1/(1+EXP(-x))"


def net(
    hidden: str = SIGMOID,
    slope: str = "y*(1-y)",
    output: str = SIGMOID,
    error: str = "0.5*(T-A)^2",
    delta: str = "(A-T)*A*(1-A)",
    biases: tuple[str, str] = ("", ""),
) -> dict[str, str]:
    """A 2-2-2 sheet's columns: the hidden activation of x, its slope in x and y (its value),
    the output activation of x (O1, O2: both outputs), each output's error and dE/do in T (its
    target) and A (its activation)."""
    columns = {}
    for j, (a, b) in enumerate((("w1", "w2"), ("w3", "w4")), 1):
        columns[f"h{j}"] = f"{{{a}}}*{{i1}}+{{{b}}}*{{i2}}{biases[0]}"
        columns[f"a_h{j}"] = hidden.replace("x", f"{{h{j}}}")
    for j, (a, b) in enumerate((("w5", "w6"), ("w7", "w8")), 1):
        columns[f"o{j}"] = f"{{{a}}}*{{a_h1}}+{{{b}}}*{{a_h2}}{biases[1]}"
    for j in (1, 2):
        text = output.replace("O1", "{o1}").replace("O2", "{o2}")
        columns[f"a_o{j}"] = text.replace("x", f"{{o{j}}}")
    for j in (1, 2):
        columns[f"E{j}"] = error.replace("T", f"{{t{j}}}").replace("A", f"{{a_o{j}}}")
    columns["E_total"] = "{E1}+{E2}"
    d = [delta.replace("T", f"{{t{j}}}").replace("A", f"{{a_o{j}}}") for j in (1, 2)]
    for j, (w_1, w_2) in enumerate((("w5", "w7"), ("w6", "w8")), 1):
        back = slope.replace("x", f"{{h{j}}}").replace("y", f"{{a_h{j}}}")
        for k in (1, 2):
            weight = 2 * (j - 1) + k
            columns[f"dE/dw{weight}"] = f"(({d[0]})*{{{w_1}}}+({d[1]})*{{{w_2}}})*{back}*{{i{k}}}"
    for j in (1, 2):
        for k in (1, 2):
            columns[f"dE/dw{4 + 2 * (j - 1) + k}"] = f"({d[j - 1]})*{{a_h{k}}}"
    return columns


def sheet(path: Path, columns: dict[str, str], rows: int = 3) -> Path:
    """η = 0.5 in B1; a header in row 3: t1 t2 i1 i2 w1..w8 and `columns`; one row per update."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Backprop"
    ws["A1"], ws["B1"] = "η =", 0.5
    names = [*GIVENS, *WEIGHTS, *columns]
    places = {name: k for k, name in enumerate(names, 1)}
    for name, column in places.items():
        ws.cell(3, column, name)
    for row in range(4, 4 + rows):
        for name, value in GIVENS.items():
            ws.cell(row, places[name], value)
        for name, value in WEIGHTS.items():
            update = fill(f"{{{name}@}}-$B$1*{{dE/d{name}@}}", places, row)
            ws.cell(row, places[name], value if row == 4 else update)
        for name, template in columns.items():
            ws.cell(row, places[name], fill(template, places, row))
    return save_recalculated(book, path)


def planted(path: Path, label: str, formula: str, rows: int = 3) -> tuple[Path, str]:
    """The sheet with column `label`'s formula replaced (a template as in `net`) in every row,
    in its XML: the cached values kept, as a spreadsheet program saving the edit leaves the
    other cells. Also the column's letter."""
    header = [c.value for c in openpyxl.load_workbook(path)["Backprop"][3]]
    places = {name: k for k, name in enumerate(header, 1)}
    letter = get_column_letter(places[label])
    changed = path.with_name("planted.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(changed, "w") as dest:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                for row in range(4, 4 + rows):
                    new = fill(formula, places, row)[1:]
                    cell = rf'(<c r="{letter}{row}"[^>]*><f>)[^<]*(</f>)'
                    text, count = re.subn(cell, rf"\g<1>{new}\g<2>", text)
                    assert count == 1
                data = text.encode()
            dest.writestr(item, data)
    return changed, letter


def checked(path: Path):
    """The report of `path` checked with no --config (the default config)."""
    return check_file(path, load_config())


def findings(report) -> list[tuple]:
    return [(f.cell, f.kind, f.diagnosis, f.count) for f in report.findings]


TANH = net(hidden="TANH(x)", slope="(1-y^2)")
RELU = net(hidden="MAX(0,x)", slope="IF(x>0,1,0)")
SOFTMAX = net(
    output="EXP(x)/(EXP(O1)+EXP(O2))",
    error="-T*LN(A)",
    delta="A*({t1}+{t2})-T",  # dE/do1 of -t1 ln a_o1 - t2 ln a_o2: a_o1 - t1 where t1 + t2 = 1
)
MAZUR = net(biases=("+0.35", "+0.6"))

# name: (columns, the net the note names, a planted mistake: column, formula, diagnosis)
NETS = {
    "tanh": (
        TANH,
        "tanh then sigmoid, half_sse, no biases",
        ("dE/dw1", TANH["dE/dw1"].replace("(1-{a_h1}^2)", "{a_h1}*(1-{a_h1})")),
        "dE/dw1 uses a_h1·(1 − a_h1) where 1 − a_h1^2 belongs",
    ),
    "relu": (
        RELU,
        "relu then sigmoid, half_sse, no biases",
        ("a_h2", "MAX(0,{h1})"),
        "a_h2 uses relu(h1) where relu(h2) belongs",
    ),
    "softmax": (
        SOFTMAX,
        "sigmoid then softmax, cross_entropy, no biases",
        ("E2", "-{t2}*LN({a_o1})"),
        "E2 uses log(a_o1) where log(a_o2) belongs",
    ),
    "mazur": (
        MAZUR,
        "sigmoid, half_sse, biases held fixed at 0.35 (h1, h2), 0.6 (o1, o2), as its weighted "
        "inputs show",
        ("h2", "{w3}*{i1}+{w4}*{i2}"),
        "h2 is missing the term 0.35",
    ),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Each of NETS's sheets, made once for the tests of this module."""
    found: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in found:
            found[name] = sheet(tmp_path_factory.mktemp(name) / "net.xlsx", NETS[name][0])
        return found[name]

    return make


@pytest.mark.parametrize("name", list(NETS))
def test_the_net_its_formulas_show_checks_clean(name, made):
    said = NETS[name][1]
    report = checked(made(name))
    assert (report.findings, report.unchecked) == ((), ())
    assert report.notes == (f"the net from the sheet: 2-2-2, {said} ({HOW})",)
    assert report.tables[0].updates.startswith("2 update row(s) checked")


@pytest.mark.parametrize("name", list(NETS))
def test_a_mistake_in_the_net_its_formulas_show_is_found(name, made):
    _, _, (label, formula), diagnosis = NETS[name]
    changed, letter = planted(made(name), label, formula)
    assert findings(checked(changed)) == [(f"{letter}4", "wrong formula", diagnosis, 3)]


@pytest.mark.parametrize("name", ["relu", "mazur"])
def test_pasted_values_show_the_same_net(name, made, tmp_path):
    """Values pasted over every formula: the numbers decide, ReLU by its a_h1 = 0 where h1 < 0
    (the identity and leaky ReLU fit a_h2, h2 > 0), Mazur's biases as what each h1 and o1 has
    over its weighted sum in every row."""
    said = NETS[name][1]
    pasted = tmp_path / "pasted.xlsx"
    pasted.write_bytes(made(name).read_bytes())
    paste_values(pasted, decimals=None)
    report = checked(pasted)
    assert (report.findings, report.unchecked) == ((), ())
    assert report.notes == (f"the net from the sheet: 2-2-2, {said} ({HOW})",)


def test_what_no_column_shows_is_said_to_be_assumed(tmp_path):
    columns = {k: v for k, v in TANH.items() if not k.startswith("E")}
    report = checked(sheet(tmp_path / "no_loss.xlsx", columns))
    assert (report.findings, report.unchecked) == ((), ())
    assert report.notes == (
        "the net from the sheet: 2-2-2, tanh then sigmoid, half_sse, no biases (the loss "
        f"assumed half_sse: no column shows it; {HOW})",
    )


@pytest.mark.parametrize(
    ("columns", "said", "errors", "count"),
    [
        (  # (t - a)^2 over two outputs: no loss derive has (mse is half of it)
            TANH | {"E1": "({t1}-{a_o1})^2", "E2": "({t2}-{a_o2})^2"},
            "tanh then sigmoid, half_sse, no biases (the loss assumed half_sse: its columns "
            "are none of derive's",
            ("(t1 − a_o1)^2 where (t1 − a_o1)^2/2", "(t2 − a_o2)^2 where (t2 − a_o2)^2/2"),
            2,
        ),
        (  # -t ln a of sigmoid outputs: derive takes cross-entropy of softmax outputs only
            net(error="-T*LN(A)", delta="(A-T)"),
            "sigmoid, half_sse, no biases (its sigmoid outputs with the loss cross_entropy are "
            "no net derive models: checked as sigmoid, half_sse",
            ("-t1·log(a_o1) where (t1 − a_o1)^2/2", "-t2·log(a_o2) where (t2 − a_o2)^2/2"),
            10,  # E1, E2 and every gradient
        ),
    ],
)
def test_a_loss_no_net_of_derives_has_is_said_and_its_cells_are_found(
    columns, said, errors, count, tmp_path
):
    report = checked(sheet(tmp_path / "loss.xlsx", columns))
    assert report.notes == (f"the net from the sheet: 2-2-2, {said}; {HOW})",)
    assert findings(report)[:2] == [
        ("U4", "wrong formula", f"E1 uses {errors[0]} belongs", 3),
        ("V4", "wrong formula", f"E2 uses {errors[1]} belongs", 3),
    ]
    assert len(report.findings) == count


def test_a_neuron_adding_another_layers_bias_is_a_mistake_not_its_own_bias(tmp_path):
    """Mazur's net shares one bias a layer: o2 adding the hidden layer's 0.35 where o1 adds 0.6
    is a mistake (a net whose neurons have biases of their own is given with --config)."""
    path = sheet(tmp_path / "mazur.xlsx", MAZUR | {"o2": "{w7}*{a_h1}+{w8}*{a_h2}+0.35"})
    report = checked(path)
    assert report.notes == (f"the net from the sheet: 2-2-2, {NETS['mazur'][1]} ({HOW})",)
    # o2, in every row, named by the numbers the sheet types
    assert findings(report) == [("R4", "wrong formula", "o2 uses 0.35 where 0.6 belongs", 3)]


@pytest.mark.parametrize(
    ("hidden", "output", "error", "found"),
    [
        (SIGMOID, SIGMOID, "0.5*(T-A)^2", (("sigmoid", "sigmoid"), "half_sse")),
        (
            "(EXP(x)-EXP(-x))/(EXP(x)+EXP(-x))",
            "TANH(x)",
            "(T-A)^2/2",
            (("tanh", "tanh"), "half_sse"),
        ),
        ("MAX(x,0)", "x", "0.5*(A-T)^2", (("relu", "linear"), "half_sse")),
        (
            "MAX(x,0.01*x)",
            "EXP(x)/(EXP(O1)+EXP(O2))",
            "-T*LN(A)",
            (("leaky_relu", "softmax"), "cross_entropy"),
        ),
        ("1/(1+EXP(x))", SIGMOID, "T*LN(A)", ((None, "sigmoid"), None)),  # none of derive's
    ],
)
def test_each_activation_and_loss_is_known_by_its_formula(hidden, output, error, found, tmp_path):
    """As students write them, compared at points of both signs (no values: nothing computed)."""
    columns = net(hidden=hidden, output=output, error=error)
    book = openpyxl.Workbook()
    names = [*GIVENS, *WEIGHTS, *columns]
    places = {name: k for k, name in enumerate(names, 1)}
    for name, column in places.items():
        book.active.cell(1, column, name)
        book.active.cell(2, column, fill(columns[name], places, 2) if name in columns else 0.5)
    book.save(tmp_path / "formulas.xlsx")
    network = build_network(load_config().network)
    sheets = locate(read_sheets(tmp_path / "formulas.xlsx"), network, "formulas.xlsx")
    seen = shown(sheets, network)
    assert (seen.activations, seen.loss) == found
    assert seen.alike == ()


@pytest.mark.parametrize(
    ("targets", "diagnosis"),
    [
        ((0.01, 0.99), None),
        (
            (0.2, 0.9),
            "dE/dw5 holds only where the targets sum to 1, as a one-hot label's do (a_o − t), "
            "and this sheet's do not",
        ),
    ],
)
def test_a_softmax_gradient_written_as_a_minus_t(targets, diagnosis, tmp_path, monkeypatch):
    """dE/do1 of -t1 ln a_o1 - t2 ln a_o2 under a softmax is a_o1·(t1 + t2) - t1: the a_o1 - t1
    every course writes is right where the targets sum to 1, and named where they do not."""
    monkeypatch.setitem(GIVENS, "t1", targets[0])
    monkeypatch.setitem(GIVENS, "t2", targets[1])
    columns = net(output="EXP(x)/(EXP(O1)+EXP(O2))", error="-T*LN(A)", delta="A-T")
    report = checked(sheet(tmp_path / "softmax.xlsx", columns))
    assert report.unchecked == ()
    if diagnosis is None:
        assert report.findings == ()
    else:
        found = {f.label: (f.kind, f.diagnosis, f.count) for f in report.findings}
        assert sorted(found) == [f"dE/dw{k}" for k in range(1, 9)]
        assert found["dE/dw5"] == ("wrong formula", diagnosis, 3)
