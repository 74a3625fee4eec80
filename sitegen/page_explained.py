"""Backpropagation explained: the diagram, forward equations and every gradient's derivation."""

from __future__ import annotations

import math

import sympy as sp

from derive import latex
from derive.chain import Gradient, PathSum
from derive.config import Config
from derive.evaluate import NUMPY_FUNCTIONS, at_values, gradient_symbol
from sitegen.site_common import (
    PageData,
    Site,
    SiteError,
    latex_number,
    markdown_table,
    number,
    site_path,
)
from sitegen.svg_network import network_svg

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


def build(site: Site) -> PageData:
    config, evaluator, source = site.config, site.evaluator, site.source
    network = evaluator.network
    numbers = {s: v for s, v in zip(network.values_args, _args(config), strict=True)}
    values = at_values(evaluator, config.values)
    numbers.update({s: values[s.name] for s, _ in network.equations})
    diagram = network_svg(network)
    context = {
        "source": source,
        "shape": describe(config),
        "diagram": site_path("network.svg"),
        "values_table": values_table(config, network),
        "forward": forward_block(network, numbers),
        "loss": rf"\({latex.latex_expr(network.loss)}\)",
        "gradients": [gradient_section(g, numbers, values) for g in evaluator.gradients],
        "update": update_rule(network.loss, network.trained[0]),
    }
    return PageData(context, {site_path("network.svg"): diagram})


def _args(config: Config) -> tuple[float, ...]:
    v = config.values
    return v.inputs + v.targets + v.weights + v.biases


def describe(config: Config) -> str:
    """The network in words: '2 inputs, one hidden layer of 2 sigmoid neurons, ...'."""
    spec = config.network
    hidden = spec.layers[1:-1]
    layers = ", ".join(
        f"a hidden layer of {n} {act} neurons"
        for n, act in zip(hidden, spec.activations, strict=False)
    )
    outputs = f"{spec.layers[-1]} {spec.activations[-1]} outputs"
    loss = LOSS_WORDS[spec.loss]
    return (
        f"{spec.layers[0]} inputs, {layers + ', ' if layers else ''}{outputs}, "
        f"{BIAS_WORDS[spec.bias]}; the loss is {loss}"
    )


def values_table(config: Config, network) -> str:
    """The config's starting numbers, one row per kind."""
    v = config.values
    kinds = [
        ("inputs", network.inputs, v.inputs),
        ("targets", network.targets, v.targets),
        ("weights", network.weight_symbols, v.weights),
        ("biases", network.biases, v.biases),
    ]
    rows = [
        [
            kind,
            ", ".join(
                rf"\({latex.latex_expr(s)} = {number(x)}\)" for s, x in zip(ss, xs, strict=True)
            ),
        ]
        for kind, ss, xs in kinds
        if ss
    ]
    return markdown_table(["", "initial values"], rows, align="--")


def forward_block(network, numbers: dict) -> str:
    """The forward pass, one aligned line per equation, each with its value."""
    lines = [
        rf"{latex.latex_expr(s)} &= {latex.latex_expr(e)} = {latex_number(numbers[s])}"
        for s, e in network.equations
    ]
    return aligned(lines)


def aligned(lines: list[str]) -> str:
    return r"\[\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}\]"


def split_first_equals(line: str) -> str:
    """'a = b = c' -> 'a &= b = c', for an aligned block."""
    head, _, rest = line.partition(latex.LATEX.equals)
    return f"{head} &= {rest}"


def value_of(expr: sp.Expr, numbers: dict) -> float:
    """An expression in the forward symbols at this build's numbers, with the Evaluator's NumPy."""
    symbols = sorted(expr.free_symbols, key=str)
    function = sp.lambdify(symbols, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
    return float(function(*(numbers[s] for s in symbols)))


def gradient_section(gradient: Gradient, numbers: dict, values: dict) -> dict:
    """One parameter's derivation as LaTeX blocks, and its number from the Evaluator."""
    style = latex.LATEX
    loss = gradient.chain[0].of
    head = latex.latex_derivative(loss, gradient.parameter)
    expanded = {(s.of, s.by): s for s in gradient.sums}
    plain = tuple(f for f in gradient.chain if (f.of, f.by) not in expanded)
    factor_values = [value_of(f.value, numbers) for f in gradient.chain]
    result = values[gradient_symbol(gradient.parameter).name]
    product = math.prod(factor_values)
    # The page shows the factors and their product: they must agree with the Evaluator's number.
    if not math.isclose(product, result, rel_tol=1e-9, abs_tol=1e-15):
        raise SiteError(
            f"{head}: factors multiply to {product!r} but the Evaluator gives {result!r}"
        )
    sums = [line for s in gradient.sums for line in path_sum_lines(s, numbers)]
    return {
        "name": gradient.parameter.name,
        "symbol": latex.latex_expr(gradient.parameter),
        "role": role(gradient),
        "chain": rf"\[{head} = {latex.product(gradient.chain, style)}\]",
        "factors": aligned(
            [
                split_first_equals(line) + " = " + latex_number(value_of(f.value, numbers))
                for line, f in zip(latex.factor_lines(plain, style), plain, strict=True)
            ]
        ),
        "sums": aligned(sums) if sums else "",
        "closed_form": rf"\[{head} = {latex.latex_expr(gradient.closed_form)}\]",
        "at_values": rf"\[{head} = "
        + r" \cdot ".join(latex_number(v) for v in factor_values)
        + rf" = {latex_number(result)}\]",
        "value": result,
    }


def path_sum_lines(path_sum: PathSum, numbers: dict) -> list[str]:
    """A path sum as aligned lines: the paths' products, their closed form, their numbers."""
    products = " + ".join(latex.product(path, latex.LATEX) for path in path_sum.paths)
    numeric = " + ".join(
        r" \cdot ".join(latex_number(value_of(f.value, numbers)) for f in path)
        for path in path_sum.paths
    )
    return [
        rf"{latex.latex_derivative(path_sum.of, path_sum.by)} &= {products}",
        rf"&= {latex.latex_expr(path_sum.value)}",
        rf"&= {numeric}",
        rf"&= {latex_number(value_of(path_sum.value, numbers))}",
    ]


def role(gradient: Gradient) -> str:
    """Which connection the parameter sits on, in words: 'i1 → h1' or 'bias of h1'."""
    last = gradient.chain[-1]  # d net / d parameter
    neuron = last.of.name
    if last.value == 1:
        return f"bias of {neuron}"
    source = str(last.value).removeprefix("a_")  # a_h1 -> the neuron h1 it comes from
    return f"{source} → {neuron}"


def update_rule(loss: sp.Symbol, parameter: sp.Symbol) -> str:
    """The gradient-descent step for one parameter, with the learning rate eta."""
    p = latex.latex_expr(parameter)
    return rf"\({p} \leftarrow {p} - \eta\,{latex.latex_derivative(loss, parameter)}\)"
