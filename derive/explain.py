"""What a reader is shown of a derivation, at every size: `derive show` and the site print this.

A small network (chain.closed_forms_made) is shown whole: the forward equations, the delta
recursion and every parameter's chain with its path sums and written-out closed form. Past that
size the written-out forms would run to pages (a first-layer weight's sums over every path to the
outputs), so a Derivation holds the forward equations, the delta recursion, every gradient rule
(dE_total/dw = delta x input) and a sample of chains, each written one layer deep (its first
factor as the sum over the next layer's deltas); `note` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.backward import Program, Step, backward_program, delta_symbol, local_derivative
from derive.chain import (
    CLOSED_FORM_MAX_PARAMETERS,
    Factor,
    Gradient,
    PathSum,
    closed_forms_made,
    gradients,
)
from derive.network import Network

SAMPLE_PER_LAYER = 2  # chains shown per layer past the limit: its first and last weight


@dataclass(frozen=True)
class Derivation:
    network: Network
    forward: tuple[Step, ...]  # the forward equations, ending in E_total
    deltas: tuple[Step, ...]  # delta_o1 = ..., ..., delta_h1 = (sum of delta_m w_m) da/dh1
    # (w1, delta_h1 i1): dE_total/dw1 = delta_h1 i1, one per trained parameter in config order
    gradient_rules: tuple[tuple[sp.Symbol, sp.Expr], ...]
    chains: tuple[Gradient, ...]  # every parameter's chain when complete, else a sample
    complete: bool
    note: str  # what was left out and why; "" when complete


def derivation(network: Network, program: Program | None = None) -> Derivation:
    """Everything for small networks; past CLOSED_FORM_MAX_PARAMETERS, a sample of chains."""
    program = program or backward_program(network)
    gradient_names = set(program.gradients)
    backward = program.steps[program.n_forward :]
    deltas = tuple((s, e) for s, e in backward if s not in gradient_names)
    rule = {s: e for s, e in program.steps if s in gradient_names}
    rules = tuple((p, rule[g]) for p, g in zip(network.trained, program.gradients, strict=True))
    if closed_forms_made(network):
        return Derivation(network, network.equations, deltas, rules, gradients(network), True, "")
    sample = sampled_parameters(network)
    chains = tuple(delta_chain(network, p, dict(deltas)) for p in sample)
    note = (
        f"{len(network.trained)} trained parameters, more than the {CLOSED_FORM_MAX_PARAMETERS} "
        f"whose chains are written out in full: shown are the forward equations, the delta "
        f"recursion, every gradient as delta x input, and the chains of {len(chains)} sample "
        f"parameters (the first and last weight into each layer), each written down to the "
        f"next layer's deltas."
    )
    return Derivation(network, network.equations, deltas, rules, chains, False, note)


def sampled_parameters(network: Network) -> tuple[sp.Symbol, ...]:
    """The first and last weight into each layer, in config order."""
    layer_of = {n.name: k for k, layer in enumerate(network.layers) for n in layer}
    into: dict[int, list[sp.Symbol]] = {}
    for w in network.weights:
        into.setdefault(layer_of[w.dest.name], []).append(w.symbol)
    found: list[sp.Symbol] = []
    for weights in into.values():
        found += [s for s in (weights[0], weights[-1])[:SAMPLE_PER_LAYER] if s not in found]
    return tuple(found)


def delta_chain(network: Network, parameter: sp.Symbol, deltas: dict) -> Gradient:
    """dE_total/dp as a chain whose first factor is written in the next layer's deltas."""
    weight = next(w for w in network.weights if w.symbol == parameter)
    neuron, loss = weight.dest, network.loss
    last = Factor(neuron.net, parameter, weight.source)
    if neuron in network.outputs:
        # An output's delta is already written in the forward symbols: one factor.
        top = Factor(loss, neuron.net, deltas[delta_symbol(neuron)])
        return Gradient(parameter, (top, last), ())
    above = [(w.dest, w.symbol) for w in network.weights if w.source == neuron.out]
    paths = tuple(
        (Factor(loss, m.net, delta_symbol(m)), Factor(m.net, neuron.out, w)) for m, w in above
    )
    path_sum = PathSum(loss, neuron.out, paths)
    chain = (
        Factor(loss, neuron.out, path_sum.value),
        Factor(neuron.out, neuron.net, local_derivative(neuron)),
        last,
    )
    return Gradient(parameter, chain, (path_sum,))
