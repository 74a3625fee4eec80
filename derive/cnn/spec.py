"""A convolutional network as data: image input, layers, loss, and the values of its parameters.

A CNN config is TOML (derive/configs/cnn.toml documents every key). Its [network] table names the
input's shape and the layers in order; [values] holds the image, the target and, per named layer,
its arrays as nested lists. Layers:

- conv: 2-D convolution, stride 1; `channels` out, square `kernel`, `padding` (zeros, every side),
  `groups` (depthwise when groups = input channels = channels), `bias` (default true).
  Arrays: weight (channels, in/groups, kernel, kernel), bias (channels).
- batchnorm: evaluation-mode BatchNorm, an affine map per channel with its running statistics.
  Arrays: weight, bias (trained), running_mean, running_var (held), one per channel; `eps`.
- relu; maxpool (2x2, stride 2, odd edges dropped, as torch's MaxPool2d(2)); gap (global average
  pool to one number per channel).
- dense: a fully connected layer on the flattened input; `units` out, `bias` (default true).
  Arrays: weight (units, inputs), bias (units).

The loss is softmax with cross-entropy on the last layer's outputs: E = -sum_k t_k ln p_k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYER_TYPES = ("conv", "batchnorm", "relu", "maxpool", "gap", "dense", "flatten", "softmax")
LOSSES = ("cross_entropy",)
# Held to sizes a student's machine computes in well under a second: nano, the largest model the
# project trains, has 3,966 parameters on a 1x28x28 image.
MAX_LAYERS = 64
MAX_SIDE = 64
MAX_CHANNELS = 256
MAX_KERNEL = 7
MAX_UNITS = 1024
MAX_PARAMETERS = 200_000


class SpecError(ValueError):
    """A CNN spec that cannot be used; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str = ""  # layers with parameters are named; their arrays are values.<name>.<array>
    channels: int = 0  # conv: output channels; dense: units
    kernel: int = 1
    padding: int = 0
    groups: int = 1
    bias: bool = True
    eps: float = 1e-5

    @property
    def trained_arrays(self) -> tuple[str, ...]:
        if self.kind in ("conv", "dense"):
            return ("weight", "bias") if self.bias else ("weight",)
        if self.kind == "batchnorm":
            return ("weight", "bias")
        return ()

    @property
    def held_arrays(self) -> tuple[str, ...]:
        return ("running_mean", "running_var") if self.kind == "batchnorm" else ()


@dataclass(frozen=True)
class CNNSpec:
    input_shape: tuple[int, int, int]  # channels, height, width
    layers: tuple[Layer, ...]
    loss: str = "cross_entropy"

    def shapes(self) -> list[tuple[int, ...]]:
        """The output shape of every layer, in order (SpecError where a layer does not fit)."""
        shape: tuple[int, ...] = self.input_shape
        shapes = []
        for layer in self.layers:
            shape = output_shape(layer, shape)
            shapes.append(shape)
        return shapes

    def array_shapes(self) -> dict[str, dict[str, tuple[int, ...]]]:
        """Each named layer's arrays and their shapes: {"conv1": {"weight": (2, 1, 2, 2), ...}}."""
        found: dict[str, dict[str, tuple[int, ...]]] = {}
        shape: tuple[int, ...] = self.input_shape
        for layer in self.layers:
            if layer.name:
                found[layer.name] = parameter_shapes(layer, shape)
            shape = output_shape(layer, shape)
        return found

    @property
    def n_classes(self) -> int:
        return int(np.prod(self.shapes()[-1]))

    def multiply_adds(self) -> int:
        """About how many multiply-adds one forward pass of one image takes (a backward pass
        takes about twice as many): each weight once per output position."""
        total = 0
        shapes = self.array_shapes().values()
        for shape, arrays in zip(self.weighted_outputs(), shapes, strict=True):
            positions = int(np.prod(shape[1:])) if len(shape) == 3 else 1
            total += positions * int(np.prod(arrays.get("weight", (1,))))
        return total

    def weighted_outputs(self) -> list[tuple[int, ...]]:
        """The output shape of each named layer, in order."""
        return [s for layer, s in zip(self.layers, self.shapes(), strict=True) if layer.name]


@dataclass(frozen=True)
class CNNValues:
    image: np.ndarray  # (channels, height, width)
    target: np.ndarray  # (classes,): probabilities, one-hot for a class index
    # name -> array name -> array, in the order the config lists them
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def trained(self, spec: CNNSpec) -> dict[str, np.ndarray]:
        """The trained arrays as "layer.array" -> array, in the config's order."""
        kinds = {layer.name: layer for layer in spec.layers if layer.name}
        return {
            f"{name}.{key}": array
            for name, group in self.arrays.items()
            for key, array in group.items()
            if key in kinds[name].trained_arrays
        }


@dataclass(frozen=True)
class CNNConfig:
    network: CNNSpec
    values: CNNValues
    source: str = "<config>"


def output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layer.kind == "dense":
        return (layer.channels,)
    if len(shape) != 3:
        raise SpecError(f"layer {layer.kind!r} needs an image (channels, height, width) as input")
    c, h, w = shape
    if layer.kind == "conv":
        side_h = h + 2 * layer.padding - layer.kernel + 1
        side_w = w + 2 * layer.padding - layer.kernel + 1
        if side_h < 1 or side_w < 1:
            raise SpecError(
                f"conv {layer.name!r}: a {layer.kernel}x{layer.kernel} kernel does not fit "
                f"a {h}x{w} input with padding {layer.padding}"
            )
        if c % layer.groups or layer.channels % layer.groups:
            raise SpecError(
                f"conv {layer.name!r}: groups = {layer.groups} must divide its {c} input and "
                f"{layer.channels} output channels"
            )
        return (layer.channels, side_h, side_w)
    if layer.kind == "maxpool":
        if h < 2 or w < 2:
            raise SpecError(f"maxpool: a 2x2 window does not fit a {h}x{w} input")
        return (c, h // 2, w // 2)
    if layer.kind == "gap":
        return (c,)
    return shape  # relu, batchnorm


def parameter_shapes(layer: Layer, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The shapes of a layer's arrays given its input shape."""
    units = layer.channels
    if layer.kind == "conv":
        weight = (units, shape[0] // layer.groups, layer.kernel, layer.kernel)
        return {"weight": weight, **({"bias": (units,)} if layer.bias else {})}
    if layer.kind == "dense":
        weight = (units, int(np.prod(shape)))
        return {"weight": weight, **({"bias": (units,)} if layer.bias else {})}
    if layer.kind == "batchnorm":
        return {key: (shape[0],) for key in ("weight", "bias", "running_mean", "running_var")}
    return {}


def parameter_names(spec: CNNSpec, values: CNNValues) -> list[str]:
    """Every trained scalar by name, in the config's order: conv1.weight[0,0,1,1], ..."""
    names = []
    for key, array in values.trained(spec).items():
        names += [f"{key}[{','.join(map(str, index))}]" for index in np.ndindex(array.shape)]
    return names
