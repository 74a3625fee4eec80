"""The Draw page's network: BatchNorm folded by mnist.fold, run by the generated JavaScript.

The generated module runs in Node.js on random 28 x 28 inputs with the folded weights; every
stage's output and every probability must equal torch's UNFOLDED model in eval mode (float64,
its intermediate outputs read layer by layer) to 1e-5. The BatchNorm statistics are randomised
first, so that folding them in is not a no-op. Receptive fields are checked against the input
pixels torch's autograd finds a centre output depends on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mnist.fold import Exported, FoldError, fold, read_exported
from mnist.model import ARCHS, build_model
from sitegen.draw_net import ENGINE, ENGINE_NAME, forward_module, network_json
from sitegen.page_draw import weights_file

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
TOLERANCE = 1e-5
MEAN, STD = 0.1307, 0.3081

RUNNER = """
import { readFileSync } from "node:fs";
import { prepare, forward } from "./forward.mjs";
const network = prepare(JSON.parse(readFileSync("network.json", "utf8")));
const inputs = JSON.parse(readFileSync("inputs.json", "utf8"));
const results = inputs.map((pixels) => {
  const { maps, probabilities } = forward(network, pixels);
  return { maps: maps.map((m) => Array.from(m)), probabilities: Array.from(probabilities) };
});
process.stdout.write(JSON.stringify(results));
"""


def randomise_batchnorm(model: nn.Sequential, seed: int) -> nn.Sequential:
    """Random weights and running statistics everywhere: a model as training would leave it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Conv2d) and layer.bias is not None:
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator))
            if isinstance(layer, nn.BatchNorm2d):
                n = layer.num_features
                layer.weight.copy_(0.5 + torch.rand(n, generator=generator))
                layer.bias.copy_(torch.randn(n, generator=generator) * 0.3)
                layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
                layer.running_var.copy_(0.2 + torch.rand(n, generator=generator) * 2)
    return model.eval()


def custom_model() -> nn.Sequential:
    """Every layer of the vocabulary the registry's models do not use: a conv with its own bias
    before BatchNorm, padding, stride 2, groups that are not depthwise (2 channels in, 3 out
    each), a conv with no BatchNorm, a ReLU of its own, Dropout."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.ReLU(), nn.Dropout(0.3),
        nn.MaxPool2d(3, stride=2), nn.Conv2d(6, 5, 1, bias=False), nn.BatchNorm2d(5),
        nn.ReLU(), nn.Conv2d(5, 10, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )  # fmt: skip


MODELS = {name: lambda name=name: build_model(name) for name in ARCHS} | {"custom": custom_model}


def torch_outputs(
    model: nn.Sequential, pixels: np.ndarray, mean: float = MEAN, std: float = STD
) -> list[torch.Tensor]:
    """Every layer's output of the unfolded float64 model in eval mode, for one image in [0, 1]."""
    model = model.double().eval()
    x = (torch.from_numpy(pixels).double().reshape(1, 1, 28, 28) - mean) / std
    outputs = []
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            outputs.append(x[0])
    return outputs


