"""Backpropagation explained: the forward pass with numbers, then the deltas layer by layer from
the output down, every parameter's chain, the closed forms, the gradients and one update step."""

from __future__ import annotations

import math

import sympy as sp

from derive import table as iteration
from derive.chain import Gradient
from derive.config import Config
from derive.evaluate import gradient_symbol, values_args
from derive.explain import Derivation, derivation
from derive.network import Network
from sitegen.backprop_steps import (
    Backprop,
    Numbers,
    aligned,
    chain_ordered,
    check_chain_ordered,
    neuron_step,
    parameter_step,
    partial,
    result,
    tex,
)
from sitegen.local_derivatives import (
    half_sse_derivation,
    sigmoid_at,
    sigmoid_definition,
    sigmoid_derivation,
)
from sitegen.mazur import CONFIG as MAZUR
from sitegen.mazur import mazur_section
from sitegen.practice import Catalogue, practicable
from sitegen.site_common import (
    PageData,
    Site,
    SiteError,
    latex_number,
    markdown_table,
    number,
    site_path,
    text_number,
)
from sitegen.svg_network import diagram_html, network_svg

LOSS_WORDS = {
    "half_sse": r"half the squared error, summed over the outputs",
    "mse": r"the mean squared error over the outputs",
    "cross_entropy": r"the cross-entropy of the softmax outputs",
}
BIAS_WORDS = {
    "none": "no biases",
    "fixed": "a fixed bias on every neuron",
    "trained": "a trained bias on every neuron",
}
MAX_LISTED = 12  # a row of initial values longer than twice this shows its ends only
UPDATE_LR = 1.0  # the learning rate of the worked update step (one of the table's rates)
STEP = 1e-6  # h of the central differences that check the gradients


def build(site: Site) -> PageData:
    config, evaluator = site.config, site.evaluator
    network = evaluator.network
    args = values_args(config.values)
    computed = evaluator(*args)
    values = {s.name: float(v) for s, v in computed.items()}
    numbers = Numbers(
        dict(zip(network.values_args, args, strict=True))
        | {s: float(v) for s, v in computed.items()}
    )
    derived = derivation(network)
    layers, shown = layer_sections(derived, numbers, values)
    # The parameters listed one by one: all of them, or past the size limit the sample's.
    listed = network.trained if derived.complete else tuple(g.parameter for g in shown)
    context = {
        "source": site.source,
        "shape": describe(config),
        "diagram": diagram_html(network),
        "diagram_file": site_path("network.svg"),
        "values_table": values_table(config, network, MAX_LISTED),
        "forward": forward_block(network, numbers),
        "loss": rf"\({tex(network.loss)}\)",
        "loss_value": number(values[network.loss.name]),
        "basics": basics(network, numbers),
        "loss_tex": tex(network.loss),
        "layers": layers,
        "complete": derived.complete,
        "note": derived.note,
        "closed_forms": closed_forms(shown) if derived.complete else "",
        "update": update_step(site, values, listed),
        "mazur": mazur_section(site.settings.root),
        # Worked out beside the other pages' build; the page shows the JSON when rendered.
        "practice": Catalogue(site.settings.derive_config) if practicable(site.evaluator) else None,
    }
    files = {
        site_path("network.svg"): network_svg(network),
        site_path(MAZUR.name): site.settings.root / MAZUR,
    }
    return PageData(context, files)


def describe(config: Config) -> str:
    """The network in words: '2 inputs, a hidden layer of 2 sigmoid neurons, ...'."""
    spec = config.network
    hidden = spec.layers[1:-1]
    layers = ", ".join(
        f"a hidden layer of {n} {act} neurons"
        for n, act in zip(hidden, spec.activations, strict=False)
    )
    outputs = f"{spec.layers[-1]} {spec.activations[-1]} outputs"
    return (
        f"{spec.layers[0]} inputs, {layers + ', ' if layers else ''}{outputs}, "
        f"{BIAS_WORDS[spec.bias]}; the loss is {LOSS_WORDS[spec.loss]}"
    )


def values_table(config: Config, network: Network, most: int) -> str:
    """The config's starting numbers, one row per kind; a long row's first and last `most`."""
    v = config.values
    kinds = [
        ("inputs", network.inputs, v.inputs),
        ("targets", network.targets, v.targets),
        ("weights", network.weight_symbols, v.weights),
        ("biases", network.biases, v.biases),
    ]
    rows = []
    for kind, ss, xs in kinds:
        shown = [rf"\({tex(s)} = {number(x)}\)" for s, x in zip(ss, xs, strict=True)]
        if len(shown) > 2 * most:
            shown = [*shown[:most], f"… ({len(shown) - 2 * most} more) …", *shown[-most:]]
        if shown:
            rows.append([kind, ", ".join(shown)])
    return markdown_table(["quantity", "initial values"], rows, align="--")


