"""mnist.model: parameter budgets, receptive field (against autograd), dropout off in eval."""

import copy

import pytest
import torch
from torch import nn
from torchinfo import summary

from mnist import summary as summary_cli
from mnist.model import ARCHS, build_model, count_params, receptive_field


def test_issue_budgets():
    assert ARCHS["tiny"].max_params <= 8_000
    assert ARCHS["small"].max_params <= 20_000


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_parameter_budget_by_torchinfo(name):
    model = build_model(name)
    total = summary(model, input_size=(1, 1, 28, 28), verbose=0).total_params
    assert total == count_params(model)
    assert total <= ARCHS[name].max_params


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_no_large_fully_connected_layer(name):
    model = build_model(name)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert isinstance(model[-2], nn.AdaptiveAvgPool2d)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def autograd_receptive_field(model: nn.Sequential) -> int:
    """Side of the input region that reaches one output unit of the last conv layer (by backprop).

    Max-pools become average pools of the same geometry, so every pixel in a window gets a gradient;
    positive weights and inputs keep every ReLU open.
    """
    net = copy.deepcopy(model).eval().double()
    for i, layer in enumerate(net):
        if isinstance(layer, nn.MaxPool2d):
            net[i] = nn.AvgPool2d(layer.kernel_size, layer.stride)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    last_conv = max(i for i, layer in enumerate(net) if isinstance(layer, nn.Conv2d))
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    out = net[: last_conv + 1](x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows, cols = (x.grad[0, 0] != 0).nonzero(as_tuple=True)
    assert rows.max() - rows.min() == cols.max() - cols.min()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_receptive_field_matches_autograd(name):
    model = build_model(name)
    assert receptive_field(model) == autograd_receptive_field(model)


def test_dropout_is_off_in_eval_mode():
    torch.manual_seed(0)
    model = build_model("small")
    assert any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())
    x = torch.randn(8, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


def test_summary_cli_prints_table_params_and_receptive_field(capsys):
    summary_cli.main(["--model", "tiny"])
    out = capsys.readouterr().out
    model = build_model("tiny")
    assert f"Total params: {count_params(model):,}" in out
    assert f"receptive field of the last conv layer: {autograd_receptive_field(model)}x" in out
