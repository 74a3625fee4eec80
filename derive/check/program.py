"""The model of a network too large for closed forms (more than CLOSED_FORM_MAX_PARAMETERS trained
parameters, such as a 4-12-12-2 export): derive's backward program itself (derive/backward.py),
each delta from the layer above's deltas and each gradient a delta times its input, as the
sheets `derive table --format xlsx` writes compute them. A formula is compared with its
column's step as written, else with both written out in the givens (model.written_out). Its steps
are printed as NumPy functions in one go (a lambdify each would take seconds).
"""

from __future__ import annotations

import functools

from derive.backward import backward_program
from derive.chain import closed_forms_made
from derive.check.model import Equation, Model, build_model
from derive.config import Config
from derive.evaluate import ProgramPrinter, identifier, values_args
from derive.network import build_network
from derive.numpy_program import load_program


def printed_steps(steps) -> dict[str, Equation]:
    """Each (symbol, expr) as an Equation whose function is printed NumPy, all compiled at once."""
    printer = ProgramPrinter()
    lines, found = [], []
    for k, (symbol, expr) in enumerate(steps):
        args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
        names = ", ".join(identifier(a.name) for a in args)
        # At the top level, not inside program(): Python compiles 8,000 functions nested in one
        # ten times slower (2 s against 0.2 s for a 64-64-64 net's).
        lines.append(f"def f{k}({names}):")
        lines.append(f"    return {printer._print(expr)}")
        found.append((symbol.name, expr, tuple(a.name for a in args)))
    lines.append(f"def program():\n    return ({''.join(f'f{k}, ' for k in range(len(found)))})")
    functions = load_program("\n".join(lines) + "\n")()
    return {
        key: Equation(key, expr, args, function)
        for (key, expr, args), function in zip(found, functions, strict=True)
    }


@functools.lru_cache(maxsize=2)
def model_of(config: Config) -> Model:
    """The closed forms' model where derive writes them out, else the backward program's; made
    once for sheets of one net checked in one process (64-64-64-64's takes seconds)."""
    network = build_network(config.network)
    if closed_forms_made(network):
        return build_model(config)
    program = backward_program(network)
    equations = printed_steps(program.steps)
    # Forward steps and deltas, output layer first: model.expanded writes a delta out before
    # the deltas of the layer above it that it reads.
    definitions = dict(program.steps[: len(program.steps) - len(program.gradients)])
    numbers = values_args(config.values)
    defaults = {s.name: v for s, v in zip(network.values_args, numbers, strict=True)}
    givens = frozenset(s.name for s in network.values_args)
    return Model(network, equations, definitions, defaults, givens)
