"""Backpropagation in teaching order, as LaTeX with this build's numbers: each neuron's delta from
the layer above, each parameter's chain, and closed forms whose factors keep the chain's order.

delta_n = dE_total/dn (n the neuron's net input) is computed once per neuron and reused by every
parameter of the neuron and by the layer below; that reuse is what makes backpropagation cheap.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp

from derive import latex
from derive.backward import delta_symbol, local_derivative
from derive.chain import Factor, Gradient
from derive.evaluate import NUMPY_FUNCTIONS
from derive.network import Network, Neuron
from sitegen.site_common import SiteError, latex_number


def upright(tex: str) -> str:
    r"""Multi-letter subscripts set upright, as words: E_{total} -> E_{\text{total}}."""
    return re.sub(r"_\{([A-Za-z]{2,})\}", r"_{\\text{\1}}", tex)


def tex(expr: sp.Expr) -> str:
    return upright(latex.latex_expr(expr))


def partial(of: sp.Symbol, by: sp.Symbol) -> str:
    return upright(latex.latex_derivative(of, by))


def delta_tex(neuron: Neuron) -> str:
    return rf"\delta_{{{neuron.name}}}"


def aligned(lines: list[str]) -> str:
    return r"\[\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}\]"


def result(value: float) -> str:
    """A number that stands alone after `=`: no parentheses."""
    return latex_number(value, factor=False)


def times(values: list[float]) -> str:
    return r" \cdot ".join(latex_number(v) for v in values)


class Numbers:
    """Expressions in the forward symbols, evaluated at this build's values."""

    def __init__(self, values: dict[sp.Symbol, float]):
        self.values = values

    def __call__(self, expr: sp.Expr) -> float:
        symbols = sorted(sp.sympify(expr).free_symbols, key=str)
        function = sp.lambdify(symbols, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
        return float(function(*(self.values[s] for s in symbols)))


@dataclass(frozen=True)
class NeuronStep:
    """One neuron's delta: how dE_total/da arrives (LaTeX), delta's line, and its value."""

    name: str
    incoming: str  # output layer: dE_total/da; hidden layer: the sum over the layer above
    delta: str
    value: float


@dataclass(frozen=True)
class ParameterStep:
    """One parameter's gradient: the chain, delta times the last factor, the numbers."""

    name: str
    symbol: str
    role: str
    block: str
    factors: tuple[float, ...]  # each chain factor's value; their product is `value`
    value: float


@dataclass(frozen=True)
class Backprop:
    """What the deltas are built from, linear in the weights at every size: each neuron's
    successors and the weights to them, the outputs' dE_total/da, a softmax output's delta."""

    network: Network
    above: dict[sp.Symbol, tuple[tuple[Neuron, sp.Symbol], ...]]  # a_h1 -> ((o1, w5), (o2, w7))
    dE_da: dict[sp.Symbol, sp.Expr]  # for the output neurons only
    softmax_delta: dict[sp.Symbol, sp.Expr]  # delta_o1 -> its expression, for a softmax output

    @classmethod
    def of(cls, network: Network, deltas: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> Backprop:
        above: dict[sp.Symbol, list[tuple[Neuron, sp.Symbol]]] = {}
        for w in network.weights:
            above.setdefault(w.source, []).append((w.dest, w.symbol))
        definitions = dict(network.equations)
        loss = definitions[network.loss].xreplace({e: definitions[e] for e in network.errors})
        outputs = network.outputs
        dE_da = {} if outputs[0].activation == "softmax" else {
            n.out: sp.diff(loss, n.out) for n in outputs
        }  # fmt: skip
        return cls(network, {k: tuple(v) for k, v in above.items()}, dE_da, dict(deltas))


def neuron_step(back: Backprop, neuron: Neuron, numbers: Numbers) -> NeuronStep:
    """delta of a neuron, from dE_total/da (output layer) or from the deltas above (hidden)."""
    loss, out, net = back.network.loss, neuron.out, neuron.net
    d = delta_tex(neuron)
    if neuron.activation == "softmax":
        # A softmax output's net input reaches E_total through every output: delta in one step.
        expr = back.softmax_delta[delta_symbol(neuron)]
        value = numbers(expr)
        line = rf"{d} = {partial(loss, net)} = {tex(expr)} = {result(value)}"
        return NeuronStep(neuron.name, "", rf"\[{line}\]", value)
    above = back.above.get(out, ())
    if above:
        dE_da = math.fsum(numbers.values[delta_symbol(m)] * numbers.values[w] for m, w in above)
        terms = " + ".join(rf"{delta_tex(m)} \cdot {tex(w)}" for m, w in above)
        paths = " + ".join(rf"{partial(loss, m.net)} \cdot {partial(m.net, out)}" for m, _ in above)
        values = " + ".join(
            times([numbers.values[delta_symbol(m)], numbers.values[w]]) for m, w in above
        )
        incoming = aligned(
            [
                rf"{partial(loss, out)} &= {paths}",
                rf"&= {terms}",
                rf"&= {values}",
                rf"&= {result(dE_da)}",
            ]
        )
    else:
        dE_da = numbers(back.dE_da[out])
        incoming = aligned([rf"{partial(loss, out)} &= {tex(back.dE_da[out])} = {result(dE_da)}"])
    local_expr = local_derivative(neuron)
    local = numbers(local_expr)
    value = dE_da * local
    # The page's own arithmetic must give the backward program's delta.
    expected = numbers.values[delta_symbol(neuron)]
    if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-15):
        raise SiteError(f"delta_{neuron.name}: the page gives {value!r}, the program {expected!r}")
    # The output layer writes dE_total/da out; a hidden neuron's is the sum above, by name.
    written = (
        rf"{partial(loss, out)} \cdot {tex(local_expr)}"
        if above
        else tex(sp.Mul(back.dE_da[out], local_expr, evaluate=False))
    )
    block = aligned(
        [
            rf"{d} = {partial(loss, net)} &= {partial(loss, out)} \cdot {partial(out, net)}",
            rf"&= {written}",
            rf"&= {times([dE_da, local])}",
            rf"&= {result(value)}",
        ]
    )
    return NeuronStep(neuron.name, incoming, block, value)


def parameter_step(
    gradient: Gradient, neuron: Neuron, numbers: Numbers, value: float
) -> ParameterStep:
    """dE_total/dp = (the chain) = delta_n * dn/dp = the chain's values multiplied out."""
    loss, p = gradient.chain[0].of, gradient.parameter
    last = gradient.chain[-1]
    factors = tuple(numbers(f.value) for f in gradient.chain)
    product = math.prod(factors)
    # The page shows the factors and their product: they must agree with the Evaluator's number.
    if not math.isclose(product, value, rel_tol=1e-9, abs_tol=1e-15):
        raise SiteError(f"d{loss}/d{p}: factors multiply to {product!r}, the Evaluator {value!r}")
    chain = r" \cdot ".join(partial(f.of, f.by) for f in gradient.chain)
    # Written out in chain order where that stays short: no path sum inside.
    written = [] if gradient.sums else [rf"&= {tex(chain_ordered(gradient))}"]
    block = aligned(
        [
            rf"{partial(loss, p)} &= {chain}",
            rf"&= {delta_tex(neuron)} \cdot {tex(last.value)}",
            *written,
            rf"&= {times(list(factors))}",
            rf"&= {result(value)}",
        ]
    )
    return ParameterStep(p.name, tex(p), role(last), block, factors, value)


def role(last: Factor) -> str:
    """Which connection a parameter sits on, from its chain's last factor dn/dp."""
    if last.value == 1:
        return f"bias of {last.of.name}"
    source = str(last.value).removeprefix("a_")  # a_h1 -> the neuron h1 it comes from
    return f"{source} → {last.of.name}"


def chain_ordered(gradient: Gradient) -> sp.Expr:
    """The closed form with its factors in the chain's order, a path sum kept as a sum of its
    paths' products in order (unevaluated: for display; `check_chain_ordered` proves it)."""
    sums = {(s.of, s.by): s for s in gradient.sums}

    def written(factor: Factor) -> sp.Expr:
        found = sums.get((factor.of, factor.by))
        if found is None:
            return factor.value
        paths = [sp.Mul(*(written(f) for f in path), evaluate=False) for path in found.paths]
        return sp.Add(*paths, evaluate=False)

    return sp.Mul(*(written(f) for f in gradient.chain), evaluate=False)


def check_chain_ordered(gradient: Gradient, shown: sp.Expr) -> None:
    if sp.expand(shown.doit() - gradient.closed_form) != 0:
        raise SiteError(f"{gradient.parameter}: the closed form in chain order is not SymPy's")
