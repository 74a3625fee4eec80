"""The Playground: the derivation printed as JavaScript, and the form that drives it."""

from __future__ import annotations

from derive import table as iteration
from derive.javascript import javascript_module
from sitegen.site_common import PageData, Site, number, site_path
from sitegen.svg_network import network_svg

MAX_STEPS = 5000  # the page recomputes on every key press: keep a run well under a second
WEIGHT_RANGE = 4.0  # the sliders span -4..4; the number field takes any finite value


def build(site: Site) -> PageData:
    config, evaluator, source = site.config, site.evaluator, site.source
    network = evaluator.network
    v = config.values
    groups = [
        ("Inputs", zip(network.inputs, v.inputs, strict=True), False),
        ("Targets", zip(network.targets, v.targets, strict=True), False),
        ("Weights", zip(network.weight_symbols, v.weights, strict=True), True),
        ("Biases", zip(network.biases, v.biases, strict=True), True),
    ]
    context = {
        "source": source,
        "groups": [
            {"title": title, "slider": slider, "fields": [(s.name, number(x)) for s, x in pairs]}
            for title, pairs, slider in groups
        ],
        "rates": [number(lr) for lr in iteration.LEARNING_RATES],
        "steps": iteration.STEPS,
        "max_steps": MAX_STEPS,
        "range": WEIGHT_RANGE,
        # The same drawing as on Backpropagation explained, inline so the page can write on it.
        "diagram": network_svg(network).removesuffix("\n"),
    }
    module = javascript_module(evaluator, config.values, source)
    return PageData(context, {site_path("derived.js"): module})
