"""The net a sheet models where the user gave no config: biases found in the sheet's own cells.
Labelled b1, b2, ... one per neuron they are the net's biases (trained when the sheet has their
gradients); one per layer (Mazur's b1 for both hidden neurons, b2 for both outputs) each is shared
by its layer's neurons, held fixed. What was assumed is said in one note, with how to override it.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from derive.check.model import Model, equation
from derive.check.table import Sheet
from derive.config import Config, default_config_path
from derive.labels import GRADIENT, normalize

BIAS = re.compile(r"^b(?P<j>\d{1,3})$")


def sheet_labels(sheets: list[Sheet]) -> list[str]:
    """Every text of the sheet a column or a cell is labelled with, normalized."""
    found = [normalize(c.label) for s in sheets for t in s.tables for c in t.columns]
    texts = [c.value for s in sheets for c in s.loose.values() if isinstance(c.value, str)]
    return found + [normalize(text) for text in texts]


def sheet_net(sheets: list[Sheet], config: Config) -> tuple[Config, str | None, bool]:
    """(the config to check with, a note saying what was assumed, whether each bias is shared by
    its layer): the default net with the biases the sheet labels, else `config` as it is."""
    spec = config.network
    if spec.bias != "none" or config.source != str(default_config_path()):
        return config, None, False
    labels = sheet_labels(sheets)
    found = sorted({int(m["j"]) for m in map(BIAS.match, labels) if m})
    if not found:
        return config, None, False
    neurons, layers = sum(spec.layers[1:]), len(spec.layers) - 1
    names = ", ".join(f"b{j}" for j in found)
    trained = any((m := GRADIENT.match(text)) and m["name"][0] == "b" for text in labels)
    net = "-".join(map(str, spec.layers))
    how = "give --config to check against another net"
    if found == list(range(1, neurons + 1)):
        shared = False
        said = f"{names}, one bias per neuron, {'trained' if trained else 'held fixed'}"
    elif found == list(range(1, layers + 1)):
        shared, trained = True, False
        said = f"{names}, one bias per layer shared by its neurons, held fixed"
    else:
        note = (
            f"the sheet labels {names}: neither one bias per neuron ({neurons}) nor one per "
            f"layer ({layers}); checked as the {net} net without biases ({how})"
        )
        return config, note, False
    checked = Config(
        replace(spec, bias="trained" if trained else "fixed"),
        replace(config.values, biases=(0.0,) * neurons),
        config.source,
    )
    return checked, f"biases from the sheet: {said}, in the {net} net ({how})", shared


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
