"""Max-pooling as SymPy functions: `maximum` of a window and `winner`, its derivative.

As derive/functions.py does for the activations, each function knows its derivative (`fdiff`) and
its elementary form (`rewrite(sympy.Piecewise)`); `lemmas()` proves the two agree, so the routing
of a max-pool's gradient rests on plain calculus, not on an assertion. Ties go to the first
maximum of the window, as torch's max_pool2d takes them.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp


def wins(k: int, xs: tuple[sp.Expr, ...]) -> sp.Boolean:
    """x_k is the window's first maximum: above every earlier value, at least every later one."""
    return sp.And(*(xs[k] > x for x in xs[:k]), *(xs[k] >= x for x in xs[k + 1 :]), evaluate=False)


class maximum(sp.Function):
    """The largest of a max-pool window's values."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return winner(argindex - 1, *self.args)

    def _eval_rewrite_as_Piecewise(self, *xs, **kwargs):
        return sp.Piecewise(*((x, wins(k, xs)) for k, x in enumerate(xs[:-1])), (xs[-1], True))

    def _latex(self, printer) -> str:
        return rf"\max\left({', '.join(printer._print(x) for x in self.args)}\right)"


class winner(sp.Function):
    """winner(k, x_0, ..., x_n): 1 where x_k is the first maximum of the x's, else 0."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, k, *xs, **kwargs):
        k = int(k)
        if k == len(xs) - 1:
            return sp.Piecewise((0, sp.Or(*(wins(j, xs) for j in range(k)))), (1, True))
        return sp.Piecewise((1, wins(k, xs)), (0, True))

    def _latex(self, printer) -> str:
        k, *xs = self.args
        return rf"\mathbb{{1}}\left[{printer._print(xs[int(k)])} \text{{ wins}}\right]"


def numpy_winner(k, *xs):
    """winner on numbers (arrays broadcast): the first maximum's index equals k."""
    return np.where(np.argmax(np.stack(np.broadcast_arrays(*xs)), axis=0) == int(k), 1.0, 0.0)


def numpy_maximum(*xs):
    return np.max(np.stack(np.broadcast_arrays(*xs)), axis=0)


def lemmas() -> dict[str, int]:
    """How many of a window's orderings maximum's fdiff and the derivative of its Piecewise form
    disagree on, per window position: all 0 proves the routing.

    Every condition in either form compares two of the window's values, so each form is constant
    where the values keep their order; values from {0, 1, 2, 3} take every order, ties included,
    so checking each of the 256 assignments checks everywhere."""
    xs = sp.symbols("x0:4", real=True)
    window = maximum(*xs)
    found = {}
    for k, x in enumerate(xs):
        difference = sp.diff(window, x).rewrite(sp.Piecewise) - sp.diff(
            window.rewrite(sp.Piecewise), x
        )
        found[f"maximum/x{k}"] = sum(
            difference.subs(dict(zip(xs, point, strict=True))) != 0
            for point in itertools.product(range(4), repeat=4)
        )
    return found
