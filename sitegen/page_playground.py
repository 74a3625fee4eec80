"""The Playground: each network's derivation printed as JavaScript, and the shape the page draws.

The page offers the build's network and Matt Mazur's variant with fixed and with trained biases;
each is derived from its own config and printed to its own module, generated/playground/NAME.js.
The page's script builds the form, runs gradient descent and lays out the diagram from the
description below (neurons by column, edges by weight), so this module draws nothing itself.
"""

from __future__ import annotations

from pathlib import Path

from derive import table as iteration
from derive.config import ConfigError, default_config_path, load_config
from derive.evaluate import Evaluator, evaluator_for
from derive.javascript import javascript_module
from derive.network import Network
from sitegen.page_explained import UPDATE_LR
from sitegen.site_common import PageData, Site, SiteError, script_json, site_path

MAX_STEPS = 10_000  # every run is recomputed on each edit: 6 rates x 10,000 steps (Mazur's 10,000)
# A slider spans its value +- this (2 units in about 85 px: 0.02 a pixel), centred on the value
# again when it is let go or the value is typed; the text field beside it takes any finite value,
# and its arrow keys step by 0.01 (with Shift 0.1, with Alt 0.001).
SLIDER_SPAN = 1.0
CONFIGS = default_config_path().parent
# Matt Mazur's names for his two fixed biases, each shared by a layer's neurons (the config has one
# per neuron): the form shows one field for each and the diagram writes his name by each neuron.
MAZUR_BIASES = (
    {"name": "b1", "label": "b1 (hidden layer)", "members": ["b1", "b2"]},
    {"name": "b2", "label": "b2 (output layer)", "members": ["b3", "b4"]},
)
# The networks offered besides the build's own: config file -> the name the switch shows, and
# the biases shared by name (none: one per neuron, each moving on its own when trained).
VARIANTS = {
    CONFIGS / "mazur.toml": ("Mazur: biases fixed", MAZUR_BIASES),
    CONFIGS / "mazur_trained_biases.toml": ("Mazur: biases trained", ()),
}


def build(site: Site) -> PageData:
    own = site.settings.derive_config
    networks = [(own, site.config, site.evaluator, f"{own.stem} (this site's network)", ())]
    for path, (title, shared) in VARIANTS.items():
        if path.resolve() != own.resolve():
            config = _load(path)
            networks.append((path, config, evaluator_for(config.network), title, shared))
    described, files = [], {}
    for path, config, evaluator, title, shared in networks:
        key = _unique(path.stem, {d["key"] for d in described})
        module = site_path(f"playground/{key}.js")
        shown = site.settings.shown(path)
        files[module] = javascript_module(evaluator, config.values, shown)
        described.append(describe(evaluator, key, title, shown, f"../{module}", shared))
    context = {
        "source": site.source,
        "networks": script_json(described),
        "rates": [float(lr) for lr in iteration.LEARNING_RATES],
        "shown": UPDATE_LR,  # the rate shown first: the one Backpropagation explained steps with
        "steps": iteration.STEPS,
        "max_steps": MAX_STEPS,
        "range": SLIDER_SPAN,
        "variants": [site.settings.shown(p) for p in VARIANTS],
    }
    return PageData(context, files)


def _load(path: Path):
    try:
        return load_config(path)
    except ConfigError as exc:
        raise SiteError(f"playground network: {exc}") from None


def _unique(key: str, taken: set[str]) -> str:
    return key if key not in taken else _unique(f"{key}-2", taken)


def describe(
    evaluator: Evaluator, key: str, title: str, source: str, module: str, shared=()
) -> dict:
    """What the page needs to draw and name the network: columns of neurons (inputs first),
    edges by weight, each output's error, the biases shared by name, and where the printed
    module lies."""
    network: Network = evaluator.network
    biases = {b.name for b in network.biases}
    if any(not set(s["members"]) <= biases for s in shared) or (
        shared and network.spec.bias != "fixed"
    ):
        raise SiteError(f"playground: {source}: shared biases {shared} are not its fixed biases")
    bias_name = {m: s["name"] for s in shared for m in s["members"]}
    neuron_of = {n.out: n.name for n in network.neurons} | {s: s.name for s in network.inputs}
    columns = [[{"name": s.name, "value": s.name, "activation": None} for s in network.inputs]]
    columns += [
        [
            {
                "name": n.name,
                "value": n.out.name,
                "net": n.net.name,
                "activation": n.activation,
                "bias": n.bias.name if n.bias is not None else None,
                "biasLabel": bias_name.get(n.bias.name) if n.bias is not None else None,
            }
            for n in layer
        ]
        for layer in network.layers
    ]
    return {
        "key": key,
        "title": title,
        "source": source,
        "module": module,
        "bias": network.spec.bias,
        "shared": list(shared),
        "loss": network.spec.loss,
        "columns": columns,
        "edges": [
            {"weight": w.symbol.name, "from": neuron_of[w.source], "to": w.dest.name}
            for w in network.weights
        ],
        "errors": [
            {"name": e.name, "output": n.name, "target": t.name}
            for e, n, t in zip(network.errors, network.outputs, network.targets, strict=True)
        ],
    }