def basics(network: Network, numbers: Numbers) -> dict:
    """The sigmoid and the half squared error, derived, with a sigmoid neuron's numbers (the
    first output's where it is one): what the page says about them before the chains use them."""
    sigmoids = [n for n in network.neurons if n.activation == "sigmoid"]
    example = None
    if sigmoids:
        neuron = next((n for n in network.outputs if n.activation == "sigmoid"), sigmoids[0])
        at = sigmoid_at(numbers.values[neuron.net])
        if not math.isclose(at["a"], numbers.values[neuron.out], rel_tol=1e-12):
            raise SiteError(f"sigmoid: sigma({neuron.name}) is not the program's {neuron.out}")
        example = {k: number(v) for k, v in at.items()} | {
            "name": neuron.name,
            "net_value": number(at["net"]),
            "net": tex(neuron.net),
            "out": tex(neuron.out),
        }
    return {
        "sigmoid": sigmoid_derivation() if sigmoids else "",
        "sigmoid_definition": sigmoid_definition(),
        "example": example,
        "half_sse": half_sse_derivation() if network.spec.loss == "half_sse" else None,
    }


def forward_block(network: Network, numbers: Numbers) -> str:
    """The forward pass, one aligned line per equation, each with its value."""
    return aligned(
        [rf"{tex(s)} &= {tex(e)} = {latex_number(numbers.values[s])}" for s, e in network.equations]
    )


def layer_sections(derived: Derivation, numbers: Numbers, values: dict):
    """Output layer first: each neuron's delta, then its parameters' chains; (sections, shown).
    Past the derivation's size limit only the neurons of its sample chains are written out."""
    network = derived.network
    back = Backprop.of(network, derived.deltas)
    owner = {w.symbol: w.dest for w in network.weights}
    owner |= {n.bias: n for n in network.neurons if n.bias is not None}
    chains: dict[str, list[Gradient]] = {}
    for gradient in derived.chains:
        chains.setdefault(owner[gradient.parameter].name, []).append(gradient)
    sections, shown = [], []
    depth = len(network.layers)
    for k, layer in enumerate(reversed(network.layers)):
        neurons = []
        for neuron in layer:
            if not derived.complete and neuron.name not in chains:
                continue
            params = []
            for gradient in chains.get(neuron.name, []):
                value = values[gradient_symbol(gradient.parameter).name]
                params.append(parameter_step(gradient, neuron, numbers, value))
                shown.append(gradient)
            neurons.append({"step": neuron_step(back, neuron, numbers), "params": params})
        title = "The output layer" if k == 0 else f"Hidden layer {depth - k}"
        sections.append({"title": title, "first": k == 0, "neurons": neurons})
    return sections, shown


def closed_forms(shown: list[Gradient]) -> str:
    lines = []
    for gradient in shown:
        expr = chain_ordered(gradient)
        check_chain_ordered(gradient, expr)
        lines.append(rf"{partial(gradient.chain[0].of, gradient.parameter)} &= {tex(expr)}")
    return aligned(lines)


def central_difference(site: Site, at: dict[sp.Symbol, float], p: sp.Symbol) -> float:
    """(E_total(p + h) - E_total(p - h)) / 2h from two forward passes, without the chain rule:
    the check printed beside each gradient."""
    network = site.evaluator.network

    def loss(shift: float) -> float:
        args = [at[s] + (shift if s == p else 0.0) for s in network.values_args]
        return float(site.evaluator(*args)[network.loss])

    return (loss(STEP) - loss(-STEP)) / (2 * STEP)


def update_step(site: Site, values: dict, listed: tuple[sp.Symbol, ...]) -> dict:
    """One gradient-descent step at UPDATE_LR: each new parameter and E_total after it, as
    `derive table` computes them (its step 1), checked against w - lr * gradient here."""
    network = site.evaluator.network
    table = iteration.iteration_table(site.config, (UPDATE_LR,), 1, site.evaluator)
    start = dict(zip(network.values_args, values_args(site.config.values), strict=True))
    lines, rows = [], []
    for p in listed:
        gradient = values[gradient_symbol(p).name]
        new = float(table.column(p.name)[0, 1])
        if not math.isclose(new, start[p] - UPDATE_LR * gradient, rel_tol=1e-12, abs_tol=1e-15):
            raise SiteError(f"update step: {p} after one step is {new!r} in derive table")
        # Three lines each, so that the new value is in view on a phone too.
        lines += [
            rf"{tex(p)}^{{+}} &= {tex(p)} - \eta\,{partial(network.loss, p)}",
            rf"&= {latex_number(start[p])} - {latex_number(UPDATE_LR)} \cdot "
            rf"{latex_number(gradient)}",
            rf"&= {result(new)}",
        ]
        check = central_difference(site, start, p)
        rows.append([rf"\({tex(p)}\)", text_number(start[p]), text_number(gradient),
                     text_number(check, 6), text_number(new)])  # fmt: skip
    # The gradients, and where the step takes each parameter.
    derivative = partial(network.loss, sp.Symbol("p"))
    header = [
        "parameter \\(p\\)",
        "value",
        rf"gradient \({derivative}\)",
        "central difference",
        f"after one step, η = {number(UPDATE_LR)}",
    ]
    before = float(table.column(network.loss.name)[0, 0])
    after = float(table.column(network.loss.name)[0, 1])
    return {
        "lr": number(UPDATE_LR),
        "rule": rf"\(p \leftarrow p - \eta\,{partial(network.loss, sp.Symbol('p'))}\)",
        "block": aligned(lines),
        "table": markdown_table(header, rows),
        "before": number(before, 10),
        "after": number(after, 10),
        "change": text_number(after - before, 6),
    }
