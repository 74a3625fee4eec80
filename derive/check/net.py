"""The net a sheet models where the user gave no config: its sizes, from the inputs, neurons and
outputs its labels name when the weights it labels are exactly that net's (2-3-1: i1 i2, h1..h3,
o1, w1..w9), and the biases found in its own cells: labelled b1, b2, ... one per neuron they are
the net's biases (trained when the sheet has their gradients); one per layer (Mazur's b1 for both
hidden neurons, b2 for both outputs) each is shared by its layer's neurons, held fixed. What was
assumed is said in one note, with how to override it; the activation and loss stay the default's.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import sympy as sp

from derive.check.model import Model, equation
from derive.check.table import Sheet
from derive.config import MAX_WIDTH, Config, NetworkSpec, Values, default_config_path
from derive.labels import ACTIVATION, GRADIENT, INPUT, NET, PARAMETER, TARGET, normalize

BIAS = re.compile(r"^b(?P<j>\d{1,3})$")


def sheet_labels(sheets: list[Sheet]) -> list[str]:
    """Every text of the sheet a column or a cell is labelled with, normalized."""
    found = [normalize(c.label) for s in sheets for t in s.tables for c in t.columns]
    texts = [c.value for s in sheets for c in s.loose.values() if isinstance(c.value, str)]
    return found + [normalize(text) for text in texts]


def sheet_layers(labels: list[str]) -> tuple[int, ...] | None:
    """The layer sizes the labels show (i1 i2, h1 h2 h3, o1 or t1), when the weights they label
    (w1 ... w9) are exactly that net's; else None."""
    top: dict[str, int] = {}
    for text in labels:
        for pattern, letter in ((INPUT, "i"), (TARGET, "o"), (PARAMETER, None)):
            m = pattern.match(text)
            if m:
                name = letter + m["j"] if letter else m["name"]
                top[name[0]] = max(top.get(name[0], 0), int(name[1:]))
        for pattern in (NET, ACTIVATION):
            m = pattern.match(text)
            name = m and (m["name"] or m["after"])
            if name and name[0] in "hko":
                top[name[0]] = max(top.get(name[0], 0), int(name[1:]))
    layers = tuple(top[k] for k in "ihko" if top.get(k))
    if len(layers) < 3 or layers[0] != top.get("i") or layers[-1] != top.get("o"):
        return None
    weights = sum(a * b for a, b in itertools.pairwise(layers))
    if top.get("w") != weights or max(layers) > MAX_WIDTH:
        return None
    return layers


def sheet_net(sheets: list[Sheet], config: Config) -> tuple[Config, str | None, bool]:
    """(the config to check with, a note saying what was assumed, whether each bias is shared by
    its layer): with the default config, the net of the sizes and biases the sheet labels."""
    spec = config.network
    if spec.bias != "none" or config.source != str(default_config_path()):
        return config, None, False
    labels = sheet_labels(sheets)
    layers = sheet_layers(labels) or spec.layers
    found = sorted({int(m["j"]) for m in map(BIAS.match, labels) if m})
    if layers == spec.layers and not found:
        return config, None, False
    neurons, n_layers = sum(layers[1:]), len(layers) - 1
    net = "-".join(map(str, layers))
    how = "give --config to check against another net"
    trained = any((m := GRADIENT.match(text)) and m["name"][0] == "b" for text in labels)
    names = ", ".join(f"b{j}" for j in found)
    shared, bias, said = False, "none", "no biases"
    if found and found == list(range(1, neurons + 1)):
        bias = "trained" if trained else "fixed"
        said = f"biases {names}, one per neuron, {'trained' if trained else 'held fixed'}"
    elif found and found == list(range(1, n_layers + 1)):
        shared, bias = True, "fixed"
        said = f"biases {names}, one per layer shared by its neurons, held fixed"
    elif found:
        said = (
            f"no biases (it labels {names}: neither one per neuron, {neurons}, nor one per "
            f"layer, {n_layers})"
        )
    checked = Config(
        NetworkSpec(layers, (spec.activations[-1],) * n_layers, spec.loss, bias),
        Values(
            (0.0,) * layers[0],
            (0.0,) * layers[-1],
            (0.0,) * sum(a * b for a, b in itertools.pairwise(layers)),
            (0.0,) * (neurons if bias != "none" else 0),
        ),
        config.source,
    )
    if layers == spec.layers and bias == "none":
        checked = config
    activation = f"{spec.activations[-1]}, {spec.loss}"
    return checked, f"the net from the sheet: {net}, {activation}, {said} ({how})", shared


def shared_biases(model: Model) -> Model:
    """The model with each layer's neurons sharing one bias, named b1 (first hidden layer), b2
    (the next) ... as the sheet names them."""
    shared = {
        neuron.bias: sp.Symbol(f"b{k}", real=True)
        for k, layer in enumerate(model.network.layers, 1)
        for neuron in layer
    }
    equations = {key: equation(key, e.expr.xreplace(shared)) for key, e in model.equations.items()}
    definitions = {s: d.xreplace(shared) for s, d in model.definitions.items()}
    return replace(model, equations=equations, definitions=definitions)
