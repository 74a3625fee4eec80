"""mnist.export: the safetensors file equals the checkpoint, and runs without torch.nn modules."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from mnist import export, train
from mnist.data import write_split
from mnist.model import build_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A two-epoch nano run on random images: real checkpoint, weights away from their init."""
    data = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 96), ("test", 32)):
        write_split(data, split, rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n))
    out = tmp_path_factory.mktemp("runs") / "nano"
    train.main(
        ["--model", "nano", "--data-dir", str(data), "--out", str(out), "--epochs", "2",
         "--batch-size", "16", "--limit", "96", "--threads", "1", "--no-plots"]
    )  # fmt: skip
    return out


def test_round_trip_equals_the_checkpoint_state_dict(run_dir, tmp_path):
    out = tmp_path / "w.safetensors"
    export.main([str(run_dir), "--out", str(out)])
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    loaded = load_file(out)
    assert sorted(loaded) == sorted(saved)
    for key, value in saved.items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    with safe_open(out, "pt") as f:
        meta = f.metadata()
    assert meta["model"] == "nano" and meta["epoch"] == "2"


def functional_forward(weights: dict, layers: list[dict], x: torch.Tensor, eps: float):
    """The network as a browser would run it: torch.nn.functional calls led by the layer plan."""
    for layer in layers:
        kind, key = layer["kind"], f"{layer['index']}."
        if kind.startswith("Conv2d"):
            weight = weights[key + "weight"]  # (out, in / groups, k, k); depthwise: in / groups 1
            groups = x.shape[1] // weight.shape[1]
            x = F.conv2d(x, weight, weights.get(key + "bias"), groups=groups)
        elif kind == "BatchNorm2d":
            w = {name: weights[key + name] for name in ("running_mean", "running_var")}
            x = F.batch_norm(x, **w, weight=weights[key + "weight"], bias=weights[key + "bias"],
                             eps=eps)  # fmt: skip
        elif kind == "ReLU":
            x = x.clamp(min=0)
        elif kind.startswith("MaxPool2d"):
            x = F.max_pool2d(x, 2)
        elif kind == "global average pool":
            x = x.mean(dim=(2, 3), keepdim=True)
        elif kind == "Flatten":
            x = x.flatten(1)
        else:
            assert kind.startswith("Dropout"), kind  # identity at inference
    return x


def test_exported_weights_compute_the_checkpoint_models_output(run_dir, tmp_path):
    out = export.export(run_dir, tmp_path / "w.safetensors")
    with safe_open(out, "pt") as f:
        meta = f.metadata()
    model = build_model("nano")
    model.load_state_dict(torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"])
    x = torch.randn(5, 1, 28, 28)
    expected = model.eval()(x)
    layers = json.loads(meta["layers"])
    got = functional_forward(load_file(out), layers, x, float(meta["batchnorm_eps"]))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert float(meta["normalize_mean"]) == pytest.approx(0.1307)


def one_line_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        export.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_bad_input_is_one_line_exit_2(run_dir, tmp_path, capsys):
    assert "not a folder" in one_line_error(capsys, [str(tmp_path / "missing")])
    assert "no checkpoint.pt" in one_line_error(capsys, [str(tmp_path)])
    assert "must end in .safetensors" in one_line_error(
        capsys, [str(run_dir), "--out", str(tmp_path / "w.pt")]
    )
    out = tmp_path / "nowhere" / "w.safetensors"
    assert "does not exist" in one_line_error(capsys, [str(run_dir), "--out", str(out)])
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    good = (run_dir / "checkpoint.pt").read_bytes()
    (damaged / "checkpoint.pt").write_bytes(good[: len(good) // 2])
    assert "cannot be loaded" in one_line_error(capsys, [str(damaged)])
    assert not (damaged / "model.safetensors").exists()
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    state["config"]["model"] = "tiny"  # nano's weights do not fit tiny
    torch.save(state, damaged / "checkpoint.pt")
    assert "damaged checkpoint, model" in one_line_error(capsys, [str(damaged)])


def test_weights_whose_outputs_are_not_finite_are_not_exported(run_dir, tmp_path, capsys):
    """A negative BatchNorm variance is finite (each field passes its check), yet every output of
    the model is NaN: export refuses it in one line and writes nothing."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    key = next(k for k in state["model"] if k.endswith("running_var"))
    state["model"][key].fill_(-1.0)
    torch.save(state, copy / "checkpoint.pt")
    out = tmp_path / "out.safetensors"
    err = one_line_error(capsys, [str(copy), "--out", str(out)])
    assert f"{key} holds a negative variance" in err and not out.exists()
