"""A registry of small all-convolutional MNIST networks, their receptive field and layer table."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    """Channel plan: 3x3 convs, max-pool, 1x1 transition, 3x3 convs, 1x1 classifier, GAP."""

    block1: tuple[int, ...]  # output channels of the unpadded 3x3 convs before the max-pool
    transition: int  # channels after the 1x1 conv that follows the max-pool; 0: no such conv
    block2: tuple[int, ...]  # output channels of the unpadded 3x3 convs after it
    dropout: float  # after every block; nn.Dropout is a no-op in eval mode
    max_params: int  # the budget the architecture is held to
    # How many of the last 3x3 convs are depthwise-separable (MobileNet's): a 3x3 conv per
    # channel, then a 1x1 conv that mixes them, each with BatchNorm and ReLU. A c -> c' conv
    # then costs 9c + cc' weights instead of 9cc', so the same budget buys wider layers.
    separable: int = 0


ARCHS = {
    # tiny's receptive field (20 on a 5x5 map) on 3,966 parameters: two 3x3 convs, then four
    # depthwise-separable ones (the last of block 1 and all of block 2) 16 and 24 channels wide,
    # where plain 3x3 convs could afford 8 to 12 (99.3-99.4% at that size).
    "nano": Arch(
        block1=(8, 12, 16),
        transition=0,
        block2=(24, 24, 24),
        dropout=0.0,
        max_params=4_000,
        separable=4,
    ),
    # Two rivals of nano in its budget (issue 23; every run in reference/cpu-runs.json, the log in
    # reference/README.md): every 3x3 conv but the first depthwise-separable, as MobileNet's, so
    # that the same budget buys wider layers (16 to 26 channels where nano has 12 to 24). nano-w,
    # the default, also widens the first conv to 12 channels: nano's mean accuracy, and fewer seeds
    # below 99.40% (with the 0.999 average, 1 of its 101 on two CPUs; 1 of nano's 20).
    "nano-s": Arch(
        block1=(8, 16, 20),
        transition=0,
        block2=(26, 26, 26),
        dropout=0.0,
        max_params=4_000,
        separable=5,
    ),
    "nano-w": Arch(
        block1=(12, 16, 20),
        transition=0,
        block2=(25, 25, 25),
        dropout=0.0,
        max_params=4_000,
        separable=5,
    ),
    "tiny": Arch(
        block1=(8, 12, 16), transition=8, block2=(12, 16, 15), dropout=0.0, max_params=8_000
    ),
    # The fast preset's model: one 3x3 conv at full size, the max-pool, then four 3x3 convs
    # widening to 24 channels on 13x13 maps and smaller. tiny runs three convs (up to 16
    # channels) at 26x26 to 22x22 before its pool; quick spends those multiply-adds after it:
    # 858k an image to tiny's 1.61M, a step of 25 ms to tiny's 50 on a CPU (one thread), and 6
    # epochs that end higher than tiny's 5 in two thirds of the time (reference/README.md).
    "quick": Arch(
        block1=(8,), transition=0, block2=(16, 24, 24, 24), dropout=0.0, max_params=16_000
    ),
    "small": Arch(
        block1=(12, 16, 24), transition=12, block2=(16, 24, 32), dropout=0.05, max_params=20_000
    ),
}
N_CLASSES = 10


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, groups: int = 1) -> list[nn.Module]:
    # No conv bias: the BatchNorm shift that follows makes it redundant.
    conv = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=False)
    # The ReLU overwrites the BatchNorm's output, which nothing else reads (BatchNorm's backward
    # needs its input): the same numbers, one tensor less a layer, a CPU step 2-4% shorter.
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def conv3x3(c_in: int, c_out: int, separable: bool) -> list[nn.Module]:
    """A 3x3 conv with BatchNorm and ReLU; separable: per channel, then a 1x1 across them."""
    if not separable:
        return conv_bn_relu(c_in, c_out)
    return conv_bn_relu(c_in, c_in, groups=c_in) + conv_bn_relu(c_in, c_out, kernel=1)


def build_model(name: str) -> nn.Sequential:
    """The named architecture as one flat nn.Sequential (layer order = data flow)."""
    arch = ARCHS[name]
    n_convs = len(arch.block1) + len(arch.block2)
    separable = [i >= n_convs - arch.separable for i in range(n_convs)]  # the last ones
    layers: list[nn.Module] = []
    c_in = 1
    for c_out, sep in zip(arch.block1, separable[: len(arch.block1)], strict=True):
        layers += conv3x3(c_in, c_out, sep)
        c_in = c_out
    layers += [nn.Dropout(arch.dropout), nn.MaxPool2d(2)]
    if arch.transition:
        layers += conv_bn_relu(c_in, arch.transition, kernel=1)
        c_in = arch.transition
    for c_out, sep in zip(arch.block2, separable[len(arch.block1) :], strict=True):
        layers += conv3x3(c_in, c_out, sep)
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
        c_in, c_out, groups = layer.in_channels, layer.out_channels, ""
        if layer.groups > 1:
            groups = " depthwise" if layer.groups == c_in else f" {layer.groups} groups"
        return f"Conv2d {k}x{k}{groups}, {c_in} -> {c_out}"
    if isinstance(layer, nn.MaxPool2d):
        return f"MaxPool2d {layer.kernel_size}x{layer.kernel_size}"
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return "global average pool"
    if isinstance(layer, nn.Dropout):
        return f"Dropout p={layer.p:g}"
    return type(layer).__name__
