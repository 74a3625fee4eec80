"""derive's CNN: the teaching net's derivation proven against sympy.diff, the array program against
central differences of a loss computed here by plain loops, and the command line (no torch here:
tests/test_cnn_torch.py compares with torch autograd)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.cnn import engine, symbolic
from derive.cnn.config import load_cnn_config
from derive.cnn.functions import lemmas, maximum, winner
from derive.cnn.spec import CNNSpec, Layer, parameter_names

pytestmark = pytest.mark.core

CNN = Path(__file__).parents[1] / "derive" / "configs" / "cnn.toml"


def naive_loss(spec: CNNSpec, arrays: dict, image: np.ndarray, target: np.ndarray) -> float:
    """The network's cross-entropy by plain loops over every index, written apart from derive."""
    x = image
    for layer in spec.layers:
        p = arrays.get(layer.name, {})
        if layer.kind == "conv":
            k, q, g = layer.kernel, layer.padding, layer.groups
            c_in = x.shape[0]
            padded = np.zeros((c_in, x.shape[1] + 2 * q, x.shape[2] + 2 * q))
            padded[:, q : q + x.shape[1], q : q + x.shape[2]] = x
            h, w = padded.shape[1] - k + 1, padded.shape[2] - k + 1
            out = np.zeros((layer.channels, h, w))
            per_in, per_out = c_in // g, layer.channels // g
            for o in range(layer.channels):
                for i in range(h):
                    for j in range(w):
                        total = p["bias"][o] if layer.bias else 0.0
                        for c in range(per_in):
                            for u in range(k):
                                for v in range(k):
                                    pixel = padded[(o // per_out) * per_in + c, i + u, j + v]
                                    total += p["weight"][o, c, u, v] * pixel
                        out[o, i, j] = total
            x = out
        elif layer.kind == "relu":
            x = np.where(x > 0, x, 0.0)
        elif layer.kind == "maxpool":
            c, h, w = x.shape
            pooled = np.zeros((c, h // 2, w // 2))
            for ch, i, j in np.ndindex(pooled.shape):
                pooled[ch, i, j] = max(x[ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel())
            x = pooled
        elif layer.kind == "batchnorm":
            scale = p["weight"] / np.sqrt(p["running_var"] + layer.eps)
            x = np.array(
                [scale[c] * (x[c] - p["running_mean"][c]) + p["bias"][c] for c in range(len(x))]
            )
        elif layer.kind == "gap":
            x = np.array([x[c].mean() for c in range(len(x))])
        else:
            flat = x.ravel()
            x = np.array(
                [
                    sum(p["weight"][u, j] * flat[j] for j in range(flat.size))
                    + (p["bias"][u] if layer.bias else 0.0)
                    for u in range(layer.channels)
                ]
            )
    top = max(x)
    log_p = x - top - np.log(sum(np.exp(z - top) for z in x))
    return float(-sum(t * lp for t, lp in zip(target, log_p, strict=True)))


def central_differences(spec, arrays, image, target, h: float = 1e-6) -> np.ndarray:
    found = []
    for name, group in arrays.items():
        for key in group:
            if key.startswith("running"):
                continue
            for index in np.ndindex(group[key].shape):
                plus = {n: {k: a.copy() for k, a in g.items()} for n, g in arrays.items()}
                minus = {n: {k: a.copy() for k, a in g.items()} for n, g in arrays.items()}
                plus[name][key][index] += h
                minus[name][key][index] -= h
                up = naive_loss(spec, plus, image, target)
                down = naive_loss(spec, minus, image, target)
                found.append((up - down) / (2 * h))
    return np.array(found)


def derive_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=300
    )


def test_teaching_cnn_gradients_json_equal_central_differences():
    config = load_cnn_config(CNN)
    done = derive_cli("gradients", "--config", str(CNN), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    values = config.values
    assert list(report["gradients"]) == parameter_names(config.network, values)
    assert list(report["gradients"])[:2] == ["conv.weight[0,0,0,0]", "conv.weight[0,0,0,1]"]
    assert len(report["gradients"]) == 2 * 4 + 2 + 3 * 8 + 3
    loss = naive_loss(config.network, values.arrays, values.image, values.target)
    assert report["loss"] == pytest.approx(loss, rel=1e-12)
    expected = central_differences(config.network, values.arrays, values.image, values.target)
    assert np.allclose(list(report["gradients"].values()), expected, rtol=1e-6, atol=1e-9)


PADDED_BN = Path(__file__).parent / "configs" / "cnn_padded_batchnorm.toml"


@pytest.mark.parametrize(("config", "count"), [(CNN, 37 + 25), (PADDED_BN, 2 * 9 + 2 * 2 + 16)])
def test_every_gradient_proven_equal_to_sympy_diff(config, count):
    net = symbolic.scalar_network(load_cnn_config(config))
    back = symbolic.backprop(net)
    variables = (*net.parameters, *net.pixels.ravel())
    assert len(variables) == count
    assert all(symbolic.proof_residual(back, v) == 0 for v in variables)


def test_padded_batchnorm_cnn_gradients_equal_central_differences():
    config = load_cnn_config(PADDED_BN)
    done = derive_cli("gradients", "--config", str(PADDED_BN), "--format", "json")
    assert done.returncode == 0, done.stderr
    values = config.values
    expected = central_differences(config.network, values.arrays, values.image, values.target)
    derived = list(json.loads(done.stdout)["gradients"].values())
    assert np.allclose(derived, expected, rtol=1e-6, atol=1e-9)


def test_a_wrong_routing_is_not_proven(monkeypatch):
    """The proof is not a formality: route the max-pool's delta to the last value of each window
    and the kernel's gradients no longer equal sympy.diff of the loss."""
    net = symbolic.scalar_network(load_cnn_config(CNN))
    back = symbolic.backprop(net)
    kernel = net.arrays["conv.weight"][0, 0, 0, 0]
    wrong = back.closed[kernel].replace(
        lambda e: isinstance(e, winner), lambda e: winner(len(e.args) - 2, *e.args[1:])
    )
    monkeypatch.setitem(back.closed, kernel, wrong)
    assert symbolic.proof_residual(back, kernel) != 0


def test_max_pool_routing_lemma_and_a_wrong_one_caught(monkeypatch):
    assert set(lemmas().values()) == {0}
    monkeypatch.setattr(maximum, "fdiff", lambda self, argindex=1: winner(0, *self.args))
    assert lemmas()["maximum/x1"] > 0


def test_softmax_cross_entropy_delta_is_p_minus_t_by_sympy():
    net = symbolic.scalar_network(load_cnn_config(CNN))
    back = symbolic.backprop(net)
    t, p = net.targets, net.probabilities
    for k, s in enumerate(net.logits):
        assert sp.expand(back.delta[s] - (p[k] * sum(t) - t[k])) == 0


def test_kernel_gradient_is_a_sum_over_output_positions_and_pixel_gradient_a_flipped_kernel():
    net = symbolic.scalar_network(load_cnn_config(CNN))
    back = symbolic.backprop(net)
    kernel, x, z = net.arrays["conv.weight"], net.pixels[0], net.outputs[0]
    d = symbolic.delta_symbol
    # dE/dK[0,0,1,0] = sum over the 4x4 output positions (i, j) of dE/dz[0,i,j] x[i+1, j]
    expected = sum(d(z[0, i, j]) * x[i + 1, j] for i in range(4) for j in range(4))
    assert sp.expand(back.delta[kernel[0, 0, 1, 0]] - expected) == 0
    # dE/dx[2,2] = sum over o, u, v of dE/dz[o, 2-u, 2-v] K[o, u, v]
    expected = sum(
        d(z[o, 2 - u, 2 - v]) * kernel[o, 0, u, v]
        for o in range(2)
        for u in range(2)
        for v in range(2)
    )
    assert sp.expand(back.delta[x[2, 2]] - expected) == 0


def test_scalar_program_equals_array_program_on_the_teaching_cnn():
    config = load_cnn_config(CNN)
    net = symbolic.scalar_network(config)
    back = symbolic.backprop(net)
    known = symbolic.evaluate(back)
    values = config.values
    run = engine.forward(config.network, values.arrays, values.image[None], values.target[None])
    grads = engine.backward(config.network, values.arrays, run, values.target[None])
    assert known[net.loss] == pytest.approx(run.loss, rel=1e-14)
    for key in net.trained:
        name, array = key.split(".")
        scalar = np.vectorize(lambda s: known[symbolic.delta_symbol(s)], otypes=[float])
        assert np.allclose(scalar(net.arrays[key]), grads.gradients[name][array], atol=1e-15)
    pixels = np.vectorize(lambda s: known[symbolic.delta_symbol(s)], otypes=[float])
    assert np.allclose(pixels(net.pixels), grads.input_gradient[0], atol=1e-15)


def random_arrays(spec: CNNSpec, rng: np.random.Generator) -> dict:
    arrays = {}
    for name, shapes in spec.array_shapes().items():
        arrays[name] = {k: rng.normal(0, 0.5, s) for k, s in shapes.items()}
        if "running_var" in arrays[name]:
            arrays[name]["running_var"] = rng.uniform(0.5, 2.0, shapes["running_var"])
    return arrays


SMALL_CNNS = {
    "padded-depthwise-gap": (
        (2, 6, 6),
        (
            Layer("conv", "c1", channels=4, kernel=3, padding=1, groups=2),
            Layer("batchnorm", "bn1"),
            Layer("relu"),
            Layer("conv", "dw", channels=4, kernel=3, padding=1, groups=4, bias=False),
            Layer("relu"),
            Layer("maxpool"),
            Layer("conv", "head", channels=3, kernel=1),
            Layer("gap"),
        ),
    ),
    "odd-sides-dense": (
        (1, 7, 5),
        (
            Layer("conv", "c1", channels=3, kernel=2, padding=1),
            Layer("relu"),
            Layer("maxpool"),
            Layer("dense", "fc", channels=4),
        ),
    ),
}


@pytest.mark.parametrize("name", SMALL_CNNS)
def test_array_program_equals_central_differences(name):
    shape, layers = SMALL_CNNS[name]
    spec = CNNSpec(shape, layers)
    rng = np.random.default_rng(7)
    arrays = random_arrays(spec, rng)
    image = rng.uniform(0, 1, shape)
    target = np.eye(spec.n_classes)[1]
    run = engine.forward(spec, arrays, image[None], target[None])
    back = engine.backward(spec, arrays, run, target[None])
    assert run.loss == pytest.approx(naive_loss(spec, arrays, image, target), rel=1e-12)
    order = {f"{n}.{k}": a for n, g in arrays.items() for k, a in g.items() if "running" not in k}
    derived = engine.gradient_vector(order, back.gradients)
    expected = central_differences(spec, arrays, image, target)
    assert np.allclose(derived, expected, rtol=1e-5, atol=1e-8)


def test_show_prints_the_derivation_and_its_proof():
    done = derive_cli("show", "--config", str(CNN))
    assert done.returncode == 0, done.stderr
    assert "dE/ds[1] = -t[1] + p[1]*(t[0] + t[1] + t[2]) = -0.69102183" in done.stdout
    assert "0 for 62 of 62 (parameters and pixels)" in done.stdout
    latex = derive_cli("show", "--config", str(CNN), "--latex")
    assert r"\frac{\partial E}{\partial K_{0,0,0}}" in latex.stdout


def test_table_runs_gradient_descent_from_the_config(tmp_path):
    out = tmp_path / "cnn.json"
    done = derive_cli("table", "--config", str(CNN), "--lr", "0.5", "--steps", "2",
                      "--format", "json", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = json.loads(out.read_text())
    columns = table["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in table["rows"]]
    first, second = rows[0], rows[1]
    name = "conv.weight[1,0,0,1]"
    assert first[name] == -0.2
    assert second[name] == pytest.approx(first[name] - 0.5 * first[f"dE/d{name}"], abs=1e-15)
    assert second["E"] < first["E"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("channels = 2, kernel = 2", "channels = 2, kernel = 9"), "network.layers[0].kernel = 9"),
        (('type = "relu"', 'type = "sigmoid"'), "network.layers[1].type = 'sigmoid'"),
        (("target = 1", "target = 3"), "values.target = 3; give a class from 0 to 2"),
        (("bias = [0.1, -0.05]", "bias = [0.1]"), "values.conv.bias must hold 2 numbers"),
        (("channels = 2, kernel = 2", "channels = 2, kernel = 2, groups = 2"), "groups = 2"),
        (("kernel = 2 }", "kernel = [2, 3] }"), "kernel = [2, 3]; give one whole number"),
        (('{ type = "relu" },', '{ type = "softmax" },'), "'softmax' may only come last"),
    ],
)
def test_bad_cnn_config_is_one_line_and_exit_2(tmp_path, edit, message):
    bad = tmp_path / "bad.toml"
    text = CNN.read_text()
    assert edit[0] in text
    bad.write_text(text.replace(edit[0], edit[1], 1))
    done = derive_cli("gradients", "--config", str(bad))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_pytorch_spellings_give_the_same_net(tmp_path):
    """kernel = [2, 2] as PyTorch's kernel_size=(2, 2), and a last softmax layer stated: the
    same gradients as the teaching config."""
    text = CNN.read_text().replace("kernel = 2 }", "kernel = [2, 2] }", 1)
    text = text.replace("units = 3 },", 'units = 3 },\n    { type = "softmax" },', 1)
    assert text.count("[2, 2]") == 1 and "softmax" in text
    spelled = tmp_path / "spelled.toml"
    spelled.write_text(text)
    runs = [derive_cli("gradients", "--config", str(c), "--format", "json") for c in (CNN, spelled)]
    assert all(r.returncode == 0 for r in runs), runs[1].stderr
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)


def test_cnn_workbook_recomputed_by_a_spreadsheet_engine_equals_the_table(tmp_path):
    """The live-formula workbook of the teaching CNN, recomputed by the `formulas` engine (not
    derive): every parameter, E and p, step by step, equal the array program's table; the values
    cached in the file equal what the formulas compute."""
    import formulas
    import openpyxl

    workbook = tmp_path / "cnn.xlsx"
    done = derive_cli("table", "--config", str(CNN), "--lr", "0.5", "--steps", "2",
                      "--format", "xlsx", "--out", str(workbook))  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = derive_cli("table", "--config", str(CNN), "--lr", "0.5", "--steps", "2",
                       "--format", "json")  # fmt: skip
    expected = json.loads(table.stdout)
    solution = formulas.ExcelModel().loads(str(workbook)).finish().calculate()
    computed = {}
    for key, value in solution.items():
        if key.upper().startswith("'[CNN.XLSX]LR 0.5'!"):
            computed[key.split("!")[1]] = value.value[0, 0]
    sheet = openpyxl.load_workbook(workbook, data_only=True)["lr 0.5"]
    header = [c.value for c in sheet[1]]
    checked = 0
    for name in expected["columns"][2:]:
        if name.startswith("dE/d") or name not in header:
            continue
        column = openpyxl.utils.get_column_letter(header.index(name) + 1)
        for row, values in enumerate(expected["rows"]):
            want = values[expected["columns"].index(name)]
            assert computed[f"{column}{row + 2}"] == pytest.approx(want, rel=1e-12, abs=1e-14)
            assert sheet[f"{column}{row + 2}"].value == pytest.approx(want, rel=1e-12, abs=1e-14)
            checked += 1
    assert checked == 3 * (37 + 1 + 3)


def test_a_single_class_and_an_unbounded_table_are_refused_in_one_line(tmp_path):
    one = tmp_path / "one.toml"
    one.write_text(
        '[network]\ninput = [1, 3, 3]\nlayers = [{ type = "dense", name = "d", units = 1 }]\n'
        "[values]\nimage = [1, 2, 3, 4, 5, 6, 7, 8, 9]\ntarget = 0\n"
        "[values.d]\nweight = [[1, 1, 1, 1, 1, 1, 1, 1, 1]]\nbias = [0]\n"
    )
    done = derive_cli("gradients", "--config", str(one))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "needs at least 2" in done.stderr
    # 64 x 64 pixels through 16 padded 5x5 kernels, 20,000 steps: about 1e11 multiply-adds.
    wide = tmp_path / "wide.toml"
    wide.write_text(
        '[network]\ninput = [1, 64, 64]\nlayers = [{ type = "conv", name = "c", channels = 16, '
        'kernel = 5, padding = 2 }, { type = "gap" }]\n[values]\n'
        f"image = {[0.5] * 4096}\ntarget = 1\n[values.c]\nweight = {[0.01] * 400}\n"
        f"bias = {[0.0] * 16}\n"
    )
    done = derive_cli("table", "--config", str(wide), "--steps", "20000", "--lr", "0.1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "multiply-adds" in done.stderr
