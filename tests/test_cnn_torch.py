"""derive's CNN backward program against torch autograd in float64: the project's own models (nano,
tiny, small, in evaluation mode: BatchNorm with running statistics) and random small CNNs with
padded, grouped and depthwise convolutions; every parameter and the input."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from derive.cnn import engine
from derive.cnn.batchnorm import fold_arrays, fold_derivation, fold_residual
from derive.cnn.config import load_cnn_config
from mnist.derive_spec import derive_network
from mnist.fold import folded_conv
from mnist.model import ARCHS, build_model

CNN = Path(__file__).parents[1] / "derive" / "configs" / "cnn.toml"
NANO_WEIGHTS = Path(__file__).parents[1] / "mnist" / "reference" / "nano" / "seed-1"


def randomised_statistics(model: nn.Module, generator: torch.Generator) -> None:
    """BatchNorm running statistics and affine parameters away from their initial 0/1."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=generator, dtype=torch.float64) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=generator, dtype=torch.float64) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=generator, dtype=torch.float64) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=generator, dtype=torch.float64) - 0.5)


def assert_gradients_equal(model: nn.Sequential, images: torch.Tensor, labels: torch.Tensor):
    model = model.double().eval()
    images = images.double().requires_grad_(True)
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    spec, arrays = derive_network(model, side=images.shape[-1])
    targets = np.eye(model(images).shape[1])[labels.numpy()]
    run = engine.forward(spec, arrays, images.detach().numpy(), targets)
    back = engine.backward(spec, arrays, run, targets)
    assert run.loss == pytest.approx(loss.item(), rel=1e-12)
    checked = 0
    for key, parameter in model.named_parameters():
        index, array = key.split(".")
        derived = back.gradients[f"layer{index}"][array]
        expected = parameter.grad.numpy()
        scale = np.abs(expected).max()
        assert np.abs(derived - expected).max() <= 1e-10 * scale, key
        checked += parameter.numel()
    assert checked == sum(p.numel() for p in model.parameters())
    expected = images.grad.numpy()
    assert np.abs(back.input_gradient - expected).max() <= 1e-10 * np.abs(expected).max()


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_registry_models_gradients_equal_torch(name):
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    model = build_model(name).double()
    randomised_statistics(model, generator)
    images = torch.rand(3, 1, 28, 28, generator=generator, dtype=torch.float64)
    assert_gradients_equal(model, images, torch.tensor([0, 4, 9]))


def test_nano_trained_weights_on_a_digit_like_image_equal_torch():
    """A stroke on a faintly noisy background: on a background of exact zeros many max-pool
    windows hold four equal values, and which one gets the gradient then depends on the last bit
    of each side's sums (both are right: any of them is a valid derivative there)."""
    model = build_model("nano")
    model.load_state_dict(load_file(NANO_WEIGHTS / "model.safetensors"))
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 1, 28, 28, generator=generator, dtype=torch.float64) * 1e-3
    image[0, 0, 5:23, 13:16] = 1.0  # a vertical stroke: a "1"
    assert_gradients_equal(model, image, torch.tensor([1]))


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch():
    window = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]], dtype=torch.float64, requires_grad=True)
    nn.functional.max_pool2d(window, 2).sum().backward()
    derived = engine.maxpool_winners(window.detach().numpy())
    assert np.array_equal(derived, window.grad.numpy())
    assert derived[0, 0, 0, 0] == 1


def random_cnn(seed: int) -> tuple[nn.Sequential, int]:
    """A small CNN of convs (padded or not, grouped, depthwise), BatchNorm, ReLU, pools, a head."""
    rng = np.random.default_rng(seed)
    c_in, side = int(rng.integers(1, 4)), int(rng.integers(8, 13))
    layers: list[nn.Module] = []
    for _ in range(int(rng.integers(2, 4))):
        kind = rng.choice(["plain", "grouped", "depthwise"])
        kernel = int(rng.choice([1, 2, 3]))
        padding = int(rng.integers(0, kernel))
        if kind == "depthwise":
            c_out, groups = c_in * int(rng.integers(1, 3)), c_in
        elif kind == "grouped" and c_in % 2 == 0:
            c_out, groups = 2 * int(rng.integers(1, 4)), 2
        else:
            c_out, groups = int(rng.integers(2, 6)), 1
        layers += [
            nn.Conv2d(c_in, c_out, kernel, padding=padding, groups=groups, bias=bool(seed % 2)),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        ]
        c_in = c_out
    layers.append(nn.MaxPool2d(2))
    if seed % 2:
        layers += [nn.Conv2d(c_in, 5, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    else:
        layers += [nn.Flatten(), nn.LazyLinear(5)]
    model = nn.Sequential(*layers)
    model(torch.zeros(1, layers[0].in_channels, side, side))  # sizes the lazy layer
    return model, side


@pytest.mark.parametrize("seed", range(8))
def test_random_small_cnns_gradients_equal_torch(seed):
    torch.manual_seed(seed)
    model, side = random_cnn(seed)
    generator = torch.Generator().manual_seed(seed)
    model = model.double()
    randomised_statistics(model, generator)
    c_in = model[0].in_channels
    images = torch.rand(2, c_in, side, side, generator=generator, dtype=torch.float64)
    assert_gradients_equal(model, images, torch.tensor([1, 3]))


def test_teaching_cnn_config_equals_torch():
    """The teaching config's numbers (derive gradients) against the same net built in torch."""
    config = load_cnn_config(CNN)
    arrays = config.values.arrays
    conv = nn.Conv2d(1, 2, 2).double()
    dense = nn.Linear(8, 3).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(arrays["conv"]["weight"]))
        conv.bias.copy_(torch.tensor(arrays["conv"]["bias"]))
        dense.weight.copy_(torch.tensor(arrays["dense"]["weight"]))
        dense.bias.copy_(torch.tensor(arrays["dense"]["bias"]))
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), dense)
    image = torch.tensor(config.values.image[None], dtype=torch.float64)
    assert_gradients_equal(model, image, torch.tensor([1]))


