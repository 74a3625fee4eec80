"""Read and check a network spec from TOML (see configs/classic.toml for every key, documented)."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from derive.operations import ACTIVATIONS
from safeio.inputs import InputError, read_text

OUTPUT_ONLY_ACTIVATIONS = ("softmax",)
LOSSES = ("half_sse", "mse", "cross_entropy")
BIAS_MODES = ("none", "fixed", "trained")
MAX_LAYERS = 4
MAX_WIDTH = 64

NETWORK_KEYS = ("layers", "activation", "loss", "bias")
VALUES_KEYS = ("inputs", "targets", "weights", "biases")
# The largest network (4 layers of 64) has 12,544 weights and biases: ~300 KB written out in full.
MAX_CONFIG_BYTES = 1 << 20
# A config nests two levels ([values] and its lists); Python's TOML reader recurses once per level
# and would hit Python's recursion limit a few hundred levels down.
MAX_NESTING = 16
# What the nesting count steps over: text without brackets, quotes or comments, and each kind of
# string and a comment. Possessive (*+, ++): a string is scanned once, never backtracked into, so
# counting is linear in the text whatever it holds (a megabyte of backslashes included).
TOML_PLAIN = re.compile(r"[^\"'#\[\]{}]++")
TOML_STRINGS = {
    '"""': re.compile(r'"""(?:[^"\\]++|\\.|"(?!""))*+"""(?:""?(?!"))?', re.S),
    "'''": re.compile(r"'''(?:[^']++|'(?!''))*+'''(?:''?(?!'))?"),
    '"': re.compile(r'"(?:[^"\\\n]++|\\.)*+"'),
    "'": re.compile(r"'[^'\n]*+'"),
    "#": re.compile(r"#[^\n]*+"),
}


class ConfigError(ValueError):
    """A config that cannot be used; one line naming the file, the key and what is allowed."""


@dataclass(frozen=True)
class NetworkSpec:
    layers: tuple[int, ...]
    activations: tuple[str, ...]  # one per non-input layer; "softmax" only on the output layer
    loss: str
    bias: str

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.layers, self.layers[1:], strict=False))

    @property
    def n_biases(self) -> int:
        return 0 if self.bias == "none" else sum(self.layers[1:])


@dataclass(frozen=True)
class Values:
    inputs: tuple[float, ...]
    targets: tuple[float, ...]
    weights: tuple[float, ...]
    biases: tuple[float, ...] = ()


@dataclass(frozen=True)
class Config:
    network: NetworkSpec
    values: Values
    source: str = "<config>"


def default_config_path() -> Path:
    return Path(__file__).parent / "configs" / "classic.toml"


def load_config(path: str | Path | None = None) -> Config:
    """Load and check a config file; the classic 2-2-2 network when `path` is None."""
    path = Path(path) if path is not None else default_config_path()
    return config_from_tables(read_toml(path), str(path))


def read_toml(path: str | Path) -> dict:
    """A config file's TOML tables, read within MAX_CONFIG_BYTES and MAX_NESTING."""
    try:
        text = read_text(path, MAX_CONFIG_BYTES)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str) -> dict:
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise ConfigError(
            f"{source}: arrays or tables nested {depth} deep; at most {MAX_NESTING} are read"
        )
    try:
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of over 4,300 digits
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # nesting the count above did not see
        raise ConfigError(
            f"{source}: nested too deep; at most {MAX_NESTING} levels are read"
        ) from None


def is_cnn(data: dict) -> bool:
    """Whether TOML tables describe a convolutional net (derive/cnn/config.py reads those)."""
    network = data.get("network")
    return isinstance(network, dict) and "input" in network


def parse_config(text: str, source: str = "<config>") -> Config:
    return config_from_tables(parse_toml(text, source), source)


def config_from_tables(data: dict, source: str) -> Config:
    if is_cnn(data):
        raise ConfigError(
            f"{source}: a convolutional net (network.input is set); this command takes a "
            f"dense net's config (layers = [2, 2, 2] ...)"
        )
    _check_keys(data, "", ("network", "values"), source)
    network_table = _table(data, "network", source)
    values_table = _table(data, "values", source)
    _check_keys(network_table, "network.", NETWORK_KEYS, source)
    _check_keys(values_table, "values.", VALUES_KEYS, source)
    network = _network_spec(network_table, source)
    return Config(network, _values(values_table, network, source), source)


def nesting_depth(text: str) -> int:
    """How deep brackets and braces nest in TOML text, outside its strings and comments, in one
    pass; it stops at a string that does not end (invalid TOML: tomllib then says where)."""
    depth = deepest = position = 0
    while position < len(text):
        char = text[position]
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            position += 1
            continue
        if char in "]}":
            depth -= 1
            position += 1
            continue
        opener = next((o for o in TOML_STRINGS if text.startswith(o, position)), None)
        match = (TOML_STRINGS[opener] if opener else TOML_PLAIN).match(text, position)
        if match is None:
            break
        position = match.end()
    return deepest


