"""The printed JavaScript module in Node.js: `descend` runs gradient descent step for step as
`derive table` does (the table itself is checked against torch autograd in
test_torch_reference.py), and stops at the first row that is not finite. Its speed in the
Playground: benchmarks/page_speed.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from derive.config import load_config
from derive.evaluate import evaluator_for
from derive.javascript import javascript_module
from derive.table import iteration_table

pytestmark = pytest.mark.core

CONFIGS = Path(__file__).parent / "configs"
RUNNER = """\
import { network, descend } from "./derived.mjs";
const [lr, steps] = JSON.parse(process.argv[2]);
const args = Float64Array.from(network.arguments, (name) => network.defaults[name]);
const rows = new Float64Array((steps + 1) * network.rowWidth);
const done = descend(args, lr, steps, rows);
const names = [...network.arguments, ...network.outputs];
const written = Array.from(rows.subarray(0, done * network.rowWidth));
console.log(JSON.stringify({ done, names, rows: written }));
"""


def run_node(node: str, folder: Path, config_path, script: str, *argv: str):
    config = load_config(config_path)
    (folder / "derived.mjs").write_text(
        javascript_module(evaluator_for(config.network), config.values)
    )
    (folder / "run.mjs").write_text(script)
    done = subprocess.run(
        [node, "run.mjs", *argv], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return config, json.loads(done.stdout)


@pytest.mark.parametrize(
    "config_path", [None, CONFIGS / "table_deep_softmax.toml", CONFIGS / "table_fixed_bias.toml"]
)
def test_descend_follows_the_table_step_for_step(config_path, node, tmp_path):
    config, result = run_node(node, tmp_path, config_path, RUNNER, "[0.5, 30]")
    assert result["done"] == 31
    rows = np.array(result["rows"]).reshape(31, -1)
    table = iteration_table(config, [0.5], 30)
    for k, name in enumerate(table.names):
        if name in ("lr", "step"):
            continue
        key = name.replace("dE/d", "dE_total/d")
        got = rows[:, result["names"].index(key)]
        np.testing.assert_allclose(got, table.values[0, :, k], rtol=1e-12, atol=1e-15, err_msg=name)


def test_descend_stops_at_the_first_row_that_is_not_finite(node, tmp_path):
    path = CONFIGS / "table_linear_diverges.toml"
    table = iteration_table(load_config(path), [50.0], 400)
    (divergence,) = table.divergences
    _, result = run_node(node, tmp_path, path, RUNNER, "[50, 400]")
    assert result["done"] == divergence.step + 1
