"""Read and check a CNN config (TOML; derive/configs/cnn.toml documents every key)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from derive.cnn.spec import (
    LAYER_TYPES,
    LOSSES,
    MAX_CHANNELS,
    MAX_KERNEL,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_SIDE,
    MAX_UNITS,
    CNNConfig,
    CNNSpec,
    CNNValues,
    Layer,
    SpecError,
)
from derive.config import ConfigError, is_cnn, read_toml

NETWORK_KEYS = ("input", "layers", "loss")
VALUES_KEYS = ("image", "target")
LAYER_KEYS = {
    "conv": ("type", "name", "channels", "kernel", "padding", "groups", "bias", "stride"),
    "batchnorm": ("type", "name", "eps"),
    "relu": ("type",),
    "maxpool": ("type", "kernel", "stride"),
    "gap": ("type",),
    "dense": ("type", "name", "units", "bias"),
    "flatten": ("type",),
    "softmax": ("type",),
}
# Sizes a PyTorch user may write as a pair (kernel_size=(3, 3)): one number when both agree.
SQUARE_KEYS = ("kernel", "stride", "padding")
# Keys a config may state though only one value is possible (as a PyTorch user writes them).
FIXED = {("conv", "stride"): 1, ("maxpool", "kernel"): 2, ("maxpool", "stride"): 2}


def load_cnn_config(path: str | Path) -> CNNConfig:
    """Load and check a CNN config file; ConfigError (one line) when it cannot be used."""
    data = read_toml(path)
    if not is_cnn(data):
        raise ConfigError(f"{path}: not a convolutional net (set network.input = [C, H, W])")
    return cnn_config_from_tables(data, str(path))


def cnn_config_from_tables(data: dict, source: str) -> CNNConfig:
    _keys(data, "", ("network", "values"), source)
    network, values = data.get("network"), data.get("values")
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: missing table [values]")
    _keys(network, "network.", NETWORK_KEYS, source)
    try:
        spec = _spec(network, source)
        shapes = spec.array_shapes()
        spec.shapes()
    except SpecError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if spec.n_classes < 2:
        raise ConfigError(
            f"{source}: the last layer gives {spec.n_classes} class score; softmax with "
            f"cross-entropy needs at least 2 (a softmax over one score is always 1)"
        )
    return CNNConfig(spec, _values(values, spec, shapes, source), source)


def _keys(table: dict, prefix: str, allowed, source: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{source}: unknown key '{prefix}{key}'; allowed: {', '.join(allowed)}"
            )


def _integer(table: dict, key: str, default: int | None, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise SpecError(f"{where}.{key} = {value!r}; give a whole number from {low} to {high}")
    return value


def _square(value: object, where: str, source: str) -> object:
    """[n, n] as n; any other pair refused (derive's kernels, strides and paddings are square)."""
    if not isinstance(value, list):
        return value
    if len(value) == 2 and value[0] == value[1] and type(value[0]) is int:
        return value[0]
    raise ConfigError(f"{source}: {where} = {value!r}; give one whole number (squares only)")


def _spec(network: dict, source: str) -> CNNSpec:
    shape = network.get("input")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(type(n) is int for n in shape)
        or not 1 <= shape[0] <= MAX_CHANNELS
        or not all(1 <= n <= MAX_SIDE for n in shape[1:])
    ):
        raise ConfigError(
            f"{source}: network.input = {shape!r}; give [channels, height, width], channels 1 to "
            f"{MAX_CHANNELS}, sides 1 to {MAX_SIDE}, e.g. [1, 5, 5]"
        )
    loss = network.get("loss", "cross_entropy")
    if loss not in LOSSES:
        raise ConfigError(f"{source}: network.loss = {loss!r}; allowed: {', '.join(LOSSES)}")
    raw = network.get("layers")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LAYERS:
        raise ConfigError(
            f"{source}: network.layers must be a list of 1 to {MAX_LAYERS} tables, "
            f'e.g. [{{ type = "conv", name = "conv1", channels = 2, kernel = 2 }}]'
        )
    layers = [_layer(entry, k, source) for k, entry in enumerate(raw)]
    for k, layer in enumerate(layers):
        after = layers[k + 1].kind if k + 1 < len(layers) else None
        before = layers[k - 1].kind if k else None
        if layer.kind == "flatten" and after != "dense" and not (after is None and before == "gap"):
            raise ConfigError(
                f"{source}: network.layers[{k}]: 'flatten' goes just before a 'dense' layer "
                f"(which flattens its input anyway) or after a final 'gap'"
            )
    if any(layer.kind == "softmax" for layer in layers[:-1]):
        raise ConfigError(
            f"{source}: network.layers: 'softmax' may only come last (the loss's own softmax)"
        )
    # flatten changes nothing derive computes: dense reads its input flattened, gap gives a vector;
    # a last softmax is the one the cross-entropy loss applies anyway.
    layers = [layer for layer in layers if layer.kind not in ("flatten", "softmax")]
    names = [layer.name for layer in layers if layer.name]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: two layers are named {name!r}; name each once")
    if layers[-1].kind != "dense" and layers[-1].kind != "gap":
        raise ConfigError(
            f"{source}: network.layers: the last layer gives the class scores: 'dense' or 'gap', "
            f"not {layers[-1].kind!r}"
        )
    return CNNSpec(tuple(shape), tuple(layers), loss)


