"""Numbers from the derived expressions: the backward program (derive/backward.py) printed as one
NumPy function for the forward pass, the deltas and every gradient, vectorised (pass arrays to
evaluate many parameter sets at once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from derive.backward import (
    ProductSums,
    Program,
    Step,
    backward_program,
    finite_log_equations,
)
from derive.chain import Gradient, gradients
from derive.config import NetworkSpec, Values
from derive.functions import prints_operations
from derive.network import Network, build_network, gradient_symbol
from derive.numpy_program import (
    NUMPY_FUNCTIONS as NUMPY_FUNCTIONS,
)  # re-exported (check.model, sitegen)
from derive.numpy_program import load_program, run_program, values_args


@dataclass(frozen=True)
class Evaluator:
    """`function(*network.values_args)` returns one array per symbol in `outputs`."""

    network: Network
    # Forward symbols in equation order, dE_total/dp for each trained parameter, then the
    # program's other assignments (the deltas; for a softmax output also lse_o and s_o).
    outputs: tuple[sp.Symbol, ...]
    function: Callable
    # What `function` computes, assignment by assignment. The JavaScript and spreadsheet printers
    # print the same assignments.
    program: tuple[Step, ...]
    source: str  # `function` as printed NumPy source (numpy_program.load_program loads it)
    closed_forms: tuple[Gradient, ...] | None = None  # given when compiled from closed forms

    def __call__(self, *args) -> dict[sp.Symbol, np.ndarray]:
        results = run_program(self.function, len(self.outputs), args)
        return dict(zip(self.outputs, results, strict=True))

    @cached_property
    def gradients(self) -> tuple[Gradient, ...]:
        """The closed-form derivations, for display and proof (chain.gradients; small nets only)."""
        return self.closed_forms if self.closed_forms is not None else gradients(self.network)

    @property
    def gradient_outputs(self) -> tuple[sp.Symbol, ...]:
        return tuple(gradient_symbol(p) for p in self.network.trained)


@prints_operations()
class ProgramPrinter(ProductSums, NumPyPrinter):
    """NumPy code whose variables are the symbols' names (dE_total/dw1 -> dE_total_dw1) and whose
    unknown functions are the network's own (NUMPY_FUNCTIONS)."""

    def __init__(self):
        super().__init__({"allow_unknown_functions": True, "order": "none"})

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return identifier(expr.name)


def identifier(name: str) -> str:
    """A variable name for a symbol name, in Python and JavaScript: dE_total/dw1 -> dE_total_dw1."""
    return name.replace("/", "_")


def numpy_source(
    arguments: tuple[sp.Symbol, ...], steps: tuple[Step, ...], outputs: tuple[sp.Symbol, ...]
) -> str:
    """A Python function `program(*arguments)` that runs the steps and returns the outputs."""
    printer = ProgramPrinter()
    lines = [f"def program({', '.join(identifier(a.name) for a in arguments)}):"]
    # _print, not doprint: doprint walks each expression again looking for what it cannot print.
    lines += [f"    {identifier(s.name)} = {printer._print(e)}" for s, e in steps]
    lines.append(f"    return ({', '.join(identifier(s.name) for s in outputs)},)")
    return "\n".join(lines) + "\n"


def compile_program(network: Network, program: Program) -> Evaluator:
    """The backward program as one NumPy function."""
    named = {*program.forward, *program.gradients}
    rest = tuple(s for s, _ in program.steps if s not in named)
    outputs = program.forward + program.gradients + rest
    source = numpy_source(program.arguments, program.steps, outputs)
    return Evaluator(network, outputs, load_program(source), program.steps, source)


def compile_network(network: Network, derived: tuple[Gradient, ...]) -> Evaluator:
    """The forward equations, in order, then the given closed forms (for derivations changed by
    hand, such as a sheet's planted mistakes); shared subterms computed once."""
    forward = tuple(finite_log_equations(network.equations))
    grads = tuple(gradient_symbol(g.parameter) for g in derived)
    names = (f"_x{j}" for j in range(10**9))
    shared, closed = sp.cse(
        [g.closed_form for g in derived], symbols=(sp.Symbol(n, real=True) for n in names)
    )
    steps = (*forward, *shared, *zip(grads, closed, strict=True))
    outputs = tuple(s for s, _ in forward) + grads
    source = numpy_source(network.values_args, steps, outputs)
    program = (*forward, *((gradient_symbol(g.parameter), g.closed_form) for g in derived))
    return Evaluator(network, outputs, load_program(source), program, source, derived)


def at_values(evaluator: Evaluator, values: Values) -> dict[str, float]:
    """Every forward value and gradient at one set of values, keyed by name."""
    return {s.name: float(v) for s, v in evaluator(*values_args(values)).items()}


def evaluator_for(spec: NetworkSpec) -> Evaluator:
    """Build the network `spec` describes and compile its backward program."""
    network = build_network(spec)
    return compile_program(network, backward_program(network))