def run_in_node(module: str, network: str, inputs: list[np.ndarray], folder) -> list[dict]:
    (folder / "forward.mjs").write_text(module, encoding="utf-8")
    shutil.copy(ENGINE, folder / ENGINE_NAME)
    (folder / "network.json").write_text(network, encoding="utf-8")
    (folder / "inputs.json").write_text(json.dumps([x.ravel().tolist() for x in inputs]))
    (folder / "runner.mjs").write_text(RUNNER, encoding="utf-8")
    done = subprocess.run(
        [NODE, "runner.mjs"], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def random_inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sparse = rng.random((28, 28)) * (rng.random((28, 28)) < 0.2)  # mostly background, as a digit
    return [rng.random((28, 28)), rng.random((28, 28)), sparse, np.zeros((28, 28))]


def largest_error(exported: Exported, seed: int, folder) -> float:
    """Largest |JavaScript - torch| over every stage's output and every probability, for the
    folded network in Node and the unfolded one in torch, on random inputs."""
    stages = fold(exported.model)
    inputs = random_inputs(seed)
    module = forward_module(exported, stages, "test")
    results = run_in_node(module, network_json(exported, stages, "test"), inputs, folder)
    worst = 0.0
    for pixels, result in zip(inputs, results, strict=True):
        expected = torch_outputs(exported.model, pixels, exported.mean, exported.std)
        assert len(result["maps"]) == len(stages)
        for stage, got in zip(stages, result["maps"], strict=True):
            want = expected[stage.last].numpy()
            assert want.shape == stage.shape
            worst = max(worst, float(np.abs(np.array(got) - want.ravel()).max()))
        probabilities = torch.softmax(expected[-1].flatten(), 0).numpy()
        worst = max(worst, float(np.abs(np.array(result["probabilities"]) - probabilities).max()))
    print(f"{exported.name}: largest |JavaScript - torch| over every map and probability: "
          f"{worst:.3g}")  # fmt: skip
    return worst


@pytest.mark.skipif(NODE is None, reason="needs Node.js (installed with npm)")
@pytest.mark.parametrize("name", list(MODELS))
def test_generated_javascript_equals_the_unfolded_torch_model(name, tmp_path):
    model = randomise_batchnorm(MODELS[name](), seed=len(name))
    assert largest_error(Exported(name, model, MEAN, STD), seed=7, folder=tmp_path) < TOLERANCE


@pytest.mark.skipif(NODE is None, reason="needs Node.js (installed with npm)")
def test_generated_javascript_equals_torch_on_the_pages_weights(tmp_path):
    """The weights the Draw page runs: the default model's committed seed-1 reference run."""
    path = weights_file(ROOT, ROOT / "mnist" / "reference")
    assert path.is_file(), f"{path}: the page's weights should be committed"
    assert largest_error(read_exported(path), seed=11, folder=tmp_path) < TOLERANCE


def linearised(model: nn.Sequential) -> nn.Sequential:
    """The same geometry with every path kept: ReLU -> identity, max-pool -> average pool (a max
    passes one pixel of its window on, a ReLU may pass none)."""
    layers = []
    for layer in model:
        if isinstance(layer, nn.ReLU):
            layer = nn.Identity()
        elif isinstance(layer, nn.MaxPool2d):
            layer = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
        layers.append(layer)
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name", list(MODELS))
def test_receptive_fields_are_the_pixels_a_centre_output_depends_on(name):
    """Each stage's receptive field is exactly the span of input rows one centre output of the
    linearised model depends on (by autograd), and bounds that span in the model itself."""
    with torch.random.fork_rng():
        torch.manual_seed(3)  # the conv weights too: the same model in every run
        model = randomise_batchnorm(MODELS[name](), seed=3)
    stages = fold(model)
    model.double()
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    for net, exact in ((linearised(model), True), (model, False)):
        for stage in stages:
            pixels = x.clone().requires_grad_()
            y = net[: stage.last + 1](pixels)
            # Every input row with a non-zero gradient of the sum of one channel's centre value.
            centre = y[0, :, y.shape[2] // 2, y.shape[3] // 2].abs().sum()
            (grad,) = torch.autograd.grad(centre, pixels)
            rows = torch.nonzero(grad[0, 0].abs().sum(1)).flatten()
            span = int(rows.max() - rows.min()) + 1 if rows.numel() else 0
            if exact:  # a field wider than the image (padded convs, the pool) spans all of it
                assert span == min(stage.receptive_field, 28), stage
            else:  # ReLUs and max-pools may cut paths off, never add one
                assert span <= stage.receptive_field, stage


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([nn.BatchNorm2d(1)], "layer 0: BatchNorm2d not right after a Conv2d"),
        ([nn.Conv2d(1, 2, 3), nn.Linear(2, 2)], "layer 1: Linear(in_features=2"),
        ([nn.Conv2d(1, 2, 3, dilation=2)], "layer 0: dilated Conv2d"),
        ([nn.Conv2d(1, 2, (3, 1))], "layer 0: kernel_size (3, 1), only square"),
        ([nn.MaxPool2d(2, padding=1)], "layer 0: padded MaxPool2d does not fold"),
        ([nn.Conv2d(1, 2, 29)], "the model does not run on a 28x28 image"),
        ([nn.AdaptiveAvgPool2d(2)], "layer 0: AdaptiveAvgPool2d(output_size=2), of the pools only"),
    ],
)
def test_layers_that_do_not_fold_are_named(layers, message):
    with pytest.raises(FoldError) as caught:
        fold(nn.Sequential(*layers).eval())
    assert str(caught.value).startswith(message)


def exported_file(tmp_path, name="tiny", metadata=None, tensors=None):
    path = tmp_path / "model.safetensors"
    model = build_model(name)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"model": name, "normalize_mean": str(MEAN), "normalize_std": str(STD)}
    save_file(tensors or state, str(path), metadata=meta | (metadata or {}))
    return path


def garbage(path):
    path.write_bytes(b"not a safetensors file")
    return path


ZEROS = torch.zeros(8, 1, 3, 3)  # the first conv's weights, and no other tensor