def _table(data: dict, name: str, source: str) -> dict:
    table = data.get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: missing table [{name}]")
    return table


def _check_keys(table: dict, prefix: str, allowed: tuple[str, ...], source: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{source}: unknown key '{prefix}{key}'; allowed: {', '.join(allowed)}"
            )


def _choice(table: dict, key: str, allowed: tuple[str, ...], default: str, source: str) -> str:
    value = table.get(key, default)
    if value not in allowed:
        raise ConfigError(
            f"{source}: network.{key} = {value!r} is not allowed; use one of: {', '.join(allowed)}"
        )
    return value


def _network_spec(table: dict, source: str) -> NetworkSpec:
    layers = table.get("layers")
    if (
        not isinstance(layers, list)
        or not all(type(n) is int for n in layers)
        or not 2 <= len(layers) <= MAX_LAYERS
        or not all(1 <= n <= MAX_WIDTH for n in layers)
    ):
        raise ConfigError(
            f"{source}: network.layers = {layers!r}; give 2 to {MAX_LAYERS} layer sizes, "
            f"integers from 1 to {MAX_WIDTH}, e.g. [2, 2, 2]"
        )
    loss = _choice(table, "loss", LOSSES, "half_sse", source)
    if loss == "cross_entropy" and layers[-1] < 2:
        raise ConfigError(
            f"{source}: network.layers = {layers!r}: loss = 'cross_entropy' needs at least 2 "
            f"outputs (a softmax over one output is always 1)"
        )
    bias = _choice(table, "bias", BIAS_MODES, "none", source)
    activations = _activations(table, len(layers) - 1, loss, source)
    return NetworkSpec(tuple(layers), activations, loss, bias)


def _activations(table: dict, n: int, loss: str, source: str) -> tuple[str, ...]:
    raw = table.get("activation", "sigmoid")
    names = [raw] * n if isinstance(raw, str) else raw
    if not isinstance(names, list) or len(names) != n:
        raise ConfigError(
            f"{source}: network.activation = {raw!r}; give one name or a list of {n} "
            f"(one per non-input layer)"
        )
    if loss == "cross_entropy":
        if isinstance(raw, list) and names[-1] not in OUTPUT_ONLY_ACTIVATIONS:
            raise ConfigError(
                f"{source}: network.activation: with loss = 'cross_entropy' the output layer "
                f"is a softmax; its entry must be 'softmax', not {names[-1]!r}"
            )
        names = [*names[:-1], "softmax"]
    for name in names[: n - 1] if loss == "cross_entropy" else names:
        if name not in ACTIVATIONS:
            raise ConfigError(
                f"{source}: network.activation = {name!r} is not allowed; use one of: "
                f"{', '.join(ACTIVATIONS)} ('softmax' only for the output layer with "
                f"loss = 'cross_entropy')"
            )
    return tuple(names)


def _numbers(table: dict, key: str, count: int, what: str, source: str) -> tuple[float, ...]:
    value = table.get(key)
    if value is None:
        raise ConfigError(f"{source}: missing values.{key}; give {count} numbers ({what})")
    if not isinstance(value, list) or len(value) != count:
        got = f"{len(value)} values" if isinstance(value, list) else repr(value)
        raise ConfigError(f"{source}: values.{key} has {got}; expected {count} numbers ({what})")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ConfigError(f"{source}: values.{key}[{index}] = {item!r} is not a finite number")
    return tuple(float(item) for item in value)


def _values(table: dict, spec: NetworkSpec, source: str) -> Values:
    layers = spec.layers
    inputs = _numbers(table, "inputs", layers[0], "one per input neuron", source)
    targets = _numbers(table, "targets", layers[-1], "one per output neuron", source)
    if spec.loss == "cross_entropy" and min(targets) < 0:
        raise ConfigError(
            f"{source}: values.targets = {list(targets)!r}: with loss = 'cross_entropy' targets "
            f"are probabilities, each >= 0"
        )
    weights = _numbers(
        table, "weights", spec.n_weights, "one per connection, layer by layer", source
    )
    if spec.bias == "none":
        if "biases" in table:
            raise ConfigError(
                f"{source}: values.biases given but network.bias = 'none'; "
                f"set bias = 'fixed' or 'trained', or remove biases"
            )
        return Values(inputs, targets, weights)
    biases = _numbers(table, "biases", spec.n_biases, "one per non-input neuron", source)
    return Values(inputs, targets, weights, biases)
