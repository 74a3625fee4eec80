"""Backpropagation as a straight-line program: the forward pass, one delta per neuron from the layer
above, then each gradient as delta x its input.

delta_n = dE_total/d net_n. For an output neuron it is dE_total/da_n x da_n/dn, both taken by
SymPy from the network's equations; for a hidden neuron, (sum over the next layer's neurons m of
delta_m x w_mn) x da_n/dn; then dE_total/dw = delta of the weight's destination x the activation it
multiplies, and dE_total/db = delta of the bias's neuron. Every assignment refers to earlier symbols
only, so the program has a few operations per weight: its size is linear in the weights. NumPy
(derive/evaluate.py), JavaScript (derive/javascript.py) and the spreadsheet (derive/xlsx.py) print
this one program.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from derive.functions import activate, logsumexp
from derive.network import Network, Neuron, gradient_symbol

Step = tuple[sp.Symbol, sp.Expr]


@dataclass(frozen=True)
class Program:
    """Assignments in order; each expression uses `arguments` and symbols assigned before it."""

    arguments: tuple[sp.Symbol, ...]
    steps: tuple[Step, ...]
    forward: tuple[sp.Symbol, ...]  # the network's forward symbols, in equation order
    n_forward: int  # steps[:n_forward] is the forward pass (with lse_o for a softmax), the rest δ's
    deltas: tuple[sp.Symbol, ...]  # one per neuron, output layer first
    gradients: tuple[sp.Symbol, ...]  # dE_total/dp, one per trained parameter, in config order

    @property
    def operations(self) -> int:
        """Arithmetic operations and function calls in all assignments (SymPy's count_ops)."""
        return sum(sp.count_ops(expr) for _, expr in self.steps)


def delta_symbol(neuron: Neuron) -> sp.Symbol:
    """delta_h1 = dE_total/dh1, printed \\delta_{h1} in LaTeX."""
    return sp.Symbol(f"delta_{neuron.name}", real=True)


def softmax_sum_symbol(network: Network) -> sp.Symbol:
    """s_o = sum over outputs k of dE_total/da_ok x a_ok, shared by every softmax delta."""
    return sp.Symbol(f"s_{network.outputs[0].name.rstrip('0123456789')}", real=True)


def softmax_symbols(network: Network) -> tuple[sp.Symbol, ...]:
    """lse_o and s_o, the steps a softmax output layer's program shares (none for another)."""
    if network.outputs[0].activation != "softmax":
        return ()
    return logsumexp_symbol(network.outputs[0]), softmax_sum_symbol(network)


def logsumexp_symbol(first: sp.Symbol | Neuron) -> sp.Symbol:
    """lse_o, the logsumexp of the layer whose first output (o1) is given."""
    return sp.Symbol(f"lse_{first.name.rstrip('0123456789')}", real=True)


def shared_logsumexp(steps: list[Step]) -> list[Step]:
    """A softmax layer's logsumexp as one assignment (lse_o), before the first step that uses
    it: every a_ok = exp(o_k - lse_o) then costs one exp, not a sum over the layer."""
    found = sorted(set().union(*(e.atoms(logsumexp) for _, e in steps)), key=str)
    for lse in found:
        symbol = logsumexp_symbol(lse.args[0])
        first = next(k for k, (_, e) in enumerate(steps) if e.has(lse))
        steps = [
            *steps[:first],
            (symbol, lse),
            *((s, e.xreplace({lse: symbol})) for s, e in steps[first:]),
        ]
    return steps


def finite_log_equations(equations: tuple[Step, ...]) -> list[Step]:
    """The equations with ln(a) of an output a = exp(z) (softmax) computed as z: -t ln(a) stays
    finite when a underflows to 0, where ln(0) would give -inf and 0 * -inf nan."""
    logs = {sp.log(s): e.args[0] for s, e in equations if isinstance(e, sp.exp)}
    return [(s, e.xreplace(logs)) for s, e in equations]


@cache
def activation_derivative(name: str) -> tuple[sp.Expr, sp.Expr, sp.Dummy]:
    """(f(x), f'(x), x) for the activation `name`, differentiated once by SymPy."""
    x = sp.Dummy("x", real=True)
    applied = activate(name, x)
    return applied, sp.diff(applied, x), x


def local_derivative(neuron: Neuron) -> sp.Expr:
    """da/dnet of a neuron with an elementwise activation, in its own symbols: a_h1 (1 - a_h1)."""
    applied, derivative, x = activation_derivative(neuron.activation)
    return derivative.xreplace({applied: neuron.out}).xreplace({x: neuron.net})


def output_deltas(network: Network) -> list[Step]:
    """delta of each output neuron from dE_total/da (SymPy's derivative of the loss)."""
    definitions = dict(network.equations)
    # E_total = E1 + E2 + ..., E_k depends on output k only, and every E_k has the same form:
    # SymPy differentiates E1 by a_o1, and dE_total/da_ok is that derivative renamed.
    first, target = network.outputs[0], network.targets[0]
    rule = sp.diff(definitions[network.errors[0]], first.out)
    dE_da = [
        rule.xreplace({first.out: n.out, target: t})
        for n, t in zip(network.outputs, network.targets, strict=True)
    ]
    outputs = network.outputs
    if outputs[0].activation != "softmax":
        # Multiplied as expressions, so SymPy cancels what cancels: the product stays finite.
        return [
            (delta_symbol(n), g * local_derivative(n)) for n, g in zip(outputs, dE_da, strict=True)
        ]
    # Softmax: da_ok/do_j = a_ok (1[k = j] - a_oj), so delta_oj = g_j a_oj - a_oj sum_k g_k a_ok.
    # The sum is one shared symbol: linear in the outputs, not quadratic. g a is multiplied as
    # expressions: for cross-entropy g = -t/a and g a = -t, finite where a underflows to 0.
    weighted = [g * n.out for n, g in zip(outputs, dE_da, strict=True)]
    total = softmax_sum_symbol(network)
    steps: list[Step] = [(total, sp.Add(*weighted))]
    steps += [
        (delta_symbol(n), ga - n.out * total) for n, ga in zip(outputs, weighted, strict=True)
    ]
    return steps


def hidden_delta(neuron: Neuron, above: list[tuple[Neuron, sp.Symbol]]) -> sp.Expr:
    """(sum over the next layer of delta_m x w_m,n) x da_n/dn."""
    # Built unevaluated: the terms are distinct products of symbols, nothing to simplify, and
    # SymPy's canonical ordering would cost more than the rest of the program.
    incoming = sp.Add(
        *(sp.Mul(delta_symbol(m), w, evaluate=False) for m, w in above), evaluate=False
    )
    return sp.Mul(incoming, *sp.Mul.make_args(local_derivative(neuron)), evaluate=False)


def backward_program(network: Network) -> Program:
    """The forward pass, the deltas from the output layer down, then every gradient."""
    forward = finite_log_equations(network.equations)
    steps = [*shared_logsumexp(forward)]  # a new list: `forward` stays the forward pass
    n_forward = len(steps)
    steps += output_deltas(network)
    into: dict[sp.Symbol, list[tuple[Neuron, sp.Symbol]]] = {}
    for w in network.weights:
        into.setdefault(w.source, []).append((w.dest, w.symbol))
    for layer in reversed(network.layers[:-1]):
        steps += [(delta_symbol(n), hidden_delta(n, into[n.out])) for n in layer]
    source = {w.symbol: (w.dest, w.source) for w in network.weights}
    bias_of = {n.bias: n for n in network.neurons if n.bias is not None}
    gradients = []
    for parameter in network.trained:
        if parameter in bias_of:
            rule = delta_symbol(bias_of[parameter])
        else:
            dest, activation = source[parameter]
            rule = sp.Mul(delta_symbol(dest), activation, evaluate=False)
        gradients.append((gradient_symbol(parameter), rule))
    steps += gradients
    deltas = tuple(delta_symbol(n) for layer in reversed(network.layers) for n in layer)
    return Program(
        network.values_args,
        tuple(steps),
        tuple(s for s, _ in forward),
        n_forward,
        deltas,
        tuple(s for s, _ in gradients),
    )


class ProductSums:
    """Printer mixin: a product of symbols, or a sum of them, printed directly.

    Most of the program is delta_m w_mn sums and delta x input products; SymPy's general Mul and
    Add printers (signs, powers, ordering) would take most of the time at 64x64x64x64."""

    def _print_Mul(self, expr: sp.Mul, *args) -> str:
        if all(a.is_Symbol for a in expr.args):
            return "*".join(self._print(a) for a in expr.args)
        return super()._print_Mul(expr, *args)

    def _print_Add(self, expr: sp.Add, *args) -> str:
        if all(a.is_Symbol or (a.is_Mul and all(b.is_Symbol for b in a.args)) for a in expr.args):
            return " + ".join(self._print(a) for a in expr.args)
        return super()._print_Add(expr, *args)
