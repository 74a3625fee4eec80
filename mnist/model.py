"""A registry of small all-convolutional MNIST networks, and their receptive field."""

from dataclasses import dataclass

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


def receptive_field(model: nn.Sequential) -> int:
    """Receptive field (input pixels) of the last conv layer, walked from the layers in order."""
    rf, jump, rf_last_conv = 1, 1, 1
    for layer in model:
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            rf += (k - 1) * jump
            jump *= s
            if isinstance(layer, nn.Conv2d):
                rf_last_conv = rf
    return rf_last_conv