def _layer(entry: object, k: int, source: str) -> Layer:
    where = f"network.layers[{k}]"
    if not isinstance(entry, dict) or entry.get("type") not in LAYER_TYPES:
        kind = entry.get("type") if isinstance(entry, dict) else entry
        raise ConfigError(f"{source}: {where}.type = {kind!r}; allowed: {', '.join(LAYER_TYPES)}")
    kind = entry["type"]
    _keys(entry, f"{where}.", LAYER_KEYS[kind], source)
    entry = {key: _square(value, f"{where}.{key}", source) if key in SQUARE_KEYS else value
             for key, value in entry.items()}  # fmt: skip
    for (fixed_kind, key), value in FIXED.items():
        if kind == fixed_kind and key in entry and entry[key] != value:
            raise ConfigError(
                f"{source}: {where}.{key} = {entry[key]!r}; derive's {kind} layers have "
                f"{key} {value}"
            )
    if "name" not in LAYER_KEYS[kind]:
        return Layer(kind)
    name = entry.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(
            f"{source}: {where}.name = {name!r}; give the layer a name such as 'conv1' "
            f"(letters, digits, _), under which [values.<name>] holds its arrays"
        )
    bias = entry.get("bias", True)
    if not isinstance(bias, bool):
        raise ConfigError(f"{source}: {where}.bias = {bias!r}; give true or false")
    try:
        if kind == "conv":
            return Layer(
                kind,
                name,
                channels=_integer(entry, "channels", None, 1, MAX_CHANNELS, where),
                kernel=_integer(entry, "kernel", None, 1, MAX_KERNEL, where),
                padding=_integer(entry, "padding", 0, 0, MAX_KERNEL - 1, where),
                groups=_integer(entry, "groups", 1, 1, MAX_CHANNELS, where),
                bias=bias,
            )
        if kind == "dense":
            units = _integer(entry, "units", None, 1, MAX_UNITS, where)
            return Layer(kind, name, channels=units, bias=bias)
    except SpecError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    eps = entry.get("eps", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
        raise ConfigError(f"{source}: {where}.eps = {eps!r}; give a number between 0 and 1")
    return Layer(kind, name, eps=float(eps))


def _array(value: object, shape: tuple[int, ...], key: str, source: str) -> np.ndarray:
    """A nested list of finite numbers of exactly `shape` (a flat list of as many is also read)."""
    try:
        array = np.array(value, dtype=float)
    except (ValueError, TypeError):
        array = None
    size = math.prod(shape)
    if array is None or array.dtype != float or array.size != size:
        raise ConfigError(
            f"{source}: values.{key} must hold {size} numbers, shape {list(shape)} "
            f"(nested lists, or one flat list)"
        )
    if array.shape not in (shape, without_leading_ones(shape)) and array.ndim != 1:
        raise ConfigError(
            f"{source}: values.{key} has shape {list(array.shape)}; expected {list(shape)}"
        )
    if not np.isfinite(array).all():
        raise ConfigError(f"{source}: values.{key} holds a value that is not a finite number")
    if any(isinstance(x, bool) for x in _flat(value)):
        raise ConfigError(f"{source}: values.{key} holds true/false where numbers belong")
    return array.reshape(shape)


def without_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A one-channel image may be written as rows of pixels: [1, 5, 5] read as [5, 5]."""
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _flat(value: object):
    if isinstance(value, list):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def _target(value: object, classes: int, source: str) -> np.ndarray:
    if type(value) is int:
        if not 0 <= value < classes:
            raise ConfigError(
                f"{source}: values.target = {value}; give a class from 0 to {classes - 1}, "
                f"or {classes} probabilities"
            )
        return np.eye(classes)[value]
    target = _array(value, (classes,), "target", source)
    if target.min() < 0 or not math.isclose(target.sum(), 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"{source}: values.target = {value!r}; probabilities must be >= 0 and sum to 1"
        )
    return target


def _values(table: dict, spec: CNNSpec, shapes: dict, source: str) -> CNNValues:
    _keys(table, "values.", (*VALUES_KEYS, *shapes), source)
    if "image" not in table:
        raise ConfigError(f"{source}: missing values.image; give {list(spec.input_shape)} numbers")
    image = _array(table["image"], spec.input_shape, "image", source)
    if "target" not in table:
        raise ConfigError(f"{source}: missing values.target (a class index, or probabilities)")
    target = _target(table["target"], spec.n_classes, source)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    count = 0
    # The config's order, then any layer it did not list (a missing array is an error below).
    for name in [*(k for k in table if k in shapes), *(k for k in shapes if k not in table)]:
        group = table.get(name)
        expected = shapes[name]
        if not isinstance(group, dict):
            raise ConfigError(
                f"{source}: missing table [values.{name}]; give {', '.join(expected)}"
            )
        _keys(group, f"values.{name}.", tuple(expected), source)
        arrays[name] = {}
        for key in [*(k for k in group if k in expected), *(k for k in expected if k not in group)]:
            if key not in group:
                raise ConfigError(
                    f"{source}: missing values.{name}.{key}; give {list(expected[key])} numbers"
                )
            arrays[name][key] = _array(group[key], expected[key], f"{name}.{key}", source)
            count += arrays[name][key].size
        if "running_var" in arrays[name] and arrays[name]["running_var"].min() < 0:
            raise ConfigError(f"{source}: values.{name}.running_var holds a negative variance")
    if count > MAX_PARAMETERS:
        raise ConfigError(f"{source}: {count:,} parameters; at most {MAX_PARAMETERS:,}")
    return CNNValues(image, target, arrays)
