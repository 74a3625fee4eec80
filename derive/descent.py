"""Gradient descent as printed Python: the backward program in a loop over the steps.

One learning rate's run is a chain of tiny computations, one value per symbol: on Python floats
each operation takes tens of nanoseconds, on small NumPy arrays about a microsecond. So the table
prints the evaluator's program (derive/backward.py) once more, as a Python function on floats
that loops over the steps and appends each step's parameters and outputs to an array.

Python floats raise OverflowError in ** and math.exp where NumPy gives inf: powers are printed as
products and the functions below give inf or nan instead, so a diverging run goes on as NumPy's
would, and the table reports where it stopped being finite.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from derive.backward import ProductSums
from derive.evaluate import Evaluator, identifier
from derive.functions import prints_operations
from derive.operations import SCALAR_FUNCTIONS as OPERATIONS_SCALAR
from derive.operations import scalar_exp

SCALAR_FUNCTIONS = {
    **OPERATIONS_SCALAR,
    "_exp": scalar_exp,
    "inf": math.inf,
    "nan": math.nan,
}


@prints_operations()
class ScalarPrinter(ProductSums, PythonCodePrinter):
    """Python on floats: integer powers as products, exp through _exp, the network's functions
    from SCALAR_FUNCTIONS."""

    def __init__(self):
        super().__init__({"allow_unknown_functions": True, "order": "none"})

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return identifier(expr.name)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.as_base_exp()
        if exponent.is_Integer and 1 <= exponent <= 4:
            return "(" + "*".join([f"({self._print(base)})"] * int(exponent)) + ")"
        if exponent == -1:
            return f"(1/({self._print(base)}))"
        raise ValueError(f"no overflow-safe scalar form for the power {expr}")

    def _print_exp(self, expr: sp.Expr) -> str:
        return f"_exp({self._print(expr.args[0])})"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return repr(expr.p / expr.q)


def descent_source(evaluator: Evaluator) -> str:
    """`descend(lr, steps, rows, *values_args)`: each step appends the trained parameters, then
    every output, to `rows`, then updates p <- p - lr dE_total/dp."""
    network = evaluator.network
    printer = ScalarPrinter()
    name = {s: identifier(s.name) for s in (*network.values_args, *evaluator.outputs)}
    trained = [name[p] for p in network.trained]
    grads = [name[g] for g in evaluator.gradient_outputs]
    row = ", ".join([*trained, *(name[s] for s in evaluator.outputs)])
    lines = [
        # Underscored names: a symbol (or the function `step`) cannot take them.
        f"def descend(_lr, _steps, _rows, {', '.join(name[a] for a in network.values_args)}):",
        "    for _ in range(_steps + 1):",
        *(f"        {name[s]} = {printer._print(e)}" for s, e in evaluator.program),
        f"        _rows.extend(({row},))",
        *(f"        {p} = {p} - _lr*{g}" for p, g in zip(trained, grads, strict=True)),
    ]
    return "\n".join(lines) + "\n"


def compile_descent(evaluator: Evaluator) -> Callable:
    namespace = dict(SCALAR_FUNCTIONS)
    exec(compile(descent_source(evaluator), "<derived descent>", "exec"), namespace)
    return namespace["descend"]


def run_descent(
    descend: Callable, width: int, lr: float, steps: int, values: tuple[float, ...]
) -> np.ndarray:
    """One run: (steps + 1, width) rows of parameters then outputs."""
    rows = array("d")
    descend(lr, steps, rows, *values)
    return np.frombuffer(rows, dtype=float).reshape(steps + 1, width)
