"""derive table: the classic numbers, agreement with `derive gradients` on every row (torch
autograd: test_torch_reference.py), exact CSV/JSON round trips, divergence reports, and one-line
errors for bad input."""

import csv
import io
import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import classic_oracle as oracle
import numpy as np
import pytest

from derive import xlsx
from derive.__main__ import main
from derive.config import Config, load_config
from derive.network import build_network
from derive.table import (
    MAX_STEPS,
    TableError,
    csv_text,
    iteration_table,
    json_text,
    markdown_text,
    table_columns,
)

pytestmark = pytest.mark.core

CONFIGS = Path(__file__).parent / "configs"
SHAPES = [None, *sorted(CONFIGS.glob("table_*.toml"))]
STABLE_SHAPES = [p for p in SHAPES if p is None or "diverges" not in p.name]


def shape_id(path):
    return "classic" if path is None else path.stem


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors exit directly
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_classic_columns_in_course_sheet_order():
    network = build_network(load_config().network)
    assert " ".join(c.name for c in table_columns(network)) == (
        "lr step t1 t2 i1 i2 w1 w2 w3 w4 h1 a_h1 h2 a_h2 w5 w6 w7 w8 o1 a_o1 o2 a_o2 "
        "E1 E2 E_total dE/dw1 dE/dw2 dE/dw3 dE/dw4 dE/dw5 dE/dw6 dE/dw7 dE/dw8"
    )


def test_bias_columns_follow_their_layers_weights():
    table = iteration_table(load_config(CONFIGS / "table_fixed_bias.toml"), [1.0], 1)
    assert " ".join(table.names) == (
        "lr step t1 t2 i1 i2 i3 w1 w2 w3 w4 w5 w6 b1 b2 h1 a_h1 h2 a_h2 w7 w8 w9 w10 b3 b4 "
        "o1 a_o1 o2 a_o2 E1 E2 E_total dE/dw1 dE/dw2 dE/dw3 dE/dw4 dE/dw5 dE/dw6 dE/dw7 "
        "dE/dw8 dE/dw9 dE/dw10"  # fixed biases: no gradient columns
    )
    assert {c.kind for c in table.columns if c.name.startswith("b")} == {"constant"}


def config_toml(config: Config, weights, biases) -> str:
    """The config as TOML, with other weights and biases."""
    spec = config.network

    def numbers(values):
        return "[" + ", ".join(repr(float(v)) for v in values) + "]"

    activations = ", ".join(f'"{a}"' for a in spec.activations)
    lines = [
        "[network]",
        f"layers = {list(spec.layers)}",
        f"activation = [{activations}]",
        f'loss = "{spec.loss}"',
        f'bias = "{spec.bias}"',
        "[values]",
        f"inputs = {numbers(config.values.inputs)}",
        f"targets = {numbers(config.values.targets)}",
        f"weights = {numbers(weights)}",
    ]
    if spec.bias != "none":
        lines.append(f"biases = {numbers(biases)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", STABLE_SHAPES, ids=shape_id)
def test_every_row_agrees_with_derive_gradients(path, tmp_path, capsys):
    """Each row's gradients are what `derive gradients` prints for that row's parameters."""
    config = load_config(path)
    table = iteration_table(config, [0.5, 2.0], 2)
    names = table.names
    network = table.evaluator.network
    for row in table.rows:
        weights = [row[names.index(s.name)] for s in network.weight_symbols]
        biases = [row[names.index(s.name)] for s in network.biases]
        rewritten = tmp_path / "row.toml"
        rewritten.write_text(config_toml(config, weights, biases))
        code, out, _ = run_cli(["gradients", "--config", rewritten, "--format", "json"], capsys)
        assert code == 0
        report = json.loads(out)
        assert row[names.index("E_total")] == pytest.approx(report["loss"], rel=1e-12)
        for parameter, value in report["gradients"].items():
            assert row[names.index(f"dE/d{parameter}")] == pytest.approx(
                value, rel=1e-12, abs=1e-300
            )


