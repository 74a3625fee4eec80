"""The net a sheet models where the user gave no config: its sizes, from the inputs, neurons and
outputs its labels name when the weights it labels are exactly that net's (2-3-1: i1 i2, h1..h3,
o1, w1..w9), and the biases found in its own cells: labelled b1, b2, ... one per neuron they are
the net's biases (trained when the sheet has their gradients); one per layer (Mazur's b1 for both
hidden neurons, b2 for both outputs) each is shared by its layer's neurons, held fixed. Then the
activations, the loss and biases typed as numbers in formulas, as its formulas or numbers show
them (infer.py). What was read and what assumed is said in one note, with how to override it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import sympy as sp

from derive.check.infer import Shown, layer_name, shown
from derive.check.model import Model, equation
from derive.check.table import Sheet
from derive.config import MAX_WIDTH, Config, NetworkSpec, Values, default_config_path
from derive.labels import ACTIVATION, GRADIENT, INPUT, NET, PARAMETER, TARGET, normalize
from derive.network import Network, build_network

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


@dataclass(frozen=True)
class SheetNet:
    """The config to check with, the sheets located with its labels, the note saying what was
    read from the sheet and assumed, and whether each bias is shared by its layer's neurons."""

    config: Config
    sheets: list[Sheet]
    note: str | None = None
    shared: bool = False


def sheet_net(
    sheets: list[Sheet], config: Config, relocate: Callable[[Network], list[Sheet]]
) -> SheetNet:
    """With the default config, the net the sheet models: its sizes and biases from its labels,
    the sheets located again with that net's labels (`relocate`) where they differ, then its
    activations, loss and typed biases from its formulas or numbers (infer.py)."""
    spec = config.network
    if spec.bias != "none" or config.source != str(default_config_path()):
        shows = sheet_layers(sheet_labels(sheets))
        if shows is None or shows == spec.layers:
            return SheetNet(config, sheets)
        said = f"the sheet's labels show a {sizes(shows)} net; it is checked as {config.source}'s "
        return SheetNet(config, sheets, said + sizes(spec.layers))
    labels = sheet_labels(sheets)
    layers = sheet_layers(labels) or spec.layers
    bias, said, shared = labelled_biases(labels, layers)
    sized = NetworkSpec(layers, (spec.activations[-1],) * (len(layers) - 1), spec.loss, bias)
    if sized != spec:  # read again with the labels of the net the sheet models
        sheets = relocate(build_network(sized))
    network = build_network(sized)
    found = shown(sheets, network)
    checked, assumed = modelled(sized, found, network)
    if found.biases:
        checked = replace(checked, bias="fixed")
        said = typed_biases(network, found.biases)
    if checked.activations[-1] == "softmax" != sized.activations[-1]:  # its lse_o, s_o labels
        sheets = relocate(build_network(checked))
    if checked == spec:
        return SheetNet(config, sheets, note(layers, checked, said, assumed) if assumed else None)
    values = config.values
    if layers != spec.layers:
        values = Values((0.0,) * layers[0], (0.0,) * layers[-1], (0.0,) * checked.n_weights)
    biases = found.biases or (0.0,) * checked.n_biases
    values = replace(values, biases=biases if checked.bias != "none" else ())
    said = note(layers, checked, said, assumed)
    return SheetNet(Config(checked, values, config.source), sheets, said, shared)


def sizes(layers: tuple[int, ...]) -> str:
    return "-".join(map(str, layers))


def note(layers: tuple[int, ...], spec: NetworkSpec, biases: str, assumed: list[str]) -> str:
    """The one line saying the net the sheet was checked as, what was assumed, how to override."""
    how = "; ".join([*assumed, "give --config to check against another net"])
    words = f"{activation_words(spec)}, {spec.loss}, {biases}"
    return f"the net from the sheet: {sizes(layers)}, {words} ({how})"


