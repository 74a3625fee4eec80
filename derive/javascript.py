"""The derived network as a JavaScript module: the Evaluator's program (the forward pass, the
deltas and every gradient, derive/backward.py) printed by SymPy's JavaScript code printer, so a
web page recomputes everything with no server.

The module exports:
- `network`: names. `arguments` (inputs, targets, weights, biases: what `descend` takes),
  `outputs` (forward symbols, gradients "dE_total/dw1", then deltas: what it computes),
  `rowWidth` = arguments + outputs, `trainedIndex` (each trained parameter's position in
  `arguments`), `gradientIndex` (its gradient's position in `outputs`), and as before `inputs`,
  `targets`, `weights`, `biases`, `trained`, `forward`, `gradients` ({w1: "dE_total/dw1"}),
  `loss`, `defaults`.
- `descend(args, lr, steps, rows)`: gradient descent from `args` (a Float64Array in `arguments`
  order), p <- p - lr dE_total/dp; row k of `rows` (a Float64Array of (steps + 1) x rowWidth)
  gets step k's arguments, then its outputs. Returns the number of rows written: steps + 1, or
  fewer when a row holds a value that is not finite (that row is the last). Allocates nothing.
- `evaluate(i1, i2, t1, t2, w1, ...)`: {name: number} for every output at one set of values.
"""

from __future__ import annotations

import json
from pathlib import Path

import sympy as sp
from sympy.printing.jscode import JavascriptCodePrinter

from derive.backward import ProductSums
from derive.config import Values
from derive.evaluate import Evaluator, gradient_symbol, identifier, values_args
from derive.functions import derivative, prints_operations
from derive.operations import ACTIVATIONS

# Real .js files: the network's functions (one per record of derive/operations.py), and the
# module's fixed helpers (`finiteRow`, `evaluate`).
OPERATIONS_JS = Path(__file__).with_name("operations.js")
HELPERS_JS = Path(__file__).with_name("program_helpers.js")


@prints_operations()
class JavaScriptPrinter(ProductSums, JavascriptCodePrinter):
    """SymPy's JavaScript printer, plus the network's own functions (derive/operations.js)."""

    def __init__(self):
        super().__init__({"order": "none"})

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return identifier(expr.name)


def descend_function(evaluator: Evaluator) -> str:
    """The program in a loop over the steps, each value written to `rows` as it is computed."""
    network = evaluator.network
    printer = JavaScriptPrinter()
    trained = set(network.trained)
    arguments = [identifier(s.name) for s in network.values_args]
    width = len(arguments) + len(evaluator.outputs)
    column = {s: len(arguments) + k for k, s in enumerate(evaluator.outputs)}
    lines = [
        # Underscored names: a symbol (or the function `step`) cannot take them.
        "export function descend(_args, _lr, _steps, _rows) {",
        *(
            f"  {'let' if s in trained else 'const'} {name} = _args[{k}];"
            for k, (s, name) in enumerate(zip(network.values_args, arguments, strict=True))
        ),
        f"  for (let _n = 0, _at = 0; _n <= _steps; _n += 1, _at += {width}) {{",
        *(f"    _rows[_at + {k}] = {name};" for k, name in enumerate(arguments)),
    ]
    for symbol, expr in evaluator.program:
        name = identifier(symbol.name)
        lines.append(f"    const {name} = {printer._print(expr)};")
        if symbol in column:
            lines.append(f"    _rows[_at + {column[symbol]}] = {name};")
    # A sum of every value is finite exactly when each value is (or it overflowed: then look).
    total = " + ".join([*arguments, *(identifier(s.name) for s in evaluator.outputs)])
    lines += [
        f"    if (!Number.isFinite({total}) && !finiteRow(_rows, _at, {width})) return _n + 1;",
        *(
            f"    {identifier(p.name)} -= _lr * {identifier(gradient_symbol(p).name)};"
            for p in network.trained
        ),
        "  }",
        "  return _steps + 1;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def description(evaluator: Evaluator, values: Values) -> dict:
    network = evaluator.network
    arguments = [s.name for s in network.values_args]
    outputs = [s.name for s in evaluator.outputs]
    return {
        "arguments": arguments,
        "outputs": outputs,
        "rowWidth": len(arguments) + len(outputs),
        "trainedIndex": [arguments.index(p.name) for p in network.trained],
        "gradientIndex": [outputs.index(gradient_symbol(p).name) for p in network.trained],
        "inputs": [s.name for s in network.inputs],
        "targets": [s.name for s in network.targets],
        "weights": [s.name for s in network.weight_symbols],
        "biases": [s.name for s in network.biases],
        "trained": [s.name for s in network.trained],
        "forward": [s.name for s, _ in network.equations],
        "gradients": {p.name: gradient_symbol(p).name for p in network.trained},
        "loss": network.loss.name,
        "defaults": dict(zip(arguments, values_args(values), strict=True)),
    }


def derivatives_object(printer: JavaScriptPrinter) -> str:
    """`derivatives`: each activation's derivative as a function of its input x and its value y
    (the Playground finds flat neurons with it), printed from the records."""
    entries = [f"  {name}: (x, y) => {printer._print(derivative(name))}," for name in ACTIVATIONS]
    return "export const derivatives = {\n" + "\n".join(entries) + "\n};\n"


def javascript_module(evaluator: Evaluator, values: Values, source: str = "") -> str:
    """The ES module text for this network; `values` become its defaults."""
    return (
        f"// Generated by derive/javascript.py from the SymPy derivation of {source or 'a config'}."
        "\n// Do not edit: every site build prints it again.\n\n"
        + OPERATIONS_JS.read_text(encoding="utf-8")
        + "\n"
        + HELPERS_JS.read_text(encoding="utf-8")
        + "\n"
        + derivatives_object(JavaScriptPrinter())
        + f"\nexport const network = {json.dumps(description(evaluator, values))};\n\n"
        + descend_function(evaluator)
    )
