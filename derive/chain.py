"""The chain rule step by step: for every trained parameter its factors, path sums, closed form.

A closed form is written out in the forward symbols: a first-layer weight's carries a sum over
every path to the outputs, so their total size grows far faster than the weights. They are for
reading and proof only (the numbers come from the backward program, derive/backward.py), and
made only for networks of at most CLOSED_FORM_MAX_PARAMETERS trained parameters.
`proof_residual` checks a closed form against `sympy.diff` of E_total written out in the parameter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.limits import CLOSED_FORM_MAX_PARAMETERS, TooLarge
from derive.network import Network, Neuron


def closed_forms_made(network: Network) -> bool:
    """Whether `gradients` writes out closed forms for this network (see derive.limits)."""
    return len(network.trained) <= CLOSED_FORM_MAX_PARAMETERS


@dataclass(frozen=True)
class Factor:
    """One partial derivative d(of)/d(by), and its value in the forward symbols."""

    of: sp.Symbol
    by: sp.Symbol
    value: sp.Expr


@dataclass(frozen=True)
class PathSum:
    """d(of)/d(by) as a sum over paths, each path a product of factors."""

    of: sp.Symbol
    by: sp.Symbol
    paths: tuple[tuple[Factor, ...], ...]

    @property
    def value(self) -> sp.Expr:
        return sp.Add(*(sp.Mul(*(f.value for f in path)) for path in self.paths))


@dataclass(frozen=True)
class Gradient:
    """dE_total/d(parameter) = product of `chain`; `sums` expand its hidden or softmax factor."""

    parameter: sp.Symbol
    chain: tuple[Factor, ...]
    sums: tuple[PathSum, ...]

    @property
    def closed_form(self) -> sp.Expr:
        return sp.Mul(*(f.value for f in self.chain))


@dataclass(frozen=True)
class Backward:
    """Every neuron's dE_total/da and delta = dE_total/d net, and each activation's derivative."""

    network: Network
    dE_da: dict[sp.Symbol, sp.Expr]  # keyed by the neuron's activation symbol (a_h1)
    delta: dict[sp.Symbol, sp.Expr]  # keyed by the neuron's net symbol (h1)
    local: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr]  # (a_o1, o2) -> d a_o1 / d o2

    @cached_property
    def next_layer(self) -> dict[sp.Symbol, tuple[Neuron, ...]]:
        layers = self.network.layers
        return {n.out: nxt for layer, nxt in itertools.pairwise(layers) for n in layer}

    def weight(self, into: Neuron, source: sp.Symbol) -> sp.Symbol:
        return next(w.symbol for w in self.network.weights if w.dest is into and w.source == source)

    def path_to_net(self, neuron: Neuron) -> tuple[Factor, ...]:
        """Factors from E_total down to the neuron's weighted input."""
        loss = self.network.loss
        if neuron.activation == "softmax":
            return (Factor(loss, neuron.net, self.delta[neuron.net]),)
        return (
            Factor(loss, neuron.out, self.dE_da[neuron.out]),
            Factor(neuron.out, neuron.net, self.local[neuron.out, neuron.net]),
        )

    def sums_for(self, neuron: Neuron) -> tuple[PathSum, ...]:
        """The path sums behind the neuron's first chain factor, then those behind theirs."""
        loss = self.network.loss
        if neuron.activation == "softmax":
            outputs = self.network.outputs
            paths = tuple(
                (
                    Factor(loss, o.out, self.dE_da[o.out]),
                    Factor(o.out, neuron.net, self.local[o.out, neuron.net]),
                )
                for o in outputs
            )
            return (PathSum(loss, neuron.net, paths),)
        nxt = self.next_layer.get(neuron.out)
        if nxt is None:
            return ()
        paths = tuple(
            (*self.path_to_net(m), Factor(m.net, neuron.out, self.weight(m, neuron.out)))
            for m in nxt
        )
        deeper = {s.by: s for m in nxt for s in self.sums_for(m)}
        return (PathSum(loss, neuron.out, paths), *deeper.values())


