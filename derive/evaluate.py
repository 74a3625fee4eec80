"""Numbers from the derived expressions: one lambdified NumPy function for the forward pass and
every gradient, vectorised (pass arrays to evaluate many parameter sets at once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.chain import Gradient, gradients
from derive.config import NetworkSpec, Values
from derive.network import Network, build_network


def _sigmoid(x):
    # exp(-log(1 + e^-x)): never overflows, unlike 1 / (1 + exp(-x)) for x << 0.
    return np.exp(-np.logaddexp(0.0, -x))


def _logsumexp(*xs):
    return np.logaddexp.reduce(np.broadcast_arrays(*xs), axis=0)


NUMPY_FUNCTIONS = {
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "step": lambda x: np.where(np.asarray(x) > 0, 1.0, 0.0),
    "logsumexp": _logsumexp,
    "linear": lambda x: x,
}


@dataclass(frozen=True)
class Evaluator:
    """`function(*network.values_args)` returns one array per symbol in `outputs`."""

    network: Network
    gradients: tuple[Gradient, ...]
    outputs: tuple[sp.Symbol, ...]  # forward symbols in equation order, then dE_total/d each param
    function: Callable
    # What `function` computes, assignment by assignment: the forward pass, shared subterms of the
    # closed forms, then each gradient. Other code printers (JavaScript) print the same program.
    program: tuple[tuple[sp.Symbol, sp.Expr], ...]

    def __call__(self, *args) -> dict[sp.Symbol, np.ndarray]:
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        results = self.function(*args)
        # A constant expression comes back as a scalar: broadcast it to the inputs' shape.
        return {
            s: np.broadcast_to(np.asarray(r, dtype=float), shape)
            for s, r in zip(self.outputs, results, strict=True)
        }


def gradient_symbol(parameter: sp.Symbol) -> sp.Symbol:
    return sp.Symbol(f"dE_total/d{parameter.name}", real=True)


def compile_network(network: Network, derived: tuple[Gradient, ...]) -> Evaluator:
    """Lambdify the forward equations, in order, then the closed forms over shared subterms."""
    forward = tuple(symbol for symbol, _ in network.equations)
    shared, closed = sp.cse([g.closed_form for g in derived], symbols=_temporaries())
    steps = (*finite_log_equations(network.equations), *shared)

    def in_order(exprs):
        # lambdify's `cse` hook: assign the forward pass line by line, as the equations read.
        return list(steps), exprs

    grads = tuple(gradient_symbol(g.parameter) for g in derived)
    outputs = forward + grads
    function = sp.lambdify(
        network.values_args,
        [*forward, *closed],
        modules=[NUMPY_FUNCTIONS, "numpy"],
        cse=in_order,
        docstring_limit=0,
    )
    program = (*steps, *zip(grads, closed, strict=True))
    return Evaluator(network, derived, outputs, function, program)


def finite_log_equations(
    equations: tuple[tuple[sp.Symbol, sp.Expr], ...],
) -> list[tuple[sp.Symbol, sp.Expr]]:
    """The equations with ln(a) of an output a = exp(z) (softmax) computed as z: -t ln(a) stays
    finite when a underflows to 0, where ln(0) would give -inf and 0 * -inf nan."""
    logs = {sp.log(s): e.args[0] for s, e in equations if isinstance(e, sp.exp)}
    return [(s, e.xreplace(logs)) for s, e in equations]


def _temporaries():
    return (sp.Symbol(f"_x{j}", real=True) for j in range(10**9))


def values_args(values: Values) -> tuple[float, ...]:
    """The config's numbers in the order of Network.values_args."""
    return values.inputs + values.targets + values.weights + values.biases


def at_values(evaluator: Evaluator, values: Values) -> dict[str, float]:
    """Every forward value and gradient at one set of values, keyed by name."""
    return {s.name: float(v) for s, v in evaluator(*values_args(values)).items()}


def evaluator_for(spec: NetworkSpec) -> Evaluator:
    """Build, derive and compile the network `spec` describes."""
    network = build_network(spec)
    return compile_network(network, gradients(network))
