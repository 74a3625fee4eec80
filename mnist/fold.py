"""A trained model as a few plain stages for a browser: BatchNorm folded into the conv before it.

In eval mode BatchNorm is a fixed affine map per channel, y = γ(x − μ)/√(σ² + ε) + β, so after a
convolution with weights w and bias b it is the same convolution with weights w·γ/√(σ² + ε) and
bias β + (b − μ)·γ/√(σ² + ε). What is left is conv (with its ReLU), max-pool and global average
pool: a forward pass a few dozen lines of any language can run.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from mnist.finite import output_problem
from mnist.model import ARCHS, build_model, describe
from safeio.inputs import InputError, read_bytes

# Layers that only pass data on in eval mode (Flatten: the browser's arrays are flat already).
PASS_THROUGH = (nn.Dropout, nn.Flatten)
KNOWN = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, *PASS_THROUGH)
MAX_WEIGHTS_BYTES = 64 << 20  # the `small` model's file is ~80 KB
VOCABULARY = "Conv2d, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d(1), Dropout, Flatten"


class FoldError(ValueError):
    """A model or weights file that cannot be folded; the message is one line naming it."""


@dataclass(frozen=True)
class Stage:
    """One step of the folded forward pass, and the torch layers it stands for."""

    kind: str  # "conv", "relu", "maxpool" or "gap"
    first: int  # index in the nn.Sequential of the first layer the stage stands for
    last: int  # ... and of the last: the stage's output is that layer's output
    shape: tuple[int, ...]  # output (channels, height, width) for one image
    receptive_field: int  # input pixels (per side) that one output value depends on
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1  # conv: input and output channels split into this many independent groups
    relu: bool = False  # a conv whose ReLU is applied in the same stage
    weight: np.ndarray | None = None  # conv (out, in/groups, k, k), float64, BatchNorm folded
    bias: np.ndarray | None = None  # conv (out,), float64


@dataclass(frozen=True)
class Exported:
    """A `python -m mnist.export` file, loaded: the architecture with its weights, in eval mode."""

    name: str
    model: nn.Sequential
    mean: float  # input normalisation the model was trained with: (pixel - mean) / std
    std: float


def square(value, what: str, index: int) -> int:
    """A layer's kernel/stride/padding as one int; non-square or string values are refused."""
    pair = value if isinstance(value, tuple) else (value, value)
    if not all(isinstance(v, int) for v in pair) or pair[0] != pair[1]:
        raise FoldError(f"layer {index}: {what} {value!r}, only square integer ones fold")
    return pair[0]


def folded_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d | None, index: int):
    """(weight, bias) of conv followed by norm in eval mode, as one float64 conv."""
    if square(conv.dilation, "dilation", index) != 1:
        raise FoldError(f"layer {index}: dilated Conv2d, only undilated ones fold")
    if conv.padding_mode != "zeros":
        raise FoldError(f"layer {index}: padding_mode {conv.padding_mode!r}, only 'zeros' folds")
    weight = conv.weight.detach().double()
    bias = torch.zeros(conv.out_channels, dtype=torch.float64)
    if conv.bias is not None:
        bias = conv.bias.detach().double()
    if norm is None:
        return weight.numpy(), bias.numpy()
    if norm.running_mean is None or norm.running_var is None:
        raise FoldError(f"layer {index + 1}: BatchNorm2d without running statistics")
    gamma = torch.ones_like(bias) if norm.weight is None else norm.weight.detach().double()
    beta = torch.zeros_like(bias) if norm.bias is None else norm.bias.detach().double()
    scale = gamma / torch.sqrt(norm.running_var.double() + norm.eps)
    return (
        (weight * scale[:, None, None, None]).numpy(),
        (beta + (bias - norm.running_mean.double()) * scale).numpy(),
    )