def labelled_biases(labels: list[str], layers: tuple[int, ...]) -> tuple[str, str, bool]:
    """(bias mode, what is said of them, whether each is shared by its layer) from the biases
    the sheet labels: b1, b2, ... one per neuron, or one per layer (Mazur's b1 and b2)."""
    found = sorted({int(m["j"]) for m in map(BIAS.match, labels) if m})
    neurons, n_layers = sum(layers[1:]), len(layers) - 1
    trained = any((m := GRADIENT.match(text)) and m["name"][0] == "b" for text in labels)
    names = ", ".join(f"b{j}" for j in found)
    if len(found) > 8 and found == list(range(found[0], found[-1] + 1)):
        names = f"b{found[0]} to b{found[-1]}"  # not 192 names on one line
    if found and found == list(range(1, neurons + 1)):
        mode = "trained" if trained else "fixed"
        return (
            mode,
            f"biases {names}, one per neuron, {'trained' if trained else 'held fixed'}",
            False,
        )
    if found and found == list(range(1, n_layers + 1)):
        return "fixed", f"biases {names}, one per layer shared by its neurons, held fixed", True
    if found:
        return (
            "none",
            (
                f"no biases (it labels {names}: neither one per neuron, {neurons}, nor one per "
                f"layer, {n_layers})"
            ),
            False,
        )
    return "none", "no biases", False


def modelled(sized: NetworkSpec, found: Shown, network: Network) -> tuple[NetworkSpec, list[str]]:
    """The spec with the activations and loss the sheet shows, and a phrase for each thing
    assumed: the default's where it shows none. derive takes softmax outputs with cross_entropy
    only: one shown, the other is taken with it; shown with another, both are the default's."""
    default, last = sized.activations[-1], len(sized.activations) - 1
    activations, loss = list(found.activations), found.loss
    assumed = []
    if activations[last] == "softmax" and loss is None:
        loss = "cross_entropy"
        assumed.append("the loss taken as cross_entropy, derive's loss for softmax outputs")
    if loss == "cross_entropy" and activations[last] is None and len(network.errors) > 1:
        activations[last] = "softmax"
        assumed.append("the outputs taken as softmax, derive's for cross_entropy")
    for k, activation in enumerate(activations):
        if activation is None:
            activations[k] = default
            assumed.append(unshown(layer_name(network, k), default, found))
    if loss is None:
        loss = sized.loss
        assumed.append(unshown("the loss", loss, found))
    if (activations[last] == "softmax") != (loss == "cross_entropy"):
        assumed.append(
            f"its {activations[last]} outputs with the loss {loss} are no net derive models: "
            f"checked as {default}, {sized.loss}"
        )
        activations[last], loss = default, sized.loss
    assumed += found.alike
    return replace(sized, activations=tuple(activations), loss=loss), assumed


def unshown(what: str, default: str, found: Shown) -> str:
    """'the loss assumed half_sse: no column shows it'."""
    why = "its columns are none of derive's" if what in found.unmatched else "no column shows it"
    return f"{what} assumed {default}: {why}"


def activation_words(spec: NetworkSpec) -> str:
    """'sigmoid' for one activation throughout, else 'tanh then sigmoid', layer by layer."""
    if len(set(spec.activations)) == 1:
        return spec.activations[0]
    return " then ".join(spec.activations)


def typed_biases(network: Network, biases: tuple[float, ...]) -> str:
    """'biases held fixed at 0.35 (h1, h2), 0.6 (o1, o2), as its weighted inputs show': one
    number a layer (infer.py)."""
    layers = itertools.accumulate(len(layer) for layer in network.layers)
    listed = ", ".join(
        f"{biases[end - 1]:g} ({', '.join(n.name for n in layer)})"
        for layer, end in zip(network.layers, layers, strict=True)
    )
    return f"biases held fixed at {listed}, as its weighted inputs show"


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
    return replace(model, equations=equations, definitions=definitions, points={})
