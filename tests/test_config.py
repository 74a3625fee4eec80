"""Config files: the classic default, and one line with exit code 2 for each kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import classic_oracle as oracle
import pytest

from derive.__main__ import main
from derive.config import default_config_path

pytestmark = pytest.mark.core

CLASSIC = default_config_path().read_text()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def with_config(tmp_path, text: str) -> str:
    path = tmp_path / "net.toml"
    path.write_text(text)
    return str(path)


BAD_CONFIGS = {
    "malformed TOML": (CLASSIC.replace("layers = [2, 2, 2]", "layers = [2, 2"), "not valid TOML"),
    "unknown key": (
        CLASSIC.replace('\nbias = "none"', '\nbias = "none"\nlayer = 3'),
        "network.layer",
    ),
    "unknown table": (CLASSIC + "\n[extra]\nx = 1\n", "unknown key 'extra'"),
    "too few weights": (
        CLASSIC.replace("0.5, 0.55]", "0.5]"),
        "values.weights has 7 values; expected 8",
    ),
    "too many inputs": (
        CLASSIC.replace("inputs = [0.05, 0.1]", "inputs = [0.05, 0.1, 0.2]"),
        "values.inputs has 3 values; expected 2",
    ),
    "wrong targets": (
        CLASSIC.replace("targets = [0.01, 0.99]", "targets = [0.01]"),
        "values.targets has 1 values; expected 2",
    ),
    "missing biases": (
        CLASSIC.replace('bias = "none"', 'bias = "trained"'),
        "missing values.biases",
    ),
    "wrong number of biases": (
        CLASSIC.replace('bias = "none"', 'bias = "fixed"') + "biases = [0.35, 0.35, 0.6]\n",
        "values.biases has 3 values; expected 4",
    ),
    "biases without bias mode": (CLASSIC + "biases = [0.35, 0.35, 0.6, 0.6]\n", "values.biases"),
    "non-finite value": (CLASSIC.replace("0.15,", "nan,"), "values.weights[0] = nan"),
    "infinite value": (CLASSIC.replace("0.05,", "inf,"), "values.inputs[0] = inf"),
    "non-numeric value": (CLASSIC.replace("0.15,", '"0.15",'), "values.weights[0] = '0.15'"),
    "boolean value": (CLASSIC.replace("0.99]", "true]"), "values.targets[1] = True"),
    "unknown activation": (
        CLASSIC.replace('activation = "sigmoid"', 'activation = "swish"'),
        "network.activation = 'swish' is not allowed; use one of: sigmoid, tanh, relu, "
        "leaky_relu, linear",
    ),
    "wrong activation list": (
        CLASSIC.replace('activation = "sigmoid"', 'activation = ["tanh"]'),
        "list of 2",
    ),
    "softmax without cross entropy": (
        CLASSIC.replace('activation = "sigmoid"', 'activation = ["tanh", "softmax"]'),
        "'softmax' only for the output layer",
    ),
    "cross entropy without softmax": (
        CLASSIC.replace('activation = "sigmoid"', 'activation = ["tanh", "sigmoid"]').replace(
            'loss = "half_sse"', 'loss = "cross_entropy"'
        ),
        "its entry must be 'softmax'",
    ),
    "unknown loss": (
        CLASSIC.replace('loss = "half_sse"', 'loss = "hinge"'),
        "network.loss = 'hinge' is not allowed; use one of: half_sse, mse, cross_entropy",
    ),
    "unknown bias mode": (
        CLASSIC.replace('bias = "none"', 'bias = "some"'),
        "network.bias = 'some' is not allowed; use one of: none, fixed, trained",
    ),
    "too many layers": (
        CLASSIC.replace("layers = [2, 2, 2]", "layers = [2, 2, 2, 2, 2]"),
        "give 2 to 4 layer sizes",
    ),
    "cross entropy with one output": (
        '[network]\nlayers = [2, 1]\nloss = "cross_entropy"\n[values]\ninputs = [1, 2]\n'
        "targets = [1]\nweights = [0.1, 0.2]\n",
        "needs at least 2 outputs",
    ),
    "cross entropy with a negative target": (
        CLASSIC.replace('loss = "half_sse"', 'loss = "cross_entropy"').replace(
            "0.01, 0.99", "-3, 4"
        ),
        "targets are probabilities, each >= 0",
    ),
    "zero-width layer": (CLASSIC.replace("layers = [2, 2, 2]", "layers = [2, 0, 2]"), "layers"),
    "missing table": ("[network]\nlayers = [2, 2, 2]\n", "missing table [values]"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
@pytest.mark.parametrize("command", ["show", "gradients"])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, case, command):
    text, expected = BAD_CONFIGS[case]
    path = with_config(tmp_path, text)
    code, out, err = run_cli(capsys, command, "--config", path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert path in err
    assert expected in err


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "gradients", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert err.strip().endswith("nope.toml: no such file")


def test_unknown_format_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["gradients", "--format", "yaml"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_config_in_a_real_process_prints_no_traceback(tmp_path):
    path = with_config(tmp_path, CLASSIC.replace("0.15,", "nan,"))
    done = subprocess.run(
        [sys.executable, "-m", "derive", "gradients", "--config", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_gradients_json_shape_and_precision(capsys):
    code, out, _ = run_cli(capsys, "gradients", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"loss", "outputs", "gradients", "not_finite"}
    assert report["not_finite"] == []
    assert list(report["outputs"]) == ["a_o1", "a_o2"]
    assert list(report["gradients"]) == [f"w{j}" for j in range(1, 9)]
    assert report["loss"] == pytest.approx(oracle.total_error(oracle.WEIGHTS), rel=1e-13)


def test_gradients_json_names_trained_biases(tmp_path, capsys):
    text = (
        CLASSIC.replace('bias = "none"', 'bias = "trained"') + "biases = [0.35, 0.35, 0.6, 0.6]\n"
    )
    code, out, _ = run_cli(
        capsys, "gradients", "--config", with_config(tmp_path, text), "--format", "json"
    )
    assert code == 0
    assert list(json.loads(out)["gradients"])[-4:] == ["b1", "b2", "b3", "b4"]


def test_fixed_biases_are_not_trained(tmp_path, capsys):
    text = CLASSIC.replace('bias = "none"', 'bias = "fixed"') + "biases = [0.35, 0.35, 0.6, 0.6]\n"
    code, out, _ = run_cli(
        capsys, "gradients", "--config", with_config(tmp_path, text), "--format", "json"
    )
    assert code == 0
    assert list(json.loads(out)["gradients"]) == [f"w{j}" for j in range(1, 9)]


def test_show_prints_classic_chain(capsys):
    code, out, _ = run_cli(capsys, "show")
    assert code == 0
    assert "a_h1 = sigmoid(h1)" in out
    assert "dE_total/dw5 = dE_total/da_o1 * da_o1/do1 * do1/dw5" in out


def test_show_latex_uses_partial_notation(capsys):
    code, out, _ = run_cli(capsys, "show", "--latex")
    assert code == 0
    assert r"\frac{\partial E_{total}}{\partial a_{o1}}" in out
    assert r"a_{h1} = \sigma\left(h_{1}\right)" in out