def fold(model: nn.Sequential, side: int = 28) -> list[Stage]:
    """The model's stages for one side x side image: each BatchNorm folded into the conv before
    it and each ReLU into the conv before it; layers that pass data on in eval mode dropped."""
    layers = list(model)
    for index, layer in enumerate(layers):
        if not isinstance(layer, KNOWN):
            raise FoldError(f"layer {index}: {layer!r} is not one of {VOCABULARY}")
    try:
        table = describe(model, side)  # output shape and receptive field after every layer
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise FoldError(f"the model does not run on a {side}x{side} image: {first}") from None
    stages: list[Stage] = []
    i, jump = 0, 1  # jump: input pixels between neighbouring outputs of the stages so far
    while i < len(layers):
        layer, first = layers[i], i
        if isinstance(layer, PASS_THROUGH):
            i += 1
            continue
        if isinstance(layer, nn.Conv2d):
            stage, i = conv_stage(layers, i)
        elif isinstance(layer, nn.ReLU):
            stage, i = {"kind": "relu"}, i + 1
        elif isinstance(layer, nn.MaxPool2d):
            stage, i = max_pool(layer, i), i + 1
        elif isinstance(layer, nn.AdaptiveAvgPool2d) and layer.output_size in (1, (1, 1)):
            stage, i = {"kind": "gap"}, i + 1
        elif isinstance(layer, nn.BatchNorm2d):
            raise FoldError(f"layer {i}: BatchNorm2d not right after a Conv2d cannot be folded")
        else:
            raise FoldError(f"layer {i}: {layer!r}, of the pools only AdaptiveAvgPool2d(1) folds")
        field = table[i - 1].receptive_field
        if stage["kind"] == "gap":  # one mean over the whole map before it
            side_before = table[first - 1].shape[-1] if first else side
            field += (side_before - 1) * jump
        jump *= stage.get("stride", 1)
        stages.append(Stage(first=first, last=i - 1, shape=table[i - 1].shape,
                            receptive_field=field, **stage))  # fmt: skip
    return stages


def conv_stage(layers: list[nn.Module], i: int) -> tuple[dict, int]:
    """The stage of the conv at i with the BatchNorm and ReLU that follow it, if they do; and
    the index of the first layer after them."""
    conv = layers[i]
    after = layers[i + 1] if i + 1 < len(layers) else None
    norm = after if isinstance(after, nn.BatchNorm2d) else None
    weight, bias = folded_conv(conv, norm, i)
    end = i + 1 + (norm is not None)
    relu = end < len(layers) and isinstance(layers[end], nn.ReLU)
    stage = {
        "kind": "conv",
        "relu": relu,
        "weight": weight,
        "bias": bias,
        "kernel": square(conv.kernel_size, "kernel_size", i),
        "stride": square(conv.stride, "stride", i),
        "padding": square(conv.padding, "padding", i),
        "groups": conv.groups,
    }
    return stage, end + relu


def max_pool(pool: nn.MaxPool2d, index: int) -> dict:
    if pool.ceil_mode or square(pool.dilation, "dilation", index) != 1:
        raise FoldError(f"layer {index}: MaxPool2d with ceil_mode or dilation does not fold")
    if square(pool.padding, "padding", index) != 0:
        raise FoldError(f"layer {index}: padded MaxPool2d does not fold")
    kernel = square(pool.kernel_size, "kernel_size", index)
    return {"kind": "maxpool", "kernel": kernel, "stride": square(pool.stride, "stride", index)}


def read_exported(path: Path) -> Exported:
    """The model a `python -m mnist.export` file holds; a file that is not one is one error."""
    try:  # a regular file of a bounded size: a FIFO would block the open, /dev/zero never end
        if not path.is_file():
            read_bytes(path, 0)  # raises, naming what it is: missing, a FIFO, a folder
        size = path.stat().st_size
    except (InputError, OSError) as exc:
        raise FoldError(str(exc)) from None  # "PATH: is a FIFO (named pipe), not a regular file"
    if size > MAX_WEIGHTS_BYTES:
        raise FoldError(
            f"{path}: {size:,} bytes, more than an exported model's {MAX_WEIGHTS_BYTES:,}"
        )
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise FoldError(f"{path}: cannot read the weights: {exc}") from None
    name = metadata.get("model", "")
    if name not in ARCHS:
        raise FoldError(f"{path}: metadata 'model' is {name!r}, not one of {', '.join(ARCHS)}")
    try:
        mean, std = float(metadata["normalize_mean"]), float(metadata["normalize_std"])
    except (KeyError, ValueError):
        mean = std = float("nan")
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise FoldError(f"{path}: metadata needs numbers normalize_mean and normalize_std > 0")
    model = build_model(name)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise FoldError(f"{path}: the weights do not fit model {name!r} ({first})") from None
    problem = output_problem(model)
    if problem:
        raise FoldError(f"{path}: {problem}")
    return Exported(name, model.eval(), mean, std)
