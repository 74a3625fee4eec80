"""The network as SymPy symbols and forward equations, named as in the classic 2-2-2 figure.

Naming, for every size (2 to 4 layers):
- inputs i1, i2, ...; targets t1, t2, ... (one per output);
- layers after the inputs are lettered h (first hidden), k (second hidden) and o (outputs);
  neuron h1's weighted input is the symbol h1 and its activation a_h1;
- weights w1, w2, ... layer by layer, destination neuron by destination neuron, source by source
  (w1 = i1->h1, w2 = i2->h1, w3 = i1->h2, ...); biases b1, b2, ... one per non-input neuron in
  the same order (b1 -> h1, ...);
- per-output errors E1, E2, ... and the loss E_total = E1 + E2 + ...
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.config import NetworkSpec
from derive.functions import activate, logsumexp

HIDDEN_LETTERS = ("h", "k")


@dataclass(frozen=True)
class Neuron:
    name: str  # "h1"
    net: sp.Symbol  # h1, the weighted sum of the layer below (plus bias)
    out: sp.Symbol  # a_h1, the activation
    activation: str
    bias: sp.Symbol | None


@dataclass(frozen=True)
class Weight:
    symbol: sp.Symbol  # w5
    source: sp.Symbol  # the activation it multiplies: i1 or a_h1
    dest: Neuron


@dataclass(frozen=True)
class Network:
    spec: NetworkSpec
    inputs: tuple[sp.Symbol, ...]
    targets: tuple[sp.Symbol, ...]
    layers: tuple[tuple[Neuron, ...], ...]  # the non-input layers, first hidden to output
    weights: tuple[Weight, ...]
    biases: tuple[sp.Symbol, ...]
    equations: tuple[tuple[sp.Symbol, sp.Expr], ...]  # forward pass in order, ending in E_total
    errors: tuple[sp.Symbol, ...]  # E1, E2, ...
    loss: sp.Symbol  # E_total

    @property
    def outputs(self) -> tuple[Neuron, ...]:
        return self.layers[-1]

    @property
    def neurons(self) -> tuple[Neuron, ...]:
        return tuple(n for layer in self.layers for n in layer)

    @property
    def weight_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(w.symbol for w in self.weights)

    @property
    def trained(self) -> tuple[sp.Symbol, ...]:
        """The parameters gradient descent updates: weights, then biases when trained."""
        biases = self.biases if self.spec.bias == "trained" else ()
        return self.weight_symbols + biases

    @property
    def values_args(self) -> tuple[sp.Symbol, ...]:
        """Every free symbol of the network, in config order: inputs, targets, weights, biases."""
        return self.inputs + self.targets + self.weight_symbols + self.biases


def real_symbols(prefix: str, count: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"{prefix}{j}", real=True) for j in range(1, count + 1))


def layer_letters(n_layers: int) -> tuple[str, ...]:
    """Letters of the non-input layers: ('h', 'o') for 2-2-2, ('h', 'k', 'o') for four layers."""
    return (*HIDDEN_LETTERS[: n_layers - 2], "o")


def build_network(spec: NetworkSpec) -> Network:
    """Symbols and forward equations of the network `spec` describes."""
    inputs = real_symbols("i", spec.layers[0])
    targets = real_symbols("t", spec.layers[-1])
    biases = real_symbols("b", spec.n_biases)
    weight_symbols = iter(real_symbols("w", spec.n_weights))
    bias_symbols = iter(biases)
    equations: list[tuple[sp.Symbol, sp.Expr]] = []
    layers: list[tuple[Neuron, ...]] = []
    weights: list[Weight] = []
    below = inputs
    for letter, size, activation in zip(
        layer_letters(len(spec.layers)), spec.layers[1:], spec.activations, strict=True
    ):
        layer = []
        for j in range(1, size + 1):
            name = f"{letter}{j}"
            bias = next(bias_symbols, None)
            neuron = Neuron(
                name,
                sp.Symbol(name, real=True),
                sp.Symbol(f"a_{name}", real=True),
                activation,
                bias,
            )
            incoming = [Weight(next(weight_symbols), source, neuron) for source in below]
            # Unevaluated: SymPy's canonical sorting of 64-term sums of products would take
            # most of the time at 64x64x64x64, and the terms are already as they should read.
            terms = [sp.Mul(w.symbol, w.source, evaluate=False) for w in incoming]
            net = sp.Add(*terms, *([bias] if bias else []), evaluate=False)
            equations.append((neuron.net, net))
            weights.extend(incoming)
            layer.append(neuron)
        equations.extend((n.out, _activation(n, layer)) for n in layer)
        layers.append(tuple(layer))
        below = tuple(n.out for n in layer)
    errors = real_symbols("E", spec.layers[-1])
    outputs = layers[-1]
    for error, target, neuron in zip(errors, targets, outputs, strict=True):
        equations.append((error, _error(spec, target, neuron.out)))
    loss = sp.Symbol("E_total", real=True)
    equations.append((loss, sp.Add(*errors)))
    return Network(
        spec, inputs, targets, tuple(layers), tuple(weights), biases, tuple(equations), errors, loss
    )


def _activation(neuron: Neuron, layer: list[Neuron]) -> sp.Expr:
    if neuron.activation == "softmax":
        return sp.exp(neuron.net - logsumexp(*(n.net for n in layer)))
    return activate(neuron.activation, neuron.net)


def _error(spec: NetworkSpec, target: sp.Symbol, out: sp.Symbol) -> sp.Expr:
    if spec.loss == "half_sse":
        return sp.Rational(1, 2) * (target - out) ** 2
    if spec.loss == "mse":
        return (target - out) ** 2 / spec.layers[-1]
    return -target * sp.log(out)


def gradient_symbol(parameter: sp.Symbol) -> sp.Symbol:
    """dE_total/dw1: the symbol of the loss's gradient by a parameter."""
    return sp.Symbol(f"dE_total/d{parameter.name}", real=True)
