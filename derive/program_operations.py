"""The backward program's SymPy steps as operations (derive/numpy_program.py runs them): data that
can be stored and read back without ever being run as code."""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from derive.numpy_program import NUMPY_FUNCTIONS

SYMPY_KINDS = {sp.exp: "exp", sp.tanh: "tanh", sp.Abs: "abs", sp.Max: "max", sp.Min: "min"}


class NotOperations(ValueError):
    """A step holds something the operations cannot express (the program then runs as printed)."""


def to_operations(
    arguments: Sequence[sp.Symbol],
    steps: Sequence[tuple[sp.Symbol, sp.Expr]],
    outputs: Sequence[sp.Symbol],
) -> tuple[list[list], list[int]]:
    """(operations, the operation of each output): the same operation is listed once."""
    operations: list[list] = []
    listed: dict[tuple, int] = {}
    at: dict[sp.Basic, int] = {}

    def emit(op: list) -> int:
        key = tuple(op)
        if key not in listed:
            listed[key] = len(operations)
            operations.append(op)
        return listed[key]

    def node(expr: sp.Basic) -> int:
        if expr in at:
            return at[expr]
        if expr.is_Symbol:
            raise NotOperations(f"the symbol {expr} is neither an argument nor an earlier step")
        if expr.is_Number or expr.is_NumberSymbol:
            value = float(expr)
            if value != value or value in (float("inf"), float("-inf")):
                raise NotOperations(f"the number {expr}")
            op = ["num", value]
        elif expr.is_Add:
            op = ["add", *map(node, expr.args)]
        elif expr.is_Mul:
            op = ["mul", *map(node, expr.args)]
        elif expr.is_Pow:
            op = ["pow", node(expr.base), node(expr.exp)]
        elif expr.func is sp.log and len(expr.args) == 1:
            op = ["log", node(expr.args[0])]
        elif expr.func in SYMPY_KINDS:
            op = [SYMPY_KINDS[expr.func], *map(node, expr.args)]
        elif getattr(expr.func, "__name__", "") in NUMPY_FUNCTIONS:
            op = [expr.func.__name__, *map(node, expr.args)]
        else:
            raise NotOperations(f"{expr.func}")
        at[expr] = emit(op)
        return at[expr]

    for k, argument in enumerate(arguments):
        at[argument] = emit(["arg", k])
    for symbol, expr in steps:
        at[symbol] = node(expr)
    return operations, [at[s] for s in outputs]
