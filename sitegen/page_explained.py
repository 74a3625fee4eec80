"""Backpropagation explained: the forward pass with numbers, then the deltas layer by layer from
the output down, every parameter's chain, the closed forms, the gradients and one update step."""

from __future__ import annotations

import math
from pathlib import Path

import sympy as sp

from derive import table as iteration
from derive.chain import Backward, Factor, Gradient, backward
from derive.config import Config, ConfigError, load_config
from derive.evaluate import at_values, evaluator_for, gradient_symbol
from derive.network import Network, Neuron
from sitegen.backprop_steps import (
    Numbers,
    aligned,
    chain_ordered,
    check_chain_ordered,
    neuron_step,
    parameter_step,
    partial,
    tex,
)
from sitegen.site_common import (
    PageData,
    Site,
    SiteError,
    latex_number,
    markdown_table,
    number,
    site_path,
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
# Up to this many trained parameters the page prints every chain and closed form (the classic
# net has 8, 10-8-2 with biases 106); past it, every delta and the chains of a sample.
EVERY_CHAIN_MAX = 24
SAMPLE_PER_LAYER = 3  # parameters of the first neuron of each layer shown for a larger network
UPDATE_LR = 1.0  # the learning rate of the worked update step (one of the table's rates)
MAZUR = Path("derive", "configs", "mazur.toml")  # Matt Mazur's variant, with fixed biases


def build(site: Site) -> PageData:
    config, evaluator = site.config, site.evaluator
    network = evaluator.network
    values = at_values(evaluator, config.values)
    numbers = Numbers(
        {s: v for s, v in zip(network.values_args, _args(config), strict=True)}
        | {s: values[s.name] for s, _ in network.equations}
    )
    back = backward(network)
    every = len(network.trained) <= EVERY_CHAIN_MAX
    layers, shown = layer_sections(back, numbers, values, every)
    context = {
        "source": site.source,
        "shape": describe(config),
        "diagram": diagram_html(network),
        "diagram_file": site_path("network.svg"),
        "values_table": values_table(config, network),
        "forward": forward_block(network, numbers),
        "loss": rf"\({tex(network.loss)}\)",
        "loss_tex": tex(network.loss),
        "layers": layers,
        "every": every,
        "shown": len(shown),
        "trained": len(network.trained),
        "closed_forms": closed_forms(shown) if every else "",
        "gradients_table": gradients_table(network, values),
        "update": update_step(site, values),
        "mazur": mazur_note(site.settings.root / MAZUR),
    }
    files = {
        site_path("network.svg"): network_svg(network),
        site_path(MAZUR.name): site.settings.root / MAZUR,
    }
    return PageData(context, files)


def _args(config: Config) -> tuple[float, ...]:
    v = config.values
    return v.inputs + v.targets + v.weights + v.biases


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


def values_table(config: Config, network: Network) -> str:
    """The config's starting numbers, one row per kind."""
    v = config.values
    kinds = [
        ("inputs", network.inputs, v.inputs),
        ("targets", network.targets, v.targets),
        ("weights", network.weight_symbols, v.weights),
        ("biases", network.biases, v.biases),
    ]
    rows = [
        [kind, ", ".join(rf"\({tex(s)} = {number(x)}\)" for s, x in zip(ss, xs, strict=True))]
        for kind, ss, xs in kinds
        if ss
    ]
    return markdown_table(["", "initial values"], rows, align="--")


def forward_block(network: Network, numbers: Numbers) -> str:
    """The forward pass, one aligned line per equation, each with its value."""
    return aligned(
        [rf"{tex(s)} &= {tex(e)} = {latex_number(numbers.values[s])}" for s, e in network.equations]
    )


def gradient_of(back: Backward, parameter: sp.Symbol) -> tuple[Gradient, Neuron]:
    """The chain of one parameter: E_total down to its neuron's net input, then d net/dp."""
    network = back.network
    neuron = next(
        w.dest for w in network.weights if w.symbol == parameter
    ) if parameter in network.weight_symbols else next(
        n for n in network.neurons if n.bias == parameter
    )  # fmt: skip
    net = dict(network.equations)[neuron.net]
    last = Factor(neuron.net, parameter, sp.diff(net, parameter))
    return Gradient(parameter, (*back.path_to_net(neuron), last), back.sums_for(neuron)), neuron


def layer_sections(back: Backward, numbers: Numbers, values: dict, every: bool):
    """Output layer first: each neuron's delta, then its parameters' chains; (sections, shown)."""
    network = back.network
    by_neuron: dict[str, list[sp.Symbol]] = {}
    for p in network.trained:
        by_neuron.setdefault(gradient_of(back, p)[1].name, []).append(p)
    deltas: dict[str, float] = {}
    sections, shown = [], []
    depth = len(network.layers)
    for k, layer in enumerate(reversed(network.layers)):
        neurons = []
        for j, neuron in enumerate(layer):
            step = neuron_step(back, neuron, numbers, deltas)
            deltas[neuron.name] = step.value
            chosen = by_neuron.get(neuron.name, [])
            if not every:
                chosen = chosen[:SAMPLE_PER_LAYER] if j == 0 else []
            params = []
            for p in chosen:
                gradient, _ = gradient_of(back, p)
                result = values[gradient_symbol(p).name]
                params.append(parameter_step(gradient, neuron, numbers, result))
                shown.append(gradient)
            neurons.append({"step": step, "params": params})
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


def gradients_table(network: Network, values: dict) -> str:
    rows = []
    for p in network.trained:
        rows.append([rf"\({tex(p)}\)", number(values[p.name]) if p.name in values else "",
                     number(values[gradient_symbol(p).name])])  # fmt: skip
    return markdown_table(["parameter", "value", rf"\({partial(network.loss, sp.Symbol('p'))}\)"],
                          rows)  # fmt: skip


def update_step(site: Site, values: dict) -> dict:
    """One gradient-descent step at UPDATE_LR: each new parameter and E_total after it, as
    `derive table` computes them (its step 1), checked against w - lr * gradient here."""
    network = site.evaluator.network
    table = iteration.iteration_table(site.config, (UPDATE_LR,), 1, site.evaluator)
    start = dict(zip(network.values_args, _args(site.config), strict=True))
    lines, rows = [], []
    for p in network.trained:
        gradient = values[gradient_symbol(p).name]
        new = float(table.column(p.name)[0, 1])
        if not math.isclose(new, start[p] - UPDATE_LR * gradient, rel_tol=1e-12, abs_tol=1e-15):
            raise SiteError(f"update step: {p} after one step is {new!r} in derive table")
        lines.append(
            rf"{tex(p)}^{{+}} &= {tex(p)} - \eta\,{partial(network.loss, p)} = "
            rf"{latex_number(start[p])} - {latex_number(UPDATE_LR)} \cdot "
            rf"{latex_number(gradient)} = {latex_number(new)}"
        )
        rows.append([rf"\({tex(p)}\)", number(start[p]), number(gradient), number(new)])
    before = float(table.column(network.loss.name)[0, 0])
    after = float(table.column(network.loss.name)[0, 1])
    return {
        "lr": number(UPDATE_LR),
        "rule": rf"\(p \leftarrow p - \eta\,{partial(network.loss, sp.Symbol('p'))}\)",
        "block": aligned(lines),
        "before": number(before, 10),
        "after": number(after, 10),
        "change": number(after - before, 6),
    }


def mazur_note(path: Path) -> dict:
    """E_total and dE/dw5 of Matt Mazur's variant (fixed biases), derived here from its config."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise SiteError(f"Mazur's config: {exc}") from None
    evaluator = evaluator_for(config.network)
    values = at_values(evaluator, config.values)
    first_output_weight = next(
        w.symbol for w in evaluator.network.weights if w.dest in evaluator.network.outputs
    )
    return {
        "config": MAZUR.as_posix(),
        "download": site_path(MAZUR.name),
        "E": number(values[evaluator.network.loss.name]),
        "weight": first_output_weight.name,
        "gradient": number(values[gradient_symbol(first_output_weight).name]),
        "biases": ", ".join(number(b) for b in dict.fromkeys(config.values.biases)),
    }