def parse_csv(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array([[float(v) for v in row] for row in rows[1:]])


@pytest.mark.parametrize("path", SHAPES, ids=shape_id)
def test_csv_and_json_round_trip_exactly(path):
    table = iteration_table(load_config(path), [0.5, 3.0], 60)
    header, numbers = parse_csv(csv_text(table))
    assert header == list(table.names)
    np.testing.assert_array_equal(numbers, table.rows)  # bit for bit; nan matches nan
    document = json.loads(json_text(table))
    assert document["columns"] == list(table.names)
    from_json = np.array([[math.nan if v is None else v for v in row] for row in document["rows"]])
    finite = np.isfinite(table.rows)
    np.testing.assert_array_equal(from_json[finite], table.rows[finite])
    assert np.isnan(from_json[~finite]).all()


def test_markdown_shows_ten_digits():
    text = markdown_text(iteration_table(load_config(), [1.0], 1))
    lines = text.splitlines()
    assert lines[0].startswith("| lr | step | t1 |")
    before, after = (oracle.total_error(w) for w in oracle.descend(1.0, 1))  # 0.2425198573, ...
    assert f"| {before:.10f} |" in lines[2] and f"| {after:.10f} |" in lines[3]


@pytest.mark.parametrize("inputs", [(0.05, 0.1), (1e5, -1e5), (1e150, -1e150)])
def test_large_learning_rate_or_inputs_warn_nothing(inputs):
    config = load_config()
    config = replace(config, values=replace(config.values, inputs=inputs))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        table = iteration_table(config, [100.0], 300)
    assert not table.divergences
    assert np.isfinite(table.values).all()
    if inputs[0] > 1:  # where the naive 1 / (1 + e^-h) would overflow
        with pytest.warns(RuntimeWarning, match="overflow"):
            1 / (1 + np.exp(-table.column("h1")))


def first_overflow_step(lr: float, steps: int) -> int | None:
    """The one-weight linear net in plain Python floats: the first step where E_total overflows."""
    w, x, t = 0.25, 1.0, 0.5
    for step in range(steps + 1):
        error = t - w * x
        if not math.isfinite(0.5 * error * error):
            return step
        w -= lr * (w * x - t) * x
    return None


def test_divergence_is_reported_with_lr_and_step(capsys):
    path = CONFIGS / "table_linear_diverges.toml"
    expected = first_overflow_step(100.0, 400)
    assert expected is not None
    assert first_overflow_step(0.5, 400) is None
    code, out, err = run_cli(
        ["table", "--config", path, "--lr", "0.5", "100", "--steps", "400"], capsys
    )
    assert code == 0
    assert err.splitlines() == [
        f"warning: lr 100.0 diverged at step {expected}: E1, E_total not finite"
    ]
    code, out, err = run_cli(
        ["table", "--config", path, "--lr", "100", "--steps", "400", "--format", "md"], capsys
    )
    assert f"**lr 100.0 diverged at step {expected}: E1, E_total not finite**" in out
    code, out, err = run_cli(
        ["table", "--config", path, "--lr", "100", "--steps", "400", "--format", "json"], capsys
    )
    assert json.loads(out)["diverged"] == [
        {"lr": 100.0, "step": expected, "columns": ["E1", "E_total"]}
    ]


def test_cli_defaults_six_learning_rates_fifty_steps(capsys):
    code, out, err = run_cli(["table"], capsys)
    assert (code, err) == (0, "")
    _header, numbers = parse_csv(out)
    assert len(numbers) == 6 * 51
    assert sorted(set(numbers[:, 0])) == [0.1, 0.2, 0.5, 0.8, 1.0, 2.0]
    assert numbers[:, 1].max() == 50


@pytest.mark.parametrize("fmt", ["csv", "md", "json", "xlsx"])
def test_cli_writes_out_file(fmt, tmp_path, capsys):
    out = tmp_path / f"table.{fmt}"
    code, stdout, err = run_cli(
        ["table", "--lr", "1", "--steps", "2", "--format", fmt, "--out", out], capsys
    )
    assert (code, stdout, err) == (0, "", "")
    assert out.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind


BAD_TABLE_ARGS = {
    "lr zero": ["--lr", "0"],
    "lr negative": ["--lr", "-1"],
    "lr nan": ["--lr", "nan"],
    "lr inf": ["--lr", "inf"],
    "lr text": ["--lr", "fast"],
    "lr twice": ["--lr", "0.5", "0.5"],
    "steps zero": ["--steps", "0"],
    "steps above cap": ["--steps", str(MAX_STEPS + 1)],
    "steps fraction": ["--steps", "2.5"],
    "unknown format": ["--format", "xls"],
    "missing folder": ["--out", "no/such/folder/t.csv"],
    "unwritable folder": ["--out", "/proc/t.csv"],
    "out is a folder": ["--out", "."],
    "xlsx without out": ["--format", "xlsx"],
    "xlsx to csv name": ["--format", "xlsx", "--out", "t.csv"],
    "csv to xlsx name": ["--format", "csv", "--out", "t.xlsx"],
    "json to md name": ["--format", "json", "--out", "t.md"],
    "missing config": ["--config", "no/such.toml"],
}


@pytest.mark.parametrize("args", BAD_TABLE_ARGS.values(), ids=BAD_TABLE_ARGS.keys())
def test_bad_input_is_one_line_and_exit_2(args, capsys):
    code, out, err = run_cli(["table", *args], capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and "error" in err


def test_too_large_table_is_refused():
    with pytest.raises(TableError, match="cells"):
        iteration_table(load_config(), [0.1 * k for k in range(1, 11)], MAX_STEPS)


def test_failed_write_keeps_existing_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "table.xlsx"
    out.write_bytes(b"the old workbook")

    def fail(table):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsx, "workbook_bytes", fail)
    code, _, err = run_cli(["table", "--format", "xlsx", "--out", out], capsys)
    assert code == 2 and "No space left on device" in err
    assert out.read_bytes() == b"the old workbook"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
