"""A registry of small all-convolutional MNIST networks, their receptive field and layer table."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    """Channel plan: 3x3 convs, max-pool, 1x1 transition, 3x3 convs, 1x1 classifier, GAP."""

    block1: tuple[int, ...]  # output channels of the unpadded 3x3 convs before the max-pool
    transition: int  # channels after the 1x1 conv that follows the max-pool
    block2: tuple[int, ...]  # output channels of the unpadded 3x3 convs after it
    dropout: float  # after every block; nn.Dropout is a no-op in eval mode
    max_params: int  # the budget the architecture is held to


ARCHS = {
    # tiny's plan, narrower: three 3x3 convs to RF 7, max-pool, 1x1 to 8 channels, three 3x3
    # convs to RF 20 on a 5x5 map, 1x1 classifier, GAP. 3,714 parameters.
    "nano": Arch(block1=(8, 8, 12), transition=8, block2=(8, 8, 10), dropout=0.0, max_params=4_000),
    "tiny": Arch(
        block1=(8, 12, 16), transition=8, block2=(12, 16, 15), dropout=0.0, max_params=8_000
    ),
    "small": Arch(
        block1=(12, 16, 24), transition=12, block2=(16, 24, 32), dropout=0.05, max_params=20_000
    ),
}
N_CLASSES = 10


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: the BatchNorm shift that follows makes it redundant.
    return [nn.Conv2d(c_in, c_out, 3, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def build_model(name: str) -> nn.Sequential:
    """The named architecture as one flat nn.Sequential (layer order = data flow)."""
    arch = ARCHS[name]
    layers: list[nn.Module] = []
    c_in = 1
    for c_out in arch.block1:
        layers += conv_bn_relu(c_in, c_out)
        c_in = c_out
    layers += [nn.Dropout(arch.dropout), nn.MaxPool2d(2)]
    layers += [nn.Conv2d(c_in, arch.transition, 1, bias=False), nn.BatchNorm2d(arch.transition)]
    layers += [nn.ReLU()]
    c_in = arch.transition
    for c_out in arch.block2:
        layers += conv_bn_relu(c_in, c_out)
        c_in = c_out
    # The 1x1 classifier before GAP equals a linear layer after it, and keeps the net all-conv.
    layers += [nn.Dropout(arch.dropout), nn.Conv2d(c_in, N_CLASSES, 1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def receptive_fields(model: nn.Sequential) -> list[int]:
    """Receptive field (input pixels) after each layer, walked from the layers in order."""
    rf, jump, fields = 1, 1, []
    for layer in model:
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            rf += (k - 1) * jump
            jump *= s
        fields.append(rf)
    return fields


def receptive_field(model: nn.Sequential) -> int:
    """Receptive field (input pixels) of the last conv layer."""
    last_conv = max(i for i, layer in enumerate(model) if isinstance(layer, nn.Conv2d))
    return receptive_fields(model)[last_conv]


@dataclass(frozen=True)
class Layer:
    """One row of a model's layer table."""

    index: int  # position in the nn.Sequential (its state_dict key prefix)
    kind: str  # e.g. "Conv2d 3x3, 1 -> 8", "BatchNorm2d", "MaxPool2d 2x2"
    shape: tuple[int, ...]  # output (channels, height, width) or (classes,) for one image
    params: int
    receptive_field: int


def describe(model: nn.Sequential, side: int = 28) -> list[Layer]:
    """The layer table of a model fed one side x side single-channel image."""
    x = torch.zeros(1, 1, side, side)
    rows = []
    was_training = model.training
    model.eval()  # no BatchNorm statistics updated by this look
    try:
        with torch.no_grad():
            for i, (layer, rf) in enumerate(zip(model, receptive_fields(model), strict=True)):
                x = layer(x)
                rows.append(Layer(i, kind(layer), tuple(x.shape[1:]), count_params(layer), rf))
    finally:
        model.train(was_training)
    return rows


def kind(layer: nn.Module) -> str:
    """A short human name for a layer, with its geometry."""
    if isinstance(layer, nn.Conv2d):
        k = layer.kernel_size[0]
        return f"Conv2d {k}x{k}, {layer.in_channels} -> {layer.out_channels}"
    if isinstance(layer, nn.MaxPool2d):
        return f"MaxPool2d {layer.kernel_size}x{layer.kernel_size}"
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return "global average pool"
    if isinstance(layer, nn.Dropout):
        return f"Dropout p={layer.p:g}"
    return type(layer).__name__