def backward(network: Network) -> Backward:
    """dE_total/da and deltas for every neuron, output layer first, each built once."""
    definitions = dict(network.equations)
    as_symbol = {definitions[n.out]: n.out for n in network.neurons}
    loss_in_outputs = definitions[network.loss].xreplace(definitions)
    local: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr] = {}
    for layer in network.layers:
        for neuron in layer:
            by = layer if neuron.activation == "softmax" else (neuron,)
            for other in by:
                derivative = sp.diff(definitions[neuron.out], other.net)
                local[neuron.out, other.net] = derivative.xreplace(as_symbol)
    dE_da: dict[sp.Symbol, sp.Expr] = {}
    delta: dict[sp.Symbol, sp.Expr] = {}
    nxt: tuple[Neuron, ...] = ()
    for layer in reversed(network.layers):
        for neuron in layer:
            if nxt:
                dE_da[neuron.out] = sp.Add(
                    *(delta[m.net] * sp.diff(definitions[m.net], neuron.out) for m in nxt)
                )
            else:
                dE_da[neuron.out] = sp.diff(loss_in_outputs, neuron.out)
        for neuron in layer:
            by = layer if neuron.activation == "softmax" else (neuron,)
            delta[neuron.net] = sp.Add(*(dE_da[o.out] * local[o.out, neuron.net] for o in by))
        nxt = layer
    return Backward(network, dE_da, delta, local)


def gradients(network: Network) -> tuple[Gradient, ...]:
    """The chain-rule derivation of dE_total/dp for every trained parameter p, in config order;
    TooLarge past CLOSED_FORM_MAX_PARAMETERS."""
    if not closed_forms_made(network):
        raise TooLarge(
            f"{len(network.trained)} trained parameters: closed forms are written out for at most "
            f"{CLOSED_FORM_MAX_PARAMETERS}"
        )
    back = backward(network)
    definitions = dict(network.equations)
    found = []
    by_bias = {n.bias: n for n in network.neurons if n.bias is not None}
    sources = {w.symbol: (w.dest, w.source) for w in network.weights}
    for parameter in network.trained:
        neuron = by_bias[parameter] if parameter in by_bias else sources[parameter][0]
        last = Factor(neuron.net, parameter, sp.diff(definitions[neuron.net], parameter))
        found.append(Gradient(parameter, (*back.path_to_net(neuron), last), back.sums_for(neuron)))
    return tuple(found)


def written_out(network: Network, parameter: sp.Symbol) -> dict[sp.Symbol, sp.Expr]:
    """Each forward symbol that depends on `parameter`, written out down to it.

    What does not depend on the parameter stays a constant symbol for the derivative: the layers
    below it, and within a sum the terms that do not involve it (o1 = w5 a_h1 + w6 a_h2 becomes
    w5 a_h1 + rest_o1 for w1, where rest_o1 stands for w6 a_h2). So each proof stays small.
    """
    out: dict[sp.Symbol, sp.Expr] = {}
    for symbol, expr in network.equations:
        terms = sp.Add.make_args(expr)
        involved = [
            t
            for t in terms
            if parameter in t.free_symbols or not out.keys().isdisjoint(t.free_symbols)
        ]
        if involved:
            rest = (
                [sp.Symbol(f"rest_{symbol.name}", real=True)] if len(involved) < len(terms) else []
            )
            out[symbol] = sp.Add(*(t.xreplace(out) for t in involved), *rest)
    return out


def proof_residual(network: Network, gradient: Gradient) -> sp.Expr:
    """closed form - sympy.diff(E_total, p), in the forward symbols; 0 when proven.

    E_total is written out in the parameter p and differentiated by SymPy. Both sides are then
    renamed back to forward symbols (each written-out subexpression to its symbol: a renaming, so
    a residual that expands to 0 in the symbols is 0 for every value of them) and expanded.
    """
    out = written_out(network, gradient.parameter)
    expected = sp.diff(out[network.loss], gradient.parameter)
    derived = gradient.closed_form.xreplace(out)
    renaming = {expr: symbol for symbol, expr in out.items()}
    return sp.expand((derived - expected).xreplace(renaming))
