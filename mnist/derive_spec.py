"""A trained model as derive's CNN spec and arrays, so derive's backward program runs on it.

The model is taken in evaluation mode: BatchNorm with its running statistics (an affine map per
channel), dropout the identity. Layers keep their index in the nn.Sequential as their name
("layer0", ...), so a gradient is found under the state_dict key it belongs to ("0.weight").
"""

from __future__ import annotations

import numpy as np
from torch import nn

from derive.cnn.spec import CNNSpec, Layer

SKIPPED = (nn.Dropout, nn.Flatten)  # the identity in evaluation mode; GAP already flattens


def layer_name(index: int) -> str:
    return f"layer{index}"


def derive_layer(index: int, module: nn.Module) -> Layer | None:
    """derive's description of one module; None for one that is the identity in eval mode."""
    if isinstance(module, nn.Conv2d):
        if module.stride != (1, 1) or module.dilation != (1, 1):
            raise ValueError(f"layer {index}: derive's convolutions have stride 1, dilation 1")
        return Layer(
            "conv",
            layer_name(index),
            channels=module.out_channels,
            kernel=module.kernel_size[0],
            padding=module.padding[0],
            groups=module.groups,
            bias=module.bias is not None,
        )
    if isinstance(module, nn.BatchNorm2d):
        return Layer("batchnorm", layer_name(index), eps=module.eps)
    if isinstance(module, nn.ReLU):
        return Layer("relu")
    if isinstance(module, nn.MaxPool2d):
        return Layer("maxpool")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return Layer("gap")
    if isinstance(module, nn.Linear):
        return Layer("dense", layer_name(index), channels=module.out_features)
    if isinstance(module, SKIPPED):
        return None
    raise ValueError(f"layer {index}: derive has no rule for {type(module).__name__}")


def derive_network(model: nn.Sequential, side: int = 28) -> tuple[CNNSpec, dict]:
    """(spec, arrays): the model's layers and its state as float64 NumPy arrays by layer name."""
    layers = [derive_layer(i, m) for i, m in enumerate(model)]
    spec = CNNSpec((1, side, side), tuple(layer for layer in layers if layer is not None))
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in model.state_dict().items():
        index, array = key.split(".", 1)
        if array == "num_batches_tracked":
            continue
        arrays.setdefault(layer_name(int(index)), {})[array] = (
            tensor.detach().double().cpu().numpy()
        )
    return spec, arrays
