"""The network's functions as SymPy functions, so that equations read a_h1 = sigma(h1).

Each is made from its record in derive/operations.py: it knows its own derivative (`fdiff`) and
how to be written in plain functions (`rewrite(sympy.exp)` or `rewrite(sympy.Piecewise)`, or
`elementary`); `lemmas()` proves the two agree, so every derivative SymPy takes through these
functions rests on plain calculus.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import sympy as sp

from derive.operations import OPERATIONS, Operation

X, Y = sp.symbols("x y", real=True)


def _function_class(op: Operation) -> type[sp.Function]:
    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return derivative(op.name).xreplace({X: self.args[argindex - 1], Y: self})

    def rewritten(self, *args, **kwargs) -> sp.Expr:
        return definition(op.name, args)

    def latex(self, printer) -> str:
        return op.latex(*(printer._print(a) for a in self.args))

    members = {
        "__doc__": op.about,
        "is_real": True,
        "fdiff": fdiff,
        "_eval_rewrite_as_exp": rewritten,
        "_eval_rewrite_as_Piecewise": rewritten,
        "_latex": latex,
    }
    if op.arity is not None:
        members["nargs"] = op.arity
    return type(op.name, (sp.Function,), members)


FUNCTIONS: dict[str, type[sp.Function]] = {
    name: _function_class(op) for name, op in OPERATIONS.items()
}
sigmoid = FUNCTIONS["sigmoid"]
relu = FUNCTIONS["relu"]
step = FUNCTIONS["step"]
linear = FUNCTIONS["linear"]
logsumexp = FUNCTIONS["logsumexp"]


@cache
def derivative(name: str) -> sp.Expr:
    """The record's derivative in X (the argument) and Y (the function's value)."""
    return sp.sympify(OPERATIONS[name].derivative, locals={**FUNCTIONS, "x": X, "y": Y})


def definition(name: str, args: tuple[sp.Expr, ...]) -> sp.Expr:
    """The record's definition in plain functions, at `args`."""
    plain, names = _definition(name, len(args))
    return plain.xreplace(dict(zip(names, args, strict=True)))


@cache
def _definition(name: str, n_args: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    names = tuple(sp.Dummy(f"x{k}", real=True) for k in range(n_args))
    text = OPERATIONS[name].elementary(*(n.name for n in names))
    return sp.sympify(text, locals={n.name: n for n in names}), names


def activate(name: str, x: sp.Expr) -> sp.Expr:
    """The activation `name` applied to x (softmax is built per layer, see network.py)."""
    return FUNCTIONS[name](x)


def elementary(expr: sp.Expr) -> sp.Expr:
    """`expr` with every network function written out in plain functions, innermost first."""
    return expr.replace(
        lambda e: type(e) in FUNCTIONS.values(), lambda e: definition(type(e).__name__, e.args)
    )


def call_by_name(printer, expr: sp.Expr) -> str:
    """name(args): the printed code defines the network's functions (NUMPY_FUNCTIONS,
    SCALAR_FUNCTIONS, derive/operations.js)."""
    return f"{type(expr).__name__}({', '.join(printer._print(a) for a in expr.args)})"


def prints_operations(how: Callable[[Any, sp.Expr], str] = call_by_name) -> Callable[[type], type]:
    """A class decorator: the printer prints every network function `how` says, whatever
    SymPy's own printer would do with that name (tanh)."""

    def decorate(printer: type) -> type:
        for name in OPERATIONS:
            setattr(printer, f"_print_{name}", how)
        return printer

    return decorate


def lemmas() -> dict[str, sp.Expr]:
    """Each function's `fdiff` minus the derivative of its plain definition, by argument (two
    arguments for the variadic ones): all must be 0."""
    a, b = sp.symbols("a b", real=True)
    found = {}
    for name, op in OPERATIONS.items():
        args = (a,) if op.arity == 1 else (a, b)
        applied = FUNCTIONS[name](*args)
        difference = sp.diff(applied, a) - sp.diff(definition(name, args), a)
        found[name] = sp.simplify(sp.piecewise_fold(elementary(difference)))
    return found