def test_batchnorm_fold_is_derived_proven_and_equals_the_browsers_fold():
    """derive's fold (SymPy's derivative of BatchNorm(conv) by each pixel, and its value at 0) is
    proven equal for every input, equals mnist.fold's (written by hand for the Draw page) on
    every conv of nano, and the folded conv equals torch's BatchNorm(conv)."""
    assert fold_residual(fold_derivation()) == 0
    generator = torch.Generator().manual_seed(3)
    model = build_model("nano").double()
    randomised_statistics(model, generator)
    model.eval()
    _, arrays = derive_network(model)
    checked = 0
    for index, (conv, norm) in enumerate(itertools.pairwise(model)):
        if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
            continue
        weight, bias = fold_arrays(arrays[f"layer{index}"], arrays[f"layer{index + 1}"], norm.eps)
        hand_weight, hand_bias = folded_conv(conv, norm, index)
        assert np.allclose(weight, hand_weight, rtol=1e-14, atol=0)
        assert np.allclose(bias, hand_bias, rtol=1e-13, atol=1e-16)
        x = torch.rand(1, conv.in_channels, 9, 9, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            expected = norm(conv(x)).numpy()
            folded = nn.functional.conv2d(
                x, torch.tensor(weight), torch.tensor(bias), groups=conv.groups
            ).numpy()
        assert np.allclose(folded, expected, rtol=1e-12, atol=1e-13)
        checked += 1
    assert checked == 10  # nano: 2 plain convs, then 4 separable ones of 2 convs each


def toml_array(array: np.ndarray) -> str:
    return repr(np.round(array, 6).tolist())


def test_a_config_written_as_a_pytorch_user_would_equals_torch(tmp_path):
    """A CNN config in the style of someone else: padded and depthwise convs, stride and pool
    sizes spelled out, an explicit flatten; derive gradients' JSON against torch autograd."""
    rng = np.random.default_rng(11)
    k1, b1 = rng.normal(0, 0.5, (4, 2, 3, 3)), rng.normal(0, 0.1, 4)
    k2 = rng.normal(0, 0.5, (4, 1, 3, 3))
    w, b = rng.normal(0, 0.3, (3, 4 * 3 * 3)), rng.normal(0, 0.1, 3)
    image = rng.uniform(0, 1, (2, 6, 6))
    config = tmp_path / "theirs.toml"
    config.write_text(
        f"""[network]
input = [2, 6, 6]
loss = "cross_entropy"
layers = [
  {{ type = "conv", name = "conv1", channels = 4, kernel = 3, stride = 1, padding = 1 }},
  {{ type = "relu" }},
  {{ type = "conv", name = "dw", channels = 4, kernel = 3, padding = 1, groups = 4, bias = false }},
  {{ type = "relu" }},
  {{ type = "maxpool", kernel = 2, stride = 2 }},
  {{ type = "flatten" }},
  {{ type = "dense", name = "fc", units = 3 }},
]

[values]
image = {toml_array(image)}
target = [0.0, 0.0, 1.0]

[values.conv1]
weight = {toml_array(k1)}
bias = {toml_array(b1)}

[values.dw]
weight = {toml_array(k2)}

[values.fc]
weight = {toml_array(w)}
bias = {toml_array(b)}
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "derive", "gradients", "--config", str(config), "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    def tensor(a):
        return torch.tensor(np.round(a, 6), dtype=torch.float64, requires_grad=True)

    tk1, tb1, tk2, tw, tb = map(tensor, (k1, b1, k2, w, b))
    x = torch.tensor(np.round(image, 6), dtype=torch.float64)[None]
    z = torch.relu(nn.functional.conv2d(x, tk1, tb1, padding=1))
    z = torch.relu(nn.functional.conv2d(z, tk2, padding=1, groups=4))
    logits = nn.functional.linear(nn.functional.max_pool2d(z, 2).flatten(1), tw, tb)
    loss = nn.functional.cross_entropy(logits, torch.tensor([2]))
    loss.backward()
    assert report["loss"] == pytest.approx(loss.item(), rel=1e-12)
    expected = np.concatenate([t.grad.numpy().ravel() for t in (tk1, tb1, tk2, tw, tb)])
    derived = np.array(list(report["gradients"].values()))
    assert next(iter(report["gradients"])) == "conv1.weight[0,0,0,0]"
    assert np.abs(derived - expected).max() <= 1e-10 * np.abs(expected).max()


def test_a_stride_derive_does_not_compute_is_one_line(tmp_path):
    text = (Path(__file__).parents[1] / "derive" / "configs" / "cnn.toml").read_text()
    bad = tmp_path / "strided.toml"
    bad.write_text(text.replace("channels = 2, kernel = 2", "channels = 2, kernel = 2, stride = 2"))
    done = subprocess.run([sys.executable, "-m", "derive", "gradients", "--config", str(bad)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "stride = 2; derive's conv layers have stride 1" in done.stderr