def test_read_exported_loads_the_model_and_its_normalisation(tmp_path):
    exported = read_exported(exported_file(tmp_path))
    assert (exported.name, exported.mean, exported.std) == ("tiny", MEAN, STD)
    assert not exported.model.training


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.safetensors", "no such file"),
        (lambda p: garbage(p / "bad.safetensors"), "cannot read the weights"),
        (lambda p: exported_file(p, metadata={"model": "huge"}), "metadata 'model' is 'huge'"),
        (lambda p: exported_file(p, metadata={"normalize_std": "0"}), "normalize_std > 0"),
        (lambda p: exported_file(p, tensors={"0.weight": ZEROS}), "do not fit model 'tiny'"),
    ],
)
def test_read_exported_refuses_files_in_one_line(make, message, tmp_path):
    with pytest.raises(FoldError) as caught:
        read_exported(make(tmp_path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


BACKWARD_RUNNER = """
import { readFileSync } from "node:fs";
import { prepare, forward, backward, sgdStep } from "./forward.mjs";
const network = prepare(JSON.parse(readFileSync("network.json", "utf8")));
const { pixels, label, lr } = JSON.parse(readFileSync("case.json", "utf8"));
const run = forward(network, pixels);
const back = backward(network, pixels, run.maps, label);
sgdStep(network, back.grads, lr);
const after = backward(network, pixels, forward(network, pixels).maps, label);
const plain = (g) => (g ? { dWeight: Array.from(g.dWeight), dBias: Array.from(g.dBias) } : null);
process.stdout.write(JSON.stringify({
  loss: back.loss, grads: back.grads.map(plain), dPixels: Array.from(back.dPixels),
  lossAfter: after.loss,
}));
"""


def folded_torch(stages) -> nn.Sequential:
    """The folded stages as a float64 torch network: what the page differentiates."""
    layers: list[nn.Module] = []
    for stage in stages:
        if stage.kind == "conv":
            c_in = stage.weight.shape[1] * stage.groups
            conv = nn.Conv2d(c_in, stage.shape[0], stage.kernel, stage.stride, stage.padding,
                             groups=stage.groups).double()  # fmt: skip
            with torch.no_grad():
                conv.weight.copy_(torch.tensor(stage.weight))
                conv.bias.copy_(torch.tensor(stage.bias))
            layers += [conv, nn.ReLU()] if stage.relu else [conv]
        elif stage.kind == "maxpool":
            layers.append(nn.MaxPool2d(stage.kernel, stage.stride))
        elif stage.kind == "gap":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@pytest.mark.skipif(NODE is None, reason="needs Node.js")
@pytest.mark.parametrize("name", ["nano", "tiny", "custom"])
def test_backward_in_javascript_equals_torch_on_the_folded_network(name, tmp_path):
    """The page's backward pass (derive's kernels, printed per stage) against torch autograd on
    the same folded network, float64: the loss, every weight and bias gradient and every pixel's
    gradient to 1e-9 of the largest; one SGD step gives the loss torch's SGD step gives."""
    torch.manual_seed(2)
    model = randomise_batchnorm(MODELS[name](), seed=2)  # fold reads it in float32
    exported = Exported(name, model, MEAN, STD)
    stages = fold(model)
    rng = np.random.default_rng(3)
    pixels = rng.random((28, 28)) * (rng.random((28, 28)) < 0.3)
    label, lr = 4, 0.05
    (tmp_path / "case.json").write_text(
        json.dumps({"pixels": pixels.ravel().tolist(), "label": label, "lr": lr})
    )
    run_in_node(forward_module(exported, stages, "test"), network_json(exported, stages, "test"),
                [], tmp_path)  # fmt: skip
    (tmp_path / "runner.mjs").write_text(BACKWARD_RUNNER, encoding="utf-8")
    done = subprocess.run([NODE, "runner.mjs"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)

    net = folded_torch(stages)
    ink = torch.tensor(pixels[None, None], dtype=torch.float64, requires_grad=True)
    loss = nn.functional.cross_entropy(net((ink - MEAN) / STD), torch.tensor([label]))
    loss.backward()
    assert page["loss"] == pytest.approx(loss.item(), rel=1e-12)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    shown = [g for g in page["grads"] if g is not None]
    assert len(shown) == len(convs)
    for conv, grad in zip(convs, shown, strict=True):
        for mine, theirs in ((grad["dWeight"], conv.weight.grad), (grad["dBias"], conv.bias.grad)):
            expected = theirs.numpy().ravel()
            assert np.abs(np.array(mine) - expected).max() <= 1e-9 * np.abs(expected).max()
    expected = ink.grad.numpy().ravel()
    assert np.abs(np.array(page["dPixels"]) - expected).max() <= 1e-9 * np.abs(expected).max()
    torch.optim.SGD(net.parameters(), lr=lr).step()
    after = nn.functional.cross_entropy(net((ink - MEAN) / STD), torch.tensor([label]))
    assert page["lossAfter"] == pytest.approx(after.item(), rel=1e-10)
